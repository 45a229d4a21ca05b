// SPDX-License-Identifier: MIT
/*
 * test_verify_cache: what a verifier remembers between verifications
 * (verify_cache.c) returns what the computation would: the same DER gives
 * the same certificate and nothing else does; a chain is known only for the
 * exact certificates and purpose X509_verify_cert() accepted, and only
 * inside its validity; an AK key is built once per distinct TPMT_PUBLIC.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "appraisal/verify_cache.h"

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca;

static X509 *cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn,
		  long not_after_s)
{
	X509 *x = X509_new();
	static long serial = 1;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), not_after_s);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	if (!issuer) {
		X509V3_CTX ctx;
		X509_EXTENSION *e;

		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static size_t der_of(X509 *x, uint8_t **der)
{
	int n;

	*der = NULL;
	n = i2d_X509(x, der);
	assert_true(n > 0);
	return (size_t)n;
}

static int setup(void **state)
{
	ca_key = EVP_EC_gen("P-256");
	leaf_key = EVP_EC_gen("P-256");
	ca = cert(ca_key, NULL, ca_key, "cache CA", 3600);
	return 0;
}

static int teardown(void **state)
{
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	return 0;
}

static void test_x509_same_bytes_same_certificate(void **state)
{
	struct katls_verify_cache *c;
	X509 *a = cert(leaf_key, ca, ca_key, "a", 3600), *b = cert(leaf_key, ca, ca_key, "b", 3600);
	uint8_t *da, *db, *junk;
	size_t la = der_of(a, &da), lb = der_of(b, &db);
	X509 *x1, *x2, *y;

	assert_int_equal(katls_verify_cache_new(&c), 0);
	x1 = katls_verify_cache_x509(c, da, la);
	x2 = katls_verify_cache_x509(c, da, la);
	y = katls_verify_cache_x509(c, db, lb);
	assert_non_null(x1);
	assert_ptr_equal(x1, x2);		/* parsed once */
	assert_ptr_not_equal(x1, y);
	assert_int_equal(X509_cmp(x1, a), 0);
	assert_int_equal(X509_cmp(y, b), 0);
	/* exactly the bytes: not a prefix, not with trailing bytes */
	assert_null(katls_verify_cache_x509(c, da, la - 1));
	junk = OPENSSL_malloc(la + 1);
	memcpy(junk, da, la);
	junk[la] = 0;
	assert_null(katls_verify_cache_x509(c, junk, la + 1));
	X509_free(x1);
	X509_free(x2);
	X509_free(y);
	katls_verify_cache_free(c);
	OPENSSL_free(junk);
	OPENSSL_free(da);
	OPENSSL_free(db);
	X509_free(a);
	X509_free(b);
}

/* X509_verify_cert() of @leaf (as the cache parsed it) against ca. */
static bool verify_chain(struct katls_verify_cache *c, X509 *leaf, int purpose, bool remember)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	bool ok;

	X509_STORE_add_cert(store, ca);
	sk_X509_push(chain, leaf);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx) == 1;
	if (ok && remember)
		katls_verify_cache_chain_add(c, leaf, chain, purpose, ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(chain);
	return ok;
}

static bool known(struct katls_verify_cache *c, X509 *leaf, int purpose)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	bool ok;

	sk_X509_push(chain, leaf);
	ok = katls_verify_cache_chain_ok(c, leaf, chain, purpose);
	sk_X509_free(chain);
	return ok;
}

static void test_chain_known_only_as_verified(void **state)
{
	struct katls_verify_cache *c;
	X509 *a = cert(leaf_key, ca, ca_key, "a", 3600), *b = cert(leaf_key, ca, ca_key, "b", 3600);
	uint8_t *da, *db;
	size_t la = der_of(a, &da), lb = der_of(b, &db);
	X509 *xa, *xb, *stranger = cert(leaf_key, ca, ca_key, "a", 3600);

	assert_int_equal(katls_verify_cache_new(&c), 0);
	xa = katls_verify_cache_x509(c, da, la);
	xb = katls_verify_cache_x509(c, db, lb);
	assert_false(known(c, xa, X509_PURPOSE_SSL_SERVER));
	assert_true(verify_chain(c, xa, X509_PURPOSE_SSL_SERVER, true));
	assert_true(known(c, xa, X509_PURPOSE_SSL_SERVER));
	/* another purpose, another certificate, one the cache did not parse */
	assert_false(known(c, xa, X509_PURPOSE_SSL_CLIENT));
	assert_false(known(c, xb, X509_PURPOSE_SSL_SERVER));
	assert_false(known(c, stranger, X509_PURPOSE_SSL_SERVER));
	X509_free(xa);
	X509_free(xb);
	X509_free(stranger);
	katls_verify_cache_free(c);
	OPENSSL_free(da);
	OPENSSL_free(db);
	X509_free(a);
	X509_free(b);
}

/* A chain whose leaf expires is checked anew once it has: no verdict outlives the chain. */
static void test_chain_expires_with_the_certificate(void **state)
{
	struct katls_verify_cache *c;
	X509 *a = cert(leaf_key, ca, ca_key, "short", 1), *xa;
	uint8_t *da;
	size_t la = der_of(a, &da);

	assert_int_equal(katls_verify_cache_new(&c), 0);
	xa = katls_verify_cache_x509(c, da, la);
	assert_true(verify_chain(c, xa, X509_PURPOSE_SSL_SERVER, true));
	assert_true(known(c, xa, X509_PURPOSE_SSL_SERVER));
	sleep(2);
	assert_false(known(c, xa, X509_PURPOSE_SSL_SERVER));
	assert_false(verify_chain(c, xa, X509_PURPOSE_SSL_SERVER, false));
	X509_free(xa);
	katls_verify_cache_free(c);
	OPENSSL_free(da);
	X509_free(a);
}

static unsigned int made;

static int make_key(const uint8_t *pub, size_t len, EVP_PKEY **out)
{
	made++;
	if (!len || pub[0] == 0xee)
		return -EBADMSG;
	*out = EVP_EC_gen("P-256");
	return *out ? 0 : -ENOMEM;
}

static void test_ak_built_once_per_public_area(void **state)
{
	static const uint8_t p1[] = { 1, 2, 3 }, p2[] = { 1, 2, 4 }, bad[] = { 0xee };
	struct katls_verify_cache *c;
	EVP_PKEY *k1, *k1b, *k2, *kb;

	assert_int_equal(katls_verify_cache_new(&c), 0);
	made = 0;
	assert_int_equal(katls_verify_cache_ak(c, p1, sizeof(p1), make_key, &k1), 0);
	assert_int_equal(katls_verify_cache_ak(c, p1, sizeof(p1), make_key, &k1b), 0);
	assert_int_equal(katls_verify_cache_ak(c, p2, sizeof(p2), make_key, &k2), 0);
	assert_int_equal(made, 2);
	assert_ptr_equal(k1, k1b);
	assert_ptr_not_equal(k1, k2);
	/* a failure is not remembered: the next call tries again */
	assert_int_equal(katls_verify_cache_ak(c, bad, sizeof(bad), make_key, &kb), -EBADMSG);
	assert_int_equal(katls_verify_cache_ak(c, bad, sizeof(bad), make_key, &kb), -EBADMSG);
	assert_int_equal(made, 4);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k1b);
	EVP_PKEY_free(k2);
	katls_verify_cache_free(c);
}

/* Bounded: more distinct certificates than slots evict the least recent. */
static void test_bounded(void **state)
{
	struct katls_verify_cache *c;
	X509 *first = NULL, *again;
	uint8_t *d0 = NULL;
	size_t l0 = 0;

	assert_int_equal(katls_verify_cache_new(&c), 0);
	for (int i = 0; i <= KATLS_VERIFY_CACHE_SLOTS; i++) {
		X509 *x = cert(leaf_key, ca, ca_key, "n", 3600), *y;
		uint8_t *d;
		size_t l = der_of(x, &d);

		y = katls_verify_cache_x509(c, d, l);
		if (!i) {
			first = y;
			d0 = d;
			l0 = l;
		} else {
			X509_free(y);
			OPENSSL_free(d);
		}
		X509_free(x);
	}
	again = katls_verify_cache_x509(c, d0, l0);
	assert_ptr_not_equal(again, first);	/* evicted, parsed anew */
	assert_int_equal(X509_cmp(again, first), 0);
	X509_free(again);
	X509_free(first);
	OPENSSL_free(d0);
	katls_verify_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x509_same_bytes_same_certificate),
		cmocka_unit_test(test_chain_known_only_as_verified),
		cmocka_unit_test(test_chain_expires_with_the_certificate),
		cmocka_unit_test(test_ak_built_once_per_public_area),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
