/* SPDX-License-Identifier: MIT */
/* Socket addresses from text for the VM test tools (gate_io.c, gate_attack.c). */
#ifndef KATLS_TEST_SOCKADDR_H
#define KATLS_TEST_SOCKADDR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* @a (IPv4 or IPv6 text) and @port into @ss; its length.  Exits 2 on a bad address. */
static inline socklen_t test_sockaddr(const char *a, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return sizeof(*s4);
	}
	if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return sizeof(*s6);
	}
	fprintf(stderr, "bad address '%s'\n", a);
	exit(2);
}

#endif /* KATLS_TEST_SOCKADDR_H */
