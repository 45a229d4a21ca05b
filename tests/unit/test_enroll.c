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
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_tpm2_types.h>

#include "evidence/credential.h"
#include "evidence/enroll.h"
#include "util/buf.h"

#include "evidence/quote.h"
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

/* ---- the enrollment store -------------------------------------------------------------- */

/* katls' AK template with the point of the swtpm ECDSA vector (tests/vectors/tpm). */
static const char ak_pub_hex[] =
	"0023000b00050072000000100018000b000300100020f533789fb86ad512ca3e930df08cd16396d14c30"
	"c79c46a88839b574a3dfb32700201b3db55b2abdc884e40898e95dfffd2c7e8554526d4e1f651779bab1"
	"f81300cb";
static const char ak_name_hex[] =
	"000bcbd557368831bc5dabc063855a784c7805894084f6266e45411ea9fb06e1a4ba";

/* A record for ak_pub_hex with byte @tweak of x changed (0 = none): another AK. */
static void make_record(struct katls_enroll_record *r, uint8_t tweak, const char *label)
{
	struct katls_tpm_public tp;
	uint8_t pub[200];
	size_t n = unhex(ak_pub_hex, pub, sizeof(pub));

	memset(r, 0, sizeof(*r));
	pub[30] ^= tweak;
	assert_int_equal(katls_quote_public_parse(pub, n, &tp), 0);
	assert_int_equal(katls_quote_public_name(&tp, r->ak_name, &r->ak_name_len), 0);
	r->ak_public = malloc(n);
	assert_non_null(r->ak_public);
	memcpy(r->ak_public, pub, n);
	r->ak_public_len = n;
	memset(r->ek_cert_sha256, 0x11, 32);
	r->ek_cert_issuer = strdup("CN=TPM CA,O=Maker");
	r->ek_cert_subject = strdup("");
	r->ek_cert_serial = strdup("0a1b");
	r->label = label ? strdup(label) : NULL;
	r->enrolled_at = 1767225600;	/* 2026-01-01T00:00:00Z */
}

static const char store_doc[] =
	"{ \"version\": 1, \"enrollments\": [ {\n"
	"  \"ak_name\": \"%s\",\n"
	"  \"ak_public\": \"%s\",\n"
	"  \"ek_cert_sha256\": \"1111111111111111111111111111111111111111111111111111111111111111\",\n"
	"  \"ek_cert_issuer\": \"CN=TPM CA,O=Maker\",\n"
	"  \"ek_cert_subject\": \"\", \"ek_cert_serial\": \"0a1b\", \"label\": \"db1.example\",\n"
	"  \"enrolled_at\": \"2026-01-01T00:00:00Z\"%s } ] }%s";

static void test_store_parse(void **state)
{
	struct katls_enroll_store *s = NULL;
	const struct katls_enroll_record *r;
	uint8_t name[KATLS_TPM_NAME_MAX], pub[200];
	size_t name_len = unhex(ak_name_hex, name, sizeof(name));
	size_t pub_len = unhex(ak_pub_hex, pub, sizeof(pub));
	char doc[4096], err[256];

	(void)state;
	snprintf(doc, sizeof(doc), store_doc, ak_name_hex, ak_pub_hex, "", "\n");
	assert_int_equal(katls_enroll_store_parse(doc, strlen(doc), &s, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_count(s), 1);
	r = katls_enroll_store_find(s, name, name_len);
	assert_non_null(r);
	assert_string_equal(r->label, "db1.example");
	assert_int_equal(r->enrolled_at, 1767225600);
	assert_true(katls_enroll_store_has_name(s, name, name_len));
	assert_ptr_equal(katls_enroll_store_find_public(s, pub, pub_len), r);
	/* another AK: not found, by Name or by public area */
	name[name_len - 1] ^= 1;
	assert_false(katls_enroll_store_has_name(s, name, name_len));
	assert_false(katls_enroll_store_has_name(s, name, name_len - 1));
	assert_false(katls_enroll_store_has_name(s, NULL, 0));
	pub[40] ^= 1;
	assert_null(katls_enroll_store_find_public(s, pub, pub_len));
	assert_null(katls_enroll_store_find_public(s, pub, 10));
	katls_enroll_store_free(s);
	/* an empty store is valid and finds nothing */
	snprintf(doc, sizeof(doc), "{\"version\":1,\"enrollments\":[]}");
	assert_int_equal(katls_enroll_store_parse(doc, strlen(doc), &s, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_count(s), 0);
	assert_false(katls_enroll_store_has_name(s, name, name_len));
	katls_enroll_store_free(s);
}

static void test_store_rejects(void **state)
{
	static const struct {
		const char *from, *to, *msg;
	} cases[] = {
		{ "\"version\": 1", "\"version\": 2", "version 2 is not supported" },
		{ "\"version\": 1", "\"version\": \"1\"", "expected int" },
		{ "\"version\": 1,", "", "missing required key \"version\"" },
		{ "\"label\"", "\"labels\"", "unknown key \"labels\"" },
		{ "\"ak_name\": \"000bcb", "\"ak_name\": \"000bcc", "ak_name is not the Name" },
		{ "\"ak_name\": \"000bcb", "\"ak_name\": \"000BCB", "invalid lowercase hex" },
		{ "\"ak_public\": \"0023000b00050072", "\"ak_public\": \"0023000b00070072",
		  "not a restricted, fixedTPM signing key" },	/* + decrypt */
		{ "\"ak_public\": \"0023000b00050072", "\"ak_public\": \"0023000b00050070",
		  "not a restricted, fixedTPM signing key" },	/* - fixedTPM */
		{ "\"ak_public\": \"0023", "\"ak_public\": \"0025", "not a TPMT_PUBLIC" },
		{ "\"ek_cert_sha256\": \"11", "\"ek_cert_sha256\": \"", "expected 64 hex digits" },
		{ "\"ek_cert_issuer\": \"CN=TPM CA,O=Maker\"", "\"ek_cert_issuer\": \"\"",
		  "expected 1.." },
		{ "\"ek_cert_issuer\": \"CN=TPM CA", "\"ek_cert_issuer\": \"CN=TPM\\tCA",
		  "not printable" },
		{ "db1.example", "db1 example", "without spaces" },
		{ "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "not a valid UTC time" },
		{ "2026-01-01T00:00:00Z", "2026-01-01 00:00:00Z", "expected a UTC time" },
		{ "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+01:00", "expected a UTC time" },
		{ "\"enrollments\": [", "\"enrollments\": {", NULL },
		{ "} ] }", "} ] } x", "trailing data" },
		{ "} ] }", "} ]", "truncated" },
	};
	char base[4096], doc[4096], err[256];
	struct katls_enroll_store *s;

	(void)state;
	snprintf(base, sizeof(base), store_doc, ak_name_hex, ak_pub_hex, "", "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(base, cases[i].from);
		size_t pre;

		assert_non_null(at);
		pre = (size_t)(at - base);
		snprintf(doc, sizeof(doc), "%.*s%s%s", (int)pre, base, cases[i].to,
			 at + strlen(cases[i].from));
		err[0] = '\0';
		s = (void *)1;
		assert_int_equal(katls_enroll_store_parse(doc, strlen(doc), &s, err, sizeof(err)),
				 -EINVAL);
		assert_null(s);
		if (!err[0] || (cases[i].msg && !strstr(err, cases[i].msg)))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
	}
	/* the same AK twice */
	{
		const char *rec = strchr(base, '[') + 1;
		int len = (int)(strrchr(base, ']') - rec);

		snprintf(doc, sizeof(doc), "{\"version\":1,\"enrollments\":[%.*s,%.*s]}", len, rec,
			 len, rec);
	}
	err[0] = '\0';
	assert_int_equal(katls_enroll_store_parse(doc, strlen(doc), &s, err, sizeof(err)),
			 -EINVAL);
	if (!strstr(err, "enrolled twice"))
		fail_msg("duplicate: '%s'", err);
}

/* tpm2_readpublic of swtpm's persistent RSA EK (an endorsement primary). */
static void test_qualified_name(void **state)
{
	uint8_t name[KATLS_TPM_NAME_MAX], want[KATLS_TPM_NAME_MAX], qn[KATLS_TPM_NAME_MAX];
	size_t name_len = unhex("000b1ab2ca6cca04f9eefaf99f5837bc1f2e7f369f027e78c9028e10957b05256d71",
				name, sizeof(name));
	size_t n = 0;

	(void)state;
	unhex("000bd16a0ad1e7f8ce3067b763c73b87ea5b4a6604991317789f185178b94d381da3", want,
	      sizeof(want));
	assert_int_equal(katls_enroll_primary_qualified_name(TPM2_RH_ENDORSEMENT, name, name_len,
							     qn, &n), 0);
	assert_int_equal(n, 34);
	assert_memory_equal(qn, want, 34);
	assert_int_equal(katls_enroll_primary_qualified_name(TPM2_RH_OWNER, name, name_len, qn,
							     &n), 0);
	assert_memory_not_equal(qn, want, 34);
	assert_int_equal(katls_enroll_primary_qualified_name(TPM2_RH_OWNER, name, 33, qn, &n),
			 -EINVAL);
	name[1] = 0x99;
	assert_int_equal(katls_enroll_primary_qualified_name(TPM2_RH_OWNER, name, name_len, qn,
							     &n), -EOPNOTSUPP);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/katls-unit-enroll.XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_store_add(void **state)
{
	struct katls_enroll_record a, b, a2;
	struct katls_enroll_store *s;
	char *dir = tmpdir(), path[256], err[256];
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/store.json", dir);
	assert_int_equal(katls_enroll_store_load(path, &s, err, sizeof(err)), -ENOENT);
	make_record(&a, 0, "a.example");
	make_record(&b, 0x40, NULL);
	make_record(&a2, 0, "a2.example");
	assert_int_equal(katls_enroll_store_add(path, &a, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_add(path, &b, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_load(path, &s, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_count(s), 2);
	assert_string_equal(katls_enroll_store_find(s, a.ak_name, a.ak_name_len)->label,
			    "a.example");
	assert_null(katls_enroll_store_find(s, b.ak_name, b.ak_name_len)->label);
	assert_memory_equal(katls_enroll_store_find(s, b.ak_name, b.ak_name_len)->ak_public,
			    b.ak_public, b.ak_public_len);
	assert_true(memcmp(katls_enroll_store_get(s, 0)->ak_name,
			   katls_enroll_store_get(s, 1)->ak_name, 34) < 0);
	katls_enroll_store_free(s);
	/* re-enrolling an AK replaces its record */
	assert_int_equal(katls_enroll_store_add(path, &a2, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_load(path, &s, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_count(s), 2);
	assert_string_equal(katls_enroll_store_find(s, a.ak_name, a.ak_name_len)->label,
			    "a2.example");
	katls_enroll_store_free(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* a corrupt store is not overwritten */
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("garbage", f);
	fclose(f);
	assert_int_equal(katls_enroll_store_add(path, &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "trailing data"));
	assert_int_equal(katls_enroll_store_load(path, &s, err, sizeof(err)), -EINVAL);
	katls_enroll_record_cleanup(&a);
	katls_enroll_record_cleanup(&b);
	katls_enroll_record_cleanup(&a2);
	rm_rf(dir);
	free(dir);
}

struct lookup_arg {
	const struct katls_enroll_store *s;
	const struct katls_enroll_record *recs;
	size_t n;
	int bad;
};

static void *lookups(void *p)
{
	struct lookup_arg *a = p;

	for (int k = 0; k < 2000; k++) {
		const struct katls_enroll_record *r = &a->recs[(size_t)k % a->n];

		if (!katls_enroll_store_find_public(a->s, r->ak_public, r->ak_public_len))
			a->bad++;
	}
	return NULL;
}

/* Concurrent lookups on one loaded store (run under ASan/TSan builds too). */
static void test_store_threads(void **state)
{
	struct katls_enroll_record recs[32];
	struct lookup_arg args[4];
	struct katls_enroll_store *s;
	pthread_t th[4];
	char *dir = tmpdir(), path[256], err[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/store.json", dir);
	for (size_t i = 0; i < 32; i++) {
		make_record(&recs[i], (uint8_t)(i + 1), NULL);
		assert_int_equal(katls_enroll_store_add(path, &recs[i], err, sizeof(err)), 0);
	}
	assert_int_equal(katls_enroll_store_load(path, &s, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_store_count(s), 32);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct lookup_arg){ .s = s, .recs = recs, .n = 32 };
		assert_int_equal(pthread_create(&th[i], NULL, lookups, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].bad, 0);
	}
	katls_enroll_store_free(s);
	for (size_t i = 0; i < 32; i++)
		katls_enroll_record_cleanup(&recs[i]);
	rm_rf(dir);
	free(dir);
}

static void test_pending_roundtrip(void **state)
{
	struct katls_enroll_record r, back;
	uint8_t secret[32], got[KATLS_CRED_DIGEST_MAX];
	char id[KATLS_ENROLL_ID_HEX], err[256], *text = NULL, *bad;
	size_t got_len = 0;
	int64_t created = 0;

	(void)state;
	make_record(&r, 0, "x");
	memset(secret, 0x5c, sizeof(secret));
	assert_int_equal(katls_enroll_pending_encode("00112233445566778899aabbccddeeff",
						     1767225600, secret, 32, &r, &text, err,
						     sizeof(err)), 0);
	assert_int_equal(katls_enroll_pending_parse(text, strlen(text), id, &created, got,
						    &got_len, &back, err, sizeof(err)), 0);
	assert_string_equal(id, "00112233445566778899aabbccddeeff");
	assert_int_equal(created, 1767225600);
	assert_int_equal(got_len, 32);
	assert_memory_equal(got, secret, 32);
	assert_memory_equal(back.ak_name, r.ak_name, r.ak_name_len);
	assert_string_equal(back.label, "x");
	katls_enroll_record_cleanup(&back);
	/* a short id does not parse */
	bad = strstr(text, "00112233");
	assert_non_null(bad);
	memmove(bad, bad + 2, strlen(bad + 2) + 1);
	assert_int_equal(katls_enroll_pending_parse(text, strlen(text), id, &created, got,
						    &got_len, &back, err, sizeof(err)), -EINVAL);
	free(text);
	katls_enroll_record_cleanup(&r);
}

/* ---- the protocol without a TPM: a software EK certified by a test CA -------------------- */

static X509 *make_cert(EVP_PKEY *subject_key, const char *cn, EVP_PKEY *ca_key, X509 *ca,
		       bool is_ca)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(is_ca ? 1 : 0x1234));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name);
	X509_NAME_free(name);
	assert_int_equal(X509_set_pubkey(x, subject_key), 1);
	X509V3_set_ctx(&ctx, ca ? ca : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				  is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	return x;
}

struct soft_tpm {
	EVP_PKEY *ek, *ca_key, *other_ca_key;
	X509 *ca, *other_ca;
	char *dir, ca_path[256], other_ca_path[256], state[256], store[256];
	struct katls_enroll_request req;
};

static void write_pem(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
}

static void soft_setup(struct soft_tpm *t)
{
	uint8_t pub[600], der[4096], *p = der;
	X509 *ek_cert;
	int n;

	memset(t, 0, sizeof(*t));
	t->ek = read_key("enroll/tpm2tools-rsa-ek.key");
	t->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	t->other_ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	t->ca = make_cert(t->ca_key, "Test TPM CA", t->ca_key, NULL, true);
	t->other_ca = make_cert(t->other_ca_key, "Test TPM CA", t->other_ca_key, NULL, true);
	ek_cert = make_cert(t->ek, "", t->ca_key, t->ca, false);
	t->dir = tmpdir();
	snprintf(t->ca_path, sizeof(t->ca_path), "%s/ca.pem", t->dir);
	snprintf(t->other_ca_path, sizeof(t->other_ca_path), "%s/other.pem", t->dir);
	snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
	snprintf(t->store, sizeof(t->store), "%s/store.json", t->dir);
	write_pem(t->ca_path, t->ca);
	write_pem(t->other_ca_path, t->other_ca);
	n = i2d_X509(ek_cert, &p);
	assert_true(n > 0);
	X509_free(ek_cert);
	assert_int_equal(katls_put_bytes(&t->req.ek_cert, der, (size_t)n), 0);
	n = (int)tcg_ek_public(t->ek, pub);
	assert_int_equal(katls_put_bytes(&t->req.ek_public, pub, (size_t)n), 0);
	n = (int)unhex(ak_pub_hex, pub, sizeof(pub));
	assert_int_equal(katls_put_bytes(&t->req.ak_public, pub, (size_t)n), 0);
}

static void soft_teardown(struct soft_tpm *t)
{
	katls_enroll_request_cleanup(&t->req);
	EVP_PKEY_free(t->ek);
	EVP_PKEY_free(t->ca_key);
	EVP_PKEY_free(t->other_ca_key);
	X509_free(t->ca);
	X509_free(t->other_ca);
	rm_rf(t->dir);
	free(t->dir);
}

/* What TPM2_ActivateCredential does, with the EK private key in software. */
static void soft_activate(struct soft_tpm *t, const struct katls_enroll_challenge *c,
			  struct katls_enroll_response *r)
{
	struct katls_ek_public ek;
	uint8_t seed[KATLS_CRED_DIGEST_MAX], name[KATLS_TPM_NAME_MAX];
	size_t seed_len = 0, name_len = unhex(ak_name_hex, name, sizeof(name));

	assert_int_equal(katls_ek_public_parse(t->req.ek_public.data, t->req.ek_public.len, &ek,
					       NULL, 0), 0);
	assert_int_equal(katls_credential_seed_recover(t->ek, &ek, c->cred.secret,
						       c->cred.secret_len, seed, &seed_len), 0);
	memset(r, 0, sizeof(*r));
	memcpy(r->id, c->id, sizeof(r->id));
	assert_int_equal(katls_credential_unwrap(&ek, seed, seed_len, name, name_len,
						 c->cred.blob, c->cred.blob_len, r->secret,
						 &r->secret_len), 0);
}

static struct katls_enroll_ca *load_ca(const char *path)
{
	struct katls_enroll_ca *ca = NULL;
	const char *paths[] = { path };
	char err[256];

	assert_int_equal(katls_enroll_ca_load(paths, 1, &ca, err, sizeof(err)), 0);
	return ca;
}

static void test_protocol_soft(void **state)
{
	struct katls_enroll_challenge c, c2;
	struct katls_enroll_response r;
	struct katls_enroll_record rec;
	struct katls_enroll_store *s;
	struct soft_tpm t;
	struct katls_enroll_ca *ca, *other;
	char err[512];
	struct stat st;

	(void)state;
	soft_setup(&t);
	ca = load_ca(t.ca_path);
	other = load_ca(t.other_ca_path);
	/* EK certificate from another CA (same subject name, other key) */
	assert_int_equal(katls_enroll_challenge_new(t.state, &t.req, other, &c, err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "does not chain"));
	/* the round trip */
	assert_int_equal(katls_enroll_challenge_new(t.state, &t.req, ca, &c, err, sizeof(err)), 0);
	assert_int_equal(stat(t.state, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	soft_activate(&t, &c, &r);
	assert_int_equal(katls_enroll_verify(t.state, &r, 600, t.store, "soft.example", &rec, err,
					     sizeof(err)), 0);
	assert_string_equal(rec.ek_cert_subject, "");
	assert_string_equal(rec.ek_cert_issuer, "CN=Test TPM CA");
	assert_string_equal(rec.ek_cert_serial, "1234");
	katls_enroll_record_cleanup(&rec);
	assert_int_equal(katls_enroll_store_load(t.store, &s, err, sizeof(err)), 0);
	assert_non_null(katls_enroll_store_find_public(s, t.req.ak_public.data,
						       t.req.ak_public.len));
	katls_enroll_store_free(s);
	/* replay */
	assert_int_equal(katls_enroll_verify(t.state, &r, 600, t.store, NULL, NULL, err,
					     sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "no pending challenge"));
	/* a wrong secret consumes the challenge */
	assert_int_equal(katls_enroll_challenge_new(t.state, &t.req, ca, &c2, err, sizeof(err)), 0);
	soft_activate(&t, &c2, &r);
	r.secret[0] ^= 1;
	assert_int_equal(katls_enroll_verify(t.state, &r, 600, t.store, NULL, NULL, err,
					     sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "does not match"));
	r.secret[0] ^= 1;
	assert_int_equal(katls_enroll_verify(t.state, &r, 600, t.store, NULL, NULL, err,
					     sizeof(err)), -EACCES);
	/* expiry */
	assert_int_equal(katls_enroll_challenge_new(t.state, &t.req, ca, &c2, err, sizeof(err)), 0);
	soft_activate(&t, &c2, &r);
	sleep(1);
	assert_int_equal(katls_enroll_verify(t.state, &r, 0, t.store, NULL, NULL, err,
					     sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "expired"));
	/* a malformed id never reaches the file system */
	memcpy(r.id, "../../../etc/passwd", 20);
	assert_int_equal(katls_enroll_verify(t.state, &r, 600, t.store, NULL, NULL, err,
					     sizeof(err)), -EBADMSG);
	/* the EK certificate certifies another key */
	t.req.ek_public.data[t.req.ek_public.len - 1] ^= 1;
	assert_int_equal(katls_enroll_challenge_new(t.state, &t.req, ca, &c2, err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "certifies another key"));
	t.req.ek_public.data[t.req.ek_public.len - 1] ^= 1;
	/* an AK that is not restricted */
	t.req.ak_public.data[5] &= (uint8_t)~(TPMA_OBJECT_RESTRICTED >> 16);
	assert_int_equal(katls_enroll_challenge_new(t.state, &t.req, ca, &c2, err, sizeof(err)),
			 -EACCES);
	assert_non_null(strstr(err, "lacks restricted"));
	katls_enroll_ca_free(ca);
	katls_enroll_ca_free(other);
	soft_teardown(&t);
}

static void test_request_files(void **state)
{
	struct katls_enroll_request back;
	struct soft_tpm t;
	char dir[300], path[400], err[256];
	FILE *f;

	(void)state;
	soft_setup(&t);
	snprintf(dir, sizeof(dir), "%s/req", t.dir);
	t.req.ek_nv_index = 0x01c00002;
	assert_int_equal(katls_enroll_request_write(dir, &t.req, err, sizeof(err)), 0);
	assert_int_equal(katls_enroll_request_read(dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back.ek_nv_index, 0x01c00002);
	assert_int_equal(back.ak_public.len, t.req.ak_public.len);
	assert_int_equal(back.ak_name_len, 0);
	katls_enroll_request_cleanup(&back);
	/* a malformed ek-nv-index */
	snprintf(path, sizeof(path), "%s/ek-nv-index", dir);
	f = fopen(path, "w");
	fputs("0x81010001\n", f);
	fclose(f);
	assert_int_equal(katls_enroll_request_read(dir, &back, err, sizeof(err)), -EBADMSG);
	katls_enroll_request_cleanup(&back);
	/* a non-hex ak.name */
	unlink(path);
	snprintf(path, sizeof(path), "%s/ak.name", dir);
	f = fopen(path, "w");
	fputs("000bzz\n", f);
	fclose(f);
	assert_int_equal(katls_enroll_request_read(dir, &back, err, sizeof(err)), -EBADMSG);
	katls_enroll_request_cleanup(&back);
	soft_teardown(&t);
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
		cmocka_unit_test(test_store_parse),
		cmocka_unit_test(test_store_rejects),
		cmocka_unit_test(test_store_add),
		cmocka_unit_test(test_store_threads),
		cmocka_unit_test(test_pending_roundtrip),
		cmocka_unit_test(test_qualified_name),
		cmocka_unit_test(test_protocol_soft),
		cmocka_unit_test(test_request_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
