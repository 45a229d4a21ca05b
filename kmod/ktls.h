/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_KTLS_H
#define _KATLS_KTLS_H

#include <linux/types.h>

struct sock;

bool katls_ktls_active(struct sock *sk);

#endif /* _KATLS_KTLS_H */
