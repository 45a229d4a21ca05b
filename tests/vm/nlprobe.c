// SPDX-License-Identifier: MIT
/*
 * nlprobe: sends malformed KATLS_CMD_STATE_GET requests and checks that each is
 * rejected with -EINVAL (or -EOPNOTSUPP for an unknown command) and an extack
 * message.  Exit 0 only if every case behaves.  Run inside the test VM.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netlink/genl/genl.h>

#include "kernel/nl.h"

struct probe {
	const char *name;
	int cmd;
	int attr;
	const void *data;
	int len;
	int want;
};

static int run(struct katls_nl *nl, const struct probe *p)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, katls_nl_family(nl), 0, 0,
				 p->cmd, KATLS_GENL_VERSION))
		return -ENOMEM;
	if (p->attr >= 0 && nla_put(msg, p->attr, p->len, p->data) < 0)
		return -ENOMEM;
	ret = katls_nl_transact(nl, msg, NULL, NULL);
	printf("%-34s -> %d (%s) extack \"%s\"\n", p->name, ret, strerror(-ret),
	       katls_nl_errmsg(nl));
	if (ret != p->want)
		return fprintf(stderr, "FAIL %s: want %d got %d\n", p->name, p->want, ret), 1;
	if (p->want == -EINVAL && !*katls_nl_errmsg(nl))
		return fprintf(stderr, "FAIL %s: no extack message\n", p->name), 1;
	return 0;
}

int main(void)
{
	static const uint32_t ok_mask = 0x1, big_mask = 1U << 24, huge_mask = 0xffffffff;
	static const uint64_t mask64 = 0x1;
	static const uint8_t mask8 = 1;
	const struct probe probes[] = {
		{ "valid mask (control case)", KATLS_CMD_STATE_GET, KATLS_A_STATE_PCR_MASK,
		  &ok_mask, 4, 0 },
		{ "mask with PCR 24 set", KATLS_CMD_STATE_GET, KATLS_A_STATE_PCR_MASK,
		  &big_mask, 4, -EINVAL },
		{ "mask 0xffffffff", KATLS_CMD_STATE_GET, KATLS_A_STATE_PCR_MASK,
		  &huge_mask, 4, -EINVAL },
		{ "mask as u64 (wrong length)", KATLS_CMD_STATE_GET, KATLS_A_STATE_PCR_MASK,
		  &mask64, 8, -EINVAL },
		{ "mask as u8 (too short)", KATLS_CMD_STATE_GET, KATLS_A_STATE_PCR_MASK,
		  &mask8, 1, -EINVAL },
		{ "unknown attribute type 200", KATLS_CMD_STATE_GET, 200, &ok_mask, 4, -EINVAL },
		{ "attribute of another op", KATLS_CMD_STATE_GET, KATLS_A_IMA_START,
		  &mask64, 8, -EINVAL },
		{ "pad attribute", KATLS_CMD_STATE_GET, KATLS_A_PAD, &ok_mask, 4, -EINVAL },
		{ "unknown command 99", 99, -1, NULL, 0, -EOPNOTSUPP },
	};
	struct katls_nl *nl;
	int fails = 0, ret;

	ret = katls_nl_open(&nl);
	if (ret) {
		fprintf(stderr, "nlprobe: katls_nl_open: %s\n", strerror(-ret));
		return 1;
	}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		fails += run(nl, &probes[i]);
	katls_nl_close(nl);
	printf("nlprobe: %d failure(s)\n", fails);
	return fails != 0;
}
