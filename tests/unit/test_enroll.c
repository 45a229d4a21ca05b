// SPDX-License-Identifier: MIT
/*
 * AK enrollment: software MakeCredential (credential.c) and the enrollment
 * store (enroll_store.c).
 *
 * Credential protection is checked against published known answers
 * (tests/vectors/enroll/README.md): KDFa of the TPM reference
 * implementation's self-test and of chrisfenner/tpm-test-vectors, KDFe and
 * the ECC/RSA "IDENTITY" secret sharing of the same suite (validated there
 * against TPM2_ActivateCredential), and byte for byte against blobs made by
 * tpm2_makecredential --tcti none for software EKs.  Round trips, tampering
 * and malformed input cover the failure paths.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <tss2/tss2_tpm2_types.h>

#include "buf.h"
#include "credential.h"

#include "quote.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------------- */

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex);

	assert_int_equal(n % 2, 0);
	assert_true(n / 2 <= max);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n / 2;
}

static void read_vec(const char *rel, struct katls_buf *out)
{
	FILE *f = fopen(vector_path(rel), "rb");
	uint8_t chunk[4096];
	size_t n;

	assert_non_null(f);
	out->len = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(katls_put_bytes(out, chunk, n), 0);
	fclose(f);
}

static struct json_object *load_json(const char *rel)
{
	struct json_object *o = json_object_from_file(vector_path(rel));

	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_array));
	return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static size_t jhex(struct json_object *o, const char *key, uint8_t *out, size_t max)
{
	return unhex(jstr(o, key), out, max);
}

static uint16_t hash_of_name(const char *name)
{
	if (strstr(name, "SHA256"))
		return TPM2_ALG_SHA256;
	if (strstr(name, "SHA384"))
		return TPM2_ALG_SHA384;
	if (strstr(name, "SHA512"))
		return TPM2_ALG_SHA512;
	return TPM2_ALG_SHA1;
}

/* ---- KDFa / KDFe ------------------------------------------------------------------- */

/* The TPM reference implementation's KDFa self-test (KdfTestData.h). */
static void test_kdfa_reference_selftest(void **state)
{
	static const struct {
		uint16_t alg;
		const char *out;
	} want[] = {
		{ TPM2_ALG_SHA256, "bb0259e1c8ba607e6a2cd704b69a902e9ade84c4" },
		{ TPM2_ALG_SHA384, "1dce70c9113eb2dba47bd9cfc72bf46f45b09312" },
		{ TPM2_ALG_SHA512, "8be2c1b85b78569b9fa759f5857c56d684810fd3" },
	};
	uint8_t key[20], u[8], v[8], exp[20], out[20];

	(void)state;
	unhex("271fa08bbdc5060ec3dfa928ff9b73123a12da0c", key, sizeof(key));
	unhex("ce244f395dca7391", u, sizeof(u));
	unhex("da504031ddf12e83", v, sizeof(v));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		unhex(want[i].out, exp, sizeof(exp));
		assert_int_equal(katls_kdfa(want[i].alg, key, sizeof(key), "KDFSELFTESTLABEL",
					    u, sizeof(u), v, sizeof(v), 160, out, sizeof(out)), 0);
		assert_memory_equal(out, exp, sizeof(exp));
	}
}

static void run_kdf_file(const char *rel, bool kdfe)
{
	struct json_object *arr = load_json(rel);
	size_t n = json_object_array_length(arr);

	assert_true(n >= 50);
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(arr, i), *b;
		uint8_t key[128], u[128], v[128], want[256], out[256];
		size_t klen, ulen, vlen, wlen;
		uint16_t alg;
		uint32_t bits;

		assert_true(json_object_object_get_ex(t, "Bits", &b));
		bits = (uint32_t)json_object_get_int(b);
		assert_true(json_object_object_get_ex(t, "HashAlg", &b));
		alg = (uint16_t)json_object_get_int(b);
		klen = jhex(t, kdfe ? "Z" : "Key", key, sizeof(key));
		ulen = jhex(t, "ContextU", u, sizeof(u));
		vlen = jhex(t, "ContextV", v, sizeof(v));
		wlen = jhex(t, "Result", want, sizeof(want));
		assert_int_equal(wlen, (bits + 7) / 8);
		if (!bits) {	/* katls never asks for 0 bits and refuses to */
			assert_int_equal(kdfe ? katls_kdfe(alg, key, klen, "X", NULL, 0, NULL, 0, 0,
							    out, sizeof(out)) :
					 katls_kdfa(alg, key, klen, "X", NULL, 0, NULL, 0, 0, out,
						    sizeof(out)), -EINVAL);
			continue;
		}
		memset(out, 0xaa, sizeof(out));
		if (kdfe)
			assert_int_equal(katls_kdfe(alg, key, klen, jstr(t, "Label"), u, ulen, v,
						    vlen, bits, out, sizeof(out)), 0);
		else
			assert_int_equal(katls_kdfa(alg, key, klen, jstr(t, "Label"), u, ulen, v,
						    vlen, bits, out, sizeof(out)), 0);
		if (memcmp(out, want, wlen))
			fail_msg("%s %s differs", rel, jstr(t, "Name"));
	}
	json_object_put(arr);
}

static void test_kdfa_vectors(void **state)
{
	(void)state;
	run_kdf_file("enroll/kdfa.json", false);
}

static void test_kdfe_vectors(void **state)
{
	(void)state;
	run_kdf_file("enroll/kdfe.json", true);
}

static void test_kdf_limits(void **state)
{
	uint8_t out[4] = { 0 };

	(void)state;
	assert_int_equal(katls_kdfa(TPM2_ALG_SHA256, out, 1, "X", NULL, 0, NULL, 0, 0, out,
				    sizeof(out)), -EINVAL);
	assert_int_equal(katls_kdfa(TPM2_ALG_SHA256, out, 1, "X", NULL, 0, NULL, 0, 33, out,
				    sizeof(out)), -EINVAL);
	assert_int_equal(katls_kdfa(TPM2_ALG_SM3_256, out, 1, "X", NULL, 0, NULL, 0, 8, out,
				    sizeof(out)), -EOPNOTSUPP);
}

/* ---- the EK public area --------------------------------------------------------------- */

/*
 * The vectors' keys are restricted decryption keys made by a simulator
 * without fixedTPM (so the generator could duplicate them out).  Secret
 * sharing does not look at the attributes; set fixedTPM|fixedParent so that
 * katls_ek_public_parse() takes them as EKs.
 */
static size_t vector_ek(struct json_object *t, uint8_t *pub, size_t max)
{
	size_t n = jhex(t, "PublicKey", pub, max);

	assert_true(n > 8);
	pub[7] |= TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
	return n;
}

static const char ek_policy_a_sha256[] =
	"837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa";

/* TCG EK Credential Profile templates L-1 (RSA 2048) and L-2 (ECC P-256) for @pk. */
static size_t tcg_ek_public(EVP_PKEY *pk, uint8_t *out)
{
	struct katls_buf b = KATLS_BUF_INIT;
	uint8_t policy[32], point[65], mod[256];
	size_t n = 0;

	unhex(ek_policy_a_sha256, policy, sizeof(policy));
	assert_int_equal(katls_put_be16(&b, EVP_PKEY_is_a(pk, "RSA") ? 0x0001 : 0x0023), 0);
	assert_int_equal(katls_put_be16(&b, TPM2_ALG_SHA256), 0);
	assert_int_equal(katls_put_be32(&b, 0x000300b2), 0);
	assert_int_equal(katls_put_be16(&b, 32) ?: katls_put_bytes(&b, policy, 32), 0);
	assert_int_equal(katls_put_be16(&b, TPM2_ALG_AES) ?: katls_put_be16(&b, 128) ?:
			 katls_put_be16(&b, TPM2_ALG_CFB) ?: katls_put_be16(&b, TPM2_ALG_NULL), 0);
	if (EVP_PKEY_is_a(pk, "RSA")) {
		BIGNUM *bn = NULL;

		assert_true(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn));
		assert_int_equal(BN_bn2binpad(bn, mod, sizeof(mod)), 256);
		BN_free(bn);
		assert_int_equal(katls_put_be16(&b, 2048) ?: katls_put_be32(&b, 0) ?:
				 katls_put_be16(&b, 256) ?: katls_put_bytes(&b, mod, 256), 0);
	} else {
		assert_true(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, point,
							    sizeof(point), &n));
		assert_int_equal(n, 65);
		assert_int_equal(katls_put_be16(&b, TPM2_ECC_NIST_P256) ?:
				 katls_put_be16(&b, TPM2_ALG_NULL) ?:
				 katls_put_be16(&b, 32) ?: katls_put_bytes(&b, point + 1, 32) ?:
				 katls_put_be16(&b, 32) ?: katls_put_bytes(&b, point + 33, 32), 0);
	}
	memcpy(out, b.data, b.len);
	n = b.len;
	katls_buf_cleanup(&b);
	return n;
}

static EVP_PKEY *read_key(const char *rel)
{
	FILE *f = fopen(vector_path(rel), "r");
	EVP_PKEY *pk;

	assert_non_null(f);
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(pk);
	return pk;
}

/* ---- secret sharing known answers -------------------------------------------------------- */

static EVP_PKEY *ecc_priv(const struct katls_ek_public *ek, const uint8_t *d, size_t d_len)
{
	const char *group = ek->pub.curve == TPM2_ECC_NIST_P256 ? "prime256v1" :
			    ek->pub.curve == TPM2_ECC_NIST_P384 ? "secp384r1" : "secp521r1";
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(d, (int)d_len, NULL);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM *params;
	EVP_PKEY *pk = NULL;

	assert_non_null(bld);
	assert_true(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn));
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	return pk;
}

/* TPMT_SENSITIVE: type, authValue, seedValue, sensitive (the private key). */
static size_t sensitive_key(struct json_object *t, uint8_t *out, size_t max)
{
	uint8_t raw[1024];
	size_t n = jhex(t, "PrivateKey", raw, sizeof(raw)), off = 2, len = 0;

	for (int i = 0; i < 3; i++) {
		assert_true(off + 2 <= n);
		len = (size_t)raw[off] << 8 | raw[off + 1];
		off += 2 + len;
	}
	assert_int_equal(off, n);
	assert_true(len <= max);
	memcpy(out, raw + off - len, len);
	return len;
}

static void test_ecc_identity_vectors(void **state)
{
	struct json_object *arr = load_json("enroll/ecc_labeled_encaps.json");
	size_t n = json_object_array_length(arr), done = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);
		uint8_t pub[512], d[66], want_seed[64], want_ct[300], ek_d[66];
		uint8_t seed[KATLS_CRED_DIGEST_MAX], enc[KATLS_CRED_ENC_MAX];
		size_t pub_len, d_len, ws, wc, seed_len = 0, enc_len = 0, ek_d_len;
		struct katls_ek_public ek;
		EVP_PKEY *priv;

		if (hash_of_name(jstr(t, "Name")) == TPM2_ALG_SHA1)
			continue;	/* katls refuses SHA-1 EKs */
		pub_len = vector_ek(t, pub, sizeof(pub));
		assert_int_equal(katls_ek_public_parse(pub, pub_len, &ek, NULL, 0), 0);
		d_len = jhex(t, "EphemeralPrivate", d, sizeof(d));
		ws = jhex(t, "Secret", want_seed, sizeof(want_seed));
		wc = jhex(t, "Ciphertext", want_ct, sizeof(want_ct));
		assert_int_equal(katls_credential_seed_ecc(&ek, d, d_len, seed, &seed_len, enc,
							   &enc_len), 0);
		assert_int_equal(seed_len, ws);
		assert_memory_equal(seed, want_seed, ws);
		assert_int_equal(enc_len, wc);
		assert_memory_equal(enc, want_ct, wc);
		/* and the EK side, with the vector's private key */
		ek_d_len = sensitive_key(t, ek_d, sizeof(ek_d));
		priv = ecc_priv(&ek, ek_d, ek_d_len);
		memset(seed, 0, sizeof(seed));
		assert_int_equal(katls_credential_seed_recover(priv, &ek, want_ct, wc, seed,
							       &seed_len), 0);
		assert_memory_equal(seed, want_seed, ws);
		EVP_PKEY_free(priv);
		done++;
	}
	assert_true(done >= 8);
	json_object_put(arr);
}

/* An RSA private key from the public modulus and the prime p. */
static EVP_PKEY *rsa_priv(const struct katls_ek_public *ek, const uint8_t *p, size_t p_len)
{
	BN_CTX *bc = BN_CTX_new();
	BIGNUM *n = BN_bin2bn(ek->pub.x, (int)ek->pub.x_len, NULL);
	BIGNUM *bp = BN_bin2bn(p, (int)p_len, NULL), *q = BN_new(), *rem = BN_new();
	BIGNUM *e = BN_new(), *d = BN_new(), *phi = BN_new(), *p1 = BN_new(), *q1 = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pk = NULL;
	OSSL_PARAM *params;

	assert_true(BN_div(q, rem, n, bp, bc) && BN_is_zero(rem));
	assert_true(BN_set_word(e, ek->pub.exponent ? ek->pub.exponent : 65537));
	assert_true(BN_sub(p1, bp, BN_value_one()) && BN_sub(q1, q, BN_value_one()));
	assert_true(BN_mul(phi, p1, q1, bc) && BN_mod_inverse(d, e, phi, bc));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d));
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n); BN_free(bp); BN_free(q); BN_free(rem); BN_free(e); BN_free(d);
	BN_free(phi); BN_free(p1); BN_free(q1);
	BN_CTX_free(bc);
	return pk;
}

static void test_rsa_identity_vectors(void **state)
{
	struct json_object *arr = load_json("enroll/rsa_labeled_encaps.json");
	size_t n = json_object_array_length(arr), done = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);
		uint8_t pub[1024], p[512], want_seed[64], ct[512];
		uint8_t seed[KATLS_CRED_DIGEST_MAX], enc[KATLS_CRED_ENC_MAX];
		size_t pub_len, p_len, ws, cl, seed_len = 0, enc_len = 0;
		struct katls_ek_public ek;
		EVP_PKEY *priv;

		if (hash_of_name(jstr(t, "Name")) == TPM2_ALG_SHA1)
			continue;
		pub_len = vector_ek(t, pub, sizeof(pub));
		assert_int_equal(katls_ek_public_parse(pub, pub_len, &ek, NULL, 0), 0);
		p_len = sensitive_key(t, p, sizeof(p));
		ws = jhex(t, "Secret", want_seed, sizeof(want_seed));
		cl = jhex(t, "Ciphertext", ct, sizeof(ct));
		priv = rsa_priv(&ek, p, p_len);
		/* OAEP is randomized: decrypt the vector's ciphertext ... */
		assert_int_equal(katls_credential_seed_recover(priv, &ek, ct, cl, seed, &seed_len),
				 0);
		assert_int_equal(seed_len, ws);
		assert_memory_equal(seed, want_seed, ws);
		/* ... and our own encryption under the same key */
		assert_int_equal(katls_credential_seed_new(&ek, want_seed, &ws, enc, &enc_len), 0);
		assert_int_equal(ws, ek.digest_len);
		assert_int_equal(enc_len, ek.pub.x_len);
		assert_int_equal(katls_credential_seed_recover(priv, &ek, enc, enc_len, seed,
							       &seed_len), 0);
		assert_memory_equal(seed, want_seed, ws);
		/* a flipped ciphertext byte does not decrypt */
		enc[enc_len / 2] ^= 1;
		assert_int_equal(katls_credential_seed_recover(priv, &ek, enc, enc_len, seed,
							       &seed_len), -EBADMSG);
		EVP_PKEY_free(priv);
		done++;
	}
	assert_true(done >= 10);
	json_object_put(arr);
}

/* ---- tpm2_makecredential --tcti none, byte for byte ------------------------------------------ */

static void tpm2_tools_case(const char *key_rel, const char *cred_rel)
{
	struct katls_buf file = KATLS_BUF_INIT, secret = KATLS_BUF_INIT, name_hex = KATLS_BUF_INIT;
	uint8_t pub[600], name[KATLS_TPM_NAME_MAX], seed[KATLS_CRED_DIGEST_MAX];
	uint8_t cred[KATLS_CRED_DIGEST_MAX], blob[KATLS_CRED_BLOB_MAX];
	size_t pub_len, name_len, seed_len = 0, cred_len = 0, blob_len = 0;
	struct katls_credential c;
	struct katls_ek_public ek;
	EVP_PKEY *priv = read_key(key_rel);
	char hex[2 * KATLS_TPM_NAME_MAX + 1];

	pub_len = tcg_ek_public(priv, pub);
	assert_int_equal(katls_ek_public_parse(pub, pub_len, &ek, NULL, 0), 0);
	read_vec(cred_rel, &file);
	read_vec("enroll/tpm2tools-secret.bin", &secret);
	read_vec("enroll/tpm2tools-name.hex", &name_hex);
	assert_true(name_hex.len > 1 && name_hex.len <= sizeof(hex));
	memcpy(hex, name_hex.data, name_hex.len - 1);	/* drop the newline */
	hex[name_hex.len - 1] = '\0';
	name_len = unhex(hex, name, sizeof(name));
	assert_int_equal(katls_credential_decode(file.data, file.len, &c), 0);
	/* what TPM2_ActivateCredential would do, with the EK private key in software */
	assert_int_equal(katls_credential_seed_recover(priv, &ek, c.secret, c.secret_len, seed,
						       &seed_len), 0);
	assert_int_equal(katls_credential_unwrap(&ek, seed, seed_len, name, name_len, c.blob,
						 c.blob_len, cred, &cred_len), 0);
	assert_int_equal(cred_len, secret.len);
	assert_memory_equal(cred, secret.data, secret.len);
	/* given tpm2-tools' seed, katls builds the identical credential blob */
	assert_int_equal(katls_credential_wrap(&ek, seed, seed_len, name, name_len, secret.data,
					       secret.len, blob, &blob_len), 0);
	assert_int_equal(blob_len, c.blob_len);
	assert_memory_equal(blob, c.blob, blob_len);
	/* another Name: the outer HMAC does not match */
	name[name_len - 1] ^= 1;
	assert_int_equal(katls_credential_unwrap(&ek, seed, seed_len, name, name_len, c.blob,
						 c.blob_len, cred, &cred_len), -EBADMSG);
	EVP_PKEY_free(priv);
	katls_buf_cleanup(&file);
	katls_buf_cleanup(&secret);
	katls_buf_cleanup(&name_hex);
}

static void test_tpm2_tools_rsa(void **state)
{
	(void)state;
	tpm2_tools_case("enroll/tpm2tools-rsa-ek.key", "enroll/tpm2tools-rsa.cred");
}

static void test_tpm2_tools_ecc(void **state)
{
	(void)state;
	tpm2_tools_case("enroll/tpm2tools-ecc-ek.key", "enroll/tpm2tools-ecc.cred");
}

/* ---- MakeCredential round trip and tampering --------------------------------------------------- */

static void roundtrip(const char *key_rel)
{
	uint8_t pub[600], name[34] = { 0x00, 0x0b }, secret[32], seed[KATLS_CRED_DIGEST_MAX];
	uint8_t cred[KATLS_CRED_DIGEST_MAX];
	size_t pub_len, seed_len = 0, cred_len = 0;
	struct katls_credential c, bad;
	struct katls_buf enc = KATLS_BUF_INIT;
	struct katls_ek_public ek;
	EVP_PKEY *priv = read_key(key_rel);

	pub_len = tcg_ek_public(priv, pub);
	assert_int_equal(katls_ek_public_parse(pub, pub_len, &ek, NULL, 0), 0);
	memset(name + 2, 0x5a, 32);
	memset(secret, 0xc3, sizeof(secret));
	assert_int_equal(katls_credential_make(&ek, name, sizeof(name), secret, 33, &c), -EINVAL);
	assert_int_equal(katls_credential_make(&ek, name, sizeof(name), secret, 0, &c), -EINVAL);
	assert_int_equal(katls_credential_make(&ek, name, sizeof(name), secret, 32, &c), 0);
	assert_int_equal(c.blob_len, 2 + 32 + 2 + 32);
	/* file format round trip */
	assert_int_equal(katls_credential_encode(&c, &enc), 0);
	assert_int_equal(katls_credential_decode(enc.data, enc.len, &bad), 0);
	assert_memory_equal(&bad, &c, sizeof(c));
	assert_int_equal(katls_credential_seed_recover(priv, &ek, c.secret, c.secret_len, seed,
						       &seed_len), 0);
	assert_int_equal(katls_credential_unwrap(&ek, seed, seed_len, name, sizeof(name), c.blob,
						 c.blob_len, cred, &cred_len), 0);
	assert_int_equal(cred_len, 32);
	assert_memory_equal(cred, secret, 32);
	/* every flipped blob byte is caught by the outer HMAC */
	for (size_t i = 0; i < c.blob_len; i++) {
		bad = c;
		bad.blob[i] ^= 0x01;
		assert_int_not_equal(katls_credential_unwrap(&ek, seed, seed_len, name,
							     sizeof(name), bad.blob, bad.blob_len,
							     cred, &cred_len), 0);
	}
	/* a truncated blob */
	assert_int_equal(katls_credential_unwrap(&ek, seed, seed_len, name, sizeof(name), c.blob,
						 2 + 32 + 1, cred, &cred_len), -EBADMSG);
	/* another seed (a credential made for another EK) */
	seed[0] ^= 1;
	assert_int_equal(katls_credential_unwrap(&ek, seed, seed_len, name, sizeof(name), c.blob,
						 c.blob_len, cred, &cred_len), -EBADMSG);
	/* each run draws a new seed and a new encryption */
	assert_int_equal(katls_credential_make(&ek, name, sizeof(name), secret, 32, &bad), 0);
	assert_memory_not_equal(bad.secret, c.secret, c.secret_len);
	assert_memory_not_equal(bad.blob, c.blob, c.blob_len);
	katls_buf_cleanup(&enc);
	EVP_PKEY_free(priv);
}

static void test_make_roundtrip_rsa(void **state)
{
	(void)state;
	roundtrip("enroll/tpm2tools-rsa-ek.key");
}

static void test_make_roundtrip_ecc(void **state)
{
	(void)state;
	roundtrip("enroll/tpm2tools-ecc-ek.key");
}

/* ---- EK checks ------------------------------------------------------------------------- */

static void test_ek_public_rejects(void **state)
{
	EVP_PKEY *priv = read_key("enroll/tpm2tools-ecc-ek.key");
	uint8_t good[600], bad[600];
	size_t len = tcg_ek_public(priv, good);
	struct katls_ek_public ek;
	char err[256];
	static const struct {
		size_t off;		/* byte to change */
		uint8_t val;
		int ret;
		const char *msg;
	} cases[] = {
		{ 7, 0xb2 & ~0x02, -EINVAL, "attributes" },		/* no fixedTPM */
		{ 5, 0x00, -EINVAL, "attributes" },			/* not restricted, not decrypt */
		{ 5, 0x07, -EINVAL, "attributes" },			/* + sign */
		{ 3, 0x04, -EOPNOTSUPP, "nameAlg" },			/* SHA-1 */
		{ 46, 0x44, -EOPNOTSUPP, "symmetric" },			/* CFB -> CBC */
		{ 45, 0x40, -EOPNOTSUPP, "symmetric" },			/* 64-bit key */
		{ 51, 0x99, -EOPNOTSUPP, "curve" },			/* unknown curve */
		{ 56, 0x00, -EBADMSG, "valid" },			/* x changed: off the curve */
	};

	(void)state;
	assert_int_equal(katls_ek_public_parse(good, len, &ek, err, sizeof(err)), 0);
	assert_int_equal(ek.sym_bits, 128);
	assert_int_equal(ek.digest_len, 32);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, good, len);
		bad[cases[i].off] = cases[i].val;
		err[0] = '\0';
		assert_int_equal(katls_ek_public_parse(bad, len, &ek, err, sizeof(err)),
				 cases[i].ret);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: message '%s' lacks '%s'", i, err, cases[i].msg);
	}
	/* symmetric NULL (a well-formed TPMT_SYM_DEF_OBJECT without keyBits and mode) */
	memcpy(bad, good, 42);
	bad[42] = 0x00;
	bad[43] = 0x10;
	memcpy(bad + 44, good + 48, len - 48);
	assert_int_equal(katls_ek_public_parse(bad, len - 4, &ek, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "symmetric"));
	/* truncated at every length, and one trailing byte */
	for (size_t n = 0; n < len; n++)
		assert_int_not_equal(katls_ek_public_parse(good, n, &ek, NULL, 0), 0);
	good[len] = 0;
	assert_int_equal(katls_ek_public_parse(good, len + 1, &ek, NULL, 0), -EBADMSG);
	EVP_PKEY_free(priv);
}

static void test_credential_decode_strict(void **state)
{
	struct katls_buf file = KATLS_BUF_INIT;
	struct katls_credential c;
	uint8_t buf[1024];

	(void)state;
	read_vec("enroll/tpm2tools-rsa.cred", &file);
	assert_int_equal(katls_credential_decode(file.data, file.len, &c), 0);
	for (size_t n = 0; n < file.len; n++)
		assert_int_equal(katls_credential_decode(file.data, n, &c), -EBADMSG);
	memcpy(buf, file.data, file.len);
	buf[file.len] = 0;
	assert_int_equal(katls_credential_decode(buf, file.len + 1, &c), -EBADMSG);
	buf[0] ^= 1;		/* magic */
	assert_int_equal(katls_credential_decode(buf, file.len, &c), -EBADMSG);
	buf[0] ^= 1;
	buf[7] = 2;		/* version */
	assert_int_equal(katls_credential_decode(buf, file.len, &c), -EBADMSG);
	katls_buf_cleanup(&file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kdfa_reference_selftest),
		cmocka_unit_test(test_kdfa_vectors),
		cmocka_unit_test(test_kdfe_vectors),
		cmocka_unit_test(test_kdf_limits),
		cmocka_unit_test(test_ecc_identity_vectors),
		cmocka_unit_test(test_rsa_identity_vectors),
		cmocka_unit_test(test_tpm2_tools_rsa),
		cmocka_unit_test(test_tpm2_tools_ecc),
		cmocka_unit_test(test_make_roundtrip_rsa),
		cmocka_unit_test(test_make_roundtrip_ecc),
		cmocka_unit_test(test_ek_public_rejects),
		cmocka_unit_test(test_credential_decode_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
