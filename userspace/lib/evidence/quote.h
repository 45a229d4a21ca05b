/* SPDX-License-Identifier: MIT */
/*
 * TPM 2.0 quote structures: strict parsers for TPMS_ATTEST (quote),
 * TPMT_SIGNATURE and TPMT_PUBLIC, and the verifier's quote checks
 * (PROTOCOL.md §4, DESIGN.md §6).
 *
 * Everything here is pure computation over caller-supplied bytes: no TPM is
 * needed, so the verifier side of katls links this without tpm2-tss at run
 * time (only the TPM2_ALG_* constants come from tss2_tpm2_types.h).
 * Parsed structures point into the caller's input buffer and are valid only
 * while it is.  Thread-safe: no global state.
 */
#ifndef KATLS_QUOTE_H
#define KATLS_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "katls.h"

#define KATLS_PCR_COUNT		24	/* PCRs 0..23 */
#define KATLS_PCR_DIGEST_LEN	32	/* katls quotes the SHA-256 bank only */
#define KATLS_QUOTE_NONCE_MAX	32	/* extraData limit of SHA-256-only TPMs */
#define KATLS_TPM_NAME_MAX	66	/* sizeof(TPMU_NAME): alg + SHA-512 digest */
#define KATLS_PCR_BANKS_MAX	16	/* TPM2_NUM_PCR_BANKS */
#define KATLS_PCR_SELECT_MAX	4	/* TPM2_PCR_SELECT_MAX */

/* Permanent hierarchy handles: a hierarchy's (qualified) name is its handle. */
#define KATLS_TPM_RH_OWNER		0x40000001u
#define KATLS_TPM_RH_ENDORSEMENT	0x4000000bu
#define KATLS_TPM_RH_PLATFORM		0x4000000cu

/* Values of the SHA-256 PCR bank; bit i of mask says digest[i] is set. */
struct katls_pcrs {
	uint32_t mask;
	uint8_t digest[KATLS_PCR_COUNT][KATLS_PCR_DIGEST_LEN];
};

struct katls_pcr_bank_sel {
	uint16_t hash;		/* TPM2_ALG_* */
	uint8_t size;		/* sizeofSelect */
	uint8_t select[KATLS_PCR_SELECT_MAX];
};

/* TPML_PCR_SELECTION as it appears on the wire. */
struct katls_pcr_selection {
	uint32_t count;
	struct katls_pcr_bank_sel bank[KATLS_PCR_BANKS_MAX];
};

/* A parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE; pointers into the input. */
struct katls_attest {
	uint32_t magic;
	uint16_t type;
	const uint8_t *signer;		/* qualifiedSigner (TPM2B_NAME contents) */
	size_t signer_len;
	const uint8_t *extra;		/* extraData = qualifyingData */
	size_t extra_len;
	uint64_t clock;
	uint32_t reset_count;
	uint32_t restart_count;
	uint8_t safe;
	uint64_t firmware;
	struct katls_pcr_selection sel;
	const uint8_t *pcr_digest;
	size_t pcr_digest_len;
};

/* A parsed TPMT_SIGNATURE; pointers into the input. */
struct katls_tpm_sig {
	uint16_t alg;			/* TPM2_ALG_ECDSA, _RSASSA or _RSAPSS */
	uint16_t hash;			/* TPM2_ALG_SHA256, ... */
	const uint8_t *r, *s;		/* ECDSA */
	size_t r_len, s_len;
	const uint8_t *sig;		/* RSASSA / RSAPSS */
	size_t sig_len;
};

/* A parsed TPMT_PUBLIC of an RSA or ECC key; pointers into the input. */
struct katls_tpm_public {
	const uint8_t *raw;		/* the whole TPMT_PUBLIC (hashed for the Name) */
	size_t raw_len;
	uint16_t type;			/* TPM2_ALG_RSA or TPM2_ALG_ECC */
	uint16_t name_alg;
	uint32_t attrs;			/* TPMA_OBJECT */
	uint16_t sym_alg;		/* TPM2_ALG_NULL for signing keys */
	uint16_t scheme;		/* TPM2_ALG_NULL, _ECDSA, _RSASSA, ... */
	uint16_t scheme_hash;		/* 0 when the scheme carries no hash */
	uint16_t curve;			/* ECC: TPM2_ECC_NIST_P256, ... */
	uint16_t key_bits;		/* RSA */
	uint32_t exponent;		/* RSA, 0 = 65537 */
	const uint8_t *x, *y;		/* ECC point, or x = RSA modulus */
	size_t x_len, y_len;
};

/* Expectations a quote is checked against by katls_quote_verify(). */
struct katls_quote_expect {
	const uint8_t *nonce;		/* katls_quote_nonce() of the binder */
	size_t nonce_len;
	uint32_t pcr_mask;		/* exact SHA-256 selection, non-zero */
	const struct katls_pcrs *pcrs;	/* claimed values, must cover pcr_mask */
};

/* A pinned AK public key: DER SubjectPublicKeyInfo. */
struct katls_spki {
	const uint8_t *der;
	size_t len;
};

/* A TPM Name or qualified name: nameAlg (big-endian) || digest. */
struct katls_tpm_name {
	size_t len;			/* 2 + digest size; 0 = none */
	uint8_t name[KATLS_TPM_NAME_MAX];
};

/**
 * katls_quote_nonce() - the qualifyingData for a binder.
 * @binder: binder bytes (DESIGN.md §5), @len: its length.
 * @out: receives the nonce (KATLS_QUOTE_NONCE_MAX bytes room), @out_len its length.
 *
 * SHA-256-only TPMs accept at most 32 bytes of extraData, so a binder longer
 * than 32 bytes (a SHA-384 suite) is replaced by SHA-256(binder); shorter
 * binders are used as they are.  Attester and verifier both call this.
 * Return: 0 or -errno.
 */
int katls_quote_nonce(const uint8_t *binder, size_t len,
		      uint8_t out[KATLS_QUOTE_NONCE_MAX], size_t *out_len);

/**
 * katls_quote_attest_parse() - parse a TPMS_ATTEST that must be a quote.
 * Checks magic 0xff544347 and type 0x8018, every size field against the
 * remaining input and the TPM's own limits, and rejects trailing bytes.
 * Return: 0 or -EBADMSG.
 */
int katls_quote_attest_parse(const uint8_t *in, size_t in_len, struct katls_attest *out);

/**
 * katls_quote_sig_parse() - parse a TPMT_SIGNATURE (ECDSA, RSASSA or RSAPSS).
 * Return: 0, -EBADMSG (malformed, trailing bytes) or -EOPNOTSUPP (other
 * signature algorithms).
 */
int katls_quote_sig_parse(const uint8_t *in, size_t in_len, struct katls_tpm_sig *out);

/**
 * katls_quote_public_parse() - parse a TPMT_PUBLIC of an RSA or ECC key.
 * Return: 0, -EBADMSG or -EOPNOTSUPP (other object types or algorithms).
 */
int katls_quote_public_parse(const uint8_t *in, size_t in_len, struct katls_tpm_public *out);

/**
 * katls_quote_public_pkey() - the OpenSSL public key of a parsed TPMT_PUBLIC.
 * Supports ECC P-256/P-384/P-521 and RSA.  The caller frees *out.
 * Return: 0, -EOPNOTSUPP, -EBADMSG (point or modulus invalid) or -ENOMEM.
 */
int katls_quote_public_pkey(const struct katls_tpm_public *pub, EVP_PKEY **out);

/**
 * katls_quote_public_spki() - the DER SubjectPublicKeyInfo of a parsed
 * TPMT_PUBLIC's key (what i2d_PUBKEY() writes for katls_quote_public_pkey()'s
 * key); an ECC key's is encoded from its point without building the key.
 * *@der is OPENSSL_free()d by the caller.
 * Return: 0, -EOPNOTSUPP, -EBADMSG or -EINVAL.
 */
int katls_quote_public_spki(const struct katls_tpm_public *pub, uint8_t **der, size_t *len);

/**
 * katls_quote_public_name() - the TPM Name: nameAlg || H_nameAlg(TPMT_PUBLIC).
 * @out: KATLS_TPM_NAME_MAX bytes of room.
 * Return: 0, -EOPNOTSUPP (nameAlg not SHA-1/-256/-384/-512) or -ENOMEM.
 */
int katls_quote_public_name(const struct katls_tpm_public *pub,
			    uint8_t out[KATLS_TPM_NAME_MAX], size_t *out_len);

/**
 * katls_quote_name_check() - is @name a well-formed Name katls accepts:
 * nameAlg SHA-256, SHA-384 or SHA-512 followed by exactly that many bytes?
 * (SHA-1 Names are refused, as SHA-1 quote signatures are.)
 * Return: 0 or -EINVAL.
 */
int katls_quote_name_check(const uint8_t *name, size_t len);

/**
 * katls_quote_qualified_name() - the qualified name of an object:
 * nameAlg || H_nameAlg(@parent_qn || @name) (TPM 2.0 Part 1, "Qualified
 * Name"), nameAlg taken from @name.
 * @parent_qn: the parent's qualified name; for a primary key, the 4-byte
 * big-endian handle of its hierarchy (KATLS_TPM_RH_*).
 * @out: KATLS_TPM_NAME_MAX bytes of room.
 * Return: 0, -EINVAL (@name is not a katls_quote_name_check() Name, or
 * @parent_qn is empty or longer than a Name) or -ENOMEM.
 */
int katls_quote_qualified_name(const uint8_t *parent_qn, size_t parent_qn_len,
			       const uint8_t *name, size_t name_len,
			       uint8_t out[KATLS_TPM_NAME_MAX], size_t *out_len);

/**
 * katls_quote_check_signer() - was the quote @a made by the key named @name?
 *
 * A TPM writes the qualified name of the signing key into every
 * TPMS_ATTEST it signs (qualifiedSigner).  That is not the plain Name: for
 * a primary key it is H(hierarchy handle || Name), for a child H(parent's
 * QN || Name).  So this compares qualifiedSigner, exactly, with
 * katls_quote_qualified_name(@parent_qn, @name); with @parent_qn NULL the
 * key must be a primary key and the owner, endorsement and platform
 * hierarchies are the candidate parents (katls provision makes an owner
 * primary).  Each candidate is an exact comparison: the qualified name
 * commits to @name whatever the parent.
 * @out_reason: KATLS_R_OK, KATLS_R_QUOTE_SIGNATURE (names differ) or
 * KATLS_R_INTERNAL.  @msg, @msg_size: optional one-line message.
 * Return: 0 if qualifiedSigner names the key; -EACCES if not; -EINVAL or
 * -ENOMEM.
 */
int katls_quote_check_signer(const struct katls_attest *a, const uint8_t *name, size_t name_len,
			     const uint8_t *parent_qn, size_t parent_qn_len,
			     enum katls_reason *out_reason, char *msg, size_t msg_size);

/**
 * katls_quote_is_ak() - does a parsed TPMT_PUBLIC describe a usable AK?
 * True for a restricted, fixedTPM, sensitiveDataOrigin signing key (not a
 * decryption key) whose scheme is one katls_quote_verify() can check.
 */
bool katls_quote_is_ak(const struct katls_tpm_public *pub);

/**
 * katls_quote_pcr_digest() - H(PCR values of @mask in ascending order).
 * @hash_alg: TPM2_ALG_* of H; @out: 64 bytes of room.
 * Return: 0, -ENOENT (a PCR of @mask has no value in @pcrs), -EOPNOTSUPP or
 * -ENOMEM.
 */
int katls_quote_pcr_digest(uint16_t hash_alg, uint32_t mask, const struct katls_pcrs *pcrs,
			   uint8_t out[64], size_t *out_len);

/**
 * katls_quote_verify() - verify a TPM quote against expectations.
 * @attest, @attest_len: TPMS_ATTEST bytes.  @sig, @sig_len: TPMT_SIGNATURE bytes.
 * @ak: the AK public key (whether the AK is trusted is katls_quote_ak_pinned()).
 * @exp: expected nonce, PCR selection and the claimed PCR values.
 * @out_reason: set on every return (KATLS_R_OK on success).
 * @msg, @msg_size: optional buffer for a one-line human-readable message.
 *
 * Order, first failure wins: structure (magic, type, selection equal to the
 * expected one, KATLS_R_QUOTE_STRUCTURE) → extraData equal to the nonce
 * (KATLS_R_BINDER) → signature by @ak over H(TPMS_ATTEST)
 * (KATLS_R_QUOTE_SIGNATURE) → pcrDigest equal to H(claimed PCR values)
 * (KATLS_R_PCR_DIGEST).  SHA-1 signatures are refused.
 * Return: 0 if the quote verifies; -EBADMSG (malformed input) or -EACCES
 * (well-formed, check failed) with the reason set; -EINVAL or -ENOMEM with
 * KATLS_R_INTERNAL.
 */
int katls_quote_verify(const uint8_t *attest, size_t attest_len,
		       const uint8_t *sig, size_t sig_len, EVP_PKEY *ak,
		       const struct katls_quote_expect *exp,
		       enum katls_reason *out_reason, char *msg, size_t msg_size);

/**
 * katls_quote_ak_pinned() - is @ak one of the @num_pins pinned keys?
 * Compares the DER SubjectPublicKeyInfo of @ak with each pin.
 * Return: 0 if pinned; -EACCES with KATLS_R_AK_UNTRUSTED if not; -ENOMEM with
 * KATLS_R_INTERNAL.
 */
int katls_quote_ak_pinned(EVP_PKEY *ak, const struct katls_spki *pins, size_t num_pins,
			  enum katls_reason *out_reason, char *msg, size_t msg_size);
/** katls_quote_spki_pinned() - the same for the AK's DER SubjectPublicKeyInfo. */
int katls_quote_spki_pinned(const uint8_t *der, size_t len, const struct katls_spki *pins,
			    size_t num_pins, enum katls_reason *out_reason, char *msg,
			    size_t msg_size);

/**
 * katls_quote_ak_name_pinned() - is the AK Name @name (katls_quote_public_name()
 * of the TPMT_PUBLIC that verified the quote) one of the @num_pins pinned Names?
 * A Name is a hash of the whole TPMT_PUBLIC, so a Name pin fixes the key's
 * attributes (restricted, fixedTPM, sign), nameAlg, policy and scheme as
 * well as the key; a key pin (katls_quote_ak_pinned()) fixes the key only.
 * An enrollment record that stores an AK's Name is checked with this call.
 * Return: 0 if pinned; -EACCES with KATLS_R_AK_UNTRUSTED if not.
 */
int katls_quote_ak_name_pinned(const uint8_t *name, size_t name_len,
			       const struct katls_tpm_name *pins, size_t num_pins,
			       enum katls_reason *out_reason, char *msg, size_t msg_size);

#endif /* KATLS_QUOTE_H */
