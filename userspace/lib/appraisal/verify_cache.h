/* SPDX-License-Identifier: MIT */
/*
 * What a verifier may remember between verifications of the same peer
 * without checking less: results that are pure functions of public bytes.
 *
 *   certificates  DER -> the parsed X509 (OpenSSL 3 decodes the public key
 *                 of every certificate it parses through a provider
 *                 decoder: more expensive than the ECDSA check that follows)
 *   chains        a leaf and its intermediates, by their DER, and the X.509
 *                 purpose -> "X509_verify_cert() accepted it against this
 *                 policy's trust store", valid from the latest notBefore to
 *                 the earliest notAfter of the chain it built; outside that
 *                 window (or for any other input) the chain is checked anew
 *   AK keys       TPMT_PUBLIC bytes -> the EVP_PKEY made from them
 *
 * Keys are SHA-256 digests of the exact input bytes, so a hit returns what
 * the computation would return.  One cache per compiled policy (the chain
 * verdicts depend on its trust anchors); a reload starts a new one.
 * Bounded: KATLS_VERIFY_CACHE_SLOTS entries of each kind, the least
 * recently used replaced.  Thread-safe: one mutex, held only for lookups and
 * inserts, never while parsing or verifying.
 */
#ifndef KATLS_VERIFY_CACHE_H
#define KATLS_VERIFY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define KATLS_VERIFY_CACHE_SLOTS	64

struct katls_verify_cache;

/** katls_verify_cache_new() - Return: 0 and *@out, or -ENOMEM. */
int katls_verify_cache_new(struct katls_verify_cache **out);
/** katls_verify_cache_free() - NULL-safe. */
void katls_verify_cache_free(struct katls_verify_cache *c);

/**
 * katls_verify_cache_x509() - the certificate @der (exactly @len bytes of
 * DER): a new reference to the one parsed before from the same bytes, else
 * d2i_X509() of them (remembered).  Return: the X509, NULL if it does not
 * parse exactly.
 */
X509 *katls_verify_cache_x509(struct katls_verify_cache *c, const uint8_t *der, size_t len);

/**
 * katls_verify_cache_chain_ok() - did X509_verify_cert() accept @leaf with
 * the intermediates @chain[1..] (leaf first, as an authenticator carries
 * it) for @purpose, and is the time now inside that chain's validity?
 * Only certificates katls_verify_cache_x509() returned can be known.
 */
bool katls_verify_cache_chain_ok(struct katls_verify_cache *c, X509 *leaf,
				 STACK_OF(X509) *chain, int purpose);
/**
 * katls_verify_cache_chain_add() - remember that @ctx (after a successful
 * X509_verify_cert()) accepted @leaf with @chain for @purpose.
 */
void katls_verify_cache_chain_add(struct katls_verify_cache *c, X509 *leaf,
				  STACK_OF(X509) *chain, int purpose, X509_STORE_CTX *ctx);

/**
 * katls_verify_cache_ak() - the public key of the TPMT_PUBLIC @pub (@len
 * bytes) as @make builds it: a new reference to the one built before from
 * the same bytes, else @make's (remembered on success).
 * Return: 0 and *@out, or @make's error.
 */
int katls_verify_cache_ak(struct katls_verify_cache *c, const uint8_t *pub, size_t len,
			  int (*make)(const uint8_t *pub, size_t len, EVP_PKEY **out),
			  EVP_PKEY **out);

#endif /* KATLS_VERIFY_CACHE_H */
