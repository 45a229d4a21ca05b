// SPDX-License-Identifier: MIT
/*
 * RFC 9261 Exported Authenticators: PROTOCOL.md §1 vectors (RFC 8448-derived
 * and fizz), the exporter against a live OpenSSL TLS 1.3 handshake, round
 * trips for every key type and suite hash, one negative test per validation
 * rule (PROTOCOL.md §1.6, §6 E1, R1) and the expat binder (B1).
 *
 * Negative authenticators are forged here with plain OpenSSL calls so that
 * they are correctly signed and MAC'd and only the rule under test fails.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "katls.h"
#include "util/buf.h"
#include "wire/ea.h"

/* ---- helpers ------------------------------------------------------------- */

/* Hex to bytes; spaces are ignored. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	char pair[3] = { 0 };
	size_t n = 0;

	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		assert_true(isxdigit((unsigned char)hex[0]) &&
			    isxdigit((unsigned char)hex[1]));
		assert_true(n < cap);
		pair[0] = hex[0];
		pair[1] = hex[1];
		out[n++] = (uint8_t)strtoul(pair, NULL, 16);
		hex += 2;
	}
	return n;
}

static void assert_hex(const uint8_t *got, size_t got_len, const char *hex)
{
	uint8_t want[512];
	size_t n = unhex(hex, want, sizeof(want));

	assert_int_equal(got_len, n);
	assert_memory_equal(got, want, n);
}

/* RFC 8448 §3 exporter_master_secret (TLS_AES_128_GCM_SHA256). */
static const char rfc8448_ems[] =
	"fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50";

struct exp {
	struct katls_exporter ex;
	struct katls_exporter_secret store;
};

static void exp_init(struct exp *e, const EVP_MD *md, const char *secret_hex)
{
	uint8_t s[EVP_MAX_MD_SIZE];
	size_t n = unhex(secret_hex, s, sizeof(s));

	assert_int_equal(katls_exporter_from_secret(&e->ex, &e->store, md, s, n), 0);
}

/* A SHA-384 exporter secret: 00 01 .. 2f. */
static void exp_init_384(struct exp *e, uint8_t seed)
{
	uint8_t s[48];

	for (size_t i = 0; i < sizeof(s); i++)
		s[i] = (uint8_t)(seed + i);
	assert_int_equal(katls_exporter_from_secret(&e->ex, &e->store,
						    EVP_sha384(), s, sizeof(s)), 0);
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *issuer_key, const char *cn,
		       const char *issuer_cn)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	name = X509_get_issuer_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)issuer_cn, -1, -1, 0);
	assert_true(X509_sign(x, issuer_key,
			      EVP_PKEY_is_a(issuer_key, "ED25519") ? NULL : EVP_sha256()) > 0);
	return x;
}

struct ident {
	EVP_PKEY *key;
	X509 *cert;
	uint16_t scheme;	/* what the builder must pick */
};

enum { K_P256, K_P384, K_RSA, K_ED25519, K_NUM };
static struct ident keys[K_NUM];
static EVP_PKEY *ca_key;
static X509 *ca_cert;

static int setup_keys(void **state)
{
	keys[K_P256].key = EVP_EC_gen("P-256");
	keys[K_P384].key = EVP_EC_gen("P-384");
	keys[K_RSA].key = EVP_RSA_gen(2048);
	keys[K_ED25519].key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	keys[K_P256].scheme = KATLS_SIG_ECDSA_P256_SHA256;
	keys[K_P384].scheme = KATLS_SIG_ECDSA_P384_SHA384;
	keys[K_RSA].scheme = KATLS_SIG_RSA_PSS_RSAE_SHA256;
	keys[K_ED25519].scheme = KATLS_SIG_ED25519;
	ca_key = EVP_EC_gen("P-256");
	if (!ca_key)
		return -1;
	ca_cert = make_cert(ca_key, ca_key, "katls test CA", "katls test CA");
	for (int i = 0; i < K_NUM; i++) {
		if (!keys[i].key)
			return -1;
		keys[i].cert = make_cert(keys[i].key, ca_key, "attester", "katls test CA");
	}
	return 0;
}

static int teardown_keys(void **state)
{
	for (int i = 0; i < K_NUM; i++) {
		EVP_PKEY_free(keys[i].key);
		X509_free(keys[i].cert);
	}
	EVP_PKEY_free(ca_key);
	X509_free(ca_cert);
	return 0;
}

static void build_req(struct katls_ea_request *req, uint8_t type,
		      const uint16_t *algs, size_t n, bool no_cmw)
{
	struct katls_ea_request_params p = {
		.type = type, .sigalgs = algs, .num_sigalgs = n, .no_cmw = no_cmw,
	};

	assert_int_equal(katls_ea_request_build(req, &p), 0);
}

static const uint8_t cmw_bytes[] = "\x82\x78\x19" "application/vnd.katls.test" "\x43" "abc";

/* Our own authenticator for (role, request, key); CMW on the leaf if asked. */
static void build_ea(struct katls_buf *out, const struct katls_exporter *ex,
		     enum katls_role role, const struct katls_ea_request *req,
		     const struct ident *id, bool with_cmw, bool with_ca)
{
	STACK_OF(X509) *inter = sk_X509_new_null();
	struct katls_ea_identity eid = {
		.leaf = id->cert, .key = id->key,
		.cmw = with_cmw ? cmw_bytes : NULL,
		.cmw_len = with_cmw ? sizeof(cmw_bytes) : 0,
	};

	if (with_ca)
		sk_X509_push(inter, ca_cert);
	eid.intermediates = inter;
	assert_int_equal(katls_ea_authenticator_build(out, ex, role, req, &eid), 0);
	sk_X509_free(inter);
}

static int validate(const struct katls_exporter *ex, enum katls_role role,
		    const struct katls_ea_request *req, struct katls_ea_crc_set *used,
		    const uint8_t *in, size_t in_len, enum katls_reason *reason)
{
	struct katls_ea_result res;
	int ret;

	ret = katls_ea_authenticator_validate(&res, reason, ex, role, req, used,
					      in, in_len);
	if (ret) {
		assert_null(res.leaf);
		assert_null(res.chain);
		assert_null(res.cmw);
	}
	katls_ea_result_cleanup(&res);
	return ret;
}

/* Asserts that validation fails with -err and reason why. */
static void expect_fail(const struct katls_exporter *ex, enum katls_role role,
			const struct katls_ea_request *req, const uint8_t *in,
			size_t in_len, int err, enum katls_reason why)
{
	struct katls_ea_crc_set used;
	enum katls_reason reason;

	katls_ea_crc_set_init(&used);
	assert_int_equal(validate(ex, role, req, &used, in, in_len, &reason), err);
	assert_int_equal(reason, why);
	/* a failed validation never consumes the crc */
	assert_false(katls_ea_crc_set_contains(&used, req->crc, req->crc_len));
	katls_ea_crc_set_cleanup(&used);
}

/* Offset of the CertificateVerify message inside an EA. */
static size_t cv_offset(const struct katls_buf *b)
{
	return 4 + ((size_t)b->data[1] << 16 | (size_t)b->data[2] << 8 | b->data[3]);
}

/* ---- the forger: correct CV and Finished over arbitrary messages ---------- */

static const char *hc_label(enum katls_role r)
{
	return r == KATLS_ROLE_CLIENT ?
	       "EXPORTER-client authenticator handshake context" :
	       "EXPORTER-server authenticator handshake context";
}

static const char *fk_label(enum katls_role r)
{
	return r == KATLS_ROLE_CLIENT ?
	       "EXPORTER-client authenticator finished key" :
	       "EXPORTER-server authenticator finished key";
}

/* H(HC || request || msgs) computed independently of ea.c. */
static void th_of(const struct katls_exporter *ex, enum katls_role role,
		  const struct katls_ea_request *req, const uint8_t *msgs,
		  size_t msgs_len, uint8_t *out, unsigned int *out_len)
{
	uint8_t hc[EVP_MAX_MD_SIZE];
	size_t hlen = (size_t)EVP_MD_get_size(ex->md);
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	assert_int_equal(ex->export(ex->arg, hc_label(role), NULL, 0, hc, hlen), 0);
	assert_int_equal(EVP_DigestInit_ex(c, ex->md, NULL), 1);
	EVP_DigestUpdate(c, hc, hlen);
	EVP_DigestUpdate(c, req->raw.data, req->raw.len);
	EVP_DigestUpdate(c, msgs, msgs_len);
	assert_int_equal(EVP_DigestFinal_ex(c, out, out_len), 1);
	EVP_MD_CTX_free(c);
}

struct sig_spec {
	uint16_t scheme;
	const EVP_MD *md;	/* NULL for EdDSA */
	int padding;		/* RSA padding, 0 for non-RSA */
	int saltlen;		/* PSS salt, 0 = RSA_PSS_SALTLEN_DIGEST */
};

/* Appends CertificateVerify and Finished to a Certificate already in b. */
static void forge_tail(struct katls_buf *b, const struct katls_exporter *ex,
		       enum katls_role role, const struct katls_ea_request *req,
		       EVP_PKEY *key, const struct sig_spec *sp)
{
	uint8_t content[200], th[EVP_MAX_MD_SIZE], fk[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
	uint8_t sig[1024];
	size_t sig_len = sizeof(sig), hlen = (size_t)EVP_MD_get_size(ex->md);
	unsigned int th_len, mac_len;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc;

	th_of(ex, role, req, b->data, b->len, th, &th_len);
	memset(content, 0x20, 64);
	memcpy(content + 64, "Exported Authenticator", 23);
	memcpy(content + 87, th, th_len);
	assert_int_equal(EVP_DigestSignInit(m, &pc, sp->md, NULL, key), 1);
	if (sp->padding)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, sp->padding), 1);
	if (sp->padding == RSA_PKCS1_PSS_PADDING)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, sp->saltlen ?
					sp->saltlen : RSA_PSS_SALTLEN_DIGEST), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &sig_len, content, 87 + th_len), 1);
	EVP_MD_CTX_free(m);

	katls_put_u8(b, KATLS_HS_CERTIFICATE_VERIFY);
	katls_put_be24(b, (uint32_t)(4 + sig_len));
	katls_put_be16(b, sp->scheme);
	katls_put_be16(b, (uint16_t)sig_len);
	katls_put_bytes(b, sig, sig_len);

	th_of(ex, role, req, b->data, b->len, th, &th_len);
	assert_int_equal(ex->export(ex->arg, fk_label(role), NULL, 0, fk, hlen), 0);
	assert_non_null(HMAC(ex->md, fk, (int)hlen, th, th_len, mac, &mac_len));
	katls_put_u8(b, KATLS_HS_FINISHED);
	katls_put_be24(b, mac_len);
	katls_put_bytes(b, mac, mac_len);
}

struct entry {
	X509 *x;
	const uint8_t *exts;	/* raw extension block */
	size_t exts_len;
};

static void put_cert_msg(struct katls_buf *b, const uint8_t *crc, size_t crc_len,
			 const struct entry *e, size_t n)
{
	size_t msg, list, der;
	unsigned char *p = NULL;
	int len;

	katls_put_u8(b, KATLS_HS_CERTIFICATE);
	katls_vec_begin(b, 3, &msg);
	katls_put_u8(b, (uint8_t)crc_len);
	katls_put_bytes(b, crc, crc_len);
	katls_vec_begin(b, 3, &list);
	for (size_t i = 0; i < n; i++) {
		len = i2d_X509(e[i].x, &p);
		assert_true(len > 0);
		katls_vec_begin(b, 3, &der);
		katls_put_bytes(b, p, (size_t)len);
		katls_vec_end(b, 3, der);
		OPENSSL_free(p);
		p = NULL;
		katls_put_be16(b, (uint16_t)e[i].exts_len);
		katls_put_bytes(b, e[i].exts, e[i].exts_len);
	}
	katls_vec_end(b, 3, list);
	katls_vec_end(b, 3, msg);
}

static const struct sig_spec sig_p256 = { KATLS_SIG_ECDSA_P256_SHA256, NULL, 0, 0 };

/* cmw_attestation extension (0xFF00) with CMW "abc". */
static const uint8_t ext_cmw[] = { 0xff, 0x00, 0x00, 0x05, 0x00, 0x03, 'a', 'b', 'c' };

/* Forges a fully signed EA with the given entries, P-256 leaf key. */
static void forge(struct katls_buf *b, const struct katls_exporter *ex,
		  enum katls_role role, const struct katls_ea_request *req,
		  const struct entry *e, size_t n)
{
	struct sig_spec sp = sig_p256;

	sp.md = EVP_sha256();
	put_cert_msg(b, req->crc, req->crc_len, e, n);
	forge_tail(b, ex, role, req, keys[K_P256].key, &sp);
}

/* ---- §1.1, §1.2: exporter, HC and FK vectors ------------------------------ */

static void test_exporter_rfc8448_channel_binding(void **state)
{
	struct exp e;
	uint8_t out[32];

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	assert_int_equal(katls_exporter_export(&e.ex, "EXPORTER-Channel-Binding",
					       NULL, 0, out, sizeof(out)), 0);
	assert_hex(out, sizeof(out),
		   "e3b0946bf2f4668144f22872e0afd51dc9608638c6f9b2584b98c6cd3a4affad");
	/* an empty context is hashed like no context (OpenSSL semantics) */
	assert_int_equal(katls_exporter_export(&e.ex, "EXPORTER-Channel-Binding",
					       (const uint8_t *)"", 0, out, sizeof(out)), 0);
	assert_hex(out, sizeof(out),
		   "e3b0946bf2f4668144f22872e0afd51dc9608638c6f9b2584b98c6cd3a4affad");
	assert_int_equal(katls_exporter_export(&e.ex, "EXPORTER-Channel-Binding",
					       (const uint8_t *)"x", 1, out, sizeof(out)), 0);
	assert_memory_not_equal(out, "\xe3\xb0\x94\x6b", 4);
	katls_exporter_secret_cleanup(&e.store);
	assert_int_equal(e.store.len, 0);
}

static void test_exporter_rejects_bad_arguments(void **state)
{
	struct exp e;
	uint8_t out[32], s[32] = { 0 };

	assert_int_equal(katls_exporter_from_secret(&e.ex, &e.store, EVP_sha256(),
						    s, 31), -EINVAL);
	exp_init(&e, EVP_sha256(), rfc8448_ems);
	assert_int_equal(katls_exporter_export(&e.ex, "l", NULL, 1, out, 32), -EINVAL);
	assert_int_equal(katls_exporter_export(&e.ex, "l", NULL, 0, out, 0), -EINVAL);
	/* "tls13 " + label must fit in 255 bytes */
	char lbl[251];

	memset(lbl, 'a', sizeof(lbl) - 1);
	lbl[sizeof(lbl) - 1] = '\0';
	assert_int_equal(katls_exporter_export(&e.ex, lbl, NULL, 0, out, 32), -EINVAL);
	lbl[249] = '\0';
	assert_int_equal(katls_exporter_export(&e.ex, lbl, NULL, 0, out, 32), 0);
	katls_exporter_secret_cleanup(&e.store);
}

static void test_hc_fk_vectors(void **state)
{
	static const struct { const char *label, *hex; } v[] = {
		{ "EXPORTER-client authenticator handshake context",
		  "3ce40ddfb5a8566480bb683fa63f43f1d6d52ab962854a98a3c080d81ed5631f" },
		{ "EXPORTER-server authenticator handshake context",
		  "b5920228102885ce3bbc879252d7c4ae80f47616cdc91456338427e7890941b0" },
		{ "EXPORTER-client authenticator finished key",
		  "34db53a0d817c518dc905f36e253a11271904ea43778358aaeb85d377a4fe0fb" },
		{ "EXPORTER-server authenticator finished key",
		  "d7571ccc1577b04277765da1c875d933be15717b3ecf45d0708431fa077df54d" },
	};
	struct exp e;
	uint8_t out[32];

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(katls_exporter_export(&e.ex, v[i].label, NULL, 0,
						       out, sizeof(out)), 0);
		assert_hex(out, sizeof(out), v[i].hex);
	}
	katls_exporter_secret_cleanup(&e.store);
}

/* ---- §1.3 request, §1.5 empty authenticator ------------------------------ */

static const char example_req_hex[] =
	"1100002b20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	"0008000d000400020807";

static void build_example_request(struct katls_ea_request *req)
{
	static const uint16_t ed25519[] = { KATLS_SIG_ED25519 };
	uint8_t crc[32];
	struct katls_ea_request_params p = {
		.type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST,
		.crc = crc, .crc_len = sizeof(crc),
		.sigalgs = ed25519, .num_sigalgs = 1, .no_cmw = true,
	};

	for (size_t i = 0; i < sizeof(crc); i++)
		crc[i] = (uint8_t)i;
	assert_int_equal(katls_ea_request_build(req, &p), 0);
}

static void test_request_example_bytes(void **state)
{
	struct katls_ea_request req, parsed;

	build_example_request(&req);
	assert_hex(req.raw.data, req.raw.len, example_req_hex);
	assert_int_equal(req.type, KATLS_HS_CLIENT_CERTIFICATE_REQUEST);
	assert_int_equal(req.crc_len, 32);
	assert_int_equal(req.crc[31], 0x1f);
	assert_int_equal(req.num_sigalgs, 1);
	assert_true(katls_ea_request_has_sigalg(&req, KATLS_SIG_ED25519));
	assert_false(katls_ea_request_has_sigalg(&req, KATLS_SIG_ECDSA_P256_SHA256));
	assert_false(req.wants_cmw);
	assert_true(katls_ea_request_offers(&req, KATLS_EXT_SIGNATURE_ALGORITHMS));
	assert_false(katls_ea_request_offers(&req, KATLS_EXT_CMW_ATTESTATION));

	assert_int_equal(katls_ea_request_parse(&parsed, req.raw.data, req.raw.len, 0), 0);
	assert_int_equal(parsed.raw.len, req.raw.len);
	assert_memory_equal(parsed.crc, req.crc, 32);
	katls_ea_request_cleanup(&parsed);
	katls_ea_request_cleanup(&req);
	assert_null(req.raw.data);
}

static void test_request_defaults(void **state)
{
	struct katls_ea_request_params p = { 0 };
	struct katls_ea_request a, b;
	static const uint8_t tail_cmw[] = { 0xff, 0x00, 0x00, 0x00 };

	assert_int_equal(katls_ea_request_build(&a, &p), 0);
	assert_int_equal(katls_ea_request_build(&b, &p), 0);
	assert_int_equal(a.raw.data[0], KATLS_HS_CERTIFICATE_REQUEST);
	assert_int_equal(a.crc_len, KATLS_EA_CRC_LEN);
	assert_memory_not_equal(a.crc, b.crc, KATLS_EA_CRC_LEN);	/* random */
	assert_true(a.wants_cmw);
	assert_int_equal(a.cmw_ext, KATLS_EXT_CMW_ATTESTATION);
	/* the empty cmw_attestation is the last extension */
	assert_memory_equal(a.raw.data + a.raw.len - 4, tail_cmw, 4);
	assert_true(katls_ea_request_has_sigalg(&a, KATLS_SIG_ECDSA_P256_SHA256));
	assert_true(katls_ea_request_has_sigalg(&a, KATLS_SIG_RSA_PSS_RSAE_SHA256));
	assert_true(katls_ea_request_has_sigalg(&a, KATLS_SIG_ED25519));
	assert_false(katls_ea_request_has_sigalg(&a, 0x0401));
	katls_ea_request_cleanup(&a);
	katls_ea_request_cleanup(&b);

	p.cmw_ext = 0xfffe;
	assert_int_equal(katls_ea_request_build(&a, &p), 0);
	assert_true(katls_ea_request_offers(&a, 0xfffe));
	assert_false(katls_ea_request_offers(&a, KATLS_EXT_CMW_ATTESTATION));
	assert_true(a.wants_cmw);
	katls_ea_request_cleanup(&a);
}

static void test_request_build_rejects(void **state)
{
	static const uint16_t pkcs1[] = { KATLS_SIG_ECDSA_P256_SHA256, 0x0401 };
	static const uint16_t sha1[] = { 0x0203 };
	struct katls_ea_request req;
	uint8_t crc[256] = { 0 };
	struct katls_ea_request_params p = { .sigalgs = pkcs1, .num_sigalgs = 2 };

	assert_int_equal(katls_ea_request_build(&req, &p), -EINVAL);
	p.sigalgs = sha1;
	p.num_sigalgs = 1;
	assert_int_equal(katls_ea_request_build(&req, &p), -EINVAL);
	p.sigalgs = pkcs1;
	p.num_sigalgs = 0;
	assert_int_equal(katls_ea_request_build(&req, &p), -EINVAL);
	memset(&p, 0, sizeof(p));
	p.type = KATLS_HS_CERTIFICATE;
	assert_int_equal(katls_ea_request_build(&req, &p), -EINVAL);
	p.type = 0;
	p.crc = crc;
	p.crc_len = 256;
	assert_int_equal(katls_ea_request_build(&req, &p), -EINVAL);
	p.crc_len = 0;			/* an empty crc is legal RFC 9261 */
	assert_int_equal(katls_ea_request_build(&req, &p), 0);
	assert_int_equal(req.crc_len, 0);
	katls_ea_request_cleanup(&req);
	p.cmw_ext = KATLS_EXT_SIGNATURE_ALGORITHMS;
	assert_int_equal(katls_ea_request_build(&req, &p), -EINVAL);
}

static void expect_req_reject(const char *hex)
{
	struct katls_ea_request req;
	uint8_t in[128];
	size_t n = unhex(hex, in, sizeof(in));

	assert_int_equal(katls_ea_request_parse(&req, in, n, 0), -EBADMSG);
	assert_null(req.raw.data);
}

static void test_request_parse_rejects(void **state)
{
	struct katls_ea_request req;
	uint8_t in[128];
	size_t n = unhex(example_req_hex, in, sizeof(in));

	/* every truncation, and a trailing byte */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(katls_ea_request_parse(&req, in, i, 0), -EBADMSG);
	in[n] = 0;
	assert_int_equal(katls_ea_request_parse(&req, in, n + 1, 0), -EBADMSG);

	/* the minimal valid request, to show the rejects below are targeted */
	n = unhex("0d00000b 00 0008 000d 0004 0002 0403", in, sizeof(in));
	assert_int_equal(katls_ea_request_parse(&req, in, n, 0), 0);
	katls_ea_request_cleanup(&req);

	expect_req_reject("0b00000b 00 0008 000d 0004 0002 0403");	/* not a request */
	expect_req_reject("0d00000c 00 0008 000d 0004 0002 0403");	/* len too big */
	expect_req_reject("0d00000a 00 0008 000d 0004 0002 0403");	/* len too small */
	expect_req_reject("0d00000c 00 0008 000d 0004 0002 0403 00");	/* body trailing */
	expect_req_reject("0d000003 00 0000");			/* no extensions */
	expect_req_reject("0d000007 00 0004 ff00 0000");		/* no sig_algs */
	expect_req_reject("0d000009 00 0006 000d 0002 0000");	/* empty list */
	expect_req_reject("0d00000a 00 0007 000d 0003 0001 04");	/* odd list */
	expect_req_reject("0d00000b 00 0008 000d 0004 0004 0403");	/* list > data */
	expect_req_reject("0d00000c 00 0009 000d 0005 0002 0403 00");	/* data trailing */
	expect_req_reject("0d00000b 00 0008 000d 0005 0002 0403");	/* ext > block */
	/* duplicated extensions */
	expect_req_reject("0d000013 00 0010 000d 0004 0002 0403 000d 0004 0002 0807");
	expect_req_reject("0d000013 00 0010 000d 0004 0002 0403 ff00 0000 ff00 0000");
	/* cmw_attestation must be offered empty */
	expect_req_reject("0d000010 00 000d 000d 0004 0002 0403 ff00 0001 00");
	/* crc length beyond the message */
	expect_req_reject("0d00000b 21 0008 000d 0004 0002 0403");
}

static void test_request_unknown_extensions_kept(void **state)
{
	struct katls_ea_request req;
	uint8_t in[64];
	size_t n = unhex("0d000016 00 0013 1234 0003 abcdef 000d 0004 0002 0403 ff00 0000",
			 in, sizeof(in));

	assert_int_equal(katls_ea_request_parse(&req, in, n, 0), 0);
	assert_true(katls_ea_request_offers(&req, 0x1234));
	assert_true(req.wants_cmw);
	assert_int_equal(req.num_sigalgs, 1);
	assert_int_equal(req.raw.len, n);
	katls_ea_request_cleanup(&req);
	/* the cmw codepoint is a parameter: 0xFF00 is then just unknown */
	assert_int_equal(katls_ea_request_parse(&req, in, n, 0xffff), 0);
	assert_false(req.wants_cmw);
	katls_ea_request_cleanup(&req);
}

static void test_empty_authenticator_vector(void **state)
{
	struct katls_ea_request req;
	struct katls_ea_crc_set used;
	struct katls_buf b = KATLS_BUF_INIT;
	enum katls_reason reason;
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_example_request(&req);
	assert_int_equal(katls_ea_empty_build(&b, &e.ex, KATLS_ROLE_SERVER, &req), 0);
	assert_hex(b.data, b.len, "14000020"
		   "123219db7d357034c33b36351e3af61daff227c6d5f1b05858f448429b94d434");

	katls_ea_crc_set_init(&used);
	/* validated with the client's labels it is just a bad MAC */
	assert_int_equal(validate(&e.ex, KATLS_ROLE_CLIENT, &req, &used, b.data,
				  b.len, &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_FINISHED);
	b.data[10] ^= 1;
	assert_int_equal(validate(&e.ex, KATLS_ROLE_SERVER, &req, &used, b.data,
				  b.len, &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_FINISHED);
	b.data[10] ^= 1;
	assert_int_equal(validate(&e.ex, KATLS_ROLE_SERVER, &req, &used, b.data,
				  b.len - 1, &reason), -EBADMSG);
	assert_int_equal(reason, KATLS_R_EA_MALFORMED);
	assert_false(katls_ea_crc_set_contains(&used, req.crc, req.crc_len));
	/* the genuine refusal is reported distinctly and answers the request */
	assert_int_equal(validate(&e.ex, KATLS_ROLE_SERVER, &req, &used, b.data,
				  b.len, &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_EMPTY);
	assert_true(katls_ea_crc_set_contains(&used, req.crc, req.crc_len));
	assert_int_equal(validate(&e.ex, KATLS_ROLE_SERVER, &req, &used, b.data,
				  b.len, &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_CRC);

	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	katls_exporter_secret_cleanup(&e.store);
}

/* Client labels: expected value computed from the published HC/FK client. */
static void test_empty_authenticator_client_labels(void **state)
{
	uint8_t hc[32], fk[32], th[32], mac[32], cert[40];
	struct katls_ea_request req;
	struct katls_buf b = KATLS_BUF_INIT;
	unsigned int th_len, mac_len;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	struct exp e;

	unhex("3ce40ddfb5a8566480bb683fa63f43f1d6d52ab962854a98a3c080d81ed5631f", hc, 32);
	unhex("34db53a0d817c518dc905f36e253a11271904ea43778358aaeb85d377a4fe0fb", fk, 32);
	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_example_request(&req);
	/* Certificate_empty = 0b 000024 20 <crc> 000000 */
	memcpy(cert, "\x0b\x00\x00\x24\x20", 5);
	memcpy(cert + 5, req.crc, 32);
	memset(cert + 37, 0, 3);
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, hc, 32);
	EVP_DigestUpdate(c, req.raw.data, req.raw.len);
	EVP_DigestUpdate(c, cert, sizeof(cert));
	EVP_DigestFinal_ex(c, th, &th_len);
	EVP_MD_CTX_free(c);
	HMAC(EVP_sha256(), fk, 32, th, th_len, mac, &mac_len);

	assert_int_equal(katls_ea_empty_build(&b, &e.ex, KATLS_ROLE_CLIENT, &req), 0);
	assert_int_equal(b.len, 4 + 32);
	assert_memory_equal(b.data, "\x14\x00\x00\x20", 4);
	assert_memory_equal(b.data + 4, mac, 32);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	katls_exporter_secret_cleanup(&e.store);
}

/* ---- §1.7 fizz vectors: HC = FK = "1234...", draft request framing -------- */

static int fizz_export(void *arg, const char *label, const uint8_t *ctx,
		       size_t ctx_len, uint8_t *out, size_t out_len)
{
	static const char k[] = "12345678901234567890123456789012";

	if (out_len != 32 || ctx_len)
		return -EINVAL;
	memcpy(out, k, 32);
	return 0;
}

static const struct katls_exporter fizz_ex = { NULL, fizz_export, NULL };

static void fizz_request(struct katls_ea_request *req, bool draft)
{
	uint8_t in[64];
	size_t n = unhex("0d00001f 14 303132333435363738396162636465666768696a"
			 "0008000d000400020403", in, sizeof(in));

	assert_int_equal(katls_ea_request_parse(req, in, n, 0), 0);
	if (draft)
		req->flags |= KATLS_EA_REQ_DRAFT_TRANSCRIPT;
}

static void test_fizz_mock_authenticator(void **state)
{
	struct katls_exporter ex = fizz_ex;
	struct katls_ea_request req;
	uint8_t cert[16], cv[32], mac[EVP_MAX_MD_SIZE];
	size_t cert_len = unhex("0b00000400000000", cert, sizeof(cert));
	size_t cv_len = unhex("0f00000d040300097369676e6174757265", cv, sizeof(cv));
	size_t mac_len = sizeof(mac);

	ex.md = EVP_sha256();
	fizz_request(&req, true);
	assert_int_equal(katls_ea_finished_compute(&ex, KATLS_ROLE_CLIENT, &req,
						   cert, cert_len, cv, cv_len,
						   mac, &mac_len), 0);
	assert_hex(mac, mac_len,
		   "b523548c421b05f7f3c33276fbdd5266ba2df103796d7d483368259860a648f2");
	/* RFC-final framing hashes the header too: a different value */
	req.flags = 0;
	mac_len = sizeof(mac);
	assert_int_equal(katls_ea_finished_compute(&ex, KATLS_ROLE_CLIENT, &req,
						   cert, cert_len, cv, cv_len,
						   mac, &mac_len), 0);
	assert_memory_equal(mac, "\x96\xa8\x98\x47", 4);
	assert_memory_equal(mac + 30, "\x2f\x0b", 2);
	mac_len = 16;
	assert_int_equal(katls_ea_finished_compute(&ex, KATLS_ROLE_CLIENT, &req,
						   cert, cert_len, cv, cv_len,
						   mac, &mac_len), -ENOBUFS);
	katls_ea_request_cleanup(&req);
}

static void test_fizz_empty_authenticator(void **state)
{
	struct katls_exporter ex = fizz_ex;
	struct katls_ea_request req;
	struct katls_ea_crc_set used;
	struct katls_buf b = KATLS_BUF_INIT;
	enum katls_reason reason;

	ex.md = EVP_sha256();
	fizz_request(&req, true);
	assert_int_equal(katls_ea_empty_build(&b, &ex, KATLS_ROLE_CLIENT, &req), 0);
	assert_hex(b.data, b.len, "14000020"
		   "11fae4bcdf4673b6dfb276d886c4cd1c5b0920da961643f062d1d4a6062115b1");
	katls_ea_crc_set_init(&used);
	assert_int_equal(validate(&ex, KATLS_ROLE_CLIENT, &req, &used, b.data, b.len,
				  &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_EMPTY);
	katls_ea_crc_set_cleanup(&used);

	/* with the header in the transcript the same bytes no longer verify */
	req.flags = 0;
	katls_ea_crc_set_init(&used);
	assert_int_equal(validate(&ex, KATLS_ROLE_CLIENT, &req, &used, b.data, b.len,
				  &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_FINISHED);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
}

/* ---- round trips ---------------------------------------------------------- */

static void roundtrip(const struct katls_exporter *ex, int k, enum katls_role role,
		      bool with_cmw, bool with_ca)
{
	struct katls_ea_request req;
	struct katls_ea_crc_set used;
	struct katls_ea_result res;
	struct katls_buf b = KATLS_BUF_INIT;
	enum katls_reason reason;
	size_t hlen = (size_t)EVP_MD_get_size(ex->md);

	build_req(&req, role == KATLS_ROLE_SERVER ? KATLS_HS_CLIENT_CERTIFICATE_REQUEST :
		  KATLS_HS_CERTIFICATE_REQUEST, NULL, 0, false);
	build_ea(&b, ex, role, &req, &keys[k], with_cmw, with_ca);
	/* Finished is H.len bytes and closes the authenticator */
	assert_int_equal(b.data[b.len - hlen - 4], KATLS_HS_FINISHED);
	assert_int_equal(b.data[b.len - hlen - 1], hlen);

	katls_ea_crc_set_init(&used);
	assert_int_equal(katls_ea_authenticator_validate(&res, &reason, ex, role,
							 &req, &used, b.data, b.len), 0);
	assert_int_equal(reason, KATLS_R_OK);
	assert_int_equal(res.sigalg, keys[k].scheme);
	assert_int_equal(X509_cmp(res.leaf, keys[k].cert), 0);
	assert_int_equal(sk_X509_num(res.chain), with_ca ? 2 : 1);
	assert_int_equal(X509_cmp(sk_X509_value(res.chain, 0), keys[k].cert), 0);
	if (with_ca)
		assert_int_equal(X509_cmp(sk_X509_value(res.chain, 1), ca_cert), 0);
	if (with_cmw) {
		assert_int_equal(res.cmw_len, sizeof(cmw_bytes));
		assert_memory_equal(res.cmw, cmw_bytes, sizeof(cmw_bytes));
	} else {
		assert_null(res.cmw);
	}
	assert_true(katls_ea_crc_set_contains(&used, req.crc, req.crc_len));
	katls_ea_result_cleanup(&res);

	/* single use: the same authenticator again */
	assert_int_equal(katls_ea_authenticator_validate(&res, &reason, ex, role,
							 &req, &used, b.data, b.len), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_CRC);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
}

static void test_roundtrip_all_keys_both_hashes(void **state)
{
	struct exp e256, e384;

	exp_init(&e256, EVP_sha256(), rfc8448_ems);
	exp_init_384(&e384, 0);
	for (int k = 0; k < K_NUM; k++) {
		roundtrip(&e256.ex, k, KATLS_ROLE_SERVER, true, k == K_P256);
		roundtrip(&e256.ex, k, KATLS_ROLE_CLIENT, false, false);
		roundtrip(&e384.ex, k, KATLS_ROLE_SERVER, true, true);
		roundtrip(&e384.ex, k, KATLS_ROLE_CLIENT, true, false);
	}
	katls_exporter_secret_cleanup(&e256.store);
	katls_exporter_secret_cleanup(&e384.store);
}

static void test_scheme_follows_request_order(void **state)
{
	static const uint16_t algs[] = { KATLS_SIG_ED25519, KATLS_SIG_RSA_PSS_RSAE_SHA384,
					 KATLS_SIG_RSA_PSS_RSAE_SHA256 };
	struct katls_ea_request req;
	struct katls_ea_crc_set used;
	struct katls_ea_result res;
	struct katls_buf b = KATLS_BUF_INIT;
	enum katls_reason reason;
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_req(&req, 0, algs, 3, false);
	build_ea(&b, &e.ex, KATLS_ROLE_CLIENT, &req, &keys[K_RSA], false, false);
	katls_ea_crc_set_init(&used);
	assert_int_equal(katls_ea_authenticator_validate(&res, &reason, &e.ex,
							 KATLS_ROLE_CLIENT, &req, &used,
							 b.data, b.len), 0);
	assert_int_equal(res.sigalg, KATLS_SIG_RSA_PSS_RSAE_SHA384);
	katls_ea_result_cleanup(&res);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	katls_exporter_secret_cleanup(&e.store);
}

static void test_build_rejects(void **state)
{
	static const uint16_t p256_only[] = { KATLS_SIG_ECDSA_P256_SHA256 };
	static const uint16_t p384_only[] = { KATLS_SIG_ECDSA_P384_SHA384 };
	struct katls_ea_request req, no_cmw;
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_identity id = { .leaf = keys[K_P256].cert, .key = keys[K_P256].key };
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_req(&req, 0, p384_only, 1, false);
	/* a P-256 key does not fit ecdsa_secp384r1_sha384 */
	assert_int_equal(katls_ea_authenticator_build(&b, &e.ex, KATLS_ROLE_CLIENT,
						      &req, &id), -EOPNOTSUPP);
	/* key does not match the certificate */
	id.leaf = keys[K_P384].cert;
	assert_int_equal(katls_ea_authenticator_build(&b, &e.ex, KATLS_ROLE_CLIENT,
						      &req, &id), -EINVAL);
	id.leaf = keys[K_P256].cert;
	build_req(&no_cmw, 0, p256_only, 1, true);
	id.cmw = cmw_bytes;
	id.cmw_len = sizeof(cmw_bytes);
	assert_int_equal(katls_ea_authenticator_build(&b, &e.ex, KATLS_ROLE_CLIENT,
						      &no_cmw, &id), -ENOPROTOOPT);
	id.cmw_len = 0;
	assert_int_equal(katls_ea_authenticator_build(&b, &e.ex, KATLS_ROLE_CLIENT,
						      &no_cmw, &id), -EINVAL);
	assert_int_equal(katls_ea_authenticator_build(&b, &e.ex, 0, &no_cmw, &id),
			 -EINVAL);
	assert_int_equal(b.len, 0);
	katls_ea_request_cleanup(&req);
	katls_ea_request_cleanup(&no_cmw);
	katls_exporter_secret_cleanup(&e.store);
}

/* ---- negative tests, one per rule ----------------------------------------- */

struct neg {
	struct exp e;
	struct katls_ea_request req;	/* offers cmw; default schemes */
	struct katls_buf ea;		/* valid EA: P-256 leaf + CA, with cmw */
};

static void neg_init(struct neg *n)
{
	memset(n, 0, sizeof(*n));
	exp_init(&n->e, EVP_sha256(), rfc8448_ems);
	build_req(&n->req, KATLS_HS_CLIENT_CERTIFICATE_REQUEST, NULL, 0, false);
	build_ea(&n->ea, &n->e.ex, KATLS_ROLE_SERVER, &n->req, &keys[K_P256], true, true);
}

static void neg_cleanup(struct neg *n)
{
	katls_buf_cleanup(&n->ea);
	katls_ea_request_cleanup(&n->req);
	katls_exporter_secret_cleanup(&n->e.store);
}

static void test_forger_matches_builder(void **state)
{
	struct entry ent[] = { { keys[K_P256].cert, ext_cmw, sizeof(ext_cmw) } };
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_crc_set used;
	struct katls_ea_result res;
	enum katls_reason reason;
	struct neg n;

	/* the forger is sound: a forged EA with legal content validates */
	neg_init(&n);
	forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, ent, 1);
	katls_ea_crc_set_init(&used);
	assert_int_equal(katls_ea_authenticator_validate(&res, &reason, &n.e.ex,
							 KATLS_ROLE_SERVER, &n.req,
							 &used, b.data, b.len), 0);
	assert_int_equal(res.cmw_len, 3);
	assert_memory_equal(res.cmw, "abc", 3);
	katls_ea_result_cleanup(&res);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_unknown_crc(void **state)
{
	struct katls_ea_request other;
	struct neg n;

	neg_init(&n);
	build_req(&other, KATLS_HS_CLIENT_CERTIFICATE_REQUEST, NULL, 0, false);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &other, n.ea.data, n.ea.len,
		    -EACCES, KATLS_R_EA_CRC);
	katls_ea_request_cleanup(&other);
	neg_cleanup(&n);
}

static void test_reject_crc_already_consumed(void **state)
{
	struct katls_ea_crc_set used;
	enum katls_reason reason;
	struct neg n;

	neg_init(&n);
	katls_ea_crc_set_init(&used);
	assert_int_equal(katls_ea_crc_set_add(&used, n.req.crc, n.req.crc_len), 0);
	assert_int_equal(katls_ea_crc_set_add(&used, n.req.crc, n.req.crc_len), -EEXIST);
	assert_int_equal(validate(&n.e.ex, KATLS_ROLE_SERVER, &n.req, &used,
				  n.ea.data, n.ea.len, &reason), -EACCES);
	assert_int_equal(reason, KATLS_R_EA_CRC);
	katls_ea_crc_set_cleanup(&used);
	neg_cleanup(&n);
}

static void test_reject_extension_not_offered(void **state)
{
	static const uint8_t ext_sct[] = { 0x00, 0x12, 0x00, 0x01, 0x00 };
	struct entry e1[] = { { keys[K_P256].cert, ext_sct, sizeof(ext_sct) } };
	struct entry e2[] = { { keys[K_P256].cert, ext_cmw, sizeof(ext_cmw) } };
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_request no_cmw;
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_req(&no_cmw, 0, NULL, 0, true);
	forge(&b, &e.ex, KATLS_ROLE_CLIENT, &no_cmw, e1, 1);
	expect_fail(&e.ex, KATLS_ROLE_CLIENT, &no_cmw, b.data, b.len, -EACCES,
		    KATLS_R_EA_EXTENSION);
	b.len = 0;
	/* cmw_attestation in a Certificate that was not asked for it */
	forge(&b, &e.ex, KATLS_ROLE_CLIENT, &no_cmw, e2, 1);
	expect_fail(&e.ex, KATLS_ROLE_CLIENT, &no_cmw, b.data, b.len, -EACCES,
		    KATLS_R_EA_EXTENSION);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&no_cmw);
	katls_exporter_secret_cleanup(&e.store);
}

static void test_reject_sigalgs_extension_in_entry(void **state)
{
	static const uint8_t ext_sa[] = { 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03 };
	struct entry ent[] = { { keys[K_P256].cert, ext_sa, sizeof(ext_sa) } };
	struct katls_buf b = KATLS_BUF_INIT;
	struct neg n;

	neg_init(&n);
	forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, ent, 1);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EACCES,
		    KATLS_R_EA_EXTENSION);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_cmw_on_intermediate(void **state)
{
	struct entry ent[] = {
		{ keys[K_P256].cert, NULL, 0 },
		{ ca_cert, ext_cmw, sizeof(ext_cmw) },
	};
	struct katls_buf b = KATLS_BUF_INIT;
	struct neg n;

	neg_init(&n);
	forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, ent, 2);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EACCES,
		    KATLS_R_EA_EXTENSION);
	/* also when the leaf carries one too */
	ent[0].exts = ext_cmw;
	ent[0].exts_len = sizeof(ext_cmw);
	b.len = 0;
	forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, ent, 2);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EACCES,
		    KATLS_R_EA_EXTENSION);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_duplicated_entry_extension(void **state)
{
	static const uint8_t dup[] = { 0xff, 0x00, 0x00, 0x05, 0x00, 0x03, 'a', 'b', 'c',
				       0xff, 0x00, 0x00, 0x05, 0x00, 0x03, 'x', 'y', 'z' };
	struct entry ent[] = { { keys[K_P256].cert, dup, sizeof(dup) } };
	struct katls_buf b = KATLS_BUF_INIT;
	struct neg n;

	neg_init(&n);
	forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, ent, 1);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EBADMSG,
		    KATLS_R_EA_MALFORMED);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_bad_cmw_inner_length(void **state)
{
	static const uint8_t bad[][9] = {
		{ 0xff, 0x00, 0x00, 0x05, 0x00, 0x04, 'a', 'b', 'c' },	/* inner > ext */
		{ 0xff, 0x00, 0x00, 0x05, 0x00, 0x02, 'a', 'b', 'c' },	/* inner < ext */
	};
	static const uint8_t empty[] = { 0xff, 0x00, 0x00, 0x02, 0x00, 0x00 };
	struct entry ent[] = { { keys[K_P256].cert, NULL, 9 } };
	struct katls_buf b = KATLS_BUF_INIT;
	struct neg n;

	neg_init(&n);
	for (size_t i = 0; i < 3; i++) {
		ent[0].exts = i < 2 ? bad[i] : empty;
		ent[0].exts_len = i < 2 ? 9 : sizeof(empty);
		b.len = 0;
		forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, ent, 1);
		expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len,
			    -EBADMSG, KATLS_R_EA_MALFORMED);
	}
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_zero_entries_with_cv(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct neg n;

	neg_init(&n);
	forge(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, NULL, 0);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EBADMSG,
		    KATLS_R_EA_MALFORMED);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_scheme_not_offered(void **state)
{
	static const uint16_t pss256[] = { KATLS_SIG_RSA_PSS_RSAE_SHA256 };
	struct entry ent[] = { { keys[K_RSA].cert, NULL, 0 } };
	struct sig_spec sp = { KATLS_SIG_RSA_PSS_RSAE_SHA384, EVP_sha384(),
			       RSA_PKCS1_PSS_PADDING, 0 };
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_req(&req, 0, pss256, 1, true);
	put_cert_msg(&b, req.crc, req.crc_len, ent, 1);
	forge_tail(&b, &e.ex, KATLS_ROLE_CLIENT, &req, keys[K_RSA].key, &sp);
	expect_fail(&e.ex, KATLS_ROLE_CLIENT, &req, b.data, b.len, -EACCES,
		    KATLS_R_EA_SIGALG);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	katls_exporter_secret_cleanup(&e.store);
}

/* rsa_pss_rsae_*: salt length = hash length, on both sides. */
static void test_rsa_pss_salt_is_hash_length(void **state)
{
	static const uint16_t pss256[] = { KATLS_SIG_RSA_PSS_RSAE_SHA256 };
	struct entry ent[] = { { keys[K_RSA].cert, NULL, 0 } };
	struct sig_spec sp = { KATLS_SIG_RSA_PSS_RSAE_SHA256, EVP_sha256(),
			       RSA_PKCS1_PSS_PADDING, 0 };
	uint8_t content[200], th[EVP_MAX_MD_SIZE];
	struct katls_ea_crc_set used;
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_request req;
	enum katls_reason reason;
	unsigned int th_len;
	EVP_PKEY_CTX *pc;
	EVP_MD_CTX *m;
	size_t cv;
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	build_req(&req, 0, pss256, 1, true);
	/* the builder's signature verifies with a strict salt = 32 check */
	build_ea(&b, &e.ex, KATLS_ROLE_CLIENT, &req, &keys[K_RSA], false, false);
	cv = cv_offset(&b);
	th_of(&e.ex, KATLS_ROLE_CLIENT, &req, b.data, cv, th, &th_len);
	memset(content, 0x20, 64);
	memcpy(content + 64, "Exported Authenticator", 23);
	memcpy(content + 87, th, th_len);
	m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(m, &pc, EVP_sha256(), NULL, keys[K_RSA].key), 1);
	EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32);
	assert_int_equal(EVP_DigestVerify(m, b.data + cv + 8, b.len - cv - 8 - 36,
					  content, 87 + th_len), 1);
	EVP_MD_CTX_free(m);

	/* a PSS signature with the maximum salt is refused */
	b.len = 0;
	sp.saltlen = RSA_PSS_SALTLEN_MAX;
	put_cert_msg(&b, req.crc, req.crc_len, ent, 1);
	forge_tail(&b, &e.ex, KATLS_ROLE_CLIENT, &req, keys[K_RSA].key, &sp);
	expect_fail(&e.ex, KATLS_ROLE_CLIENT, &req, b.data, b.len, -EACCES,
		    KATLS_R_EA_SIGNATURE);
	/* while salt = hash length is accepted */
	b.len = 0;
	sp.saltlen = 0;
	put_cert_msg(&b, req.crc, req.crc_len, ent, 1);
	forge_tail(&b, &e.ex, KATLS_ROLE_CLIENT, &req, keys[K_RSA].key, &sp);
	katls_ea_crc_set_init(&used);
	assert_int_equal(validate(&e.ex, KATLS_ROLE_CLIENT, &req, &used, b.data,
				  b.len, &reason), 0);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	katls_exporter_secret_cleanup(&e.store);
}

static void test_reject_rsa_pkcs1_even_if_offered(void **state)
{
	struct entry ent[] = { { keys[K_RSA].cert, NULL, 0 } };
	struct sig_spec sp = { 0x0401, EVP_sha256(), RSA_PKCS1_PADDING, 0 };
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_request req;
	uint8_t in[64];
	size_t len = unhex("0d00000d 02 abcd 0008 000d 0004 0002 0401", in, sizeof(in));
	struct exp e;

	exp_init(&e, EVP_sha256(), rfc8448_ems);
	assert_int_equal(katls_ea_request_parse(&req, in, len, 0), 0);
	assert_true(katls_ea_request_has_sigalg(&req, 0x0401));
	put_cert_msg(&b, req.crc, req.crc_len, ent, 1);
	forge_tail(&b, &e.ex, KATLS_ROLE_CLIENT, &req, keys[K_RSA].key, &sp);
	expect_fail(&e.ex, KATLS_ROLE_CLIENT, &req, b.data, b.len, -EACCES,
		    KATLS_R_EA_SIGALG);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	katls_exporter_secret_cleanup(&e.store);
}

static void test_reject_scheme_not_matching_key(void **state)
{
	/* ecdsa_secp384r1_sha384 offered and used, but the leaf key is P-256 */
	struct entry ent[] = { { keys[K_P256].cert, NULL, 0 } };
	struct sig_spec sp = { KATLS_SIG_ECDSA_P384_SHA384, EVP_sha384(), 0, 0 };
	struct katls_buf b = KATLS_BUF_INIT;
	struct neg n;

	neg_init(&n);
	put_cert_msg(&b, n.req.crc, n.req.crc_len, ent, 1);
	forge_tail(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, keys[K_P256].key, &sp);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EACCES,
		    KATLS_R_EA_SIGALG);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_tampered_signature(void **state)
{
	struct neg n;
	size_t off;

	neg_init(&n);
	off = cv_offset(&n.ea);
	assert_int_equal(n.ea.data[off], KATLS_HS_CERTIFICATE_VERIFY);
	n.ea.data[off + 12] ^= 0x01;	/* inside the DER signature */
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, n.ea.len,
		    -EACCES, KATLS_R_EA_SIGNATURE);
	neg_cleanup(&n);
}

static void test_reject_tampered_cmw(void **state)
{
	const uint8_t *p;
	struct neg n;
	size_t off;

	neg_init(&n);
	p = memmem(n.ea.data, n.ea.len, cmw_bytes, sizeof(cmw_bytes));
	assert_non_null(p);
	off = (size_t)(p - n.ea.data) + 5;
	assert_true(off < cv_offset(&n.ea));
	n.ea.data[off] ^= 0x20;
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, n.ea.len,
		    -EACCES, KATLS_R_EA_SIGNATURE);
	neg_cleanup(&n);
}

static void test_reject_tampered_finished(void **state)
{
	struct neg n;

	neg_init(&n);
	n.ea.data[n.ea.len - 1] ^= 0x80;
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, n.ea.len,
		    -EACCES, KATLS_R_EA_FINISHED);
	neg_cleanup(&n);
}

static void test_reject_wrong_role(void **state)
{
	struct neg n;

	neg_init(&n);
	expect_fail(&n.e.ex, KATLS_ROLE_CLIENT, &n.req, n.ea.data, n.ea.len,
		    -EACCES, KATLS_R_EA_SIGNATURE);
	neg_cleanup(&n);
}

/* R1: an EA made on connection A does not validate on connection B. */
static void test_reject_other_connection(void **state)
{
	struct exp b256, b384;
	struct neg n;

	neg_init(&n);
	exp_init_384(&b384, 1);
	exp_init(&b256, EVP_sha256(),
		 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	expect_fail(&b256.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, n.ea.len,
		    -EACCES, KATLS_R_EA_SIGNATURE);
	/* other suite hash: Finished has the wrong size */
	expect_fail(&b384.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, n.ea.len,
		    -EBADMSG, KATLS_R_EA_MALFORMED);
	katls_exporter_secret_cleanup(&b256.store);
	katls_exporter_secret_cleanup(&b384.store);
	neg_cleanup(&n);
}

static void test_reject_trailing_and_truncated(void **state)
{
	struct katls_ea_crc_set used;
	enum katls_reason reason;
	struct neg n;

	neg_init(&n);
	katls_buf_reserve(&n.ea, 1);
	n.ea.data[n.ea.len] = 0;
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, n.ea.len + 1,
		    -EBADMSG, KATLS_R_EA_MALFORMED);
	for (size_t i = 0; i < n.ea.len; i++)
		expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data, i,
			    -EBADMSG, KATLS_R_EA_MALFORMED);
	/* none of that consumed the crc */
	katls_ea_crc_set_init(&used);
	assert_int_equal(validate(&n.e.ex, KATLS_ROLE_SERVER, &n.req, &used,
				  n.ea.data, n.ea.len, &reason), 0);
	katls_ea_crc_set_cleanup(&used);
	neg_cleanup(&n);
}

/* Every length field of the valid EA, off by one either way. */
static void test_reject_wrong_inner_lengths(void **state)
{
	struct neg n;
	size_t cv, fin, ent, der_len, ext_at;

	neg_init(&n);
	cv = cv_offset(&n.ea);
	fin = n.ea.len - 36;
	ent = 4 + 1 + n.req.crc_len + 3;	/* first CertificateEntry */
	der_len = (size_t)n.ea.data[ent] << 16 | (size_t)n.ea.data[ent + 1] << 8 |
		  n.ea.data[ent + 2];
	ext_at = ent + 3 + der_len;
	assert_int_equal(n.ea.data[fin], KATLS_HS_FINISHED);

	const struct { size_t off, width; } f[] = {
		{ 1, 3 },		/* Certificate length */
		{ 4, 1 },		/* crc length */
		{ ent - 3, 3 },		/* certificate_list length */
		{ ent, 3 },		/* cert_data length */
		{ ext_at, 2 },		/* entry extensions length */
		{ cv + 1, 3 },		/* CertificateVerify length */
		{ cv + 6, 2 },		/* signature length */
		{ fin + 1, 3 },		/* Finished length */
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		for (int d = -1; d <= 1; d += 2) {
			uint8_t *p = n.ea.data + f[i].off + f[i].width - 1;

			*p = (uint8_t)(*p + d);
			expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.ea.data,
				    n.ea.len, -EBADMSG, KATLS_R_EA_MALFORMED);
			*p = (uint8_t)(*p - d);
		}
	}
	neg_cleanup(&n);
}

static void test_reject_bad_message_sequence(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	size_t cv;
	struct neg n;

	neg_init(&n);
	cv = cv_offset(&n.ea);
	/* Certificate + Finished without CertificateVerify */
	katls_put_bytes(&b, n.ea.data, cv);
	katls_put_bytes(&b, n.ea.data + n.ea.len - 36, 36);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EBADMSG,
		    KATLS_R_EA_MALFORMED);
	/* a request where the Certificate should be */
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, n.req.raw.data,
		    n.req.raw.len, -EBADMSG, KATLS_R_EA_MALFORMED);
	/* two Finished messages */
	b.len = 0;
	katls_put_bytes(&b, n.ea.data + n.ea.len - 36, 36);
	katls_put_bytes(&b, n.ea.data + n.ea.len - 36, 36);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EBADMSG,
		    KATLS_R_EA_MALFORMED);
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, NULL, 0, -EBADMSG,
		    KATLS_R_EA_MALFORMED);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_reject_garbage_certificate(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	size_t msg, list, der;
	struct neg n;

	neg_init(&n);
	katls_put_u8(&b, KATLS_HS_CERTIFICATE);
	katls_vec_begin(&b, 3, &msg);
	katls_put_u8(&b, n.req.crc_len);
	katls_put_bytes(&b, n.req.crc, n.req.crc_len);
	katls_vec_begin(&b, 3, &list);
	katls_vec_begin(&b, 3, &der);
	katls_put_bytes(&b, "\x30\x03\x02\x01\x01", 5);	/* DER, not a certificate */
	katls_vec_end(&b, 3, der);
	katls_put_be16(&b, 0);
	katls_vec_end(&b, 3, list);
	katls_vec_end(&b, 3, msg);
	forge_tail(&b, &n.e.ex, KATLS_ROLE_SERVER, &n.req, keys[K_P256].key,
		   &(struct sig_spec){ KATLS_SIG_ECDSA_P256_SHA256, EVP_sha256(), 0, 0 });
	expect_fail(&n.e.ex, KATLS_ROLE_SERVER, &n.req, b.data, b.len, -EBADMSG,
		    KATLS_R_EA_MALFORMED);
	katls_buf_cleanup(&b);
	neg_cleanup(&n);
}

static void test_validate_rejects_bad_arguments(void **state)
{
	struct katls_ea_crc_set used;
	struct katls_ea_result res;
	enum katls_reason reason;
	struct neg n;

	neg_init(&n);
	katls_ea_crc_set_init(&used);
	assert_int_equal(katls_ea_authenticator_validate(&res, &reason, &n.e.ex, 3,
							 &n.req, &used, n.ea.data,
							 n.ea.len), -EINVAL);
	assert_int_equal(reason, KATLS_R_INTERNAL);
	assert_int_equal(katls_ea_authenticator_validate(&res, &reason, &n.e.ex,
							 KATLS_ROLE_SERVER, &n.req,
							 NULL, n.ea.data, n.ea.len),
			 -EINVAL);
	katls_ea_crc_set_cleanup(&used);
	neg_cleanup(&n);
}

static void test_crc_set(void **state)
{
	struct katls_ea_crc_set s;
	uint8_t crc[255];

	katls_ea_crc_set_init(&s);
	for (unsigned int i = 0; i < 100; i++) {
		memset(crc, (int)i, sizeof(crc));
		assert_int_equal(katls_ea_crc_set_add(&s, crc, 1 + i), 0);
	}
	memset(crc, 5, sizeof(crc));
	assert_true(katls_ea_crc_set_contains(&s, crc, 6));
	assert_false(katls_ea_crc_set_contains(&s, crc, 7));	/* same bytes, other length */
	assert_int_equal(katls_ea_crc_set_add(&s, crc, 6), -EEXIST);
	assert_int_equal(katls_ea_crc_set_add(&s, NULL, 0), 0);
	assert_true(katls_ea_crc_set_contains(&s, NULL, 0));
	assert_int_equal(katls_ea_crc_set_add(&s, crc, 256), -EINVAL);
	katls_ea_crc_set_cleanup(&s);
	assert_int_equal(s.num, 0);
	assert_false(katls_ea_crc_set_contains(&s, crc, 6));
}

/* ---- binder (B1) ---------------------------------------------------------- */

static const char fixed_p256_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgP8T5mhAIH3yqS0It\n"
	"pnt8iHgXzSys9xQnrVVJBKnegTahRANCAATWlKLE3I92povZcPf9K5FrBkOnpHvK\n"
	"GOt0S/SjxSISZb/hU2XVDfdSl1YjiLB4Llc77M7OXTY+fRyzyY7srA+X\n"
	"-----END PRIVATE KEY-----\n";

/* TLS-Exporter through OpenSSL's own TLS13-KDF, independent of ea.c. */
static void ref_export(const EVP_MD *md, const uint8_t *ems, const char *label,
		       const uint8_t *ctx, size_t ctx_len, uint8_t *out, size_t out_len)
{
	uint8_t h[EVP_MAX_MD_SIZE], derived[EVP_MAX_MD_SIZE];
	unsigned int hlen;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
	EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM p[7];

	assert_non_null(k);
	for (int round = 0; round < 2; round++) {
		const uint8_t *key = round ? derived : ems;
		const char *lbl = round ? "exporter" : label;

		EVP_Digest(round ? ctx : (const uint8_t *)"", round ? ctx_len : 0,
			   h, &hlen, md, NULL);
		p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
		p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
							(char *)EVP_MD_get0_name(md), 0);
		p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
							 (void *)key, EVP_MD_get_size(md));
		p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX,
							 "tls13 ", 6);
		p[4] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL,
							 (void *)lbl, strlen(lbl));
		p[5] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, h, hlen);
		p[6] = OSSL_PARAM_construct_end();
		assert_int_equal(EVP_KDF_derive(k, round ? out : derived,
						round ? out_len : hlen, p), 1);
	}
	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
}

static void expected_binder(const EVP_MD *md, const uint8_t *ems, EVP_PKEY *key,
			    const uint8_t *crc, size_t crc_len, const char *label,
			    uint8_t *out, unsigned int *out_len)
{
	uint8_t exported[32];
	unsigned char *der = NULL;
	int der_len = i2d_PUBKEY(key, &der);
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	ref_export(md, ems, label, crc, crc_len, exported, 32);
	EVP_DigestInit_ex(c, md, NULL);
	EVP_DigestUpdate(c, der, (size_t)der_len);
	EVP_DigestUpdate(c, exported, 32);
	EVP_DigestFinal_ex(c, out, out_len);
	EVP_MD_CTX_free(c);
	OPENSSL_free(der);
}

static void test_reference_exporter_is_sound(void **state)
{
	uint8_t ems[32], out[32];

	unhex(rfc8448_ems, ems, 32);
	ref_export(EVP_sha256(), ems, "EXPORTER-Channel-Binding", NULL, 0, out, 32);
	assert_hex(out, 32,
		   "e3b0946bf2f4668144f22872e0afd51dc9608638c6f9b2584b98c6cd3a4affad");
}

static void test_binder(void **state)
{
	BIO *bio = BIO_new_mem_buf(fixed_p256_pem, -1);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	uint8_t ems[48], crc[32], want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	unsigned int want_len;
	size_t got_len = sizeof(got);
	struct exp e, e384;

	assert_non_null(key);
	BIO_free(bio);
	for (size_t i = 0; i < sizeof(crc); i++)
		crc[i] = (uint8_t)(0xa0 + i);
	unhex(rfc8448_ems, ems, 32);
	exp_init(&e, EVP_sha256(), rfc8448_ems);

	expected_binder(EVP_sha256(), ems, key, crc, 32, "Attestation", want, &want_len);
	assert_int_equal(katls_binder_compute(&e.ex, key, crc, 32, NULL, got, &got_len), 0);
	assert_int_equal(got_len, 32);
	assert_memory_equal(got, want, 32);
	/* configurable label */
	expected_binder(EVP_sha256(), ems, key, crc, 32, "Attestation Binding",
			want, &want_len);
	assert_memory_not_equal(got, want, 32);
	got_len = sizeof(got);
	assert_int_equal(katls_binder_compute(&e.ex, key, crc, 32, "Attestation Binding",
					      got, &got_len), 0);
	assert_memory_equal(got, want, 32);
	/* a different crc gives a different binder */
	got_len = sizeof(got);
	assert_int_equal(katls_binder_compute(&e.ex, key, crc, 31, NULL, got, &got_len), 0);
	assert_memory_not_equal(got, want, 32);
	got_len = 31;
	assert_int_equal(katls_binder_compute(&e.ex, key, crc, 32, NULL, got, &got_len),
			 -ENOBUFS);

	/* SHA-384 suite: H and the exporter are SHA-384 */
	exp_init_384(&e384, 0);
	for (size_t i = 0; i < 48; i++)
		ems[i] = (uint8_t)i;
	expected_binder(EVP_sha384(), ems, key, crc, 32, "Attestation", want, &want_len);
	got_len = sizeof(got);
	assert_int_equal(katls_binder_compute(&e384.ex, key, crc, 32, NULL, got, &got_len), 0);
	assert_int_equal(got_len, 48);
	assert_memory_equal(got, want, 48);

	/* AIK_pub_hash = H(SPKI DER) */
	unsigned char *der = NULL;
	int der_len = i2d_PUBKEY(key, &der);

	EVP_Digest(der, (size_t)der_len, want, &want_len, EVP_sha256(), NULL);
	OPENSSL_free(der);
	got_len = sizeof(got);
	assert_int_equal(katls_aik_hash(EVP_sha256(), key, got, &got_len), 0);
	assert_int_equal(got_len, 32);
	assert_memory_equal(got, want, 32);
	assert_int_equal(katls_aik_hash(EVP_sha256(), NULL, got, &got_len), -EINVAL);

	EVP_PKEY_free(key);
	katls_exporter_secret_cleanup(&e.store);
	katls_exporter_secret_cleanup(&e384.store);
}

/* ---- live TLS 1.3: from_ssl agrees on both ends and with from_secret ------ */

static uint8_t keylog_secret[EVP_MAX_MD_SIZE];
static size_t keylog_len;

static void keylog_cb(const SSL *ssl, const char *line)
{
	static const char tag[] = "EXPORTER_SECRET ";
	const char *hex;

	if (strncmp(line, tag, sizeof(tag) - 1))
		return;
	hex = strchr(line + sizeof(tag) - 1, ' ');
	assert_non_null(hex);
	keylog_len = unhex(hex + 1, keylog_secret, sizeof(keylog_secret));
}

struct conn {
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
};

static void conn_open(struct conn *t, const char *suite, int max_version)
{
	BIO *bc, *bs;
	int rc = 0, rs = 0;

	t->cctx = SSL_CTX_new(TLS_client_method());
	t->sctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(t->cctx);
	assert_non_null(t->sctx);
	assert_int_equal(SSL_CTX_use_certificate(t->sctx, keys[K_P256].cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(t->sctx, keys[K_P256].key), 1);
	SSL_CTX_set_num_tickets(t->sctx, 0);
	SSL_CTX_set_max_proto_version(t->cctx, max_version);
	SSL_CTX_set_max_proto_version(t->sctx, max_version);
	if (suite) {
		assert_int_equal(SSL_CTX_set_ciphersuites(t->cctx, suite), 1);
		assert_int_equal(SSL_CTX_set_ciphersuites(t->sctx, suite), 1);
	}
	SSL_CTX_set_keylog_callback(t->cctx, keylog_cb);
	t->c = SSL_new(t->cctx);
	t->s = SSL_new(t->sctx);
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(t->c, bc, bc);
	SSL_set_bio(t->s, bs, bs);
	SSL_set_connect_state(t->c);
	SSL_set_accept_state(t->s);
	keylog_len = 0;
	for (int i = 0; i < 20 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(t->c);
		if (rs != 1)
			rs = SSL_do_handshake(t->s);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(rs, 1);
}

static void conn_close(struct conn *t)
{
	SSL_free(t->c);
	SSL_free(t->s);
	SSL_CTX_free(t->cctx);
	SSL_CTX_free(t->sctx);
}

static void check_live(const char *suite, const EVP_MD *md)
{
	static const char *const labels[] = {
		"EXPORTER-server authenticator handshake context",
		"EXPORTER-client authenticator finished key", "Attestation",
	};
	uint8_t a[48], b[48], s[48], ctx[32] = { 1, 2, 3 };
	struct katls_exporter exc, exs;
	struct katls_exporter_secret store;
	struct katls_exporter exk;
	size_t hlen = (size_t)EVP_MD_get_size(md);
	struct conn t;

	conn_open(&t, suite, TLS1_3_VERSION);
	assert_int_equal(katls_exporter_from_ssl(&exc, t.c), 0);
	assert_int_equal(katls_exporter_from_ssl(&exs, t.s), 0);
	assert_int_equal(EVP_MD_get_type(exc.md), EVP_MD_get_type(md));
	assert_int_equal(keylog_len, hlen);
	assert_int_equal(katls_exporter_from_secret(&exk, &store, md, keylog_secret,
						    keylog_len), 0);
	for (size_t i = 0; i < 3; i++) {
		for (size_t cl = 0; cl <= sizeof(ctx); cl += sizeof(ctx)) {
			assert_int_equal(katls_exporter_export(&exc, labels[i], ctx, cl, a, hlen), 0);
			assert_int_equal(katls_exporter_export(&exs, labels[i], ctx, cl, b, hlen), 0);
			assert_int_equal(katls_exporter_export(&exk, labels[i], ctx, cl, s, hlen), 0);
			assert_memory_equal(a, b, hlen);
			assert_memory_equal(a, s, hlen);
		}
	}
	katls_exporter_secret_cleanup(&store);
	conn_close(&t);
}

static void test_from_ssl_matches_from_secret(void **state)
{
	check_live("TLS_AES_128_GCM_SHA256", EVP_sha256());
	check_live("TLS_AES_256_GCM_SHA384", EVP_sha384());
}

static void test_from_ssl_rejects_tls12(void **state)
{
	struct katls_exporter ex;
	struct conn t;

	conn_open(&t, NULL, TLS1_2_VERSION);
	assert_int_equal(katls_exporter_from_ssl(&ex, t.c), -EPROTONOSUPPORT);
	assert_int_equal(katls_exporter_from_ssl(&ex, t.s), -EPROTONOSUPPORT);
	conn_close(&t);
}

/* End to end over two live connections, including R1 across them. */
static void test_live_authenticator_and_relay(void **state)
{
	struct katls_exporter c1, s1, c2;
	struct katls_ea_request req;
	struct katls_ea_crc_set used;
	struct katls_buf b = KATLS_BUF_INIT;
	enum katls_reason reason;
	struct conn t1, t2;
	uint8_t bc[48], bs[48];
	size_t bc_len = sizeof(bc), bs_len = sizeof(bs);

	conn_open(&t1, "TLS_AES_256_GCM_SHA384", TLS1_3_VERSION);
	conn_open(&t2, "TLS_AES_256_GCM_SHA384", TLS1_3_VERSION);
	assert_int_equal(katls_exporter_from_ssl(&c1, t1.c), 0);
	assert_int_equal(katls_exporter_from_ssl(&s1, t1.s), 0);
	assert_int_equal(katls_exporter_from_ssl(&c2, t2.c), 0);
	build_req(&req, KATLS_HS_CLIENT_CERTIFICATE_REQUEST, NULL, 0, false);
	build_ea(&b, &s1, KATLS_ROLE_SERVER, &req, &keys[K_P256], true, false);

	/* binder agrees on both ends of connection 1 */
	assert_int_equal(katls_binder_compute(&s1, keys[K_P256].key, req.crc,
					      req.crc_len, NULL, bs, &bs_len), 0);
	assert_int_equal(katls_binder_compute(&c1, keys[K_P256].key, req.crc,
					      req.crc_len, NULL, bc, &bc_len), 0);
	assert_int_equal(bs_len, 48);
	assert_memory_equal(bs, bc, 48);
	/* ... and not on connection 2 */
	bc_len = sizeof(bc);
	assert_int_equal(katls_binder_compute(&c2, keys[K_P256].key, req.crc,
					      req.crc_len, NULL, bc, &bc_len), 0);
	assert_memory_not_equal(bs, bc, 48);

	expect_fail(&c2, KATLS_ROLE_SERVER, &req, b.data, b.len, -EACCES,
		    KATLS_R_EA_SIGNATURE);
	katls_ea_crc_set_init(&used);
	assert_int_equal(validate(&c1, KATLS_ROLE_SERVER, &req, &used, b.data,
				  b.len, &reason), 0);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
	katls_ea_request_cleanup(&req);
	conn_close(&t1);
	conn_close(&t2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exporter_rfc8448_channel_binding),
		cmocka_unit_test(test_exporter_rejects_bad_arguments),
		cmocka_unit_test(test_hc_fk_vectors),
		cmocka_unit_test(test_request_example_bytes),
		cmocka_unit_test(test_request_defaults),
		cmocka_unit_test(test_request_build_rejects),
		cmocka_unit_test(test_request_parse_rejects),
		cmocka_unit_test(test_request_unknown_extensions_kept),
		cmocka_unit_test(test_empty_authenticator_vector),
		cmocka_unit_test(test_empty_authenticator_client_labels),
		cmocka_unit_test(test_fizz_mock_authenticator),
		cmocka_unit_test(test_fizz_empty_authenticator),
		cmocka_unit_test(test_roundtrip_all_keys_both_hashes),
		cmocka_unit_test(test_scheme_follows_request_order),
		cmocka_unit_test(test_build_rejects),
		cmocka_unit_test(test_forger_matches_builder),
		cmocka_unit_test(test_reject_unknown_crc),
		cmocka_unit_test(test_reject_crc_already_consumed),
		cmocka_unit_test(test_reject_extension_not_offered),
		cmocka_unit_test(test_reject_sigalgs_extension_in_entry),
		cmocka_unit_test(test_reject_cmw_on_intermediate),
		cmocka_unit_test(test_reject_duplicated_entry_extension),
		cmocka_unit_test(test_reject_bad_cmw_inner_length),
		cmocka_unit_test(test_reject_zero_entries_with_cv),
		cmocka_unit_test(test_reject_scheme_not_offered),
		cmocka_unit_test(test_rsa_pss_salt_is_hash_length),
		cmocka_unit_test(test_reject_rsa_pkcs1_even_if_offered),
		cmocka_unit_test(test_reject_scheme_not_matching_key),
		cmocka_unit_test(test_reject_tampered_signature),
		cmocka_unit_test(test_reject_tampered_cmw),
		cmocka_unit_test(test_reject_tampered_finished),
		cmocka_unit_test(test_reject_wrong_role),
		cmocka_unit_test(test_reject_other_connection),
		cmocka_unit_test(test_reject_trailing_and_truncated),
		cmocka_unit_test(test_reject_wrong_inner_lengths),
		cmocka_unit_test(test_reject_bad_message_sequence),
		cmocka_unit_test(test_reject_garbage_certificate),
		cmocka_unit_test(test_validate_rejects_bad_arguments),
		cmocka_unit_test(test_crc_set),
		cmocka_unit_test(test_reference_exporter_is_sound),
		cmocka_unit_test(test_binder),
		cmocka_unit_test(test_from_ssl_matches_from_secret),
		cmocka_unit_test(test_from_ssl_rejects_tls12),
		cmocka_unit_test(test_live_authenticator_and_relay),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
