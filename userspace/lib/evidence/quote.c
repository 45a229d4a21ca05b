// SPDX-License-Identifier: MIT
/*
 * TPM 2.0 quote parsing and verification; see quote.h.
 *
 * Parsers follow the TPM 2.0 Part 2 structures field by field through a
 * katls_cursor and bound every TPM2B by the TPM's own maximum for that type,
 * not only by the remaining input.  The verifier checks cheap structural
 * facts before it spends a signature verification, and never trusts the
 * quote's signature to imply anything about its selection or nonce.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "appraisal/ima.h"
#include "evidence/quote.h"
#include "util/algs.h"
#include "util/buf.h"
#include "util/spki.h"

#define TPM_GENERATED		0xff544347u
#define MAX_DIGEST		64	/* SHA-512 */
#define MAX_ECC_BYTES		128	/* TPM2_MAX_ECC_KEY_BYTES */
#define MAX_RSA_BYTES		512	/* TPM2_MAX_RSA_KEY_BYTES */

/* Where katls_quote_verify() reports its verdict. */
struct report {
	enum katls_reason *reason;
	char *msg;
	size_t msg_size;
};

__attribute__((format(printf, 4, 5)))
static int report(const struct report *rep, enum katls_reason reason, int err,
		  const char *fmt, ...)
{
	va_list ap;

	if (rep->reason)
		*rep->reason = reason;
	if (rep->msg && rep->msg_size) {
		va_start(ap, fmt);
		vsnprintf(rep->msg, rep->msg_size, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* One log line naming the failing OpenSSL call; returns err. */
static int ossl_err(const char *call, int err)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "katls: %s: %s\n", call, e ? buf : "failed");
	ERR_clear_error();
	return err;
}

static const EVP_MD *tpm_md(uint16_t alg)
{
	return katls_md_tpm(alg);
}

static bool strong_hash(uint16_t alg)
{
	return alg == TPM2_ALG_SHA256 || alg == TPM2_ALG_SHA384 || alg == TPM2_ALG_SHA512;
}

static int digest(uint16_t alg, const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	const EVP_MD *md = tpm_md(alg);
	unsigned int n;

	if (!md)
		return -EOPNOTSUPP;
	if (!EVP_Digest(in, len, out, &n, md, NULL))
		return ossl_err("EVP_Digest", -ENOMEM);
	*out_len = n;
	return 0;
}

int katls_quote_nonce(const uint8_t *binder, size_t len,
		      uint8_t out[KATLS_QUOTE_NONCE_MAX], size_t *out_len)
{
	if (!binder || !len)
		return -EINVAL;
	if (len <= KATLS_QUOTE_NONCE_MAX) {
		memcpy(out, binder, len);
		*out_len = len;
		return 0;
	}
	return digest(TPM2_ALG_SHA256, binder, len, out, out_len);
}

/* ---- parsers ------------------------------------------------------------- */

/* A TPM2B whose contents may not exceed max bytes. */
static int get_tpm2b(struct katls_cursor *c, size_t max, const uint8_t **p, size_t *len)
{
	struct katls_cursor sub;

	if (katls_get_vec(c, 2, &sub) || sub.len > max)
		return -EBADMSG;
	*p = sub.p;
	*len = sub.len;
	return 0;
}

static int get_pcr_selection(struct katls_cursor *c, struct katls_pcr_selection *sel)
{
	if (katls_get_be32(c, &sel->count) || sel->count > KATLS_PCR_BANKS_MAX)
		return -EBADMSG;
	for (uint32_t i = 0; i < sel->count; i++) {
		struct katls_pcr_bank_sel *b = &sel->bank[i];

		if (katls_get_be16(c, &b->hash) || katls_get_u8(c, &b->size) ||
		    b->size > KATLS_PCR_SELECT_MAX || katls_get_copy(c, b->select, b->size))
			return -EBADMSG;
	}
	return 0;
}

int katls_quote_attest_parse(const uint8_t *in, size_t in_len, struct katls_attest *out)
{
	struct katls_cursor c;

	memset(out, 0, sizeof(*out));
	katls_cursor_init(&c, in, in_len);
	if (katls_get_be32(&c, &out->magic) || out->magic != TPM_GENERATED)
		return -EBADMSG;
	if (katls_get_be16(&c, &out->type) || out->type != TPM2_ST_ATTEST_QUOTE)
		return -EBADMSG;
	if (get_tpm2b(&c, KATLS_TPM_NAME_MAX, &out->signer, &out->signer_len) ||
	    get_tpm2b(&c, MAX_DIGEST, &out->extra, &out->extra_len))
		return -EBADMSG;
	/* TPMS_CLOCK_INFO; safe is a TPMI_YES_NO. */
	if (katls_get_be64(&c, &out->clock) || katls_get_be32(&c, &out->reset_count) ||
	    katls_get_be32(&c, &out->restart_count) || katls_get_u8(&c, &out->safe) ||
	    out->safe > 1 || katls_get_be64(&c, &out->firmware))
		return -EBADMSG;
	/* TPMS_QUOTE_INFO */
	if (get_pcr_selection(&c, &out->sel) ||
	    get_tpm2b(&c, MAX_DIGEST, &out->pcr_digest, &out->pcr_digest_len))
		return -EBADMSG;
	return katls_get_end(&c);
}

int katls_quote_sig_parse(const uint8_t *in, size_t in_len, struct katls_tpm_sig *out)
{
	struct katls_cursor c;

	memset(out, 0, sizeof(*out));
	katls_cursor_init(&c, in, in_len);
	if (katls_get_be16(&c, &out->alg))
		return -EBADMSG;
	switch (out->alg) {
	case TPM2_ALG_ECDSA:
		if (katls_get_be16(&c, &out->hash) ||
		    get_tpm2b(&c, MAX_ECC_BYTES, &out->r, &out->r_len) ||
		    get_tpm2b(&c, MAX_ECC_BYTES, &out->s, &out->s_len) ||
		    !out->r_len || !out->s_len)
			return -EBADMSG;
		break;
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		if (katls_get_be16(&c, &out->hash) ||
		    get_tpm2b(&c, MAX_RSA_BYTES, &out->sig, &out->sig_len) || !out->sig_len)
			return -EBADMSG;
		break;
	default:
		return -EOPNOTSUPP;
	}
	return katls_get_end(&c);
}

/* TPMT_SYM_DEF_OBJECT: NULL, or a block cipher with keyBits and mode. */
static int get_sym(struct katls_cursor *c, uint16_t *alg)
{
	uint16_t bits, mode;

	if (katls_get_be16(c, alg))
		return -EBADMSG;
	switch (*alg) {
	case TPM2_ALG_NULL:
		return 0;
	case TPM2_ALG_AES:
	case TPM2_ALG_SM4:
	case TPM2_ALG_CAMELLIA:
		if (katls_get_be16(c, &bits) || katls_get_be16(c, &mode))
			return -EBADMSG;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* TPMT_RSA_SCHEME / TPMT_ECC_SCHEME / TPMT_KDF_SCHEME: selector + details. */
static int get_scheme(struct katls_cursor *c, uint16_t *scheme, uint16_t *hash)
{
	uint16_t count;

	*hash = 0;
	if (katls_get_be16(c, scheme))
		return -EBADMSG;
	switch (*scheme) {
	case TPM2_ALG_NULL:
	case TPM2_ALG_RSAES:		/* TPMS_EMPTY */
		return 0;
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
	case TPM2_ALG_OAEP:
	case TPM2_ALG_ECDSA:
	case TPM2_ALG_ECDH:
	case TPM2_ALG_ECSCHNORR:
	case TPM2_ALG_SM2:
	case TPM2_ALG_ECMQV:
	case TPM2_ALG_MGF1:
	case TPM2_ALG_KDF1_SP800_56A:
	case TPM2_ALG_KDF2:
	case TPM2_ALG_KDF1_SP800_108:
		return katls_get_be16(c, hash) ? -EBADMSG : 0;
	case TPM2_ALG_ECDAA:		/* hashAlg + count */
		return katls_get_be16(c, hash) || katls_get_be16(c, &count) ? -EBADMSG : 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int get_ecc_parms(struct katls_cursor *c, struct katls_tpm_public *pub)
{
	uint16_t kdf, kdf_hash;
	int ret;

	ret = get_sym(c, &pub->sym_alg);
	if (!ret)
		ret = get_scheme(c, &pub->scheme, &pub->scheme_hash);
	if (!ret && katls_get_be16(c, &pub->curve))
		ret = -EBADMSG;
	if (!ret)
		ret = get_scheme(c, &kdf, &kdf_hash);
	if (!ret && (get_tpm2b(c, MAX_ECC_BYTES, &pub->x, &pub->x_len) ||
		     get_tpm2b(c, MAX_ECC_BYTES, &pub->y, &pub->y_len)))
		ret = -EBADMSG;
	return ret;
}

static int get_rsa_parms(struct katls_cursor *c, struct katls_tpm_public *pub)
{
	int ret;

	ret = get_sym(c, &pub->sym_alg);
	if (!ret)
		ret = get_scheme(c, &pub->scheme, &pub->scheme_hash);
	if (!ret && (katls_get_be16(c, &pub->key_bits) || katls_get_be32(c, &pub->exponent) ||
		     get_tpm2b(c, MAX_RSA_BYTES, &pub->x, &pub->x_len)))
		ret = -EBADMSG;
	return ret;
}

int katls_quote_public_parse(const uint8_t *in, size_t in_len, struct katls_tpm_public *out)
{
	struct katls_cursor c;
	const uint8_t *policy;
	size_t policy_len;
	int ret;

	memset(out, 0, sizeof(*out));
	out->raw = in;
	out->raw_len = in_len;
	katls_cursor_init(&c, in, in_len);
	if (katls_get_be16(&c, &out->type) || katls_get_be16(&c, &out->name_alg) ||
	    katls_get_be32(&c, &out->attrs) || get_tpm2b(&c, MAX_DIGEST, &policy, &policy_len))
		return -EBADMSG;
	switch (out->type) {
	case TPM2_ALG_ECC:
		ret = get_ecc_parms(&c, out);
		break;
	case TPM2_ALG_RSA:
		ret = get_rsa_parms(&c, out);
		break;
	default:
		return -EOPNOTSUPP;
	}
	return ret ? ret : katls_get_end(&c);
}

/* ---- keys and names ------------------------------------------------------- */

static int pkey_fromdata(const char *type, const OSSL_PARAM *params, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	int ret = 0;

	if (!ctx)
		return ossl_err("EVP_PKEY_CTX_new_from_name", -ENOMEM);
	/* Fails for points off the curve: bad input, not an internal error. */
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) <= 0) {
		ERR_clear_error();
		ret = -EBADMSG;
	}
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

static const char *ecc_group(uint16_t curve, size_t *field_len)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256:
		*field_len = 32;
		return "prime256v1";
	case TPM2_ECC_NIST_P384:
		*field_len = 48;
		return "secp384r1";
	case TPM2_ECC_NIST_P521:
		*field_len = 66;
		return "secp521r1";
	default:
		return NULL;
	}
}

#define ECC_POINT_MAX	(1 + 2 * 66)

/* The uncompressed point (0x04 || X || Y, each padded to the field size). */
static int ecc_point(const struct katls_tpm_public *pub, uint8_t point[ECC_POINT_MAX],
		     size_t *len, const char **group)
{
	size_t fl;

	*group = ecc_group(pub->curve, &fl);
	if (!*group)
		return -EOPNOTSUPP;
	if (!pub->x_len || !pub->y_len || pub->x_len > fl || pub->y_len > fl)
		return -EBADMSG;
	memset(point, 0, 1 + 2 * fl);
	point[0] = 0x04;
	memcpy(point + 1 + fl - pub->x_len, pub->x, pub->x_len);
	memcpy(point + 1 + 2 * fl - pub->y_len, pub->y, pub->y_len);
	*len = 1 + 2 * fl;
	return 0;
}

static int ecc_pkey(const struct katls_tpm_public *pub, EVP_PKEY **out)
{
	uint8_t point[ECC_POINT_MAX];
	const char *group;
	OSSL_PARAM params[3];
	size_t len;
	int ret = ecc_point(pub, point, &len, &group);

	if (ret)
		return ret;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, len);
	params[2] = OSSL_PARAM_construct_end();
	return pkey_fromdata("EC", params, out);
}

static int rsa_pkey(const struct katls_tpm_public *pub, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int ret = -ENOMEM;

	if (pub->key_bits < 1024 || pub->key_bits > 8 * MAX_RSA_BYTES || pub->key_bits % 8 ||
	    pub->x_len != pub->key_bits / 8u || !(pub->x[0] & 0x80))
		return -EBADMSG;
	n = BN_bin2bn(pub->x, (int)pub->x_len, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld || !BN_set_word(e, pub->exponent ? pub->exponent : 65537) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		ossl_err("OSSL_PARAM_BLD_to_param", 0);
		goto out;
	}
	ret = pkey_fromdata("RSA", params, out);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return ret;
}

int katls_quote_public_pkey(const struct katls_tpm_public *pub, EVP_PKEY **out)
{
	*out = NULL;
	switch (pub->type) {
	case TPM2_ALG_ECC:
		return ecc_pkey(pub, out);
	case TPM2_ALG_RSA:
		return rsa_pkey(pub, out);
	default:
		return -EOPNOTSUPP;
	}
}

int katls_quote_public_spki(const struct katls_tpm_public *pub, uint8_t **der, size_t *len)
{
	uint8_t point[ECC_POINT_MAX];
	EVP_PKEY *key = NULL;
	const char *group;
	size_t point_len;
	int ret;

	*der = NULL;
	if (pub->type != TPM2_ALG_ECC) {
		ret = katls_quote_public_pkey(pub, &key);
		if (!ret)
			ret = katls_spki_der(key, der, len);
		EVP_PKEY_free(key);
		return ret;
	}
	ret = ecc_point(pub, point, &point_len, &group);
	return ret ?: katls_spki_der_ec(OBJ_sn2nid(group), point, point_len, der, len);
}

int katls_quote_public_name(const struct katls_tpm_public *pub,
			    uint8_t out[KATLS_TPM_NAME_MAX], size_t *out_len)
{
	size_t n = 0;
	int ret;

	out[0] = (uint8_t)(pub->name_alg >> 8);
	out[1] = (uint8_t)pub->name_alg;
	ret = digest(pub->name_alg, pub->raw, pub->raw_len, out + 2, &n);
	if (ret)
		return ret;
	*out_len = 2 + n;
	return 0;
}


int katls_quote_name_check(const uint8_t *name, size_t len)
{
	uint16_t alg;

	if (!name || len < 2)
		return -EINVAL;
	alg = (uint16_t)(name[0] << 8 | name[1]);
	if (!strong_hash(alg) || len != 2 + (size_t)EVP_MD_get_size(tpm_md(alg)))
		return -EINVAL;
	return 0;
}

int katls_quote_qualified_name(const uint8_t *parent_qn, size_t parent_qn_len,
			       const uint8_t *name, size_t name_len,
			       uint8_t out[KATLS_TPM_NAME_MAX], size_t *out_len)
{
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	int ok;

	if (katls_quote_name_check(name, name_len) || !parent_qn || !parent_qn_len ||
	    parent_qn_len > KATLS_TPM_NAME_MAX)
		return -EINVAL;
	md = tpm_md((uint16_t)(name[0] << 8 | name[1]));
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) &&
	     EVP_DigestUpdate(ctx, parent_qn, parent_qn_len) &&
	     EVP_DigestUpdate(ctx, name, name_len) && EVP_DigestFinal_ex(ctx, out + 2, &n);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return ossl_err("EVP_Digest (qualified name)", -ENOMEM);
	out[0] = name[0];
	out[1] = name[1];
	*out_len = 2 + n;
	return 0;
}

int katls_quote_check_signer(const struct katls_attest *a, const uint8_t *name, size_t name_len,
			     const uint8_t *parent_qn, size_t parent_qn_len,
			     enum katls_reason *out_reason, char *msg, size_t msg_size)
{
	static const uint32_t hierarchies[] = {
		KATLS_TPM_RH_OWNER, KATLS_TPM_RH_ENDORSEMENT, KATLS_TPM_RH_PLATFORM,
	};
	const struct report rep = { out_reason, msg, msg_size };
	char got[2 * KATLS_TPM_NAME_MAX + 1], want[sizeof(got)];
	uint8_t qn[KATLS_TPM_NAME_MAX], handle[4];
	size_t qn_len = 0, tries = parent_qn ? 1 : sizeof(hierarchies) / sizeof(hierarchies[0]);
	int ret;

	if (!a || katls_quote_name_check(name, name_len))
		return report(&rep, KATLS_R_INTERNAL, -EINVAL,
			      "invalid qualifiedSigner check: no quote or a malformed Name");
	for (size_t i = 0; i < tries; i++) {
		if (!parent_qn) {
			handle[0] = (uint8_t)(hierarchies[i] >> 24);
			handle[1] = (uint8_t)(hierarchies[i] >> 16);
			handle[2] = (uint8_t)(hierarchies[i] >> 8);
			handle[3] = (uint8_t)hierarchies[i];
		}
		ret = katls_quote_qualified_name(parent_qn ? parent_qn : handle,
						 parent_qn ? parent_qn_len : sizeof(handle),
						 name, name_len, qn, &qn_len);
		if (ret)
			return report(&rep, KATLS_R_INTERNAL, ret,
				      "cannot compute the AK's qualified name");
		if (a->signer_len == qn_len && !memcmp(a->signer, qn, qn_len))
			return report(&rep, KATLS_R_OK, 0, "qualifiedSigner is the AK");
	}
	katls_ima_format_hex(got, sizeof(got), a->signer, a->signer_len);
	katls_ima_format_hex(want, sizeof(want), name, name_len);
	return report(&rep, KATLS_R_QUOTE_SIGNATURE, -EACCES,
		      "quote qualifiedSigner %s is not the qualified name of the AK %s (%s): "
		      "the ak record is not the public area of the key that signed",
		      *got ? got : "(empty)", want,
		      parent_qn ? "under the given parent" :
		      "a primary key of the owner, endorsement or platform hierarchy");
}

bool katls_quote_is_ak(const struct katls_tpm_public *pub)
{
	const uint32_t need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;

	if ((pub->attrs & need) != need || (pub->attrs & TPMA_OBJECT_DECRYPT))
		return false;
	if (!strong_hash(pub->name_alg) || !strong_hash(pub->scheme_hash))
		return false;
	if (pub->type == TPM2_ALG_ECC)
		return pub->scheme == TPM2_ALG_ECDSA;
	if (pub->type == TPM2_ALG_RSA)
		return pub->scheme == TPM2_ALG_RSASSA || pub->scheme == TPM2_ALG_RSAPSS;
	return false;
}

int katls_quote_pcr_digest(uint16_t hash_alg, uint32_t mask, const struct katls_pcrs *pcrs,
			   uint8_t out[64], size_t *out_len)
{
	const EVP_MD *md = tpm_md(hash_alg);
	EVP_MD_CTX *ctx;
	unsigned int n;
	int ret = 0;

	if (!md)
		return -EOPNOTSUPP;
	if (mask >> KATLS_PCR_COUNT)
		return -EINVAL;
	if ((pcrs->mask & mask) != mask)
		return -ENOENT;
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL)) {
		ret = ossl_err("EVP_DigestInit_ex", -ENOMEM);
		goto out;
	}
	for (unsigned int i = 0; i < KATLS_PCR_COUNT; i++) {
		if (!(mask >> i & 1))
			continue;
		if (!EVP_DigestUpdate(ctx, pcrs->digest[i], KATLS_PCR_DIGEST_LEN)) {
			ret = ossl_err("EVP_DigestUpdate", -ENOMEM);
			goto out;
		}
	}
	if (!EVP_DigestFinal_ex(ctx, out, &n)) {
		ret = ossl_err("EVP_DigestFinal_ex", -ENOMEM);
		goto out;
	}
	*out_len = n;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* ---- verification ----------------------------------------------------------- */

static bool selection_is(const struct katls_pcr_selection *sel, uint32_t mask)
{
	const struct katls_pcr_bank_sel *b = &sel->bank[0];

	return sel->count == 1 && b->hash == TPM2_ALG_SHA256 && b->size == 3 &&
	       b->select[0] == (mask & 0xff) && b->select[1] == (mask >> 8 & 0xff) &&
	       b->select[2] == (mask >> 16 & 0xff);
}

static int check_structure(const struct report *rep, const uint8_t *attest, size_t len,
			   uint32_t mask, struct katls_attest *a)
{
	struct katls_cursor c;
	uint32_t magic;
	uint16_t type;

	if (katls_quote_attest_parse(attest, len, a)) {
		katls_cursor_init(&c, attest, len);
		if (!katls_get_be32(&c, &magic) && magic != TPM_GENERATED)
			return report(rep, KATLS_R_QUOTE_STRUCTURE, -EBADMSG,
				      "quote magic 0x%08x is not TPM_GENERATED_VALUE", magic);
		if (!katls_get_be16(&c, &type) && type != TPM2_ST_ATTEST_QUOTE)
			return report(rep, KATLS_R_QUOTE_STRUCTURE, -EBADMSG,
				      "attestation type 0x%04x is not a quote", type);
		return report(rep, KATLS_R_QUOTE_STRUCTURE, -EBADMSG,
			      "quote is not a well-formed TPMS_ATTEST");
	}
	if (!selection_is(&a->sel, mask))
		return report(rep, KATLS_R_QUOTE_STRUCTURE, -EACCES,
			      "quote PCR selection is not the expected sha256:0x%06x", mask);
	return 0;
}

static int ecdsa_der(const struct katls_tpm_sig *s, uint8_t **der, size_t *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(s->r, (int)s->r_len, NULL);
	BIGNUM *sv = BN_bin2bn(s->s, (int)s->s_len, NULL);
	int n;

	if (!es || !r || !sv) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(sv);
		return ossl_err("ECDSA_SIG_new", -ENOMEM);
	}
	ECDSA_SIG_set0(es, r, sv);	/* takes r and sv */
	*der = NULL;
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return ossl_err("i2d_ECDSA_SIG", -ENOMEM);
	*der_len = (size_t)n;
	return 0;
}

static int set_padding(EVP_PKEY_CTX *ctx, uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_RSASSA:
		return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 ? 0 : -EINVAL;
	case TPM2_ALG_RSAPSS:
		/* TPMs sign with the maximum salt unless in FIPS mode: accept any. */
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_AUTO) <= 0)
			return -EINVAL;
		return 0;
	default:
		return 0;
	}
}

/* 0 if the signature verifies, -EACCES if not, other -errno on failure. */
static int pkey_verify(EVP_PKEY *ak, const struct katls_tpm_sig *s,
		       const uint8_t *dgst, size_t dgst_len)
{
	uint8_t *der = NULL;
	const uint8_t *sig = s->sig;
	size_t sig_len = s->sig_len;
	EVP_PKEY_CTX *ctx = NULL;
	int ret;

	if (s->alg == TPM2_ALG_ECDSA) {
		ret = ecdsa_der(s, &der, &sig_len);
		if (ret)
			return ret;
		sig = der;
	}
	ctx = EVP_PKEY_CTX_new(ak, NULL);
	if (!ctx) {
		ret = ossl_err("EVP_PKEY_CTX_new", -ENOMEM);
		goto out;
	}
	if (EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, tpm_md(s->hash)) <= 0 ||
	    set_padding(ctx, s->alg)) {
		ret = ossl_err("EVP_PKEY_verify_init", -EINVAL);
		goto out;
	}
	ret = EVP_PKEY_verify(ctx, sig, sig_len, dgst, dgst_len) == 1 ? 0 : -EACCES;
	ERR_clear_error();
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return ret;
}

static bool sig_fits_key(uint16_t alg, EVP_PKEY *ak)
{
	if (alg == TPM2_ALG_ECDSA)
		return EVP_PKEY_is_a(ak, "EC");
	return EVP_PKEY_is_a(ak, "RSA") || (alg == TPM2_ALG_RSAPSS && EVP_PKEY_is_a(ak, "RSA-PSS"));
}

static int check_signature(const struct report *rep, const uint8_t *attest, size_t attest_len,
			   const uint8_t *sig, size_t sig_len, EVP_PKEY *ak,
			   struct katls_tpm_sig *s)
{
	uint8_t dgst[MAX_DIGEST];
	size_t dgst_len = 0;
	int ret;

	if (katls_quote_sig_parse(sig, sig_len, s))
		return report(rep, KATLS_R_QUOTE_SIGNATURE, -EBADMSG,
			      "quote signature is not a well-formed ECDSA/RSASSA/RSAPSS "
			      "TPMT_SIGNATURE");
	if (!strong_hash(s->hash))
		return report(rep, KATLS_R_QUOTE_SIGNATURE, -EACCES,
			      "quote signature hash 0x%04x is not accepted", s->hash);
	if (!sig_fits_key(s->alg, ak))
		return report(rep, KATLS_R_QUOTE_SIGNATURE, -EACCES,
			      "quote signature algorithm 0x%04x does not match the AK type",
			      s->alg);
	ret = digest(s->hash, attest, attest_len, dgst, &dgst_len);
	if (!ret)
		ret = pkey_verify(ak, s, dgst, dgst_len);
	if (ret == -EACCES)
		return report(rep, KATLS_R_QUOTE_SIGNATURE, ret,
			      "quote signature does not verify with the AK");
	if (ret)
		return report(rep, KATLS_R_INTERNAL, ret,
			      "quote signature check failed internally");
	return 0;
}

static int check_pcr_digest(const struct report *rep, const struct katls_attest *a,
			    uint16_t hash, const struct katls_quote_expect *exp)
{
	uint8_t d[MAX_DIGEST];
	size_t n = 0;
	int ret;

	/* Values beyond the quote would reach the policy unauthenticated. */
	if (exp->pcrs->mask != exp->pcr_mask)
		return report(rep, KATLS_R_PCR_DIGEST, -EACCES,
			      "PCR values given for 0x%06x, the quote covers 0x%06x",
			      exp->pcrs->mask, exp->pcr_mask);
	ret = katls_quote_pcr_digest(hash, exp->pcr_mask, exp->pcrs, d, &n);
	if (ret)
		return report(rep, KATLS_R_INTERNAL, ret, "PCR digest computation failed");
	if (n != a->pcr_digest_len || CRYPTO_memcmp(d, a->pcr_digest, n))
		return report(rep, KATLS_R_PCR_DIGEST, -EACCES,
			      "PCR values do not hash to the quoted pcrDigest");
	return 0;
}

int katls_quote_verify(const uint8_t *attest, size_t attest_len,
		       const uint8_t *sig, size_t sig_len, EVP_PKEY *ak,
		       const struct katls_quote_expect *exp,
		       enum katls_reason *out_reason, char *msg, size_t msg_size)
{
	const struct report rep = { out_reason, msg, msg_size };
	struct katls_attest a;
	struct katls_tpm_sig s;
	int ret;

	if (!attest || !sig || !ak || !exp || !exp->nonce || !exp->nonce_len || !exp->pcrs ||
	    !exp->pcr_mask || exp->pcr_mask >> KATLS_PCR_COUNT)
		return report(&rep, KATLS_R_INTERNAL, -EINVAL,
			      "invalid quote verification request");
	ret = check_structure(&rep, attest, attest_len, exp->pcr_mask, &a);
	if (ret)
		return ret;
	if (a.extra_len != exp->nonce_len || CRYPTO_memcmp(a.extra, exp->nonce, a.extra_len))
		return report(&rep, KATLS_R_BINDER, -EACCES,
			      "quote extraData is not this session's binder");
	ret = check_signature(&rep, attest, attest_len, sig, sig_len, ak, &s);
	if (ret)
		return ret;
	ret = check_pcr_digest(&rep, &a, s.hash, exp);
	if (ret)
		return ret;
	return report(&rep, KATLS_R_OK, 0, "quote verified");
}

int katls_quote_ak_pinned(EVP_PKEY *ak, const struct katls_spki *pins, size_t num_pins,
			  enum katls_reason *out_reason, char *msg, size_t msg_size)
{
	const struct report rep = { out_reason, msg, msg_size };
	uint8_t *der = NULL;
	size_t len = 0;
	int ret;

	if (katls_spki_der(ak, &der, &len))
		return report(&rep, KATLS_R_INTERNAL, -ENOMEM, "cannot encode the AK public key");
	ret = katls_quote_spki_pinned(der, len, pins, num_pins, out_reason, msg, msg_size);
	OPENSSL_free(der);
	return ret;
}

int katls_quote_spki_pinned(const uint8_t *der, size_t len, const struct katls_spki *pins,
			    size_t num_pins, enum katls_reason *out_reason, char *msg,
			    size_t msg_size)
{
	const struct report rep = { out_reason, msg, msg_size };

	for (size_t i = 0; der && i < num_pins; i++)
		if (pins[i].len == len && !memcmp(pins[i].der, der, len))
			return report(&rep, KATLS_R_OK, 0, "AK is pinned");
	return report(&rep, KATLS_R_AK_UNTRUSTED, -EACCES,
		      "AK public key is not pinned by the policy");
}

int katls_quote_ak_name_pinned(const uint8_t *name, size_t name_len,
			       const struct katls_tpm_name *pins, size_t num_pins,
			       enum katls_reason *out_reason, char *msg, size_t msg_size)
{
	const struct report rep = { out_reason, msg, msg_size };

	for (size_t i = 0; name && i < num_pins; i++)
		if (pins[i].len == name_len && !memcmp(pins[i].name, name, name_len))
			return report(&rep, KATLS_R_OK, 0, "AK Name is pinned");
	return report(&rep, KATLS_R_AK_UNTRUSTED, -EACCES, "AK Name is not pinned by the policy");
}
