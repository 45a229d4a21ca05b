// SPDX-License-Identifier: GPL-2.0
/*
 * The "katls" generic netlink family (include/uapi/linux/katls.h documents
 * every op and attribute).  Policies are static const and validation is strict
 * for every op (resv_start_op is the first op): unknown attributes, wrong
 * lengths and reserved mask bits are rejected by the core with an extack
 * message before a handler runs.  Capabilities are declared per op
 * (GENL_ADMIN_PERM) and per multicast group; who the daemon is (DAEMON_REGISTER,
 * and which socket may REQUEST_ACCEPT and REQUEST_DONE) is request.c's.
 */
#include <linux/limits.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>
#include <linux/utsname.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <uapi/linux/katls.h>

#include "genl.h"
#include "ima.h"
#include "measure.h"
#include "request.h"

/* Index of "events" in katls_mcgrps. */
#define MCGRP_EVENTS 0

static const struct nla_policy state_get_policy[KATLS_A_STATE_PCR_MASK + 1] = {
	[KATLS_A_STATE_PCR_MASK] = NLA_POLICY_MASK(NLA_U32, KATLS_PCR_MASK_ALL),
};

static int put_pcrs(struct sk_buff *msg, const struct katls_snapshot *s)
{
	struct nlattr *nest;
	unsigned int i;

	for (i = 0; i < KATLS_NUM_PCRS; i++) {
		if (!(s->pcr_mask & BIT(i)))
			continue;
		nest = nla_nest_start(msg, KATLS_A_STATE_PCR);
		if (!nest)
			return -EMSGSIZE;
		if (nla_put_u32(msg, KATLS_A_PCR_INDEX, i) ||
		    nla_put(msg, KATLS_A_PCR_DIGEST, KATLS_SHA256_LEN, s->pcrs[i])) {
			nla_nest_cancel(msg, nest);
			return -EMSGSIZE;
		}
		nla_nest_end(msg, nest);
	}
	return 0;
}

/*
 * Unprivileged callers see what Linux already shows them (release, taint,
 * lockdown, boot id); the IMA counters and PCRs need CAP_SYS_ADMIN, as
 * securityfs and the TPM device do.
 */
static int put_requests(struct sk_buff *msg)
{
	struct katls_request_stats st;

	katls_request_stats(&st);
	if (nla_put_u32(msg, KATLS_A_STATE_REQ_QUEUED, st.queued) ||
	    nla_put_u32(msg, KATLS_A_STATE_REQ_ACCEPTED, st.accepted) ||
	    nla_put_u32(msg, KATLS_A_STATE_SOCKS, st.socks) ||
	    nla_put_u8(msg, KATLS_A_STATE_DAEMON, st.daemon) ||
	    nla_put_u64_64bit(msg, KATLS_A_STATE_REQ_LIMITED, st.limited, KATLS_A_PAD) ||
	    nla_put_u32(msg, KATLS_A_STATE_SOCKS_ATTESTED, st.socks_attested))
		return -EMSGSIZE;
	return 0;
}

static int put_state(struct sk_buff *msg, const struct katls_snapshot *s, bool priv)
{
	if (nla_put_u64_64bit(msg, KATLS_A_STATE_GENERATION, s->generation, KATLS_A_PAD) ||
	    nla_put_string(msg, KATLS_A_STATE_KERNEL_RELEASE, init_utsname()->release) ||
	    nla_put_u64_64bit(msg, KATLS_A_STATE_TAINT, s->taint, KATLS_A_PAD) ||
	    nla_put_u32(msg, KATLS_A_STATE_CC_FLAGS, s->cc_flags) ||
	    nla_put_u8(msg, KATLS_A_STATE_TPM_PRESENT, s->tpm_present) ||
	    nla_put_u8(msg, KATLS_A_STATE_LOCKDOWN, s->lockdown))
		return -EMSGSIZE;
	if (s->have_boot_id &&
	    nla_put(msg, KATLS_A_STATE_BOOT_ID, KATLS_BOOT_ID_LEN, s->boot_id))
		return -EMSGSIZE;
	if (!priv)
		return 0;
	if (s->have_ima &&
	    (nla_put_u64_64bit(msg, KATLS_A_STATE_IMA_COUNT, s->ima_count, KATLS_A_PAD) ||
	     nla_put_u64_64bit(msg, KATLS_A_STATE_IMA_VIOLATIONS, s->ima_violations,
			       KATLS_A_PAD)))
		return -EMSGSIZE;
	return put_pcrs(msg, s);
}

static struct genl_family katls_genl_family;

static int katls_nl_state_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *mask_attr = info->attrs[KATLS_A_STATE_PCR_MASK];
	bool priv = netlink_capable(skb, CAP_SYS_ADMIN);
	struct katls_snapshot *s;
	struct sk_buff *msg;
	u32 mask = 0;
	void *hdr;
	int ret;

	if (mask_attr)
		mask = nla_get_u32(mask_attr);
	if (mask && !priv) {
		NL_SET_ERR_MSG_ATTR(info->extack, mask_attr,
				    "reading PCRs requires CAP_SYS_ADMIN");
		return -EPERM;
	}
	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	ret = katls_measure_snapshot(s, mask, info->extack);
	if (ret)
		goto out_free;

	ret = -ENOMEM;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		goto out_free;
	hdr = genlmsg_put_reply(msg, info, &katls_genl_family, 0, KATLS_CMD_STATE_GET);
	if (!hdr)
		goto out_free_msg;
	ret = put_state(msg, s, priv);
	if (!ret && netlink_capable(skb, CAP_NET_ADMIN))
		ret = put_requests(msg);
	if (ret)
		goto out_free_msg;
	genlmsg_end(msg, hdr);
	kfree(s);
	return genlmsg_reply(msg, info);

out_free_msg:
	nlmsg_free(msg);
out_free:
	kfree(s);
	return ret;
}

/* ---- IMA_GET ------------------------------------------------------------- */

static const struct nla_policy ima_get_policy[KATLS_A_IMA_START + 1] = {
	[KATLS_A_IMA_START] = { .type = NLA_U64 },
};

/* cb->args: [0] iterator, [1] snapshot generation, [2] snapshot count, [3] parts */
static int katls_nl_ima_get_start(struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	struct nlattr *start_attr = info->attrs[KATLS_A_IMA_START];
	struct katls_ima_iter *it;
	u64 start = 0, gen, count;
	int ret;

	if (!netlink_capable(cb->skb, CAP_SYS_ADMIN)) {
		NL_SET_ERR_MSG(cb->extack, "reading the IMA list requires CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (start_attr)
		start = nla_get_u64(start_attr);
	ret = katls_measure_generation(&gen, &count);
	if (ret) {
		NL_SET_ERR_MSG(cb->extack, "this kernel has no IMA measurement list");
		return ret;
	}
	if (start > count) {
		NL_SET_ERR_MSG_ATTR(cb->extack, start_attr, "start is beyond the IMA list");
		return -ERANGE;
	}
	it = katls_ima_iter_new(start, count);
	if (IS_ERR(it)) {
		NL_SET_ERR_MSG(cb->extack, "cannot read the IMA measurement list");
		return PTR_ERR(it);
	}
	cb->args[0] = (long)it;
	cb->args[1] = gen;
	cb->args[2] = count;
	cb->args[3] = 0;
	return 0;
}

static int katls_nl_ima_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct katls_ima_iter *it = (struct katls_ima_iter *)cb->args[0];
	const u8 *run = NULL;
	u64 gen, count;
	ssize_t n;
	void *hdr;
	int room;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &katls_genl_family, NLM_F_MULTI, KATLS_CMD_IMA_GET);
	if (!hdr)
		return -EMSGSIZE;
	/* The part's sequence is the live generation: it moves with new records. */
	if (!katls_measure_generation(&gen, &count))
		cb->seq = (u32)gen;
	genl_dump_check_consistent(cb, hdr);
	if (nla_put_u64_64bit(skb, KATLS_A_STATE_GENERATION, cb->args[1], KATLS_A_PAD) ||
	    nla_put_u64_64bit(skb, KATLS_A_STATE_IMA_COUNT, cb->args[2], KATLS_A_PAD))
		goto out_cancel;
	room = skb_tailroom(skb) - nla_total_size(0) - NLA_ALIGNTO;
	n = room > 0 ? katls_ima_iter_next(it, room, &run) : -EMSGSIZE;
	if (n < 0) {
		genlmsg_cancel(skb, hdr);
		if (n == -EMSGSIZE)
			NL_SET_ERR_MSG(cb->extack, "an IMA record exceeds a netlink message");
		else
			NL_SET_ERR_MSG(cb->extack, "reading the IMA list failed");
		return n;
	}
	if (n == 0 && cb->args[3])
		goto out_cancel;
	if (n && nla_put(skb, KATLS_A_IMA_RECORDS, n, run))
		goto out_cancel;
	genlmsg_end(skb, hdr);
	cb->args[3]++;
	return skb->len;

out_cancel:
	genlmsg_cancel(skb, hdr);
	return skb->len;
}

static int katls_nl_ima_get_done(struct netlink_callback *cb)
{
	katls_ima_iter_free((struct katls_ima_iter *)cb->args[0]);
	return 0;
}

/* ---- the upcall ---------------------------------------------------------- */

/* No attributes: with strict validation every attribute is rejected. */
static const struct nla_policy register_policy[KATLS_A_PAD + 1] = {};

static int katls_nl_daemon_register_doit(struct sk_buff *skb, struct genl_info *info)
{
	return katls_request_register(skb, info->snd_portid, info->extack);
}

static const struct nla_policy accept_policy[KATLS_A_REQ_ID + 1] = {
	[KATLS_A_REQ_ID] = NLA_POLICY_MIN(NLA_U32, 1),
};

static int katls_nl_request_accept_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *id_attr = info->attrs[KATLS_A_REQ_ID];
	struct sk_buff *msg;
	void *hdr;
	int fd, ret;

	msg = genlmsg_new(PATH_MAX + NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	ret = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &katls_genl_family, 0, KATLS_CMD_REQUEST_ACCEPT);
	if (!hdr)
		goto out_free;
	ret = katls_request_accept(msg, NETLINK_CB(skb).sk, id_attr ? nla_get_u32(id_attr) : 0,
				   &fd, info->extack);
	if (ret)
		goto out_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

out_free:
	nlmsg_free(msg);
	return ret;
}

static const struct nla_policy done_policy[KATLS_A_REQ_EXPIRY + 1] = {
	[KATLS_A_REQ_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[KATLS_A_REQ_STATUS]		= { .type = NLA_S32 },
	[KATLS_A_REQ_REASON]		= { .type = NLA_U32 },
	[KATLS_A_REQ_PEER_DIGEST]	= NLA_POLICY_EXACT_LEN(KATLS_SHA256_LEN),
	[KATLS_A_REQ_EXPIRY]		= { .type = NLA_U64 },
};

/* The verdicts a daemon may report; each reaches the application as is. */
static bool status_allowed(s32 status)
{
	switch (status) {
	case 0:
	case -EACCES:
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
	case -EPROTO:
	case -ETIMEDOUT:
	case -ECONNRESET:
		return true;
	default:
		return false;
	}
}

static int katls_nl_request_done_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	s32 status;

	if (GENL_REQ_ATTR_CHECK(info, KATLS_A_REQ_ID)) {
		NL_SET_ERR_MSG(info->extack, "REQ_ID is required");
		return -EINVAL;
	}
	if (GENL_REQ_ATTR_CHECK(info, KATLS_A_REQ_STATUS)) {
		NL_SET_ERR_MSG(info->extack, "REQ_STATUS is required");
		return -EINVAL;
	}
	status = nla_get_s32(a[KATLS_A_REQ_STATUS]);
	if (!status_allowed(status)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[KATLS_A_REQ_STATUS],
				    "status must be 0, -EACCES, -EKEYREJECTED, -EKEYEXPIRED, -EPROTO, -ETIMEDOUT or -ECONNRESET");
		return -EINVAL;
	}
	return katls_request_done(NETLINK_CB(skb).sk, nla_get_u32(a[KATLS_A_REQ_ID]), status,
				  a[KATLS_A_REQ_REASON] ? nla_get_u32(a[KATLS_A_REQ_REASON]) : 0,
				  a[KATLS_A_REQ_PEER_DIGEST] ? nla_data(a[KATLS_A_REQ_PEER_DIGEST]) : NULL,
				  a[KATLS_A_REQ_EXPIRY] ? nla_get_u64(a[KATLS_A_REQ_EXPIRY]) : 0,
				  info->extack);
}

static const struct genl_ops katls_genl_ops[] = {
	{
		.cmd		= KATLS_CMD_STATE_GET,
		.doit		= katls_nl_state_get_doit,
		.policy		= state_get_policy,
		.maxattr	= ARRAY_SIZE(state_get_policy) - 1,
	},
	{
		.cmd		= KATLS_CMD_IMA_GET,
		.start		= katls_nl_ima_get_start,
		.dumpit		= katls_nl_ima_get_dumpit,
		.done		= katls_nl_ima_get_done,
		.policy		= ima_get_policy,
		.maxattr	= ARRAY_SIZE(ima_get_policy) - 1,
	},
	{
		.cmd		= KATLS_CMD_REQUEST_ACCEPT,
		.doit		= katls_nl_request_accept_doit,
		.policy		= accept_policy,
		.maxattr	= ARRAY_SIZE(accept_policy) - 1,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= KATLS_CMD_REQUEST_DONE,
		.doit		= katls_nl_request_done_doit,
		.policy		= done_policy,
		.maxattr	= ARRAY_SIZE(done_policy) - 1,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= KATLS_CMD_DAEMON_REGISTER,
		.doit		= katls_nl_daemon_register_doit,
		.policy		= register_policy,
		.maxattr	= ARRAY_SIZE(register_policy) - 1,
		.flags		= GENL_ADMIN_PERM,
	},
};

/*
 * Events carry request ids and IMA counts: joining needs CAP_SYS_ADMIN in the
 * netns's user namespace (genl_bind()), and katls multicasts only into
 * network namespaces owned by the initial user namespace, so the owner of a
 * user namespace gets nothing from joining in a netns of its own.
 */
static const struct genl_multicast_group katls_mcgrps[] = {
	{ .name = KATLS_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_SYS_ADMIN },
};

static struct genl_family katls_genl_family __ro_after_init = {
	.name		= KATLS_GENL_NAME,
	.version	= KATLS_GENL_VERSION,
	.maxattr	= KATLS_A_MAX,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.ops		= katls_genl_ops,
	.n_ops		= ARRAY_SIZE(katls_genl_ops),
	.resv_start_op	= KATLS_CMD_STATE_GET,
	.mcgrps		= katls_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(katls_mcgrps),
};

int __init katls_genl_init(void)
{
	return genl_register_family(&katls_genl_family);
}

void katls_genl_exit(void)
{
	genl_unregister_family(&katls_genl_family);
}

/**
 * katls_genl_has_listeners - true if someone listens on "events" (init_net)
 */
bool katls_genl_has_listeners(void)
{
	return genl_has_listeners(&katls_genl_family, &init_net, MCGRP_EVENTS);
}

/**
 * katls_genl_request_ready - multicast REQUEST_READY in @net
 *
 * Best effort: a daemon that misses it still finds the request with a
 * REQUEST_ACCEPT without id.
 */
void katls_genl_request_ready(struct net *net, u32 id, u8 role, u8 mode)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &katls_genl_family, 0, KATLS_CMD_REQUEST_READY);
	if (!hdr || nla_put_u32(msg, KATLS_A_REQ_ID, id) ||
	    nla_put_u8(msg, KATLS_A_REQ_ROLE, role) || nla_put_u8(msg, KATLS_A_REQ_MODE, mode)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&katls_genl_family, net, msg, 0, MCGRP_EVENTS, GFP_KERNEL);
}

/**
 * katls_genl_state_changed - multicast STATE_CHANGED
 *
 * Into every network namespace owned by the initial user namespace that has
 * listeners (see katls_mcgrps).
 */
void katls_genl_state_changed(u64 generation, u64 ima_count)
{
	struct sk_buff *msg, *copy;
	struct net *net;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &katls_genl_family, 0, KATLS_CMD_STATE_CHANGED);
	if (!hdr ||
	    nla_put_u64_64bit(msg, KATLS_A_STATE_GENERATION, generation, KATLS_A_PAD) ||
	    nla_put_u64_64bit(msg, KATLS_A_STATE_IMA_COUNT, ima_count, KATLS_A_PAD)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	rcu_read_lock();
	for_each_net_rcu(net) {
		if (net->user_ns != &init_user_ns ||
		    !genl_has_listeners(&katls_genl_family, net, MCGRP_EVENTS))
			continue;
		copy = skb_clone(msg, GFP_ATOMIC);
		if (!copy)
			break;
		genlmsg_multicast_netns(&katls_genl_family, net, copy, 0, MCGRP_EVENTS,
					GFP_ATOMIC);
	}
	rcu_read_unlock();
	nlmsg_free(msg);
}
