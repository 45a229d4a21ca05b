// SPDX-License-Identifier: MIT
/* Hash algorithms fetched once per process; see algs.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>

#include "appraisal/ima.h"
#include "util/algs.h"

static const struct {
	const char *name;	/* OpenSSL's canonical name */
	int nid;
	uint16_t tpm_alg;
} table[KATLS_IMA_NUM_HASHES] = {
	[KATLS_IMA_SHA1]	= { "SHA1", NID_sha1, 0x0004 },
	[KATLS_IMA_SHA256]	= { "SHA2-256", NID_sha256, 0x000b },
	[KATLS_IMA_SHA384]	= { "SHA2-384", NID_sha384, 0x000c },
	[KATLS_IMA_SHA512]	= { "SHA2-512", NID_sha512, 0x000d },
};

static EVP_MD *fetched[KATLS_IMA_NUM_HASHES];
static EVP_MAC_CTX *hmac[KATLS_IMA_NUM_HASHES];	/* keyless, digest set */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++) {
		OSSL_PARAM params[2] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							 (char *)table[i].name, 0),
			OSSL_PARAM_construct_end(),
		};

		fetched[i] = EVP_MD_fetch(NULL, table[i].name, NULL);
		hmac[i] = mac ? EVP_MAC_CTX_new(mac) : NULL;
		if (hmac[i] && EVP_MAC_CTX_set_params(hmac[i], params) != 1) {
			EVP_MAC_CTX_free(hmac[i]);
			hmac[i] = NULL;
		}
	}
	EVP_MAC_free(mac);	/* the contexts hold their references */
}

const EVP_MD *katls_md(unsigned int alg)
{
	if (alg >= KATLS_IMA_NUM_HASHES)
		return NULL;
	pthread_once(&once, fetch_all);
	return fetched[alg];
}

const EVP_MD *katls_md_tpm(uint16_t tpm_alg)
{
	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++)
		if (table[i].tpm_alg == tpm_alg)
			return katls_md(i);
	return NULL;
}

const EVP_MD *katls_md_prefetched(const EVP_MD *md)
{
	for (unsigned int i = 0; md && i < KATLS_IMA_NUM_HASHES; i++)
		if (EVP_MD_get_type(md) == table[i].nid)
			return katls_md(i) ? katls_md(i) : md;
	return md;
}

int katls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *data,
	       size_t data_len, uint8_t *out, unsigned int *out_len)
{
	EVP_MAC_CTX *ctx = NULL;
	size_t n = 0;
	int ok;

	pthread_once(&once, fetch_all);
	for (unsigned int i = 0; md && i < KATLS_IMA_NUM_HASHES && !ctx; i++)
		if (EVP_MD_get_type(md) == table[i].nid && hmac[i])
			ctx = EVP_MAC_CTX_dup(hmac[i]);
	if (!ctx)	/* another digest: the slow way */
		return HMAC(md, key, (int)key_len, data, data_len, out, out_len) ? 0 : -EIO;
	ok = EVP_MAC_init(ctx, key, key_len, NULL) == 1 &&
	     EVP_MAC_update(ctx, data, data_len) == 1 &&
	     EVP_MAC_final(ctx, out, &n, EVP_MAX_MD_SIZE) == 1;
	EVP_MAC_CTX_free(ctx);
	*out_len = (unsigned int)n;
	return ok ? 0 : -EIO;
}
