// SPDX-License-Identifier: MIT
/*
 * Generic netlink client for katls.ko; see nl.h.  Requests are synchronous:
 * send, then receive until the kernel's ACK or error, capturing the extack
 * message of an error.  Reply attributes are validated against policies that
 * mirror the kernel's, and unknown attributes are ignored (a newer module may
 * add some).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "nl.h"

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

int katls_nl_transact(struct katls_nl *nl, struct nl_msg *msg,
		      int (*cb)(struct nl_msg *reply, void *arg), void *arg)
{
	struct valid_ctx v = { cb, arg, 0, false };
	struct nl_cb *nlcb;
	int ret;

	nl->err = 0;
	nl->done = false;
	nl->errmsg[0] = '\0';
	nlcb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!nlcb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &v);
	nl_cb_set(nlcb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &v);
	nl_cb_err(nlcb, NL_CB_CUSTOM, on_error, nl);
	ret = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		ret = -EIO;
		goto out;
	}
	/* The reply and the ACK may come in separate reads: wait for the ACK. */
	do {
		ret = nl_recvmsgs(nl->sk, nlcb);
	} while (ret >= 0 && !v.done && !nl->done);
	if (nl->err)
		ret = nl->err;
	else if (ret < 0)
		ret = -EIO;
	else
		ret = v.ret;
out:
	nl_cb_put(nlcb);
	return ret;
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
