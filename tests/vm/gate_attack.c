// SPDX-License-Identifier: MIT
/*
 * gate_attack - try to move bytes past the BPF gate the way an unprivileged
 * program would (../shared/docs/ATTACKS.md, issue 11).  Each scenario sets up
 * a peer that is not gated (it runs as root, on the side no rule covers),
 * then runs the attacker as --uid (default 65534, nobody) and reports what
 * the attacker's calls returned and how many bytes the peer actually
 * received.  The verdict is on the bytes, not only on an errno.
 *
 *   gate_attack [--uid U] [--tries N] SCENARIO ADDR PORT [PORT2]
 *
 * Scenarios (the test script adds the rules first):
 *   mptcp-out     the attacker connects with IPPROTO_MPTCP to ADDR:PORT (an
 *                 out rule) and sends; the peer is an MPTCP listener
 *   mptcp-in      the attacker listens with IPPROTO_MPTCP on ADDR:PORT (an in
 *                 rule) and reads what a plain TCP client sends, then replies
 *   self-connect  the attacker binds ADDR:PORT and connects to it: the
 *                 connection completes through SYN_RECV (simultaneous open)
 *   md5-fill      the attacker fills its socket's option memory with
 *                 TCP_MD5SIG keys before connect(), so the gate's socket
 *                 storage cannot be allocated, then sends to ADDR:PORT
 *   filter-fill   (as root: SO_ATTACH_FILTER) the listener on ADDR:PORT carries
 *                 a socket filter big enough that accepted children cannot get
 *                 storage; the attacker reads from and writes to the accepted side
 *   unspec        the attacker connects to the unspecified address (0.0.0.0 or
 *                 :: for an IPv6 ADDR) on PORT, which the kernel routes to
 *                 loopback; the listener's accept queue is full, so the socket
 *                 stays in SYN_SENT while a blocking send() waits; then the
 *                 queue is drained
 *   reconnect     (root sets ATTESTED on a connection to ADDR:PORT, as katlsd
 *                 would) the attacker disconnects with connect(AF_UNSPEC) and
 *                 connects to ADDR:PORT2 (another ruled destination), sends
 *   race-reconnect  a writer thread keeps sending on a connection to the
 *                 unruled ADDR:PORT while the main thread disconnects the
 *                 socket (connect(AF_UNSPEC)) and reconnects it to the ruled
 *                 ADDR:PORT2: a send() that passed the gate's check before the
 *                 reconnect must not reach the ruled peer; --tries times
 *
 * Prints one line per observation; exits 0 if the gate held (no byte reached
 * the peer, and the calls that must be refused were), 1 if it did not, 2 on a
 * setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel/gate.h"
#include "sockaddr.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static const char secret[] = "attacker-bytes";
static uid_t attacker_uid = 65534;
static int tries = 20;
static int failures;

static void die(const char *what)
{
	fprintf(stderr, "gate_attack: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void report(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failures += !ok;
}

static const char *err_name(ssize_t rc, int err)
{
	static char buf[64];

	if (rc >= 0) {
		snprintf(buf, sizeof(buf), "%zd bytes", rc);
		return buf;
	}
	switch (err) {
	case EACCES: return "EACCES";
	case EKEYEXPIRED: return "EKEYEXPIRED";
	case EAGAIN: return "EAGAIN";
	default:
		snprintf(buf, sizeof(buf), "%s", strerror(err));
		return buf;
	}
}

static int listener(const char *addr, uint16_t port, int proto, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	int l = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, proto), one = 1;

	if (l < 0)
		die("listener socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&ss, len) || listen(l, backlog))
		die("listener bind/listen");
	return l;
}

static void drop_privileges(void)
{
	if (setgroups(0, NULL) || setresgid(attacker_uid, attacker_uid, attacker_uid) ||
	    setresuid(attacker_uid, attacker_uid, attacker_uid))
		die("dropping privileges");
}

/* Everything that arrives on @fd within @ms of silence; the peer's count. */
static size_t drain(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while (poll(&p, 1, ms) == 1) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	return total;
}

/* Accept one connection on @l within @ms, or -1. */
static int accept_within(int l, int ms)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

/* Bytes that reach any connection accepted on @l until @child exits (+1 s). */
static size_t peer_count(int l, pid_t child)
{
	size_t total = 0;
	int status, c;
	bool exited = false;

	fcntl(l, F_SETFL, O_NONBLOCK);
	while (!exited) {
		exited = waitpid(child, &status, WNOHANG) == child;
		c = accept_within(l, exited ? 1000 : 100);
		if (c >= 0) {
			total += drain(c, exited ? 1000 : 300);
			close(c);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 2) {
		fprintf(stderr, "gate_attack: the attacker failed to set up\n");
		exit(2);
	}
	failures += WEXITSTATUS(status) != 0;
	return total;
}

static void timeouts(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* The attacker's send on @fd must be refused with EACCES. */
static void must_refuse_send(int fd, const char *what)
{
	ssize_t rc = send(fd, secret, sizeof(secret), MSG_NOSIGNAL);

	report(rc < 0 && errno == EACCES, "%s: send() -> %s (want EACCES)", what,
	       err_name(rc, errno));
}

static void must_refuse_recv(int fd, const char *what)
{
	char buf[64];
	ssize_t rc = recv(fd, buf, sizeof(buf), 0);

	report(rc < 0 && errno == EACCES, "%s: recv() -> %s (want EACCES)", what,
	       err_name(rc, errno));
}

/* ---- scenarios ---------------------------------------------------------------- */

static void mptcp_out(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	int l = listener(addr, port, IPPROTO_MPTCP, 8);
	pid_t pid = fork();
	size_t got;

	if (pid == 0) {
		int c;

		drop_privileges();
		c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
		if (c < 0)
			_exit(2);
		timeouts(c, 2000);
		if (connect(c, (struct sockaddr *)&ss, len))
			_exit(2);
		must_refuse_send(c, "mptcp-out");
		must_refuse_recv(c, "mptcp-out");
		close(c);
		_exit(failures ? 1 : 0);
	}
	got = peer_count(l, pid);
	report(got == 0, "mptcp-out: the peer received %zu bytes (want 0)", got);
	close(l);
}

static void mptcp_in(const char *addr, uint16_t port, int client_proto)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	int ready[2], c;
	pid_t pid;
	char x;
	size_t got;

	if (pipe(ready))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		int l, s;

		close(ready[0]);
		drop_privileges();
		l = listener(addr, port, IPPROTO_MPTCP, 8);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		s = accept_within(l, 5000);
		if (s < 0)
			_exit(2);
		timeouts(s, 1000);
		usleep(200000);	/* the client's bytes are queued */
		must_refuse_recv(s, "mptcp-in (accepted)");
		must_refuse_send(s, "mptcp-in (accepted)");
		close(s);
		close(l);
		_exit(failures ? 1 : 0);
	}
	close(ready[1]);
	if (read(ready[0], &x, 1) != 1)
		die("the attacker did not listen");
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, client_proto);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		die("client connect");
	if (send(c, secret, sizeof(secret), MSG_NOSIGNAL) != sizeof(secret))
		die("client send");
	got = drain(c, 1500);
	int status;

	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 2) {
		fprintf(stderr, "gate_attack: the attacker failed to set up\n");
		exit(2);
	}
	failures += WEXITSTATUS(status) != 0;
	report(got == 0, "mptcp-in (%s client): the client received %zu bytes from the accepted "
	       "side (want 0)", client_proto ? "MPTCP" : "TCP", got);
	close(c);
	close(ready[0]);
}

static void self_connect(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int c, one = 1;
		char buf[64];
		ssize_t n;

		drop_privileges();
		c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			_exit(2);
		setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(c, (struct sockaddr *)&ss, len) || connect(c, (struct sockaddr *)&ss, len)) {
			perror("gate_attack: self-connect");
			_exit(2);
		}
		timeouts(c, 1000);
		must_refuse_send(c, "self-connect");
		/* whatever send() let through would now be readable */
		n = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
		report(n < 0 && errno == EACCES, "self-connect: recv() -> %s (want EACCES)",
		       err_name(n, errno));
		close(c);
		_exit(failures ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 2)
		exit(2);
	failures += WEXITSTATUS(status) != 0;
}

/* Fill @fd's option memory with TCP_MD5SIG keys until the kernel refuses one. */
static int md5_fill(int fd)
{
	struct tcp_md5sig md5;
	struct sockaddr_in *a = (struct sockaddr_in *)&md5.tcpm_addr;
	int n;

	for (n = 0; n < 100000; n++) {
		memset(&md5, 0, sizeof(md5));
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x0a000000U + (uint32_t)n);
		md5.tcpm_keylen = TCP_MD5SIG_MAXKEYLEN;
		memset(md5.tcpm_key, 'k', TCP_MD5SIG_MAXKEYLEN);
		if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)))
			break;
	}
	return n;
}

static void md5_scenario(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	int l = listener(addr, port, 0, 8);
	pid_t pid = fork();
	size_t got;

	if (pid == 0) {
		int c, n;

		drop_privileges();
		c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			_exit(2);
		n = md5_fill(c);
		printf("info md5-fill: %d TCP_MD5SIG keys until %s\n", n, strerror(errno));
		timeouts(c, 2000);
		if (connect(c, (struct sockaddr *)&ss, len))
			_exit(2);
		must_refuse_send(c, "md5-fill");
		must_refuse_recv(c, "md5-fill");
		close(c);
		_exit(failures ? 1 : 0);
	}
	got = peer_count(l, pid);
	report(got == 0, "md5-fill: the peer received %zu bytes (want 0)", got);
	close(l);
}

/*
 * Attach a classic BPF filter of @n instructions that accepts everything:
 * ALU instructions, each one eBPF instruction after conversion, so the size
 * the socket is charged grows 8 bytes at a time.
 */
static int big_filter(int fd, unsigned int n)
{
	struct sock_filter *f = calloc(n, sizeof(*f));
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };

	if (!f)
		die("calloc");
	for (unsigned int i = 0; i + 1 < n; i++)
		f[i] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1);
	f[n - 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffff);
	n = (unsigned int)setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	free(f);
	return (int)n;
}

static void filter_scenario(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	int l = listener(addr, port, 0, 8), c, s;
	unsigned int n = BPF_MAXINSNS;
	size_t got;
	char buf[64];
	ssize_t rc;

	/*
	 * The largest filter the listener's option memory takes: each child is
	 * charged the same when it is cloned, which leaves it no room for the
	 * gate's socket storage.
	 */
	while (n > 16 && big_filter(l, n))
		n -= 16;
	while (!big_filter(l, n + 1))	/* the last instruction that still fits */
		n++;
	printf("info filter-fill: a %u-instruction filter on the listener\n", n);
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		die("client connect");
	s = accept_within(l, 3000);
	if (s < 0)
		die("accept");
	if (send(c, secret, sizeof(secret), MSG_NOSIGNAL) != sizeof(secret))
		die("client send");
	usleep(200000);
	timeouts(s, 1000);
	rc = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	report(rc < 0 && errno == EACCES, "filter-fill (accepted side): recv() -> %s (want EACCES)",
	       err_name(rc, errno));
	must_refuse_send(s, "filter-fill (accepted side)");
	got = drain(c, 500);
	report(got == 0, "filter-fill: the client received %zu bytes (want 0)", got);
	close(s);
	close(c);
	close(l);
}

static void unspec(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss, any;
	socklen_t len = test_sockaddr(addr, port, &ss);
	bool v6 = ss.ss_family == AF_INET6;
	socklen_t alen = test_sockaddr(v6 ? "::" : "0.0.0.0", port, &any);
	/* backlog 0: one queued connection fills the accept queue, the next SYN waits */
	int l = listener(addr, port, 0, 0), filler;
	pid_t pid;
	size_t got;

	filler = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (filler < 0 || connect(filler, (struct sockaddr *)&ss, len))
		die("filler connect");
	usleep(100000);
	pid = fork();
	if (pid == 0) {
		int c, fl;
		ssize_t rc;

		drop_privileges();
		c = socket(any.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (c < 0)
			_exit(2);
		if (!connect(c, (struct sockaddr *)&any, alen) || errno != EINPROGRESS) {
			fprintf(stderr, "gate_attack: unspec: connect did not stay in progress\n");
			_exit(2);
		}
		fl = fcntl(c, F_GETFL);
		fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
		timeouts(c, 4000);
		/* blocks in SYN_SENT until the peer drains its queue */
		rc = send(c, secret, sizeof(secret), MSG_NOSIGNAL);
		report(rc < 0 && errno == EACCES,
		       "unspec: send() during SYN_SENT to %s:%u -> %s (want EACCES)",
		       v6 ? "[::]" : "0.0.0.0", port, err_name(rc, errno));
		close(c);
		_exit(failures ? 1 : 0);
	}
	/* Let the attacker block in send(), then make room in the accept queue. */
	usleep(500000);
	{
		int f = accept_within(l, 1000);

		if (f >= 0)
			close(f);
	}
	got = peer_count(l, pid);
	report(got == 0, "unspec: the peer received %zu bytes (want 0)", got);
	close(filler);
	close(l);
}

static void reconnect(const char *addr, uint16_t port, uint16_t port2)
{
	struct sockaddr_storage ss, ss2, un = { .ss_family = AF_UNSPEC };
	socklen_t len = test_sockaddr(addr, port, &ss), len2 = test_sockaddr(addr, port2, &ss2);
	int l = listener(addr, port, 0, 8), l2 = listener(addr, port2, 0, 8), c, s, ret;
	struct katls_gate *g;
	size_t got;
	pid_t pid;

	if (katls_gate_open_pinned(NULL, &g)) {
		fprintf(stderr, "gate_attack: %s\n", katls_gate_errmsg());
		exit(2);
	}
	c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		die("connect");
	s = accept_within(l, 3000);
	/* as katlsd does after a successful attestation */
	ret = katls_gate_set_state(g, c, KATLS_GATE_ATTESTED, KATLS_GATE_POLICY_KEEP, 0);
	if (s < 0 || ret) {
		fprintf(stderr, "gate_attack: set ATTESTED: %s\n", katls_gate_errmsg());
		exit(2);
	}
	katls_gate_free(g);
	pid = fork();
	if (pid == 0) {
		int r;

		drop_privileges();
		timeouts(c, 2000);
		r = connect(c, (struct sockaddr *)&un, sizeof(un));
		report(r < 0 && errno == EACCES, "reconnect: connect(AF_UNSPEC) on the attested "
		       "socket -> %s (want EACCES)", err_name(r, errno));
		r = connect(c, (struct sockaddr *)&ss2, len2);
		printf("info reconnect: connect to port %u -> %s\n", port2, err_name(r, errno));
		if (!r)
			must_refuse_send(c, "reconnect");
		_exit(failures ? 1 : 0);
	}
	got = peer_count(l2, pid);
	report(got == 0, "reconnect: the second peer received %zu bytes (want 0)", got);
	close(s);
	close(c);
	close(l);
	close(l2);
}

struct writer {
	int fd;
	volatile bool stop;
	long sent;		/* bytes send() accepted */
};

/* Keeps writing: some send() is always between the gate's check and the socket lock. */
static void *busy_writer(void *arg)
{
	struct writer *w = arg;
	ssize_t n;

	while (!w->stop) {
		n = send(w->fd, secret, sizeof(secret), MSG_NOSIGNAL);
		if (n > 0)
			w->sent += n;
	}
	return NULL;
}

static void race_reconnect(const char *addr, uint16_t port, uint16_t port2)
{
	struct sockaddr_storage ss, ss2;
	socklen_t len = test_sockaddr(addr, port, &ss), len2 = test_sockaddr(addr, port2, &ss2);
	/* port: an unruled peer that accepts and drains; port2: the ruled peer */
	int l = listener(addr, port, 0, 256), l2 = listener(addr, port2, 0, 256);
	size_t got, drained = 0;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct sockaddr_storage un = { .ss_family = AF_UNSPEC };
		int disconnected = 0, reconnected = 0;

		close(l2);
		drop_privileges();
		for (int t = 0; t < tries; t++) {
			struct writer w = { 0 };
			pthread_t th;
			int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
				_exit(2);
			timeouts(c, 500);
			w.fd = c;
			pthread_create(&th, NULL, busy_writer, &w);
			usleep(2000);
			if (!connect(c, (struct sockaddr *)&un, sizeof(un))) {
				disconnected++;
				if (!connect(c, (struct sockaddr *)&ss2, len2))
					reconnected++;
			}
			usleep(2000);
			w.stop = true;
			pthread_join(th, NULL);
			close(c);
		}
		printf("info race-reconnect: %d tries: disconnected %d, reconnected to the ruled "
		       "peer %d\n", tries, disconnected, reconnected);
		_exit(0);
	}
	/* the unruled peer: accept and drain in a child so it never blocks the writer */
	if (fork() == 0) {
		int c;

		fcntl(l, F_SETFL, O_NONBLOCK);
		while ((c = accept_within(l, 3000)) >= 0) {
			drained += drain(c, 50);
			close(c);
		}
		_exit(0);
	}
	close(l);
	got = peer_count(l2, pid);
	wait(NULL);
	report(got == 0, "race-reconnect: the ruled peer received %zu bytes (want 0)", got);
	close(l2);
}

int main(int argc, char **argv)
{
	const char *scenario, *addr;
	uint16_t port, port2 = 0;
	int i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--uid"))
			attacker_uid = (uid_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--tries"))
			tries = atoi(argv[i + 1]);
		else
			break;
	}
	if (argc - i < 3) {
		fprintf(stderr, "usage: gate_attack [--uid U] [--tries N] SCENARIO ADDR PORT [PORT2]\n");
		return 2;
	}
	scenario = argv[i];
	addr = argv[i + 1];
	port = (uint16_t)atoi(argv[i + 2]);
	if (argc - i > 3)
		port2 = (uint16_t)atoi(argv[i + 3]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(scenario, "mptcp-out"))
		mptcp_out(addr, port);
	else if (!strcmp(scenario, "mptcp-in"))
		mptcp_in(addr, port, IPPROTO_MPTCP), mptcp_in(addr, port, 0);
	else if (!strcmp(scenario, "self-connect"))
		self_connect(addr, port);
	else if (!strcmp(scenario, "md5-fill"))
		md5_scenario(addr, port);
	else if (!strcmp(scenario, "filter-fill"))
		filter_scenario(addr, port);
	else if (!strcmp(scenario, "unspec"))
		unspec(addr, port);
	else if (!strcmp(scenario, "reconnect") && port2)
		reconnect(addr, port, port2);
	else if (!strcmp(scenario, "race-reconnect") && port2)
		race_reconnect(addr, port, port2);
	else {
		fprintf(stderr, "gate_attack: unknown scenario '%s' (or PORT2 missing)\n", scenario);
		return 2;
	}
	printf("gate_attack %s: %d failure(s)\n", scenario, failures);
	return failures ? 1 : 0;
}
