// SPDX-License-Identifier: MIT
/*
 * kTLS handover (see ktls.h).  Key schedule per RFC 8446 §7.3:
 *   key = HKDF-Expand-Label(secret, "key", "", key_length)
 *   iv  = HKDF-Expand-Label(secret, "iv",  "", 12)
 * For AES-GCM the kernel wants the first 4 IV bytes as "salt" and the other 8
 * as "iv"; ChaCha20-Poly1305 takes the 12 bytes as "iv".  rec_seq stays 0.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "kernel/ktls.h"
#include "wire/tls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef TLS_GET_RECORD_TYPE
#define TLS_GET_RECORD_TYPE 2
#endif

#define TLS_RT_APPLICATION_DATA 23

union ktls_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

struct ktls_suite {
	uint16_t id;			/* TLS 1.3 cipher suite */
	uint16_t cipher_type;		/* TLS_CIPHER_* */
	size_t key_len;
	const char *name;
};

static const struct ktls_suite suites[] = {
	{ 0x1301, TLS_CIPHER_AES_GCM_128, 16, "aes-128-gcm" },
	{ 0x1302, TLS_CIPHER_AES_GCM_256, 32, "aes-256-gcm" },
	{ 0x1303, TLS_CIPHER_CHACHA20_POLY1305, 32, "chacha20-poly1305" },
};

static const struct ktls_suite *suite_of(SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	uint16_t id = c ? SSL_CIPHER_get_protocol_id(c) : 0;

	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

const char *katls_ktls_cipher_name(SSL *ssl)
{
	const struct ktls_suite *s = suite_of(ssl);

	return s ? s->name : "unsupported";
}

/* HKDF-Expand-Label(secret, label, "", out_len) with @md. */
static int expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
			const char *label, uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1];
	size_t label_len = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ret = -EIO;
	OSSL_PARAM params[5], *p = params;
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;

	if (label_len > 16)
		return -EINVAL;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + label_len);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = 0;			/* empty context */

	kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (kdf)
		kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		goto out;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
						 secret_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	ERR_clear_error();
	return ret;
}

/* Crypto info of one direction from its traffic secret. */
static int crypto_info(const struct ktls_suite *s, const EVP_MD *md, const uint8_t *secret,
		       size_t secret_len, union ktls_crypto_info *ci, socklen_t *ci_len)
{
	uint8_t key[32], iv[12];
	int ret;

	memset(ci, 0, sizeof(*ci));
	ret = expand_label(md, secret, secret_len, "key", key, s->key_len);
	if (!ret)
		ret = expand_label(md, secret, secret_len, "iv", iv, sizeof(iv));
	if (ret)
		goto out;
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = s->cipher_type;
	switch (s->cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		memcpy(ci->gcm128.key, key, 16);
		memcpy(ci->gcm128.salt, iv, 4);
		memcpy(ci->gcm128.iv, iv + 4, 8);
		*ci_len = sizeof(ci->gcm128);
		break;
	case TLS_CIPHER_AES_GCM_256:
		memcpy(ci->gcm256.key, key, 32);
		memcpy(ci->gcm256.salt, iv, 4);
		memcpy(ci->gcm256.iv, iv + 4, 8);
		*ci_len = sizeof(ci->gcm256);
		break;
	default:
		memcpy(ci->chacha.key, key, 32);
		memcpy(ci->chacha.iv, iv, 12);
		*ci_len = sizeof(ci->chacha);
		break;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

int katls_ktls_install(SSL *ssl, int fd, bool client)
{
	uint8_t secret[EVP_MAX_MD_SIZE];
	const struct ktls_suite *s = suite_of(ssl);
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	const EVP_MD *md = c ? SSL_CIPHER_get_handshake_digest(c) : NULL;
	union ktls_crypto_info ci;
	socklen_t ci_len = 0;
	size_t secret_len;
	int ret, dir;

	if (!s || !md) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		ret = errno == ENOENT ? -ENOPROTOOPT : -errno;
		goto out;
	}
	/* TX uses our own secret, RX the peer's. */
	for (dir = 0; dir < 2; dir++) {
		bool tx = dir == 0;

		ret = katls_tls_traffic_secret(ssl, tx ? client : !client, secret, &secret_len);
		if (!ret)
			ret = crypto_info(s, md, secret, secret_len, &ci, &ci_len);
		OPENSSL_cleanse(secret, sizeof(secret));
		if (!ret && setsockopt(fd, SOL_TLS, tx ? TLS_TX : TLS_RX, &ci, ci_len) < 0)
			ret = -errno;
		OPENSSL_cleanse(&ci, sizeof(ci));
		if (ret)
			break;
	}
out:
	katls_tls_ssl_wipe_secrets(ssl);
	return ret;
}

void katls_ktls_quickack(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static long quickack_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
			int ret, size_t *processed)
{
	(void)argp, (void)len, (void)argi, (void)argl, (void)processed;
	if (oper == BIO_CB_READ)
		katls_ktls_quickack(BIO_get_fd(b, NULL));
	return ret;
}

int katls_ktls_quickack_reads(SSL *ssl)
{
	BIO *b = SSL_get_rbio(ssl);

	if (!b || BIO_get_fd(b, NULL) < 0)
		return -EINVAL;
	BIO_set_callback_ex(b, quickack_cb);
	return 0;
}

ssize_t katls_ktls_read(void *arg, uint8_t *buf, size_t len)
{
	int fd = *(int *)arg;
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	katls_ktls_quickack(fd);
	do {
		n = recvmsg(fd, &msg, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
		    *(unsigned char *)CMSG_DATA(cm) != TLS_RT_APPLICATION_DATA)
			return -EPROTO;	/* alert or handshake record: not katls data */
	return n;
}

int katls_ktls_write(void *arg, const uint8_t *buf, size_t len)
{
	int fd = *(int *)arg;

	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}
