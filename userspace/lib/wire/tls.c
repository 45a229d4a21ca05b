// SPDX-License-Identifier: MIT
/*
 * TLS 1.3 contexts and handshakes with OpenSSL 3 (see tls.h).
 *
 * The keylog callback runs inside OpenSSL's handshake on the thread that
 * drives the SSL; it writes the SSL's own ex_data slot only.  The ex_data
 * index is created once per process (pthread_once); the slot's free
 * callback wipes the captured secrets when the SSL is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "util/hex.h"
#include "wire/tls.h"

struct tls_secrets {
	uint8_t client[EVP_MAX_MD_SIZE];
	uint8_t server[EVP_MAX_MD_SIZE];
	size_t client_len, server_len;
};

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ex_index = -1;

static void secrets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			 long argl, void *argp)
{
	if (ptr)
		OPENSSL_clear_free(ptr, sizeof(struct tls_secrets));
}

static void ex_index_init(void)
{
	ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, secrets_free);
}

static struct tls_secrets *secrets_get(const SSL *ssl, bool create)
{
	struct tls_secrets *s;

	pthread_once(&ex_once, ex_index_init);
	if (ex_index < 0)
		return NULL;
	s = SSL_get_ex_data(ssl, ex_index);
	if (s || !create)
		return s;
	s = OPENSSL_zalloc(sizeof(*s));
	if (s && !SSL_set_ex_data((SSL *)ssl, ex_index, s)) {
		OPENSSL_free(s);
		s = NULL;
	}
	return s;
}

/* "LABEL <client_random hex> <secret hex>": keep the application secrets. */
static void capture(const SSL *ssl, const char *line)
{
	const char *sp1, *sp2;
	uint8_t *dst;
	size_t *dst_len, n;
	struct tls_secrets *s;

	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		sp1 = line + 23;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		sp1 = line + 23;
	else
		return;
	sp2 = strchr(sp1 + 1, ' ');
	s = secrets_get(ssl, true);
	if (!sp2 || !s)
		return;
	dst = line[0] == 'C' ? s->client : s->server;
	dst_len = line[0] == 'C' ? &s->client_len : &s->server_len;
	n = strlen(sp2 + 1);
	if (n % 2 || n / 2 > EVP_MAX_MD_SIZE)
		return;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = katls_hex_digit(sp2[1 + 2 * i]), lo = katls_hex_digit(sp2[2 + 2 * i]);

		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(dst, EVP_MAX_MD_SIZE);
			*dst_len = 0;
			return;
		}
		dst[i] = (uint8_t)(hi << 4 | lo);
	}
	*dst_len = n / 2;
}

static void keylog(const SSL *ssl, const char *line)
{
	const char *path = getenv("SSLKEYLOGFILE");

	capture(ssl, line);
	if (path && *path) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0) {
			size_t n = strlen(line);
			/* one write per line: O_APPEND keeps concurrent writers apart */
			char *l = malloc(n + 1);

			if (l) {
				memcpy(l, line, n);
				l[n] = '\n';
				if (write(fd, l, n + 1) < 0)
					fprintf(stderr, "katls: SSLKEYLOGFILE %s: %s\n", path,
						strerror(errno));
				OPENSSL_clear_free(l, n + 1);
			}
			close(fd);
		}
	}
}

/* Clients keep no session: nothing to resume, no PSK offered (F4). */
static int drop_session(SSL *ssl, SSL_SESSION *sess)
{
	return 0;
}

static int ssl_fail(char *err, size_t err_len, const char *what, const char *arg)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, err_len, "%s%s%s%s%s", what, arg ? " " : "", arg ? arg : "",
		 *buf ? ": " : "", buf);
	return -EINVAL;
}

int katls_tls_ctx_new(SSL_CTX **out, const struct katls_tls_config *cfg,
		      char *err, size_t err_len)
{
	bool server = cfg->role == KATLS_ROLE_SERVER;
	SSL_CTX *ctx;
	int ret = -EINVAL;

	*out = NULL;
	if (cfg->role != KATLS_ROLE_CLIENT && !server) {
		snprintf(err, err_len, "TLS role must be client or server");
		return -EINVAL;
	}
	if (server && (!cfg->cert_file || !cfg->key_file)) {
		snprintf(err, err_len, "a TLS server needs a certificate and a key");
		return -EINVAL;
	}
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		snprintf(err, err_len, "SSL_CTX_new failed");
		return -ENOMEM;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		ret = ssl_fail(err, err_len, "cannot restrict to TLS 1.3", NULL);
		goto fail;
	}
	/* F4: no tickets, no resumption, no 0-RTT, no read-ahead (kTLS handover) */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_recv_max_early_data(ctx, 0);
	SSL_CTX_set_read_ahead(ctx, 0);
	if (!server)
		SSL_CTX_sess_set_new_cb(ctx, drop_session);
	SSL_CTX_set_keylog_callback(ctx, keylog);
	if (!SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites ? cfg->ciphersuites :
				      KATLS_TLS_CIPHERS_DEFAULT)) {
		ret = ssl_fail(err, err_len, "bad TLS 1.3 cipher suite list", cfg->ciphersuites);
		goto fail;
	}
	if (cfg->cert_file &&
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
		ret = ssl_fail(err, err_len, "cannot load certificate", cfg->cert_file);
		goto fail;
	}
	if (cfg->key_file &&
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		ret = ssl_fail(err, err_len, "cannot load private key", cfg->key_file);
		goto fail;
	}
	if (cfg->cert_file && cfg->key_file && SSL_CTX_check_private_key(ctx) != 1) {
		ret = ssl_fail(err, err_len, "key does not match certificate", cfg->key_file);
		goto fail;
	}
	if (cfg->ca_file) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
			ret = ssl_fail(err, err_len, "cannot load CA file", cfg->ca_file);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return ret;
}

int katls_tls_ssl_new(SSL **out, SSL_CTX *ctx, int fd, const char *server_name)
{
	SSL *ssl = SSL_new(ctx);

	*out = NULL;
	if (!ssl)
		return -ENOMEM;
	if (!secrets_get(ssl, true) || !SSL_set_fd(ssl, fd))
		goto fail;
	if (SSL_CTX_get_ssl_method(ctx) == TLS_server_method())
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	if (server_name && *server_name) {
		if (!SSL_set_tlsext_host_name(ssl, server_name))
			goto fail;
		if ((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) &&
		    !SSL_set1_host(ssl, server_name))
			goto fail;
	}
	*out = ssl;
	return 0;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return -ENOMEM;
}

int katls_tls_handshake(SSL *ssl, char *err, size_t err_len)
{
	int r = SSL_do_handshake(ssl), e, saved = errno;
	long vr;

	if (r == 1) {
		if (SSL_version(ssl) != TLS1_3_VERSION) {
			snprintf(err, err_len, "peer did not negotiate TLS 1.3");
			return -EPROTO;
		}
		return 0;
	}
	e = SSL_get_error(ssl, r);
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		ERR_clear_error();
		snprintf(err, err_len, "TLS handshake: peer certificate: %s",
			 X509_verify_cert_error_string(vr));
		return -EPROTO;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		snprintf(err, err_len, "TLS handshake timed out");
		return -ETIMEDOUT;
	}
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
		ERR_clear_error();
		snprintf(err, err_len, "TLS handshake: connection closed by peer%s%s",
			 saved ? ": " : "", saved ? strerror(saved) : "");
		return -ECONNRESET;
	}
	ssl_fail(err, err_len, "TLS handshake failed", NULL);
	return -EPROTO;
}

int katls_tls_traffic_secret(SSL *ssl, bool client, uint8_t *out, size_t *out_len)
{
	struct tls_secrets *s = secrets_get(ssl, false);
	size_t n;

	if (!s)
		return -ENOENT;
	n = client ? s->client_len : s->server_len;
	if (!n)
		return -ENOENT;
	memcpy(out, client ? s->client : s->server, n);
	*out_len = n;
	return 0;
}

void katls_tls_ssl_wipe_secrets(SSL *ssl)
{
	struct tls_secrets *s = secrets_get(ssl, false);

	if (s)
		OPENSSL_cleanse(s, sizeof(*s));
}

ssize_t katls_tls_read(void *arg, uint8_t *buf, size_t len)
{
	SSL *ssl = arg;
	size_t got = 0;
	int r, e, saved;

	if (len > INT32_MAX)
		len = INT32_MAX;
	errno = 0;
	r = SSL_read_ex(ssl, buf, len, &got);
	saved = errno;
	if (r == 1)
		return (ssize_t)got;
	e = SSL_get_error(ssl, r);
	ERR_clear_error();
	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -ETIMEDOUT;	/* blocking socket: SO_RCVTIMEO expired */
	case SSL_ERROR_SYSCALL:
		if (saved == EAGAIN || saved == EWOULDBLOCK)
			return -ETIMEDOUT;
		return saved ? -saved : 0;	/* 0: EOF without close_notify */
	default:
		return -EIO;
	}
}

int katls_tls_write(void *arg, const uint8_t *buf, size_t len)
{
	SSL *ssl = arg;
	size_t done = 0;

	if (!len)
		return 0;
	if (SSL_write_ex(ssl, buf, len, &done) != 1 || done != len) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}
