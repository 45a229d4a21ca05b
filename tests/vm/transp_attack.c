// SPDX-License-Identifier: MIT
/*
 * transp_attack: an unprivileged program (run it as uid 65534) on a socket an
 * attest rule covers, trying every way to move a byte, or to read katlsd's
 * handshake bytes, while katls.ko holds the socket (ATTACKS.md):
 *
 *   transp_attack IPV4 PORT [uring|uring-async]
 *   -> peek=E recv=E splice=E sendfile=E zerocopy_send=E zc_receive=E ulp=E
 *      tls_opt=E listen=E disconnect=E fork_write=E | write=ok reply=TEXT
 *
 * Each E is the errno name (or "MOVED:n" if bytes moved).  Then it waits for
 * the verdict with a blocking write of "APP-DATA-<port>" and reads the reply:
 * the server must see exactly that as its first bytes.
 *
 * uring: the program's I/O goes through io_uring instead, submitted while
 * the verdict is pending: a RECV first (it must not complete with anything
 * of katlsd's handshake: it completes with the server's reply, after the
 * verdict), then the SEND of "APP-DATA-<port>"; neither may complete before
 * the verdict ("| uring_early=none").  uring-async: both with IOSQE_ASYNC
 * (an io-wq thread of the program, blocking).
 *   -> ... | uring_early=none uring_send=ok uring_reply=TEXT
 */
#include <arpa/inet.h>
#include <liburing.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

static const char *res(ssize_t r)
{
	static char buf[16][32];
	static int i;
	char *b = buf[i++ % 16];

	if (r >= 0)
		snprintf(b, 32, "MOVED:%zd", r);
	else
		snprintf(b, 32, "%s", strerrorname_np(errno) ?: "?");
	return b;
}

/* The program's I/O through io_uring, submitted before the verdict (see the top). */
static int uring_io(int fd, const char *msg, bool async)
{
	struct __kernel_timespec early = { .tv_nsec = 300 * 1000000 }, late = { .tv_sec = 60 };
	static char reply[256];
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int sent = 0, got = 0, ret;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret)
		return fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret)), 1;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, fd, reply, sizeof(reply) - 1, 0);
	sqe->user_data = 1;
	if (async)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_submit(&ring);
	ret = io_uring_wait_cqe_timeout(&ring, &cqe, &early);
	printf("| uring_early=%s ", ret == -ETIME ? "none" : ret ? "?" : res((errno = -cqe->res,
	       cqe->res < 0 ? -1 : cqe->res)));
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, fd, msg, strlen(msg), 0);
	sqe->user_data = 2;
	if (async)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_submit(&ring);
	while ((!sent || !got) && !io_uring_wait_cqe_timeout(&ring, &cqe, &late)) {
		int r = cqe->res;

		if (cqe->user_data == 2) {
			sent = 1;
			printf("uring_send=%s ", r == (int)strlen(msg) ? "ok" :
			       res((errno = -r, r < 0 ? -1 : r)));
		} else {
			got = 1;
			reply[r > 0 ? r : 0] = '\0';
			printf("uring_reply=%s ", r > 0 ? reply : res((errno = -r, r < 0 ? -1 : r)));
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	printf("%s\n", sent && got ? "" : "uring=TIMEOUT");
	io_uring_queue_exit(&ring);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr un = { .sa_family = AF_UNSPEC };
	struct tcp_zerocopy_receive zc = { 0 };
	socklen_t zl = sizeof(zc);
	char buf[256], msg[64], tmpl[] = "/tmp/transp_attackXXXXXX";
	int fd, one = 1, p[2], ffd, st;
	pid_t pid;

	if (argc < 3 || argc > 4 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 ||
	    (argc == 4 && strcmp(argv[3], "uring") && strcmp(argv[3], "uring-async")))
		return fprintf(stderr, "usage: transp_attack IPV4 PORT [uring|uring-async]\n"), 2;
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	snprintf(msg, sizeof(msg), "APP-DATA-%s", argv[2]);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (void *)&a, sizeof(a)))
		return perror("transp_attack: connect"), 1;
	/* katlsd's handshake is running now: try everything, without blocking */
	printf("peek=%s ", res(recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK)));
	printf("recv=%s ", res(recv(fd, buf, sizeof(buf), MSG_DONTWAIT)));
	if (pipe(p))
		return perror("pipe"), 1;
	printf("splice=%s ", res(splice(fd, NULL, p[1], NULL, 100, SPLICE_F_NONBLOCK)));
	ffd = mkstemp(tmpl);
	if (ffd < 0 || write(ffd, "SENDFILE-EARLY", 14) != 14)
		return perror("tmpfile"), 1;
	unlink(tmpl);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	printf("sendfile=%s ", res(sendfile(fd, ffd, &(off_t){ 0 }, 14)));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one));
	printf("zerocopy_send=%s ", res(send(fd, "ZC-EARLY", 8, MSG_ZEROCOPY | MSG_DONTWAIT)));
	printf("zc_receive=%s ", res(getsockopt(fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, &zc, &zl)));
	printf("ulp=%s ", res(setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3)));
	printf("tls_opt=%s ", res(setsockopt(fd, SOL_TLS, TLS_TX, buf, 40)));
	printf("listen=%s ", res(listen(fd, 1)));
	printf("disconnect=%s ", res(connect(fd, &un, sizeof(un))));
	fflush(stdout);
	pid = fork();
	if (!pid) {
		/* an inherited fd: the same socket, another process */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		printf("fork_write=%s ", res(write(fd, "FORK-EARLY", 10)));
		fflush(stdout);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	if (argc == 4)
		return uring_io(fd, msg, !strcmp(argv[3], "uring-async"));
	/* now wait for the verdict like any program would */
	if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg)) {
		printf("| write=%s\n", res(-1));
		return 0;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	printf("| write=ok reply=%s\n", n > 0 ? buf : res(n));
	return 0;
}
