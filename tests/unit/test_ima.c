// SPDX-License-Identifier: MIT
/*
 * IMA measurement lists: the published Keylime template-hash vectors of
 * PROTOCOL.md §5.4 (tests/vectors/ima/, rebuilt here into binary records by
 * hand, independently of the library's encoder), every template, violations,
 * replay-until-match, incremental replay, stale and tampered logs, malformed
 * records (truncation at every offset, bad fields, oversize lengths) and
 * appraisal against Keylime runtime policies.
 *
 * Expected PCR values are computed here with OpenSSL directly from the
 * stored template digests, never with the code under test.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "appraisal/ima.h"
#include "appraisal/policy.h"
#include "katls.h"
#include "testutil.h"
#include "util/buf.h"

/* ---- helpers --------------------------------------------------------------- */

static size_t unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n / 2;
}

static void put_field(struct katls_buf *b, const void *p, size_t n)
{
	assert_int_equal(katls_put_le32(b, (uint32_t)n), 0);
	assert_int_equal(katls_put_bytes(b, p, n), 0);
}

/* Hand-built record: header, then template data (with u32 length unless "ima"). */
static void put_record(struct katls_buf *b, uint32_t pcr, const uint8_t *digest, size_t dlen,
		       const char *tpl, const struct katls_buf *data)
{
	assert_int_equal(katls_put_le32(b, pcr), 0);
	assert_int_equal(katls_put_bytes(b, digest, dlen), 0);
	put_field(b, tpl, strlen(tpl));
	if (strcmp(tpl, "ima"))
		assert_int_equal(katls_put_le32(b, (uint32_t)data->len), 0);
	assert_int_equal(katls_put_bytes(b, data->data, data->len), 0);
}

static void put_dng(struct katls_buf *d, const char *alg, const uint8_t *dig, size_t n)
{
	assert_int_equal(katls_put_le32(d, (uint32_t)(strlen(alg) + 2 + n)), 0);
	assert_int_equal(katls_put_bytes(d, alg, strlen(alg)), 0);
	assert_int_equal(katls_put_bytes(d, ":", 2), 0);
	assert_int_equal(katls_put_bytes(d, dig, n), 0);
}

static void put_nng(struct katls_buf *d, const char *path)
{
	put_field(d, path, strlen(path) + 1);
}

static const EVP_MD *md_of(unsigned int alg)
{
	static const char *const names[] = { "SHA1", "SHA256", "SHA384", "SHA512" };

	return EVP_get_digestbyname(names[alg]);
}

static void hash(unsigned int alg, const void *a, size_t an, const void *b, size_t bn,
		 uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ctx);
	assert_true(EVP_DigestInit_ex(ctx, md_of(alg), NULL));
	assert_true(EVP_DigestUpdate(ctx, a, an));
	if (bn)
		assert_true(EVP_DigestUpdate(ctx, b, bn));
	assert_true(EVP_DigestFinal_ex(ctx, out, NULL));
	EVP_MD_CTX_free(ctx);
}

/* pcr = H(pcr || v) */
static void extend(unsigned int alg, uint8_t *pcr, const uint8_t *v)
{
	size_t n = (size_t)EVP_MD_get_size(md_of(alg));

	hash(alg, pcr, n, v, n, pcr);
}

/* ---- Keylime ASCII vectors -> binary records --------------------------------- */

struct ascii {
	uint32_t pcr;
	uint8_t thash[20];
	char tpl[16];
	char alg[16];
	uint8_t dig[64];
	size_t dig_len;
	char path[512];
	uint8_t extra[2048];
	size_t extra_len;
};

static void parse_ascii(char *line, struct ascii *a)
{
	char *tok[5] = { 0 }, *colon;
	int n = 0;

	memset(a, 0, sizeof(*a));
	line[strcspn(line, "\n")] = '\0';
	for (char *p = line; n < 5 && p; n++) {
		tok[n] = p;
		p = strchr(p, ' ');
		if (p && n < 4)
			*p++ = '\0';
		else if (p && n == 4)
			p = NULL;
	}
	assert_true(n >= 5);
	a->pcr = (uint32_t)atoi(tok[0]);
	assert_int_equal(strlen(tok[1]), 40);
	unhex(tok[1], 40, a->thash);
	snprintf(a->tpl, sizeof(a->tpl), "%s", tok[2]);
	colon = strchr(tok[3], ':');
	if (colon) {
		*colon = '\0';
		snprintf(a->alg, sizeof(a->alg), "%s", tok[3]);
		a->dig_len = unhex(colon + 1, strlen(colon + 1), a->dig);
	} else {
		a->dig_len = unhex(tok[3], strlen(tok[3]), a->dig);
	}
	/* tok[4] = path [' ' hex] (paths in the vectors have no spaces) */
	colon = strchr(tok[4], ' ');
	if (colon) {
		*colon = '\0';
		a->extra_len = unhex(colon + 1, strlen(colon + 1), a->extra);
	}
	snprintf(a->path, sizeof(a->path), "%s", tok[4]);
}

/* The binary_runtime_measurements (SHA-1 file) record of an ASCII entry. */
static void build_binary(const struct ascii *a, struct katls_buf *out)
{
	struct katls_buf d = KATLS_BUF_INIT;

	if (!strcmp(a->tpl, "ima")) {
		assert_int_equal(katls_put_bytes(&d, a->dig, 20), 0);
		put_field(&d, a->path, strlen(a->path));
	} else {
		put_dng(&d, a->alg, a->dig, a->dig_len);
		put_nng(&d, a->path);
		if (!strcmp(a->tpl, "ima-sig") || !strcmp(a->tpl, "ima-buf"))
			put_field(&d, a->extra, a->extra_len);
	}
	put_record(out, a->pcr, a->thash, 20, a->tpl, &d);
	katls_buf_cleanup(&d);
}

static size_t for_each_vector(const char *file,
			      void (*fn)(const struct ascii *a, void *arg), void *arg)
{
	FILE *f = fopen(vector_path(file), "r");
	char line[4096];
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct ascii a;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		parse_ascii(line, &a);
		fn(&a, arg);
		n++;
	}
	fclose(f);
	return n;
}

static const uint8_t zero20[20];

static void check_vector(const struct ascii *a, void *arg)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	struct katls_ima_replay r;
	uint8_t got[20];
	char msg[256] = "";
	size_t *num_reproduced = arg;

	build_binary(a, &b);
	katls_ima_iter_init(&it, b.data, b.len, 20, 7);
	assert_int_equal(katls_ima_iter_next(&it, &rec, msg, sizeof(msg)), 1);
	assert_int_equal(katls_ima_iter_next(&it, &rec, msg, sizeof(msg)), 0);
	/* it.index advanced; rec still holds the record */
	assert_int_equal(rec.index, 7);
	assert_int_equal(rec.pcr, a->pcr);
	assert_string_equal(katls_ima_template_name(rec.tpl), a->tpl);
	assert_int_equal(rec.path_len, strlen(a->path));
	assert_memory_equal(rec.path, a->path, rec.path_len);
	assert_int_equal(rec.file_digest_len, a->dig_len);
	assert_memory_equal(rec.file_digest, a->dig, a->dig_len);
	assert_int_equal(rec.sig_len + rec.buf_len, a->extra_len);
	if (!memcmp(a->thash, zero20, 20)) {
		assert_true(rec.violation);
	} else {
		assert_false(rec.violation);
		assert_int_equal(katls_ima_template_digest(&rec, KATLS_IMA_SHA1, got), 0);
		assert_memory_equal(got, a->thash, 20);
		(*num_reproduced)++;
	}
	/* The replay's own check agrees: the stored (published) digest matches. */
	assert_int_equal(katls_ima_replay_init(&r, KATLS_IMA_SHA1, 20), 0);
	assert_int_equal(katls_ima_replay_extend(&r, &rec, msg, sizeof(msg)), 0);
	katls_ima_replay_cleanup(&r);
	katls_buf_cleanup(&b);
}

static void test_keylime_vectors_reproduce(void **state)
{
	static const char *const files[] = {
		"ima/keylime-ima-log-sha1.txt", "ima/keylime-ima-log-sha256.txt",
		"ima/keylime-ima-log-sha384.txt", "ima/keylime-ima-log-sha512.txt",
		"ima/keylime-entries.txt",
	};
	size_t lines = 0, reproduced = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		lines += for_each_vector(files[i], check_vector, &reproduced);
	assert_int_equal(lines, 20);
	assert_int_equal(reproduced, 17);	/* three all-zero boot_aggregates */
}

/* PROTOCOL.md §5.4: the two ima-log-sha256 entries, byte-exact and replayed. */
static void test_keylime_sha256_log_replays(void **state)
{
	static const char boot[] = "f4845392eca429a4c941a6a07fc32faf843a88c5c3dfa3b9329ab8f4171d9ce3";
	static const char data[] = "96d7fae8adb7286a419a88f78c13d35fb782d63df654b7db56f154765698b754";
	static const char t1[] = "6309e2c83b7814367bb3912a55e5473454623535";
	static const char t2[] = "80255d9c7dad91ef5f21b18560a47642d6f4d653";
	struct katls_buf log = KATLS_BUF_INIT, enc = KATLS_BUF_INIT, d = KATLS_BUF_INIT;
	uint8_t bd[32], dd[32], h1[20], h2[20], pcr[20] = { 0 };
	struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
				     .file_digest_len = 32 };
	struct katls_ima_verify_in in = { .digest_size = 20, .bank = KATLS_IMA_SHA1,
					  .pcr_index = 10 };
	struct katls_ima_verify_out out;

	unhex(boot, 64, bd);
	unhex(data, 64, dd);
	unhex(t1, 40, h1);
	unhex(t2, 40, h2);
	put_dng(&d, "sha256", bd, 32);
	put_nng(&d, "boot_aggregate");
	assert_int_equal(d.len, 63);		/* template_data sizes of PROTOCOL.md */
	put_record(&log, 10, h1, 20, "ima-ng", &d);
	d.len = 0;
	put_dng(&d, "sha256", dd, 32);
	put_nng(&d, "/data");
	assert_int_equal(d.len, 54);
	put_record(&log, 10, h2, 20, "ima-ng", &d);

	/* The library's encoder produces the same bytes. */
	e.file_digest = bd;
	e.path = "boot_aggregate";
	assert_int_equal(katls_ima_record_encode(&enc, &e, 20), 0);
	e.file_digest = dd;
	e.path = "/data";
	assert_int_equal(katls_ima_record_encode(&enc, &e, 20), 0);
	assert_int_equal(enc.len, log.len);
	assert_memory_equal(enc.data, log.data, log.len);

	extend(KATLS_IMA_SHA1, pcr, h1);
	extend(KATLS_IMA_SHA1, pcr, h2);
	in.log = log.data;
	in.log_len = log.len;
	in.quoted_pcr = pcr;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_int_equal(out.reason, KATLS_R_OK);
	assert_int_equal(out.num_records, 2);
	assert_int_equal(out.num_covered, 2);
	assert_int_equal(out.next_index, 2);
	assert_memory_equal(out.pcr, pcr, 20);

	katls_buf_cleanup(&log);
	katls_buf_cleanup(&enc);
	katls_buf_cleanup(&d);
}

/* ---- synthetic logs ------------------------------------------------------------ */

struct synth {
	struct katls_buf log;
	size_t offsets[65];		/* record start offsets, [n] = end */
	uint8_t digests[64][KATLS_IMA_MAX_DIGEST];	/* file digests */
	size_t n;
	size_t dsize;
};

static void synth_path(char *out, size_t len, size_t i)
{
	snprintf(out, len, "/usr/bin/synth%zu", i);
}

/* n ima-ng entries of SHA-256 file digests, D = dsize. */
static void synth_build(struct synth *s, size_t n, size_t dsize)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->dsize = dsize;
	assert_true(n < 64);
	for (size_t i = 0; i < n; i++) {
		char path[64];
		struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG,
					     .hash_name = "sha256", .file_digest_len = 32,
					     .path = path };

		synth_path(path, sizeof(path), i);
		hash(KATLS_IMA_SHA256, path, strlen(path), NULL, 0, s->digests[i]);
		e.file_digest = s->digests[i];
		s->offsets[i] = s->log.len;
		assert_int_equal(katls_ima_record_encode(&s->log, &e, dsize), 0);
	}
	s->offsets[n] = s->log.len;
}

/* Template data of record i as the file stores it (after its u32 length). */
static void synth_data(const struct synth *s, size_t i, const uint8_t **p, size_t *len)
{
	const uint8_t *rec = s->log.data + s->offsets[i];
	size_t off = 4 + s->dsize + 4 + 6;	/* pcr, digest, "ima-ng" */

	*len = (size_t)rec[off] | (size_t)rec[off + 1] << 8;
	*p = rec + off + 4;
}

/* PCR of @alg after records [from, to), starting at @pcr. */
static void synth_pcr(const struct synth *s, unsigned int alg, size_t from, size_t to,
		      uint8_t *pcr)
{
	for (size_t i = from; i < to; i++) {
		uint8_t v[KATLS_IMA_MAX_DIGEST];
		const uint8_t *data;
		size_t len;

		synth_data(s, i, &data, &len);
		hash(alg, data, len, NULL, 0, v);
		extend(alg, pcr, v);
	}
}

static void synth_in(const struct synth *s, struct katls_ima_verify_in *in, unsigned int bank)
{
	memset(in, 0, sizeof(*in));
	in->log = s->log.data;
	in->log_len = s->log.len;
	in->digest_size = s->dsize;
	in->bank = bank;
	in->pcr_index = KATLS_IMA_PCR;
}

static void test_replay_until_match(void **state)
{
	struct synth s;
	struct katls_ima_verify_in in;
	struct katls_ima_verify_out out;

	synth_build(&s, 10, 32);
	for (size_t k = 0; k <= 10; k++) {
		uint8_t pcr[32] = { 0 };

		synth_pcr(&s, KATLS_IMA_SHA256, 0, 10 - k, pcr);
		synth_in(&s, &in, KATLS_IMA_SHA256);
		in.quoted_pcr = pcr;
		assert_int_equal(katls_ima_verify(&in, &out), 0);
		assert_int_equal(out.num_records, 10);
		assert_int_equal(out.num_covered, 10 - k);
		assert_int_equal(out.next_index, 10 - k);
		assert_memory_equal(out.pcr, pcr, 32);
	}
	katls_buf_cleanup(&s.log);
}

static void test_incremental_replay(void **state)
{
	struct synth s;
	struct katls_ima_verify_in in;
	struct katls_ima_verify_out out;
	uint8_t start[32] = { 0 }, quoted[32];

	synth_build(&s, 10, 32);
	synth_pcr(&s, KATLS_IMA_SHA256, 0, 4, start);
	memcpy(quoted, start, 32);
	synth_pcr(&s, KATLS_IMA_SHA256, 4, 9, quoted);
	synth_in(&s, &in, KATLS_IMA_SHA256);
	in.log = s.log.data + s.offsets[4];
	in.log_len = s.log.len - s.offsets[4];
	in.start_index = 4;
	in.start_pcr = start;
	in.quoted_pcr = quoted;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_int_equal(out.num_records, 6);
	assert_int_equal(out.num_covered, 5);
	assert_int_equal(out.next_index, 9);

	/* Nothing new since the last verdict: quote == start, N = 0. */
	in.quoted_pcr = start;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_int_equal(out.num_covered, 0);
	assert_int_equal(out.next_index, 4);

	/* A start index without a starting PCR value is a caller bug. */
	in.start_pcr = NULL;
	assert_int_equal(katls_ima_verify(&in, &out), -EINVAL);

	/* Wrong starting value: nothing matches. */
	in.start_pcr = quoted;
	in.quoted_pcr = start;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	katls_buf_cleanup(&s.log);
}

static void test_stale_log_is_rejected(void **state)
{
	struct synth s, longer;
	struct katls_ima_verify_in in;
	struct katls_ima_verify_out out;
	uint8_t pcr[32] = { 0 };

	synth_build(&s, 5, 32);
	synth_build(&longer, 6, 32);
	synth_pcr(&longer, KATLS_IMA_SHA256, 0, 6, pcr);	/* quote ahead of the log */
	synth_in(&s, &in, KATLS_IMA_SHA256);
	in.quoted_pcr = pcr;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_non_null(strstr(out.msg, "do not replay to the quoted PCR 10"));
	assert_int_equal(out.num_records, 5);
	katls_buf_cleanup(&s.log);
	katls_buf_cleanup(&longer.log);
}

static void test_tampered_record_is_rejected(void **state)
{
	struct katls_ima_verify_in in;
	struct katls_ima_verify_out out;
	uint8_t pcr[32] = { 0 };
	struct synth s;
	uint8_t *path;

	synth_build(&s, 6, 32);
	synth_pcr(&s, KATLS_IMA_SHA256, 0, 6, pcr);
	synth_in(&s, &in, KATLS_IMA_SHA256);
	in.quoted_pcr = pcr;

	/* Changed path, stored digest kept: recomputation catches it. */
	path = memmem(s.log.data + s.offsets[3], s.offsets[4] - s.offsets[3], "synth3", 6);
	assert_non_null(path);
	path[5] = '9';
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_int_equal(out.fail_index, 3);
	assert_non_null(strstr(out.msg, "IMA entry 3 /usr/bin/synth9: stored template digest"));
	assert_non_null(strstr(out.msg, "does not match recomputed"));
	path[5] = '3';
	assert_int_equal(katls_ima_verify(&in, &out), 0);

	/* Changed stored digest. */
	s.log.data[s.offsets[2] + 4] ^= 1;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.fail_index, 2);
	katls_buf_cleanup(&s.log);
}

/* D = 20 (SHA-1 file) replayed into SHA-256, SHA-384 and SHA-512 banks. */
static void test_banks_and_digest_sizes(void **state)
{
	static const size_t sizes[] = { 20, 32, 48, 64 };

	for (size_t si = 0; si < 4; si++) {
		struct synth s;

		synth_build(&s, 5, sizes[si]);
		for (unsigned int bank = 0; bank < KATLS_IMA_NUM_HASHES; bank++) {
			struct katls_ima_verify_in in;
			struct katls_ima_verify_out out;
			uint8_t pcr[64] = { 0 };

			synth_pcr(&s, bank, 0, 5, pcr);
			synth_in(&s, &in, bank);
			in.quoted_pcr = pcr;
			assert_int_equal(katls_ima_verify(&in, &out), 0);
			assert_int_equal(out.num_covered, 5);
			/* a stored digest of size D is checked even if D != bank size */
			s.log.data[s.offsets[1] + 4 + sizes[si] - 1] ^= 0x80;
			assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
			assert_int_equal(out.fail_index, 1);
			s.log.data[s.offsets[1] + 4 + sizes[si] - 1] ^= 0x80;
		}
		katls_buf_cleanup(&s.log);
	}
}

static void test_violation_extends_ff(void **state)
{
	static const uint8_t zero32[32];
	struct katls_buf log = KATLS_BUF_INIT;
	struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
				     .file_digest = zero32, .file_digest_len = 32,
				     .path = "/var/log/syslog", .violation = true };
	struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = 10 };
	struct katls_ima_verify_out out;
	uint8_t pcr[32] = { 0 }, ff[32];

	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	/* Older kernels: "sha1:" + 20 zero bytes in a violation's d-ng. */
	e.hash_name = "sha1";
	e.file_digest_len = 20;
	e.path = "/tmp/x";
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	memset(ff, 0xff, sizeof(ff));
	extend(KATLS_IMA_SHA256, pcr, ff);
	extend(KATLS_IMA_SHA256, pcr, ff);
	in.log = log.data;
	in.log_len = log.len;
	in.quoted_pcr = pcr;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_int_equal(out.num_violations, 2);
	assert_int_equal(out.num_covered, 2);

	/* Treating the zero digest as a normal digest gives another PCR. */
	memset(pcr, 0, sizeof(pcr));
	extend(KATLS_IMA_SHA256, pcr, zero32);
	extend(KATLS_IMA_SHA256, pcr, zero32);
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	katls_buf_cleanup(&log);
}

static void test_every_template_roundtrips(void **state)
{
	static const uint8_t sig[] = { 3, 2, 4, 0xaa, 0xbb, 0xcc, 0xdd, 0, 3, 1, 2, 3 };
	uint8_t dig[32], d20[20];
	struct katls_buf log = KATLS_BUF_INIT;
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	struct katls_ima_replay r;
	char msg[256];

	memset(dig, 0x5a, sizeof(dig));
	memset(d20, 0x17, sizeof(d20));
	for (unsigned int t = 0; t < KATLS_IMA_NUM_TEMPLATES; t++) {
		struct katls_ima_entry e = { .pcr = 10, .tpl = t, .hash_name = "sha256",
					     .file_digest = t ? dig : d20,
					     .file_digest_len = t ? 32 : 20,
					     .digest_type = "verity", .path = "/usr/lib/x.so",
					     .extra = sig, .extra_len = sizeof(sig) };

		assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	}
	assert_int_equal(katls_ima_replay_init(&r, KATLS_IMA_SHA256, 32), 0);
	katls_ima_iter_init(&it, log.data, log.len, 32, 0);
	for (unsigned int t = 0; t < KATLS_IMA_NUM_TEMPLATES; t++) {
		bool has_sig = t == KATLS_IMA_TPL_SIG || t == KATLS_IMA_TPL_SIGV2 ||
			       t == KATLS_IMA_TPL_MODSIG;

		assert_int_equal(katls_ima_iter_next(&it, &rec, msg, sizeof(msg)), 1);
		assert_int_equal(rec.tpl, t);
		assert_int_equal(rec.path_len, 13);
		assert_memory_equal(rec.path, "/usr/lib/x.so", 13);
		assert_int_equal(rec.path_terminated, t != KATLS_IMA_TPL_IMA);
		assert_int_equal(rec.file_digest_len, t ? 32 : 20);
		assert_int_equal(rec.hash, t ? KATLS_IMA_SHA256 : KATLS_IMA_SHA1);
		assert_int_equal(rec.sig_len, has_sig ? sizeof(sig) : 0);
		assert_int_equal(rec.buf_len, t == KATLS_IMA_TPL_BUF ? sizeof(sig) : 0);
		if (t == KATLS_IMA_TPL_SIGV2 || t == KATLS_IMA_TPL_NGV2) {
			assert_int_equal(rec.digest_type_len, 6);
			assert_memory_equal(rec.digest_type, "verity", 6);
		} else {
			assert_null(rec.digest_type);
		}
		if (t == KATLS_IMA_TPL_IMA)
			assert_int_equal(rec.data_len, 20 + 4 + 13);
		assert_int_equal(katls_ima_replay_extend(&r, &rec, msg, sizeof(msg)), 0);
	}
	assert_int_equal(katls_ima_iter_next(&it, &rec, msg, sizeof(msg)), 0);
	assert_int_equal(r.num_extends[10], KATLS_IMA_NUM_TEMPLATES);
	katls_ima_replay_cleanup(&r);
	katls_buf_cleanup(&log);
}

/* ---- malformed records ------------------------------------------------------------ */

static int parse_one(const struct katls_buf *b, size_t dsize, char *msg, size_t msg_len)
{
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	int ret;

	katls_ima_iter_init(&it, b->data, b->len, dsize, 0);
	msg[0] = '\0';
	ret = katls_ima_iter_next(&it, &rec, msg, msg_len);
	if (ret == 1)
		ret = katls_ima_iter_next(&it, &rec, msg, msg_len);
	return ret;
}

static void test_truncation_at_every_offset(void **state)
{
	static const uint8_t sig[] = { 3, 2, 4, 1, 2, 3, 4, 0, 2, 0xee, 0xff };
	struct katls_buf log = KATLS_BUF_INIT;
	uint8_t dig[32] = { 1 };
	size_t ends[4] = { 0 };
	struct katls_ima_entry e[] = {
		{ .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
		  .file_digest = dig, .file_digest_len = 32, .path = "/a" },
		{ .pcr = 10, .tpl = KATLS_IMA_TPL_SIG, .hash_name = "sha256",
		  .file_digest = dig, .file_digest_len = 32, .path = "/bb",
		  .extra = sig, .extra_len = sizeof(sig) },
		{ .pcr = 10, .tpl = KATLS_IMA_TPL_IMA, .file_digest = dig,
		  .file_digest_len = 20, .path = "/ccc" },
	};

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(katls_ima_record_encode(&log, &e[i], 32), 0);
		ends[i + 1] = log.len;
	}
	for (size_t cut = 0; cut <= log.len; cut++) {
		struct katls_ima_verify_in in = { .log = log.data, .log_len = cut,
						  .digest_size = 32,
						  .bank = KATLS_IMA_SHA256, .pcr_index = 10 };
		struct katls_ima_verify_out out;
		size_t whole = 0;
		int ret = katls_ima_verify(&in, &out);

		while (whole < 3 && ends[whole + 1] <= cut)
			whole++;
		if (cut == ends[whole]) {
			assert_int_equal(ret, 0);
			assert_int_equal(out.num_records, whole);
		} else {
			assert_int_equal(ret, -EBADMSG);
			assert_int_equal(out.reason, KATLS_R_EVIDENCE_MALFORMED);
			assert_int_equal(out.fail_index, whole);
			assert_non_null(strstr(out.msg, "truncated"));
		}
	}
	katls_buf_cleanup(&log);
}

/* One hand-built ima-ng-like record with the given fields. */
static void bad_record(struct katls_buf *b, uint32_t pcr, const char *tpl,
		       const struct katls_buf *data)
{
	uint8_t digest[32];

	memset(digest, 0x42, sizeof(digest));
	b->len = 0;
	put_record(b, pcr, digest, sizeof(digest), tpl, data);
}

static void expect_reject(const struct katls_buf *b, int err, const char *needle)
{
	char msg[512];

	assert_int_equal(parse_one(b, 32, msg, sizeof(msg)), err);
	if (!strstr(msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

static void test_bad_fields_are_rejected(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT, d = KATLS_BUF_INIT;
	uint8_t dig[65] = { 7 }, big[4200];

	memset(big, 'a', sizeof(big));
	/* Baseline: a good record parses. */
	put_dng(&d, "sha256", dig, 32);
	put_nng(&d, "/ok");
	bad_record(&b, 10, "ima-ng", &d);
	assert_int_equal(parse_one(&b, 32, (char[64]){ 0 }, 64), 0);

	bad_record(&b, 10, "evm-sig", &d);
	expect_reject(&b, -EOPNOTSUPP, "unknown IMA template \"evm-sig\"");
	bad_record(&b, 24, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "PCR 24 out of range");
	bad_record(&b, 10, "ima-ng-and-more!", &d);	/* 16 > IMA_TEMPLATE_NAME_LEN_MAX */
	expect_reject(&b, -EBADMSG, "template name length 16");

	/* n-ng without its NUL, with an inner NUL, oversize */
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_field(&d, "/no-nul", 7);
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "n-ng field is not one NUL-terminated string");
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_field(&d, "/a\0b", 5);
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "n-ng field is not one NUL-terminated string");
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	big[4097] = '\0';
	put_field(&d, big, 4098);
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "n-ng field of 4098 bytes");
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	big[4096] = '\0';
	put_field(&d, big, 4097);		/* the largest allowed */
	bad_record(&b, 10, "ima-ng", &d);
	assert_int_equal(parse_one(&b, 32, (char[64]){ 0 }, 64), 0);

	/* d-ng: wrong digest size for its algorithm, too long, no prefix */
	d.len = 0;
	put_dng(&d, "sha256", dig, 20);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "d-ng sha256 digest has 20 bytes, expected 32");
	d.len = 0;
	put_dng(&d, "foo", dig, 65);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "too long");
	d.len = 0;
	put_field(&d, dig, 32);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "prefix");
	d.len = 0;
	put_dng(&d, "Sha 256", dig, 32);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "hash algorithm name is malformed");
	/* d-ngv2 needs ima: or verity: */
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-ngv2", &d);
	expect_reject(&b, -EBADMSG, "d-ngv2 digest type");

	/* sig: length disagrees with its header; unknown type */
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_nng(&d, "/x");
	put_field(&d, "\x03\x02\x04\x01\x02\x03\x04\x00\x05" "abc", 12);
	bad_record(&b, 10, "ima-sig", &d);
	expect_reject(&b, -EBADMSG, "sig field length 12 != header 9 + 5");
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_nng(&d, "/x");
	put_field(&d, "\x09\x02\x04\x01\x02\x03\x04\x00\x00", 9);
	bad_record(&b, 10, "ima-sig", &d);
	expect_reject(&b, -EBADMSG, "unknown type 9");

	/* missing field, extra trailing bytes, field length past the data */
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-sig", &d);
	expect_reject(&b, -EBADMSG, "ima-sig field 3 truncated");
	assert_int_equal(katls_put_bytes(&d, "\0\0\0\0zz", 6), 0);
	bad_record(&b, 10, "ima-sig", &d);
	expect_reject(&b, -EBADMSG, "2 trailing bytes in template data");
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	assert_int_equal(katls_put_le32(&d, 1000), 0);
	bad_record(&b, 10, "ima-ng", &d);
	expect_reject(&b, -EBADMSG, "field 2 truncated");

	/* template "ima": name over 255 bytes, inner NUL */
	d.len = 0;
	assert_int_equal(katls_put_bytes(&d, dig, 20), 0);
	put_field(&d, big, 256);
	bad_record(&b, 10, "ima", &d);
	expect_reject(&b, -EBADMSG, "ima template name of 256 bytes");
	d.len = 0;
	assert_int_equal(katls_put_bytes(&d, dig, 20), 0);
	put_field(&d, "a\0b", 3);
	bad_record(&b, 10, "ima", &d);
	expect_reject(&b, -EBADMSG, "contains NUL");

	/* template data length above the cap, and longer than the buffer */
	b.len = 0;
	assert_int_equal(katls_put_le32(&b, 10), 0);
	assert_int_equal(katls_put_bytes(&b, dig, 32), 0);
	put_field(&b, "ima-ng", 6);
	assert_int_equal(katls_put_le32(&b, KATLS_IMA_MAX_DATA + 1), 0);
	expect_reject(&b, -EBADMSG, "too large");
	b.len -= 4;
	assert_int_equal(katls_put_le32(&b, 0xffffffff), 0);
	expect_reject(&b, -EBADMSG, "too large");
	b.len -= 4;
	assert_int_equal(katls_put_le32(&b, 100), 0);
	assert_int_equal(katls_put_bytes(&b, dig, 10), 0);
	expect_reject(&b, -EBADMSG, "template data truncated (100 bytes, 10 left)");

	/* Unsupported digest size */
	d.len = 0;
	put_dng(&d, "sha256", dig, 32);
	put_nng(&d, "/x");
	bad_record(&b, 10, "ima-ng", &d);
	{
		char msg[128];

		assert_int_equal(parse_one(&b, 31, msg, sizeof(msg)), -EINVAL);
	}
	katls_buf_cleanup(&b);
	katls_buf_cleanup(&d);
}

static void test_other_pcrs(void **state)
{
	struct katls_buf log = KATLS_BUF_INIT;
	uint8_t dig[32] = { 9 }, pcr10[32] = { 0 };
	struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
				     .file_digest = dig, .file_digest_len = 32, .path = "/a" };
	struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = 10 };
	struct katls_ima_verify_out out;
	struct katls_ima_replay r;
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	char msg[256];

	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.pcr = 11;
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	in.log = log.data;
	in.log_len = log.len;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_non_null(strstr(out.msg, "IMA entry 1 extends PCR 11, not the IMA PCR 10"));
	in.flags = KATLS_IMA_OTHER_PCRS;
	assert_int_equal(katls_ima_verify(&in, &out), 0);

	/* The low-level replay keeps one value per PCR. */
	assert_int_equal(katls_ima_replay_init(&r, KATLS_IMA_SHA256, 32), 0);
	katls_ima_iter_init(&it, log.data, log.len, 32, 0);
	while (katls_ima_iter_next(&it, &rec, msg, sizeof(msg)) == 1)
		assert_int_equal(katls_ima_replay_extend(&r, &rec, msg, sizeof(msg)), 0);
	assert_int_equal(r.num_extends[10], 1);
	assert_int_equal(r.num_extends[11], 1);
	assert_memory_equal(r.pcr[10], r.pcr[11], 32);	/* same template data */
	assert_memory_not_equal(r.pcr[10], pcr10, 32);
	katls_ima_replay_cleanup(&r);
	katls_buf_cleanup(&log);
}

/* A log whose entry 0 is @e (boot_aggregate or not) followed by /usr/bin/x. */
static int verify_boot(struct katls_ima_entry *e, const uint8_t want[32], const uint8_t *quoted,
		       struct katls_ima_verify_out *out)
{
	static const uint8_t x[32] = { 1 };
	struct katls_ima_entry next = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
					.file_digest = x, .file_digest_len = 32,
					.path = "/usr/bin/x" };
	struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = 10, .boot_aggregate = want,
					  .boot_aggregate_len = 32, .quoted_pcr = quoted };
	struct katls_buf log = KATLS_BUF_INIT;
	int ret;

	if (e) {
		assert_int_equal(katls_ima_record_encode(&log, e, 32), 0);
		assert_int_equal(katls_ima_record_encode(&log, &next, 32), 0);
	}
	in.log = log.data;
	in.log_len = log.len;
	ret = katls_ima_verify(&in, out);
	if (ret)
		print_message("    refused: %s\n", out->msg);
	katls_buf_cleanup(&log);
	return ret;
}

/*
 * Entry 0 ties the log to the measured boot.  Guards each condition of
 * ima.c check_boot_aggregate() and finish(): the value, the algorithm and
 * size (a SHA-1 boot_aggregate is over PCRs nobody quoted), the name, a
 * violation record, and a quote that covers no entry (empty log, or PCR 10
 * at its reset value).
 */
static void test_boot_aggregate(void **state)
{
	static const uint8_t zero_pcr[32];
	uint8_t pcrs[10 * 32], want[32], got[32], sha1[20];
	struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
				     .file_digest = got, .file_digest_len = 32,
				     .path = "boot_aggregate" };
	struct katls_ima_verify_out out;

	for (size_t i = 0; i < sizeof(pcrs); i++)
		pcrs[i] = (uint8_t)i;
	hash(KATLS_IMA_SHA256, pcrs, sizeof(pcrs), NULL, 0, want);
	assert_int_equal(katls_ima_boot_aggregate(KATLS_IMA_SHA256, pcrs, 10, got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(verify_boot(&e, want, NULL, &out), 0);
	assert_int_equal(out.num_covered, 2);

	/* another boot */
	want[0] ^= 1;
	assert_int_equal(verify_boot(&e, want, NULL, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_int_equal(out.fail_index, 0);
	assert_non_null(strstr(out.msg, "IMA boot_aggregate: entry 0 (boot_aggregate) does not "
				"match the quoted boot PCRs 0-9"));
	want[0] ^= 1;

	/* a SHA-1 boot_aggregate (ima_hash=sha1: SHA-1 bank, PCRs 0-7) is refused */
	hash(KATLS_IMA_SHA1, pcrs, 8 * 20, NULL, 0, sha1);
	e.hash_name = "sha1";
	e.file_digest = sha1;
	e.file_digest_len = 20;
	assert_int_equal(verify_boot(&e, want, NULL, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_non_null(strstr(out.msg, "is a sha1 digest of 20 bytes, the quoted PCRs are the "
				"sha256 bank"));
	/* ... and so is a sha512 one whose first 32 bytes are the right value */
	{
		uint8_t big[64] = { 0 };

		memcpy(big, want, 32);
		e.hash_name = "sha512";
		e.file_digest = big;
		e.file_digest_len = 64;
		assert_int_equal(verify_boot(&e, want, NULL, &out), -EACCES);
		assert_non_null(strstr(out.msg, "is a sha512 digest of 64 bytes"));
	}
	e.hash_name = "sha256";
	e.file_digest = want;
	e.file_digest_len = 32;

	/* entry 0 is not boot_aggregate */
	e.path = "/usr/bin/early";
	assert_int_equal(verify_boot(&e, want, NULL, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_non_null(strstr(out.msg, "entry 0 (/usr/bin/early) is not boot_aggregate"));
	e.path = "boot_aggregate";

	/* a violation record named boot_aggregate: its fields are covered by nothing */
	e.violation = true;
	assert_int_equal(verify_boot(&e, want, NULL, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_non_null(strstr(out.msg, "is a violation record"));
	e.violation = false;

	/* an empty log, with the quoted PCR 10 at its reset value */
	assert_int_equal(verify_boot(NULL, want, zero_pcr, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_REPLAY);
	assert_non_null(strstr(out.msg, "the quote covers none of the 0 log entries"));
	/* a good log the quote does not cover yet (PCR 10 still zero) */
	assert_int_equal(verify_boot(&e, want, zero_pcr, &out), -EACCES);
	assert_non_null(strstr(out.msg, "the quote covers none of the 2 log entries"));

	/* without an expected boot_aggregate (a replay not tied to a boot) none of this applies */
	{
		struct katls_buf log = KATLS_BUF_INIT;
		struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
						  .pcr_index = 10 };

		e.path = "/usr/bin/early";
		assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
		in.log = log.data;
		in.log_len = log.len;
		assert_int_equal(katls_ima_verify(&in, &out), 0);
		/* ... and an expectation needs a whole log of the bank's size */
		in.boot_aggregate = want;
		in.boot_aggregate_len = 20;
		assert_int_equal(katls_ima_verify(&in, &out), -EINVAL);
		in.boot_aggregate_len = 32;
		in.start_index = 3;
		in.start_pcr = zero_pcr;
		assert_int_equal(katls_ima_verify(&in, &out), -EINVAL);
		katls_buf_cleanup(&log);
	}
}

/*
 * katls_ima_find_measurement(): only an entry the quote covers, of the IMA
 * PCR, not a violation nor a buffer, with the same path and digest counts.
 */
static void test_find_measurement(void **state)
{
	static const uint8_t d[32] = { 0xd }, other[32] = { 0xe };
	struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
				     .file_digest = d, .file_digest_len = 32, .path = "/bin/app" };
	struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = 10 };
	struct katls_buf log = KATLS_BUF_INIT;
	uint32_t idx = 99;

	e.violation = true;					/* 0: violation */
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.violation = false;
	e.tpl = KATLS_IMA_TPL_BUF;				/* 1: a buffer */
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.tpl = KATLS_IMA_TPL_NG;
	e.path = "/bin/app2";					/* 2: other path */
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.path = "/bin/ap";					/* 3: a prefix */
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.path = "/bin/app";
	e.file_digest = other;					/* 4: other digest */
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.file_digest = d;
	e.pcr = 11;						/* 5: other PCR */
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.pcr = 10;
	e.hash_name = "sha384";					/* 6: other algorithm */
	{
		uint8_t d48[48] = { 0xd };

		e.file_digest = d48;
		e.file_digest_len = 48;
		assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	}
	e.hash_name = "sha256";
	e.file_digest = d;
	e.file_digest_len = 32;
	e.tpl = KATLS_IMA_TPL_NGV2;				/* 7: a verity digest */
	e.digest_type = "verity";
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);
	e.tpl = KATLS_IMA_TPL_NG;
	assert_int_equal(katls_ima_record_encode(&log, &e, 32), 0);	/* 8: the one */
	in.log = log.data;
	in.log_len = log.len;
	assert_int_equal(katls_ima_find_measurement(&in, 9, "/bin/app", KATLS_IMA_SHA256, d, 32,
						    &idx), 0);
	assert_int_equal(idx, 8);
	/* not covered by the quote: not found */
	assert_int_equal(katls_ima_find_measurement(&in, 8, "/bin/app", KATLS_IMA_SHA256, d, 32,
						    &idx), -ENOENT);
	/* more covered than there are records: malformed */
	assert_int_equal(katls_ima_find_measurement(&in, 10, "/bin/nope", KATLS_IMA_SHA256, d,
						    32, &idx), -EBADMSG);
	assert_int_equal(katls_ima_find_measurement(&in, 9, "/bin/app", KATLS_IMA_NUM_HASHES, d,
						    32, &idx), -EINVAL);
	katls_buf_cleanup(&log);
}

/* ---- appraisal against a Keylime runtime policy --------------------------------- */

static struct katls_runtime_policy *synth_policy(const struct synth *s, size_t skip,
						 const char *extra_json)
{
	struct katls_buf j = KATLS_BUF_INIT;
	struct katls_runtime_policy *rp;
	char line[256], hex[65], err[256];

	snprintf(line, sizeof(line), "{\"meta\": {\"version\": 1}, \"digests\": {");
	assert_int_equal(katls_put_bytes(&j, line, strlen(line)), 0);
	for (size_t i = 0; i < s->n; i++) {
		char path[64];

		if (i == skip)
			continue;
		synth_path(path, sizeof(path), i);
		snprintf(line, sizeof(line), "%s\"%s\": [\"%s\"]", j.data[j.len - 1] == '{' ? "" : ",",
			 path, katls_ima_format_hex(hex, sizeof(hex), s->digests[i], 32));
		assert_int_equal(katls_put_bytes(&j, line, strlen(line)), 0);
	}
	snprintf(line, sizeof(line), "}%s}", extra_json);
	assert_int_equal(katls_put_bytes(&j, line, strlen(line)), 0);
	if (katls_runtime_policy_parse((const char *)j.data, j.len, &rp, err, sizeof(err)))
		fail_msg("runtime policy: %s", err);
	katls_buf_cleanup(&j);
	return rp;
}

static void test_allowlist_appraisal(void **state)
{
	struct katls_runtime_policy *rp;
	struct katls_ima_verify_in in;
	struct katls_ima_verify_out out;
	uint8_t pcr[32] = { 0 };
	char want[256], hex[65];
	struct synth s;

	synth_build(&s, 6, 32);
	synth_in(&s, &in, KATLS_IMA_SHA256);
	synth_pcr(&s, KATLS_IMA_SHA256, 0, 6, pcr);
	in.quoted_pcr = pcr;

	rp = synth_policy(&s, SIZE_MAX, "");
	in.policy = rp;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_non_null(strstr(out.msg, "all allowed by the runtime policy"));
	katls_runtime_policy_free(rp);

	/* Path missing from the allowlist */
	rp = synth_policy(&s, 2, "");
	in.policy = rp;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_ALLOWLIST);
	assert_int_equal(out.fail_index, 2);
	snprintf(want, sizeof(want), "IMA entry 2 /usr/bin/synth2 digest sha256:%s not in allowlist",
		 katls_ima_format_hex(hex, sizeof(hex), s.digests[2], 32));
	if (strncmp(out.msg, want, strlen(want)))
		fail_msg("got \"%s\"", out.msg);
	assert_non_null(strstr(out.msg, "no digests entry for the path"));

	/* ... unless excluded (anchored at the path's start) */
	katls_runtime_policy_free(rp);
	rp = synth_policy(&s, 2, ", \"excludes\": [\"/usr/bin/synth[2-3]$\"]");
	in.policy = rp;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	katls_runtime_policy_free(rp);
	rp = synth_policy(&s, 2, ", \"excludes\": [\"bin/synth2\"]");
	in.policy = rp;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	katls_runtime_policy_free(rp);

	/* ... and not reported when the entry is beyond the quote */
	rp = synth_policy(&s, 5, "");
	in.policy = rp;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.fail_index, 5);
	memset(pcr, 0, sizeof(pcr));
	synth_pcr(&s, KATLS_IMA_SHA256, 0, 5, pcr);
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_int_equal(out.num_covered, 5);
	katls_runtime_policy_free(rp);

	/* Digest mismatch: the path lists another digest */
	s.digests[3][0] ^= 1;
	rp = synth_policy(&s, SIZE_MAX, "");
	s.digests[3][0] ^= 1;
	in.policy = rp;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.reason, KATLS_R_IMA_ALLOWLIST);
	assert_int_equal(out.fail_index, 3);
	assert_non_null(strstr(out.msg, "IMA entry 3 /usr/bin/synth3 digest sha256:"));
	assert_non_null(strstr(out.msg, "digests lists other digests"));
	katls_runtime_policy_free(rp);
	katls_buf_cleanup(&s.log);
}

static void test_allowlist_violations_and_buffers(void **state)
{
	static const uint8_t zero32[32];
	uint8_t key[32], kexec[32];
	struct katls_buf log = KATLS_BUF_INIT;
	struct katls_ima_entry boot = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
					.file_digest = kexec, .file_digest_len = 32,
					.path = "boot_aggregate" };
	struct katls_ima_entry viol = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG, .hash_name = "sha256",
					.file_digest = zero32, .file_digest_len = 32,
					.path = "/var/log/x", .violation = true };
	struct katls_ima_entry k = { .pcr = 10, .tpl = KATLS_IMA_TPL_BUF, .hash_name = "sha256",
				     .file_digest = key, .file_digest_len = 32, .path = ".ima",
				     .extra = (const uint8_t *)"DER", .extra_len = 3 };
	struct katls_ima_entry cmd = k;
	struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = 10 };
	struct katls_ima_verify_out out;
	struct katls_runtime_policy *rp;
	char json[1024], hk[65], hc[65], err[256];

	memset(key, 0x11, sizeof(key));
	memset(kexec, 0x22, sizeof(kexec));
	cmd.file_digest = kexec;
	cmd.path = "kexec-cmdline";
	assert_int_equal(katls_ima_record_encode(&log, &boot, 32), 0);	/* not listed */
	assert_int_equal(katls_ima_record_encode(&log, &viol, 32), 0);
	assert_int_equal(katls_ima_record_encode(&log, &k, 32), 0);
	assert_int_equal(katls_ima_record_encode(&log, &cmd, 32), 0);
	snprintf(json, sizeof(json),
		 "{\"meta\": {\"version\": 1}, \"digests\": {}, \"keyrings\": {\".ima\": [\"%s\"]},"
		 " \"ima-buf\": {\"kexec-cmdline\": [\"%s\"]}}",
		 katls_ima_format_hex(hk, sizeof(hk), key, 32),
		 katls_ima_format_hex(hc, sizeof(hc), kexec, 32));
	assert_int_equal(katls_runtime_policy_parse(json, strlen(json), &rp, err, sizeof(err)), 0);
	in.log = log.data;
	in.log_len = log.len;
	in.policy = rp;

	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.fail_index, 1);
	assert_non_null(strstr(out.msg, "measurement violation"));
	in.flags = KATLS_IMA_ALLOW_VIOLATIONS;
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	assert_int_equal(out.num_violations, 1);

	/* keyring entries are matched in "keyrings", other buffers in "ima-buf" */
	key[0] ^= 1;
	assert_int_equal(katls_ima_record_encode(&log, &k, 32), 0);	/* entry 4 */
	in.log = log.data;
	in.log_len = log.len;
	assert_int_equal(katls_ima_verify(&in, &out), -EACCES);
	assert_int_equal(out.fail_index, 4);
	assert_non_null(strstr(out.msg, "keyrings lists other digests"));
	assert_int_equal(katls_runtime_policy_ignore_keyring(rp, ".ima"), 0);
	assert_int_equal(katls_ima_verify(&in, &out), 0);
	katls_runtime_policy_free(rp);
	katls_buf_cleanup(&log);
}

static void test_check_verdicts(void **state)
{
	struct katls_runtime_policy *rp;
	struct katls_ima_record rec = { .tpl = KATLS_IMA_TPL_NG, .path = "/bin/sh",
					.path_len = 7, .path_terminated = true };
	uint8_t d[32] = { 1 }, other[20] = { 1 };
	const char *map = NULL;
	char err[256];

	assert_int_equal(katls_runtime_policy_new(&rp), 0);
	rec.file_digest = d;
	rec.file_digest_len = 32;
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_NO_ENTRY);
	assert_string_equal(map, "digests");
	assert_int_equal(katls_runtime_policy_add_digest(rp, KATLS_RP_DIGESTS, "/bin/sh", 7,
							 other, 20), 0);
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_MISMATCH);
	/* same leading bytes, different length: still a mismatch */
	assert_int_equal(katls_runtime_policy_add_digest(rp, KATLS_RP_DIGESTS, "/bin/sh", 7,
							 d, 32), 0);
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_MATCH);
	rec.path = "/bin/sh2";
	rec.path_len = 8;
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_NO_ENTRY);
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "/bin/(sh|bash)[0-9]", err,
							  sizeof(err)), 0);
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_EXCLUDED);
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "(", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not compile"));
	/* an unbalanced ')' must not break out of the start anchor */
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "x)|(.*", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "q)|/usr/lib/", err, sizeof(err)),
			 0);
	rec.path = "/opt/usr/lib/x";
	rec.path_len = 14;
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_NO_ENTRY);
	rec.path = "/usr/lib/x";
	rec.path_len = 10;
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_EXCLUDED);
	/* template "ima" names are not NUL-terminated: only path_len bytes count */
	assert_int_equal(katls_runtime_policy_add_exclude(rp, "/bin/zz$", err, sizeof(err)), 0);
	rec.tpl = KATLS_IMA_TPL_IMA;
	rec.path = "/bin/zz9trailing";
	rec.path_len = 7;
	rec.path_terminated = false;
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_EXCLUDED);
	rec.path_len = 8;
	assert_int_equal(katls_runtime_policy_check(rp, &rec, &map), KATLS_RP_NO_ENTRY);
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_DIGESTS), 1);
	katls_runtime_policy_free(rp);
}

/* Many paths: the map grows and every lookup still finds its digest. */
static void test_allowlist_map_scales(void **state)
{
	struct katls_runtime_policy *rp;
	struct katls_ima_record rec = { .tpl = KATLS_IMA_TPL_NG, .path_terminated = true };
	char path[64];
	uint8_t d[32];

	assert_int_equal(katls_runtime_policy_new(&rp), 0);
	for (uint32_t i = 0; i < 20000; i++) {
		int n = snprintf(path, sizeof(path), "/p/%u", i);

		memcpy(d, &i, sizeof(i));
		memset(d + 4, 0xab, 28);
		assert_int_equal(katls_runtime_policy_add_digest(rp, KATLS_RP_DIGESTS, path,
								 (size_t)n, d, 32), 0);
	}
	assert_int_equal(katls_runtime_policy_num_paths(rp, KATLS_RP_DIGESTS), 20000);
	rec.file_digest = d;
	rec.file_digest_len = 32;
	for (uint32_t i = 0; i < 20000; i += 7) {
		rec.path_len = (size_t)snprintf(path, sizeof(path), "/p/%u", i);
		rec.path = path;
		memcpy(d, &i, sizeof(i));
		assert_int_equal(katls_runtime_policy_check(rp, &rec, NULL), KATLS_RP_MATCH);
		d[5] ^= 1;
		assert_int_equal(katls_runtime_policy_check(rp, &rec, NULL), KATLS_RP_MISMATCH);
		d[5] ^= 1;
	}
	katls_runtime_policy_free(rp);
}

static void test_detect_digest_size(void **state)
{
	static const size_t sizes[] = { 20, 32, 48, 64 };

	for (size_t i = 0; i < 4; i++) {
		struct synth s;

		synth_build(&s, 2, sizes[i]);
		assert_int_equal(katls_ima_detect_digest_size(s.log.data, s.log.len),
				 (int)sizes[i]);
		/* one whole record is enough; a cut one is not */
		assert_int_equal(katls_ima_detect_digest_size(s.log.data, s.offsets[1]),
				 (int)sizes[i]);
		assert_int_equal(katls_ima_detect_digest_size(s.log.data, s.offsets[1] - 1),
				 -EBADMSG);
		katls_buf_cleanup(&s.log);
	}
	assert_int_equal(katls_ima_detect_digest_size(NULL, 0), -EBADMSG);
}

static void test_hash_lookups(void **state)
{
	assert_int_equal(katls_ima_hash_from_name("sha256", 6), KATLS_IMA_SHA256);
	assert_int_equal(katls_ima_hash_from_name("sha25", 5), -ENOENT);
	assert_int_equal(katls_ima_hash_from_tpm_alg(0x000b), KATLS_IMA_SHA256);
	assert_int_equal(katls_ima_hash_from_tpm_alg(0x0012), -ENOENT);
	assert_int_equal(katls_ima_hash_size(KATLS_IMA_SHA384), 48);
	assert_int_equal(katls_ima_hash_size(99), 0);
	assert_string_equal(katls_ima_template_name(KATLS_IMA_TPL_SIGV2), "ima-sigv2");
	/* the kernel's enum hash_algo, as ima_file_hash() reports it */
	assert_int_equal(katls_ima_hash_from_kernel_algo(2), KATLS_IMA_SHA1);
	assert_int_equal(katls_ima_hash_from_kernel_algo(4), KATLS_IMA_SHA256);
	assert_int_equal(katls_ima_hash_from_kernel_algo(5), KATLS_IMA_SHA384);
	assert_int_equal(katls_ima_hash_from_kernel_algo(6), KATLS_IMA_SHA512);
	assert_int_equal(katls_ima_hash_from_kernel_algo(1), -ENOENT);	/* md5 */
	assert_true(katls_ima_digest_is_zero((const uint8_t *)"\0\0\0", 3));
	assert_false(katls_ima_digest_is_zero((const uint8_t *)"\0\0\1", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keylime_vectors_reproduce),
		cmocka_unit_test(test_keylime_sha256_log_replays),
		cmocka_unit_test(test_replay_until_match),
		cmocka_unit_test(test_incremental_replay),
		cmocka_unit_test(test_stale_log_is_rejected),
		cmocka_unit_test(test_tampered_record_is_rejected),
		cmocka_unit_test(test_banks_and_digest_sizes),
		cmocka_unit_test(test_violation_extends_ff),
		cmocka_unit_test(test_every_template_roundtrips),
		cmocka_unit_test(test_truncation_at_every_offset),
		cmocka_unit_test(test_bad_fields_are_rejected),
		cmocka_unit_test(test_other_pcrs),
		cmocka_unit_test(test_boot_aggregate),
		cmocka_unit_test(test_find_measurement),
		cmocka_unit_test(test_allowlist_appraisal),
		cmocka_unit_test(test_allowlist_violations_and_buffers),
		cmocka_unit_test(test_check_verdicts),
		cmocka_unit_test(test_allowlist_map_scales),
		cmocka_unit_test(test_detect_digest_size),
		cmocka_unit_test(test_hash_lookups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
