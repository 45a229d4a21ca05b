// SPDX-License-Identifier: MIT
/*
 * Example attested server: socket, bind, listen, accept, ONE setsockopt,
 * then plain read/write on what is now an attested kTLS socket.  katlsd does
 * the TLS handshake and the attestation; this program never sees a key.
 *
 *   server [-6] [-p PORT] [-m attest|verify|mutual] [-P POLICY] [-n COUNT]
 *
 * Echoes every line back with an "echo: " prefix.  One process per
 * connection (fork).  -n: exit after COUNT connections (0: forever).
 *
 * Uses only libkatls's public API (pkg-config katls):
 *   cc server.c $(pkg-config --cflags --libs katls)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <katls/katls.h>

static int serve(int fd, int mode, const char *policy, int v6)
{
	unsigned int reason;
	char buf[4096];
	ssize_t n;
	int ret;

	(void)v6;	/* katls_socket_attest() finds the socket's family itself */
	ret = katls_socket_attest(fd, KATLS_ROLE_SERVER, mode, policy, NULL, 0, &reason);
	if (ret) {
		printf("server: attestation failed: %s (reason %u)\n", strerror(-ret), reason);
		return 1;
	}
	printf("server: connection attested (kTLS)\n");
	fflush(stdout);
	while ((n = read(fd, buf + 6, sizeof(buf) - 6)) > 0) {
		memcpy(buf, "echo: ", 6);
		if (write(fd, buf, (size_t)n + 6) != n + 6)
			return 1;
	}
	return n < 0;
}

int main(int argc, char **argv)
{
	const char *policy = "";
	int port = 4433, mode = KATLS_MODE_ATTEST_SELF, v6 = 0, count = 0, one = 1, c, lfd;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET };

	while ((c = getopt(argc, argv, "6p:m:P:n:")) != -1) {
		switch (c) {
		case '6': v6 = 1; break;
		case 'p': port = atoi(optarg); break;
		case 'P': policy = optarg; break;
		case 'n': count = atoi(optarg); break;
		case 'm':
			mode = !strcmp(optarg, "verify") ? KATLS_MODE_VERIFY_PEER :
			       !strcmp(optarg, "mutual") ? KATLS_MODE_MUTUAL : KATLS_MODE_ATTEST_SELF;
			break;
		default:
			fprintf(stderr, "usage: server [-6] [-p PORT] [-m attest|verify|mutual] "
				"[-P POLICY] [-n COUNT]\n");
			return 2;
		}
	}
	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	a4.sin_port = a6.sin6_port = htons(port);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || (v6 ? bind(lfd, (struct sockaddr *)&a6, sizeof(a6)) :
			bind(lfd, (struct sockaddr *)&a4, sizeof(a4))) || listen(lfd, 128)) {
		perror("server");
		return 1;
	}
	printf("server: listening on port %d (%s)\n", port, v6 ? "IPv6" : "IPv4");
	fflush(stdout);
	for (int served = 0; !count || served < count; served++) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			perror("server: accept");
			continue;
		}
		if (fork() == 0) {
			close(lfd);
			_exit(serve(fd, mode, policy, v6));
		}
		close(fd);
	}
	/* let the last children finish */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
