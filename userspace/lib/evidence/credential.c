// SPDX-License-Identifier: MIT
/*
 * TPM 2.0 credential protection in software; see credential.h for the
 * construction.  KDFa, KDFe, the secret sharing and the blob layout follow
 * TPM 2.0 Part 1 §11.4.10 and §24 and the reference implementation's
 * CryptSecretEncrypt/SecretToCredential; the unit tests check them against
 * published known-answer vectors and against tpm2_makecredential's output.
 *
 * Every OpenSSL failure is reported once on stderr, naming the call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_tpm2_types.h>

#include "evidence/credential.h"

#define LABEL_IDENTITY	"IDENTITY"
#define LABEL_STORAGE	"STORAGE"
#define LABEL_INTEGRITY	"INTEGRITY"
#define ECC_FIELD_MAX	66		/* P-521 */

static int ossl_err(const char *call, int err)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "katls: %s: %s\n", call, e ? buf : "failed");
	ERR_clear_error();
	return err;
}

static const char *md_name(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return "SHA1";
	case TPM2_ALG_SHA256:
		return "SHA256";
	case TPM2_ALG_SHA384:
		return "SHA384";
	case TPM2_ALG_SHA512:
		return "SHA512";
	default:
		return NULL;
	}
}

static size_t md_size(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return 20;
	case TPM2_ALG_SHA256:
		return 32;
	case TPM2_ALG_SHA384:
		return 48;
	case TPM2_ALG_SHA512:
		return 64;
	default:
		return 0;
	}
}

struct part {
	const void *p;
	size_t n;
};

/* HMAC or plain hash (key == NULL) of the concatenated parts. */
static int digest_parts(uint16_t alg, const uint8_t *key, size_t key_len,
			const struct part *parts, size_t num_parts, uint8_t *out)
{
	/* HMAC pads the key with zeros: "" and "\0" are the same key. */
	static const uint8_t zero_key[1];
	const char *name = md_name(alg);
	EVP_MAC_CTX *mctx = NULL;
	EVP_MD_CTX *dctx = NULL;
	EVP_MAC *mac = NULL;
	OSSL_PARAM params[2];
	size_t n = 0;
	int ok;

	if (!name)
		return -EOPNOTSUPP;
	if (key) {
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)name, 0);
		params[1] = OSSL_PARAM_construct_end();
		mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		mctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
		ok = mctx && EVP_MAC_init(mctx, key_len ? key : zero_key, key_len ? key_len : 1,
					  params);
		for (size_t i = 0; ok && i < num_parts; i++)
			ok = !parts[i].n || EVP_MAC_update(mctx, parts[i].p, parts[i].n);
		ok = ok && EVP_MAC_final(mctx, out, &n, KATLS_CRED_DIGEST_MAX);
		EVP_MAC_CTX_free(mctx);
		EVP_MAC_free(mac);
	} else {
		dctx = EVP_MD_CTX_new();
		ok = dctx && EVP_DigestInit_ex2(dctx, EVP_get_digestbyname(name), NULL);
		for (size_t i = 0; ok && i < num_parts; i++)
			ok = !parts[i].n || EVP_DigestUpdate(dctx, parts[i].p, parts[i].n);
		ok = ok && EVP_DigestFinal_ex(dctx, out, NULL);
		EVP_MD_CTX_free(dctx);
	}
	return ok ? 0 : ossl_err(key ? "HMAC" : "EVP_Digest", -ENOMEM);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The counter-mode loop shared by KDFa and KDFe: blocks of
 * digest(counter || pre || label || 0 || u || v || post) until @bits are
 * out; KDFa is keyed (HMAC) and has post = bits, KDFe is a hash with pre = Z.
 */
static int kdf(uint16_t alg, const uint8_t *key, size_t key_len, const uint8_t *pre,
	       size_t pre_len, const char *label, const uint8_t *u, size_t u_len,
	       const uint8_t *v, size_t v_len, bool with_bits, uint32_t bits,
	       uint8_t *out, size_t out_size)
{
	size_t bytes = ((size_t)bits + 7) / 8, hlen = md_size(alg), done = 0;
	uint8_t counter[4], bitsbe[4], block[KATLS_CRED_DIGEST_MAX];
	int ret = 0;

	if (!hlen)
		return -EOPNOTSUPP;
	if (!bits || bytes > out_size)
		return -EINVAL;
	put_be32(bitsbe, bits);
	for (uint32_t i = 1; done < bytes; i++) {
		struct part parts[] = {
			{ counter, 4 }, { pre, pre_len },
			{ label, label ? strlen(label) + 1 : 0 },	/* with its NUL */
			{ u, u_len }, { v, v_len }, { bitsbe, with_bits ? 4 : 0 },
		};
		size_t n = bytes - done < hlen ? bytes - done : hlen;

		put_be32(counter, i);
		ret = digest_parts(alg, key, key_len, parts, sizeof(parts) / sizeof(parts[0]),
				   block);
		if (ret)
			break;
		memcpy(out + done, block, n);
		done += n;
	}
	OPENSSL_cleanse(block, sizeof(block));
	if (ret) {
		OPENSSL_cleanse(out, bytes);
		return ret;
	}
	if (bits % 8)
		out[0] &= (uint8_t)((1u << (bits % 8)) - 1);
	return 0;
}

int katls_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len, const char *label,
	       const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
	       uint32_t bits, uint8_t *out, size_t out_size)
{
	static const uint8_t none[1];

	return kdf(hash_alg, key ? key : none, key ? key_len : 0, NULL, 0, label, u, u_len, v,
		   v_len, true, bits, out, out_size);
}

int katls_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len, const char *label,
	       const uint8_t *u, size_t u_len, const uint8_t *v, size_t v_len,
	       uint32_t bits, uint8_t *out, size_t out_size)
{
	return kdf(hash_alg, NULL, 0, z, z_len, label, u, u_len, v, v_len, false, bits, out,
		   out_size);
}

/* ---- the EK ------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5)))
static int ek_err(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* TPMT_SYM_DEF_OBJECT of a parsed TPMT_PUBLIC (quote.c skips its details). */
static int ek_symmetric(const struct katls_tpm_public *pub, uint16_t *alg, uint16_t *bits,
			uint16_t *mode)
{
	struct katls_cursor c, policy;
	uint16_t u16;
	uint32_t u32;

	katls_cursor_init(&c, pub->raw, pub->raw_len);
	if (katls_get_be16(&c, &u16) || katls_get_be16(&c, &u16) || katls_get_be32(&c, &u32) ||
	    katls_get_vec(&c, 2, &policy) || katls_get_be16(&c, alg))
		return -EBADMSG;
	if (*alg == TPM2_ALG_NULL)
		return 0;
	return katls_get_be16(&c, bits) || katls_get_be16(&c, mode) ? -EBADMSG : 0;
}

static int ecc_nid(uint16_t curve)
{
	switch (curve) {
	case TPM2_ECC_NIST_P256:
		return NID_X9_62_prime256v1;
	case TPM2_ECC_NIST_P384:
		return NID_secp384r1;
	case TPM2_ECC_NIST_P521:
		return NID_secp521r1;
	default:
		return NID_undef;
	}
}

static int ek_key_check(const struct katls_tpm_public *pub, char *err, size_t err_len)
{
	EVP_PKEY *pk = NULL;
	int ret;

	if (pub->type == TPM2_ALG_RSA && (pub->key_bits < 2048 || pub->key_bits > 4096))
		return ek_err(err, err_len, -EOPNOTSUPP, "EK: RSA key of %u bits (2048..4096 "
			      "supported)", pub->key_bits);
	if (pub->type == TPM2_ALG_ECC && ecc_nid(pub->curve) == NID_undef)
		return ek_err(err, err_len, -EOPNOTSUPP, "EK: ECC curve 0x%04x not supported "
			      "(P-256, P-384, P-521)", pub->curve);
	if (pub->scheme != TPM2_ALG_NULL)
		return ek_err(err, err_len, -EINVAL, "EK: a restricted decryption key has no "
			      "scheme, this one has 0x%04x", pub->scheme);
	ret = katls_quote_public_pkey(pub, &pk);
	EVP_PKEY_free(pk);
	if (ret)
		return ek_err(err, err_len, ret == -EOPNOTSUPP ? ret : -EBADMSG,
			      "EK: the public key is not a valid %s key",
			      pub->type == TPM2_ALG_RSA ? "RSA" : "ECC");
	return 0;
}

int katls_ek_public_parse(const uint8_t *in, size_t in_len, struct katls_ek_public *out,
			  char *err, size_t err_len)
{
	const uint32_t need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM;
	struct katls_tpm_public *pub = &out->pub;
	uint16_t alg = 0, bits = 0, mode = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = katls_quote_public_parse(in, in_len, pub);
	if (!ret)
		ret = ek_symmetric(pub, &alg, &bits, &mode);
	if (ret)
		return ek_err(err, err_len, ret, "EK public area: %s",
			      ret == -EOPNOTSUPP ? "not an RSA or ECC key, or an algorithm "
			      "katls does not parse" : "not a well-formed TPMT_PUBLIC");
	if ((pub->attrs & need) != need || (pub->attrs & TPMA_OBJECT_SIGN_ENCRYPT))
		return ek_err(err, err_len, -EINVAL, "EK public area: attributes 0x%08x are not "
			      "those of an endorsement key (restricted, decrypt, fixedTPM, not "
			      "sign)", pub->attrs);
	if (pub->name_alg != TPM2_ALG_SHA256 && pub->name_alg != TPM2_ALG_SHA384 &&
	    pub->name_alg != TPM2_ALG_SHA512)
		return ek_err(err, err_len, -EOPNOTSUPP, "EK: nameAlg 0x%04x not supported "
			      "(SHA-256, SHA-384, SHA-512)", pub->name_alg);
	if (alg != TPM2_ALG_AES || mode != TPM2_ALG_CFB ||
	    (bits != 128 && bits != 192 && bits != 256))
		return ek_err(err, err_len, -EOPNOTSUPP, "EK: symmetric algorithm 0x%04x/%u/"
			      "0x%04x is not AES-CFB", alg, bits, mode);
	ret = ek_key_check(pub, err, err_len);
	if (ret)
		return ret;
	out->sym_bits = bits;
	out->digest_len = md_size(pub->name_alg);
	return 0;
}

/* ---- secret sharing ----------------------------------------------------------- */

static void put_tpm2b(uint8_t *p, size_t *off, const uint8_t *data, size_t len)
{
	p[(*off)++] = (uint8_t)(len >> 8);
	p[(*off)++] = (uint8_t)len;
	memcpy(p + *off, data, len);
	*off += len;
}

struct ecc {
	EC_GROUP *group;
	BN_CTX *bn;
	EC_POINT *q_ek;
	size_t field;		/* bytes of a field element */
};

static void ecc_cleanup(struct ecc *e)
{
	EC_POINT_free(e->q_ek);
	BN_CTX_free(e->bn);
	EC_GROUP_free(e->group);
}

/* A point from big-endian coordinates; fails unless it is on the curve. */
static EC_POINT *ecc_point(const struct ecc *e, const uint8_t *x, size_t x_len,
			   const uint8_t *y, size_t y_len)
{
	BIGNUM *bx = BN_bin2bn(x, (int)x_len, NULL), *by = BN_bin2bn(y, (int)y_len, NULL);
	EC_POINT *p = EC_POINT_new(e->group);

	if (!bx || !by || !p || !EC_POINT_set_affine_coordinates(e->group, p, bx, by, e->bn)) {
		EC_POINT_free(p);
		p = NULL;
		ERR_clear_error();
	}
	BN_free(bx);
	BN_free(by);
	return p;
}

static int ecc_init(struct ecc *e, const struct katls_ek_public *ek)
{
	const struct katls_tpm_public *pub = &ek->pub;

	memset(e, 0, sizeof(*e));
	e->group = EC_GROUP_new_by_curve_name(ecc_nid(pub->curve));
	e->bn = BN_CTX_secure_new();
	if (!e->group || !e->bn)
		return ossl_err("EC_GROUP_new_by_curve_name", -ENOMEM);
	e->field = ((size_t)EC_GROUP_get_degree(e->group) + 7) / 8;
	if (pub->x_len > e->field || pub->y_len > e->field)
		return -EBADMSG;
	e->q_ek = ecc_point(e, pub->x, pub->x_len, pub->y, pub->y_len);
	return e->q_ek ? 0 : -EBADMSG;
}

/* x of d * q, field-size big-endian, into out; -EBADMSG for the point at infinity. */
static int ecc_shared_x(const struct ecc *e, const BIGNUM *d, const EC_POINT *q, uint8_t *out)
{
	EC_POINT *z = EC_POINT_new(e->group);
	BIGNUM *zx = BN_new();
	int ret = 0;

	if (!z || !zx || !EC_POINT_mul(e->group, z, NULL, q, d, e->bn))
		ret = ossl_err("EC_POINT_mul", -ENOMEM);
	else if (EC_POINT_is_at_infinity(e->group, z))
		ret = -EBADMSG;
	else if (!EC_POINT_get_affine_coordinates(e->group, z, zx, NULL, e->bn) ||
		 BN_bn2binpad(zx, out, (int)e->field) < 0)
		ret = ossl_err("EC_POINT_get_affine_coordinates", -ENOMEM);
	BN_clear_free(zx);
	EC_POINT_free(z);
	return ret;
}

/* One-pass ECDH with ephemeral scalar d: seed and TPMS_ECC_POINT(d * G). */
static int ecc_share(const struct katls_ek_public *ek, struct ecc *e, const BIGNUM *d,
		     uint8_t *seed, uint8_t *enc, size_t *enc_len)
{
	uint8_t qx[ECC_FIELD_MAX], qy[ECC_FIELD_MAX], zx[ECC_FIELD_MAX];
	EC_POINT *qe = EC_POINT_new(e->group);
	BIGNUM *x = BN_new(), *y = BN_new();
	const BIGNUM *order = EC_GROUP_get0_order(e->group);
	size_t off = 0;
	int ret = 0;

	if (BN_is_zero(d) || BN_is_negative(d) || BN_cmp(d, order) >= 0)
		ret = -EINVAL;
	else if (!qe || !x || !y || !EC_POINT_mul(e->group, qe, d, NULL, NULL, e->bn) ||
		 !EC_POINT_get_affine_coordinates(e->group, qe, x, y, e->bn) ||
		 BN_bn2binpad(x, qx, (int)e->field) < 0 || BN_bn2binpad(y, qy, (int)e->field) < 0)
		ret = ossl_err("EC_POINT_mul", -ENOMEM);
	if (!ret)
		ret = ecc_shared_x(e, d, e->q_ek, zx);
	if (!ret)
		ret = katls_kdfe(ek->pub.name_alg, zx, e->field, LABEL_IDENTITY, qx, e->field,
				 ek->pub.x, ek->pub.x_len, (uint32_t)(8 * ek->digest_len), seed,
				 KATLS_CRED_DIGEST_MAX);
	if (!ret) {
		put_tpm2b(enc, &off, qx, e->field);
		put_tpm2b(enc, &off, qy, e->field);
		*enc_len = off;
	}
	OPENSSL_cleanse(zx, sizeof(zx));
	BN_free(x);
	BN_free(y);
	EC_POINT_free(qe);
	return ret;
}

static int seed_ecc(const struct katls_ek_public *ek, const uint8_t *d_bytes, size_t d_len,
		    uint8_t *seed, size_t *seed_len, uint8_t *enc, size_t *enc_len)
{
	struct ecc e;
	BIGNUM *d = NULL;
	int ret = ecc_init(&e, ek);

	if (!ret) {
		d = BN_secure_new();
		if (!d)
			ret = ossl_err("BN_secure_new", -ENOMEM);
		else if (d_bytes ? !BN_bin2bn(d_bytes, (int)d_len, d) :
			 !BN_priv_rand_range(d, EC_GROUP_get0_order(e.group)))
			ret = ossl_err("BN_priv_rand_range", -ENOMEM);
	}
	if (!ret && !d_bytes && BN_is_zero(d))
		ret = BN_one(d) ? 0 : -ENOMEM;	/* probability 1/n: any valid scalar will do */
	if (!ret)
		ret = ecc_share(ek, &e, d, seed, enc, enc_len);
	if (!ret)
		*seed_len = ek->digest_len;
	BN_clear_free(d);
	ecc_cleanup(&e);
	return ret;
}

static int rsa_ctx(EVP_PKEY_CTX *ctx, bool encrypt, uint16_t name_alg)
{
	const EVP_MD *md = EVP_get_digestbyname(md_name(name_alg));
	unsigned char *label = OPENSSL_memdup(LABEL_IDENTITY, sizeof(LABEL_IDENTITY));

	if (!md || !label ||
	    (encrypt ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, sizeof(LABEL_IDENTITY)) <= 0) {
		OPENSSL_free(label);
		return ossl_err("EVP_PKEY_CTX_set_rsa_oaep_md", -ENOMEM);
	}
	return 0;	/* the context owns the label now */
}

static int seed_rsa(const struct katls_ek_public *ek, uint8_t *seed, size_t *seed_len,
		    uint8_t *enc, size_t *enc_len)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t n = KATLS_CRED_ENC_MAX;
	int ret = katls_quote_public_pkey(&ek->pub, &pk);

	if (ret)
		return -EBADMSG;
	if (RAND_priv_bytes(seed, (int)ek->digest_len) != 1)
		ret = ossl_err("RAND_priv_bytes", -EIO);
	ctx = ret ? NULL : EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ret && !ctx)
		ret = ossl_err("EVP_PKEY_CTX_new_from_pkey", -ENOMEM);
	if (!ret)
		ret = rsa_ctx(ctx, true, ek->pub.name_alg);
	if (!ret && EVP_PKEY_encrypt(ctx, enc, &n, seed, ek->digest_len) <= 0)
		ret = ossl_err("EVP_PKEY_encrypt", -EIO);
	if (ret) {
		OPENSSL_cleanse(seed, KATLS_CRED_DIGEST_MAX);
	} else {
		*seed_len = ek->digest_len;
		*enc_len = n;
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ret;
}

int katls_credential_seed_new(const struct katls_ek_public *ek,
			      uint8_t seed[KATLS_CRED_DIGEST_MAX], size_t *seed_len,
			      uint8_t *enc, size_t *enc_len)
{
	switch (ek->pub.type) {
	case TPM2_ALG_RSA:
		return seed_rsa(ek, seed, seed_len, enc, enc_len);
	case TPM2_ALG_ECC:
		return seed_ecc(ek, NULL, 0, seed, seed_len, enc, enc_len);
	default:
		return -EOPNOTSUPP;
	}
}

int katls_credential_seed_ecc(const struct katls_ek_public *ek, const uint8_t *d, size_t d_len,
			      uint8_t seed[KATLS_CRED_DIGEST_MAX], size_t *seed_len,
			      uint8_t *enc, size_t *enc_len)
{
	if (ek->pub.type != TPM2_ALG_ECC || !d || !d_len || d_len > ECC_FIELD_MAX)
		return -EINVAL;
	return seed_ecc(ek, d, d_len, seed, seed_len, enc, enc_len);
}

static int recover_ecc(EVP_PKEY *priv, const struct katls_ek_public *ek, const uint8_t *enc,
		       size_t enc_len, uint8_t *seed, size_t *seed_len)
{
	uint8_t zx[ECC_FIELD_MAX];
	struct katls_cursor c, x, y;
	EC_POINT *qe = NULL;
	BIGNUM *d = NULL;
	struct ecc e;
	int ret = ecc_init(&e, ek);

	katls_cursor_init(&c, enc, enc_len);
	if (!ret && (katls_get_vec(&c, 2, &x) || katls_get_vec(&c, 2, &y) || katls_get_end(&c) ||
		     !x.len || !y.len || x.len > e.field || y.len > e.field))
		ret = -EBADMSG;
	if (!ret && !(qe = ecc_point(&e, x.p, x.len, y.p, y.len)))
		ret = -EBADMSG;
	if (!ret && !EVP_PKEY_get_bn_param(priv, OSSL_PKEY_PARAM_PRIV_KEY, &d))
		ret = ossl_err("EVP_PKEY_get_bn_param", -EINVAL);
	if (!ret)
		ret = ecc_shared_x(&e, d, qe, zx);
	if (!ret)
		ret = katls_kdfe(ek->pub.name_alg, zx, e.field, LABEL_IDENTITY, x.p, x.len,
				 ek->pub.x, ek->pub.x_len, (uint32_t)(8 * ek->digest_len), seed,
				 KATLS_CRED_DIGEST_MAX);
	if (!ret)
		*seed_len = ek->digest_len;
	OPENSSL_cleanse(zx, sizeof(zx));
	BN_clear_free(d);
	EC_POINT_free(qe);
	ecc_cleanup(&e);
	return ret;
}

static int recover_rsa(EVP_PKEY *priv, const struct katls_ek_public *ek, const uint8_t *enc,
		       size_t enc_len, uint8_t *seed, size_t *seed_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	uint8_t out[KATLS_CRED_ENC_MAX];
	size_t n = sizeof(out);
	int ret = ctx ? rsa_ctx(ctx, false, ek->pub.name_alg) :
		  ossl_err("EVP_PKEY_CTX_new_from_pkey", -ENOMEM);

	if (!ret && EVP_PKEY_decrypt(ctx, out, &n, enc, enc_len) <= 0) {
		ERR_clear_error();
		ret = -EBADMSG;
	}
	if (!ret && (!n || n > KATLS_CRED_DIGEST_MAX))
		ret = -EBADMSG;
	if (!ret) {
		memcpy(seed, out, n);
		*seed_len = n;
	}
	OPENSSL_cleanse(out, sizeof(out));
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

int katls_credential_seed_recover(EVP_PKEY *ek_priv, const struct katls_ek_public *ek,
				  const uint8_t *enc, size_t enc_len,
				  uint8_t seed[KATLS_CRED_DIGEST_MAX], size_t *seed_len)
{
	if (!ek_priv || !enc || !enc_len || enc_len > KATLS_CRED_ENC_MAX)
		return -EINVAL;
	switch (ek->pub.type) {
	case TPM2_ALG_RSA:
		return recover_rsa(ek_priv, ek, enc, enc_len, seed, seed_len);
	case TPM2_ALG_ECC:
		return recover_ecc(ek_priv, ek, enc, enc_len, seed, seed_len);
	default:
		return -EOPNOTSUPP;
	}
}

/* ---- the credential blob ---------------------------------------------------------- */

static const EVP_CIPHER *aes_cfb(uint16_t bits)
{
	switch (bits) {
	case 128:
		return EVP_aes_128_cfb128();
	case 192:
		return EVP_aes_192_cfb128();
	case 256:
		return EVP_aes_256_cfb128();
	default:
		return NULL;
	}
}

/* AES-CFB with a zero IV, in place (CFB is a stream mode: no padding). */
static int cfb(const struct katls_ek_public *ek, const uint8_t *key, bool encrypt,
	       uint8_t *buf, size_t len)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	ok = ctx && EVP_CipherInit_ex2(ctx, aes_cfb(ek->sym_bits), key, iv, encrypt, NULL) &&
	     EVP_CipherUpdate(ctx, buf, &n, buf, (int)len) &&
	     EVP_CipherFinal_ex(ctx, buf + n, &fin) && (size_t)(n + fin) == len;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : ossl_err("EVP_CipherUpdate", -EIO);
}

/* The two keys of the blob: AES key from "STORAGE", HMAC key from "INTEGRITY". */
static int blob_keys(const struct katls_ek_public *ek, const uint8_t *seed, size_t seed_len,
		     const uint8_t *name, size_t name_len, uint8_t *sym, uint8_t *hmac_key)
{
	int ret = katls_kdfa(ek->pub.name_alg, seed, seed_len, LABEL_STORAGE, name, name_len,
			     NULL, 0, ek->sym_bits, sym, 32);

	if (!ret)
		ret = katls_kdfa(ek->pub.name_alg, seed, seed_len, LABEL_INTEGRITY, NULL, 0, NULL,
				 0, (uint32_t)(8 * ek->digest_len), hmac_key,
				 KATLS_CRED_DIGEST_MAX);
	return ret;
}

static int outer_hmac(const struct katls_ek_public *ek, const uint8_t *key, const uint8_t *enc,
		      size_t enc_len, const uint8_t *name, size_t name_len, uint8_t *out)
{
	struct part parts[] = { { enc, enc_len }, { name, name_len } };

	return digest_parts(ek->pub.name_alg, key, ek->digest_len, parts, 2, out);
}

static bool sizes_ok(const struct katls_ek_public *ek, size_t seed_len, size_t name_len)
{
	return ek->digest_len && seed_len && seed_len <= KATLS_CRED_DIGEST_MAX && name_len >= 2 &&
	       name_len <= KATLS_TPM_NAME_MAX;
}

int katls_credential_wrap(const struct katls_ek_public *ek, const uint8_t *seed,
			  size_t seed_len, const uint8_t *name, size_t name_len,
			  const uint8_t *cred, size_t cred_len, uint8_t *blob, size_t *blob_len)
{
	uint8_t sym[32], hkey[KATLS_CRED_DIGEST_MAX], mac[KATLS_CRED_DIGEST_MAX];
	size_t hlen = ek->digest_len, enc_len = 2 + cred_len;
	uint8_t *enc = blob + 2 + hlen;
	int ret;

	if (!sizes_ok(ek, seed_len, name_len) || !cred_len || cred_len > ek->digest_len)
		return -EINVAL;
	ret = blob_keys(ek, seed, seed_len, name, name_len, sym, hkey);
	if (!ret) {
		/* encIdentity: the whole TPM2B_DIGEST, size field included */
		enc[0] = (uint8_t)(cred_len >> 8);
		enc[1] = (uint8_t)cred_len;
		memcpy(enc + 2, cred, cred_len);
		ret = cfb(ek, sym, true, enc, enc_len);
	}
	if (!ret)
		ret = outer_hmac(ek, hkey, enc, enc_len, name, name_len, mac);
	if (!ret) {
		blob[0] = (uint8_t)(hlen >> 8);
		blob[1] = (uint8_t)hlen;
		memcpy(blob + 2, mac, hlen);
		*blob_len = 2 + hlen + enc_len;
	} else {
		OPENSSL_cleanse(blob, KATLS_CRED_BLOB_MAX);
	}
	OPENSSL_cleanse(sym, sizeof(sym));
	OPENSSL_cleanse(hkey, sizeof(hkey));
	return ret;
}

int katls_credential_unwrap(const struct katls_ek_public *ek, const uint8_t *seed,
			    size_t seed_len, const uint8_t *name, size_t name_len,
			    const uint8_t *blob, size_t blob_len,
			    uint8_t cred[KATLS_CRED_DIGEST_MAX], size_t *cred_len)
{
	uint8_t sym[32], hkey[KATLS_CRED_DIGEST_MAX], mac[KATLS_CRED_DIGEST_MAX];
	uint8_t plain[2 + KATLS_CRED_DIGEST_MAX];
	struct katls_cursor c, hmac;
	size_t n;
	int ret;

	if (!sizes_ok(ek, seed_len, name_len))
		return -EINVAL;
	katls_cursor_init(&c, blob, blob_len);
	if (katls_get_vec(&c, 2, &hmac) || hmac.len != ek->digest_len || c.len < 2 ||
	    c.len > sizeof(plain))
		return -EBADMSG;
	ret = blob_keys(ek, seed, seed_len, name, name_len, sym, hkey);
	if (!ret)
		ret = outer_hmac(ek, hkey, c.p, c.len, name, name_len, mac);
	if (!ret && CRYPTO_memcmp(mac, hmac.p, hmac.len))
		ret = -EBADMSG;
	if (!ret) {
		memcpy(plain, c.p, c.len);
		ret = cfb(ek, sym, false, plain, c.len);
	}
	n = ret ? 0 : (size_t)plain[0] << 8 | plain[1];
	if (!ret && (!n || n != c.len - 2))
		ret = -EBADMSG;
	if (!ret) {
		memcpy(cred, plain + 2, n);
		*cred_len = n;
	}
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(sym, sizeof(sym));
	OPENSSL_cleanse(hkey, sizeof(hkey));
	return ret;
}

int katls_credential_make(const struct katls_ek_public *ek, const uint8_t *name,
			  size_t name_len, const uint8_t *cred, size_t cred_len,
			  struct katls_credential *out)
{
	uint8_t seed[KATLS_CRED_DIGEST_MAX];
	size_t seed_len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!cred_len || cred_len > ek->digest_len || name_len < 2 ||
	    name_len > KATLS_TPM_NAME_MAX)
		return -EINVAL;
	ret = katls_credential_seed_new(ek, seed, &seed_len, out->secret, &out->secret_len);
	if (!ret)
		ret = katls_credential_wrap(ek, seed, seed_len, name, name_len, cred, cred_len,
					    out->blob, &out->blob_len);
	OPENSSL_cleanse(seed, sizeof(seed));
	if (ret)
		OPENSSL_cleanse(out, sizeof(*out));
	return ret;
}

/* ---- tpm2-tools file format ------------------------------------------------------- */

int katls_credential_encode(const struct katls_credential *c, struct katls_buf *out)
{
	size_t mark;
	int ret;

	out->len = 0;
	ret = katls_put_be32(out, KATLS_CRED_FILE_MAGIC) ?: katls_put_be32(out, 1) ?:
	      katls_vec_begin(out, 2, &mark) ?: katls_put_bytes(out, c->blob, c->blob_len) ?:
	      katls_vec_end(out, 2, mark) ?: katls_vec_begin(out, 2, &mark) ?:
	      katls_put_bytes(out, c->secret, c->secret_len) ?: katls_vec_end(out, 2, mark);
	return ret;
}

int katls_credential_decode(const uint8_t *in, size_t in_len, struct katls_credential *out)
{
	struct katls_cursor c, blob, secret;
	uint32_t magic, version;

	memset(out, 0, sizeof(*out));
	katls_cursor_init(&c, in, in_len);
	if (katls_get_be32(&c, &magic) || magic != KATLS_CRED_FILE_MAGIC ||
	    katls_get_be32(&c, &version) || version != 1 ||
	    katls_get_vec(&c, 2, &blob) || !blob.len || blob.len > KATLS_CRED_BLOB_MAX ||
	    katls_get_vec(&c, 2, &secret) || !secret.len || secret.len > KATLS_CRED_ENC_MAX ||
	    katls_get_end(&c))
		return -EBADMSG;
	memcpy(out->blob, blob.p, blob.len);
	out->blob_len = blob.len;
	memcpy(out->secret, secret.p, secret.len);
	out->secret_len = secret.len;
	return 0;
}
