/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_SOCK_H
#define _KATLS_SOCK_H

#include <linux/types.h>
#include <uapi/linux/katls.h>

struct sock;
struct katls_tsock;

int katls_sock_init(void);
void katls_sock_exit(void);

int katls_sock_attach(struct sock *sk);
void katls_sock_detach(struct sock *sk);
int katls_sock_finish(struct sock *sk, int result, u32 reason, u64 expiry,
		      const u8 *peer_digest);
int katls_sock_take(struct sock *sk, struct katls_tsock *tsock);
struct katls_tsock *katls_sock_tsock(const struct sock *sk);
void katls_sock_status(struct sock *sk, struct katls_status *st);
u32 katls_sock_count(void);
u32 katls_sock_count_attested(void);

#endif /* _KATLS_SOCK_H */
