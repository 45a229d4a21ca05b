/* SPDX-License-Identifier: MIT */
/*
 * TPM 2.0 credential protection in software: what TPM2_MakeCredential
 * computes (TPM 2.0 Part 1 §24 "Credential Protection", Part 2
 * TPMS_ID_OBJECT), so that a registrar without a TPM can challenge an
 * attester to prove that the key of a given Name is resident in the TPM that
 * holds a given endorsement key (EK).  Only that TPM can run
 * TPM2_ActivateCredential on the result, and only with the object of that
 * Name loaded.
 *
 *   seed, encSecret  = secret sharing to the EK with label "IDENTITY"
 *       RSA EK: seed = random (nameAlg digest size);
 *               encSecret = RSA-OAEP(nameAlg, label "IDENTITY\0", seed)
 *       ECC EK: ephemeral e on the EK's curve; Z = x(e * Q_EK);
 *               seed = KDFe(nameAlg, Z, "IDENTITY", x(e * G), x(Q_EK), digest bits);
 *               encSecret = TPMS_ECC_POINT(e * G)
 *   symKey       = KDFa(nameAlg, seed, "STORAGE", Name, -, symmetric key bits)
 *   encIdentity  = AES-CFB(symKey, IV = 0, TPM2B_DIGEST(credential))
 *   hmacKey      = KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 *   outerHMAC    = HMAC_nameAlg(hmacKey, encIdentity || Name)
 *   credentialBlob (TPM2B_ID_OBJECT contents) = TPM2B_DIGEST(outerHMAC) || encIdentity
 *
 * nameAlg and the symmetric algorithm are the EK's.  The functions that undo
 * this (katls_credential_seed_recover(), katls_credential_unwrap()) need the
 * EK's private key and exist for tests and cross-checks: an attester uses
 * its TPM (katls_tpm_activate_credential()).
 *
 * Pure computation over caller buffers: no TPM, no global state,
 * thread-safe.  Seeds, derived keys and credentials are wiped
 * (OPENSSL_cleanse) before the functions return.
 */
#ifndef KATLS_CREDENTIAL_H
#define KATLS_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "evidence/quote.h"
#include "util/buf.h"

#define KATLS_CRED_DIGEST_MAX	64		/* SHA-512 */
#define KATLS_CRED_BLOB_MAX	(2 * (2 + 64))	/* sizeof(TPMS_ID_OBJECT) */
#define KATLS_CRED_ENC_MAX	512		/* sizeof(TPMU_ENCRYPTED_SECRET) */
#define KATLS_CRED_FILE_MAGIC	0xbadcc0deu	/* tpm2-tools file header */

/* A parsed, checked EK public area; pointers into the caller's input. */
struct katls_ek_public {
	struct katls_tpm_public pub;	/* type, nameAlg, attributes, key */
	uint16_t sym_bits;		/* AES key bits: 128, 192 or 256 */
	size_t digest_len;		/* nameAlg digest size (the seed size) */
};

/* What TPM2_MakeCredential returns: the two TPM2B contents. */
struct katls_credential {
	uint8_t blob[KATLS_CRED_BLOB_MAX];	/* TPM2B_ID_OBJECT */
	size_t blob_len;
	uint8_t secret[KATLS_CRED_ENC_MAX];	/* TPM2B_ENCRYPTED_SECRET */
	size_t secret_len;
};

/**
 * katls_kdfa() - KDFa (TPM 2.0 Part 1 §11.4.10.2): SP 800-108 counter-mode
 * HMAC, input counter || label || 0x00 || @u || @v || bits (big-endian).
 * @label: without its NUL (the NUL is part of the input); NULL = no label.
 * @bits: output size; if not a multiple of 8 the first byte keeps only its
 *        low bits % 8 bits.  @out receives (@bits + 7) / 8 bytes.
 * Return: 0, -EINVAL (bits 0 or over @out_size bytes), -EOPNOTSUPP (hash),
 * -ENOMEM.
 */
int katls_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len, const char *label,
	       const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
	       uint32_t bits, uint8_t *out, size_t out_size);

/**
 * katls_kdfe() - KDFe (TPM 2.0 Part 1 §11.4.10.3): SP 800-56A concatenation
 * KDF, H(counter || @z || label || 0x00 || @u || @v) per block; same
 * conventions as katls_kdfa().
 */
int katls_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len, const char *label,
	       const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
	       uint32_t bits, uint8_t *out, size_t out_size);

/**
 * katls_ek_public_parse() - parse a TPMT_PUBLIC and check that it can
 * receive credentials: an RSA (2048..4096 bit) or ECC (P-256, P-384, P-521)
 * key with attributes restricted, decrypt, fixedTPM and not sign, symmetric
 * AES-128/192/256-CFB, nameAlg SHA-256/384/512.
 * @err: optional, receives one line saying what is wrong.
 * Return: 0; -EBADMSG (malformed); -EOPNOTSUPP (an algorithm katls does not
 * do); -EINVAL (well-formed, but not such a key).
 */
int katls_ek_public_parse(const uint8_t *in, size_t in_len, struct katls_ek_public *out,
			  char *err, size_t err_len);

/**
 * katls_credential_make() - TPM2_MakeCredential in software.
 * @ek: the EK that must activate it.
 * @name, @name_len: TPM Name of the object it is made for (nameAlg || digest).
 * @cred, @cred_len: the credential, 1..@ek->digest_len bytes.
 * @out: the credential blob and encrypted seed.
 * Return: 0, -EINVAL (bad sizes), -EBADMSG (unusable EK key), -ENOMEM, -EIO.
 */
int katls_credential_make(const struct katls_ek_public *ek, const uint8_t *name,
			  size_t name_len, const uint8_t *cred, size_t cred_len,
			  struct katls_credential *out);

/**
 * katls_credential_seed_new() - secret sharing to @ek with label "IDENTITY":
 * a fresh seed (@ek->digest_len bytes into @seed) and its encryption to the
 * EK (TPM2B_ENCRYPTED_SECRET contents into @enc, KATLS_CRED_ENC_MAX bytes).
 */
int katls_credential_seed_new(const struct katls_ek_public *ek,
			      uint8_t seed[KATLS_CRED_DIGEST_MAX], size_t *seed_len,
			      uint8_t *enc, size_t *enc_len);

/**
 * katls_credential_seed_ecc() - the ECC secret sharing of
 * katls_credential_seed_new() with a given ephemeral private scalar @d
 * (big-endian, 1..n-1): deterministic, for known-answer tests.
 * Return: as katls_credential_seed_new(); -EINVAL for a bad @d.
 */
int katls_credential_seed_ecc(const struct katls_ek_public *ek, const uint8_t *d, size_t d_len,
			      uint8_t seed[KATLS_CRED_DIGEST_MAX], size_t *seed_len,
			      uint8_t *enc, size_t *enc_len);

/**
 * katls_credential_seed_recover() - the EK side of the secret sharing, with
 * the EK private key in software (tests, cross-checks): @enc -> @seed.
 * Return: 0, -EBADMSG (does not decrypt / not a point), -EINVAL, -ENOMEM.
 */
int katls_credential_seed_recover(EVP_PKEY *ek_priv, const struct katls_ek_public *ek,
				  const uint8_t *enc, size_t enc_len,
				  uint8_t seed[KATLS_CRED_DIGEST_MAX], size_t *seed_len);

/**
 * katls_credential_wrap() - the deterministic half of MakeCredential: the
 * TPM2B_ID_OBJECT contents protecting @cred under @seed for @name.
 * @blob: KATLS_CRED_BLOB_MAX bytes of room.
 */
int katls_credential_wrap(const struct katls_ek_public *ek, const uint8_t *seed,
			  size_t seed_len, const uint8_t *name, size_t name_len,
			  const uint8_t *cred, size_t cred_len, uint8_t *blob, size_t *blob_len);

/**
 * katls_credential_unwrap() - the integrity check and decryption
 * ActivateCredential does once it has the seed (tests, cross-checks).
 * @cred: KATLS_CRED_DIGEST_MAX bytes of room.
 * Return: 0; -EBADMSG (malformed, or the outer HMAC does not match: wrong
 * Name, wrong seed or tampered blob); -EINVAL; -ENOMEM.
 */
int katls_credential_unwrap(const struct katls_ek_public *ek, const uint8_t *seed,
			    size_t seed_len, const uint8_t *name, size_t name_len,
			    const uint8_t *blob, size_t blob_len,
			    uint8_t cred[KATLS_CRED_DIGEST_MAX], size_t *cred_len);

/**
 * katls_credential_encode() - the file format of tpm2_makecredential and
 * tpm2_activatecredential: magic 0xbadcc0de || version 1 (big-endian u32
 * each) || TPM2B_ID_OBJECT || TPM2B_ENCRYPTED_SECRET.  Replaces @out.
 */
int katls_credential_encode(const struct katls_credential *c, struct katls_buf *out);

/**
 * katls_credential_decode() - strict parser of that format: magic,
 * version 1, sizes within the TPM's limits, no trailing bytes.
 * Return: 0 or -EBADMSG.
 */
int katls_credential_decode(const uint8_t *in, size_t in_len, struct katls_credential *out);

#endif /* KATLS_CREDENTIAL_H */
