/* SPDX-License-Identifier: MIT */
/*
 * Hash algorithms fetched once per process.
 *
 * OpenSSL 3 resolves an algorithm on every use unless it is fetched
 * explicitly: EVP_sha256() handed to EVP_DigestInit_ex(), or a digest named
 * by string, costs a method-store lookup under a read-write lock each time.
 * A verification hashes hundreds of times, on many threads at once, so the
 * verifier's hot paths take their EVP_MDs from here: fetched from the
 * default library context on first use, immutable, shared by every thread,
 * and kept for the life of the process.  So are the HMAC contexts katls_hmac()
 * starts from (one per digest, copied for each use).
 */
#ifndef KATLS_ALGS_H
#define KATLS_ALGS_H

#include <stdint.h>

#include <openssl/evp.h>

/**
 * katls_md() - the pre-fetched digest of @alg (enum katls_ima_hash: SHA-1,
 * SHA-256, SHA-384, SHA-512), or NULL for another value or if OpenSSL
 * cannot provide it.
 */
const EVP_MD *katls_md(unsigned int alg);
/** katls_md_tpm() - the same for a TPM_ALG_ID (0x0004, 0x000b, 0x000c, 0x000d). */
const EVP_MD *katls_md_tpm(uint16_t tpm_alg);
/**
 * katls_md_prefetched() - the pre-fetched digest with @md's name (@md
 * itself when there is none), for digests that come from elsewhere (a
 * cipher suite, a saved exchange).
 */
const EVP_MD *katls_md_prefetched(const EVP_MD *md);

/**
 * katls_hmac() - HMAC-@md(@key, @data) into @out (EVP_MAX_MD_SIZE bytes of
 * room), *@out_len its length.  HMAC() looks up the MAC and the digest by
 * name on every call; this starts from an HMAC context made once per digest.
 * Return: 0 or -EIO.
 */
int katls_hmac(const EVP_MD *md, const uint8_t *key, size_t key_len, const uint8_t *data,
	       size_t data_len, uint8_t *out, unsigned int *out_len);

#endif /* KATLS_ALGS_H */
