/* SPDX-License-Identifier: MIT */
/*
 * OpenSSL TLS 1.3 contexts for katls (DESIGN.md §3.3, §7, PROTOCOL.md §2.2
 * F4): TLS 1.3 only, no session tickets, no PSK, no early data, a keylog
 * callback that appends NSS key-log lines to $SSLKEYLOGFILE and keeps the
 * application traffic secrets of each SSL (ex_data) for the kTLS handover.
 *
 * An SSL_CTX made here may be shared between threads (OpenSSL's rules);
 * the captured secrets belong to their SSL object and are wiped when it is
 * freed.
 */
#ifndef KATLS_TLS_H
#define KATLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/katls.h>
#include <openssl/ssl.h>

#define KATLS_TLS_CIPHERS_DEFAULT \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct katls_tls_config {
	enum katls_role role;
	const char *cert_file;		/* PEM leaf (+ chain); required for servers */
	const char *key_file;		/* PEM private key of the leaf */
	const char *ca_file;		/* verify the peer's handshake cert; NULL = don't */
	const char *ciphersuites;	/* NULL = KATLS_TLS_CIPHERS_DEFAULT */
};

/**
 * katls_tls_ctx_new() - make a TLS 1.3-only SSL_CTX.
 * @err/@err_len: receives one line naming what failed.
 * Return: 0 and *@out, -EINVAL (bad files, unknown cipher suite), -ENOMEM.
 */
int katls_tls_ctx_new(SSL_CTX **out, const struct katls_tls_config *cfg,
		      char *err, size_t err_len);

/**
 * katls_tls_ssl_new() - an SSL for @fd; clients send @server_name as SNI and,
 * if the context verifies peers, check the certificate names it.
 */
int katls_tls_ssl_new(SSL **out, SSL_CTX *ctx, int fd, const char *server_name);

/**
 * katls_tls_handshake() - run the (blocking) handshake.
 * Return: 0, -ETIMEDOUT, -ECONNRESET, -EPROTO (message in @err).
 */
int katls_tls_handshake(SSL *ssl, char *err, size_t err_len);

/**
 * katls_tls_traffic_secret() - the captured CLIENT_/SERVER_TRAFFIC_SECRET_0.
 * @client: which direction.  @out: EVP_MAX_MD_SIZE bytes of room.
 * Return: 0, -ENOENT (not captured).
 */
int katls_tls_traffic_secret(SSL *ssl, bool client, uint8_t *out, size_t *out_len);

/** katls_tls_ssl_wipe_secrets() - forget the captured secrets now. */
void katls_tls_ssl_wipe_secrets(SSL *ssl);

/*
 * Transport callbacks over an SSL (for session.h): read returns bytes, 0 at
 * EOF, -ETIMEDOUT when the socket's SO_RCVTIMEO expired, -EIO otherwise.
 */
ssize_t katls_tls_read(void *ssl, uint8_t *buf, size_t len);
int katls_tls_write(void *ssl, const uint8_t *buf, size_t len);

#endif /* KATLS_TLS_H */
