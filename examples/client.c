// SPDX-License-Identifier: MIT
/*
 * Example attested client: socket, connect, ONE setsockopt, then plain
 * write/read.  If the server's attestation does not pass katlsd's policy,
 * setsockopt fails (EACCES) and the socket is shut down: nothing is sent.
 *
 *   client [-m verify|attest|mutual] [-P POLICY] [-n SERVER_NAME] [-t MS]
 *          HOST PORT [MESSAGE]
 *
 * Prints the reply.  Exit: 0 ok, 1 error, 4 attestation refused.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/katls.h>

int main(int argc, char **argv)
{
	struct katls_attest_req req = { .version = KATLS_ATTEST_VERSION,
					.role = KATLS_ROLE_CLIENT,
					.mode = KATLS_MODE_VERIFY_PEER };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	const char *msg = "hello from an attested client\n";
	struct katls_status st;
	socklen_t len = sizeof(st);
	char buf[4096];
	int c, fd, sol, e;
	ssize_t n;

	while ((c = getopt(argc, argv, "m:P:n:t:")) != -1) {
		switch (c) {
		case 'm':
			req.mode = !strcmp(optarg, "attest") ? KATLS_MODE_ATTEST_SELF :
				   !strcmp(optarg, "mutual") ? KATLS_MODE_MUTUAL :
				   KATLS_MODE_VERIFY_PEER;
			break;
		case 'P': snprintf(req.policy, sizeof(req.policy), "%s", optarg); break;
		case 'n': snprintf(req.server_name, sizeof(req.server_name), "%s", optarg); break;
		case 't': req.timeout_ms = (unsigned int)atoi(optarg); break;
		default: argc = 0;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: client [-m verify|attest|mutual] [-P POLICY] "
			"[-n SERVER_NAME] [-t MS] HOST PORT [MESSAGE]\n");
		return 2;
	}
	if (argc - optind > 2)
		msg = argv[optind + 2];
	if (getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "client: cannot resolve %s\n", argv[optind]);
		return 1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("client: connect");
		return 1;
	}
	sol = ai->ai_family == AF_INET6 ? SOL_IPV6 : SOL_IP;
	freeaddrinfo(ai);
	if (setsockopt(fd, sol, KATLS_SO_ATTEST, &req, sizeof(req)) < 0) {
		e = errno;
		memset(&st, 0, sizeof(st));
		getsockopt(fd, sol, KATLS_SO_STATUS, &st, &len);
		printf("client: setsockopt(KATLS_SO_ATTEST): %s (errno %d), reason %u\n",
		       strerror(e), e, st.reason);
		return e == EACCES ? 4 : 1;
	}
	len = sizeof(st);
	if (getsockopt(fd, sol, KATLS_SO_STATUS, &st, &len) == 0)
		printf("client: attested (state %u, expires %llu, peer sha256:%02x%02x%02x%02x%02x%02x%02x%02x…)\n",
		       st.state, (unsigned long long)st.expiry, st.peer_digest[0], st.peer_digest[1],
		       st.peer_digest[2], st.peer_digest[3], st.peer_digest[4], st.peer_digest[5],
		       st.peer_digest[6], st.peer_digest[7]);
	if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg)) {
		perror("client: write");
		return 1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0) {
		printf("client: read: %s\n", n ? strerror(errno) : "EOF");
		return 1;
	}
	buf[n] = '\0';
	printf("client: reply: %s", buf);
	close(fd);
	return 0;
}
