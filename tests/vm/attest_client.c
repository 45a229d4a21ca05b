// SPDX-License-Identifier: MIT
/*
 * attest_client: the application side of KATLS_SO_ATTEST in the VM tests.
 *
 *   attest_client run [--expect ERR] [--count N] [--threads T] [--timeout MS]
 *                     [--alarm MS] [--v6]
 *       N attestations on fresh loopback pairs (T threads share them).  Each
 *       setsockopt must return ERR (0, or a name such as EACCES).  On success
 *       the status is ATTESTED, the peer gets the mirror kTLS keys, and data
 *       must cross both ways decrypted; on failure the status is FAILED with
 *       that result and the socket is shut down.  --alarm interrupts the wait
 *       with SIGALRM (no SA_RESTART).
 *   attest_client matrix
 *       unsuitable sockets and malformed structs: precise errnos, no daemon
 *       needed (a valid request with no daemon gives ECONNREFUSED).
 *   attest_client second [--timeout MS]
 *       needs a responder in hold mode: a second ATTEST while the first is
 *       pending gives EALREADY; the first then times out.
 *   attest_client again
 *       needs a responder in ok mode: ATTEST twice, the second gives EISCONN.
 * Exit 0 only if every check passes; each failure is printed.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/katls.h>

#include "ktls_pair.h"

static atomic_int failures;
static int opt_expect, opt_timeout, opt_alarm, opt_v6, opt_count = 1, opt_threads = 1;

#define FAIL(...) (fprintf(stderr, "FAIL: " __VA_ARGS__), atomic_fetch_add(&failures, 1))

static const struct { const char *name; int err; } errs[] = {
	{ "0", 0 }, { "EACCES", EACCES }, { "ETIMEDOUT", ETIMEDOUT },
	{ "ECONNREFUSED", ECONNREFUSED }, { "ECONNABORTED", ECONNABORTED },
	{ "EINTR", EINTR }, { "EPROTO", EPROTO }, { "EALREADY", EALREADY },
	{ "EISCONN", EISCONN }, { "EBUSY", EBUSY }, { "ENOTCONN", ENOTCONN },
	{ "EPROTONOSUPPORT", EPROTONOSUPPORT }, { "EINVAL", EINVAL },
};

static int parse_err(const char *s)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (!strcmp(s, errs[i].name))
			return errs[i].err;
	fprintf(stderr, "attest_client: unknown errno name %s\n", s);
	exit(2);
}

static void init_req(struct katls_attest_req *r)
{
	memset(r, 0, sizeof(*r));
	r->version = KATLS_ATTEST_VERSION;
	r->role = KATLS_ROLE_CLIENT;
	r->mode = KATLS_MODE_VERIFY_PEER;
	r->timeout_ms = opt_timeout;
	strcpy(r->policy, "test-policy");
	strcpy(r->server_name, "server.test");
}

static int level(int v6)
{
	return v6 ? SOL_IPV6 : SOL_IP;
}

/* setsockopt(KATLS_SO_ATTEST): 0 or errno. */
static int attest(int fd, int v6, const void *req, socklen_t len)
{
	return setsockopt(fd, level(v6), KATLS_SO_ATTEST, req, len) < 0 ? errno : 0;
}

static int get_status(int fd, int v6, struct katls_status *st)
{
	socklen_t len = sizeof(*st);

	return getsockopt(fd, level(v6), KATLS_SO_STATUS, st, &len) < 0 ? errno : 0;
}

static void check_data(int app, int peer, int n)
{
	char out[64], in[64];
	ssize_t r;
	int ret;

	ret = install_ktls(peer, KEY_B, KEY_A);
	if (ret) {
		FAIL("peer kTLS: %s\n", strerror(-ret));
		return;
	}
	snprintf(out, sizeof(out), "attested hello %d", n);
	if (write(app, out, strlen(out)) != (ssize_t)strlen(out))
		FAIL("app write: %s\n", strerror(errno));
	r = read(peer, in, sizeof(in));
	if (r != (ssize_t)strlen(out) || memcmp(in, out, r))
		FAIL("peer read %zd bytes, want \"%s\"\n", r, out);
	snprintf(out, sizeof(out), "reply %d", n);
	if (write(peer, out, strlen(out)) != (ssize_t)strlen(out))
		FAIL("peer write: %s\n", strerror(errno));
	r = read(app, in, sizeof(in));
	if (r != (ssize_t)strlen(out) || memcmp(in, out, r))
		FAIL("app read %zd bytes, want \"%s\"\n", r, out);
}

static void check_outcome(int app, int peer, int got, int n)
{
	struct katls_status st;
	char c;

	if (got != opt_expect) {
		FAIL("attest #%d: got %s, want %s\n", n, got ? strerror(got) : "0",
		     opt_expect ? strerror(opt_expect) : "0");
		return;
	}
	if (get_status(app, opt_v6, &st)) {
		FAIL("KATLS_SO_STATUS: %s\n", strerror(errno));
		return;
	}
	if (!got) {
		if (st.state != KATLS_STATE_ATTESTED || st.result || st.peer_digest[0] != 0xab ||
		    !st.expiry)
			FAIL("status after success: state %u result %d digest %02x expiry %llu\n",
			     st.state, st.result, st.peer_digest[0], (unsigned long long)st.expiry);
		check_data(app, peer, n);
		return;
	}
	if (got == ECONNREFUSED) {
		if (st.state != KATLS_STATE_NONE)
			FAIL("no daemon: state %u, want NONE\n", st.state);
		return;
	}
	if (st.state != KATLS_STATE_FAILED || st.result != -got)
		FAIL("status after failure: state %u result %d, want FAILED %d\n", st.state,
		     st.result, -got);
	if (got == EACCES && st.reason != 42)
		FAIL("reason %u, want 42\n", st.reason);
	/* Shut down: reading gives EOF at once, writing fails. */
	if (recv(app, &c, 1, MSG_DONTWAIT) != 0)
		FAIL("failed socket not shut down (recv: %s)\n", strerror(errno));
	if (send(app, "x", 1, MSG_NOSIGNAL) >= 0)
		FAIL("failed socket still writable\n");
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void *run_thread(void *arg)
{
	int per = opt_count / opt_threads, base = (int)(long)arg * per;
	struct katls_attest_req req;
	int app, peer, ret;

	init_req(&req);
	for (int i = 0; i < per; i++) {
		ret = tcp_pair(opt_v6, &app, &peer);
		if (ret) {
			FAIL("tcp pair: %s\n", strerror(-ret));
			break;
		}
		if (opt_alarm) {
			struct itimerval it = { .it_value = { opt_alarm / 1000,
							      (opt_alarm % 1000) * 1000 } };
			setitimer(ITIMER_REAL, &it, NULL);
		}
		check_outcome(app, peer, attest(app, opt_v6, &req, sizeof(req)), base + i);
		close(app);
		close(peer);
	}
	return NULL;
}

static int cmd_run(void)
{
	pthread_t *t = calloc(opt_threads, sizeof(*t));
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */

	sigaction(SIGALRM, &sa, NULL);
	/* One thread: run in the main thread, which is where SIGALRM lands. */
	if (opt_threads == 1)
		run_thread(NULL);
	for (long i = 0; opt_threads > 1 && i < opt_threads; i++)
		if (pthread_create(&t[i], NULL, run_thread, (void *)i))
			return FAIL("pthread_create\n"), 1;
	for (int i = 0; opt_threads > 1 && i < opt_threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	printf("attest_client run: %d attestation(s), %d thread(s), expect %s: %d failure(s)\n",
	       opt_count, opt_threads, opt_expect ? strerror(opt_expect) : "success",
	       atomic_load(&failures));
	return atomic_load(&failures) != 0;
}

static void expect(const char *what, int got, int want)
{
	printf("%-48s -> %s\n", what, got ? strerror(got) : "ok");
	if (got != want)
		FAIL("%s: got %s, want %s\n", what, got ? strerror(got) : "0",
		     want ? strerror(want) : "0");
}

static void matrix_family(int v6)
{
	struct katls_attest_req req, bad;
	struct katls_status st;
	char big[sizeof(req) + 8] = { 0 };
	socklen_t len;
	int fd, app, peer, ret;
	char what[96];
#define W(s) (snprintf(what, sizeof(what), "%s: %s", v6 ? "v6" : "v4", s), what)

	init_req(&req);
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
	expect(W("UDP socket"), attest(fd, v6, &req, sizeof(req)), EPROTONOSUPPORT);
	close(fd);
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	expect(W("unconnected TCP socket"), attest(fd, v6, &req, sizeof(req)), ENOTCONN);
	expect(W("STATUS of a fresh socket"), get_status(fd, v6, &st), 0);
	if (st.state != KATLS_STATE_NONE || st.version != KATLS_ATTEST_VERSION)
		FAIL("fresh socket: state %u version %u\n", st.state, st.version);
	len = sizeof(st) - 1;
	expect(W("STATUS with a short buffer"),
	       getsockopt(fd, level(v6), KATLS_SO_STATUS, &st, &len) < 0 ? errno : 0, EINVAL);
	if (listen(fd, 1) == 0)
		expect(W("listening TCP socket"), attest(fd, v6, &req, sizeof(req)), ENOTCONN);
	close(fd);

	ret = tcp_pair(v6, &app, &peer);
	if (ret) {
		FAIL("tcp pair: %s\n", strerror(-ret));
		return;
	}
	expect(W("struct one byte short"), attest(app, v6, &req, sizeof(req) - 1), EINVAL);
	memcpy(big, &req, sizeof(req));
	expect(W("struct eight bytes long"), attest(app, v6, big, sizeof(big)), EINVAL);
	expect(W("NULL optval"), attest(app, v6, NULL, sizeof(req)), EFAULT);
#define BAD(desc, field_stmt, err) do { bad = req; field_stmt; \
		expect(W(desc), attest(app, v6, &bad, sizeof(bad)), err); } while (0)
	BAD("version 0", bad.version = 0, EINVAL);
	BAD("version 2", bad.version = 2, EINVAL);
	BAD("role 0", bad.role = 0, EINVAL);
	BAD("role 3", bad.role = 3, EINVAL);
	BAD("mode 0", bad.mode = 0, EINVAL);
	BAD("mode 4", bad.mode = 4, EINVAL);
	BAD("timeout above the maximum", bad.timeout_ms = KATLS_TIMEOUT_MAX_MS + 1, EINVAL);
	BAD("reserved0 set", bad.reserved0 = 1, EINVAL);
	BAD("reserved1 set", bad.reserved1 = 0x100, EINVAL);
	BAD("last reserved2 byte set", bad.reserved2[31] = 1, EINVAL);
	BAD("policy not NUL-terminated", memset(bad.policy, 'p', sizeof(bad.policy)), EINVAL);
	BAD("server name not NUL-terminated",
	    memset(bad.server_name, 's', sizeof(bad.server_name)), EINVAL);
	expect(W("valid request, no daemon"), attest(app, v6, &req, sizeof(req)), ECONNREFUSED);
	expect(W("STATUS after ECONNREFUSED"), get_status(app, v6, &st), 0);
	if (st.state != KATLS_STATE_NONE)
		FAIL("after ECONNREFUSED: state %u, want NONE\n", st.state);
	if (write(app, "x", 1) != 1 || read(peer, big, 1) != 1)
		FAIL("socket unusable after ECONNREFUSED (it must be left alone)\n");
	ret = install_ktls(app, KEY_A, KEY_B);
	if (ret)
		FAIL("kTLS on app: %s\n", strerror(-ret));
	expect(W("socket that already carries kTLS"), attest(app, v6, &req, sizeof(req)), EBUSY);
	close(app);
	close(peer);
#undef BAD
#undef W
}

static int cmd_matrix(void)
{
	matrix_family(0);
	matrix_family(1);
	printf("attest_client matrix: %d failure(s)\n", atomic_load(&failures));
	return atomic_load(&failures) != 0;
}

struct second_ctx {
	int fd;
	int ret;
};

static void *first_attest(void *arg)
{
	struct second_ctx *c = arg;
	struct katls_attest_req req;

	init_req(&req);
	c->ret = attest(c->fd, 0, &req, sizeof(req));
	return NULL;
}

static int cmd_second(void)
{
	struct second_ctx c;
	struct katls_attest_req req;
	struct katls_status st;
	pthread_t t;
	int peer, ret;

	ret = tcp_pair(0, &c.fd, &peer);
	if (ret)
		return FAIL("tcp pair: %s\n", strerror(-ret)), 1;
	pthread_create(&t, NULL, first_attest, &c);
	/* Wait until the first request is pending. */
	for (int i = 0; i < 200; i++) {
		if (!get_status(c.fd, 0, &st) && st.state == KATLS_STATE_PENDING)
			break;
		usleep(10000);
	}
	if (st.state != KATLS_STATE_PENDING)
		FAIL("first request never became PENDING (state %u)\n", st.state);
	init_req(&req);
	expect("second ATTEST while the first is pending", attest(c.fd, 0, &req, sizeof(req)),
	       EALREADY);
	pthread_join(t, NULL);
	expect("first ATTEST (responder holds it)", c.ret, ETIMEDOUT);
	expect("ATTEST on the shut-down socket", attest(c.fd, 0, &req, sizeof(req)), ENOTCONN);
	close(c.fd);
	close(peer);
	printf("attest_client second: %d failure(s)\n", atomic_load(&failures));
	return atomic_load(&failures) != 0;
}

static int cmd_again(void)
{
	struct katls_attest_req req;
	int app, peer, ret;

	ret = tcp_pair(0, &app, &peer);
	if (ret)
		return FAIL("tcp pair: %s\n", strerror(-ret)), 1;
	init_req(&req);
	expect("first ATTEST", attest(app, 0, &req, sizeof(req)), 0);
	expect("second ATTEST on an attested socket", attest(app, 0, &req, sizeof(req)), EISCONN);
	check_data(app, peer, 1);
	close(app);
	close(peer);
	printf("attest_client again: %d failure(s)\n", atomic_load(&failures));
	return atomic_load(&failures) != 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "expect", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "alarm", required_argument, NULL, 'a' },
		{ "v6", no_argument, NULL, '6' },
		{ 0 }
	};
	const char *cmd;
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return fprintf(stderr, "usage: attest_client run|matrix|second|again [options]\n"), 2;
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "e:n:t:T:a:6", opts, NULL)) != -1) {
		switch (c) {
		case 'e': opt_expect = parse_err(optarg); break;
		case 'n': opt_count = atoi(optarg); break;
		case 't': opt_threads = atoi(optarg); break;
		case 'T': opt_timeout = atoi(optarg); break;
		case 'a': opt_alarm = atoi(optarg); break;
		case '6': opt_v6 = 1; break;
		default: return 2;
		}
	}
	if (opt_threads < 1 || opt_count < opt_threads)
		return fprintf(stderr, "attest_client: need count >= threads >= 1\n"), 2;
	if (!strcmp(cmd, "run"))
		return cmd_run();
	if (!strcmp(cmd, "matrix"))
		return cmd_matrix();
	if (!strcmp(cmd, "second"))
		return cmd_second();
	if (!strcmp(cmd, "again"))
		return cmd_again();
	return fprintf(stderr, "attest_client: unknown command %s\n", cmd), 2;
}
