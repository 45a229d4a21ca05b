// SPDX-License-Identifier: MIT
/*
 * test_ima_cache: the verifier's cache of verified IMA prefixes
 * (ima_cache.c) and the request extension that names one (ima_prefix.c):
 * lookups by peer and by AK, replacement, the bound, references held across
 * eviction; the extension's encoding, byte for byte, and every rejection of
 * its parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "appraisal/ima_cache.h"
#include "wire/ima_prefix.h"

static struct katls_ima_prefix *prefix(uint8_t ak, const char *peer, uint64_t n)
{
	struct katls_ima_prefix *p = katls_ima_prefix_new();

	assert_non_null(p);
	p->ak.len = 34;
	p->ak.name[1] = 0x0b;
	p->ak.name[2] = ak;
	p->num_entries = n;
	if (peer)
		p->has_peer = katls_ima_cache_tag(NULL, 0, peer, p->peer_tag);
	return p;
}

static uint8_t *tag(const char *peer)
{
	static uint8_t t[32];

	assert_true(katls_ima_cache_tag(NULL, 0, peer, t));
	return t;
}

static struct katls_ima_prefix *by_ak(struct katls_ima_cache *c, uint8_t ak)
{
	struct katls_ima_prefix *k = prefix(ak, NULL, 0), *p;

	p = katls_ima_cache_by_ak(c, k->ak.name, k->ak.len);
	katls_ima_prefix_unref(k);
	return p;
}

static void test_lookups_and_replacement(void **state)
{
	struct katls_ima_cache *c;
	struct katls_ima_prefix *p;
	uint8_t id[4] = { 10, 0, 0, 1 }, t1[32], t2[32];

	assert_int_equal(katls_ima_cache_new(4, &c), 0);
	katls_ima_cache_put(c, prefix(1, "a.test", 10));
	katls_ima_cache_put(c, prefix(2, "b.test", 20));
	p = katls_ima_cache_by_peer(c, tag("a.test"));
	assert_non_null(p);
	assert_int_equal(p->num_entries, 10);
	katls_ima_prefix_unref(p);
	assert_null(katls_ima_cache_by_peer(c, tag("c.test")));
	/* a newer prefix of the same AK replaces it */
	katls_ima_cache_put(c, prefix(1, "a.test", 15));
	p = by_ak(c, 1);
	assert_int_equal(p->num_entries, 15);
	katls_ima_prefix_unref(p);
	assert_int_equal(katls_ima_cache_count(c), 2);
	/* a peer that now shows another AK: the old AK's prefix goes */
	katls_ima_cache_put(c, prefix(3, "a.test", 5));
	assert_null(by_ak(c, 1));
	p = katls_ima_cache_by_peer(c, tag("a.test"));
	assert_int_equal(p->num_entries, 5);
	/* dropped: nothing to offer any more */
	katls_ima_cache_drop(c, p->ak.name, p->ak.len);
	katls_ima_prefix_unref(p);
	assert_null(katls_ima_cache_by_peer(c, tag("a.test")));
	assert_int_equal(katls_ima_cache_count(c), 1);
	/* tags: by id when given, else by name; neither: none */
	assert_true(katls_ima_cache_tag(id, sizeof(id), "a.test", t1));
	assert_true(katls_ima_cache_tag(NULL, 0, "a.test", t2));
	assert_memory_not_equal(t1, t2, 32);
	assert_false(katls_ima_cache_tag(NULL, 0, NULL, t1));
	assert_false(katls_ima_cache_tag(NULL, 0, "", t1));
	katls_ima_cache_free(c);
}

/* At most max prefixes; the least recently used goes; a holder keeps its own. */
static void test_bounded_lru(void **state)
{
	struct katls_ima_cache *c;
	struct katls_ima_prefix *held, *p;

	assert_int_equal(katls_ima_cache_new(3, &c), 0);
	katls_ima_cache_put(c, prefix(1, NULL, 1));
	katls_ima_cache_put(c, prefix(2, NULL, 2));
	katls_ima_cache_put(c, prefix(3, NULL, 3));
	held = by_ak(c, 1);			/* used: 2 is now the least recent */
	katls_ima_cache_put(c, prefix(4, NULL, 4));
	assert_int_equal(katls_ima_cache_count(c), 3);
	assert_null(by_ak(c, 2));
	p = by_ak(c, 3);
	assert_non_null(p);
	katls_ima_prefix_unref(p);
	katls_ima_cache_drop(c, held->ak.name, held->ak.len);
	assert_int_equal(held->num_entries, 1);	/* still valid for its holder */
	katls_ima_prefix_unref(held);
	assert_true(katls_ima_cache_entry_bytes() < 2048);
	katls_ima_cache_free(c);
	assert_int_equal(katls_ima_cache_new(0, &c), -EINVAL);
}

static const uint8_t wire[] = {
	0xff, 0x01, 0x00, 0x4e,			/* katls_ima_prefix, 78 bytes */
	34, 0x00, 0x0b, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xa0,	/* N = 100000 */
	0x00, 0x0b,				/* SHA-256 */
	32, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
	0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
	0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
};

static void test_hint_wire(void **state)
{
	struct katls_ima_hint h = { .num_entries = 100000 }, back;
	struct katls_buf b = KATLS_BUF_INIT;
	uint8_t bad[sizeof(wire)];

	h.ak.len = 34;
	h.ak.name[1] = 0x0b;
	memset(h.ak.name + 2, 0xaa, 32);
	memset(h.pcr10, 0x55, 32);
	assert_int_equal(katls_ima_hint_encode(&h, &b), 0);
	assert_int_equal(b.len, sizeof(wire));
	assert_memory_equal(b.data, wire, sizeof(wire));
	assert_int_equal(katls_ima_hint_parse(wire + 4, sizeof(wire) - 4, &back), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	/* every field checked */
	assert_int_equal(katls_ima_hint_parse(wire + 4, sizeof(wire) - 5, &back), -EBADMSG);
	memcpy(bad, wire, sizeof(wire));
	bad[sizeof(bad) - 1] = 0;		/* still well-formed: accepted */
	assert_int_equal(katls_ima_hint_parse(bad + 4, sizeof(bad) - 4, &back), 0);
	bad[6] = 0x04;				/* a SHA-1 Name */
	assert_int_equal(katls_ima_hint_parse(bad + 4, sizeof(bad) - 4, &back), -EBADMSG);
	memcpy(bad, wire, sizeof(wire));
	memset(bad + 39, 0, 8);			/* N = 0 */
	assert_int_equal(katls_ima_hint_parse(bad + 4, sizeof(bad) - 4, &back), -EBADMSG);
	memcpy(bad, wire, sizeof(wire));
	bad[48] = 0x0c;				/* SHA-384 bank */
	assert_int_equal(katls_ima_hint_parse(bad + 4, sizeof(bad) - 4, &back), -EBADMSG);
	memcpy(bad, wire, sizeof(wire));
	bad[49] = 31;				/* a PCR value of 31 bytes, one trailing */
	assert_int_equal(katls_ima_hint_parse(bad + 4, sizeof(bad) - 4, &back), -EBADMSG);
	katls_buf_cleanup(&b);
}

/* In a request: found there; a request without it has none; two make it malformed. */
static void test_hint_in_request(void **state)
{
	struct katls_ea_request_params rp = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST };
	struct katls_buf two = KATLS_BUF_INIT;
	struct katls_ea_request req;
	struct katls_ima_hint h;

	rp.extra_exts = wire;
	rp.extra_exts_len = sizeof(wire);
	assert_int_equal(katls_ea_request_build(&req, &rp), 0);
	assert_int_equal(katls_ima_hint_of_request(&req, &h), 0);
	assert_int_equal(h.num_entries, 100000);
	katls_ea_request_cleanup(&req);
	rp.extra_exts = NULL;
	rp.extra_exts_len = 0;
	assert_int_equal(katls_ea_request_build(&req, &rp), 0);
	assert_int_equal(katls_ima_hint_of_request(&req, &h), -ENOENT);
	katls_ea_request_cleanup(&req);
	katls_put_bytes(&two, wire, sizeof(wire));
	katls_put_bytes(&two, wire, sizeof(wire));
	rp.extra_exts = two.data;
	rp.extra_exts_len = two.len;
	assert_int_equal(katls_ea_request_build(&req, &rp), -EBADMSG);
	katls_buf_cleanup(&two);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups_and_replacement),
		cmocka_unit_test(test_bounded_lru),
		cmocka_unit_test(test_hint_wire),
		cmocka_unit_test(test_hint_in_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
