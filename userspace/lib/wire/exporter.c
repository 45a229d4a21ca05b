// SPDX-License-Identifier: MIT
/*
 * The TLS 1.3 exporter abstraction (exporter.h): RFC 8446 TLS-Exporter from
 * an established connection (SSL_export_keying_material()) or from a known
 * exporter_master_secret (HKDF-Expand-Label, §7.1 and §7.5).  Derived
 * secrets live on the stack and are wiped on every path.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "util/buf.h"
#include "wire/exporter.h"

/* HKDF-Expand-Label(secret, label, ctx, out_len), RFC 8446 §7.1. */
static int expand_label(const EVP_MD *md, const uint8_t *secret,
			size_t secret_len, const char *label,
			const uint8_t *ctx, size_t ctx_len,
			uint8_t *out, size_t out_len)
{
	static const char prefix[] = "tls13 ";
	struct katls_buf info = KATLS_BUF_INIT;
	size_t llen = strlen(label);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[5];
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *kdf = NULL;
	int ret;

	if (out_len > UINT16_MAX || llen > 255 - (sizeof(prefix) - 1) ||
	    ctx_len > 255)
		return -EINVAL;
	ret = katls_put_be16(&info, (uint16_t)out_len);
	if (!ret)
		ret = katls_put_u8(&info, (uint8_t)(sizeof(prefix) - 1 + llen));
	if (!ret)
		ret = katls_put_bytes(&info, prefix, sizeof(prefix) - 1);
	if (!ret)
		ret = katls_put_bytes(&info, label, llen);
	if (!ret)
		ret = katls_put_u8(&info, (uint8_t)ctx_len);
	if (!ret)
		ret = katls_put_bytes(&info, ctx, ctx_len);
	if (ret)
		goto out;

	ret = -EIO;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (!kctx)
		goto out;
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						      (void *)secret, secret_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						      info.data, info.len);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	katls_buf_cleanup(&info);
	return ret;
}

static int digest(const EVP_MD *md, const uint8_t *in, size_t in_len,
		  uint8_t *out, unsigned int *out_len)
{
	static const uint8_t none;

	return EVP_Digest(in ? in : &none, in_len, out, out_len, md, NULL) == 1 ?
	       0 : -EIO;
}

/* RFC 8446 §7.5 TLS-Exporter over a known exporter_master_secret. */
static int secret_export(void *arg, const char *label, const uint8_t *ctx,
			 size_t ctx_len, uint8_t *out, size_t out_len)
{
	const struct katls_exporter_secret *s = arg;
	uint8_t h[EVP_MAX_MD_SIZE], derived[EVP_MAX_MD_SIZE];
	unsigned int hlen;
	int ret;

	ret = digest(s->md, NULL, 0, h, &hlen);
	if (!ret)
		ret = expand_label(s->md, s->secret, s->len, label, h, hlen,
				   derived, hlen);
	if (!ret)
		ret = digest(s->md, ctx, ctx_len, h, &hlen);
	if (!ret)
		ret = expand_label(s->md, derived, hlen, "exporter", h, hlen,
				   out, out_len);
	OPENSSL_cleanse(derived, sizeof(derived));
	return ret;
}

static int ssl_export(void *arg, const char *label, const uint8_t *ctx,
		      size_t ctx_len, uint8_t *out, size_t out_len)
{
	if (SSL_export_keying_material(arg, out, out_len, label, strlen(label),
				       ctx, ctx_len, 1) != 1)
		return -EIO;
	return 0;
}

/**
 * katls_exporter_from_ssl() - Exporter of an established TLS 1.3 connection.
 * @out: filled with SSL_export_keying_material() and the suite's hash.
 * @ssl: the connection; must outlive @out.
 *
 * Return: 0, -EPROTONOSUPPORT if @ssl is not TLS 1.3, -EINVAL if the
 * handshake has not finished.
 */
int katls_exporter_from_ssl(struct katls_exporter *out, SSL *ssl)
{
	const SSL_CIPHER *cipher;

	if (!out || !ssl)
		return -EINVAL;
	if (SSL_version(ssl) != TLS1_3_VERSION)
		return -EPROTONOSUPPORT;
	if (!SSL_is_init_finished(ssl))
		return -EINVAL;
	cipher = SSL_get_current_cipher(ssl);
	out->md = cipher ? SSL_CIPHER_get_handshake_digest(cipher) : NULL;
	if (!out->md)
		return -EINVAL;
	out->export = ssl_export;
	out->arg = ssl;
	return 0;
}

/**
 * katls_exporter_from_secret() - Exporter from an exporter_master_secret.
 * @out: the exporter; uses @store, which must outlive it.
 * @store: caller-owned copy of the secret; wipe with
 *	   katls_exporter_secret_cleanup().
 * @md: the cipher suite's hash.
 * @secret: exporter_master_secret, EVP_MD_get_size(@md) bytes.
 * @secret_len: its length.
 *
 * Computes RFC 8446 TLS-Exporter exactly as SSL_export_keying_material()
 * does for TLS 1.3 (the context is always hashed).
 *
 * Return: 0 or -EINVAL.
 */
int katls_exporter_from_secret(struct katls_exporter *out,
			       struct katls_exporter_secret *store,
			       const EVP_MD *md, const uint8_t *secret,
			       size_t secret_len)
{
	if (!out || !store || !md || !secret ||
	    secret_len != (size_t)EVP_MD_get_size(md))
		return -EINVAL;
	store->md = md;
	store->len = secret_len;
	memcpy(store->secret, secret, secret_len);
	out->md = md;
	out->export = secret_export;
	out->arg = store;
	return 0;
}

/**
 * katls_exporter_secret_cleanup() - Wipe a secret store. NULL-safe.
 * @store: the store.
 */
void katls_exporter_secret_cleanup(struct katls_exporter_secret *store)
{
	if (store)
		OPENSSL_cleanse(store, sizeof(*store));
}

/**
 * katls_exporter_export() - TLS-Exporter(label, ctx, out_len).
 * @ex: the exporter.
 * @label: ASCII label without NUL.
 * @ctx: context (may be NULL if @ctx_len is 0).
 * @ctx_len: its length.
 * @out: output; wiped on failure.
 * @out_len: bytes wanted (1..65535).
 *
 * Return: 0, -EINVAL or the exporter's error.
 */
int katls_exporter_export(const struct katls_exporter *ex, const char *label,
			  const uint8_t *ctx, size_t ctx_len,
			  uint8_t *out, size_t out_len)
{
	int ret;

	if (!ex || !ex->md || !ex->export || !label || !out || !out_len ||
	    out_len > UINT16_MAX || (!ctx && ctx_len))
		return -EINVAL;
	ret = ex->export(ex->arg, label, ctx, ctx_len, out, out_len);
	if (ret)
		OPENSSL_cleanse(out, out_len);
	return ret > 0 ? -EIO : ret;
}
