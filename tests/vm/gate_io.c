// SPDX-License-Identifier: MIT
/*
 * gate_io - drive the BPF gate through every way an application moves data.
 *
 *   gate_io [--addr A] [--listen L] [--port P] [--side client|server] [--pair no]
 *           [--gate later] [--fds C,S] STEP...
 *
 * Opens a loopback TCP pair (listener on A:P, default 127.0.0.1 and a free
 * port; A may be ::1 or ::ffff:127.0.0.1; --listen L binds the listener to L
 * instead, e.g. :: for a dual-stack listener), picks the subject socket (the
 * client by default: outgoing rules apply to it; the server side is the
 * accepted socket: incoming rules apply), and runs the steps in order
 * (--pair no: no pair, for the steps that open their own sockets):
 *
 *   io=EXPECT        every I/O path on the subject; each must give EXPECT:
 *                    ok, EACCES or EKEYEXPIRED.  Send paths: write, writev,
 *                    send, sendto, sendmsg, sendmmsg, sendfile, splice-in.
 *                    Receive paths (the peer sends first): read, readv, recv,
 *                    recvfrom, recvmsg, recvmmsg, splice-out, zerocopy
 *                    (getsockopt TCP_ZEROCOPY_RECEIVE copying into copybuf).
 *                    The same through io_uring (SEND, WRITE, SENDMSG, SEND_ZC,
 *                    SPLICE in; RECV, READ, RECVMSG, SPLICE out; SEND and RECV
 *                    also with IOSQE_ASYNC, run by an io-wq worker thread) and
 *                    Linux AIO (IOCB_CMD_PWRITE, IOCB_CMD_PREAD).
 *   io-thread=EXPECT the same from a second thread of this process
 *   io-child=EXPECT  the same from a forked child
 *   send=EXPECT      one send() only (cheap, for counting denials)
 *   state=S[:MS]     set the subject's gate state (none, required, pending,
 *                    attested, failed, expired); MS: expiry in ms from now
 *   peer-state=S     the same for the peer socket
 *   expect-state=S   the subject's state must be S (or "absent": no storage)
 *   expect-peer=S    the peer's state must be S
 *   expect-policy=N  the subject's policy id must be N
 *   exempt, unexempt register / drop this process as the katls daemon
 *   expect-exempt=yes|no
 *   exec             re-exec this program (same process) with the remaining
 *                    steps, keeping the pair: execve() must drop the exemption
 *   raw-state=N      write state value N (even an invalid one) bypassing the library
 *   fill-rules=N     add N distinct out rules (10.x.y.z/32 port 1), N = "full"
 *                    to fill the table up to one free slot
 *   fill-policies    assign policy names until the name table is full
 *   syn-sent=EXPECT  a second client to A:P stuck in SYN_SENT (the listener's
 *                    accept queue is full): its state, then a blocking send()
 *                    and recv() issued before the connection exists (3 s
 *                    timeout; a send the gate lets through shows as EAGAIN)
 *   tfo=EXPECT       sendto(MSG_FASTOPEN) on a fresh socket to A:P: data that
 *                    would ride in the SYN
 *   refused-then=P2  connect a fresh socket to A:P with nothing listening there
 *                    (refused; the connect-time mark must say required), then
 *                    to a listener on A:P2: established there, the mark must
 *                    clear (state none) and send() must flow
 *   open-gate        open the pinned gate now (with --gate later: the pair is
 *                    made before the gate is loaded, e.g. by a later run= step)
 *   sleep=MS
 *   run=CMD          run a shell command (e.g. a gate reload) mid-sequence; it
 *                    must exit 0
 *
 * Prints one line per step; exits 0 if every expectation held, 1 if one did
 * not, 2 on a usage or setup error.  Needs the gate loaded (katls gate load).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/aio_abi.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "kernel/gate.h"
#include "sockaddr.h"

#define CHUNK 16

static struct katls_gate *gate;
static int subj = -1, peer = -1;
static int failures;

/* ---- the I/O paths ----------------------------------------------------------- */

typedef ssize_t (*path_fn)(int fd);

static char data[CHUNK] = "katls-gate-test";

static ssize_t p_write(int fd) { return write(fd, data, CHUNK); }
static ssize_t p_send(int fd) { return send(fd, data, CHUNK, MSG_DONTWAIT); }
static ssize_t p_sendto(int fd) { return sendto(fd, data, CHUNK, MSG_DONTWAIT, NULL, 0); }

static ssize_t p_writev(int fd)
{
	struct iovec iov[2] = { { data, CHUNK / 2 }, { data + CHUNK / 2, CHUNK / 2 } };

	return writev(fd, iov, 2);
}

static ssize_t p_sendmsg(int fd)
{
	struct iovec iov = { data, CHUNK };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	return sendmsg(fd, &m, MSG_DONTWAIT);
}

static ssize_t p_sendmmsg(int fd)
{
	struct iovec iov[2] = { { data, CHUNK }, { data, CHUNK } };
	struct mmsghdr m[2] = {
		{ .msg_hdr = { .msg_iov = &iov[0], .msg_iovlen = 1 } },
		{ .msg_hdr = { .msg_iov = &iov[1], .msg_iovlen = 1 } },
	};

	return sendmmsg(fd, m, 2, MSG_DONTWAIT);
}

static ssize_t p_sendfile(int fd)
{
	int mfd = memfd_create("gate_io", MFD_CLOEXEC);
	off_t off = 0;
	ssize_t rc;
	int err;

	if (mfd < 0 || write(mfd, data, CHUNK) != CHUNK) {
		perror("gate_io: memfd");
		exit(2);
	}
	rc = sendfile(fd, mfd, &off, CHUNK);
	err = errno;
	close(mfd);
	errno = err;
	return rc;
}

static ssize_t p_splice_in(int fd)
{
	int p[2];
	ssize_t rc;
	int err;

	if (pipe2(p, O_CLOEXEC) || write(p[1], data, CHUNK) != CHUNK) {
		perror("gate_io: pipe");
		exit(2);
	}
	rc = splice(p[0], NULL, fd, NULL, CHUNK, SPLICE_F_NONBLOCK);
	err = errno;
	close(p[0]);
	close(p[1]);
	errno = err;
	return rc;
}

static char rbuf[4096];

static ssize_t p_read(int fd) { return read(fd, rbuf, CHUNK); }
static ssize_t p_recv(int fd) { return recv(fd, rbuf, CHUNK, MSG_DONTWAIT); }
static ssize_t p_recvfrom(int fd) { return recvfrom(fd, rbuf, CHUNK, MSG_DONTWAIT, NULL, NULL); }

static ssize_t p_readv(int fd)
{
	struct iovec iov[2] = { { rbuf, CHUNK / 2 }, { rbuf + CHUNK / 2, CHUNK / 2 } };

	return readv(fd, iov, 2);
}

static ssize_t p_recvmsg(int fd)
{
	struct iovec iov = { rbuf, CHUNK };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	return recvmsg(fd, &m, MSG_DONTWAIT);
}

static ssize_t p_recvmmsg(int fd)
{
	struct iovec iov[2] = { { rbuf, CHUNK }, { rbuf + CHUNK, CHUNK } };
	struct mmsghdr m[2] = {
		{ .msg_hdr = { .msg_iov = &iov[0], .msg_iovlen = 1 } },
		{ .msg_hdr = { .msg_iov = &iov[1], .msg_iovlen = 1 } },
	};

	return recvmmsg(fd, m, 2, MSG_DONTWAIT, NULL);
}

static ssize_t p_splice_out(int fd)
{
	int p[2];
	ssize_t rc;
	int err;

	if (pipe2(p, O_CLOEXEC)) {
		perror("gate_io: pipe");
		exit(2);
	}
	rc = splice(fd, NULL, p[1], NULL, CHUNK, SPLICE_F_NONBLOCK);
	err = errno;
	close(p[0]);
	close(p[1]);
	errno = err;
	return rc;
}

/* TCP_ZEROCOPY_RECEIVE copies what is queued into copybuf when it fits: no recvmsg. */
static ssize_t p_zerocopy(int fd)
{
	struct tcp_zerocopy_receive zc;
	socklen_t len = sizeof(zc);

	memset(&zc, 0, sizeof(zc));
	zc.copybuf_address = (__u64)(uintptr_t)rbuf;
	zc.copybuf_len = sizeof(rbuf);
	if (getsockopt(fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc, &len))
		return -1;
	if (zc.err) {
		errno = -zc.err;
		return -1;
	}
	return zc.copybuf_len > 0 ? zc.copybuf_len : 0;
}

/*
 * io_uring: one request on a ring of its own (so that threads and forked
 * children each use theirs), its completion's result as a syscall's.
 */
enum uring_op { U_SEND, U_WRITE, U_SENDMSG, U_SEND_ZC, U_SPLICE_IN, U_RECV, U_READ,
		U_RECVMSG, U_SPLICE_OUT };

static ssize_t uring(int fd, enum uring_op op, bool async)
{
	struct iovec iov = { op >= U_RECV ? rbuf : data, CHUNK };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct __kernel_timespec ts = { .tv_sec = 5 };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int p[2] = { -1, -1 }, ret, res;
	bool more;

	if ((op == U_SPLICE_IN || op == U_SPLICE_OUT) &&
	    (pipe2(p, O_CLOEXEC) || (op == U_SPLICE_IN && write(p[1], data, CHUNK) != CHUNK))) {
		perror("gate_io: pipe");
		exit(2);
	}
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret) {
		fprintf(stderr, "gate_io: io_uring_queue_init: %s\n", strerror(-ret));
		exit(2);
	}
	sqe = io_uring_get_sqe(&ring);
	switch (op) {
	case U_SEND: io_uring_prep_send(sqe, fd, data, CHUNK, 0); break;
	case U_WRITE: io_uring_prep_write(sqe, fd, data, CHUNK, 0); break;
	case U_SENDMSG: io_uring_prep_sendmsg(sqe, fd, &m, 0); break;
	case U_SEND_ZC: io_uring_prep_send_zc(sqe, fd, data, CHUNK, 0, 0); break;
	case U_SPLICE_IN: io_uring_prep_splice(sqe, p[0], -1, fd, -1, CHUNK, 0); break;
	case U_RECV: io_uring_prep_recv(sqe, fd, rbuf, CHUNK, 0); break;
	case U_READ: io_uring_prep_read(sqe, fd, rbuf, CHUNK, 0); break;
	case U_RECVMSG: io_uring_prep_recvmsg(sqe, fd, &m, 0); break;
	case U_SPLICE_OUT: io_uring_prep_splice(sqe, fd, -1, p[1], -1, CHUNK, 0); break;
	}
	if (async)
		sqe->flags |= IOSQE_ASYNC;
	ret = io_uring_submit(&ring);
	if (ret != 1) {
		fprintf(stderr, "gate_io: io_uring_submit: %s\n", strerror(-ret));
		exit(2);
	}
	/* a request the gate lets wait would hang here: 5 s, then ETIME */
	ret = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
	if (ret) {
		io_uring_queue_exit(&ring);
		errno = -ret;
		return -1;
	}
	res = cqe->res;
	more = cqe->flags & IORING_CQE_F_MORE;	/* SEND_ZC: its notification follows */
	io_uring_cqe_seen(&ring, cqe);
	if (more && !io_uring_wait_cqe_timeout(&ring, &cqe, &ts))
		io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	if (res < 0) {
		errno = -res;
		return -1;
	}
	return res;
}

static ssize_t p_u_send(int fd) { return uring(fd, U_SEND, false); }
static ssize_t p_u_send_async(int fd) { return uring(fd, U_SEND, true); }
static ssize_t p_u_write(int fd) { return uring(fd, U_WRITE, false); }
static ssize_t p_u_sendmsg(int fd) { return uring(fd, U_SENDMSG, false); }
static ssize_t p_u_send_zc(int fd) { return uring(fd, U_SEND_ZC, false); }
static ssize_t p_u_splice_in(int fd) { return uring(fd, U_SPLICE_IN, false); }
static ssize_t p_u_recv(int fd) { return uring(fd, U_RECV, false); }
static ssize_t p_u_recv_async(int fd) { return uring(fd, U_RECV, true); }
static ssize_t p_u_read(int fd) { return uring(fd, U_READ, false); }
static ssize_t p_u_recvmsg(int fd) { return uring(fd, U_RECVMSG, false); }
static ssize_t p_u_splice_out(int fd) { return uring(fd, U_SPLICE_OUT, false); }

/* Linux AIO (io_submit) on the socket: the kernel runs it as read/write_iter. */
static ssize_t aio(int fd, bool write)
{
	struct timespec ts = { .tv_sec = 5 };
	aio_context_t ctx = 0;
	struct iocb cb = {
		.aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
		.aio_fildes = (uint32_t)fd,
		.aio_buf = (uint64_t)(uintptr_t)(write ? data : rbuf),
		.aio_nbytes = CHUNK,
	};
	struct iocb *cbs[1] = { &cb };
	struct io_event ev;
	long n;

	if (syscall(SYS_io_setup, 1, &ctx)) {
		perror("gate_io: io_setup");
		exit(2);
	}
	n = syscall(SYS_io_submit, ctx, 1, cbs);
	if (n == 1)
		n = syscall(SYS_io_getevents, ctx, 1, 1, &ev, &ts);
	syscall(SYS_io_destroy, ctx);
	if (n < 0)
		return -1;		/* errno from io_submit */
	if (n == 0) {
		errno = ETIME;
		return -1;
	}
	if (ev.res < 0) {
		errno = (int)-ev.res;
		return -1;
	}
	return ev.res;
}

static ssize_t p_aio_write(int fd) { return aio(fd, true); }
static ssize_t p_aio_read(int fd) { return aio(fd, false); }

static const struct path {
	const char *name;
	path_fn fn;
	bool recv;
} paths[] = {
	{ "write", p_write, false },
	{ "writev", p_writev, false },
	{ "send", p_send, false },
	{ "sendto", p_sendto, false },
	{ "sendmsg", p_sendmsg, false },
	{ "sendmmsg", p_sendmmsg, false },
	{ "sendfile", p_sendfile, false },
	{ "splice-in", p_splice_in, false },
	{ "read", p_read, true },
	{ "readv", p_readv, true },
	{ "recv", p_recv, true },
	{ "recvfrom", p_recvfrom, true },
	{ "recvmsg", p_recvmsg, true },
	{ "recvmmsg", p_recvmmsg, true },
	{ "splice-out", p_splice_out, true },
	{ "zerocopy", p_zerocopy, true },
	{ "uring-send", p_u_send, false },
	{ "uring-send-async", p_u_send_async, false },
	{ "uring-write", p_u_write, false },
	{ "uring-sendmsg", p_u_sendmsg, false },
	{ "uring-send-zc", p_u_send_zc, false },
	{ "uring-splice-in", p_u_splice_in, false },
	{ "aio-write", p_aio_write, false },
	{ "uring-recv", p_u_recv, true },
	{ "uring-recv-async", p_u_recv_async, true },
	{ "uring-read", p_u_read, true },
	{ "uring-recvmsg", p_u_recvmsg, true },
	{ "uring-splice-out", p_u_splice_out, true },
	{ "aio-read", p_aio_read, true },
};
#define NUM_PATHS (sizeof(paths) / sizeof(paths[0]))

/* The peer feeds the subject one chunk and waits until the subject sees it. */
static void feed(void)
{
	struct pollfd pfd = { .fd = subj, .events = POLLIN };

	if (send(peer, data, CHUNK, 0) != CHUNK) {
		fprintf(stderr, "gate_io: the peer cannot send (%s): is the peer gated?\n",
			strerror(errno));
		exit(2);
	}
	if (poll(&pfd, 1, 5000) != 1) {
		fprintf(stderr, "gate_io: no data reached the subject\n");
		exit(2);
	}
}

static void drain_peer(void)
{
	while (recv(peer, rbuf, sizeof(rbuf), MSG_DONTWAIT) > 0)
		;
}

static const char *outcome(ssize_t rc, int err, char *buf, size_t len)
{
	if (rc > 0)
		return "ok";
	if (rc == 0)
		return "eof-or-empty";
	if (err == EACCES)
		return "EACCES";
	if (err == EKEYEXPIRED)
		return "EKEYEXPIRED";
	snprintf(buf, len, "%s", strerror(err));
	return buf;
}

/* Run the paths; returns the number of mismatches, and prints one line. */
static int run_paths(const char *who, const char *expect, bool send_only)
{
	char line[2048], tmp[64];
	size_t off = 0;
	int bad = 0;

	for (size_t i = 0; i < (send_only ? 1 : NUM_PATHS); i++) {
		const struct path *p = send_only ? &paths[2] : &paths[i];
		const char *res;
		ssize_t rc;

		if (p->recv)
			feed();
		rc = p->fn(subj);
		res = outcome(rc, errno, tmp, sizeof(tmp));
		if (!p->recv)
			drain_peer();
		if (strcmp(res, expect))
			bad++;
		off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%s%s", p->name, res,
					strcmp(res, expect) ? "(!)" : "");
	}
	printf("%s %s expect %s:%s\n", bad ? "FAIL" : "ok  ", who, expect, line);
	fflush(stdout);
	return bad;
}

static void *thread_paths(void *arg)
{
	return (void *)(intptr_t)run_paths("io-thread", arg, false);
}

/* ---- state ------------------------------------------------------------------ */

static int state_by_name(const char *s)
{
	for (unsigned int i = 0; i < __KATLS_GATE_STATE_MAX; i++)
		if (!strcmp(s, katls_gate_state_name(i)))
			return (int)i;
	return -1;
}

static const char *state_of(int fd, struct katls_sk_state_v *v)
{
	int ret = katls_gate_get_state(gate, fd, v);

	if (ret == -ENOENT)
		return "absent";
	if (ret) {
		fprintf(stderr, "gate_io: reading the state: %s\n", strerror(-ret));
		exit(2);
	}
	return katls_gate_state_name(v->state);
}

static void set_state(int fd, const char *arg)
{
	char name[32];
	const char *colon = strchr(arg, ':');
	uint64_t expiry = 0;
	int st, ret;

	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - arg) : (int)strlen(arg), arg);
	st = state_by_name(name);
	if (st < 0) {
		fprintf(stderr, "gate_io: unknown state '%s'\n", name);
		exit(2);
	}
	if (colon)
		expiry = katls_gate_now_ns() + strtoull(colon + 1, NULL, 10) * 1000000ULL;
	ret = katls_gate_set_state(gate, fd, (enum katls_gate_state)st, KATLS_GATE_POLICY_KEEP,
				   expiry);
	if (ret) {
		fprintf(stderr, "gate_io: set state: %s\n", katls_gate_errmsg());
		exit(2);
	}
	printf("ok   %s state %s\n", fd == subj ? "subject" : "peer", arg);
}

static void expect_state(int fd, const char *want)
{
	struct katls_sk_state_v v;
	const char *got = state_of(fd, &v);
	bool ok = !strcmp(got, want);

	printf("%s %s state is %s (want %s)\n", ok ? "ok  " : "FAIL",
	       fd == subj ? "subject" : "peer", got, want);
	failures += !ok;
}

static void check(bool ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	failures += !ok;
}

/* A state value the library would refuse: the BPF side must fail closed on it. */
static void raw_state(int st)
{
	char path[512];
	struct katls_sk_state_v v = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/katls_sk_state", katls_gate_pin_dir(gate));
	fd = bpf_obj_get(path);
	katls_gate_get_state(gate, subj, &v);
	v.state = (uint8_t)st;
	if (fd < 0 || bpf_map_update_elem(fd, &subj, &v, BPF_ANY)) {
		perror("gate_io: raw state");
		exit(2);
	}
	close(fd);
	printf("ok   subject raw state %d\n", st);
}

static void fill_rules(const char *how)
{
	struct katls_gate_rule *r, *all;
	size_t have, n, batch = 4096, added = 0;
	int ret;

	if (katls_gate_rules_get(gate, &all, &have))
		exit(2);
	free(all);
	n = !strcmp(how, "full") ? KATLS_MAX_RULES - 1 - have : strtoul(how, NULL, 10);
	r = calloc(batch, sizeof(*r));
	if (!r)
		exit(2);
	while (added < n) {
		size_t k = n - added < batch ? n - added : batch;

		for (size_t i = 0; i < k; i++) {
			uint32_t a = htonl(0x0a000000U + (uint32_t)(added + i));

			memset(&r[i], 0, sizeof(r[i]));
			r[i].dir = KATLS_DIR_OUT;
			r[i].family = KATLS_FAM_V4;
			r[i].prefix_len = 32;
			r[i].action = KATLS_ACT_REQUIRE;
			r[i].port = 1;
			memcpy(r[i].addr, &a, 4);
		}
		ret = katls_gate_rules_add(gate, r, k, false);
		if (ret) {
			fprintf(stderr, "gate_io: fill-rules after %zu: %s\n", added,
				katls_gate_errmsg());
			exit(2);
		}
		added += k;
	}
	free(r);
	printf("ok   added %zu rules (%zu before)\n", added, have);
}

static void fill_policies(void)
{
	unsigned int n = 0;
	uint16_t id;
	char name[32];

	for (;;) {
		snprintf(name, sizeof(name), "filler-%u", n);
		if (katls_gate_policy_id(gate, name, true, &id, NULL))
			break;
		n++;
	}
	printf("%s policy names full after %u new ones: %s\n", n ? "ok  " : "FAIL", n,
	       katls_gate_errmsg());
	failures += !n;
}

/* ---- before establishment ----------------------------------------------------- */

static const char *g_addr = "127.0.0.1";
static uint16_t g_port;

static int listener(const char *addr, uint16_t port, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(addr, port, &ss);
	int l = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;

	if (l < 0)
		return -1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(l, (struct sockaddr *)&ss, len) || listen(l, backlog)) {
		close(l);
		return -1;
	}
	return l;
}

static void report(const char *what, const char *got, const char *want)
{
	bool ok = !strcmp(got, want);

	printf("%s %s: %s (want %s)\n", ok ? "ok  " : "FAIL", what, got, want);
	failures += !ok;
}

static void syn_sent(const char *expect)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(g_addr, g_port, &ss);
	struct timeval tv = { 3, 0 };
	struct katls_sk_state_v v;
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);
	char tmp[64];
	int l, c1, c2, fl;
	ssize_t rc;

	/* Backlog 0 holds one unaccepted connection; the next SYN is dropped. */
	l = listener(g_addr, g_port, 0);
	c1 = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c2 = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l < 0 || c1 < 0 || c2 < 0 || connect(c1, (struct sockaddr *)&ss, len)) {
		perror("gate_io: syn-sent setup");
		exit(2);
	}
	usleep(100000);
	if (!connect(c2, (struct sockaddr *)&ss, len) || errno != EINPROGRESS) {
		fprintf(stderr, "gate_io: syn-sent: the second connect did not stay in progress\n");
		exit(2);
	}
	getsockopt(c2, IPPROTO_TCP, TCP_INFO, &ti, &tlen);
	report("syn-sent: TCP state", ti.tcpi_state == 2 ? "SYN_SENT" : "not SYN_SENT", "SYN_SENT");
	report("syn-sent: gate state at connect()", state_of(c2, &v), "required");
	fl = fcntl(c2, F_GETFL);
	fcntl(c2, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(c2, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = send(c2, data, CHUNK, 0);
	report("syn-sent: blocking send() before establishment", outcome(rc, errno, tmp, sizeof(tmp)),
	       expect);
	rc = recv(c2, rbuf, CHUNK, 0);
	report("syn-sent: blocking recv() before establishment", outcome(rc, errno, tmp, sizeof(tmp)),
	       expect);
	close(c2);
	close(c1);
	close(l);
}

static void tfo(const char *expect)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(g_addr, g_port, &ss);
	int l = listener(g_addr, g_port, 4);
	int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char tmp[64];
	ssize_t rc;

	if (l < 0 || c < 0) {
		perror("gate_io: tfo setup");
		exit(2);
	}
	rc = sendto(c, data, CHUNK, MSG_FASTOPEN, (struct sockaddr *)&ss, len);
	report("tfo: sendto(MSG_FASTOPEN)", outcome(rc, errno, tmp, sizeof(tmp)), expect);
	close(c);
	close(l);
}

static void refused_then(uint16_t port2)
{
	struct sockaddr_storage ss;
	socklen_t len = test_sockaddr(g_addr, g_port, &ss);
	struct katls_sk_state_v v;
	int l, c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char tmp[64];
	ssize_t rc;

	if (c < 0 || !connect(c, (struct sockaddr *)&ss, len) || errno != ECONNREFUSED) {
		fprintf(stderr, "gate_io: refused-then: connect to port %u was not refused\n", g_port);
		exit(2);
	}
	report("refused connect: gate state", state_of(c, &v), "required");
	l = listener(g_addr, port2, 4);
	len = test_sockaddr(g_addr, port2, &ss);
	if (l < 0 || connect(c, (struct sockaddr *)&ss, len)) {
		perror("gate_io: refused-then: second connect");
		exit(2);
	}
	report("connected elsewhere: gate state", state_of(c, &v), "none");
	rc = send(c, data, CHUNK, MSG_DONTWAIT);
	report("connected elsewhere: send()", outcome(rc, errno, tmp, sizeof(tmp)), "ok");
	close(c);
	close(l);
}

/* ---- setup ------------------------------------------------------------------- */

static void make_pair(const char *addr, const char *listen_addr, uint16_t port, bool server_side)
{
	struct sockaddr_storage ss, ls;
	socklen_t len = test_sockaddr(addr, port, &ss), llen = test_sockaddr(listen_addr, port, &ls);
	int l, c, s, one = 1, zero = 0;

	l = socket(ls.ss_family, SOCK_STREAM, 0);
	if (l < 0)
		goto err;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls.ss_family == AF_INET6)
		setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(l, (struct sockaddr *)&ls, llen) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&ls, &llen))
		goto err;
	/* the port the listener got (port 0: a free one) */
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = ls.ss_family == AF_INET ?
			((struct sockaddr_in *)&ls)->sin_port : ((struct sockaddr_in6 *)&ls)->sin6_port;
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = ls.ss_family == AF_INET ?
			((struct sockaddr_in *)&ls)->sin_port : ((struct sockaddr_in6 *)&ls)->sin6_port;
	c = socket(ss.ss_family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len))
		goto err;
	s = accept(l, NULL, NULL);
	if (s < 0)
		goto err;
	close(l);
	subj = server_side ? s : c;
	peer = server_side ? c : s;
	/* Non-blocking: a read that is allowed but finds nothing must not hang. */
	fcntl(subj, F_SETFL, O_NONBLOCK);
	printf("ok   pair %s port %u, subject is the %s\n", addr,
	       ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
					       ((struct sockaddr_in6 *)&ss)->sin6_port),
	       server_side ? "server (accepted) socket" : "client socket");
	return;
err:
	perror("gate_io: loopback pair");
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: gate_io [--addr A] [--listen L] [--port P] [--side client|server] "
		"[--pair no] [--gate later] [--fds C,S] STEP...\n(see the top of tests/vm/gate_io.c)\n");
	exit(2);
}

static int do_exec(char **argv, int first_step, int argc)
{
	char fds[32], **nargv = calloc((size_t)(argc - first_step + 4), sizeof(char *));
	int n = 0;

	if (!nargv)
		exit(2);
	snprintf(fds, sizeof(fds), "%d,%d", subj, peer);
	nargv[n++] = argv[0];
	nargv[n++] = "--fds";
	nargv[n++] = fds;
	for (int i = first_step; i < argc; i++)
		nargv[n++] = argv[i];
	nargv[n] = NULL;
	fflush(stdout);
	execv("/proc/self/exe", nargv);
	perror("gate_io: exec");
	return 2;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *listen_addr = NULL;
	bool server_side = false, no_pair = false, gate_later = false;
	uint16_t port = 0;
	int i = 1, ret;

	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--addr"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "--port"))
			port = (uint16_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--side"))
			server_side = !strcmp(argv[i + 1], "server");
		else if (!strcmp(argv[i], "--fds"))
			sscanf(argv[i + 1], "%d,%d", &subj, &peer);
		else if (!strcmp(argv[i], "--pair"))
			no_pair = !strcmp(argv[i + 1], "no");
		else if (!strcmp(argv[i], "--listen"))
			listen_addr = argv[i + 1];
		else if (!strcmp(argv[i], "--gate"))
			gate_later = !strcmp(argv[i + 1], "later");
		else
			usage();
	}
	ret = gate_later ? 0 : katls_gate_open_pinned(NULL, &gate);
	if (ret) {
		fprintf(stderr, "gate_io: %s\n", katls_gate_errmsg());
		return 2;
	}
	g_addr = addr;
	g_port = port;
	if (subj < 0 && !no_pair)
		make_pair(addr, listen_addr ? listen_addr : addr, port, server_side);
	for (; i < argc; i++) {
		char *step = argv[i], *val = strchr(step, '=');

		if (val)
			*val++ = '\0';
		if (!strcmp(step, "io") && val) {
			failures += run_paths("io", val, false) != 0;
		} else if (!strcmp(step, "send") && val) {
			failures += run_paths("send", val, true) != 0;
		} else if (!strcmp(step, "io-thread") && val) {
			pthread_t t;
			void *r;

			if (pthread_create(&t, NULL, thread_paths, val) || pthread_join(t, &r))
				return 2;
			failures += r != NULL;
		} else if (!strcmp(step, "io-child") && val) {
			int status;
			pid_t pid = fork();

			if (pid == 0)
				_exit(run_paths("io-child", val, false) ? 1 : 0);
			if (pid < 0 || waitpid(pid, &status, 0) != pid)
				return 2;
			failures += !WIFEXITED(status) || WEXITSTATUS(status);
		} else if (!strcmp(step, "state") && val) {
			set_state(subj, val);
		} else if (!strcmp(step, "peer-state") && val) {
			set_state(peer, val);
		} else if (!strcmp(step, "expect-state") && val) {
			expect_state(subj, val);
		} else if (!strcmp(step, "expect-peer") && val) {
			expect_state(peer, val);
		} else if (!strcmp(step, "expect-policy") && val) {
			struct katls_sk_state_v v = { 0 };
			char what[64];

			state_of(subj, &v);
			snprintf(what, sizeof(what), "subject policy id %u (want %s)", v.policy_id, val);
			check(v.policy_id == atoi(val), what);
		} else if (!strcmp(step, "exempt") || !strcmp(step, "unexempt")) {
			ret = step[0] == 'e' ? katls_gate_exempt_task(gate, getpid()) :
					       katls_gate_unexempt_task(gate, getpid());
			if (ret) {
				fprintf(stderr, "gate_io: %s: %s\n", step, katls_gate_errmsg());
				return 2;
			}
			printf("ok   %s pid %d\n", step, (int)getpid());
		} else if (!strcmp(step, "expect-exempt") && val) {
			bool want = !strcmp(val, "yes");
			bool is = katls_gate_task_exempt(gate, getpid()) == 0;
			char what[64];

			snprintf(what, sizeof(what), "exempt is %s (want %s)", is ? "yes" : "no", val);
			check(is == want, what);
		} else if (!strcmp(step, "exec")) {
			if (failures)
				break;
			katls_gate_free(gate);
			return do_exec(argv, i + 1, argc);
		} else if (!strcmp(step, "run") && val) {
			char what[512];

			fflush(stdout);
			ret = system(val);
			snprintf(what, sizeof(what), "run '%s' (exit %d)", val,
				 WIFEXITED(ret) ? WEXITSTATUS(ret) : -1);
			check(ret == 0, what);
		} else if (!strcmp(step, "raw-state") && val) {
			raw_state(atoi(val));
		} else if (!strcmp(step, "fill-rules") && val) {
			fill_rules(val);
		} else if (!strcmp(step, "fill-policies")) {
			fill_policies();
		} else if (!strcmp(step, "syn-sent") && val) {
			syn_sent(val);
		} else if (!strcmp(step, "tfo") && val) {
			tfo(val);
		} else if (!strcmp(step, "refused-then") && val) {
			refused_then((uint16_t)atoi(val));
		} else if (!strcmp(step, "open-gate")) {
			katls_gate_free(gate);
			if (katls_gate_open_pinned(NULL, &gate)) {
				fprintf(stderr, "gate_io: %s\n", katls_gate_errmsg());
				return 2;
			}
			printf("ok   gate opened\n");
		} else if (!strcmp(step, "sleep") && val) {
			struct timespec ts = { atoi(val) / 1000, (atoi(val) % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		} else {
			fprintf(stderr, "gate_io: unknown step '%s'\n", step);
			return 2;
		}
	}
	katls_gate_free(gate);
	printf("gate_io: %d failure(s)\n", failures);
	return failures ? 1 : 0;
}
