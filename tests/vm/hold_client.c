// SPDX-License-Identifier: MIT
/*
 * hold_client HOST PORT SERVER_NAME: connect, attest through katlsd
 * (verify the server), print "attested" and keep the connection open until
 * standard input reaches EOF, then close it.  For tests that look at live
 * attested sockets (tests/vm/test_metrics.sh).  Exit 0 attested, 1 not.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kernel/attest.h"

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct katls_attest_opts o = { .role = KATLS_ROLE_CLIENT };
	char buf[64];
	int fd, ret;

	if (argc != 4 || getaddrinfo(argv[1], argv[2], &hints, &ai))
		return 2;
	o.server_name = argv[3];
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
		return perror("hold_client: connect"), 1;
	freeaddrinfo(ai);
	ret = katls_attest(fd, &o);
	printf("%s\n", ret ? strerror(-ret) : "attested");
	fflush(stdout);
	while (!ret && read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return ret ? 1 : 0;
}
