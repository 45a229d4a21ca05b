/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_TRANSPARENT_H
#define _KATLS_TRANSPARENT_H

#include <linux/types.h>

struct katls_tsock;
struct sock;

int katls_transparent_init(void);
void katls_transparent_exit(void);
void katls_tsock_free(struct katls_tsock *t);

/* The kfunc the BPF gate calls (bpf/katls_gate.bpf.c, KATLS_GATE_ATTEST). */
int katls_kf_attest(struct sock *sk, u32 flags);

#endif /* _KATLS_TRANSPARENT_H */
