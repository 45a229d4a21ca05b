/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_GENL_H
#define _KATLS_GENL_H

int katls_genl_init(void);
void katls_genl_exit(void);

#endif /* _KATLS_GENL_H */
