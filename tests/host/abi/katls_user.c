// SPDX-License-Identifier: MIT
/*
 * A third-party program of libkatls: built by tests/host/test_abi.sh with
 * nothing but `pkg-config --cflags --libs katls` against an installed
 * libkatls (no path into the source tree), and by tests/pkg/ against the
 * installed Debian packages.  Public API only (include/katls/katls.h).
 *
 *   katls_user policy FILE                      list the policies of FILE
 *   katls_user connect HOST PORT CA POLICY NAME SAVE_DIR
 *                                               userspace mode: verify the
 *                                               server, send a line, print
 *                                               the echo, save the exchange
 *   katls_user verify POLICY DIR                re-verify a saved exchange
 *   katls_user attest HOST PORT NAME [MODE [MS]] kernel mode: connect and
 *                                               KATLS_SO_ATTEST, send a
 *                                               line, print the reply
 *
 * Prints "result=ok" or "result=<errno name> reason=<name>".
 * Exit: 0 accepted, 4 refused, 1 other failure, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <katls/katls.h>

static int verdict(int ret, unsigned int reason, const char *msg)
{
	if (!ret) {
		printf("result=ok\n");
		return 0;
	}
	printf("result=%s reason=%s msg=\"%s\"\n", ret == -EACCES ? "EACCES" : strerror(-ret),
	       katls_reason_name(reason), msg);
	return ret == -EACCES ? 4 : 1;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int fd;

	if (getaddrinfo(host, port, &hints, &ai))
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int cmd_policy(const char *file)
{
	katls_policies *p;
	char msg[512] = "";
	int ret = katls_policies_load(file, &p, msg, sizeof(msg));

	if (ret) {
		printf("policy: %s: %s\n", file, msg);
		return 1;
	}
	for (size_t i = 0; i < katls_policies_count(p); i++)
		printf("policy %zu: %s\n", i, katls_policies_name(p, i));
	katls_policies_free(p);
	return 0;
}

static int cmd_verify(const char *file, const char *dir)
{
	katls_policies *p;
	unsigned int reason;
	char msg[512] = "";
	int ret = katls_policies_load(file, &p, msg, sizeof(msg));

	if (ret) {
		printf("policy: %s: %s\n", file, msg);
		return 1;
	}
	ret = katls_verify_saved(p, NULL, dir, NULL, &reason, msg, sizeof(msg));
	katls_policies_free(p);
	return verdict(ret, reason, msg);
}

static int cmd_connect(char **a)
{
	static const char line[] = "hello from a third-party program\n";
	katls_endpoint *ep;
	katls_conn *c = NULL;
	unsigned int reason = KATLS_R_INTERNAL;
	char msg[512] = "", buf[256];
	ssize_t n;
	int fd, ret;

	if (katls_endpoint_new(KATLS_ROLE_CLIENT, &ep))
		return 1;
	ret = katls_endpoint_set(ep, KATLS_OPT_CA, a[2]);
	ret = ret ? ret : katls_endpoint_set(ep, KATLS_OPT_POLICY_FILE, a[3]);
	ret = ret ? ret : katls_endpoint_set(ep, KATLS_OPT_SAVE_EVIDENCE, a[5]);
	ret = ret ? ret : katls_endpoint_ready(ep, msg, sizeof(msg));
	if (ret) {
		printf("endpoint: %s (%s)\n", msg, strerror(-ret));
		katls_endpoint_free(ep);
		return 1;
	}
	fd = dial(a[0], a[1]);
	if (fd < 0) {
		printf("connect: %s:%s: %s\n", a[0], a[1], strerror(errno));
		katls_endpoint_free(ep);
		return 1;
	}
	ret = katls_conn_start(ep, fd, a[4], &c, &reason, msg, sizeof(msg));
	if (!ret) {
		size_t got = 0;

		if (katls_conn_write(c, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1)
			ret = -EIO;
		while (!ret && got < sizeof(line) - 1 &&
		       (n = katls_conn_read(c, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		printf("echo: %s", buf);
		katls_conn_free(c);
	}
	close(fd);
	katls_endpoint_free(ep);
	return verdict(ret, reason, msg);
}

static int cmd_attest(char **a, const char *mode, unsigned int timeout_ms)
{
	static const char line[] = "hello over kTLS from a third-party program\n";
	enum katls_mode m = !mode || !strcmp(mode, "verify") ? KATLS_MODE_VERIFY_PEER :
			    !strcmp(mode, "mutual") ? KATLS_MODE_MUTUAL : KATLS_MODE_ATTEST_SELF;
	struct katls_status st;
	unsigned int reason;
	char buf[256];
	ssize_t n;
	int fd = dial(a[0], a[1]), ret;

	if (fd < 0) {
		printf("connect: %s:%s: %s\n", a[0], a[1], strerror(errno));
		return 1;
	}
	ret = katls_socket_attest(fd, KATLS_ROLE_CLIENT, m, NULL, a[2], timeout_ms, &reason);
	if (!ret && (katls_socket_status(fd, &st) || st.state != KATLS_STATE_ATTESTED)) {
		printf("status: not ATTESTED after a successful KATLS_SO_ATTEST\n");
		ret = -EPROTO;
	}
	if (!ret) {
		if (write(fd, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1)
			ret = -errno;
		n = ret ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			printf("reply: %s", buf);
		} else if (!ret) {
			ret = -EIO;
		}
	}
	close(fd);
	return verdict(ret, reason, "");
}

int main(int argc, char **argv)
{
	printf("libkatls %s (API %d)\n", katls_version(), KATLS_API_VERSION);
	if (argc == 3 && !strcmp(argv[1], "policy"))
		return cmd_policy(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "verify"))
		return cmd_verify(argv[2], argv[3]);
	if (argc == 8 && !strcmp(argv[1], "connect"))
		return cmd_connect(argv + 2);
	if (argc >= 5 && argc <= 7 && !strcmp(argv[1], "attest"))
		return cmd_attest(argv + 2, argc >= 6 ? argv[5] : NULL,
				  argc == 7 ? (unsigned int)strtoul(argv[6], NULL, 10) : 0);
	fprintf(stderr, "usage: katls_user policy FILE | verify POLICY DIR |\n"
		"       connect HOST PORT CA POLICY NAME SAVE_DIR | attest HOST PORT NAME [MODE [MS]]\n");
	return 2;
}
