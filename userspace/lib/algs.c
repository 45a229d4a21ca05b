// SPDX-License-Identifier: MIT
/* Hash algorithms fetched once per process; see algs.h. */
#include <pthread.h>
#include <string.h>

#include <openssl/obj_mac.h>

#include "algs.h"
#include "ima.h"

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
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++)
		fetched[i] = EVP_MD_fetch(NULL, table[i].name, NULL);
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
