// SPDX-License-Identifier: MIT
/*
 * ktls_throughput: the data path after the handshake, kTLS (the kernel's
 * record layer, what an attested katls socket uses) against OpenSSL's
 * userspace record layer (katls serve/connect, DESIGN.md §3.3).  One TLS 1.3
 * connection over loopback per mode, TLS_AES_128_GCM_SHA256 both times, the
 * same katls_tls_* handshake; the client sends MIB MiB in 16 KiB writes
 * (one full record each), the server reads it all.
 *
 *   ktls_throughput --dir DIR [-m MIB]
 *
 * DIR holds host.pem/host.key (SAN server.test) and ca.pem, as made by
 * tests/vm/daemon_lib.sh's daemon_setup.  Needs the "tls" ULP (tls.ko) and
 * no daemon; bench/connect_vm.sh runs it in the VM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kernel/ktls.h"
#include "wire/tls.h"

#define CHUNK	16384
#define SUITE	"TLS_AES_128_GCM_SHA256"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "ktls_throughput: %s: %s\n", what, why);
	exit(1);
}

struct rx {
	int lfd;
	SSL_CTX *ctx;
	bool ktls;
	size_t total;
	double t_end;
	pthread_t t;
};

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	static uint8_t buf[4 * CHUNK];
	size_t got = 0;
	char err[256];
	SSL *ssl;
	int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC), ret;

	if (fd < 0)
		die("accept", strerror(errno));
	ret = katls_tls_ssl_new(&ssl, r->ctx, fd, NULL);
	if (ret || katls_tls_handshake(ssl, err, sizeof(err)))
		die("server handshake", ret ? strerror(-ret) : err);
	if (r->ktls && (ret = katls_ktls_install(ssl, fd, false)))
		die("server kTLS", strerror(-ret));
	while (got < r->total) {
		ssize_t n = r->ktls ? read(fd, buf, sizeof(buf)) : SSL_read(ssl, buf, sizeof(buf));

		if (n <= 0)
			die("receive", r->ktls ? strerror(errno) : "SSL_read failed");
		got += (size_t)n;
	}
	r->t_end = now_s();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

/* MiB/s for one connection in mode @ktls */
static double run(SSL_CTX *sctx, SSL_CTX *cctx, bool ktls, size_t total)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct rx r = { .ctx = sctx, .ktls = ktls, .total = total };
	static uint8_t buf[CHUNK];
	const char *cipher;
	char err[256];
	double t0;
	SSL *ssl;
	int fd, ret;

	memset(buf, 0xa5, sizeof(buf));
	r.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r.lfd < 0 || bind(r.lfd, (struct sockaddr *)&sa, len) || listen(r.lfd, 1) ||
	    getsockname(r.lfd, (struct sockaddr *)&sa, &len))
		die("listen", strerror(errno));
	if (pthread_create(&r.t, NULL, rx_main, &r))
		die("pthread_create", "failed");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect", strerror(errno));
	ret = katls_tls_ssl_new(&ssl, cctx, fd, "server.test");
#ifdef SSL_OP_ENABLE_KTLS
	/* OpenSSL's own kTLS offload stays off: its userspace record layer */
	if (!ret)
		SSL_clear_options(ssl, SSL_OP_ENABLE_KTLS);
#endif
	if (ret || katls_tls_handshake(ssl, err, sizeof(err)))
		die("client handshake", ret ? strerror(-ret) : err);
	cipher = katls_ktls_cipher_name(ssl);
	if (!cipher || strcmp(cipher, "aes-128-gcm"))
		die("suite", cipher ? cipher : "?");
	if (ktls && (ret = katls_ktls_install(ssl, fd, true)))
		die("client kTLS", strerror(-ret));
	t0 = now_s();
	for (size_t sent = 0; sent < total; sent += CHUNK) {
		if (ktls) {
			/* a blocking write of 16 KiB on kTLS sends it all or fails */
			if (write(fd, buf, CHUNK) != CHUNK)
				die("write", strerror(errno));
		} else if (SSL_write(ssl, buf, CHUNK) != CHUNK) {
			die("SSL_write", "failed");
		}
	}
	pthread_join(r.t, NULL);
	SSL_free(ssl);
	close(fd);
	close(r.lfd);
	return total / (1024.0 * 1024.0) / (r.t_end - t0);
}

int main(int argc, char **argv)
{
	struct katls_tls_config sc = { .role = KATLS_ROLE_SERVER, .ciphersuites = SUITE };
	struct katls_tls_config cc = { .role = KATLS_ROLE_CLIENT, .ciphersuites = SUITE };
	static const struct option lo[] = { { "dir", required_argument, NULL, 'd' }, { 0 } };
	char cert[4096], key[4096], ca[4096], err[256];
	const char *dir = NULL;
	unsigned int mib = 32;
	SSL_CTX *sctx, *cctx;
	double k, u;
	int c;

	while ((c = getopt_long(argc, argv, "m:", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mib = (unsigned int)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: ktls_throughput --dir DIR [-m MIB]\n");
			return 2;
		}
	}
	if (!dir) {
		printf("ktls_throughput: needs a test PKI and tls.ko: see bench/connect_vm.sh\n");
		return 0;
	}
	if (!mib)
		mib = 32;
	snprintf(cert, sizeof(cert), "%s/host.pem", dir);
	snprintf(key, sizeof(key), "%s/host.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	sc.cert_file = cert;
	sc.key_file = key;
	cc.ca_file = ca;
	if (katls_tls_ctx_new(&sctx, &sc, err, sizeof(err)) ||
	    katls_tls_ctx_new(&cctx, &cc, err, sizeof(err)))
		die("SSL_CTX", err);
	/* a short warm-up of each, then the measured runs */
	run(sctx, cctx, true, 1u << 20);
	run(sctx, cctx, false, 1u << 20);
	k = run(sctx, cctx, true, (size_t)mib << 20);
	u = run(sctx, cctx, false, (size_t)mib << 20);
	printf("data path, %u MiB in 16 KiB writes over loopback, TLS 1.3 AES-128-GCM, one connection each:\n",
	       mib);
	printf("  %-44s %9.1f MiB/s\n", "kTLS (write/read on the socket)", k);
	printf("  %-44s %9.1f MiB/s\n", "OpenSSL userspace (SSL_write/SSL_read)", u);
	printf("  %-44s %9.2fx\n", "ratio kTLS / OpenSSL", k / u);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}
