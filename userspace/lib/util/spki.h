/* SPDX-License-Identifier: MIT */
/*
 * DER SubjectPublicKeyInfo of a public key, as i2d_PUBKEY() writes it, for
 * the hashes that bind keys (binder, aik, AK fingerprints and pins).
 *
 * OpenSSL 3's i2d_PUBKEY() sets up a provider encoder on every call, which
 * costs more than the ECDSA verification the key is then used for.  A named
 * curve EC key (every TPM AK, the usual EA leaf) is encoded here directly
 * from its group and point, byte for byte what the encoder writes; any
 * other key goes through i2d_PUBKEY().
 */
#ifndef KATLS_SPKI_H
#define KATLS_SPKI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/**
 * katls_spki_der() - *@der (OPENSSL_free() it) and *@len: the DER
 * SubjectPublicKeyInfo of @key.  Return: 0 or -EINVAL.
 */
int katls_spki_der(EVP_PKEY *key, uint8_t **der, size_t *len);
/**
 * katls_spki_der_ec() - the same for the named curve @nid and the encoded
 * point @point (0x04 || X || Y), without building a key.
 */
int katls_spki_der_ec(int nid, const uint8_t *point, size_t point_len, uint8_t **der,
		      size_t *len);
/** katls_spki_der_x509() - the same for a certificate's key, as the certificate holds it. */
int katls_spki_der_x509(X509 *x, uint8_t **der, size_t *len);
/**
 * katls_spki_remember() - attach to @x's public key its SubjectPublicKeyInfo
 * as @x holds it, so that katls_spki_der() of that key (the binder of every
 * verification under a cached certificate) copies it instead of encoding
 * the key again.  Call before @x is shared between threads.
 */
void katls_spki_remember(X509 *x);

#endif /* KATLS_SPKI_H */
