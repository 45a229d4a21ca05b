/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_GENL_H
#define _KATLS_GENL_H

#include <linux/types.h>

struct net;

int katls_genl_init(void);
void katls_genl_exit(void);
bool katls_genl_has_listeners(void);
void katls_genl_request_ready(struct net *net, u32 id, u8 role, u8 mode);
void katls_genl_state_changed(u64 generation, u64 ima_count);

#endif /* _KATLS_GENL_H */
