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
 *
 * Uses only libkatls's public API (pkg-config katls):
 *   cc client.c $(pkg-config --cflags --libs katls)
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <katls/katls.h>

int main(int argc, char **argv)
{
	enum katls_mode mode = KATLS_MODE_VERIFY_PEER;
	const char *policy = NULL, *server_name = NULL;
	unsigned int timeout_ms = 0, reason;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	const char *msg = "hello from an attested client\n";
	struct katls_status st;
	char buf[4096];
	int c, fd, ret;
	ssize_t n;

	while ((c = getopt(argc, argv, "m:P:n:t:")) != -1) {
		switch (c) {
		case 'm':
			mode = !strcmp(optarg, "attest") ? KATLS_MODE_ATTEST_SELF :
				   !strcmp(optarg, "mutual") ? KATLS_MODE_MUTUAL :
				   KATLS_MODE_VERIFY_PEER;
			break;
		case 'P': policy = optarg; break;
		case 'n': server_name = optarg; break;
		case 't': timeout_ms = (unsigned int)atoi(optarg); break;
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
	freeaddrinfo(ai);
	ret = katls_socket_attest(fd, KATLS_ROLE_CLIENT, mode, policy, server_name, timeout_ms,
				  &reason);
	if (ret) {
		printf("client: setsockopt(KATLS_SO_ATTEST): %s (errno %d), reason %u (%s)\n",
		       strerror(-ret), -ret, reason, katls_reason_name(reason));
		return ret == -EACCES ? 4 : 1;
	}
	if (katls_socket_status(fd, &st) == 0)
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
