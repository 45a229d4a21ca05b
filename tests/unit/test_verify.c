// SPDX-License-Identifier: MIT
/*
 * test_verify: the verifier (verify.c) and the TLS setup (tls.c) against the
 * security requirements of PROTOCOL.md §6 (F1, F2, F4, R1, R2, D1, D2, B1,
 * E1), on real in-memory TLS 1.3 connections (two SSL objects over a
 * socketpair in one process).
 *
 * The TPM boundary is replaced by fault injection: a software ECDSA P-256
 * "AK" signs a correctly formed TPMS_ATTEST (the real TPM runs in
 * tests/host/test_attest.sh).  Everything else is the real code.  Each test
 * says which check it guards: removing that check makes the test fail.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "appraisal/ima.h"
#include "appraisal/ima_cache.h"
#include "appraisal/policy.h"
#include "appraisal/verify.h"
#include "evidence/batch_proof.h"
#include "evidence/merkle.h"
#include "evidence/quote.h"
#include "katls.h"
#include "util/buf.h"
#include "wire/cmw.h"
#include "wire/ea.h"
#include "wire/ima_detach.h"
#include "wire/ima_prefix.h"
#include "wire/session.h"
#include "wire/tls.h"

/* ---- fixtures: PKI, AK, policy ------------------------------------------- */

static char dir[] = "/tmp/katls-test-verify.XXXXXX";
static EVP_PKEY *ca_key, *rogue_key, *srv_key, *other_key, *ak_key, *ak2_key;
static X509 *ca_cert, *rogue_cert, *srv_cert, *wrong_name_cert, *untrusted_cert, *relay_cert;
static EVP_PKEY *relay_key;

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *issuer_key, X509 *issuer, const char *cn,
		       bool ca)
{
	X509 *x = X509_new();
	static long serial = 1;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	if (ca) {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign");
	} else {
		char san[128];

		snprintf(san, sizeof(san), "DNS:%s", cn);
		add_ext(x, issuer, NID_subject_alt_name, san);
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *key, EVP_PKEY *pub)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	if (x)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (key)
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	if (pub)
		assert_int_equal(PEM_write_PUBKEY(f, pub), 1);
	fclose(f);
}

static int setup(void **state)
{
	memcpy(dir + sizeof(dir) - 7, "XXXXXX", 6);	/* main() runs the group twice */
	assert_non_null(mkdtemp(dir));
	ca_key = ec_key();
	rogue_key = ec_key();
	srv_key = ec_key();
	other_key = ec_key();
	relay_key = ec_key();
	ak_key = ec_key();
	ak2_key = ec_key();
	ca_cert = make_cert(ca_key, ca_key, NULL, "katls unit CA", true);
	rogue_cert = make_cert(rogue_key, rogue_key, NULL, "rogue CA", true);
	srv_cert = make_cert(srv_key, ca_key, ca_cert, "server.test", false);
	wrong_name_cert = make_cert(srv_key, ca_key, ca_cert, "other.test", false);
	untrusted_cert = make_cert(srv_key, rogue_key, rogue_cert, "server.test", false);
	relay_cert = make_cert(relay_key, ca_key, ca_cert, "server.test", false);
	write_pem("ca.pem", ca_cert, NULL, NULL);
	write_pem("srv.pem", srv_cert, NULL, NULL);
	write_pem("srv.key", NULL, srv_key, NULL);
	write_pem("ak.pem", NULL, NULL, ak_key);
	write_pem("ak2.pem", NULL, NULL, ak2_key);
	return 0;
}

static int teardown(void **state)
{
	const char *files[] = { "ca.pem", "srv.pem", "srv.key", "ak.pem", "ak2.pem" };
	char path[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(rogue_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(relay_key);
	EVP_PKEY_free(ak_key);
	EVP_PKEY_free(ak2_key);
	X509_free(ca_cert);
	X509_free(rogue_cert);
	X509_free(srv_cert);
	X509_free(wrong_name_cert);
	X509_free(untrusted_cert);
	X509_free(relay_cert);
	return 0;
}

/* Trusting ca.pem and expecting server.test: the start of every test policy. */
#define POLICY_HEAD	"{\"trust_anchors\": [\"ca.pem\"], \"peer_names\": [\"server.test\"], "

/* The policy document @json, its files relative to the fixture directory. */
/*
 * main() runs every test twice: with a policy compiled afresh for each
 * verification, then with one compiled policy per document, shared by all
 * the tests that use it, so that every verdict is also checked against the
 * caches the earlier verifications warmed (verify_cache.h, ima_cache.h).
 */
static bool share_policies;
static struct {
	char *json;
	struct katls_policy_set *set;
} shared[64];
static size_t num_shared;

static struct katls_policy_set *policy_doc(const char *json)
{
	struct katls_policy_set *set = NULL;
	char err[256];

	for (size_t i = 0; share_policies && i < num_shared; i++)
		if (!strcmp(shared[i].json, json))
			return katls_policy_set_up_ref(shared[i].set);
	if (katls_policy_parse(json, strlen(json), dir, &set, err, sizeof(err)))
		fail_msg("policy: %s", err);
	if (share_policies && num_shared < sizeof(shared) / sizeof(shared[0])) {
		shared[num_shared].json = strdup(json);
		shared[num_shared++].set = katls_policy_set_up_ref(set);
	}
	return set;
}

/* Policy pinning ak.pem (or @pin), trusting ca.pem, expecting server.test. */
static struct katls_policy_set *policy(const char *pin)
{
	char json[1024];

	snprintf(json, sizeof(json), POLICY_HEAD "\"ak_pins\": [\"%s\"], \"max_age_s\": 60}",
		 pin ? pin : "ak.pem");
	return policy_doc(json);
}

/* ---- in-memory TLS 1.3 connections --------------------------------------- */

struct conn {
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
	int fd[2];
	struct katls_exporter cex, sex;
};

static void conn_open(struct conn *t, const char *suite)
{
	struct katls_tls_config cc = { .role = KATLS_ROLE_CLIENT, .ciphersuites = suite };
	struct katls_tls_config sc = { .role = KATLS_ROLE_SERVER, .ciphersuites = suite };
	char cert[256], key[256], ca[256], err[256];
	bool cdone = false, sdone = false;

	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	sc.cert_file = cert;
	sc.key_file = key;
	cc.ca_file = ca;
	assert_int_equal(katls_tls_ctx_new(&t->cctx, &cc, err, sizeof(err)), 0);
	assert_int_equal(katls_tls_ctx_new(&t->sctx, &sc, err, sizeof(err)), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, t->fd), 0);
	assert_int_equal(katls_tls_ssl_new(&t->c, t->cctx, t->fd[0], "server.test"), 0);
	assert_int_equal(katls_tls_ssl_new(&t->s, t->sctx, t->fd[1], NULL), 0);
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(t->c) == 1;
		if (!sdone)
			sdone = SSL_do_handshake(t->s) == 1;
	}
	assert_true(cdone && sdone);
	assert_int_equal(katls_exporter_from_ssl(&t->cex, t->c), 0);
	assert_int_equal(katls_exporter_from_ssl(&t->sex, t->s), 0);
}

static void conn_close(struct conn *t)
{
	SSL_free(t->c);
	SSL_free(t->s);
	SSL_CTX_free(t->cctx);
	SSL_CTX_free(t->sctx);
	close(t->fd[0]);
	close(t->fd[1]);
}

/* ---- fault injection at the TPM boundary: a software AK ------------------ */

static void put_tpm2b(struct katls_buf *b, const uint8_t *p, size_t n)
{
	assert_int_equal(katls_put_be16(b, (uint16_t)n), 0);
	assert_int_equal(katls_put_bytes(b, p, n), 0);
}

static void bn_pad(EVP_PKEY *k, const char *param, uint8_t out[32])
{
	BIGNUM *bn = NULL;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, out, 32), 32);
	BN_free(bn);
}

#define AK_ATTRS	0x00050472u	/* fixedTPM|fixedParent|sDO|uWA|noDA|restricted|sign */

/* TPMT_PUBLIC of an ECDSA-P256-SHA256 signing key with attributes @attrs. */
static void ak_public(struct katls_buf *b, EVP_PKEY *ak, uint32_t attrs)
{
	uint8_t x[32], y[32];

	bn_pad(ak, OSSL_PKEY_PARAM_EC_PUB_X, x);
	bn_pad(ak, OSSL_PKEY_PARAM_EC_PUB_Y, y);
	katls_put_be16(b, 0x0023);		/* TPM2_ALG_ECC */
	katls_put_be16(b, 0x000b);		/* nameAlg SHA-256 */
	katls_put_be32(b, attrs);
	katls_put_be16(b, 0);			/* authPolicy */
	katls_put_be16(b, 0x0010);		/* symmetric NULL */
	katls_put_be16(b, 0x0018);		/* ECDSA */
	katls_put_be16(b, 0x000b);		/* SHA-256 */
	katls_put_be16(b, 0x0003);		/* NIST P-256 */
	katls_put_be16(b, 0x0010);		/* kdf NULL */
	put_tpm2b(b, x, 32);
	put_tpm2b(b, y, 32);
}

struct fake_batch;

struct fake {
	EVP_PKEY *ak;			/* NULL = ak_key */
	EVP_PKEY *aik_key;		/* key hashed into "aik"; NULL = the leaf key */
	const char *label;		/* binder label; NULL = "Attestation" */
	const struct katls_exporter *ex;	/* binder exporter; NULL = the attester's */
	const struct katls_buf *ima;	/* IMA log to send (ima-ng, D = 32); NULL = none */
	const uint8_t *pcr10;		/* quoted PCR 10; NULL = the fixed test value */
	uint32_t pcr_mask;		/* quoted PCRs; 0 = 0-10 */
	uint32_t attrs;			/* the signing key's attributes; 0 = AK_ATTRS */
	uint32_t claimed_attrs;		/* attributes in the "ak" record; 0 = attrs */
	const struct katls_tpm_name *signer;	/* qualifiedSigner; NULL = the key's QN */
	const struct katls_cmw_workload *workload;	/* NULL = none */
	const struct fake_batch *batch;	/* quote a batch's root (size > 1); NULL = the binder */
	uint64_t ima_start;		/* @ima holds the log from this entry on */
	uint8_t boot;			/* PCRs 0-9 of another boot: PCR i = i + boot */
};

/* The quoted PCR values of make_cmw(): PCR i = i repeated, PCR 10 = @pcr10. */
static void fake_pcrs(struct katls_pcrs *pcrs, const struct fake *f)
{
	memset(pcrs, 0, sizeof(*pcrs));
	pcrs->mask = f && f->pcr_mask ? f->pcr_mask : 0x7ff;
	for (int i = 0; i < 11; i++)
		memset(pcrs->digest[i], i + (f && i < 10 ? f->boot : 0), 32);
	if (f && f->pcr10)
		memcpy(pcrs->digest[10], f->pcr10, 32);
	for (int i = 0; i < 11; i++)
		if (!(pcrs->mask & (1u << i)))
			memset(pcrs->digest[i], 0, 32);	/* what a verifier decodes */
}

/* SHA-256 of PCRs 0-9 as fake_pcrs() makes them: what boot_aggregate must be. */
static void fake_boot_aggregate(const struct fake *f, uint8_t out[32])
{
	struct katls_pcrs pcrs;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	fake_pcrs(&pcrs, f);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(EVP_DigestUpdate(md, pcrs.digest[i], 32), 1);
	assert_int_equal(EVP_DigestFinal_ex(md, out, NULL), 1);
	EVP_MD_CTX_free(md);
}

/*
 * The TPM Name (000b || SHA-256(TPMT_PUBLIC)) of @ak with @attrs, and its
 * qualified name as an owner-hierarchy primary: 000b || SHA-256(40000001 ||
 * Name).  Computed here by hand, not with quote.c.
 */
static void fake_names(EVP_PKEY *ak, uint32_t attrs, struct katls_tpm_name *name,
		       struct katls_tpm_name *qn)
{
	static const uint8_t owner[4] = { 0x40, 0x00, 0x00, 0x01 };
	struct katls_buf pub = KATLS_BUF_INIT, q = KATLS_BUF_INIT;
	struct katls_tpm_name n = { .len = 34, .name = { 0x00, 0x0b } };

	ak_public(&pub, ak, attrs);
	assert_int_equal(EVP_Digest(pub.data, pub.len, n.name + 2, NULL, EVP_sha256(), NULL), 1);
	if (name)
		*name = n;
	if (qn) {
		katls_put_bytes(&q, owner, 4);
		katls_put_bytes(&q, n.name, n.len);
		qn->len = 34;
		qn->name[0] = 0x00;
		qn->name[1] = 0x0b;
		assert_int_equal(EVP_Digest(q.data, q.len, qn->name + 2, NULL, EVP_sha256(),
					    NULL), 1);
	}
	katls_buf_cleanup(&pub);
	katls_buf_cleanup(&q);
}

/* ---- quote batching: this session's leaf in a batch under one quote -------- */

enum batch_flaw {
	B_HONEST,
	B_OTHER_LEAF,		/* the proof of the next session in the batch */
	B_FLIPPED_SIBLING,	/* a bit of a sibling hash flipped */
	B_WRONG_INDEX,		/* the neighbour's index (same path length) */
	B_SHORT_PATH,		/* the last hash left out */
	B_LONG_PATH,		/* one hash too many */
	B_ROOT_NOT_QUOTED,	/* the TPM quoted another root */
	B_TOO_LARGE,		/* claims more sessions than the bound */
};

struct fake_batch {
	size_t size;			/* sessions under the quote */
	size_t index;			/* this session's leaf */
	const katls_merkle_hash *leaves;	/* everyone's leaves (size); NULL = made up */
	enum batch_flaw flaw;
};

/*
 * The batch record of the session whose binder is @binder, as quote_batch.c
 * makes it (or broken as @fb->flaw says), and the root the TPM quotes (@qd).
 */
static void fake_batch_record(const struct fake_batch *fb, const uint8_t *binder,
			      size_t binder_len, struct katls_buf *rec, uint8_t qd[32])
{
	katls_merkle_hash *leaves = calloc(fb->size, sizeof(*leaves));
	katls_merkle_hash path[KATLS_BATCH_DEPTH_MAX + 1];
	size_t at = fb->flaw == B_OTHER_LEAF ? (fb->index + 1) % fb->size : fb->index;
	struct katls_batch_proof p = { .size = (uint16_t)fb->size, .index = (uint16_t)at };
	struct katls_merkle_tree *t;

	assert_non_null(leaves);
	for (size_t i = 0; i < fb->size; i++) {
		uint8_t other[4] = { 0x0f, (uint8_t)i, (uint8_t)(i >> 8), 0xf0 };

		if (fb->leaves)
			memcpy(leaves[i], fb->leaves[i], sizeof(leaves[i]));
		else
			assert_int_equal(katls_merkle_leaf_hash(other, sizeof(other), leaves[i]), 0);
	}
	assert_int_equal(katls_batch_leaf(binder, binder_len, leaves[fb->index]), 0);
	assert_int_equal(katls_merkle_tree_build(leaves, fb->size, &t), 0);
	memcpy(p.leaf, leaves[at], sizeof(p.leaf));
	memcpy(p.root, katls_merkle_tree_root(t), sizeof(p.root));
	assert_int_equal(katls_merkle_tree_path(t, at, path, &p.path_len), 0);
	p.path = path;
	memcpy(qd, p.root, 32);
	switch (fb->flaw) {
	case B_FLIPPED_SIBLING: path[0][5] ^= 0x40; break;
	case B_WRONG_INDEX: p.index ^= 1; break;
	case B_SHORT_PATH: p.path_len--; break;
	case B_LONG_PATH: memcpy(path[p.path_len++], leaves[0], sizeof(path[0])); break;
	case B_ROOT_NOT_QUOTED: qd[0] ^= 1; break;
	case B_TOO_LARGE: p.size = KATLS_BATCH_MAX + 1; break;
	default: break;
	}
	assert_int_equal(katls_batch_proof_encode(&p, rec), 0);
	katls_merkle_tree_free(t);
	free(leaves);
}

/* Evidence for @req as a TPM would make it, signed by the software AK. */
static void make_cmw(struct katls_buf *out, const struct katls_exporter *ex, EVP_PKEY *leaf_key,
		     const uint8_t *crc, size_t crc_len, const struct fake *f)
{
	struct katls_evidence ev;
	struct katls_pcrs pcrs;
	struct katls_tpm_name qn;
	uint8_t binder[EVP_MAX_MD_SIZE], nonce[32], digest[64], h[32];
	size_t binder_len = sizeof(binder), nonce_len, dlen, aik_len = EVP_MAX_MD_SIZE;
	bool batched = f && f->batch && f->batch->size > 1;
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *ak = f && f->ak ? f->ak : ak_key;
	uint32_t attrs = f && f->attrs ? f->attrs : AK_ATTRS;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *sig;
	size_t der_len = 0;
	uint8_t r[32], s[32];
	uint8_t sel[3];

	memset(&ev, 0, sizeof(ev));
	fake_pcrs(&pcrs, f);
	sel[0] = (uint8_t)pcrs.mask;
	sel[1] = (uint8_t)(pcrs.mask >> 8);
	sel[2] = (uint8_t)(pcrs.mask >> 16);
	fake_names(ak, attrs, NULL, &qn);
	if (f && f->signer)
		qn = *f->signer;
	assert_int_equal(katls_binder_compute(f && f->ex ? f->ex : ex, leaf_key, crc,
					      crc_len, f ? f->label : NULL, binder,
					      &binder_len), 0);
	assert_int_equal(katls_quote_nonce(binder, binder_len, nonce, &nonce_len), 0);
	if (batched) {		/* the TPM quotes the batch's root instead */
		fake_batch_record(f->batch, binder, binder_len, &ev.batch, nonce);
		nonce_len = 32;
	}
	assert_int_equal(katls_quote_pcr_digest(0x000b, pcrs.mask, &pcrs, digest, &dlen), 0);
	/* TPMS_ATTEST */
	katls_put_be32(&ev.quote, 0xff544347);
	katls_put_be16(&ev.quote, 0x8018);
	put_tpm2b(&ev.quote, qn.name, qn.len);
	put_tpm2b(&ev.quote, nonce, nonce_len);
	katls_put_be64(&ev.quote, 12345);
	katls_put_be32(&ev.quote, 1);
	katls_put_be32(&ev.quote, 0);
	katls_put_u8(&ev.quote, 1);
	katls_put_be64(&ev.quote, 0x2024);
	katls_put_be32(&ev.quote, 1);
	katls_put_be16(&ev.quote, 0x000b);
	katls_put_u8(&ev.quote, 3);
	katls_put_bytes(&ev.quote, sel, 3);
	put_tpm2b(&ev.quote, digest, dlen);
	/* TPMT_SIGNATURE over SHA-256(TPMS_ATTEST) */
	assert_int_equal(EVP_Digest(ev.quote.data, ev.quote.len, h, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ak), 1);
	assert_int_equal(EVP_DigestSign(md, NULL, &der_len, ev.quote.data, ev.quote.len), 1);
	der = OPENSSL_malloc(der_len);
	assert_int_equal(EVP_DigestSign(md, der, &der_len, ev.quote.data, ev.quote.len), 1);
	p = der;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	assert_non_null(sig);
	BN_bn2binpad(ECDSA_SIG_get0_r(sig), r, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(sig), s, 32);
	katls_put_be16(&ev.quote_sig, 0x0018);
	katls_put_be16(&ev.quote_sig, 0x000b);
	put_tpm2b(&ev.quote_sig, r, 32);
	put_tpm2b(&ev.quote_sig, s, 32);
	ECDSA_SIG_free(sig);
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	ak_public(&ev.ak, ak, f && f->claimed_attrs ? f->claimed_attrs : attrs);
	assert_int_equal(katls_cmw_pcrs_encode(&pcrs, &ev.pcrs), 0);
	katls_buf_reserve(&ev.aik, EVP_MAX_MD_SIZE);
	assert_int_equal(katls_aik_hash(ex->md, f && f->aik_key ? f->aik_key : leaf_key,
					ev.aik.data, &aik_len), 0);
	ev.aik.len = aik_len;
	if (f && f->ima) {
		ev.has_ima = true;
		ev.ima_start = f->ima_start;
		assert_int_equal(katls_put_bytes(&ev.ima, f->ima->data, f->ima->len), 0);
	}
	if (f && f->workload)
		assert_int_equal(katls_cmw_workload_encode(f->workload, &ev.workload), 0);
	assert_int_equal(katls_cmw_encode(&ev, out), 0);
	katls_cmw_cleanup(&ev);
}

/* The server's authenticator for @req on @ex with leaf @cert/@key, carrying @cmw. */
static void auth_carrying(struct katls_buf *out, const struct katls_exporter *ex,
			  const struct katls_ea_request *req, X509 *cert, EVP_PKEY *key,
			  const struct katls_buf *cmw)
{
	struct katls_ea_identity id = { cert, NULL, key, cmw->data, cmw->len };

	assert_int_equal(katls_ea_authenticator_build(out, ex, KATLS_ROLE_SERVER, req, &id), 0);
}

/* The same with Evidence made for @req on @ex (or as @f fakes it). */
static void make_auth(struct katls_buf *out, const struct katls_exporter *ex,
		      const struct katls_ea_request *req, X509 *cert, EVP_PKEY *key,
		      const struct fake *f)
{
	struct katls_buf cmw = KATLS_BUF_INIT;

	make_cmw(&cmw, ex, key, req->crc, req->crc_len, f);
	auth_carrying(out, ex, req, cert, key, &cmw);
	katls_buf_cleanup(&cmw);
}

static void client_request(struct katls_ea_request *req)
{
	struct katls_ea_request_params p = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST };

	assert_int_equal(katls_ea_request_build(req, &p), 0);
}

/*
 * Verify @auth (from the server) on the client side of @t under @set's first
 * policy; the summary and message are copied to @sum and @msg when given.
 */
static enum katls_reason verify_set(struct conn *t, const struct katls_ea_request *req,
				    struct katls_ea_crc_set *used, const struct katls_buf *auth,
				    struct katls_policy_set *set, const char *peer,
				    struct katls_verify_summary *sum, char *msg, size_t msg_len)
{
	struct katls_verify_params vp = { .policy = &set->policies[0],
					  .peer_name = peer ? peer : "server.test" };
	struct katls_verify_result res;
	struct katls_ea_crc_set local;
	enum katls_reason r;
	int ret;

	katls_ea_crc_set_init(&local);
	ret = katls_verify_authenticator(&vp, &t->cex, KATLS_ROLE_SERVER, req,
					 used ? used : &local, auth->data, auth->len, &res);
	r = res.reason;
	if (ret)
		assert_int_not_equal(r, KATLS_R_OK);
	else
		assert_int_equal(r, KATLS_R_OK);
	if (r != KATLS_R_OK)
		print_message("    refused: %s: %s\n", katls_reason_name(r), res.msg);
	if (sum)
		*sum = res.sum;
	if (msg)
		snprintf(msg, msg_len, "%s", res.msg);
	katls_verify_result_cleanup(&res);
	katls_ea_crc_set_cleanup(&local);
	katls_policy_set_free(set);
	return r;
}

/* The same under a policy pinning ak.pem (or @pin). */
static enum katls_reason verify(struct conn *t, const struct katls_ea_request *req,
				struct katls_ea_crc_set *used, const struct katls_buf *auth,
				const char *pin, const char *peer)
{
	return verify_set(t, req, used, auth, policy(pin), peer, NULL, NULL, 0);
}

/* ---- tests ----------------------------------------------------------------- */

/* Baseline: an honest server's Evidence is accepted (the negative tests below
 * differ from this in exactly one respect). */
static void test_accept(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_OK);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
}

/* SHA-384 suite: 48-byte binder hashed to the 32-byte quote nonce. */
static void test_accept_sha384(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct conn t;

	conn_open(&t, "TLS_AES_256_GCM_SHA384");
	assert_int_equal(EVP_MD_get_size(t.cex.md), 48);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_OK);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
}

/*
 * F1: Evidence must be generated after the request it binds.  Guards: crc
 * match (ea.c validate step 2) for a replayed EA, and the binder check
 * (verify.c check_binder) for old Evidence in a fresh EA.
 */
static void test_f1_replay_on_same_connection(void **state)
{
	struct katls_buf auth1 = KATLS_BUF_INIT, auth2 = KATLS_BUF_INIT, cmw1 = KATLS_BUF_INIT;
	struct katls_ea_request req1, req2;
	struct katls_ea_crc_set used;
	struct conn t;

	conn_open(&t, NULL);
	katls_ea_crc_set_init(&used);
	client_request(&req1);
	make_auth(&auth1, &t.sex, &req1, srv_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req1, &used, &auth1, NULL, NULL), KATLS_R_OK);
	client_request(&req2);
	/* the old authenticator answers the old crc */
	assert_int_equal(verify(&t, &req2, &used, &auth1, NULL, NULL), KATLS_R_EA_CRC);
	/* a fresh authenticator carrying the old Evidence */
	make_cmw(&cmw1, &t.sex, srv_key, req1.crc, req1.crc_len, NULL);
	auth_carrying(&auth2, &t.sex, &req2, srv_cert, srv_key, &cmw1);
	assert_int_equal(verify(&t, &req2, &used, &auth2, NULL, NULL), KATLS_R_BINDER);
	katls_buf_cleanup(&auth1);
	katls_buf_cleanup(&auth2);
	katls_buf_cleanup(&cmw1);
	katls_ea_request_cleanup(&req1);
	katls_ea_request_cleanup(&req2);
	katls_ea_crc_set_cleanup(&used);
	conn_close(&t);
}

/* Appends an ima-ng record for @path with file digest @alg:@fd (@len bytes). */
static void ima_entry(struct katls_buf *log, const char *path, const char *alg,
		      const uint8_t *fd, size_t len, bool violation)
{
	struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = alg,
				     .file_digest = fd, .file_digest_len = len, .path = path,
				     .violation = violation };

	assert_int_equal(katls_ima_record_encode(log, &e, 32), 0);
}

/* Appends an ima-ng record for @path (file digest: SHA-256 of the path). */
static void ima_append(struct katls_buf *log, const char *path)
{
	uint8_t fd[32];

	assert_int_equal(EVP_Digest(path, strlen(path), fd, NULL, EVP_sha256(), NULL), 1);
	ima_entry(log, path, "sha256", fd, sizeof(fd), false);
}

/* Appends entry 0 as the kernel writes it: boot_aggregate of make_cmw(@f)'s PCRs 0-9. */
static void ima_boot(struct katls_buf *log, const struct fake *f)
{
	uint8_t agg[32];

	fake_boot_aggregate(f, agg);
	ima_entry(log, "boot_aggregate", "sha256", agg, sizeof(agg), false);
}

/* PCR 10 (SHA-256 bank) after all of @log, as the kernel would extend it. */
static void ima_pcr10(const struct katls_buf *log, uint8_t out[32])
{
	struct katls_ima_verify_in in = { .log = log->data, .log_len = log->len,
					  .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = 10 };
	struct katls_ima_verify_out o;

	assert_int_equal(katls_ima_verify(&in, &o), 0);
	memcpy(out, o.pcr, 32);
}

/* A policy pinning ak.pem that replays the IMA log, plus @extra members. */
static struct katls_policy_set *ima_policy(const char *extra)
{
	char json[1024];

	snprintf(json, sizeof(json), POLICY_HEAD "\"ak_pins\": [\"ak.pem\"], "
		 "\"ima\": {\"required\": true}%s}", extra ? extra : "");
	return policy_doc(json);
}

/* Verify @auth under ima_policy(NULL); *covered = entries the quote covers. */
static enum katls_reason verify_ima(struct conn *t, const struct katls_ea_request *req,
				    struct katls_ea_crc_set *used, const struct katls_buf *auth,
				    uint32_t *covered)
{
	struct katls_verify_summary sum;
	enum katls_reason r;

	r = verify_set(t, req, used, auth, ima_policy(NULL), NULL, &sum, NULL, 0);
	*covered = sum.ima_covered;
	return r;
}

/*
 * F3: re-attestation on demand, without reconnecting.  A second request on
 * the same connection has a new crc, so a new binder; its Evidence shows the
 * binary measured since the first; a log that lags the quoted PCR 10 is
 * refused.  Guards: fresh crc per request (katls_ea_request_build), the
 * binder's crc input (katls_binder_compute), IMA replay to the quoted PCR 10
 * (verify.c check_ima).
 */
static void test_f3_reattest_same_connection(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT, old = KATLS_BUF_INIT, auth = KATLS_BUF_INIT;
	uint8_t pcr10[32], b1[EVP_MAX_MD_SIZE], b2[EVP_MAX_MD_SIZE];
	size_t b1_len = sizeof(b1), b2_len = sizeof(b2);
	struct katls_ea_request req1, req2, req3;
	struct fake f = { .ima = &log, .pcr10 = pcr10 };
	struct katls_ea_crc_set used;
	uint32_t covered = 0;
	struct conn t;

	conn_open(&t, NULL);
	katls_ea_crc_set_init(&used);
	ima_boot(&log, &f);
	ima_append(&log, "/usr/bin/a");
	ima_append(&log, "/usr/bin/b");
	ima_pcr10(&log, pcr10);
	client_request(&req1);
	make_auth(&auth, &t.sex, &req1, srv_cert, srv_key, &f);
	assert_int_equal(verify_ima(&t, &req1, &used, &auth, &covered), KATLS_R_OK);
	assert_int_equal(covered, 3);
	katls_buf_cleanup(&auth);

	/* a new binary runs on the attester; the verifier asks again */
	assert_int_equal(katls_put_bytes(&old, log.data, log.len), 0);
	ima_append(&log, "/usr/bin/new");
	ima_pcr10(&log, pcr10);
	client_request(&req2);
	assert_memory_not_equal(req1.crc, req2.crc, req1.crc_len);
	assert_int_equal(katls_binder_compute(&t.sex, srv_key, req1.crc, req1.crc_len, NULL,
					      b1, &b1_len), 0);
	assert_int_equal(katls_binder_compute(&t.sex, srv_key, req2.crc, req2.crc_len, NULL,
					      b2, &b2_len), 0);
	assert_memory_not_equal(b1, b2, b1_len);
	make_auth(&auth, &t.sex, &req2, srv_cert, srv_key, &f);
	assert_int_equal(verify_ima(&t, &req2, &used, &auth, &covered), KATLS_R_OK);
	assert_int_equal(covered, 4);
	katls_buf_cleanup(&auth);

	/* stale: the quote covers the new entry, the log does not */
	f.ima = &old;
	client_request(&req3);
	make_auth(&auth, &t.sex, &req3, srv_cert, srv_key, &f);
	assert_int_equal(verify_ima(&t, &req3, &used, &auth, &covered), KATLS_R_IMA_REPLAY);

	katls_buf_cleanup(&auth);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&old);
	katls_ea_request_cleanup(&req1);
	katls_ea_request_cleanup(&req2);
	katls_ea_request_cleanup(&req3);
	katls_ea_crc_set_cleanup(&used);
	conn_close(&t);
}

/*
 * F2: crc >= 32 random bytes, unique, consumed once.  Guards: the random
 * crc of katls_ea_request_build and the single-use crc set (consume_crc).
 */
static void test_f2_crc_single_use(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req, other;
	struct katls_ea_crc_set used;
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	client_request(&other);
	assert_int_equal(req.crc_len, 32);
	assert_memory_not_equal(req.crc, other.crc, 32);
	katls_ea_crc_set_init(&used);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req, &used, &auth, NULL, NULL), KATLS_R_OK);
	assert_int_equal(verify(&t, &req, &used, &auth, NULL, NULL), KATLS_R_EA_CRC);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	katls_ea_request_cleanup(&other);
	katls_ea_crc_set_cleanup(&used);
	conn_close(&t);
}

/*
 * F4: no tickets, no resumption, no early data.  Guards: num_tickets = 0,
 * SSL_OP_NO_TICKET, the client's session drop and max_early_data = 0 in
 * katls_tls_ctx_new.
 */
static void test_f4_no_resumption(void **state)
{
	struct conn t, t2;
	SSL_SESSION *sess;
	uint8_t buf[16];
	size_t n;

	conn_open(&t, NULL);
	assert_int_equal(SSL_CTX_get_num_tickets(t.sctx), 0);
	assert_true(SSL_CTX_get_options(t.sctx) & SSL_OP_NO_TICKET);
	assert_true(SSL_CTX_get_options(t.cctx) & SSL_OP_NO_TICKET);
	assert_int_equal(SSL_CTX_get_max_early_data(t.sctx), 0);
	assert_int_equal(SSL_CTX_get_recv_max_early_data(t.sctx), 0);
	assert_int_equal(SSL_CTX_get_session_cache_mode(t.sctx), SSL_SESS_CACHE_OFF);
	/* no NewSessionTicket arrived: nothing the client could resume */
	SSL_read_ex(t.c, buf, sizeof(buf), &n);
	ERR_clear_error();
	sess = SSL_get1_session(t.c);
	assert_non_null(sess);
	assert_false(SSL_SESSION_is_resumable(sess));
	/* even handed the old session, a second connection does a full handshake */
	conn_open(&t2, NULL);
	assert_false(SSL_session_reused(t2.c));
	SSL_SESSION_free(sess);
	/* the traffic secrets for the kTLS handover were captured */
	{
		uint8_t sec[EVP_MAX_MD_SIZE];
		size_t len;

		assert_int_equal(katls_tls_traffic_secret(t.c, true, sec, &len), 0);
		assert_int_equal(len, 32);
		assert_int_equal(katls_tls_traffic_secret(t.s, false, sec, &len), 0);
		katls_tls_ssl_wipe_secrets(t.c);
		assert_int_equal(katls_tls_traffic_secret(t.c, true, sec, &len), -ENOENT);
		OPENSSL_cleanse(sec, sizeof(sec));
	}
	conn_close(&t);
	conn_close(&t2);
}

/*
 * R1: a valid authenticator + Evidence moved from connection A to B.
 * Guards: HC/FK from B's exporter (CertificateVerify, Finished) and the
 * binder of B's exporter (check_binder).
 */
static void test_r1_move_to_other_connection(void **state)
{
	struct katls_buf auth_a = KATLS_BUF_INIT, auth_b = KATLS_BUF_INIT, cmw_a = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct conn a, b;
	enum katls_reason r;

	conn_open(&a, NULL);
	conn_open(&b, NULL);
	client_request(&req);	/* the same request bytes on both connections */
	make_auth(&auth_a, &a.sex, &req, srv_cert, srv_key, NULL);
	assert_int_equal(verify(&a, &req, NULL, &auth_a, NULL, NULL), KATLS_R_OK);
	r = verify(&b, &req, NULL, &auth_a, NULL, NULL);
	assert_true(r == KATLS_R_EA_SIGNATURE || r == KATLS_R_EA_FINISHED);
	/* a correct EA on B, carrying A's Evidence */
	make_cmw(&cmw_a, &a.sex, srv_key, req.crc, req.crc_len, NULL);
	auth_carrying(&auth_b, &b.sex, &req, srv_cert, srv_key, &cmw_a);
	assert_int_equal(verify(&b, &req, NULL, &auth_b, NULL, NULL), KATLS_R_BINDER);
	katls_buf_cleanup(&auth_a);
	katls_buf_cleanup(&auth_b);
	katls_buf_cleanup(&cmw_a);
	katls_ea_request_cleanup(&req);
	conn_close(&a);
	conn_close(&b);
}

/*
 * R2: relay.  The verifier V talks to a TLS-terminating relay M (conn 1);
 * M forwards V's request to the honest attester A (conn 2).  Guards: the
 * CertificateVerify/Finished over conn 1's HC/FK (verbatim relay), the aik
 * binding (M re-signs A's Evidence with its own trusted cert) and the binder
 * (M makes A's TPM quote for conn 2 while claiming A's key).
 */
static void test_r2_relay(void **state)
{
	struct katls_buf fwd = KATLS_BUF_INIT, resigned = KATLS_BUF_INIT, cmw = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct conn vm, ma;
	struct fake f = { 0 };
	enum katls_reason r;

	conn_open(&vm, NULL);
	conn_open(&ma, NULL);
	client_request(&req);
	/* A answers on conn 2 (its Evidence bound to conn 2's exporter) */
	make_auth(&fwd, &ma.sex, &req, srv_cert, srv_key, NULL);
	r = verify(&vm, &req, NULL, &fwd, NULL, NULL);
	assert_true(r == KATLS_R_EA_SIGNATURE || r == KATLS_R_EA_FINISHED);
	/* M re-wraps A's Evidence in its own EA on conn 1 */
	make_cmw(&cmw, &ma.sex, srv_key, req.crc, req.crc_len, NULL);
	auth_carrying(&resigned, &vm.sex, &req, relay_cert, relay_key, &cmw);
	assert_int_equal(verify(&vm, &req, NULL, &resigned, NULL, NULL), KATLS_R_AIK_BINDING);
	/* M gets A's TPM to quote for M's key on conn 2: binder still wrong */
	katls_buf_cleanup(&cmw);
	katls_buf_cleanup(&resigned);
	f.ex = &ma.sex;
	make_cmw(&cmw, &vm.sex, relay_key, req.crc, req.crc_len, &f);
	auth_carrying(&resigned, &vm.sex, &req, relay_cert, relay_key, &cmw);
	assert_int_equal(verify(&vm, &req, NULL, &resigned, NULL, NULL), KATLS_R_BINDER);
	katls_buf_cleanup(&fwd);
	katls_buf_cleanup(&resigned);
	katls_buf_cleanup(&cmw);
	katls_ea_request_cleanup(&req);
	conn_close(&vm);
	conn_close(&ma);
}

/*
 * D1: valid Evidence with an untrusted or wrongly named certificate.
 * Guards: X509_verify_cert against the policy anchors (check_chain) and
 * X509_check_host against the expected name and peer_names (check_name).
 */
static void test_d1_pki(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, untrusted_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_PKI_CHAIN);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, wrong_name_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, "other.test"), KATLS_R_PKI_NAME);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, NULL);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, "elsewhere.test"), KATLS_R_PKI_NAME);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	conn_close(&t);
}

/*
 * D2: Evidence whose aik is not H(SPKI) of the EA leaf (a software AIK or a
 * twin machine), and Evidence from an AK the policy does not pin.  Guards:
 * check_aik and check_ak (katls_quote_ak_pinned).
 */
static void test_d2_aik_and_ak(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct fake f = { .aik_key = other_key };
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, &f);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_AIK_BINDING);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	client_request(&req);
	f.aik_key = NULL;
	f.ak = ak2_key;		/* a genuine-looking quote from another TPM */
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, &f);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_AK_UNTRUSTED);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	/* the same Evidence passes once the policy pins that AK */
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, &f);
	assert_int_equal(verify(&t, &req, NULL, &auth, "ak2.pem", NULL), KATLS_R_OK);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	conn_close(&t);
}

/*
 * B1: the fixed-secret binder vector is test_ea.c test_binder.  Here,
 * end to end: Evidence bound with another exporter label ("Attestation
 * Binding", the draft's alternative) is refused, and accepted when the
 * verifier is configured for that label.  Guards: the label in
 * check_binder and the quote signature over the nonce.
 */
static void test_b1_label(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct fake f = { .label = "Attestation Binding" };
	struct katls_policy_set *set = policy(NULL);
	struct katls_verify_params vp = { .policy = &set->policies[0],
					  .peer_name = "server.test",
					  .binder_label = "Attestation Binding" };
	struct katls_verify_result res;
	struct katls_ea_crc_set used;
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, &f);
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_BINDER);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, &f);
	katls_ea_crc_set_init(&used);
	assert_int_equal(katls_verify_authenticator(&vp, &t.cex, KATLS_ROLE_SERVER, &req, &used,
						    auth.data, auth.len, &res), 0);
	katls_verify_result_cleanup(&res);
	katls_ea_crc_set_cleanup(&used);
	katls_policy_set_free(set);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&auth);
	conn_close(&t);
}

/*
 * E1 end to end: an authenticator signed with RSASSA-PKCS1-v1_5 (0x0401)
 * is refused, and katls never offers it.  Guards: the TLS 1.3 scheme check
 * of ea.c (step 4).  (The full RFC 9261 negative list is test_ea.c.)
 */
static void test_e1_pkcs1_refused(void **state)
{
	static const uint16_t pkcs1[] = { 0x0401 };
	struct katls_ea_request_params rp = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST,
					      .sigalgs = pkcs1, .num_sigalgs = 1 };
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	size_t cv;
	struct conn t;

	conn_open(&t, NULL);
	assert_int_not_equal(katls_ea_request_build(&req, &rp), 0);
	client_request(&req);
	assert_false(katls_ea_request_has_sigalg(&req, 0x0401));
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, NULL);
	/* rewrite the CertificateVerify scheme to rsa_pkcs1_sha256 */
	cv = 4 + ((size_t)auth.data[1] << 16 | (size_t)auth.data[2] << 8 | auth.data[3]);
	assert_int_equal(auth.data[cv], KATLS_HS_CERTIFICATE_VERIFY);
	auth.data[cv + 4] = 0x04;
	auth.data[cv + 5] = 0x01;
	assert_int_equal(verify(&t, &req, NULL, &auth, NULL, NULL), KATLS_R_EA_SIGALG);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
}

/* Offline re-verification from a saved exchange, and tampering detection. */
static void test_save_and_verify_dir(void **state)
{
	struct katls_buf auth = KATLS_BUF_INIT, cmw = KATLS_BUF_INIT;
	struct katls_policy_set *set = policy(NULL);
	struct katls_verify_params vp = { .policy = &set->policies[0] };
	struct katls_verify_result res;
	struct katls_ea_request req;
	char sdir[256], cmd[600];
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	make_cmw(&cmw, &t.sex, srv_key, req.crc, req.crc_len, NULL);
	auth_carrying(&auth, &t.sex, &req, srv_cert, srv_key, &cmw);
	snprintf(sdir, sizeof(sdir), "%s/saved", dir);
	assert_int_equal(katls_verify_save(sdir, &t.cex, KATLS_ROLE_SERVER, &req, auth.data,
					   auth.len, cmw.data, cmw.len, "server.test", NULL), 0);
	/* the peer's AK is saved under a name that says it is no trust pin */
	snprintf(cmd, sizeof(cmd), "%s/peer-ak.unverified.pem", sdir);
	assert_int_equal(access(cmd, R_OK), 0);
	snprintf(cmd, sizeof(cmd), "%s/ak.pem", sdir);
	assert_int_equal(access(cmd, F_OK), -1);
	snprintf(cmd, sizeof(cmd), "grep -q 'do NOT pin it' '%s/README'", sdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(katls_verify_dir(sdir, &vp, &res), 0);
	katls_verify_result_cleanup(&res);
	/* wrong expected name: D1 still applies offline */
	vp.peer_name = "other.test";
	assert_int_equal(katls_verify_dir(sdir, &vp, &res), -EACCES);
	assert_int_equal(res.reason, KATLS_R_PKI_NAME);
	katls_verify_result_cleanup(&res);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
	assert_int_equal(system(cmd), 0);
	katls_policy_set_free(set);
	katls_buf_cleanup(&auth);
	katls_buf_cleanup(&cmw);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
}

/* ---- every claim is covered by the TPM (issue 10, items 4-6) ---------------- */

/*
 * Verdict on Evidence made as @f says (carrying @log; PCR 10 quoted as @log
 * replays unless @f sets it) under ima_policy(@extra) or, with @json, that
 * policy; summary and message to @sum/@msg when given.
 */
static enum katls_reason attest(struct fake *f, const struct katls_buf *log, const char *extra,
				const char *json, struct katls_verify_summary *sum, char *msg,
				size_t msg_len)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	uint8_t pcr10[32];
	enum katls_reason r;
	bool own_pcr10 = log && !f->pcr10;
	struct conn t;

	if (own_pcr10) {
		ima_pcr10(log, pcr10);
		f->pcr10 = pcr10;
	}
	f->ima = log;
	conn_open(&t, NULL);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, f);
	r = verify_set(&t, &req, NULL, &auth, json ? policy_doc(json) : ima_policy(extra), NULL,
		       sum, msg, msg_len);
	if (own_pcr10)
		f->pcr10 = NULL;
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
	return r;
}

/* Asserts @r is @want and, when given, that @msg contains @sub. */
static void expect(enum katls_reason r, const char *msg, enum katls_reason want, const char *sub)
{
	if (r != want || (sub && !strstr(msg, sub)))
		fail_msg("got %s \"%s\", want %s \"%s\"", katls_reason_name(r), msg,
			 katls_reason_name(want), sub ? sub : "");
}

/*
 * Item 4: the IMA log must be tied to the measured boot, whatever the
 * attester leaves out.  Each case guards one check, named in the comment;
 * the control case shows the same Evidence passes when nothing is left out.
 */
static void test_ima_tied_to_boot(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT;
	static const uint8_t zero[32];
	uint8_t agg[32], sha1[20];
	struct fake f = { 0 };
	char msg[512];

	/* control: PCRs 0-10 quoted, entry 0 = H(PCRs 0-9) */
	ima_boot(&log, &f);
	ima_append(&log, "/usr/bin/a");
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);

	/* verify.c check_ima, IMA_PCRS: PCRs 0-9 not quoted (their absent values
	 * are zero, and the log's boot_aggregate is the hash of zeros) */
	f.pcr_mask = 0x400;
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	ima_append(&log, "/usr/bin/a");
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "IMA: the quote covers sha256 PCRs 0x000400, not all of PCRs 0-9");
	/* ... nor PCR 10 */
	f.pcr_mask = 0x3ff;
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "IMA: the quote covers sha256 PCRs 0x0003ff");
	f.pcr_mask = 0;

	/* ima.c check_boot_aggregate: a boot_aggregate of another length (SHA-1) */
	katls_buf_cleanup(&log);
	memset(sha1, 0x5a, sizeof(sha1));
	ima_entry(&log, "boot_aggregate", "sha1", sha1, sizeof(sha1), false);
	ima_append(&log, "/usr/bin/a");
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "IMA boot_aggregate: entry 0 (boot_aggregate) is a sha1 digest of 20 bytes");

	/* ima.c check_boot_aggregate: entry 0 is not boot_aggregate (even with its digest) */
	katls_buf_cleanup(&log);
	fake_boot_aggregate(&f, agg);
	ima_entry(&log, "/usr/bin/a", "sha256", agg, sizeof(agg), false);
	ima_append(&log, "/usr/bin/b");
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "entry 0 (/usr/bin/a) is not boot_aggregate");

	/* ima.c check_boot_aggregate: the value of another boot */
	katls_buf_cleanup(&log);
	fake_boot_aggregate(&f, agg);
	agg[31] ^= 1;
	ima_entry(&log, "boot_aggregate", "sha256", agg, sizeof(agg), false);
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "does not match the quoted boot PCRs 0-9");

	/* ima.c check_boot_aggregate: a violation record (fields covered by nothing) */
	katls_buf_cleanup(&log);
	fake_boot_aggregate(&f, agg);
	ima_entry(&log, "boot_aggregate", "sha256", agg, sizeof(agg), true);
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "is a violation record");

	/* ima.c finish: an empty log with an all-zero PCR 10 */
	katls_buf_cleanup(&log);
	f.pcr10 = zero;
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "the quote covers none of the 0 log entries");
	/* ... or a good log the quote does not cover */
	ima_boot(&log, &f);
	expect(attest(&f, &log, NULL, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_IMA_REPLAY,
	       "the quote covers none of the 1 log entries");
	f.pcr10 = NULL;
	katls_buf_cleanup(&log);
}

/*
 * Item 5: the quote's qualifiedSigner must be the qualified name of the AK
 * whose TPMT_PUBLIC the Evidence carries.  Guards katls_quote_check_signer()
 * in verify.c check_quote(): the plain Name, another key's qualified name,
 * and the right key with other attributes (here under a PEM pin, which
 * does not cover attributes) are all refused.
 */
static void test_ak_qualified_signer(void **state)
{
	struct katls_tpm_name name, other_qn;
	struct fake f = { 0 };
	char msg[512];

	expect(attest(&f, NULL, NULL, POLICY_HEAD "\"ak_pins\": [\"ak.pem\"]}", NULL, msg,
		      sizeof(msg)), msg, KATLS_R_OK, NULL);
	fake_names(ak_key, AK_ATTRS, &name, NULL);
	f.signer = &name;
	expect(attest(&f, NULL, NULL, POLICY_HEAD "\"ak_pins\": [\"ak.pem\"]}", NULL, msg,
		      sizeof(msg)), msg, KATLS_R_QUOTE_SIGNATURE,
	       "is not the qualified name of the AK 000b");
	fake_names(ak2_key, AK_ATTRS, NULL, &other_qn);
	f.signer = &other_qn;
	expect(attest(&f, NULL, NULL, POLICY_HEAD "\"ak_pins\": [\"ak.pem\"]}", NULL, msg,
		      sizeof(msg)), msg, KATLS_R_QUOTE_SIGNATURE, "qualifiedSigner");
	f.signer = NULL;
	/* the key that signed has AK_ATTRS; the ak record claims it lacks noDA */
	f.claimed_attrs = AK_ATTRS & ~0x400u;
	expect(attest(&f, NULL, NULL, POLICY_HEAD "\"ak_pins\": [\"ak.pem\"]}", NULL, msg,
		      sizeof(msg)), msg, KATLS_R_QUOTE_SIGNATURE,
	       "the ak record is not the public area of the key that signed");
}

/*
 * Item 5: ak_names pins the AK's TPM Name, so its attributes.  Guards
 * katls_quote_ak_name_pinned() in verify.c check_ak().  The last case is
 * the threat docs/policy.md describes: a key that is NOT restricted (its
 * holder signs any TPMS_ATTEST, qualifiedSigner included) claiming to be;
 * a Name pin of the real public area refuses it, a PEM pin cannot.
 */
static void test_ak_name_pins(void **state)
{
	struct katls_tpm_name name, unrestricted;
	struct katls_verify_summary sum;
	char json[512], hex[2 * KATLS_TPM_NAME_MAX + 1], msg[512];
	struct fake f = { 0 };

	fake_names(ak_key, AK_ATTRS, &name, NULL);
	katls_ima_format_hex(hex, sizeof(hex), name.name, name.len);
	snprintf(json, sizeof(json), POLICY_HEAD "\"ak_names\": [\"%s\"]}", hex);
	expect(attest(&f, NULL, NULL, json, &sum, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);
	assert_string_equal(sum.ak_name, hex);
	assert_string_equal(sum.ak_pinned_by, "ak_names");
	/* another AK's Name */
	f.ak = ak2_key;
	expect(attest(&f, NULL, NULL, json, NULL, msg, sizeof(msg)), msg, KATLS_R_AK_UNTRUSTED,
	       "neither its Name is in ak_names nor its key in ak_pins");
	f.ak = NULL;
	/* no pin at all */
	expect(attest(&f, NULL, NULL, POLICY_HEAD "\"max_age_s\": 5}", NULL, msg, sizeof(msg)),
	       msg, KATLS_R_AK_UNTRUSTED, "pins no AK (ak_names or ak_pins)");
	/* the pinned key is an unrestricted signing key (attributes without restricted) */
	fake_names(ak_key, AK_ATTRS & ~0x10000u, &unrestricted, NULL);
	katls_ima_format_hex(hex, sizeof(hex), unrestricted.name, unrestricted.len);
	snprintf(json, sizeof(json), POLICY_HEAD "\"ak_names\": [\"%s\"]}", hex);
	expect(attest(&f, NULL, NULL, json, NULL, msg, sizeof(msg)), msg, KATLS_R_AK_UNTRUSTED,
	       "is not pinned");
	/* ... under a PEM pin of the same key, the forgery passes: documented limit */
	expect(attest(&f, NULL, NULL, POLICY_HEAD "\"ak_pins\": [\"ak.pem\"]}", &sum, msg,
		      sizeof(msg)), msg, KATLS_R_OK, NULL);
	assert_string_equal(sum.ak_pinned_by, "ak_pins");
}

/* An enrollment store in the test directory holding @ak (with AK_ATTRS). */
static void write_store(const char *file, EVP_PKEY *ak)
{
	struct katls_buf pub = KATLS_BUF_INIT;
	struct katls_tpm_name n;
	char path[256], name_hex[2 * KATLS_TPM_NAME_MAX + 1], *pub_hex;
	FILE *f;

	ak_public(&pub, ak, AK_ATTRS);
	fake_names(ak, AK_ATTRS, &n, NULL);
	katls_ima_format_hex(name_hex, sizeof(name_hex), n.name, n.len);
	pub_hex = calloc(1, 2 * pub.len + 1);
	assert_non_null(pub_hex);
	katls_ima_format_hex(pub_hex, 2 * pub.len + 1, pub.data, pub.len);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{ \"version\": 1, \"enrollments\": [ { \"ak_name\": \"%s\", "
		"\"ak_public\": \"%s\", \"ek_cert_sha256\": \"%064d\", "
		"\"ek_cert_issuer\": \"CN=TPM CA\", \"ek_cert_subject\": \"\", "
		"\"ek_cert_serial\": \"01\", \"enrolled_at\": \"2026-01-01T00:00:00Z\" } ] }\n",
		name_hex, pub_hex, 1);
	fclose(f);
	free(pub_hex);
	katls_buf_cleanup(&pub);
}

/*
 * Item 5 (D2): a policy that asks for enrollment (ak_enrollment) accepts only
 * an AK recorded in the enrollment store, whatever it pins besides; a store
 * that cannot be loaded makes the policy fail to load.
 */
static void test_ak_enrollment(void **state)
{
	struct katls_verify_summary sum;
	char json[512], msg[512], path[256];
	struct fake f = { 0 };

	(void)state;
	write_store("enrolled.json", ak_key);
	snprintf(json, sizeof(json), POLICY_HEAD "\"ak_enrollment\": \"enrolled.json\"}");
	expect(attest(&f, NULL, NULL, json, &sum, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);
	assert_string_equal(sum.ak_pinned_by, "ak_enrollment");
	/* another AK: not enrolled, even though the policy pins it by its PEM key */
	f.ak = ak2_key;
	snprintf(json, sizeof(json), POLICY_HEAD "\"ak_enrollment\": \"enrolled.json\", "
		 "\"ak_pins\": [\"ak2.pem\"]}");
	expect(attest(&f, NULL, NULL, json, NULL, msg, sizeof(msg)), msg, KATLS_R_AK_UNTRUSTED,
	       "requires enrollment with the EK");
	f.ak = NULL;
	/* the enrolled key claimed with other attributes is another public area */
	f.attrs = AK_ATTRS & ~0x00000400u;	/* without noDA: still an AK, another Name */
	expect(attest(&f, NULL, NULL, json, NULL, msg, sizeof(msg)), msg, KATLS_R_AK_UNTRUSTED,
	       "is not enrolled");
	f.attrs = 0;
	snprintf(path, sizeof(path), "%s/enrolled.json", dir);
	unlink(path);
}

/* The workload of the workload tests: /usr/bin/app, SHA-256 of "app". */
static void app_workload(struct katls_cmw_workload *w)
{
	memset(w, 0, sizeof(*w));
	w->pid = 42;
	w->uid = 1000;
	w->cgroup_id = 7;
	snprintf(w->exe_path, sizeof(w->exe_path), "/usr/bin/app");
	assert_int_equal(EVP_Digest("app", 3, w->exe_digest, NULL, EVP_sha256(), NULL), 1);
	w->exe_digest_len = 32;
	w->exe_digest_alg = 4;
}

#define APP_RULE	", \"workload\": {\"exe_paths\": [\"/usr/bin/app\"]}"

/*
 * Item 6: the workload's exe path and digest must be an IMA measurement in
 * the quoted part of the log, or the workload is unverified and every rule
 * on it fails.  Each case guards one condition of workload_in_ima() and
 * katls_ima_find_measurement().
 */
static void test_workload_verified_by_ima(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT;
	struct katls_cmw_workload w, zero_w;
	struct katls_verify_summary sum;
	uint8_t other[32] = { 1 }, pcr10[32];
	struct fake f = { .workload = &w };
	char msg[512], rule[256], hex[65];

	app_workload(&w);
	/* verified: entry 1 measures /usr/bin/app with its digest */
	ima_boot(&log, &f);
	ima_entry(&log, "/usr/bin/app", "sha256", w.exe_digest, 32, false);
	expect(attest(&f, &log, APP_RULE, NULL, &sum, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);
	assert_true(sum.workload_verified);
	assert_int_equal(sum.workload_ima_index, 1);
	assert_int_equal(sum.workload_uid, 1000);
	/* ... and a digest rule on it */
	snprintf(rule, sizeof(rule), ", \"workload\": {\"exe_digests\": [\"sha256:%s\"]}",
		 katls_ima_format_hex(hex, sizeof(hex), w.exe_digest, 32));
	expect(attest(&f, &log, rule, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);
	snprintf(rule, sizeof(rule), ", \"workload\": {\"exe_digests\": [\"sha256:%s\"]}",
		 katls_ima_format_hex(hex, sizeof(hex), other, 32));
	expect(attest(&f, &log, rule, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "workload /usr/bin/app: exe digest not allowed");

	/* the log measures the path with another digest */
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	ima_entry(&log, "/usr/bin/app", "sha256", other, 32, false);
	expect(attest(&f, &log, APP_RULE, NULL, &sum, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "workload /usr/bin/app is unverified: no IMA measurement of that path with that "
	       "digest among the 2 entries the quote covers");
	assert_false(sum.workload_verified);

	/* the digest, measured for another path */
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	ima_entry(&log, "/usr/bin/app2", "sha256", w.exe_digest, 32, false);
	expect(attest(&f, &log, APP_RULE, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "is unverified: no IMA measurement");

	/* measured, but after the quote: not covered */
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	ima_append(&log, "/usr/bin/x");
	ima_pcr10(&log, pcr10);
	ima_entry(&log, "/usr/bin/app", "sha256", w.exe_digest, 32, false);
	f.pcr10 = pcr10;
	expect(attest(&f, &log, APP_RULE, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "among the 2 entries the quote covers");
	f.pcr10 = NULL;

	/* only a violation record names it: its fields are covered by no digest */
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	ima_entry(&log, "/usr/bin/app", "sha256", w.exe_digest, 32, true);
	expect(attest(&f, &log, APP_RULE, NULL, NULL, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "is unverified: no IMA measurement");

	/* an unknown (all-zero) digest never verifies, even against a zero entry */
	app_workload(&zero_w);
	memset(zero_w.exe_digest, 0, 32);
	f.workload = &zero_w;
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	ima_entry(&log, "/usr/bin/app", "sha256", zero_w.exe_digest, 32, false);
	expect(attest(&f, &log, APP_RULE, NULL, &sum, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "its exe digest is unknown (all zero)");
	assert_false(sum.workload_verified);
	f.workload = &w;

	/* no IMA log to verify against (the policy does not require one) */
	expect(attest(&f, NULL, ", \"workload\": {\"exe_paths\": [\"/usr/bin/app\"]}",
		      POLICY_HEAD "\"ak_pins\": [\"ak.pem\"], \"ima\": {\"required\": false}"
		      APP_RULE "}", NULL, msg, sizeof(msg)), msg, KATLS_R_WORKLOAD,
	       "no IMA log was replayed");

	/* without workload rules an unverified workload is accepted, marked unverified */
	katls_buf_cleanup(&log);
	ima_boot(&log, &f);
	expect(attest(&f, &log, NULL, NULL, &sum, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);
	assert_true(sum.has_workload);
	assert_false(sum.workload_verified);
	assert_non_null(strstr(sum.workload_unverified, "no IMA measurement"));
	katls_buf_cleanup(&log);
}

/* ---- the katls/1 exchange engine (session.c) over a plain fd transport ---- */

static ssize_t fd_read(void *arg, uint8_t *buf, size_t len)
{
	ssize_t n = read(*(int *)arg, buf, len);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	return n;
}

static unsigned int writes_on_fd[1024];	/* transport writes, by fd */

static int fd_write(void *arg, const uint8_t *buf, size_t len)
{
	if (*(int *)arg < 1024)
		writes_on_fd[*(int *)arg]++;
	while (len) {
		ssize_t n = write(*(int *)arg, buf, len);

		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static unsigned int gathered;	/* Evidence made by fake_gather() */
static bool gather_batch_asked;	/* the last request's rq->batch */
static bool gather_batch_always;	/* batch even if the request did not allow it */

/*
 * Software-TPM Evidence through the session's gather hook (@arg: a struct
 * fake or NULL); a fake batch is used only when the request allows it.
 */
static int fake_gather(void *arg, const struct katls_evidence_request *rq,
		       struct katls_buf *out, char *err, size_t err_len)
{
	struct fake f = { 0 };

	if (arg)
		f = *(const struct fake *)arg;
	gather_batch_asked = rq->batch;
	if (!rq->batch && !gather_batch_always)
		f.batch = NULL;
	make_cmw(out, rq->ex, rq->leaf_key, rq->crc, rq->crc_len, &f);
	gathered++;
	return 0;
}

struct side {
	struct katls_session_params p;
	struct katls_session_result r;
	struct katls_policy_set *set;
	struct katls_verify_params vp;
	int fd;
	int ret;
};

static void side_init(struct side *s, enum katls_role role, enum katls_mode mode,
		      const struct katls_exporter *ex, int fd, const char *pin, const char *peer)
{
	struct timeval tv = { .tv_sec = 2 };

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->set = policy(pin);
	s->vp.policy = &s->set->policies[0];
	s->vp.peer_name = peer;
	s->p.role = role;
	s->p.mode = mode;
	s->p.ex = ex;
	s->p.tr.read = fd_read;
	s->p.tr.write = fd_write;
	s->p.tr.arg = &s->fd;
	s->p.leaf = srv_cert;	/* both ends use the server.test identity */
	s->p.key = srv_key;
	s->p.gather = fake_gather;
	s->p.verify = &s->vp;
}

static void side_cleanup(struct side *s)
{
	katls_session_result_cleanup(&s->r);
	katls_policy_set_free(s->set);
}

static void *side_run(void *arg)
{
	struct side *s = arg;

	s->ret = katls_session_run(&s->p, &s->r);
	return NULL;
}

typedef int gather_fn(void *arg, const struct katls_evidence_request *rq,
		      struct katls_buf *out, char *err, size_t err_len);

/*
 * Runs client and server sessions on the two ends of a socketpair, with
 * their own gather hooks if given (else fake_gather()).
 */
static void exchange_gathering(struct conn *t, struct side *c, struct side *s,
			       enum katls_mode cm, enum katls_mode sm, const char *client_pin,
			       int fd[2], gather_fn *cg, gather_fn *sg)
{
	pthread_t th;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	side_init(c, KATLS_ROLE_CLIENT, cm, &t->cex, fd[0], client_pin, "server.test");
	side_init(s, KATLS_ROLE_SERVER, sm, &t->sex, fd[1], NULL, NULL);
	if (cg)
		c->p.gather = cg;
	if (sg)
		s->p.gather = sg;
	assert_int_equal(pthread_create(&th, NULL, side_run, s), 0);
	side_run(c);
	assert_int_equal(pthread_join(th, NULL), 0);
}

static void exchange(struct conn *t, struct side *c, struct side *s, enum katls_mode cm,
		     enum katls_mode sm, const char *client_pin, int fd[2])
{
	exchange_gathering(t, c, s, cm, sm, client_pin, fd, NULL, NULL);
}

/* After exchange(): both sides' results and the socketpair. */
static void exchange_end(struct side *c, struct side *s, int fd[2])
{
	side_cleanup(c);
	side_cleanup(s);
	close(fd[0]);
	close(fd[1]);
}

/* Server attests, client verifies; application data after it stays unread. */
static void test_session_verify(void **state)
{
	struct side c, s;
	struct conn t;
	int fd[2];
	char buf[8];

	conn_open(&t, NULL);
	memset(writes_on_fd, 0, sizeof(writes_on_fd));
	exchange(&t, &c, &s, KATLS_MODE_VERIFY_PEER, KATLS_MODE_ATTEST_SELF, NULL, fd);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	/*
	 * One write per flight: client hello + request, then its verdict; server
	 * hello (before its quote), then the authenticator.  Small messages
	 * written one by one left several segments in flight, and the tail loss
	 * probe fired before the peer's delayed ACK.
	 */
	assert_int_equal(writes_on_fd[fd[0]], 2);
	assert_int_equal(writes_on_fd[fd[1]], 2);
	assert_true(c.r.verified_peer);
	assert_int_equal(c.r.peer.reason, KATLS_R_OK);
	assert_true(s.r.attested);
	assert_int_equal(s.r.peer_max_age_s, 60);
	/* the frame reader left the next bytes in the socket */
	assert_int_equal(write(fd[1], "app", 3), 3);
	assert_int_equal(read(fd[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "app", 3);
	exchange_end(&c, &s, fd);
	conn_close(&t);
}

static void test_session_mutual(void **state)
{
	struct side c, s;
	struct conn t;
	int fd[2];

	conn_open(&t, NULL);
	exchange(&t, &c, &s, KATLS_MODE_MUTUAL, KATLS_MODE_MUTUAL, NULL, fd);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	assert_true(c.r.verified_peer && s.r.verified_peer);
	assert_true(c.r.attested && s.r.attested);
	exchange_end(&c, &s, fd);
	conn_close(&t);
}

/*
 * Mutual: the two quotes overlap.  The server's quote (its gather hook)
 * waits up to 1 s for the client's to start; the client gathers as soon as
 * it has the server's request, before the server's authenticator exists.
 * Gathering after verifying the server (the old order) makes the server's
 * quote end without seeing it, and each mutual connection pays two quotes
 * one after the other.
 */
static pthread_mutex_t overlap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t overlap_cond = PTHREAD_COND_INITIALIZER;
static bool client_quoting;
static bool overlap_seen;
static bool client_gather_fails;

static int client_gather(void *arg, const struct katls_evidence_request *rq,
			 struct katls_buf *out, char *err, size_t err_len)
{
	pthread_mutex_lock(&overlap_lock);
	client_quoting = true;
	pthread_cond_broadcast(&overlap_cond);
	pthread_mutex_unlock(&overlap_lock);
	if (client_gather_fails) {
		snprintf(err, err_len, "TPM unavailable (test)");
		return -EIO;
	}
	return fake_gather(arg, rq, out, err, err_len);
}

static int server_gather(void *arg, const struct katls_evidence_request *rq,
			 struct katls_buf *out, char *err, size_t err_len)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&overlap_lock);
	while (!client_quoting &&
	       pthread_cond_timedwait(&overlap_cond, &overlap_lock, &until) == 0)
		;
	overlap_seen = client_quoting;
	pthread_mutex_unlock(&overlap_lock);
	return fake_gather(arg, rq, out, err, err_len);
}

static void mutual_overlapping(struct conn *t, struct side *c, struct side *s,
			       const char *client_pin, int fd[2])
{
	client_quoting = overlap_seen = false;
	exchange_gathering(t, c, s, KATLS_MODE_MUTUAL, KATLS_MODE_MUTUAL, client_pin, fd,
			   client_gather, server_gather);
}

static void test_session_mutual_quotes_overlap(void **state)
{
	struct side c, s;
	struct conn t;
	int fd[2];

	conn_open(&t, NULL);
	client_gather_fails = false;
	mutual_overlapping(&t, &c, &s, NULL, fd);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	assert_true(overlap_seen);
	assert_true(c.r.verified_peer && s.r.verified_peer);
	assert_true(c.r.attested && s.r.attested);
	exchange_end(&c, &s, fd);

	/* the client refuses the server: its Evidence, made already, is not sent */
	mutual_overlapping(&t, &c, &s, "ak2.pem", fd);
	assert_true(client_quoting);
	assert_int_equal(c.r.reason, KATLS_R_AK_UNTRUSTED);
	assert_int_equal(s.r.reason, KATLS_R_PEER_REFUSED);
	assert_false(s.r.verified_peer);
	exchange_end(&c, &s, fd);

	/* the client cannot attest: it still verifies the server, then refuses to attest */
	client_gather_fails = true;
	mutual_overlapping(&t, &c, &s, NULL, fd);
	client_gather_fails = false;
	assert_true(c.r.verified_peer);
	assert_int_equal(c.r.peer.reason, KATLS_R_OK);
	assert_int_not_equal(c.ret, 0);
	assert_non_null(strstr(c.r.msg, "cannot attest: TPM unavailable (test)"));
	assert_true(s.r.verified_peer);
	assert_int_equal(s.r.peer.reason, KATLS_R_EA_EMPTY);
	assert_int_not_equal(s.ret, 0);
	exchange_end(&c, &s, fd);
	conn_close(&t);
}

/* Refusal travels as a verdict: the verifier's reason, the attester's peer-refused. */
static void test_session_refused(void **state)
{
	struct side c, s;
	struct conn t;
	int fd[2];

	conn_open(&t, NULL);
	exchange(&t, &c, &s, KATLS_MODE_VERIFY_PEER, KATLS_MODE_ATTEST_SELF, "ak2.pem", fd);
	assert_int_equal(c.ret, -EACCES);
	assert_int_equal(c.r.reason, KATLS_R_AK_UNTRUSTED);
	assert_int_equal(s.ret, -EACCES);
	assert_int_equal(s.r.reason, KATLS_R_PEER_REFUSED);
	assert_non_null(strstr(s.r.msg, "ak-untrusted"));
	exchange_end(&c, &s, fd);
	conn_close(&t);
}

/* A server that only verifies refuses to attest: empty authenticator. */
static void test_session_server_wont_attest(void **state)
{
	struct side c, s;
	struct conn t;
	int fd[2];

	conn_open(&t, NULL);
	exchange(&t, &c, &s, KATLS_MODE_VERIFY_PEER, KATLS_MODE_VERIFY_PEER, NULL, fd);
	assert_int_equal(c.r.reason, KATLS_R_EA_EMPTY);
	assert_int_not_equal(s.ret, 0);
	exchange_end(&c, &s, fd);
	conn_close(&t);
}

/* A peer that does not speak katls/1: garbage first, or silence. */
static void test_session_not_katls(void **state)
{
	struct side c;
	struct conn t;
	int fd[2];

	conn_open(&t, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	assert_int_equal(write(fd[1], "HTTP/1.1 400 Bad Request\r\n\r\n", 28), 28);
	side_init(&c, KATLS_ROLE_CLIENT, KATLS_MODE_VERIFY_PEER, &t.cex, fd[0], NULL,
		  "server.test");
	assert_int_equal(katls_session_run(&c.p, &c.r), -EPROTO);
	assert_int_equal(c.r.reason, KATLS_R_PROTOCOL);
	side_cleanup(&c);
	close(fd[0]);
	close(fd[1]);
	/* silence until the transport times out */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	side_init(&c, KATLS_ROLE_SERVER, KATLS_MODE_ATTEST_SELF, &t.sex, fd[1], NULL, NULL);
	{
		struct timeval tv = { .tv_usec = 200000 };

		setsockopt(fd[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	assert_int_equal(katls_session_run(&c.p, &c.r), -EPROTO);
	assert_int_equal(c.r.reason, KATLS_R_PROTOCOL);
	side_cleanup(&c);
	close(fd[0]);
	close(fd[1]);
	conn_close(&t);
}

/* ---- quote batching (docs/wire.md "Quote batching") ----------------------- */

static void batch_request(struct katls_ea_request *req, bool offer)
{
	struct katls_ea_request_params p = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST,
					     .offer_batch = offer };

	assert_int_equal(katls_ea_request_build(req, &p), 0);
	assert_int_equal(katls_ea_request_offers(req, KATLS_EXT_QUOTE_BATCH), offer);
}

/* Verify Evidence of a (flawed) batch on a fresh request offering batching. */
static enum katls_reason verify_batch(struct conn *t, const struct fake_batch *fb, bool offer,
				      struct katls_verify_summary *sum, char *msg, size_t len)
{
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct fake f = { .batch = fb };
	enum katls_reason r;

	batch_request(&req, offer);
	make_auth(&auth, &t->sex, &req, srv_cert, srv_key, &f);
	r = verify_set(t, &req, NULL, &auth, policy(NULL), NULL, sum, msg, len);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	return r;
}

/*
 * Batches of 1, 2, 3, 7, 64 and the maximum verify, the session's leaf
 * anywhere in them; a batch of one is today's Evidence (no batch record,
 * the quote's extraData is the binder), so verifiers that never offered
 * batching accept it.
 */
static void test_batch_sizes_verify(void **state)
{
	static const struct { size_t size, index; } cases[] = {
		{ 1, 0 }, { 2, 0 }, { 2, 1 }, { 3, 2 }, { 7, 0 }, { 7, 6 }, { 64, 33 },
		{ KATLS_BATCH_MAX, 0 }, { KATLS_BATCH_MAX, KATLS_BATCH_MAX - 1 },
		{ KATLS_BATCH_MAX, 517 },
	};
	struct katls_verify_summary sum;
	struct conn t;

	conn_open(&t, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_batch fb = { cases[i].size, cases[i].index, NULL, B_HONEST };

		assert_int_equal(verify_batch(&t, &fb, true, &sum, NULL, 0), KATLS_R_OK);
		assert_int_equal(sum.batch_size, cases[i].size > 1 ? cases[i].size : 0);
		assert_int_equal(sum.batch_index, cases[i].size > 1 ? cases[i].index : 0);
		if (cases[i].size == 1)		/* not offered: the same Evidence passes */
			assert_int_equal(verify_batch(&t, &fb, false, NULL, NULL, 0), KATLS_R_OK);
	}
	conn_close(&t);
}

/* The SHA-384 suite: the 48-byte binder is the leaf's input as it is. */
static void test_batch_sha384(void **state)
{
	struct fake_batch fb = { 7, 3, NULL, B_HONEST };
	struct conn t;

	conn_open(&t, "TLS_AES_256_GCM_SHA384");
	assert_int_equal(verify_batch(&t, &fb, true, NULL, NULL, 0), KATLS_R_OK);
	conn_close(&t);
}

/* Every way a batch proof can be wrong is refused with its own reason. */
static void test_batch_flaws_refused(void **state)
{
	static const struct {
		enum batch_flaw flaw;
		size_t size, index;
		enum katls_reason want;
		const char *msg;
	} cases[] = {
		{ B_OTHER_LEAF, 7, 2, KATLS_R_BATCH_LEAF, "another leaf" },
		{ B_FLIPPED_SIBLING, 7, 2, KATLS_R_BATCH_INCLUSION, "sibling hash is wrong" },
		{ B_WRONG_INDEX, 8, 5, KATLS_R_BATCH_INCLUSION, "(it does at index 5: wrong index)" },
		{ B_SHORT_PATH, 64, 9, KATLS_R_BATCH_PATH, "truncated" },
		{ B_LONG_PATH, 64, 9, KATLS_R_BATCH_PATH, "over-long" },
		{ B_ROOT_NOT_QUOTED, 3, 1, KATLS_R_BATCH_ROOT, "not the quote's extraData" },
		{ B_TOO_LARGE, 7, 2, KATLS_R_BATCH_SIZE, "outside the bounds 2..1024" },
	};
	struct conn t;
	char msg[512];

	conn_open(&t, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_batch fb = { cases[i].size, cases[i].index, NULL, cases[i].flaw };

		assert_int_equal(verify_batch(&t, &fb, true, NULL, msg, sizeof(msg)),
				 cases[i].want);
		if (!strstr(msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, msg, cases[i].msg);
	}
	/* an index at or past the size: the leaf the proof names does not exist */
	{
		struct fake_batch fb = { 7, 6, NULL, B_HONEST };
		struct katls_buf auth = KATLS_BUF_INIT, cmw = KATLS_BUF_INIT;
		struct katls_ea_request req;
		struct katls_evidence ev;
		struct fake f = { .batch = &fb };
		size_t at;

		batch_request(&req, true);
		make_cmw(&cmw, &t.sex, srv_key, req.crc, req.crc_len, &f);
		assert_int_equal(katls_cmw_decode(cmw.data, cmw.len, &ev), 0);
		at = 3;		/* u8 version, u16 size, u16 index */
		ev.batch.data[at] = 0;
		ev.batch.data[at + 1] = 7;
		cmw.len = 0;
		assert_int_equal(katls_cmw_encode(&ev, &cmw), 0);
		auth_carrying(&auth, &t.sex, &req, srv_cert, srv_key, &cmw);
		assert_int_equal(verify_set(&t, &req, NULL, &auth, policy(NULL), NULL, NULL, msg,
					    sizeof(msg)), KATLS_R_BATCH_INDEX);
		katls_cmw_cleanup(&ev);
		katls_buf_cleanup(&cmw);
		katls_buf_cleanup(&auth);
		katls_ea_request_cleanup(&req);
	}
	conn_close(&t);
}

/* Batched Evidence for a request that did not offer batching: refused. */
static void test_batch_not_offered_refused(void **state)
{
	struct fake_batch fb = { 7, 2, NULL, B_HONEST };
	struct conn t;
	char msg[512];

	conn_open(&t, NULL);
	assert_int_equal(verify_batch(&t, &fb, false, NULL, msg, sizeof(msg)),
			 KATLS_R_BATCH_SIZE);
	assert_non_null(strstr(msg, "did not offer quote batching"));
	conn_close(&t);
}

/* This session's leaf on @t for @req, as the attester computes it. */
static void session_leaf(const struct conn *t, const struct katls_ea_request *req,
			 katls_merkle_hash out)
{
	uint8_t binder[EVP_MAX_MD_SIZE];
	size_t len = sizeof(binder);

	assert_int_equal(katls_binder_compute(&t->sex, srv_key, req->crc, req->crc_len, NULL,
					      binder, &len), 0);
	assert_int_equal(katls_batch_leaf(binder, len, out), 0);
}

/*
 * R1/R2 hold with batching: one honest quote covers sessions A and B (and a
 * third).  Each verifies on its own connection; A's Evidence in a correct
 * authenticator on B (replay, or a relay that re-signs it) is refused at
 * the leaf; A's whole authenticator on B fails RFC 9261 as before.
 */
static void test_batch_replayed_on_new_connection(void **state)
{
	struct katls_buf auth_a = KATLS_BUF_INIT, auth_b = KATLS_BUF_INIT;
	struct katls_buf cmw_a = KATLS_BUF_INIT, moved = KATLS_BUF_INIT;
	katls_merkle_hash leaves[3] = { { 0 } };
	struct fake_batch fa = { 3, 0, leaves, B_HONEST }, fb = { 3, 1, leaves, B_HONEST };
	struct fake f = { 0 };
	struct katls_ea_request req_a, req_b;
	struct conn a, b;
	enum katls_reason r;
	char msg[512];

	conn_open(&a, NULL);
	conn_open(&b, NULL);
	batch_request(&req_a, true);
	batch_request(&req_b, true);
	session_leaf(&a, &req_a, leaves[0]);
	session_leaf(&b, &req_b, leaves[1]);
	f.batch = &fa;
	make_cmw(&cmw_a, &a.sex, srv_key, req_a.crc, req_a.crc_len, &f);
	auth_carrying(&auth_a, &a.sex, &req_a, srv_cert, srv_key, &cmw_a);
	assert_int_equal(verify(&a, &req_a, NULL, &auth_a, NULL, NULL), KATLS_R_OK);
	f.batch = &fb;
	make_auth(&auth_b, &b.sex, &req_b, srv_cert, srv_key, &f);
	assert_int_equal(verify(&b, &req_b, NULL, &auth_b, NULL, NULL), KATLS_R_OK);
	/* A's authenticator as it is, on B (same request bytes) */
	r = verify(&b, &req_a, NULL, &auth_a, NULL, NULL);
	assert_true(r == KATLS_R_EA_SIGNATURE || r == KATLS_R_EA_FINISHED);
	/* A's Evidence in a correct authenticator on B */
	auth_carrying(&moved, &b.sex, &req_b, srv_cert, srv_key, &cmw_a);
	assert_int_equal(verify_set(&b, &req_b, NULL, &moved, policy(NULL), NULL, NULL, msg,
				    sizeof(msg)), KATLS_R_BATCH_LEAF);
	/* and a relay re-signing it with its own trusted certificate */
	katls_buf_cleanup(&moved);
	auth_carrying(&moved, &b.sex, &req_b, relay_cert, relay_key, &cmw_a);
	assert_int_equal(verify(&b, &req_b, NULL, &moved, NULL, NULL), KATLS_R_AIK_BINDING);
	katls_buf_cleanup(&auth_a);
	katls_buf_cleanup(&auth_b);
	katls_buf_cleanup(&cmw_a);
	katls_buf_cleanup(&moved);
	katls_ea_request_cleanup(&req_a);
	katls_ea_request_cleanup(&req_b);
	conn_close(&a);
	conn_close(&b);
}

/*
 * The session engine negotiates: the verifier offers batching in its
 * request unless no_batch, the attester asks for a shared quote only when
 * offered and itself willing; a batch sent anyway is refused.
 */
static void test_session_batch_negotiation(void **state)
{
	static const struct { bool c_no, s_no, always; bool asked; enum katls_reason want; } cases[] = {
		{ false, false, false, true, KATLS_R_OK },
		{ true, false, false, false, KATLS_R_OK },
		{ false, true, false, false, KATLS_R_OK },
		{ true, true, false, false, KATLS_R_OK },
		{ true, false, true, false, KATLS_R_BATCH_SIZE },
	};
	struct fake_batch fb = { 5, 4, NULL, B_HONEST };
	struct fake f = { .batch = &fb };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct side c, s;
		struct conn t;
		pthread_t th;
		int fd[2];

		conn_open(&t, NULL);
		gather_batch_always = cases[i].always;
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
		side_init(&c, KATLS_ROLE_CLIENT, KATLS_MODE_VERIFY_PEER, &t.cex, fd[0], NULL,
			  "server.test");
		side_init(&s, KATLS_ROLE_SERVER, KATLS_MODE_ATTEST_SELF, &t.sex, fd[1], NULL, NULL);
		c.p.no_batch = cases[i].c_no;
		s.p.no_batch = cases[i].s_no;
		s.p.gather_arg = &f;
		assert_int_equal(pthread_create(&th, NULL, side_run, &s), 0);
		side_run(&c);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(gather_batch_asked, cases[i].asked);
		assert_int_equal(c.r.reason, cases[i].want);
		if (cases[i].want == KATLS_R_OK)
			assert_int_equal(c.r.peer.sum.batch_size, cases[i].asked ? 5 : 0);
		side_cleanup(&c);
		side_cleanup(&s);
		close(fd[0]);
		close(fd[1]);
		conn_close(&t);
	}
	gather_batch_always = false;
}

/*
 * A verifier's request may offer quote batching and name an IMA prefix at
 * once: the two private extensions have distinct codepoints, and the
 * attester finds both.
 */
static void test_batch_and_ima_prefix_in_one_request(void **state)
{
	struct katls_ima_hint hint = { .ak = { .len = 34, .name = { 0x00, 0x0b, 0x42 } },
				       .num_entries = 7 }, got;
	struct katls_ea_request_params p = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST,
					     .offer_batch = true };
	struct katls_buf ext = KATLS_BUF_INIT;
	struct katls_ea_request req;

	assert_int_not_equal(KATLS_EXT_QUOTE_BATCH, KATLS_EXT_IMA_PREFIX);
	assert_int_not_equal(KATLS_EXT_QUOTE_BATCH, KATLS_EXT_CMW_ATTESTATION);
	assert_int_equal(katls_ima_hint_encode(&hint, &ext), 0);
	p.extra_exts = ext.data;
	p.extra_exts_len = ext.len;
	assert_int_equal(katls_ea_request_build(&req, &p), 0);
	assert_true(katls_ea_request_offers(&req, KATLS_EXT_QUOTE_BATCH));
	assert_int_equal(katls_ima_hint_of_request(&req, &got), 0);
	assert_int_equal(got.num_entries, 7);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&ext);
}

/* ---- compiled policies (issue 12) ------------------------------------------ */

/* Writes @text to @name in the fixture directory. */
static void write_text(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

/*
 * A policy verifies with no file: everything it names is read when it is
 * loaded.  Its trust anchor, AK pin and runtime policy are deleted (with
 * their directory) before the first verification; Evidence with an IMA log
 * is still accepted, twice, and a certificate from another CA is still
 * refused.  Guards: policy.c compile() (an X509_STORE_load_file() or a pin
 * read at verification time would find no file).
 */
static void test_policy_files_deleted_after_load(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT, auth = KATLS_BUF_INIT;
	struct katls_policy_set *set;
	struct katls_ea_request req;
	struct fake f = { .ima = &log };
	uint8_t pcr10[32], fd[32];
	char json[1024], rp[512], hex[65], path[300];
	struct conn t;

	(void)state;
	ima_boot(&log, &f);
	ima_append(&log, "/usr/bin/a");
	ima_pcr10(&log, pcr10);
	f.pcr10 = pcr10;
	assert_int_equal(EVP_Digest("/usr/bin/a", 10, fd, NULL, EVP_sha256(), NULL), 1);
	snprintf(path, sizeof(path), "%s/gone", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_pem("gone/ca.pem", ca_cert, NULL, NULL);
	write_pem("gone/ak.pem", NULL, NULL, ak_key);
	snprintf(rp, sizeof(rp), "{\"meta\": {\"version\": 1}, \"digests\": {\"/usr/bin/a\": "
		 "[\"%s\"]}}", katls_ima_format_hex(hex, sizeof(hex), fd, 32));
	write_text("gone/rp.json", rp);
	snprintf(json, sizeof(json), "{\"trust_anchors\": [\"gone/ca.pem\"], \"peer_names\": "
		 "[\"server.test\"], \"ak_pins\": [\"gone/ak.pem\"], \"ima\": "
		 "{\"runtime_policy\": \"gone/rp.json\"}}");
	set = policy_doc(json);
	remove_file("gone/ca.pem");
	remove_file("gone/ak.pem");
	remove_file("gone/rp.json");
	assert_int_equal(rmdir(path), 0);

	conn_open(&t, NULL);
	for (int round = 0; round < 2; round++) {
		client_request(&req);
		make_auth(&auth, &t.sex, &req, srv_cert, srv_key, &f);
		assert_int_equal(verify_set(&t, &req, NULL, &auth, katls_policy_set_up_ref(set),
					    NULL, NULL, NULL, 0), KATLS_R_OK);
		katls_buf_cleanup(&auth);
		katls_ea_request_cleanup(&req);
	}
	client_request(&req);
	make_auth(&auth, &t.sex, &req, untrusted_cert, srv_key, &f);
	assert_int_equal(verify_set(&t, &req, NULL, &auth, set, NULL, NULL, NULL, 0),
			 KATLS_R_PKI_CHAIN);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&log);
	conn_close(&t);
}

/* ---- a reload during concurrent verifications ---- */

#define RELOAD_THREADS	50
#define RELOAD_ROUNDS	20

/*
 * Two policies that differ in every part a mix could take: "gen-a" trusts
 * ca.pem and pins ak.pem, "gen-b" trusts rogue.pem and pins ak2.pem.  Of
 * the exchanges below, A (a ca.pem leaf, Evidence from ak) passes only
 * gen-a and B (a rogue leaf, Evidence from ak2) only gen-b; under a mix of
 * the two both would fail.
 */
static const char *const reload_json[2] = {
	"{\"name\": \"gen-a\", \"trust_anchors\": [\"ca.pem\"], \"peer_names\": "
	"[\"server.test\"], \"ak_pins\": [\"ak.pem\"]}",
	"{\"name\": \"gen-b\", \"trust_anchors\": [\"rogue.pem\"], \"peer_names\": "
	"[\"server.test\"], \"ak_pins\": [\"ak2.pem\"]}",
};

struct reload {
	pthread_mutex_t lock;
	struct katls_policy_set *cur;	/* published: take a reference under lock */
	struct katls_saved *ex[2];	/* exchanges A and B */
	int verdicts[2];		/* verifications under gen-a, gen-b (atomic) */
	int wrong;			/* verdicts that fit neither policy (atomic) */
};

static void *reload_worker(void *arg)
{
	struct reload *r = arg;

	for (int round = 0; round < RELOAD_ROUNDS; round++) {
		struct katls_verify_params vp = { 0 };
		struct katls_policy_set *set;
		enum katls_reason got[2];
		int gen;

		pthread_mutex_lock(&r->lock);
		set = katls_policy_set_up_ref(r->cur);
		pthread_mutex_unlock(&r->lock);
		vp.policy = &set->policies[0];
		gen = !strcmp(vp.policy->name, "gen-b");
		for (int e = 0; e < 2; e++) {
			struct katls_verify_result res;

			katls_saved_verify(r->ex[e], &vp, &res);
			got[e] = res.reason;
			katls_verify_result_cleanup(&res);
		}
		/* its own exchange accepted, the other one refused for its chain */
		if (got[gen] != KATLS_R_OK || got[!gen] != KATLS_R_PKI_CHAIN)
			__atomic_add_fetch(&r->wrong, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->verdicts[gen], 2, __ATOMIC_RELAXED);
		katls_policy_set_free(set);
	}
	return NULL;
}

/* Saves an exchange: @cert/@key's authenticator carrying Evidence of @ak. */
static struct katls_saved *saved_exchange(const char *name, X509 *cert, EVP_PKEY *ak)
{
	struct katls_buf auth = KATLS_BUF_INIT, cmw = KATLS_BUF_INIT;
	struct fake f = { .ak = ak };
	struct katls_ea_request req;
	struct katls_saved *s;
	char sdir[256], cmd[300], err[256];
	struct conn t;

	conn_open(&t, NULL);
	client_request(&req);
	make_cmw(&cmw, &t.sex, srv_key, req.crc, req.crc_len, &f);
	auth_carrying(&auth, &t.sex, &req, cert, srv_key, &cmw);
	snprintf(sdir, sizeof(sdir), "%s/%s", dir, name);
	assert_int_equal(katls_verify_save(sdir, &t.cex, KATLS_ROLE_SERVER, &req, auth.data,
					   auth.len, cmw.data, cmw.len, "server.test", NULL), 0);
	if (katls_saved_load(sdir, &s, err, sizeof(err)))
		fail_msg("%s", err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
	assert_int_equal(system(cmd), 0);
	katls_buf_cleanup(&auth);
	katls_buf_cleanup(&cmw);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
	return s;
}

/*
 * 50 threads verify while the main thread reloads (publishes a freshly
 * loaded policy, dropping its reference to the old one) 40 times.  Each
 * verification finishes on the policy it took: none fails for the swap,
 * none sees a mix of the two (both exchanges would fail), and ASan sees no
 * use of a freed policy.  Guards: the reference count of
 * struct katls_policy_set and the immutability of a compiled policy.
 */
static void test_reload_during_concurrent_verifications(void **state)
{
	struct reload r = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t th[RELOAD_THREADS];

	(void)state;
	write_pem("rogue.pem", rogue_cert, NULL, NULL);
	r.ex[0] = saved_exchange("saved-a", srv_cert, ak_key);
	r.ex[1] = saved_exchange("saved-b", untrusted_cert, ak2_key);
	r.cur = policy_doc(reload_json[0]);
	for (int i = 0; i < RELOAD_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reload_worker, &r), 0);
	for (int i = 1; i <= 40; i++) {
		struct katls_policy_set *next = policy_doc(reload_json[i % 2]), *old;

		pthread_mutex_lock(&r.lock);
		old = r.cur;
		r.cur = next;
		pthread_mutex_unlock(&r.lock);
		katls_policy_set_free(old);
		usleep(2000);
	}
	for (int i = 0; i < RELOAD_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	print_message("    %d verifications under gen-a, %d under gen-b\n", r.verdicts[0],
		      r.verdicts[1]);
	assert_int_equal(r.wrong, 0);
	assert_int_equal(r.verdicts[0] + r.verdicts[1], 2 * RELOAD_THREADS * RELOAD_ROUNDS);
	katls_policy_set_free(r.cur);
	katls_saved_free(r.ex[0]);
	katls_saved_free(r.ex[1]);
	remove_file("rogue.pem");
}

/* ---- incremental IMA (issue 12) --------------------------------------------- */

/* Appends entries @from..@to-1 named /usr/bin/<name><i>. */
static void ima_entries(struct katls_buf *log, const char *name, int from, int to)
{
	char path[64];

	for (int i = from; i < to; i++) {
		snprintf(path, sizeof(path), "/usr/bin/%s%d", name, i);
		ima_append(log, path);
	}
}

/* Byte offset of entry @n of @log (D = 32). */
static size_t ima_offset(const struct katls_buf *log, unsigned int n)
{
	struct katls_ima_record rec;
	struct katls_ima_iter it;

	katls_ima_iter_init(&it, log->data, log->len, 32, 0);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(katls_ima_iter_next(&it, &rec, NULL, 0), 1);
	return (size_t)(it.c.p - it.base);
}

/* The entries of @log from @n on, as an attester answering a prefix of @n sends them. */
static void ima_tail(struct katls_buf *tail, const struct katls_buf *log, unsigned int n)
{
	size_t off = ima_offset(log, n);

	tail->len = 0;
	assert_int_equal(katls_put_bytes(tail, log->data + off, log->len - off), 0);
}

/*
 * Verdict on Evidence made as @f says, carrying @log (from @f->ima_start on)
 * quoted with PCR 10 = @pcr10, under @set with the IMA prefix @offered;
 * *@again tells whether the verifier asks for the whole log.
 */
static enum katls_reason attest_tail(struct fake *f, const struct katls_buf *log,
				     const uint8_t *pcr10, struct katls_policy_set *set,
				     struct katls_ima_prefix *offered, bool *again,
				     struct katls_verify_summary *sum, char *msg, size_t msg_len)
{
	struct katls_verify_params vp = { .policy = &set->policies[0], .peer_name = "server.test",
					  .ima_prefix = offered };
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_verify_result res;
	struct katls_ea_crc_set used;
	struct katls_ea_request req;
	enum katls_reason r;
	struct conn t;

	f->ima = log;
	f->pcr10 = pcr10;
	conn_open(&t, NULL);
	client_request(&req);
	make_auth(&auth, &t.sex, &req, srv_cert, srv_key, f);
	katls_ea_crc_set_init(&used);
	katls_verify_authenticator(&vp, &t.cex, KATLS_ROLE_SERVER, &req, &used, auth.data,
				   auth.len, &res);
	r = res.reason;
	if (r != KATLS_R_OK)
		print_message("    refused%s: %s: %s\n", res.ima_retry_full ? " (asks again)" : "",
			      katls_reason_name(r), res.msg);
	if (again)
		*again = res.ima_retry_full;
	if (sum)
		*sum = res.sum;
	if (msg)
		snprintf(msg, msg_len, "%s", res.msg);
	katls_verify_result_cleanup(&res);
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
	f->ima = NULL;
	f->pcr10 = NULL;
	f->ima_start = 0;
	return r;
}

/* The verifier under @set meets the attester: a whole log, entries e1..e5, accepted. */
static void ima_first_contact(struct katls_buf *log, struct fake *f,
			      struct katls_policy_set *set, uint8_t pcr[32])
{
	char msg[512];

	ima_boot(log, f);
	ima_entries(log, "e", 1, 6);
	ima_pcr10(log, pcr);
	expect(attest_tail(f, log, pcr, set, NULL, NULL, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_OK, NULL);
}

static struct katls_ima_prefix *prefix_of_server(struct katls_policy_set *set)
{
	uint8_t tag[32];

	assert_true(katls_ima_cache_tag(NULL, 0, "server.test", tag));
	return katls_ima_cache_by_peer(set->policies[0].ima_cache, tag);
}

/*
 * The verifier's side of incremental IMA: after a whole log of 6 entries is
 * accepted, the prefix is cached; a tail of 3 new entries resumes from it
 * and is accepted covering 9.  Then every way a tail can be wrong, each
 * refused or sent back for the whole log, never accepted: a tail that does
 * not extend the prefix, a reordered tail, one the verifier did not offer a
 * prefix for, one from another entry N, one for another AK's prefix, one
 * from another boot, and a tail entry the runtime policy does not allow.
 * Guards: ima_resume.c plan_tail() (each check), katls_ima_verify() from the
 * prefix's PCR 10, and the appraisal of the tail.
 */
static void test_ima_incremental_verifier(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT, other = KATLS_BUF_INIT, tail = KATLS_BUF_INIT;
	struct katls_policy_set *set = ima_policy(NULL);
	struct katls_ima_prefix *p, *foreign;
	struct katls_verify_summary sum;
	uint8_t pcr[32], pcr_other[32];
	struct fake f = { 0 };
	char msg[512];
	bool again;

	(void)state;
	ima_first_contact(&log, &f, set, pcr);
	p = prefix_of_server(set);
	assert_non_null(p);
	assert_int_equal(p->num_entries, 6);
	assert_memory_equal(p->pcr10, pcr, 32);

	/* control: the 3 new entries, from entry 6 */
	ima_entries(&log, "e", 6, 9);
	ima_pcr10(&log, pcr);
	ima_tail(&tail, &log, 6);
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, &sum, msg, sizeof(msg)), msg,
	       KATLS_R_OK, NULL);
	assert_int_equal(sum.ima_covered, 9);
	assert_int_equal(sum.ima_records, 9);
	/* an attester that does not know the extension sends its whole log: accepted */
	expect(attest_tail(&f, &log, pcr, set, p, &again, &sum, msg, sizeof(msg)), msg,
	       KATLS_R_OK, NULL);
	assert_int_equal(sum.ima_covered, 9);

	/* a tail of another log: it does not extend the prefix */
	ima_boot(&other, &f);
	ima_entries(&other, "x", 1, 9);
	ima_pcr10(&other, pcr_other);
	ima_tail(&tail, &other, 6);
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr_other, set, p, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "do not extend the verified prefix");
	assert_true(again);
	/* ... and the verifier dropped its prefix of this AK */
	assert_null(prefix_of_server(set));

	/* the right entries, reordered (the quote covers them in log order) */
	ima_tail(&tail, &log, 6);
	{
		size_t a = ima_offset(&log, 7) - ima_offset(&log, 6);
		size_t b = ima_offset(&log, 8) - ima_offset(&log, 7);
		uint8_t *tmp = malloc(a + b);

		assert_non_null(tmp);
		memcpy(tmp, tail.data + a, b);		/* entry 7 first, then 6 */
		memcpy(tmp + b, tail.data, a);
		memcpy(tail.data, tmp, a + b);
		free(tmp);
	}
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "do not extend the verified prefix");
	assert_true(again);

	/* a tail for a prefix this verifier did not offer */
	ima_tail(&tail, &log, 6);
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, NULL, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "after a prefix this verifier does not hold");
	assert_false(again);
	/* from another entry than the prefix offered ends at */
	ima_tail(&tail, &log, 7);
	f.ima_start = 7;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "not where the prefix this verifier offered ends (entry 6");
	assert_false(again);
	/* the prefix offered was another AK's */
	foreign = katls_ima_prefix_new();
	assert_non_null(foreign);
	*foreign = *p;
	foreign->refs = 1;
	fake_names(ak2_key, AK_ATTRS, &foreign->ak, NULL);
	ima_tail(&tail, &log, 6);
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, foreign, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "for another AK");
	assert_false(again);
	katls_ima_prefix_unref(foreign);

	/* another boot (other PCRs 0-9): the prefix is not this boot's log */
	f.boot = 1;
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "not those of the boot");
	assert_true(again);
	f.boot = 0;
	katls_ima_prefix_unref(p);
	katls_policy_set_free(set);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&other);
	katls_buf_cleanup(&tail);
}

/*
 * The tail is appraised: a runtime policy that allows the prefix's entries
 * but not a new one refuses the tail for it (ima-allowlist, not a retry).
 */
static void test_ima_incremental_appraises_the_tail(void **state)
{
	static const char rp_head[] = "{\"runtime_policy\": {\"meta\": {\"version\": 1}, "
				      "\"digests\": {";
	struct katls_buf log = KATLS_BUF_INIT, tail = KATLS_BUF_INIT, rp = KATLS_BUF_INIT;
	struct katls_policy_set *set;
	struct katls_ima_prefix *p;
	uint8_t pcr[32], fd[32];
	struct fake f = { 0 };
	char msg[512], hex[65], path[32];
	bool again;

	(void)state;
	katls_put_bytes(&rp, rp_head, sizeof(rp_head) - 1);
	for (int i = 1; i < 6; i++) {
		char line[160];

		snprintf(path, sizeof(path), "/usr/bin/e%d", i);
		assert_int_equal(EVP_Digest(path, strlen(path), fd, NULL, EVP_sha256(), NULL), 1);
		snprintf(line, sizeof(line), "%s\"%s\": [\"%s\"]", i > 1 ? ", " : "", path,
			 katls_ima_format_hex(hex, sizeof(hex), fd, 32));
		katls_put_bytes(&rp, line, strlen(line));
	}
	katls_put_bytes(&rp, "}}}", 4);	/* with its NUL */
	{
		char json[2048];

		snprintf(json, sizeof(json), POLICY_HEAD "\"ak_pins\": [\"ak.pem\"], \"ima\": %s}",
			 (const char *)rp.data);
		set = policy_doc(json);
	}
	ima_first_contact(&log, &f, set, pcr);
	p = prefix_of_server(set);
	assert_non_null(p);
	ima_entries(&log, "unlisted", 6, 7);
	ima_pcr10(&log, pcr);
	ima_tail(&tail, &log, 6);
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_ALLOWLIST, "IMA entry 6 /usr/bin/unlisted6");
	assert_false(again);
	katls_ima_prefix_unref(p);
	katls_policy_set_free(set);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&tail);
	katls_buf_cleanup(&rp);
}

/*
 * A whole log resumes from the bytes of the cached prefix only if they are
 * the same bytes: the same log is accepted again, and one changed inside
 * the cached range is replayed from entry 0 and refused.  Guards:
 * ima_resume.c plan_whole() (the SHA-256 of the prefix's bytes).
 */
static void test_ima_incremental_whole_log(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT;
	struct katls_policy_set *set = ima_policy(NULL);
	struct katls_verify_summary sum;
	struct fake f = { 0 };
	uint8_t pcr[32];
	char msg[512];
	size_t off;

	(void)state;
	ima_first_contact(&log, &f, set, pcr);
	ima_entries(&log, "e", 6, 8);
	ima_pcr10(&log, pcr);
	expect(attest_tail(&f, &log, pcr, set, NULL, NULL, &sum, msg, sizeof(msg)), msg,
	       KATLS_R_OK, NULL);
	assert_int_equal(sum.ima_covered, 8);
	/* one byte of entry 3's path changed: not the cached bytes, replayed, refused */
	off = ima_offset(&log, 4) - 2;		/* the path's last character, before its NUL */
	log.data[off] ^= 1;
	expect(attest_tail(&f, &log, pcr, set, NULL, NULL, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "IMA entry 3 /usr/bin/e");
	katls_policy_set_free(set);
	katls_buf_cleanup(&log);
}

/*
 * The workload of a tail: found in the tail, or in the prefix by a lookup
 * remembered from earlier; one the prefix was never searched for sends
 * the verifier back to the whole log.  Guards: katls_ima_resume_workload().
 */
static void test_ima_incremental_workload(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT, tail = KATLS_BUF_INIT;
	struct katls_policy_set *set = ima_policy(APP_RULE);
	struct katls_cmw_workload w, other;
	struct katls_verify_summary sum;
	struct katls_ima_prefix *p;
	struct fake f = { .workload = &w };
	uint8_t pcr[32];
	char msg[512];
	bool again;

	(void)state;
	app_workload(&w);
	other = w;
	snprintf(other.exe_path, sizeof(other.exe_path), "/usr/bin/other");
	ima_boot(&log, &f);
	ima_entry(&log, "/usr/bin/app", "sha256", w.exe_digest, 32, false);
	ima_entries(&log, "e", 2, 6);
	ima_pcr10(&log, pcr);
	expect(attest_tail(&f, &log, pcr, set, NULL, &again, &sum, msg, sizeof(msg)), msg,
	       KATLS_R_OK, NULL);
	assert_true(sum.workload_verified);
	p = prefix_of_server(set);
	assert_non_null(p);
	/* measured in the prefix, remembered from the lookup above */
	ima_entries(&log, "e", 6, 8);
	ima_pcr10(&log, pcr);
	ima_tail(&tail, &log, 6);
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, &sum, msg, sizeof(msg)), msg,
	       KATLS_R_OK, NULL);
	assert_true(sum.workload_verified);
	assert_int_equal(sum.workload_ima_index, 1);
	/* a workload the prefix was never searched for: the whole log decides */
	f.workload = &other;
	f.ima_start = 6;
	expect(attest_tail(&f, &tail, pcr, set, p, &again, &sum, msg, sizeof(msg)), msg,
	       KATLS_R_IMA_REPLAY, "was never searched for it");
	assert_true(again);
	assert_false(sum.workload_verified);
	katls_ima_prefix_unref(p);
	katls_policy_set_free(set);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&tail);
}

/* One exchange, server attesting with @f, client verifying under @set. */
static void ima_exchange(struct side *c, struct side *s, struct katls_policy_set *set,
			 struct fake *f, int fd[2])
{
	struct conn t;
	pthread_t th;

	conn_open(&t, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	side_init(c, KATLS_ROLE_CLIENT, KATLS_MODE_VERIFY_PEER, &t.cex, fd[0], NULL, "server.test");
	side_init(s, KATLS_ROLE_SERVER, KATLS_MODE_ATTEST_SELF, &t.sex, fd[1], NULL, NULL);
	katls_policy_set_free(c->set);
	c->set = katls_policy_set_up_ref(set);
	c->vp.policy = &c->set->policies[0];
	s->p.gather_arg = f;
	assert_int_equal(pthread_create(&th, NULL, side_run, s), 0);
	side_run(c);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(fd[0]);
	close(fd[1]);
	conn_close(&t);
}

/* The ima-start of the Evidence the client verified. */
static uint64_t sent_start(const struct side *c)
{
	struct katls_evidence ev;
	uint64_t start;

	assert_int_equal(katls_cmw_decode(c->r.peer.cmw, c->r.peer.cmw_len, &ev), 0);
	start = ev.ima_start;
	katls_cmw_cleanup(&ev);
	return start;
}

/*
 * Both ends of incremental IMA over a session: the second connection's
 * request names the prefix of the first, and the attester sends only the
 * new entries.  Then the attester's log is another one (a reboot into the
 * same firmware, PCRs 0-9 unchanged) but long enough: the attester still
 * sends a tail, the verifier cannot replay it and asks again, once, and the
 * whole log is accepted.  Guards: session.c ima_offer(), ima_answer(),
 * ima_ask_again() and ima_verdict_or_again().
 */
static void test_ima_incremental_session(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT, other = KATLS_BUF_INIT;
	struct katls_policy_set *set = ima_policy(NULL);
	struct fake f = { 0 };
	struct side c, s;
	uint8_t pcr[32];
	int fd[2];

	(void)state;
	ima_boot(&log, &f);
	ima_entries(&log, "e", 1, 6);
	ima_pcr10(&log, pcr);
	f.ima = &log;
	f.pcr10 = pcr;
	ima_exchange(&c, &s, set, &f, fd);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	assert_int_equal(sent_start(&c), 0);
	assert_int_equal(c.r.peer.sum.ima_covered, 6);
	side_cleanup(&c);
	side_cleanup(&s);

	ima_entries(&log, "e", 6, 9);
	ima_pcr10(&log, pcr);
	gathered = 0;
	ima_exchange(&c, &s, set, &f, fd);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	assert_int_equal(sent_start(&c), 6);		/* a tail */
	assert_int_equal(c.r.peer.sum.ima_covered, 9);
	assert_int_equal(gathered, 1);
	side_cleanup(&c);
	side_cleanup(&s);

	ima_boot(&other, &f);
	ima_entries(&other, "r", 1, 12);
	ima_pcr10(&other, pcr);
	f.ima = &other;
	gathered = 0;
	ima_exchange(&c, &s, set, &f, fd);
	assert_int_equal(c.ret, 0);
	assert_int_equal(s.ret, 0);
	assert_int_equal(gathered, 2);			/* asked again */
	assert_int_equal(sent_start(&c), 0);		/* the whole log */
	assert_int_equal(c.r.peer.sum.ima_covered, 12);
	side_cleanup(&c);
	side_cleanup(&s);
	katls_policy_set_free(set);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&other);
}

/*
 * The attester's side: it answers a hint only for its own AK and a log of
 * at least N entries; otherwise it sends the whole log.  Guards:
 * katls_ima_hint_answer().
 */
static void test_ima_incremental_attester(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT, cmw = KATLS_BUF_INIT, ext = KATLS_BUF_INIT;
	struct katls_ea_request_params rp = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST };
	struct katls_ea_request req;
	struct katls_ima_hint h = { .num_entries = 4 };
	struct katls_evidence ev;
	struct fake f = { .ima = &log };
	size_t len;
	struct conn t;

	(void)state;
	conn_open(&t, NULL);
	ima_boot(&log, &f);
	ima_entries(&log, "e", 1, 6);
	fake_names(ak_key, AK_ATTRS, &h.ak, NULL);
	for (int round = 0; round < 3; round++) {
		ext.len = 0;
		if (round == 1)
			h.num_entries = 7;			/* beyond the log */
		if (round == 2) {
			h.num_entries = 4;
			fake_names(ak2_key, AK_ATTRS, &h.ak, NULL);	/* another AK */
		}
		assert_int_equal(katls_ima_hint_encode(&h, &ext), 0);
		rp.extra_exts = ext.data;
		rp.extra_exts_len = ext.len;
		assert_int_equal(katls_ea_request_build(&req, &rp), 0);
		make_cmw(&cmw, &t.sex, srv_key, req.crc, req.crc_len, &f);
		len = cmw.len;
		assert_int_equal(katls_ima_hint_answer(&req, &cmw), round == 0);
		assert_int_equal(katls_cmw_decode(cmw.data, cmw.len, &ev), 0);
		assert_int_equal(ev.ima_start, round == 0 ? 4 : 0);
		assert_int_equal(ev.ima.len, round == 0 ? log.len - ima_offset(&log, 4) : log.len);
		if (round)
			assert_int_equal(cmw.len, len);
		katls_cmw_cleanup(&ev);
		katls_buf_cleanup(&cmw);
		katls_ea_request_cleanup(&req);
	}
	katls_buf_cleanup(&ext);
	katls_buf_cleanup(&log);
	conn_close(&t);
}

static int teardown_shared(void **state)
{
	for (size_t i = 0; i < num_shared; i++) {
		free(shared[i].json);
		katls_policy_set_free(shared[i].set);
	}
	num_shared = 0;
	return teardown(state);
}

/* ---- detached IMA log (ima_detach.h) --------------------------------------- */

/* IMA log frames carrying @len bytes of @log, @chunk bytes per frame. */
static void ima_frames(struct katls_buf *out, const uint8_t *log, size_t len, size_t chunk)
{
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(katls_put_u8(out, KATLS_FRAME_IMA_LOG), 0);
		assert_int_equal(katls_put_be24(out, (uint32_t)n), 0);
		assert_int_equal(katls_put_bytes(out, log + off, n), 0);
	}
}

enum detach_flaw {
	D_HONEST,
	D_NOT_OFFERED,		/* frames the request did not offer */
	D_DIGEST_NOT_OFFERED,	/* an ima-digest the request did not offer, no frames */
	D_TRUNCATED,		/* the frames stop where the quote's coverage ends */
	D_TAIL_CHANGED,		/* a byte changed past what the quote covers */
	D_NO_FRAMES,		/* the digest names a log that never comes */
	D_INLINE_AND_FRAMES,	/* frames with Evidence that carries its log inline */
	D_EMPTY_FRAME,		/* a frame with no bytes */
};

/*
 * Verdict on Evidence for @log whose quote covers its first @covered entries
 * (an attester reads the log after quoting: it may run ahead), the log sent
 * detached, flawed as @flaw says; under ima_policy(NULL).
 */
static enum katls_reason verify_detached(const struct katls_buf *log, unsigned int covered,
					 enum detach_flaw flaw, struct katls_verify_summary *sum,
					 char *msg, size_t msg_len)
{
	struct katls_ea_request_params rp = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST,
					      .offer_ima_detached = flaw != D_NOT_OFFERED &&
								    flaw != D_DIGEST_NOT_OFFERED };
	struct katls_buf cmw = KATLS_BUF_INIT, inl = KATLS_BUF_INIT, frames = KATLS_BUF_INIT;
	struct katls_buf quoted = KATLS_BUF_INIT, sent = KATLS_BUF_INIT, auth = KATLS_BUF_INIT;
	struct katls_ea_request req;
	uint8_t pcr10[32];
	struct fake f = { .ima = log, .pcr10 = pcr10 };
	enum katls_reason r;
	struct conn t;

	assert_int_equal(katls_put_bytes(&quoted, log->data, ima_offset(log, covered)), 0);
	ima_pcr10(&quoted, pcr10);
	conn_open(&t, NULL);
	assert_int_equal(katls_ea_request_build(&req, &rp), 0);
	make_cmw(&cmw, &t.sex, srv_key, req.crc, req.crc_len, &f);
	assert_int_equal(katls_put_bytes(&inl, cmw.data, cmw.len), 0);
	assert_int_equal(katls_ima_detach(&cmw, &frames), 1);
	assert_int_equal(katls_put_bytes(&sent, log->data, log->len), 0);
	switch (flaw) {
	case D_TRUNCATED:
		sent.len = quoted.len;
		break;
	case D_TAIL_CHANGED:
		sent.data[sent.len - 1] ^= 0x20;	/* a letter of the last path */
		break;
	case D_NO_FRAMES:
	case D_DIGEST_NOT_OFFERED:
		sent.len = 0;
		break;
	case D_INLINE_AND_FRAMES:
		katls_buf_cleanup(&cmw);
		cmw = inl;
		inl = (struct katls_buf)KATLS_BUF_INIT;
		break;
	case D_EMPTY_FRAME:
		assert_int_equal(katls_put_bytes(&auth, "\xf2\x00\x00\x00", 4), 0);
		break;
	default:
		break;
	}
	/* odd-sized frames: the verifier may not assume record or chunk boundaries */
	ima_frames(&auth, sent.data, sent.len, 1000 + 1);
	auth_carrying(&auth, &t.sex, &req, srv_cert, srv_key, &cmw);
	r = verify_set(&t, &req, NULL, &auth, ima_policy(NULL), NULL, sum, msg, msg_len);
	katls_buf_cleanup(&cmw);
	katls_buf_cleanup(&inl);
	katls_buf_cleanup(&frames);
	katls_buf_cleanup(&quoted);
	katls_buf_cleanup(&sent);
	katls_buf_cleanup(&auth);
	katls_ea_request_cleanup(&req);
	conn_close(&t);
	return r;
}

/*
 * A log that cannot fit in the 64 KiB cmw_attestation extension travels
 * detached and is appraised as if inline; the detached log must be exactly
 * the one the signed Evidence names, and only where the request offered it.
 * Guards: the frame check in katls_verify_authenticator(), the offer, the
 * length and digest checks of attach_ima()/katls_ima_attach().
 */
static void test_ima_detached(void **state)
{
	struct katls_buf big = KATLS_BUF_INIT, small = KATLS_BUF_INIT, cmw = KATLS_BUF_INIT;
	struct katls_verify_summary sum;
	struct fake f = { 0 };
	char msg[512];

	ima_boot(&big, &f);
	ima_entries(&big, "measured-binary-", 1, 2001);
	/* too big for the extension: this is why the log is detached */
	f.ima = &big;
	{
		struct conn t;
		struct katls_ea_request req;

		conn_open(&t, NULL);
		client_request(&req);
		make_cmw(&cmw, &t.sex, srv_key, req.crc, req.crc_len, &f);
		assert_true(cmw.len > UINT16_MAX);
		katls_ea_request_cleanup(&req);
		conn_close(&t);
	}
	expect(verify_detached(&big, 2001, D_HONEST, &sum, msg, sizeof(msg)), msg, KATLS_R_OK,
	       NULL);
	assert_int_equal(sum.ima_records, 2001);
	assert_int_equal(sum.ima_covered, 2001);

	ima_boot(&small, &f);
	ima_entries(&small, "e", 1, 8);
	expect(verify_detached(&small, 6, D_HONEST, &sum, msg, sizeof(msg)), msg, KATLS_R_OK, NULL);
	assert_int_equal(sum.ima_records, 8);
	assert_int_equal(sum.ima_covered, 6);
	expect(verify_detached(&small, 6, D_NOT_OFFERED, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_FRAMING, "did not offer");
	expect(verify_detached(&small, 6, D_DIGEST_NOT_OFFERED, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_EVIDENCE_MALFORMED, "did not offer");
	/* these two replay to the quoted PCR 10: only the digest catches them */
	expect(verify_detached(&small, 6, D_TRUNCATED, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_EVIDENCE_MALFORMED, "is not the one the Evidence's ima-digest names");
	expect(verify_detached(&small, 6, D_TAIL_CHANGED, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_EVIDENCE_MALFORMED, "is not the one the Evidence's ima-digest names");
	expect(verify_detached(&small, 6, D_NO_FRAMES, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_EVIDENCE_MALFORMED, "(0 bytes)");
	expect(verify_detached(&small, 6, D_INLINE_AND_FRAMES, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_EVIDENCE_MALFORMED, "names no detached log");
	expect(verify_detached(&small, 6, D_EMPTY_FRAME, NULL, msg, sizeof(msg)), msg,
	       KATLS_R_FRAMING, "malformed IMA log frames");
	katls_buf_cleanup(&big);
	katls_buf_cleanup(&small);
	katls_buf_cleanup(&cmw);
}

/*
 * The session offers the detached log and the attester uses it: a log of
 * over 64 KiB goes through katls_session_run() end to end (it failed with
 * "cannot send authenticator" before), and application data still stays.
 */
static void test_session_large_ima_log(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT;
	uint8_t pcr10[32];
	struct fake f = { 0 };
	struct side c, s;
	struct conn t;
	pthread_t th;
	int fd[2];
	char buf[8];

	ima_boot(&log, &f);
	ima_entries(&log, "measured-binary-", 1, 3001);
	ima_pcr10(&log, pcr10);
	f.ima = &log;
	f.pcr10 = pcr10;
	conn_open(&t, NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	side_init(&c, KATLS_ROLE_CLIENT, KATLS_MODE_VERIFY_PEER, &t.cex, fd[0], NULL,
		  "server.test");
	side_init(&s, KATLS_ROLE_SERVER, KATLS_MODE_ATTEST_SELF, &t.sex, fd[1], NULL, NULL);
	katls_policy_set_free(c.set);
	c.set = ima_policy(NULL);
	c.vp.policy = &c.set->policies[0];
	s.p.gather_arg = &f;
	assert_int_equal(pthread_create(&th, NULL, side_run, &s), 0);
	side_run(&c);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (c.ret || s.ret)
		fail_msg("client: %s; server: %s", c.r.msg, s.r.msg);
	assert_int_equal(c.r.peer.sum.ima_records, 3001);
	assert_true(c.r.peer.cmw_len < 4096);	/* the log is not in the CMW */
	assert_int_equal(write(fd[1], "app", 3), 3);
	assert_int_equal(read(fd[0], buf, sizeof(buf)), 3);
	exchange_end(&c, &s, fd);
	conn_close(&t);
	katls_buf_cleanup(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_accept_sha384),
		cmocka_unit_test(test_f1_replay_on_same_connection),
		cmocka_unit_test(test_f2_crc_single_use),
		cmocka_unit_test(test_f3_reattest_same_connection),
		cmocka_unit_test(test_f4_no_resumption),
		cmocka_unit_test(test_r1_move_to_other_connection),
		cmocka_unit_test(test_r2_relay),
		cmocka_unit_test(test_d1_pki),
		cmocka_unit_test(test_d2_aik_and_ak),
		cmocka_unit_test(test_b1_label),
		cmocka_unit_test(test_e1_pkcs1_refused),
		cmocka_unit_test(test_save_and_verify_dir),
		cmocka_unit_test(test_ima_tied_to_boot),
		cmocka_unit_test(test_ak_qualified_signer),
		cmocka_unit_test(test_ak_name_pins),
		cmocka_unit_test(test_ak_enrollment),
		cmocka_unit_test(test_workload_verified_by_ima),
		cmocka_unit_test(test_session_verify),
		cmocka_unit_test(test_session_mutual),
		cmocka_unit_test(test_session_mutual_quotes_overlap),
		cmocka_unit_test(test_session_refused),
		cmocka_unit_test(test_session_server_wont_attest),
		cmocka_unit_test(test_session_not_katls),
		cmocka_unit_test(test_batch_sizes_verify),
		cmocka_unit_test(test_batch_sha384),
		cmocka_unit_test(test_batch_flaws_refused),
		cmocka_unit_test(test_batch_not_offered_refused),
		cmocka_unit_test(test_batch_replayed_on_new_connection),
		cmocka_unit_test(test_session_batch_negotiation),
		cmocka_unit_test(test_batch_and_ima_prefix_in_one_request),
		cmocka_unit_test(test_policy_files_deleted_after_load),
		cmocka_unit_test(test_reload_during_concurrent_verifications),
		cmocka_unit_test(test_ima_incremental_verifier),
		cmocka_unit_test(test_ima_incremental_appraises_the_tail),
		cmocka_unit_test(test_ima_incremental_whole_log),
		cmocka_unit_test(test_ima_incremental_workload),
		cmocka_unit_test(test_ima_detached),
		cmocka_unit_test(test_session_large_ima_log),
		cmocka_unit_test(test_ima_incremental_session),
		cmocka_unit_test(test_ima_incremental_attester),
	};
	int failed;

	failed = cmocka_run_group_tests_name("fresh policies", tests, setup, teardown);
	share_policies = true;
	failed += cmocka_run_group_tests_name("shared policies, caches warmed by earlier tests",
					      tests, setup, teardown_shared);
	return failed;
}
