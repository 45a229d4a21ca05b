// SPDX-License-Identifier: MIT
/*
 * responder: plays katlsd for the VM tests.  Registers with katls.ko, joins the
 * events group, accepts every request and completes it as --mode says:
 *   ok      install kTLS with the fixed test keys on the accepted fd, DONE 0
 *   noktls  DONE 0 without kTLS (the module must fail the request: -EPROTO)
 *   fail    DONE -EACCES with reason 42
 *   hold    accept and keep the fd, never DONE (timeouts, signals, rmmod)
 *   exit    exit right after the first ACCEPT (daemon dies mid-request)
 * --count N exits after N requests (0: until killed); --ready FILE is created
 * once registered.  One line per request on stdout.  At a --count exit it
 * checks that its fd count is back where it started.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel/nl.h"
#include "ktls_pair.h"

enum mode { M_OK, M_NOKTLS, M_FAIL, M_HOLD, M_EXIT };

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

static int handle(struct katls_nl *nl, enum mode mode, const struct katls_accepted *a, int *fail)
{
	static const uint8_t digest[KATLS_SHA256_LEN] = { 0xab, 0xcd, 0xef };
	uint64_t expiry = (uint64_t)time(NULL) + 3600;
	int ret;

	printf("accepted id=%u role=%u mode=%u timeout=%u policy=%s server=%s pid=%u uid=%u "
	       "cgroup=%llu exe=%s algo=%u/%s digest=", a->id, a->role, a->mode,
	       a->timeout_ms, a->policy, a->server_name, a->pid, a->uid,
	       (unsigned long long)a->cgroup_id, a->exe_path, a->exe_digest_algo,
	       a->exe_digest_algo_name);
	for (size_t i = 0; i < a->exe_digest_len; i++)
		printf("%02x", a->exe_digest[i]);
	printf("\n");
	switch (mode) {
	case M_OK:
		ret = install_ktls(a->fd, KEY_A, KEY_B);
		if (ret) {
			fprintf(stderr, "responder: kTLS on fd %d: %s\n", a->fd, strerror(-ret));
			(*fail)++;
			katls_nl_request_done(nl, a->id, -EPROTO, 1, NULL, 0);
			break;
		}
		ret = katls_nl_request_done(nl, a->id, 0, 0, digest, expiry);
		if (ret) {
			fprintf(stderr, "responder: DONE %u: %s (%s)\n", a->id, strerror(-ret),
				katls_nl_errmsg(nl));
			(*fail)++;
		}
		break;
	case M_NOKTLS:
		ret = katls_nl_request_done(nl, a->id, 0, 0, digest, expiry);
		printf("done-without-ktls id=%u -> %d (%s) \"%s\"\n", a->id, ret, strerror(-ret),
		       katls_nl_errmsg(nl));
		if (ret != -EPROTO)
			(*fail)++;
		break;
	case M_FAIL:
		ret = katls_nl_request_done(nl, a->id, -EACCES, 42, NULL, 0);
		if (ret) {
			fprintf(stderr, "responder: DONE -EACCES: %s\n", strerror(-ret));
			(*fail)++;
		}
		break;
	case M_HOLD:
		return 1;	/* keep the fd */
	case M_EXIT:
		fflush(stdout);
		_exit(0);
	}
	close(a->fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "count", required_argument, NULL, 'c' },
		{ "ready", required_argument, NULL, 'r' },
		{ 0 }
	};
	static const char *const names[] = { "ok", "noktls", "fail", "hold", "exit" };
	struct katls_nl *nl, *ev_nl;
	struct katls_accepted *a = malloc(sizeof(*a));
	const char *ready = NULL;
	enum mode mode = M_OK;
	long count = 0, handled = 0, ready_events = 0;
	int c, ret, fds0, fail = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "m:c:r:", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			for (mode = 0; mode < 5 && strcmp(optarg, names[mode]); mode++)
				;
			if (mode == 5)
				return fprintf(stderr, "responder: bad mode %s\n", optarg), 2;
			break;
		case 'c':
			count = atol(optarg);
			break;
		case 'r':
			ready = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!a)
		return 1;
	if ((ret = katls_nl_open(&nl)) || (ret = katls_nl_open(&ev_nl)) ||
	    (ret = katls_nl_events_join(ev_nl)) || (ret = katls_nl_daemon_register(nl))) {
		fprintf(stderr, "responder: setup: %s (%s)\n", strerror(-ret),
			nl ? katls_nl_errmsg(nl) : "");
		return 1;
	}
	fds0 = count_fds();
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f)
			return perror("responder: ready file"), 1;
		fprintf(f, "%d\n", getpid());
		fclose(f);
	}
	while (!count || handled < count) {
		struct katls_event ev;

		/* Events wake us; a missed one is covered by the timeout. */
		if (!katls_nl_event_next(ev_nl, &ev, 200) && ev.cmd == KATLS_CMD_REQUEST_READY)
			ready_events++;
		for (;;) {
			ret = katls_nl_request_accept(nl, 0, a);
			if (ret == -ENOENT)
				break;
			if (ret) {
				fprintf(stderr, "responder: ACCEPT: %s (%s)\n", strerror(-ret),
					katls_nl_errmsg(nl));
				fail++;
				break;
			}
			handle(nl, mode, a, &fail);
			handled++;
		}
	}
	if (mode != M_HOLD && count_fds() != fds0) {
		fprintf(stderr, "responder: fd count %d, at start %d: fd leak\n", count_fds(), fds0);
		fail++;
	}
	printf("responder: %ld request(s), %ld REQUEST_READY event(s), %d failure(s), fds %d -> %d\n",
	       handled, ready_events, fail, fds0, count_fds());
	katls_nl_close(ev_nl);
	katls_nl_close(nl);
	free(a);
	return fail ? 1 : 0;
}
