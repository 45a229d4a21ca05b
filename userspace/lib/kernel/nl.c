// SPDX-License-Identifier: MIT
/*
 * Generic netlink client for katls.ko; see nl.h.  Requests are synchronous:
 * send, then receive until the kernel's ACK or error, capturing the extack
 * message of an error.  Reply attributes are validated against policies that
 * mirror the kernel's, and unknown attributes are ignored (a newer module may
 * add some).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "kernel/nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct katls_nl {
	struct nl_sock *sk;
	int family;
	int err;		/* -errno from the kernel's NLMSG_ERROR */
	bool done;		/* NLMSG_ERROR seen */
	char errmsg[256];
};

int katls_nl_open(struct katls_nl **out)
{
	struct katls_nl *nl;
	int one = 1, ret;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		free(nl);
		return -ENOMEM;
	}
	ret = genl_connect(nl->sk);
	if (ret < 0) {
		ret = -EIO;
		goto err;
	}
	/* Ask for extack messages, without the request echoed back. */
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->family = genl_ctrl_resolve(nl->sk, KATLS_GENL_NAME);
	if (nl->family < 0) {
		ret = -ENOENT;
		goto err;
	}
	*out = nl;
	return 0;
err:
	nl_socket_free(nl->sk);
	free(nl);
	return ret;
}

void katls_nl_close(struct katls_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

int katls_nl_family(const struct katls_nl *nl)
{
	return nl->family;
}

const char *katls_nl_errmsg(const struct katls_nl *nl)
{
	return nl->errmsg;
}

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct katls_nl *nl = arg;

	nl->done = true;
	struct nlmsghdr *nlh = (struct nlmsghdr *)e - 1;
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int hdr = sizeof(*nlh) + sizeof(*e);

	nl->err = e->error;
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && (int)nlh->nlmsg_len > hdr &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlh + hdr),
		       nlh->nlmsg_len - hdr, NULL) && tb[NLMSGERR_ATTR_MSG])
		snprintf(nl->errmsg, sizeof(nl->errmsg), "%s",
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

struct valid_ctx {
	int (*cb)(struct nl_msg *, void *);
	void *arg;
	int ret;
	bool done;
};

static int on_ack(struct nl_msg *msg, void *arg)
{
	((struct valid_ctx *)arg)->done = true;
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct valid_ctx *v = arg;

	if (v->cb && !v->ret)
		v->ret = v->cb(msg, v->arg);
	return NL_OK;
}

/* Resets the per-call error state; returns a fresh callback set or NULL. */
static struct nl_cb *call_begin(struct katls_nl *nl)
{
	nl->err = 0;
	nl->done = false;
	nl->errmsg[0] = '\0';
	return nl_cb_alloc(NL_CB_DEFAULT);
}

/*
 * Sends @msg (consumed) and receives with @nlcb until *@done (the caller's
 * ACK or end-of-dump flag) or the kernel's error; puts @nlcb.
 * The reply and the ACK may come in separate reads, hence the loop.
 */
static int call_finish(struct katls_nl *nl, struct nl_msg *msg, struct nl_cb *nlcb,
		       const bool *done)
{
	int ret;

	nl_cb_err(nlcb, NL_CB_CUSTOM, on_error, nl);
	ret = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (ret >= 0) {
		do {
			ret = nl_recvmsgs(nl->sk, nlcb);
		} while (ret >= 0 && !*done && !nl->done);
	}
	nl_cb_put(nlcb);
	if (nl->err)
		return nl->err;
	return ret < 0 ? -EIO : 0;
}

int katls_nl_transact(struct katls_nl *nl, struct nl_msg *msg,
		      int (*cb)(struct nl_msg *reply, void *arg), void *arg)
{
	struct valid_ctx v = { cb, arg, 0, false };
	struct nl_cb *nlcb = call_begin(nl);
	int ret;

	if (!nlcb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &v);
	nl_cb_set(nlcb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &v);
	ret = call_finish(nl, msg, nlcb, &v.done);
	return ret ? ret : v.ret;
}

static struct nla_policy state_policy[KATLS_A_MAX + 1] = {
	[KATLS_A_STATE_GENERATION]	= { .type = NLA_U64 },
	[KATLS_A_STATE_BOOT_ID]		= { .minlen = KATLS_BOOT_ID_LEN },
	[KATLS_A_STATE_KERNEL_RELEASE]	= { .type = NLA_STRING },
	[KATLS_A_STATE_TAINT]		= { .type = NLA_U64 },
	[KATLS_A_STATE_LOCKDOWN]	= { .type = NLA_U8 },
	[KATLS_A_STATE_CC_FLAGS]	= { .type = NLA_U32 },
	[KATLS_A_STATE_TPM_PRESENT]	= { .type = NLA_U8 },
	[KATLS_A_STATE_IMA_COUNT]	= { .type = NLA_U64 },
	[KATLS_A_STATE_IMA_VIOLATIONS]	= { .type = NLA_U64 },
	[KATLS_A_STATE_PCR]		= { .type = NLA_NESTED },
	[KATLS_A_STATE_REQ_QUEUED]	= { .type = NLA_U32 },
	[KATLS_A_STATE_REQ_ACCEPTED]	= { .type = NLA_U32 },
	[KATLS_A_STATE_SOCKS]		= { .type = NLA_U32 },
	[KATLS_A_STATE_DAEMON]		= { .type = NLA_U8 },
	[KATLS_A_STATE_REQ_LIMITED]	= { .type = NLA_U64 },
	[KATLS_A_STATE_SOCKS_ATTESTED]	= { .type = NLA_U32 },
};

static struct nla_policy pcr_policy[KATLS_A_PCR_MAX + 1] = {
	[KATLS_A_PCR_INDEX]	= { .type = NLA_U32 },
	[KATLS_A_PCR_DIGEST]	= { .minlen = KATLS_SHA256_LEN },
};

static int parse_pcr(struct nlattr *nest, struct katls_state *s)
{
	struct nlattr *tb[KATLS_A_PCR_MAX + 1];
	uint32_t idx;

	if (nla_parse_nested(tb, KATLS_A_PCR_MAX, nest, pcr_policy) < 0 ||
	    !tb[KATLS_A_PCR_INDEX] || !tb[KATLS_A_PCR_DIGEST] ||
	    nla_len(tb[KATLS_A_PCR_DIGEST]) != KATLS_SHA256_LEN)
		return -EBADMSG;
	idx = nla_get_u32(tb[KATLS_A_PCR_INDEX]);
	if (idx >= KATLS_NUM_PCRS)
		return -EBADMSG;
	memcpy(s->pcrs[idx], nla_data(tb[KATLS_A_PCR_DIGEST]), KATLS_SHA256_LEN);
	s->pcr_mask |= 1U << idx;
	return 0;
}

static int parse_state(struct nl_msg *msg, void *arg)
{
	struct katls_state *s = arg;
	struct nlattr *tb[KATLS_A_MAX + 1], *a;
	int rem, ret;

	ret = genlmsg_parse(nlmsg_hdr(msg), 0, tb, KATLS_A_MAX, state_policy);
	if (ret < 0 || !tb[KATLS_A_STATE_GENERATION] || !tb[KATLS_A_STATE_KERNEL_RELEASE])
		return -EBADMSG;
	s->generation = nla_get_u64(tb[KATLS_A_STATE_GENERATION]);
	nla_strlcpy(s->release, tb[KATLS_A_STATE_KERNEL_RELEASE], sizeof(s->release));
	if (tb[KATLS_A_STATE_TAINT])
		s->taint = nla_get_u64(tb[KATLS_A_STATE_TAINT]);
	if (tb[KATLS_A_STATE_CC_FLAGS])
		s->cc_flags = nla_get_u32(tb[KATLS_A_STATE_CC_FLAGS]);
	if (tb[KATLS_A_STATE_TPM_PRESENT])
		s->tpm_present = nla_get_u8(tb[KATLS_A_STATE_TPM_PRESENT]);
	if ((a = tb[KATLS_A_STATE_BOOT_ID]) && nla_len(a) == KATLS_BOOT_ID_LEN) {
		memcpy(s->boot_id, nla_data(a), KATLS_BOOT_ID_LEN);
		s->have_boot_id = true;
	}
	if (tb[KATLS_A_STATE_LOCKDOWN]) {
		s->lockdown = nla_get_u8(tb[KATLS_A_STATE_LOCKDOWN]);
		s->have_lockdown = true;
	}
	if (tb[KATLS_A_STATE_IMA_COUNT] && tb[KATLS_A_STATE_IMA_VIOLATIONS]) {
		s->ima_count = nla_get_u64(tb[KATLS_A_STATE_IMA_COUNT]);
		s->ima_violations = nla_get_u64(tb[KATLS_A_STATE_IMA_VIOLATIONS]);
		s->have_ima = true;
	}
	if (tb[KATLS_A_STATE_REQ_QUEUED] && tb[KATLS_A_STATE_REQ_ACCEPTED] &&
	    tb[KATLS_A_STATE_SOCKS] && tb[KATLS_A_STATE_DAEMON]) {
		s->req_queued = nla_get_u32(tb[KATLS_A_STATE_REQ_QUEUED]);
		s->req_accepted = nla_get_u32(tb[KATLS_A_STATE_REQ_ACCEPTED]);
		s->socks = nla_get_u32(tb[KATLS_A_STATE_SOCKS]);
		s->daemon = nla_get_u8(tb[KATLS_A_STATE_DAEMON]);
		s->have_requests = true;
	}
	if (tb[KATLS_A_STATE_REQ_LIMITED])
		s->req_limited = nla_get_u64(tb[KATLS_A_STATE_REQ_LIMITED]);
	if (tb[KATLS_A_STATE_SOCKS_ATTESTED]) {
		s->socks_attested = nla_get_u32(tb[KATLS_A_STATE_SOCKS_ATTESTED]);
		s->have_socks_attested = true;
	}
	/* PCR entries repeat, so walk the attribute stream for all of them. */
	nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlmsg_hdr(msg)), 0),
			  genlmsg_attrlen(nlmsg_data(nlmsg_hdr(msg)), 0), rem) {
		if (nla_type(a) == KATLS_A_STATE_PCR && (ret = parse_pcr(a, s)))
			return ret;
	}
	return 0;
}

int katls_nl_state_get(struct katls_nl *nl, uint32_t pcr_mask, struct katls_state *out)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0,
			 KATLS_CMD_STATE_GET, KATLS_GENL_VERSION) ||
	    (pcr_mask && nla_put_u32(msg, KATLS_A_STATE_PCR_MASK, pcr_mask) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	return katls_nl_transact(nl, msg, parse_state, out);
}

static struct nl_msg *new_request(struct katls_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags, cmd,
				KATLS_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int katls_nl_daemon_register(struct katls_nl *nl)
{
	struct nl_msg *msg = new_request(nl, KATLS_CMD_DAEMON_REGISTER, 0);

	if (!msg)
		return -ENOMEM;
	return katls_nl_transact(nl, msg, NULL, NULL);
}

static struct nla_policy accept_policy[KATLS_A_MAX + 1] = {
	[KATLS_A_REQ_ID]		= { .type = NLA_U32 },
	[KATLS_A_REQ_FD]		= { .type = NLA_U32 },
	[KATLS_A_REQ_ROLE]		= { .type = NLA_U8 },
	[KATLS_A_REQ_MODE]		= { .type = NLA_U8 },
	[KATLS_A_REQ_POLICY]		= { .type = NLA_STRING },
	[KATLS_A_REQ_SERVER_NAME]	= { .type = NLA_STRING },
	[KATLS_A_REQ_TIMEOUT_MS]	= { .type = NLA_U32 },
	[KATLS_A_REQ_PID]		= { .type = NLA_U32 },
	[KATLS_A_REQ_UID]		= { .type = NLA_U32 },
	[KATLS_A_REQ_CGROUP_ID]		= { .type = NLA_U64 },
	[KATLS_A_REQ_EXE_PATH]		= { .type = NLA_STRING },
	[KATLS_A_REQ_EXE_DIGEST_ALGO]	= { .type = NLA_U32 },
	[KATLS_A_REQ_EXE_DIGEST_ALGO_NAME] = { .type = NLA_STRING },
	[KATLS_A_REQ_TRANSPARENT]	= { .type = NLA_U8 },
};

static void copy_str(char *out, size_t size, struct nlattr *a)
{
	if (a)
		nla_strlcpy(out, a, size);
}

static int parse_accept(struct nl_msg *msg, void *arg)
{
	struct katls_accepted *r = arg;
	struct nlattr *tb[KATLS_A_MAX + 1], *d;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, KATLS_A_MAX, accept_policy) < 0 ||
	    !tb[KATLS_A_REQ_ID] || !tb[KATLS_A_REQ_FD] || !tb[KATLS_A_REQ_ROLE] ||
	    !tb[KATLS_A_REQ_MODE])
		return -EBADMSG;
	r->id = nla_get_u32(tb[KATLS_A_REQ_ID]);
	r->fd = (int)nla_get_u32(tb[KATLS_A_REQ_FD]);
	r->role = nla_get_u8(tb[KATLS_A_REQ_ROLE]);
	r->mode = nla_get_u8(tb[KATLS_A_REQ_MODE]);
	if (tb[KATLS_A_REQ_TIMEOUT_MS])
		r->timeout_ms = nla_get_u32(tb[KATLS_A_REQ_TIMEOUT_MS]);
	copy_str(r->policy, sizeof(r->policy), tb[KATLS_A_REQ_POLICY]);
	copy_str(r->server_name, sizeof(r->server_name), tb[KATLS_A_REQ_SERVER_NAME]);
	if (tb[KATLS_A_REQ_PID])
		r->pid = nla_get_u32(tb[KATLS_A_REQ_PID]);
	if (tb[KATLS_A_REQ_UID])
		r->uid = nla_get_u32(tb[KATLS_A_REQ_UID]);
	if (tb[KATLS_A_REQ_CGROUP_ID])
		r->cgroup_id = nla_get_u64(tb[KATLS_A_REQ_CGROUP_ID]);
	copy_str(r->exe_path, sizeof(r->exe_path), tb[KATLS_A_REQ_EXE_PATH]);
	r->transparent = tb[KATLS_A_REQ_TRANSPARENT] && nla_get_u8(tb[KATLS_A_REQ_TRANSPARENT]);
	d = tb[KATLS_A_REQ_EXE_DIGEST];
	if (d && tb[KATLS_A_REQ_EXE_DIGEST_ALGO] && nla_len(d) > 0 &&
	    (size_t)nla_len(d) <= sizeof(r->exe_digest)) {
		r->exe_digest_len = nla_len(d);
		memcpy(r->exe_digest, nla_data(d), r->exe_digest_len);
		r->exe_digest_algo = nla_get_u32(tb[KATLS_A_REQ_EXE_DIGEST_ALGO]);
		copy_str(r->exe_digest_algo_name, sizeof(r->exe_digest_algo_name),
			 tb[KATLS_A_REQ_EXE_DIGEST_ALGO_NAME]);
	}
	return 0;
}

int katls_nl_request_accept(struct katls_nl *nl, uint32_t id, struct katls_accepted *out)
{
	struct nl_msg *msg = new_request(nl, KATLS_CMD_REQUEST_ACCEPT, 0);
	int ret;

	if (!msg || (id && nla_put_u32(msg, KATLS_A_REQ_ID, id) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	out->fd = -1;
	ret = katls_nl_transact(nl, msg, parse_accept, out);
	/* The fd is ours even if the reply did not parse: do not leak it. */
	if (ret && out->fd >= 0) {
		close(out->fd);
		out->fd = -1;
	}
	return ret;
}

int katls_nl_request_done(struct katls_nl *nl, uint32_t id, int32_t status, uint32_t reason,
			  const uint8_t *peer_digest, uint64_t expiry)
{
	struct nl_msg *msg = new_request(nl, KATLS_CMD_REQUEST_DONE, 0);

	if (!msg || nla_put_u32(msg, KATLS_A_REQ_ID, id) < 0 ||
	    nla_put_s32(msg, KATLS_A_REQ_STATUS, status) < 0 ||
	    nla_put_u32(msg, KATLS_A_REQ_REASON, reason) < 0 ||
	    (peer_digest && nla_put(msg, KATLS_A_REQ_PEER_DIGEST, KATLS_SHA256_LEN,
				    peer_digest) < 0) ||
	    (expiry && nla_put_u64(msg, KATLS_A_REQ_EXPIRY, expiry) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return katls_nl_transact(nl, msg, NULL, NULL);
}

/* ---- IMA_GET dump ---------------------------------------------------------- */

struct dump_ctx {
	struct katls_nl *nl;
	katls_ima_records_fn fn;
	void *arg;
	int ret;		/* first error from fn or parsing */
	int err;		/* the kernel's error at the end of the dump */
	bool done;
	bool intr;
};

static struct nla_policy ima_policy[KATLS_A_MAX + 1] = {
	[KATLS_A_STATE_GENERATION]	= { .type = NLA_U64 },
	[KATLS_A_STATE_IMA_COUNT]	= { .type = NLA_U64 },
};

static int dump_valid(struct nl_msg *msg, void *arg)
{
	struct dump_ctx *d = arg;
	struct nlattr *tb[KATLS_A_MAX + 1], *r;

	if (d->ret)
		return NL_OK;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, KATLS_A_MAX, ima_policy) < 0 ||
	    !tb[KATLS_A_STATE_GENERATION] || !tb[KATLS_A_STATE_IMA_COUNT]) {
		d->ret = -EBADMSG;
		return NL_OK;
	}
	r = tb[KATLS_A_IMA_RECORDS];
	d->ret = d->fn(r ? nla_data(r) : NULL, r ? (size_t)nla_len(r) : 0,
		       nla_get_u64(tb[KATLS_A_STATE_GENERATION]),
		       nla_get_u64(tb[KATLS_A_STATE_IMA_COUNT]), d->arg);
	return NL_OK;
}

static int dump_intr(struct nl_msg *msg, void *arg)
{
	((struct dump_ctx *)arg)->intr = true;
	return NL_OK;
}

/* NLMSG_DONE carries the dump's error and, with NLM_F_ACK_TLVS, its extack. */
static int dump_finish(struct nl_msg *msg, void *arg)
{
	struct dump_ctx *d = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int hdr = NLMSG_HDRLEN + sizeof(int);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

	d->done = true;
	if (nlh->nlmsg_len >= (unsigned int)hdr)
		d->err = *(int *)nlmsg_data(nlh);
	if (d->err && (nlh->nlmsg_flags & NLM_F_ACK_TLVS) && (int)nlh->nlmsg_len > hdr &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlh + hdr),
		       nlh->nlmsg_len - hdr, NULL) && tb[NLMSGERR_ATTR_MSG])
		snprintf(d->nl->errmsg, sizeof(d->nl->errmsg), "%s",
			 (char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

int katls_nl_ima_dump(struct katls_nl *nl, uint64_t start, katls_ima_records_fn fn, void *arg)
{
	struct dump_ctx d = { .nl = nl, .fn = fn, .arg = arg };
	struct nl_msg *msg = new_request(nl, KATLS_CMD_IMA_GET, NLM_F_DUMP);
	struct nl_cb *nlcb;
	int ret;

	if (!msg || (start && nla_put_u64(msg, KATLS_A_IMA_START, start) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nlcb = call_begin(nl);
	if (!nlcb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, dump_valid, &d);
	nl_cb_set(nlcb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, dump_intr, &d);
	nl_cb_set(nlcb, NL_CB_FINISH, NL_CB_CUSTOM, dump_finish, &d);
	ret = call_finish(nl, msg, nlcb, &d.done);
	if (ret)
		return ret;
	if (d.err)
		return d.err;
	if (d.ret)
		return d.ret;
	return d.intr ? -EINTR : 0;
}

/* ---- events ---------------------------------------------------------------- */

int katls_nl_events_join(struct katls_nl *nl)
{
	int grp = genl_ctrl_resolve_grp(nl->sk, KATLS_GENL_NAME, KATLS_GENL_MCGRP_EVENTS);

	if (grp < 0)
		return -ENOENT;
	nl_socket_disable_seq_check(nl->sk);
	/* setsockopt rather than libnl's wrapper: keep the kernel's errno (EPERM). */
	if (setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp,
		       sizeof(grp)) < 0)
		return -errno;
	return 0;
}

static struct nla_policy event_policy[KATLS_A_MAX + 1] = {
	[KATLS_A_REQ_ID]		= { .type = NLA_U32 },
	[KATLS_A_REQ_ROLE]		= { .type = NLA_U8 },
	[KATLS_A_REQ_MODE]		= { .type = NLA_U8 },
	[KATLS_A_STATE_GENERATION]	= { .type = NLA_U64 },
	[KATLS_A_STATE_IMA_COUNT]	= { .type = NLA_U64 },
};

struct event_ctx {
	struct katls_event *ev;
	bool got;
};

static int parse_event(struct nl_msg *msg, void *arg)
{
	struct event_ctx *e = arg;
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[KATLS_A_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, KATLS_A_MAX, event_policy) < 0)
		return NL_SKIP;
	memset(e->ev, 0, sizeof(*e->ev));
	e->ev->cmd = gh->cmd;
	if (tb[KATLS_A_REQ_ID])
		e->ev->id = nla_get_u32(tb[KATLS_A_REQ_ID]);
	if (tb[KATLS_A_REQ_ROLE])
		e->ev->role = nla_get_u8(tb[KATLS_A_REQ_ROLE]);
	if (tb[KATLS_A_REQ_MODE])
		e->ev->mode = nla_get_u8(tb[KATLS_A_REQ_MODE]);
	if (tb[KATLS_A_STATE_GENERATION])
		e->ev->generation = nla_get_u64(tb[KATLS_A_STATE_GENERATION]);
	if (tb[KATLS_A_STATE_IMA_COUNT])
		e->ev->ima_count = nla_get_u64(tb[KATLS_A_STATE_IMA_COUNT]);
	e->got = true;
	return NL_OK;
}

static int no_seq_check(struct nl_msg *msg, void *arg)
{
	return NL_OK;
}

int katls_nl_event_next(struct katls_nl *nl, struct katls_event *ev, int timeout_ms)
{
	struct pollfd pfd = { .fd = nl_socket_get_fd(nl->sk), .events = POLLIN };
	struct event_ctx e = { ev, false };
	struct nl_cb *nlcb;
	int ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	nlcb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!nlcb)
		return -ENOMEM;
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, parse_event, &e);
	/* Multicasts carry sequence 0: a fresh nl_cb checks sequences again. */
	nl_cb_set(nlcb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	ret = nl_recvmsgs(nl->sk, nlcb);
	nl_cb_put(nlcb);
	if (ret == -NLE_NOMEM)
		return -ENOBUFS;
	if (ret < 0)
		return -EIO;
	return e.got ? 0 : -EAGAIN;
}
