// SPDX-License-Identifier: MIT
/*
 * kmod_attack: the attacks of tests/vm/test_kmod_attack.sh against katls.ko
 * (issue 10: clones of managed sockets, the daemon's identity, the events
 * group, unbounded requests).  One line of results per command on stdout;
 * exit 0 only if the command saw what a fixed module must show.
 *
 *   daemon [--ktls-hold] --ready FILE
 *       (root) register as the daemon and never complete a request.  Plain:
 *       never accept either (requests stay queued).  --ktls-hold: accept each
 *       request and install kTLS on its fd as katlsd does before it verifies,
 *       print "held id=N timeout=T".  Until SIGTERM.
 *   attest --timeout MS --expect ERR [--deadline MS]
 *       one attestation on a loopback pair: must end with ERR; on failure the
 *       status must be FAILED with that result.  "attest=ERR state=S ms=T".
 *       --deadline: SIGALRM ends a wait that lasts longer (EINTR).
 *   nl register|accept|done [ID] --expect ERR
 *       one netlink op (DONE: status 0, "attested") from this process.
 *   listen-after-fail N [v6]
 *       attestation with timeout_ms 1 fails, then connect(AF_UNSPEC) and
 *       listen(): must fail (EINVAL).  If it does not, N children are
 *       accepted as in listen-while-pending (and the exit status is 1).
 *   listen-while-pending N
 *       while the attestation is pending, connect(AF_UNSPEC), listen() and
 *       accept N children (each with 1000 unread bytes); then a signal ends
 *       the attestation (EINTR), and listen() again must fail (EINVAL).
 *       Both: close the listener, print "children N open", wait for "close"
 *       on stdin, close the children with RST, print "closed".
 *   hold --hold H --extra X --expect-extra ERR [--timeout MS] --release FILE
 *       H attestations pending (each on its own loopback pair), then X more
 *       that must fail at once with ERR, leaving their socket untouched
 *       (status NONE, still connected, bytes pass both ways).  Prints
 *       "pending=H extra=ERR,..." then waits for FILE, interrupts the H
 *       (EINTR) and prints "released".
 *   ev-listen FILE
 *       join the events group ("join=ERR" if refused), print "joined", wait
 *       for FILE, then count what arrived: "events=N".
 *   ev-watch N
 *       (root) join the events group, print "joined", then print each of N
 *       STATE_CHANGED events with a new generation (15 s each at most).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/katls.h>
#include <netlink/genl/genl.h>

#include "kernel/nl.h"
#include "ktls_pair.h"

static const struct { const char *name; int err; } errs[] = {
	{ "ok", 0 }, { "EACCES", EACCES }, { "ETIMEDOUT", ETIMEDOUT }, { "EINTR", EINTR },
	{ "ECONNREFUSED", ECONNREFUSED }, { "EINVAL", EINVAL }, { "EPERM", EPERM },
	{ "EBUSY", EBUSY }, { "ENOENT", ENOENT }, { "EAGAIN", EAGAIN }, { "ENOBUFS", ENOBUFS },
	{ "EALREADY", EALREADY }, { "EPROTO", EPROTO }, { "ENOTCONN", ENOTCONN },
	{ "EISCONN", EISCONN }, { "EOPNOTSUPP", EOPNOTSUPP },
};

static const char *ename(int e)
{
	static __thread char buf[24];

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].err == e)
			return errs[i].name;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

static int eparse(const char *s)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (!strcmp(errs[i].name, s))
			return errs[i].err;
	fprintf(stderr, "kmod_attack: unknown errno name %s\n", s);
	exit(2);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
}

/* SIGUSR1 interrupts a setsockopt() wait (no SA_RESTART). */
static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGUSR1, &sa, NULL);
}

static int opt_v6;

/* setsockopt(KATLS_SO_ATTEST) as a client verifying its peer: 0 or errno. */
static int attest(int fd, uint32_t timeout_ms)
{
	struct katls_attest_req r;

	memset(&r, 0, sizeof(r));
	r.version = KATLS_ATTEST_VERSION;
	r.role = KATLS_ROLE_CLIENT;
	r.mode = KATLS_MODE_VERIFY_PEER;
	r.timeout_ms = timeout_ms;
	strcpy(r.server_name, "server.test");
	return setsockopt(fd, opt_v6 ? SOL_IPV6 : SOL_IP, KATLS_SO_ATTEST, &r, sizeof(r)) < 0 ?
	       errno : 0;
}

static int status(int fd, struct katls_status *st)
{
	socklen_t len = sizeof(*st);

	return getsockopt(fd, opt_v6 ? SOL_IPV6 : SOL_IP, KATLS_SO_STATUS, st, &len) < 0 ?
	       errno : 0;
}

/* Waits up to @ms for @fd's status to be PENDING.  0 or ETIMEDOUT. */
static int wait_pending(int fd, int ms)
{
	struct katls_status st;
	int64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (!status(fd, &st) && st.state == KATLS_STATE_PENDING)
			return 0;
		usleep(5000);
	}
	return ETIMEDOUT;
}

/* ---- daemon ----------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_daemon(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ktls-hold", no_argument, NULL, 'k' }, { "ready", required_argument, NULL, 'r' },
		{ 0 }
	};
	struct sigaction sa = { .sa_handler = on_term };
	struct katls_nl *nl, *ev;
	struct katls_accepted *a = calloc(1, sizeof(*a));
	const char *ready = NULL;
	bool hold = false;
	int c, ret;
	FILE *f;

	while ((c = getopt_long(argc, argv, "kr:", opts, NULL)) != -1) {
		if (c == 'k')
			hold = true;
		else if (c == 'r')
			ready = optarg;
		else
			return 2;
	}
	if (!ready || !a)
		return 2;
	sigaction(SIGTERM, &sa, NULL);
	if ((ret = katls_nl_open(&nl)) || (ret = katls_nl_open(&ev)) ||
	    (ret = katls_nl_events_join(ev)) || (ret = katls_nl_daemon_register(nl))) {
		fprintf(stderr, "kmod_attack daemon: %s\n", strerror(-ret));
		return 1;
	}
	f = fopen(ready, "w");
	if (!f)
		return 1;
	fprintf(f, "%d\n", getpid());
	fclose(f);
	printf("registered%s\n", hold ? " (ktls-hold)" : "");
	fflush(stdout);
	while (!stop) {
		struct katls_event e;

		katls_nl_event_next(ev, &e, 200);
		while (hold && !stop && !(ret = katls_nl_request_accept(nl, 0, a))) {
			ret = install_ktls(a->fd, KEY_A, KEY_B);
			/* a->fd stays open: the request is held, never completed */
			printf("held id=%u timeout=%u ktls=%s\n", a->id, a->timeout_ms,
			       ename(-ret));
			fflush(stdout);
		}
	}
	katls_nl_close(ev);
	katls_nl_close(nl);
	free(a);
	return 0;
}

/* ---- one attestation ----------------------------------------------------------- */

static int cmd_attest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "expect", required_argument, NULL, 'e' },
		{ "deadline", required_argument, NULL, 'd' }, { 0 }
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct katls_status st = { 0 };
	uint32_t timeout_ms = 0, deadline_ms = 0;
	int app, peer, c, ret, want = 0;
	int64_t t0;

	while ((c = getopt_long(argc, argv, "t:e:d:", opts, NULL)) != -1) {
		if (c == 't')
			timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
		else if (c == 'e')
			want = eparse(optarg);
		else if (c == 'd')
			deadline_ms = (uint32_t)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	sigaction(SIGALRM, &sa, NULL);
	if (deadline_ms)
		alarm((deadline_ms + 999) / 1000);
	if ((ret = tcp_pair(0, &app, &peer)))
		return fprintf(stderr, "kmod_attack: pair: %s\n", strerror(-ret)), 1;
	t0 = now_ms();
	ret = attest(app, timeout_ms);
	status(app, &st);
	printf("attest=%s state=%u result=%d ms=%lld\n", ename(ret), st.state, st.result,
	       (long long)(now_ms() - t0));
	close(app);
	close(peer);
	if (ret != want)
		return 1;
	return !ret || (st.state == KATLS_STATE_FAILED && st.result == -ret) ? 0 : 1;
}

/* ---- one netlink op ----------------------------------------------------------- */

static int cmd_nl(int argc, char **argv)
{
	struct katls_accepted *a = calloc(1, sizeof(*a));
	struct katls_nl *nl;
	const char *op;
	uint32_t id = 0;
	int ret, want = 0, c;

	while ((c = getopt(argc, argv, "e:")) != -1) {
		if (c != 'e')
			return 2;
		want = eparse(optarg);
	}
	if (optind >= argc || !a)
		return 2;
	op = argv[optind];
	if (optind + 1 < argc)
		id = (uint32_t)strtoul(argv[optind + 1], NULL, 10);
	if ((ret = katls_nl_open(&nl)))
		return fprintf(stderr, "kmod_attack nl: %s\n", strerror(-ret)), 1;
	if (!strcmp(op, "register"))
		ret = katls_nl_daemon_register(nl);
	else if (!strcmp(op, "accept"))
		ret = katls_nl_request_accept(nl, id, a);
	else if (!strcmp(op, "done"))
		ret = katls_nl_request_done(nl, id, 0, 0, NULL, 0);
	else
		return 2;
	printf("%s%s%.0u -> %s (%s)\n", op, id ? " " : "", id, ename(-ret),
	       katls_nl_errmsg(nl));
	if (!ret && !strcmp(op, "accept"))
		close(a->fd);
	katls_nl_close(nl);
	free(a);
	return -ret == want ? 0 : 1;
}

/* ---- listen() on a managed socket ---------------------------------------------- */

struct child {
	int cli, srv;
};

static const char *ulp_name(int fd)
{
	static char name[32];
	socklen_t len = sizeof(name) - 1;

	memset(name, 0, sizeof(name));
	if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, name, &len) < 0)
		return ename(errno);
	return *name ? name : "none";
}

static int disconnect(int fd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	return connect(fd, &sa, sizeof(sa)) < 0 ? errno : 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Connects and accepts up to @n children of listener @lfd.  Returns how many. */
static int make_children(int lfd, struct child *ch, int n)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	char data[1000];
	int i;

	memset(data, 'c', sizeof(data));
	if (getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	if (a.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
	else
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < n; i++) {
		ch[i].cli = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ch[i].cli < 0 || connect(ch[i].cli, (struct sockaddr *)&a, len) < 0) {
			fprintf(stderr, "kmod_attack: child %d: connect: %s\n", i, strerror(errno));
			break;
		}
		ch[i].srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (ch[i].srv < 0) {
			fprintf(stderr, "kmod_attack: child %d: accept: %s\n", i, strerror(errno));
			close(ch[i].cli);
			break;
		}
		/* Unread data: the child's memory accounting has something to return. */
		if (send(ch[i].cli, data, sizeof(data), 0) != (ssize_t)sizeof(data))
			fprintf(stderr, "kmod_attack: child %d: send: %s\n", i, strerror(errno));
	}
	return i;
}

/* Keeps the children open until "close" on stdin, then resets them all. */
static void hold_children(struct child *ch, int n)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char line[64];

	printf("children %d open\n", n);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) && strncmp(line, "close", 5))
		;
	for (int i = 0; i < n; i++) {
		setsockopt(ch[i].srv, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		setsockopt(ch[i].cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(ch[i].srv);
		close(ch[i].cli);
	}
	printf("closed\n");
	fflush(stdout);
}

static int cmd_listen_after_fail(int n)
{
	struct child *ch = calloc(n + 1, sizeof(*ch));
	int app, peer, ret = -ENOMEM, err_a, err_d, err_l, got = 0;

	if (!ch || (ret = tcp_pair(opt_v6, &app, &peer)))
		return fprintf(stderr, "kmod_attack: pair: %s\n", strerror(-ret)), 1;
	err_a = attest(app, 1);
	err_d = disconnect(app);
	err_l = listen(app, n + 16) < 0 ? errno : 0;
	if (!err_l)
		got = make_children(app, ch, n);
	printf("attest=%s disconnect=%s listen=%s ulp=%s children=%d\n", ename(err_a),
	       ename(err_d), ename(err_l), ulp_name(app), got);
	close(app);
	close(peer);
	hold_children(ch, got);
	free(ch);
	return err_a == ETIMEDOUT && err_l == EINVAL && !got ? 0 : 1;
}

struct waiter {
	pthread_t t;
	int fd;
	uint32_t timeout_ms;
	int ret;
	volatile int done;
};

static void *attest_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = attest(w->fd, w->timeout_ms);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int cmd_listen_while_pending(int n)
{
	struct child *ch = calloc(n, sizeof(*ch));
	struct waiter w = { .timeout_ms = 60000 };
	struct katls_status st = { 0 };
	int app, peer, ret = -ENOMEM, err_d, err_l, err_r, got = 0;

	if (!ch || (ret = tcp_pair(0, &app, &peer)))
		return fprintf(stderr, "kmod_attack: pair: %s\n", strerror(-ret)), 1;
	w.fd = app;
	pthread_create(&w.t, NULL, attest_thread, &w);
	if (wait_pending(app, 10000))
		return fprintf(stderr, "kmod_attack: the attestation never became PENDING\n"), 1;
	err_d = disconnect(app);
	err_l = listen(app, n + 16) < 0 ? errno : 0;
	if (!err_l)
		got = make_children(app, ch, n);
	pthread_kill(w.t, SIGUSR1);
	pthread_join(w.t, NULL);
	status(app, &st);
	err_r = listen(app, 16) < 0 ? errno : 0;
	printf("attest=%s disconnect=%s listen=%s children=%d relisten=%s ulp=%s state=%u\n",
	       ename(w.ret), ename(err_d), ename(err_l), got, ename(err_r), ulp_name(app),
	       st.state);
	close(app);
	close(peer);
	hold_children(ch, got);
	free(ch);
	return w.ret == EINTR && !err_l && got == n && err_r == EINVAL &&
	       st.state == KATLS_STATE_FAILED ? 0 : 1;
}

/* ---- limits -------------------------------------------------------------------- */

/* A socket whose request was refused must be as it was: connected, no state. */
static bool untouched(int app, int peer)
{
	struct katls_status st;
	char b = 0;

	if (status(app, &st) || st.state != KATLS_STATE_NONE)
		return false;
	if (send(app, "x", 1, 0) != 1 || recv(peer, &b, 1, 0) != 1 || b != 'x')
		return false;
	return send(peer, "y", 1, 0) == 1 && recv(app, &b, 1, 0) == 1 && b == 'y';
}

static int wait_file(const char *path, int ms)
{
	int64_t end = now_ms() + ms;

	while (access(path, F_OK)) {
		if (now_ms() > end)
			return ETIMEDOUT;
		usleep(20000);
	}
	return 0;
}

static int cmd_hold(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hold", required_argument, NULL, 'H' }, { "extra", required_argument, NULL, 'X' },
		{ "expect-extra", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "release", required_argument, NULL, 'r' }, { 0 }
	};
	int nh = 0, nx = 0, want = 0, c, fails = 0, i;
	uint32_t timeout_ms = 30000;
	const char *release = NULL;
	struct waiter *w;
	int *peers;

	while ((c = getopt_long(argc, argv, "H:X:e:t:r:", opts, NULL)) != -1) {
		switch (c) {
		case 'H': nh = atoi(optarg); break;
		case 'X': nx = atoi(optarg); break;
		case 'e': want = eparse(optarg); break;
		case 't': timeout_ms = (uint32_t)atoi(optarg); break;
		case 'r': release = optarg; break;
		default: return 2;
		}
	}
	if (!release || nh < 0 || nx < 0 || nh + nx > 512)
		return 2;
	w = calloc(nh + nx, sizeof(*w));
	peers = calloc(nh + nx, sizeof(*peers));
	if (!w || !peers)
		return 1;
	for (i = 0; i < nh + nx; i++) {
		int ret = tcp_pair(0, &w[i].fd, &peers[i]);

		if (ret)
			return fprintf(stderr, "kmod_attack: pair: %s\n", strerror(-ret)), 1;
		w[i].timeout_ms = timeout_ms;
	}
	for (i = 0; i < nh; i++) {
		pthread_create(&w[i].t, NULL, attest_thread, &w[i]);
		if (wait_pending(w[i].fd, 10000)) {
			fprintf(stderr, "kmod_attack: held request %d: %s\n", i,
				w[i].done ? ename(w[i].ret) : "never PENDING");
			fails++;
		}
	}
	printf("pending=%d extra=", nh);
	for (i = nh; i < nh + nx; i++) {
		int64_t end = now_ms() + 3000;

		pthread_create(&w[i].t, NULL, attest_thread, &w[i]);
		while (!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE) && now_ms() < end)
			usleep(2000);
		if (!w[i].done) {
			printf("%sQUEUED", i > nh ? "," : "");
			fails++;
			continue;
		}
		printf("%s%s", i > nh ? "," : "", ename(w[i].ret));
		if (w[i].ret != want) {
			fails++;
		} else if (!untouched(w[i].fd, peers[i])) {
			printf("(socket changed)");
			fails++;
		}
	}
	printf("\n");
	fflush(stdout);
	if (wait_file(release, 120000))
		fails++;
	for (i = 0; i < nh + nx; i++)
		if (!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE))
			pthread_kill(w[i].t, SIGUSR1);
	for (i = 0; i < nh + nx; i++) {
		pthread_join(w[i].t, NULL);
		if (i < nh && w[i].ret != EINTR) {
			fprintf(stderr, "kmod_attack: held request %d ended with %s\n", i,
				ename(w[i].ret));
			fails++;
		}
		close(w[i].fd);
		close(peers[i]);
	}
	printf("released, %d failure(s)\n", fails);
	free(w);
	free(peers);
	return fails ? 1 : 0;
}

/* ---- events -------------------------------------------------------------------- */

static int cmd_ev_listen(const char *file)
{
	struct katls_nl *ev;
	int ret, n = 0;

	if ((ret = katls_nl_open(&ev)))
		return fprintf(stderr, "kmod_attack ev-listen: %s\n", strerror(-ret)), 1;
	ret = katls_nl_events_join(ev);
	if (ret) {
		printf("join=%s events=0\n", ename(-ret));
		return 0;
	}
	printf("joined\n");
	fflush(stdout);
	if (wait_file(file, 120000))
		return fprintf(stderr, "kmod_attack ev-listen: no %s\n", file), 1;
	for (;;) {
		struct katls_event e;

		ret = katls_nl_event_next(ev, &e, 0);
		if (ret == -ETIMEDOUT)
			break;
		n++;
		if (!ret)
			printf("event cmd=%u gen=%llu ima_count=%llu\n", e.cmd,
			       (unsigned long long)e.generation, (unsigned long long)e.ima_count);
		if (n > 1000)
			break;
	}
	printf("events=%d\n", n);
	katls_nl_close(ev);
	return 0;
}

static int cmd_ev_watch(int n)
{
	struct katls_nl *ev;
	uint64_t last = 0;
	int ret, got = 0;

	if ((ret = katls_nl_open(&ev)) || (ret = katls_nl_events_join(ev)))
		return fprintf(stderr, "kmod_attack ev-watch: %s\n", strerror(-ret)), 1;
	printf("joined\n");
	fflush(stdout);
	while (got < n) {
		int64_t end = now_ms() + 15000;
		struct katls_event e;

		do {
			ret = katls_nl_event_next(ev, &e, 500);
		} while ((ret || e.cmd != KATLS_CMD_STATE_CHANGED || e.generation <= last) &&
			 now_ms() < end);
		if (ret || e.cmd != KATLS_CMD_STATE_CHANGED || e.generation <= last)
			return fprintf(stderr, "kmod_attack ev-watch: no STATE_CHANGED\n"), 1;
		last = e.generation;
		printf("state_changed %d gen=%llu ima_count=%llu\n", ++got,
		       (unsigned long long)e.generation, (unsigned long long)e.ima_count);
		fflush(stdout);
	}
	katls_nl_close(ev);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	setup_signals();
	raise_nofile();
	if (!strcmp(cmd, "daemon"))
		return cmd_daemon(argc - 1, argv + 1);
	if (!strcmp(cmd, "attest"))
		return cmd_attest(argc - 1, argv + 1);
	if (!strcmp(cmd, "nl"))
		return cmd_nl(argc - 1, argv + 1);
	if (!strcmp(cmd, "listen-after-fail") && (argc == 3 || argc == 4)) {
		opt_v6 = argc == 4 && !strcmp(argv[3], "v6");
		return cmd_listen_after_fail(atoi(argv[2]));
	}
	if (!strcmp(cmd, "listen-while-pending") && argc == 3)
		return cmd_listen_while_pending(atoi(argv[2]));
	if (!strcmp(cmd, "hold"))
		return cmd_hold(argc - 1, argv + 1);
	if (!strcmp(cmd, "ev-listen") && argc == 3)
		return cmd_ev_listen(argv[2]);
	if (!strcmp(cmd, "ev-watch") && argc == 3)
		return cmd_ev_watch(atoi(argv[2]));
	fprintf(stderr, "usage: see the top of tests/vm/kmod_attack.c\n");
	return 2;
}
