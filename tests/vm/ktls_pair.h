/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the VM test tools (responder.c, attest_client.c): fixed
 * test keys, kTLS installation without a handshake, loopback TCP pairs.
 * Direction "a" is what the attesting socket sends; the peer mirrors it.
 */
#ifndef KATLS_TEST_KTLS_PAIR_H
#define KATLS_TEST_KTLS_PAIR_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static inline void test_key(struct tls12_crypto_info_aes_gcm_128 *ci, unsigned char seed)
{
	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = TLS_CIPHER_AES_GCM_128;
	memset(ci->key, seed, sizeof(ci->key));
	memset(ci->iv, seed + 1, sizeof(ci->iv));
	memset(ci->salt, seed + 2, sizeof(ci->salt));
	/* rec_seq 0: no record was sent before the handover */
}

/* Installs kTLS on @fd: TX with key @tx_seed, RX with key @rx_seed.  -errno. */
static inline int install_ktls(int fd, unsigned char tx_seed, unsigned char rx_seed)
{
	struct tls12_crypto_info_aes_gcm_128 ci;

	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0)
		return -errno;
	test_key(&ci, tx_seed);
	if (setsockopt(fd, SOL_TLS, TLS_TX, &ci, sizeof(ci)) < 0)
		return -errno;
	test_key(&ci, rx_seed);
	if (setsockopt(fd, SOL_TLS, TLS_RX, &ci, sizeof(ci)) < 0)
		return -errno;
	memset(&ci, 0, sizeof(ci));
	return 0;
}

#define KEY_A 0x11	/* attesting socket -> peer */
#define KEY_B 0x55	/* peer -> attesting socket */

/* A connected loopback TCP pair: *app (connect side) and *peer. -errno. */
static inline int tcp_pair(int v6, int *app, int *peer)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int lfd, ret = 0;

	*app = *peer = -1;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&ss, len) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		goto fail;
	*app = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*app < 0 || connect(*app, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	*peer = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*peer < 0)
		goto fail;
	close(lfd);
	return 0;
fail:
	ret = -errno;
	close(lfd);
	if (*app >= 0)
		close(*app);
	*app = -1;
	return ret;
}

#endif /* KATLS_TEST_KTLS_PAIR_H */
