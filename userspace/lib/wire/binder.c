// SPDX-License-Identifier: MIT
/*
 * The expat binder of PROTOCOL.md §2.2 (B1), binder.h:
 * binder = H(SPKI_DER(leaf key) || TLS-Exporter("Attestation", crc, 32)) and
 * AIK_pub_hash = H(SPKI_DER(key)), H being the cipher suite's hash.
 */
#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "util/spki.h"
#include "wire/binder.h"

static int spki_der(EVP_PKEY *key, unsigned char **der, size_t *len)
{
	return katls_spki_der(key, der, len);
}

static int hash_two(const EVP_MD *md, const uint8_t *a, size_t a_len,
		    const uint8_t *b, size_t b_len, uint8_t *out, size_t *out_len)
{
	EVP_MD_CTX *ctx;
	unsigned int n;
	int ok;

	if (!md || !out || !out_len)
		return -EINVAL;
	if (*out_len < (size_t)EVP_MD_get_size(md))
		return -ENOBUFS;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
	     EVP_DigestUpdate(ctx, a, a_len) == 1 &&
	     (!b_len || EVP_DigestUpdate(ctx, b, b_len) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, &n) == 1;
	EVP_MD_CTX_free(ctx);
	if (ok)
		*out_len = n;
	return ok ? 0 : -EIO;
}

/**
 * katls_aik_hash() - AIK_pub_hash = H(SPKI_DER(key)).
 * @md: the hash (the cipher suite's).
 * @key: the EA leaf key (public part used).
 * @out: receives the hash.
 * @out_len: in: size of @out; out: hash length.
 *
 * Return: 0, -EINVAL, -ENOBUFS, -EIO.
 */
int katls_aik_hash(const EVP_MD *md, EVP_PKEY *key, uint8_t *out,
		   size_t *out_len)
{
	unsigned char *der;
	size_t der_len;
	int ret;

	ret = spki_der(key, &der, &der_len);
	if (ret)
		return ret;
	ret = hash_two(md, der, der_len, NULL, 0, out, out_len);
	OPENSSL_free(der);
	return ret;
}

/**
 * katls_binder_compute() - binder = H(SPKI_DER(key) || TLS-Exporter(label, crc, 32)).
 * @ex: exporter of the connection; H is its hash.
 * @leaf_key: the EA leaf (AIK) key.
 * @crc: the request's certificate_request_context.
 * @crc_len: its length.
 * @label: exporter label, NULL = KATLS_BINDER_LABEL ("Attestation").
 * @out: receives the binder.
 * @out_len: in: size of @out; out: H.len.
 *
 * Return: 0, -EINVAL, -ENOBUFS, -EIO, or the exporter's error.
 */
int katls_binder_compute(const struct katls_exporter *ex, EVP_PKEY *leaf_key,
			 const uint8_t *crc, size_t crc_len, const char *label,
			 uint8_t *out, size_t *out_len)
{
	uint8_t exported[32];
	unsigned char *der;
	size_t der_len;
	int ret;

	if (!ex)
		return -EINVAL;
	ret = spki_der(leaf_key, &der, &der_len);
	if (ret)
		return ret;
	ret = katls_exporter_export(ex, label ? label : KATLS_BINDER_LABEL,
				    crc, crc_len, exported, sizeof(exported));
	if (!ret)
		ret = hash_two(ex->md, der, der_len, exported, sizeof(exported),
			       out, out_len);
	OPENSSL_cleanse(exported, sizeof(exported));
	OPENSSL_free(der);
	return ret;
}
