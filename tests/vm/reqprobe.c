// SPDX-License-Identifier: MIT
/*
 * reqprobe: the daemon-side netlink ops with bad input and from the wrong
 * caller.  Each case must fail with the documented errno (and an extack
 * message for -EINVAL, for the policy's -ERANGE and for every -EPERM the
 * module itself decides).
 *   reqprobe          as root, no daemon registered and no request pending:
 *                     ACCEPT/DONE from an unregistered socket -EPERM; then
 *                     registered, the malformed-input matrix; a second
 *                     socket cannot register (EBUSY), accept or complete
 *                     (EPERM); after the first closes it can register.
 *   reqprobe nopriv   without CAP_NET_ADMIN/CAP_SYS_ADMIN: every op -EPERM,
 *                     joining "events" -EPERM
 *   reqprobe netadmin with CAP_NET_ADMIN but not CAP_SYS_ADMIN (a CNI
 *                     plugin): REGISTER, ACCEPT, DONE, joining "events" all
 *                     -EPERM
 * Exit 0 only if every case behaves.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netlink/genl/genl.h>

#include "kernel/nl.h"

/* -EPERM decided by katls.ko itself (with an extack message), not by genl. */
#define EPERM_MOD	(EPERM + 1000)

struct probe {
	const char *name;
	int cmd;
	int attr, len;
	const void *data;
	int attr2, len2;
	const void *data2;
	int want;
};

static int run(struct katls_nl *nl, const struct probe *p)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, katls_nl_family(nl), 0,
				 p->cmd == KATLS_CMD_IMA_GET ? NLM_F_DUMP : 0, p->cmd,
				 KATLS_GENL_VERSION))
		return 1;
	if (p->attr && nla_put(msg, p->attr, p->len, p->data) < 0)
		return 1;
	if (p->attr2 && nla_put(msg, p->attr2, p->len2, p->data2) < 0)
		return 1;
	ret = katls_nl_transact(nl, msg, NULL, NULL);
	printf("%-44s -> %d (%s) extack \"%s\"\n", p->name, ret, strerror(-ret),
	       katls_nl_errmsg(nl));
	if (ret == -EPERM && p->want == -EPERM_MOD)
		ret = -EPERM_MOD;
	if (ret != p->want)
		return fprintf(stderr, "FAIL %s: want %d got %d\n", p->name, p->want, ret), 1;
	if ((p->want == -EINVAL || p->want == -EPERM_MOD ||
	     (p->want == -ERANGE && p->cmd != KATLS_CMD_IMA_GET)) && !*katls_nl_errmsg(nl))
		return fprintf(stderr, "FAIL %s: no extack message\n", p->name), 1;
	return 0;
}

static int run_all(struct katls_nl *nl, const struct probe *p, size_t n)
{
	int fails = 0;

	for (size_t i = 0; i < n; i++)
		fails += run(nl, &p[i]);
	return fails;
}

/* Joining the events group: want @want (0 or -EPERM). */
static int join(int want)
{
	struct katls_nl *ev;
	int ret;

	if ((ret = katls_nl_open(&ev)))
		return fprintf(stderr, "FAIL open: %s\n", strerror(-ret)), 1;
	ret = katls_nl_events_join(ev);
	katls_nl_close(ev);
	printf("%-44s -> %d (%s)\n", "join the events group", ret, strerror(-ret));
	if (ret != want)
		return fprintf(stderr, "FAIL join: want %d got %d\n", want, ret), 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const uint32_t id1 = 1, id0 = 0, id_big = 0x7ffffff0;
	static const int32_t st_ok = 0, st_bad = -EINTR, st_pos = 5;
	static const uint64_t id64 = 1;
	static const uint8_t digest31[31] = { 0 };
	const struct probe stranger[] = {
		{ "ACCEPT from a socket that is not the daemon", KATLS_CMD_REQUEST_ACCEPT, 0, 0,
		  NULL, 0, 0, NULL, -EPERM_MOD },
		{ "ACCEPT an id, not the daemon", KATLS_CMD_REQUEST_ACCEPT, KATLS_A_REQ_ID, 4,
		  &id1, 0, 0, NULL, -EPERM_MOD },
		{ "DONE(id, 0) from a socket that is not the daemon", KATLS_CMD_REQUEST_DONE,
		  KATLS_A_REQ_ID, 4, &id1, KATLS_A_REQ_STATUS, 4, &st_ok, -EPERM_MOD },
	};
	const struct probe root[] = {
		{ "ACCEPT with nothing queued", KATLS_CMD_REQUEST_ACCEPT, 0, 0, NULL, 0, 0, NULL,
		  -ENOENT },
		{ "ACCEPT an unknown id", KATLS_CMD_REQUEST_ACCEPT, KATLS_A_REQ_ID, 4, &id_big,
		  0, 0, NULL, -ENOENT },
		{ "ACCEPT with id 0", KATLS_CMD_REQUEST_ACCEPT, KATLS_A_REQ_ID, 4, &id0, 0, 0,
		  NULL, -ERANGE },
		{ "ACCEPT with a u64 id", KATLS_CMD_REQUEST_ACCEPT, KATLS_A_REQ_ID, 8, &id64, 0, 0,
		  NULL, -EINVAL },
		{ "ACCEPT with a foreign attribute", KATLS_CMD_REQUEST_ACCEPT,
		  KATLS_A_STATE_PCR_MASK, 4, &id1, 0, 0, NULL, -EINVAL },
		{ "DONE for an unknown id", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4, &id_big,
		  KATLS_A_REQ_STATUS, 4, &st_ok, -ENOENT },
		{ "DONE without status", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4, &id1, 0, 0,
		  NULL, -EINVAL },
		{ "DONE without id", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_STATUS, 4, &st_ok, 0, 0,
		  NULL, -EINVAL },
		{ "DONE with status -EINTR", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4, &id1,
		  KATLS_A_REQ_STATUS, 4, &st_bad, -EINVAL },
		{ "DONE with a positive status", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4, &id1,
		  KATLS_A_REQ_STATUS, 4, &st_pos, -EINVAL },
		{ "DONE with a 31-byte peer digest", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4,
		  &id1, KATLS_A_REQ_PEER_DIGEST, 31, digest31, -ERANGE },
		{ "DONE with a u64 status", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4, &id1,
		  KATLS_A_REQ_STATUS, 8, &id64, -EINVAL },
		{ "REGISTER with an attribute", KATLS_CMD_DAEMON_REGISTER, KATLS_A_REQ_ID, 4,
		  &id1, 0, 0, NULL, -EINVAL },
		{ "IMA_GET with a u32 start", KATLS_CMD_IMA_GET, KATLS_A_IMA_START, 4, &id1, 0, 0,
		  NULL, -EINVAL },
		{ "IMA_GET from beyond the list", KATLS_CMD_IMA_GET, KATLS_A_IMA_START, 8,
		  &(uint64_t){ 1ULL << 40 }, 0, 0, NULL, -ERANGE },
		{ "command 99", 99, 0, 0, NULL, 0, 0, NULL, -EOPNOTSUPP },
	};
	const struct probe nopriv[] = {
		{ "unprivileged ACCEPT", KATLS_CMD_REQUEST_ACCEPT, 0, 0, NULL, 0, 0, NULL, -EPERM },
		{ "unprivileged DONE", KATLS_CMD_REQUEST_DONE, KATLS_A_REQ_ID, 4, &id1,
		  KATLS_A_REQ_STATUS, 4, &st_ok, -EPERM },
		{ "unprivileged REGISTER", KATLS_CMD_DAEMON_REGISTER, 0, 0, NULL, 0, 0, NULL,
		  -EPERM },
		{ "unprivileged IMA_GET", KATLS_CMD_IMA_GET, 0, 0, NULL, 0, 0, NULL, -EPERM },
	};
	const struct probe netadmin[] = {
		{ "CAP_NET_ADMIN only: REGISTER", KATLS_CMD_DAEMON_REGISTER, 0, 0, NULL, 0, 0,
		  NULL, -EPERM_MOD },
		{ "CAP_NET_ADMIN only: IMA_GET", KATLS_CMD_IMA_GET, 0, 0, NULL, 0, 0, NULL,
		  -EPERM },
	};
	const char *mode = argc > 1 ? argv[1] : "root";
	struct katls_nl *nl, *nl2;
	int fails = 0, ret;

	if ((ret = katls_nl_open(&nl)))
		return fprintf(stderr, "reqprobe: %s\n", strerror(-ret)), 1;
	if (!strcmp(mode, "nopriv")) {
		fails += run_all(nl, nopriv, sizeof(nopriv) / sizeof(nopriv[0]));
		fails += join(-EPERM);
		katls_nl_close(nl);
	} else if (!strcmp(mode, "netadmin")) {
		fails += run_all(nl, netadmin, sizeof(netadmin) / sizeof(netadmin[0]));
		fails += run_all(nl, stranger, sizeof(stranger) / sizeof(stranger[0]));
		fails += join(-EPERM);
		katls_nl_close(nl);
	} else {
		fails += run_all(nl, stranger, sizeof(stranger) / sizeof(stranger[0]));
		ret = katls_nl_daemon_register(nl);
		printf("%-44s -> %d\n", "REGISTER", ret);
		fails += ret != 0;
		fails += run_all(nl, root, sizeof(root) / sizeof(root[0]));
		/* One daemon at a time; the same socket may register again. */
		if ((ret = katls_nl_open(&nl2)))
			return 1;
		ret = katls_nl_daemon_register(nl);
		printf("%-44s -> %d\n", "REGISTER again from the same socket", ret);
		fails += ret != 0;
		ret = katls_nl_daemon_register(nl2);
		printf("%-44s -> %d (%s)\n", "REGISTER from a second socket", ret,
		       katls_nl_errmsg(nl2));
		fails += ret != -EBUSY;
		/* Root, but not the daemon's socket: no accepting, no verdicts. */
		fails += run_all(nl2, stranger, sizeof(stranger) / sizeof(stranger[0]));
		fails += join(0);
		katls_nl_close(nl);
		/* The first one's release unregistered it. */
		ret = katls_nl_daemon_register(nl2);
		printf("%-44s -> %d\n", "REGISTER after the first closed", ret);
		fails += ret != 0;
		katls_nl_close(nl2);
	}
	printf("reqprobe: %d failure(s)\n", fails);
	return fails != 0;
}
