// SPDX-License-Identifier: MIT
/* DER SubjectPublicKeyInfo without the provider encoder; see spki.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "util/spki.h"

#define EC_POINT_MAX	(1 + 2 * 66)	/* uncompressed P-521 */

static int finish(int n, uint8_t **der, size_t *len)
{
	if (n <= 0) {
		ERR_clear_error();
		OPENSSL_free(*der);
		*der = NULL;
		return -EINVAL;
	}
	*len = (size_t)n;
	return 0;
}

/* RFC 5480: AlgorithmIdentifier { id-ecPublicKey, namedCurve }, the point as given. */
int katls_spki_der_ec(int nid, const uint8_t *point, size_t point_len, uint8_t **der,
		      size_t *len)
{
	X509_PUBKEY *xpk = X509_PUBKEY_new();
	uint8_t *copy = point_len ? OPENSSL_memdup(point, point_len) : NULL;
	int n = -1;

	*der = NULL;
	if (xpk && copy && point_len <= INT32_MAX &&
	    X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				   OBJ_nid2obj(nid), copy, (int)point_len))
		n = i2d_X509_PUBKEY(xpk, der);
	else
		OPENSSL_free(copy);
	X509_PUBKEY_free(xpk);
	return finish(n, der, len);
}

/*
 * A named-curve EC key, as OpenSSL's encoder writes it: its group's OID and
 * its point in the key's own conversion form.  Return: 0, -EINVAL, or
 * -ENOENT if @key is no such key.
 */
static int ec_named_spki(EVP_PKEY *key, uint8_t **der, size_t *len)
{
	char group[64], enc[32];
	uint8_t point[EC_POINT_MAX];
	size_t point_len = 0;
	int nid;

	if (!EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc),
					   NULL) != 1 ||
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1 ||
	    (nid = OBJ_txt2nid(group)) == NID_undef ||
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
					    &point_len) != 1) {
		ERR_clear_error();
		return -ENOENT;
	}
	return katls_spki_der_ec(nid, point, point_len, der, len);
}

/* ---- remembered encodings (katls_spki_remember) ---- */

struct memo {
	size_t len;
	uint8_t der[];
};

static int memo_index = -1;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;

static void memo_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	OPENSSL_free(ptr);
}

static void memo_init(void)
{
	memo_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, memo_free);
}

void katls_spki_remember(X509 *x)
{
	EVP_PKEY *key = X509_get0_pubkey(x);
	uint8_t *der = NULL, *enc = NULL;
	size_t len, enc_len;
	struct memo *m;

	pthread_once(&memo_once, memo_init);
	if (memo_index < 0 || !key || EVP_PKEY_get_ex_data(key, memo_index) ||
	    katls_spki_der_x509(x, &der, &len))
		return;
	/* only what katls_spki_der() would write anyway: the memo changes no result */
	if (!katls_spki_der(key, &enc, &enc_len) && enc_len == len && !memcmp(enc, der, len)) {
		m = OPENSSL_malloc(sizeof(*m) + len);
		if (m) {
			m->len = len;
			memcpy(m->der, der, len);
			if (!EVP_PKEY_set_ex_data(key, memo_index, m))
				OPENSSL_free(m);
		}
	}
	OPENSSL_free(enc);
	OPENSSL_free(der);
}

static const struct memo *remembered(EVP_PKEY *key)
{
	pthread_once(&memo_once, memo_init);
	return memo_index < 0 ? NULL : EVP_PKEY_get_ex_data(key, memo_index);
}

int katls_spki_der(EVP_PKEY *key, uint8_t **der, size_t *len)
{
	const struct memo *m;
	int ret;

	*der = NULL;
	if (!key)
		return -EINVAL;
	m = remembered(key);
	if (m) {
		*der = OPENSSL_memdup(m->der, m->len);
		*len = m->len;
		return *der ? 0 : -EINVAL;
	}
	ret = ec_named_spki(key, der, len);
	if (ret != -ENOENT)
		return ret;
	return finish(i2d_PUBKEY(key, der), der, len);
}

int katls_spki_der_x509(X509 *x, uint8_t **der, size_t *len)
{
	*der = NULL;
	return finish(x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), der) : -1, der, len);
}
