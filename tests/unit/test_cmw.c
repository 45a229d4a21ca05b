// SPDX-License-Identifier: MIT
/*
 * The katls CMW Evidence collection and its sub-encodings: golden bytes
 * computed independently (a hand-written Python CBOR encoder sorting keys by
 * their encoded bytes), round trips, and one rejection test per strictness
 * rule.  Negative inputs are built with a second, test-local CBOR writer
 * from a base that decodes, changing one thing at a time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/buf.h"
#include "wire/cmw.h"
#include "wire/ima_detach.h"

/* ---- golden encodings (see the top comment) ---------------------------------- */

static const char golden_pcrs[] =
	"a166736861323536a10a58200000000000000000000000000000000000000000000000000000000000000000";
static const char golden_ev[] =
	"a662616b8378216170706c69636174696f6e2f766e642e6b61746c732e74706d742d7075626c696341410463"
	"61696b83781e6170706c69636174696f6e2f766e642e6b61746c732e61696b2d686173685820aaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa04647063727383781f6170706c6963617469"
	"6f6e2f766e642e6b61746c732e706372732b63626f72582ca166736861323536a10a58200000000000000000"
	"000000000000000000000000000000000000000000000000046571756f74658378216170706c69636174696f"
	"6e2f766e642e6b61746c732e74706d732d617474657374415104685f5f636d77635f7478227461673a6b6174"
	"6c732e696e76616c69642c323032363a65766964656e63652f76316971756f74652d7369678378246170706c"
	"69636174696f6e2f766e642e6b61746c732e74706d742d7369676e6174757265415304";
static const char golden_kernel[] =
	"a96374706df5657461696e740067626f6f742d696450000102030405060708090a0b0c0d0e0f6772656c6561"
	"73656e362e312e302d31382d616d6436346863632d666c61677300686c6f636b646f776e0169696d612d636f"
	"756e741904d26a67656e65726174696f6e076e696d612d76696f6c6174696f6e731b0000010000000000";
static const char golden_workload[] =
	"a663706964191092637569641903e8686578652d706174686d2f7573722f62696e2f6375726c696367726f75"
	"702d69641a000111706a6578652d646967657374582011111111111111111111111111111111111111111111"
	"111111111111111111116e6578652d6469676573742d616c6704";

/* veraison/cmw testdata/collection-cbor-ok.cbor (PROTOCOL.md §3) */
static const char veraison_collection[] =
	"a30183781d6170706c69636174696f6e2f7369676e65642d636f72696d2b63626f7247d28443a10126a10302"
	"da63747632442347da55617382197531442347da55";

/* ---- helpers --------------------------------------------------------------------- */

struct bytes {
	uint8_t *b;
	size_t len;
};

static struct bytes unhex(const char *hex)
{
	struct bytes out = { malloc(strlen(hex) / 2 + 1), strlen(hex) / 2 };

	assert_non_null(out.b);
	for (size_t i = 0; i < out.len; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out.b[i] = (uint8_t)v;
	}
	return out;
}

static void assert_buf_hex(const struct katls_buf *b, const char *hex)
{
	struct bytes want = unhex(hex);

	assert_int_equal(b->len, want.len);
	assert_memory_equal(b->data, want.b, want.len);
	free(want.b);
}

static void put(struct katls_buf *b, const void *p, size_t n)
{
	assert_int_equal(katls_put_bytes(b, p, n), 0);
}

static void fill_min_evidence(struct katls_evidence *ev)
{
	struct katls_pcrs p = { .mask = 1u << 10 };
	uint8_t aik[32];

	memset(ev, 0, sizeof(*ev));
	memset(aik, 0xaa, sizeof(aik));
	put(&ev->quote, "Q", 1);
	put(&ev->quote_sig, "S", 1);
	put(&ev->ak, "A", 1);
	put(&ev->aik, aik, sizeof(aik));
	assert_int_equal(katls_cmw_pcrs_encode(&p, &ev->pcrs), 0);
}

static void fill_kernel(struct katls_cmw_kernel *k)
{
	memset(k, 0, sizeof(*k));
	k->generation = 7;
	for (unsigned int i = 0; i < 16; i++)
		k->boot_id[i] = (uint8_t)i;
	strcpy(k->release, "6.1.0-18-amd64");
	k->lockdown = 1;
	k->tpm = true;
	k->ima_count = 1234;
	k->ima_violations = 1ull << 40;
}

static void fill_workload(struct katls_cmw_workload *w)
{
	memset(w, 0, sizeof(*w));
	w->pid = 4242;
	w->uid = 1000;
	w->cgroup_id = 70000;
	strcpy(w->exe_path, "/usr/bin/curl");
	memset(w->exe_digest, 0x11, 32);
	w->exe_digest_len = 32;
	w->exe_digest_alg = 4;
}

static void fill_full_evidence(struct katls_evidence *ev)
{
	struct katls_cmw_kernel k;
	struct katls_cmw_workload w;

	fill_min_evidence(ev);
	fill_kernel(&k);
	fill_workload(&w);
	assert_int_equal(katls_cmw_kernel_encode(&k, &ev->kernel), 0);
	assert_int_equal(katls_cmw_workload_encode(&w, &ev->workload), 0);
	ev->has_ima = true;
	ev->ima_start = 0x0102030405060708ull;
	put(&ev->ima, "\x0a\x00\x00\x00imarecords", 14);
}

static void assert_same_buf(const struct katls_buf *a, const struct katls_buf *b)
{
	assert_int_equal(a->len, b->len);
	if (a->len)
		assert_memory_equal(a->data, b->data, a->len);
}

/* ---- a second CBOR writer, for hand-made (mostly invalid) inputs ------------------- */

static void head(struct katls_buf *b, uint8_t major, uint64_t v)
{
	uint8_t mt = (uint8_t)(major << 5);

	if (v < 24) {
		assert_int_equal(katls_put_u8(b, mt | (uint8_t)v), 0);
	} else if (v <= 0xff) {
		assert_int_equal(katls_put_u8(b, mt | 24), 0);
		assert_int_equal(katls_put_u8(b, (uint8_t)v), 0);
	} else if (v <= 0xffff) {
		assert_int_equal(katls_put_u8(b, mt | 25), 0);
		assert_int_equal(katls_put_be16(b, (uint16_t)v), 0);
	} else {
		assert_int_equal(katls_put_u8(b, mt | 26), 0);
		assert_int_equal(katls_put_be32(b, (uint32_t)v), 0);
	}
}

static void tstr(struct katls_buf *b, const char *s)
{
	head(b, 3, strlen(s));
	put(b, s, strlen(s));
}

static void bstr(struct katls_buf *b, const void *p, size_t n)
{
	head(b, 2, n);
	put(b, p, n);
}

/* One map entry of the collection; a NULL media means a tstr value (__cmwc_t). */
struct ent {
	const char *key;
	const char *media;
	const void *val;
	size_t len;
	uint64_t ind;
	unsigned int nelem;
};

#define NENT 16
struct coll {
	struct ent e[NENT];
	unsigned int n;
	bool indefinite;
};

static uint8_t aik32[32];
static struct katls_buf pcrs_enc;

static void base(struct coll *c)
{
	struct katls_pcrs p = { .mask = 1u << 10 };

	memset(aik32, 0xaa, sizeof(aik32));
	katls_buf_cleanup(&pcrs_enc);
	assert_int_equal(katls_cmw_pcrs_encode(&p, &pcrs_enc), 0);
	memset(c, 0, sizeof(*c));
	c->e[c->n++] = (struct ent){ "ak", KATLS_MT_AK, "A", 1, 4, 3 };
	c->e[c->n++] = (struct ent){ "aik", KATLS_MT_AIK, aik32, 32, 4, 3 };
	c->e[c->n++] = (struct ent){ "pcrs", KATLS_MT_PCRS, pcrs_enc.data, pcrs_enc.len, 4, 3 };
	c->e[c->n++] = (struct ent){ "quote", KATLS_MT_QUOTE, "Q", 1, 4, 3 };
	c->e[c->n++] = (struct ent){ "__cmwc_t", NULL, KATLS_CMWC_TYPE, 0, 0, 0 };
	c->e[c->n++] = (struct ent){ "quote-sig", KATLS_MT_QUOTE_SIG, "S", 1, 4, 3 };
}

static void insert(struct coll *c, unsigned int at, struct ent e)
{
	assert_true(c->n < NENT && at <= c->n);
	memmove(&c->e[at + 1], &c->e[at], (c->n - at) * sizeof(e));
	c->e[at] = e;
	c->n++;
}

static void drop(struct coll *c, unsigned int at)
{
	memmove(&c->e[at], &c->e[at + 1], (c->n - at - 1) * sizeof(c->e[0]));
	c->n--;
}

static void write_coll(const struct coll *c, struct katls_buf *b)
{
	if (c->indefinite)
		assert_int_equal(katls_put_u8(b, 0xbf), 0);
	else
		head(b, 5, c->n);
	for (unsigned int i = 0; i < c->n; i++) {
		const struct ent *e = &c->e[i];

		tstr(b, e->key);
		if (!e->media) {
			tstr(b, e->val);
			continue;
		}
		head(b, 4, e->nelem);
		tstr(b, e->media);
		bstr(b, e->val, e->len);
		if (e->nelem >= 3)
			head(b, 0, e->ind);
		if (e->nelem >= 4)
			head(b, 0, 0);
	}
	if (c->indefinite)
		assert_int_equal(katls_put_u8(b, 0xff), 0);
}

static int decode_coll(const struct coll *c)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_evidence ev;
	int ret;

	write_coll(c, &b);
	ret = katls_cmw_decode(b.data, b.len, &ev);
	katls_cmw_cleanup(&ev);
	katls_buf_cleanup(&b);
	return ret;
}

/* ---- encoding ------------------------------------------------------------------------ */

static void test_golden_and_determinism(void **state)
{
	struct katls_evidence ev;
	struct katls_buf a = KATLS_BUF_INIT, b = KATLS_BUF_INIT;
	static const uint8_t first[] = { 0xa6, 0x62, 'a', 'k', 0x83, 0x78, 0x21 };

	fill_min_evidence(&ev);
	assert_buf_hex(&ev.pcrs, golden_pcrs);
	assert_int_equal(katls_cmw_encode(&ev, &a), 0);
	assert_int_equal(katls_cmw_encode(&ev, &b), 0);
	assert_same_buf(&a, &b);
	/* map(6), "ak" first (shortest key), its record [tstr(33), ...] */
	assert_memory_equal(a.data, first, sizeof(first));
	assert_buf_hex(&a, golden_ev);
	katls_buf_cleanup(&a);
	katls_buf_cleanup(&b);
	katls_cmw_cleanup(&ev);
	katls_cmw_cleanup(&ev);		/* idempotent */
	katls_cmw_cleanup(NULL);
}

static void test_test_writer_matches_encoder(void **state)
{
	struct katls_evidence ev;
	struct katls_buf a = KATLS_BUF_INIT, b = KATLS_BUF_INIT;
	struct coll c;

	fill_min_evidence(&ev);
	assert_int_equal(katls_cmw_encode(&ev, &a), 0);
	base(&c);
	write_coll(&c, &b);
	assert_same_buf(&a, &b);	/* so the negative tests start from valid bytes */
	assert_int_equal(decode_coll(&c), 0);
	katls_buf_cleanup(&a);
	katls_buf_cleanup(&b);
	katls_cmw_cleanup(&ev);
}

static void test_sub_encodings_golden(void **state)
{
	struct katls_cmw_kernel k, k2;
	struct katls_cmw_workload w, w2;
	struct katls_buf b = KATLS_BUF_INIT;

	fill_kernel(&k);
	assert_int_equal(katls_cmw_kernel_encode(&k, &b), 0);
	assert_buf_hex(&b, golden_kernel);
	assert_int_equal(katls_cmw_kernel_decode(b.data, b.len, &k2), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
	katls_buf_cleanup(&b);

	fill_workload(&w);
	assert_int_equal(katls_cmw_workload_encode(&w, &b), 0);
	assert_buf_hex(&b, golden_workload);
	assert_int_equal(katls_cmw_workload_decode(b.data, b.len, &w2), 0);
	assert_memory_equal(&w, &w2, sizeof(w));
	katls_buf_cleanup(&b);
}

static void test_round_trip_full(void **state)
{
	struct katls_evidence ev, back;
	struct katls_buf a = KATLS_BUF_INIT, b = KATLS_BUF_INIT;

	fill_full_evidence(&ev);
	assert_int_equal(katls_cmw_encode(&ev, &a), 0);
	assert_int_equal(a.data[0], 0xaa);		/* map(10) */
	assert_int_equal(katls_cmw_decode(a.data, a.len, &back), 0);
	assert_same_buf(&ev.quote, &back.quote);
	assert_same_buf(&ev.quote_sig, &back.quote_sig);
	assert_same_buf(&ev.ak, &back.ak);
	assert_same_buf(&ev.pcrs, &back.pcrs);
	assert_same_buf(&ev.aik, &back.aik);
	assert_same_buf(&ev.ima, &back.ima);
	assert_same_buf(&ev.kernel, &back.kernel);
	assert_same_buf(&ev.workload, &back.workload);
	assert_true(back.has_ima);
	assert_int_equal(back.ima_start, 0x0102030405060708ull);
	/* decode(encode(x)) re-encodes to the same bytes */
	assert_int_equal(katls_cmw_encode(&back, &b), 0);
	assert_same_buf(&a, &b);
	assert_int_equal(katls_cmw_check(a.data, a.len), 0);

	/* An empty IMA slice is still present, with its start. */
	katls_buf_cleanup(&ev.ima);
	katls_cmw_cleanup(&back);
	a.len = 0;
	assert_int_equal(katls_cmw_encode(&ev, &a), 0);
	assert_int_equal(katls_cmw_decode(a.data, a.len, &back), 0);
	assert_true(back.has_ima);
	assert_int_equal(back.ima.len, 0);
	katls_cmw_cleanup(&back);
	katls_cmw_cleanup(&ev);
	katls_buf_cleanup(&a);
	katls_buf_cleanup(&b);
}

static void test_encode_rejects_bad_evidence(void **state)
{
	struct katls_evidence ev;
	struct katls_buf out = KATLS_BUF_INIT;
	struct katls_cmw_kernel k;
	struct katls_cmw_workload w;

	fill_min_evidence(&ev);
	katls_buf_cleanup(&ev.quote);
	assert_int_equal(katls_cmw_encode(&ev, &out), -EINVAL);	/* required part empty */
	put(&ev.quote, "Q", 1);
	ev.aik.len = 31;
	assert_int_equal(katls_cmw_encode(&ev, &out), -EINVAL);	/* not a hash length */
	katls_cmw_cleanup(&ev);

	fill_kernel(&k);
	k.lockdown = 3;
	assert_int_equal(katls_cmw_kernel_encode(&k, &out), -EINVAL);
	fill_kernel(&k);
	strcpy(k.release, "bad\xff");
	assert_int_equal(katls_cmw_kernel_encode(&k, &out), -EINVAL);
	strcpy(k.release, "\xed\xa0\x80");		/* UTF-16 surrogate U+D800 */
	assert_int_equal(katls_cmw_kernel_encode(&k, &out), -EINVAL);
	strcpy(k.release, "\xf4\x90\x80\x80");	/* U+110000 */
	assert_int_equal(katls_cmw_kernel_encode(&k, &out), -EINVAL);
	strcpy(k.release, "6.1 \xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92");	/* valid: 2, 3, 4 bytes */
	assert_int_equal(katls_cmw_kernel_encode(&k, &out), 0);
	out.len = 0;
	fill_workload(&w);
	w.exe_digest_len = 0;
	assert_int_equal(katls_cmw_workload_encode(&w, &out), -EINVAL);
	fill_workload(&w);
	memset(w.exe_path, 'a', sizeof(w.exe_path));	/* no NUL */
	assert_int_equal(katls_cmw_workload_encode(&w, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	katls_buf_cleanup(&out);
}

/* ---- strict decoding: one test per rule ------------------------------------------------ */

static void test_reject_unknown_key(void **state)
{
	struct coll c;

	base(&c);
	insert(&c, 3, (struct ent){ "extra", KATLS_MT_QUOTE, "Q", 1, 4, 3 });	/* sorted spot */
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);
	insert(&c, 0, (struct ent){ "a", KATLS_MT_AK, "A", 1, 4, 3 });
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_duplicate_key(void **state)
{
	struct coll c;

	base(&c);
	insert(&c, 1, c.e[0]);		/* "ak" twice, same record */
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);
	insert(&c, 5, c.e[4]);		/* "__cmwc_t" twice */
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_unsorted_keys(void **state)
{
	struct coll c;
	struct ent t;

	base(&c);
	t = c.e[0];
	c.e[0] = c.e[1];
	c.e[1] = t;			/* "aik" before "ak" */
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_wrong_media_type(void **state)
{
	struct coll c;

	base(&c);
	c.e[0].media = KATLS_MT_QUOTE;
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);
	c.e[3].media = "application/vnd.katls.tpms-attest ";
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_ind(void **state)
{
	struct coll c;

	base(&c);
	c.e[3].ind = 8;			/* attestation result, not evidence */
	assert_int_equal(decode_coll(&c), -EBADMSG);
	c.e[3].ind = 0;
	assert_int_equal(decode_coll(&c), -EBADMSG);
	c.e[3].ind = 4 + 256;
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_record_arity(void **state)
{
	struct coll c;

	base(&c);
	c.e[3].nelem = 2;
	assert_int_equal(decode_coll(&c), -EBADMSG);
	c.e[3].nelem = 4;
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_missing_required(void **state)
{
	static const char *const required[] = { "ak", "aik", "pcrs", "quote", "__cmwc_t",
						 "quote-sig" };
	struct coll c;

	for (unsigned int r = 0; r < 6; r++) {
		base(&c);
		assert_string_equal(c.e[r].key, required[r]);
		drop(&c, r);
		assert_int_equal(decode_coll(&c), -EBADMSG);
	}
}

static void test_reject_wrong_cmwc_t(void **state)
{
	struct coll c;

	base(&c);
	c.e[4].val = "tag:katls.invalid,2026:evidence/v2";
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);
	c.e[4].val = "";
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_indefinite_and_trailing(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_evidence ev;
	struct coll c;
	size_t at;

	base(&c);
	c.indefinite = true;
	assert_int_equal(decode_coll(&c), -EBADMSG);

	/* indefinite-length byte string as the "ak" value: 41 'A' -> 5f 41 'A' ff */
	base(&c);
	write_coll(&c, &b);
	at = 7 + strlen(KATLS_MT_AK);	/* a6 62 'a' 'k' 83 78 21 <media> */
	assert_int_equal(b.data[at], 0x41);
	{
		struct katls_buf x = KATLS_BUF_INIT;

		put(&x, b.data, at);
		put(&x, "\x5f\x41\x41\xff", 4);
		put(&x, b.data + at + 2, b.len - at - 2);
		assert_int_equal(katls_cmw_decode(x.data, x.len, &ev), -EBADMSG);
		katls_buf_cleanup(&x);
	}
	katls_buf_cleanup(&b);

	base(&c);
	write_coll(&c, &b);
	assert_int_equal(katls_cmw_decode(b.data, b.len, &ev), 0);
	katls_cmw_cleanup(&ev);
	put(&b, "\x00", 1);
	assert_int_equal(katls_cmw_decode(b.data, b.len, &ev), -EBADMSG);
	katls_buf_cleanup(&b);
}

static void test_reject_non_shortest(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_evidence ev;
	struct coll c;

	base(&c);
	write_coll(&c, &b);
	/* The very last byte is quote-sig's ind 0x04: re-encode it as 18 04. */
	assert_int_equal(b.data[b.len - 1], 0x04);
	b.data[b.len - 1] = 0x18;
	put(&b, "\x04", 1);
	assert_int_equal(katls_cmw_decode(b.data, b.len, &ev), -EBADMSG);
	/* ak's value h'41' with 2-, 4- and 8-byte length heads */
	{
		static const char *const heads[] = { "\x59\x00\x01", "\x5a\x00\x00\x00\x01",
						     "\x5b\x00\x00\x00\x00\x00\x00\x00\x01" };
		static const size_t head_len[] = { 3, 5, 9 };
		size_t at = 7 + strlen(KATLS_MT_AK);

		b.len--;
		b.data[b.len - 1] = 0x04;
		assert_int_equal(katls_cmw_decode(b.data, b.len, &ev), 0);
		katls_cmw_cleanup(&ev);
		assert_int_equal(b.data[at], 0x41);
		for (unsigned int i = 0; i < 3; i++) {
			struct katls_buf x = KATLS_BUF_INIT;

			put(&x, b.data, at);
			put(&x, heads[i], head_len[i]);
			put(&x, b.data + at + 1, b.len - at - 1);
			assert_int_equal(katls_cmw_decode(x.data, x.len, &ev), -EBADMSG);
			katls_buf_cleanup(&x);
		}
		b.len++;
	}
	/* Map head a6 as b8 06 */
	b.len--;
	b.data[b.len - 1] = 0x04;
	assert_int_equal(katls_buf_reserve(&b, 1), 0);
	memmove(b.data + 2, b.data + 1, b.len - 1);
	b.data[0] = 0xb8;
	b.data[1] = 0x06;
	b.len++;
	assert_int_equal(katls_cmw_decode(b.data, b.len, &ev), -EBADMSG);
	katls_buf_cleanup(&b);
}

static void test_reject_ima_pairing(void **state)
{
	static const uint8_t start[8] = { 0, 0, 0, 0, 0, 0, 0, 5 };
	struct coll c;

	base(&c);
	insert(&c, 2, (struct ent){ "ima", KATLS_MT_IMA, "log", 3, 4, 3 });
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* no ima-start */
	insert(&c, 6, (struct ent){ "ima-start", KATLS_MT_IMA_START, start, 8, 4, 3 });
	assert_int_equal(decode_coll(&c), 0);
	c.e[6].len = 7;
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* not 8 bytes */
	drop(&c, 2);
	c.e[5].len = 8;
	assert_string_equal(c.e[5].key, "ima-start");
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* no ima */
}

static void test_reject_bad_parts(void **state)
{
	struct coll c;

	base(&c);
	c.e[1].len = 31;					/* aik */
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);
	c.e[2].val = "\xa0";					/* pcrs: empty map */
	c.e[2].len = 1;
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);
	insert(&c, 4, (struct ent){ "kernel", KATLS_MT_KERNEL, "\xa0", 1, 4, 3 });
	assert_int_equal(decode_coll(&c), -EBADMSG);
	c.e[4].len = 0;						/* empty optional record */
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

static void test_reject_truncation_and_size(void **state)
{
	struct katls_evidence ev;
	struct katls_buf a = KATLS_BUF_INIT;
	uint8_t *big;

	fill_full_evidence(&ev);
	assert_int_equal(katls_cmw_encode(&ev, &a), 0);
	katls_cmw_cleanup(&ev);
	for (size_t n = 0; n < a.len; n++) {
		assert_int_equal(katls_cmw_decode(a.data, n, &ev), -EBADMSG);
		assert_null(ev.quote.data);		/* nothing leaks out */
	}
	katls_buf_cleanup(&a);

	big = calloc(1, KATLS_CMW_MAX + 1);
	assert_non_null(big);
	assert_int_equal(katls_cmw_decode(big, KATLS_CMW_MAX + 1, &ev), -EMSGSIZE);
	free(big);
	assert_int_equal(katls_cmw_decode((const uint8_t *)"\x86", 1, &ev), -EBADMSG);
}

/* ---- sub-encodings -------------------------------------------------------------------- */

static int pcrs_from(const char *hex)
{
	struct bytes in = unhex(hex);
	struct katls_pcrs p;
	int ret = katls_cmw_pcrs_decode(in.b, in.len, &p);

	free(in.b);
	return ret;
}

#define D32 "5820" "0000000000000000000000000000000000000000000000000000000000000000"

static void test_pcrs_strict(void **state)
{
	struct katls_pcrs p = { 0 }, back;
	struct katls_buf b = KATLS_BUF_INIT;

	for (unsigned int i = 0; i < KATLS_PCR_COUNT; i += 3) {
		p.mask |= 1u << i;
		memset(p.digest[i], (int)i, KATLS_PCR_DIGEST_LEN);
	}
	assert_int_equal(katls_cmw_pcrs_encode(&p, &b), 0);
	assert_int_equal(katls_cmw_pcrs_decode(b.data, b.len, &back), 0);
	assert_memory_equal(&p, &back, sizeof(p));
	katls_buf_cleanup(&b);
	p.mask = 0;
	assert_int_equal(katls_cmw_pcrs_encode(&p, &b), -EINVAL);

	assert_int_equal(pcrs_from("a166736861323536a20a" D32 "0b" D32), 0);
	assert_int_equal(pcrs_from("a166736861323536a20b" D32 "0a" D32), -EBADMSG); /* order */
	assert_int_equal(pcrs_from("a166736861323536a20a" D32 "0a" D32), -EBADMSG); /* dup */
	assert_int_equal(pcrs_from("a166736861323536a11818" D32), -EBADMSG);	/* PCR 24 */
	assert_int_equal(pcrs_from("a166736861323536a10a581f"
				   "00000000000000000000000000000000000000000000000000000000000000"),
			 -EBADMSG);						/* 31 B */
	assert_int_equal(pcrs_from("a1647368613131a10a" D32), -EBADMSG);	/* "sha11" */
	assert_int_equal(pcrs_from("a166736861323536a0"), -EBADMSG);		/* empty */
	assert_int_equal(pcrs_from("a166736861323536a10a" D32 "00"), -EBADMSG);	/* trailing */
	assert_int_equal(pcrs_from("a166736861323536bf0a" D32 "ff"), -EBADMSG);	/* indef */
}

static void test_kernel_workload_strict(void **state)
{
	struct bytes in = unhex(golden_kernel);
	struct katls_cmw_kernel k;
	struct bytes w = unhex(golden_workload);
	struct katls_cmw_workload wl;
	size_t at;

	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), 0);
	for (size_t n = 0; n < in.len; n++)
		assert_int_equal(katls_cmw_kernel_decode(in.b, n, &k), -EBADMSG);
	in.b[1] = 0x63;
	in.b[2] = 0x74;
	in.b[3] = 0x70;
	in.b[4] = 0x6e;			/* "tpn": unknown key in tpm's place */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	in.b[4] = 0x6d;
	in.b[5] = 0x01;			/* tpm as uint 1, not bool */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	in.b[5] = 0xf5;
	at = (size_t)((uint8_t *)memmem(in.b, in.len, "lockdown", 8) - in.b) + 8;
	in.b[at] = 0x03;		/* lockdown 3 */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	in.b[at] = 0x01;
	in.b[0] = 0xa8;			/* one key fewer than present */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	in.b[0] = 0xa9;
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), 0);
	at = (size_t)((uint8_t *)memmem(in.b, in.len, "taint", 5) - in.b) + 5;
	assert_int_equal(in.b[at], 0x00);
	in.b[at] = 0x1f;		/* reserved additional information 31 */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	in.b[at] = 0x1c;		/* reserved 28 */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	in.b[at] = 0x00;
	free(in.b);
	in = unhex(golden_kernel);
	in.b = realloc(in.b, in.len + 1);
	in.b[in.len++] = 0x00;		/* trailing byte */
	assert_int_equal(katls_cmw_kernel_decode(in.b, in.len, &k), -EBADMSG);
	free(in.b);

	assert_int_equal(katls_cmw_workload_decode(w.b, w.len, &wl), 0);
	assert_string_equal(wl.exe_path, "/usr/bin/curl");
	assert_int_equal(katls_cmw_workload_decode(w.b, w.len - 1, &wl), -EBADMSG);
	w.b = realloc(w.b, w.len + 1);
	w.b[w.len] = 0x00;
	assert_int_equal(katls_cmw_workload_decode(w.b, w.len + 1, &wl), -EBADMSG);
	at = (size_t)((uint8_t *)memmem(w.b, w.len, "/usr", 4) - w.b);
	w.b[at] = 0xc0;			/* overlong UTF-8 in exe-path */
	w.b[at + 1] = 0xaf;
	assert_int_equal(katls_cmw_workload_decode(w.b, w.len, &wl), -EBADMSG);
	w.b[at] = 0x00;			/* NUL in exe-path */
	w.b[at + 1] = 'u';
	assert_int_equal(katls_cmw_workload_decode(w.b, w.len, &wl), -EBADMSG);
	assert_string_equal(wl.exe_path, "");	/* output cleared on failure */
	free(w.b);
}

/* ---- generic CMW ------------------------------------------------------------------------ */

static int check_hex(const char *hex)
{
	struct bytes in = unhex(hex);
	int ret = katls_cmw_check(in.b, in.len);

	free(in.b);
	return ret;
}

static void test_generic_cmw(void **state)
{
	char deep[64] = "";

	assert_int_equal(check_hex(veraison_collection), 0);
	assert_int_equal(check_hex(golden_ev), 0);
	assert_int_equal(check_hex("8219fde7442347da55"), 0);		/* [64999, h'..'] */
	assert_int_equal(check_hex("da6374ffe6442347da55"), 0);		/* TN(64999) tag */
	assert_int_equal(check_hex("da6374ffe6442347da5500"), -EBADMSG);	/* trailing */
	assert_int_equal(check_hex("c1442347da55"), -EBADMSG);		/* tag 1 */
	assert_int_equal(check_hex("8119fde7"), -EBADMSG);		/* 1 element */
	assert_int_equal(check_hex("8319fde7442347da5500"), -EBADMSG);	/* ind 0 */
	assert_int_equal(check_hex("a0"), -EBADMSG);			/* empty collection */
	/* collections nested 9 deep */
	for (int i = 0; i < 9; i++)
		strcat(deep, "a101");
	strcat(deep, "8219fde7442347da55");
	assert_int_equal(check_hex(deep), -EBADMSG);
	assert_int_equal(check_hex(deep + 4), 0);			/* 8 deep */
}

/* ---- quote batching: the "batch" record ------------------------------------- */

/*
 * A batch proof rides as "batch", between "pcrs" and "quote" in the
 * deterministic key order, byte for byte as the test writer puts it; empty,
 * misplaced or with another media type it is refused.
 */
static void test_batch_record(void **state)
{
	static const uint8_t proof[] = { 1, 0, 2, 0, 1 };	/* any bytes: not parsed here */
	struct katls_buf enc = KATLS_BUF_INIT, want = KATLS_BUF_INIT;
	struct katls_evidence ev, back;
	struct coll c;

	fill_min_evidence(&ev);
	put(&ev.batch, proof, sizeof(proof));
	assert_int_equal(katls_cmw_encode(&ev, &enc), 0);
	base(&c);
	insert(&c, 3, (struct ent){ "batch", KATLS_MT_QUOTE_BATCH, proof, sizeof(proof), 4, 3 });
	write_coll(&c, &want);
	assert_same_buf(&enc, &want);
	assert_int_equal(katls_cmw_decode(enc.data, enc.len, &back), 0);
	assert_same_buf(&back.batch, &ev.batch);
	katls_cmw_cleanup(&back);
	c.e[3].len = 0;
	assert_int_equal(decode_coll(&c), -EBADMSG);
	c.e[3].len = sizeof(proof);
	c.e[3].media = KATLS_MT_QUOTE;
	assert_int_equal(decode_coll(&c), -EBADMSG);
	base(&c);		/* after "quote": out of order */
	insert(&c, 4, (struct ent){ "batch", KATLS_MT_QUOTE_BATCH, proof, sizeof(proof), 4, 3 });
	assert_int_equal(decode_coll(&c), -EBADMSG);
	katls_cmw_cleanup(&ev);
	katls_buf_cleanup(&enc);
	katls_buf_cleanup(&want);
}

/* ---- detached IMA log (ima_detach.h) ------------------------------------------- */

/* "ima-start" goes with exactly one of "ima" and a 40-byte "ima-digest", which sorts last. */
static void test_ima_digest_record(void **state)
{
	static const uint8_t start[8] = { 0 };
	uint8_t dig[KATLS_CMW_IMA_DIGEST_LEN];
	struct coll c;

	memset(dig, 0x5d, sizeof(dig));
	base(&c);
	insert(&c, 5, (struct ent){ "ima-start", KATLS_MT_IMA_START, start, 8, 4, 3 });
	insert(&c, 7, (struct ent){ "ima-digest", KATLS_MT_IMA_DIGEST, dig, sizeof(dig), 4, 3 });
	assert_int_equal(decode_coll(&c), 0);
	c.e[7].len = sizeof(dig) - 1;
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* not 40 bytes */
	c.e[7].len = sizeof(dig);
	c.e[7].media = KATLS_MT_IMA;
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* another media type */
	c.e[7].media = KATLS_MT_IMA_DIGEST;
	insert(&c, 2, (struct ent){ "ima", KATLS_MT_IMA, "log", 3, 4, 3 });
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* both the log and its digest */
	drop(&c, 2);
	drop(&c, 5);
	assert_string_equal(c.e[6].key, "ima-digest");
	assert_int_equal(decode_coll(&c), -EBADMSG);		/* a digest without ima-start */
	base(&c);		/* before "quote-sig": out of order */
	insert(&c, 5, (struct ent){ "ima-start", KATLS_MT_IMA_START, start, 8, 4, 3 });
	insert(&c, 6, (struct ent){ "ima-digest", KATLS_MT_IMA_DIGEST, dig, sizeof(dig), 4, 3 });
	assert_int_equal(decode_coll(&c), -EBADMSG);
}

/* Detach, split the frames off an answer, attach: the same Evidence as inline. */
static void test_ima_detach_round_trip(void **state)
{
	const size_t log_len = 3 * KATLS_IMA_FRAME_CHUNK + 17;	/* four frames */
	struct katls_buf cmw = KATLS_BUF_INIT, answer = KATLS_BUF_INIT, log = KATLS_BUF_INIT;
	struct katls_evidence ev, back;
	size_t frames, off;

	fill_full_evidence(&ev);
	katls_buf_cleanup(&ev.ima);
	assert_int_equal(katls_buf_reserve(&ev.ima, log_len), 0);
	for (size_t i = 0; i < log_len; i++)
		ev.ima.data[i] = (uint8_t)(i * 7);
	ev.ima.len = log_len;
	assert_int_equal(katls_cmw_encode(&ev, &cmw), 0);
	assert_int_equal(katls_ima_detach(&cmw, &answer), 1);
	assert_int_equal(answer.len, log_len + 4 * KATLS_FRAME_HDR_LEN);
	assert_true(cmw.len < 1024);
	put(&answer, "\x14\x00\x00\x01\xdd", 5);		/* what follows the frames */
	assert_int_equal(katls_ima_split(answer.data, answer.len, &log, &frames, &off), 0);
	assert_int_equal(frames, 4);
	assert_int_equal(off, answer.len - 5);
	assert_same_buf(&log, &ev.ima);

	assert_int_equal(katls_cmw_decode(cmw.data, cmw.len, &back), 0);
	assert_true(back.has_ima);
	assert_int_equal(back.ima.len, 0);
	assert_int_equal(back.ima_start, ev.ima_start);
	assert_int_equal(back.ima_digest.len, KATLS_CMW_IMA_DIGEST_LEN);
	/* a log one byte short, or with one byte changed, is not the one named */
	assert_int_equal(katls_ima_attach(&back, log.data, log.len - 1), -EBADMSG);
	log.data[log_len / 2] ^= 1;
	assert_int_equal(katls_ima_attach(&back, log.data, log.len), -EBADMSG);
	log.data[log_len / 2] ^= 1;
	assert_int_equal(katls_ima_attach(&back, log.data, log.len), 0);
	assert_same_buf(&back.ima, &ev.ima);
	assert_same_buf(&back.kernel, &ev.kernel);
	assert_same_buf(&back.workload, &ev.workload);
	/* attached once; Evidence without a digest takes no log */
	assert_int_equal(katls_ima_attach(&back, log.data, log.len), -EBADMSG);
	katls_cmw_cleanup(&back);
	katls_cmw_cleanup(&ev);

	/* Evidence without an IMA log has nothing to detach */
	fill_min_evidence(&ev);
	katls_buf_cleanup(&cmw);
	assert_int_equal(katls_cmw_encode(&ev, &cmw), 0);
	answer.len = 0;
	assert_int_equal(katls_ima_detach(&cmw, &answer), 0);
	assert_int_equal(answer.len, 0);
	assert_int_equal(katls_cmw_decode(cmw.data, cmw.len, &back), 0);
	assert_int_equal(katls_ima_attach(&back, NULL, 0), -EBADMSG);
	katls_cmw_cleanup(&back);
	katls_cmw_cleanup(&ev);
	katls_buf_cleanup(&cmw);
	katls_buf_cleanup(&answer);
	katls_buf_cleanup(&log);
}

static void test_ima_split_rejects(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT;
	size_t frames, off;

	/* an empty frame, a frame that runs past the end */
	assert_int_equal(katls_ima_split((const uint8_t *)"\xf2\x00\x00\x00", 4, &log, &frames,
					 &off), -EBADMSG);
	assert_int_equal(katls_ima_split((const uint8_t *)"\xf2\x00\x00\x02\x01", 5, &log,
					 &frames, &off), -EBADMSG);
	/* no frame at all: the authenticator starts at once */
	assert_int_equal(katls_ima_split((const uint8_t *)"\x14\x00\x00\x00", 4, &log, &frames,
					 &off), 0);
	assert_int_equal(frames, 0);
	assert_int_equal(off, 0);
	assert_int_equal(log.len, 0);
	katls_buf_cleanup(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_and_determinism),
		cmocka_unit_test(test_ima_digest_record),
		cmocka_unit_test(test_ima_detach_round_trip),
		cmocka_unit_test(test_ima_split_rejects),
		cmocka_unit_test(test_test_writer_matches_encoder),
		cmocka_unit_test(test_sub_encodings_golden),
		cmocka_unit_test(test_round_trip_full),
		cmocka_unit_test(test_encode_rejects_bad_evidence),
		cmocka_unit_test(test_reject_unknown_key),
		cmocka_unit_test(test_reject_duplicate_key),
		cmocka_unit_test(test_reject_unsorted_keys),
		cmocka_unit_test(test_reject_wrong_media_type),
		cmocka_unit_test(test_reject_ind),
		cmocka_unit_test(test_reject_record_arity),
		cmocka_unit_test(test_reject_missing_required),
		cmocka_unit_test(test_reject_wrong_cmwc_t),
		cmocka_unit_test(test_reject_indefinite_and_trailing),
		cmocka_unit_test(test_reject_non_shortest),
		cmocka_unit_test(test_reject_ima_pairing),
		cmocka_unit_test(test_reject_bad_parts),
		cmocka_unit_test(test_reject_truncation_and_size),
		cmocka_unit_test(test_pcrs_strict),
		cmocka_unit_test(test_kernel_workload_strict),
		cmocka_unit_test(test_generic_cmw),
		cmocka_unit_test(test_batch_record),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	katls_buf_cleanup(&pcrs_enc);
	return ret;
}
