// SPDX-License-Identifier: MIT
/*
 * daemon_load: N concurrent attested connections (katls_attest(), verify
 * mode) to HOST PORT, each writing its own token and expecting the example
 * server's echo of exactly that token.  Prints "ok N/N" and exits 0 only if
 * every connection succeeded.
 *
 *   daemon_load HOST PORT N SERVER_NAME
 */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kernel/attest.h"

static const char *host, *port, *name;
static int ok;

static void *one(void *arg)
{
	struct katls_attest_opts o = { .role = KATLS_ROLE_CLIENT,
				       .mode = KATLS_MODE_VERIFY_PEER, .timeout_ms = 120000 };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char tok[64], want[80], buf[128];
	long i = (long)arg;
	ssize_t n;
	int fd, ret;

	o.server_name = name;
	if (getaddrinfo(host, port, &hints, &ai))
		return NULL;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		perror("daemon_load: connect");
		freeaddrinfo(ai);
		return NULL;
	}
	freeaddrinfo(ai);
	ret = katls_attest(fd, &o);
	if (ret) {
		fprintf(stderr, "daemon_load: %ld: %s\n", i, strerror(-ret));
		close(fd);
		return NULL;
	}
	snprintf(tok, sizeof(tok), "token-%ld-%d", i, rand());
	snprintf(want, sizeof(want), "echo: %s", tok);
	if (write(fd, tok, strlen(tok)) == (ssize_t)strlen(tok)) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		if (!strcmp(buf, want))
			__atomic_add_fetch(&ok, 1, __ATOMIC_RELAXED);
		else
			fprintf(stderr, "daemon_load: %ld: got '%s', want '%s'\n", i, buf, want);
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[1024];
	long n;

	if (argc != 5 || (n = atol(argv[3])) < 1 || n > 1024)
		return 2;
	host = argv[1];
	port = argv[2];
	name = argv[4];
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, one, (void *)i);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("ok %d/%ld\n", ok, n);
	return ok == n ? 0 : 1;
}
