/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_REQUEST_H
#define _KATLS_REQUEST_H

#include <linux/types.h>
#include <uapi/linux/katls.h>

struct netlink_ext_ack;
struct sk_buff;
struct sock;
struct katls_workload;

typedef void (*katls_request_done_fn)(void *ctx, int result, u32 reason, u64 expiry,
				      const u8 *peer_digest);

/* Request and socket counters for STATE_GET. */
struct katls_request_stats {
	u32 queued;
	u32 accepted;
	u32 socks;
	u32 socks_attested;
	u64 limited;
	bool daemon;
};

int katls_request_init(void);
void katls_request_exit(void);

int katls_request_attest(struct sock *sk, const struct katls_attest_req *ar);

int katls_request_start(struct sock *sk, const struct katls_attest_req *ar,
			struct katls_workload *wl, katls_request_done_fn fn, void *ctx);
bool katls_request_daemon_current(void);

int katls_request_register(struct sk_buff *skb, u32 portid, struct netlink_ext_ack *extack);
int katls_request_accept(struct sk_buff *msg, const struct sock *nlsk, u32 id,
			 int *out_fd, struct netlink_ext_ack *extack);
int katls_request_done(const struct sock *nlsk, u32 id, s32 status, u32 reason,
		       const u8 *peer_digest, u64 expiry, struct netlink_ext_ack *extack);
void katls_request_stats(struct katls_request_stats *st);

#endif /* _KATLS_REQUEST_H */
