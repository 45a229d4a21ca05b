// SPDX-License-Identifier: MIT
/*
 * daemon_probe: one attested connection through katlsd (katls_attest()) with
 * the checks the failure matrix and R3 need, one result line on stdout:
 *
 *   daemon_probe connect HOST PORT [-m MODE] [-P POLICY] [-n NAME] [-t MS] [-e]
 *   daemon_probe serve PORT [-6] [-m MODE] [-P POLICY] [-e]
 *
 *   result=ok|EACCES|... reason=N state=S gate=STATE early=E first=TEXT
 *          after=write:ERR,read:ERR
 *
 * -e: while setsockopt is in progress, another thread keeps trying
 * application I/O on the socket (connect: write "EARLY"; serve: read): it
 * must never move a byte (the gate holds PENDING sockets); "early" counts
 * the bytes it moved.  After success the client writes "APP-DATA-<port>" and
 * the server reports the FIRST bytes it received ("first"), which must be
 * exactly that: no katls frame and no early byte reached the application.
 * After a failure, "after" shows what write and read do on the socket (the
 * module shuts it down).  "gate" is the BPF gate's state of the socket
 * ("-" when the gate is not loaded).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "katls.h"
#include "kernel/attest.h"
#include "kernel/gate.h"

static int fd = -1;
static struct katls_gate *gate_h;	/* the early thread's until it is joined */

/* The gate says the verdicts are in (ATTESTED): I/O is legitimate from here. */
static bool gate_attested(void)
{
	struct katls_sk_state_v gs;

	return gate_h && !katls_gate_get_state(gate_h, fd, &gs) &&
	       gs.state == KATLS_GATE_ATTESTED;
}
static volatile int in_progress, early_bytes, serve_side;

static const char *ename(int e)
{
	static char buf[32];

	switch (e) {
	case 0: return "ok";
	case EACCES: return "EACCES";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNABORTED: return "ECONNABORTED";
	case EPROTO: return "EPROTO";
	case ECONNRESET: return "ECONNRESET";
	case EPIPE: return "EPIPE";
	case ENOTCONN: return "ENOTCONN";
	case EKEYREJECTED: return "EKEYREJECTED";
	case EAGAIN: return "EAGAIN";
	default: snprintf(buf, sizeof(buf), "errno%d", e); return buf;
	}
}

static void *early(void *arg)
{
	char buf[256];

	struct katls_status st;

	/*
	 * Only while the attestation runs: once the verdicts are in (the gate
	 * turns ATTESTED just before the module reports success) the socket is
	 * legitimately open, so a success counts as early only if the module
	 * still says PENDING after it.
	 */
	while (in_progress) {
		ssize_t n;

		if (katls_attest_status(fd, &st) || st.state != KATLS_STATE_PENDING ||
		    gate_attested()) {
			usleep(500);
			continue;
		}
		n = serve_side ? recv(fd, buf, sizeof(buf), MSG_DONTWAIT) :
		    send(fd, "EARLY", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0 && !gate_attested() && !katls_attest_status(fd, &st) &&
		    st.state == KATLS_STATE_PENDING)
			__atomic_add_fetch(&early_bytes, (int)n, __ATOMIC_RELAXED);
		usleep(2000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct katls_attest_opts o = { 0 };
	struct katls_status st;
	struct katls_gate *g = NULL;
	struct katls_sk_state_v gs;
	const char *gate = "-", *host = NULL, *port;
	char first[256] = "", msg[64], after[64] = "-";
	int c, ret, v6 = 0, use_early = 0;
	pthread_t t;

	if (argc < 3)
		return 2;
	serve_side = !strcmp(argv[1], "serve");
	if (!serve_side)
		host = argv[2];
	port = argv[serve_side ? 2 : 3];
	optind = serve_side ? 3 : 4;
	while ((c = getopt(argc, argv, "6m:P:n:t:e")) != -1) {
		switch (c) {
		case '6': v6 = 1; break;
		case 'm':
			o.mode = !strcmp(optarg, "attest") ? KATLS_MODE_ATTEST_SELF :
				 !strcmp(optarg, "mutual") ? KATLS_MODE_MUTUAL : KATLS_MODE_VERIFY_PEER;
			break;
		case 'P': o.policy = optarg; break;
		case 'n': o.server_name = optarg; break;
		case 't': o.timeout_ms = (uint32_t)atoi(optarg); break;
		case 'e': use_early = 1; break;
		default: return 2;
		}
	}
	o.role = serve_side ? KATLS_ROLE_SERVER : KATLS_ROLE_CLIENT;
	if (serve_side) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT,
					   .sin6_port = htons((uint16_t)atoi(port)) };
		struct sockaddr_in a4 = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)atoi(port)) };
		int one = 1, lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (lfd < 0 || (v6 ? bind(lfd, (void *)&a6, sizeof(a6)) :
				bind(lfd, (void *)&a4, sizeof(a4))) || listen(lfd, 4))
			return perror("daemon_probe: listen"), 1;
		printf("listening\n");
		fflush(stdout);
		fd = accept(lfd, NULL, NULL);
		close(lfd);
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;

		if (getaddrinfo(host, port, &hints, &ai))
			return 1;
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
			return perror("daemon_probe: connect"), 1;
		freeaddrinfo(ai);
	}
	in_progress = 1;
	if (katls_gate_open_pinned(NULL, &gate_h))
		gate_h = NULL;
	if (use_early)
		pthread_create(&t, NULL, early, NULL);
	ret = katls_attest(fd, &o);
	in_progress = 0;
	if (use_early)
		pthread_join(t, NULL);
	katls_attest_status(fd, &st);
	g = gate_h;
	if (g) {
		gate = katls_gate_get_state(g, fd, &gs) ? "none" : katls_gate_state_name(gs.state);
		katls_gate_free(g);
	}
	if (!ret) {
		snprintf(msg, sizeof(msg), "APP-DATA-%s", port);
		if (serve_side) {
			ssize_t n = read(fd, first, sizeof(first) - 1);

			first[n > 0 ? n : 0] = '\0';
			if (write(fd, "ACK", 3) != 3)
				snprintf(after, sizeof(after), "ack:%s", ename(errno));
		} else {
			ssize_t n;

			if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
				snprintf(after, sizeof(after), "write:%s", ename(errno));
			n = read(fd, first, sizeof(first) - 1);
			first[n > 0 ? n : 0] = '\0';
		}
	} else {
		ssize_t w = send(fd, "X", 1, MSG_NOSIGNAL), r;
		int we = w < 0 ? errno : 0;
		char b[16];

		r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		snprintf(after, sizeof(after), "write:%s,read:%s", w < 0 ? ename(we) : "SENT",
			 r < 0 ? ename(errno) : r == 0 ? "EOF" : "DATA");
	}
	printf("result=%s reason=%u (%s) state=%u gate=%s early=%d first=%s after=%s\n",
	       ename(-ret), st.reason, katls_reason_name(st.reason), st.state, gate,
	       early_bytes, *first ? first : "-", after);
	return ret ? 1 : 0;
}
