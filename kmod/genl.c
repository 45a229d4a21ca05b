// SPDX-License-Identifier: GPL-2.0
/*
 * The "katls" generic netlink family (include/uapi/linux/katls.h documents
 * every op and attribute).  Policies are static const and validation is strict
 * for every op (resv_start_op is the first op): unknown attributes, wrong
 * lengths and reserved mask bits are rejected by the core with an extack
 * message before a handler runs.
 */
#include <linux/slab.h>
#include <linux/utsname.h>
#include <net/genetlink.h>
#include <uapi/linux/katls.h>

#include "genl.h"
#include "measure.h"

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

static const struct genl_ops katls_genl_ops[] = {
	{
		.cmd		= KATLS_CMD_STATE_GET,
		.doit		= katls_nl_state_get_doit,
		.policy		= state_get_policy,
		.maxattr	= ARRAY_SIZE(state_get_policy) - 1,
	},
};

static const struct genl_multicast_group katls_mcgrps[] = {
	{ .name = KATLS_GENL_MCGRP_EVENTS },
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
