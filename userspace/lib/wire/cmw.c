// SPDX-License-Identifier: MIT
/*
 * katls Evidence as a deterministic CBOR CMW collection; see cmw.h.
 *
 * Maps are described by field tables listed in deterministic key order.
 * The encoder walks a table and builds libcbor items (choosing the shortest
 * integer width itself: libcbor keeps whatever width an item was built
 * with); the decoder walks the same table in step with the input through a
 * strict katls_cursor reader, so "keys known, sorted, unique, required ones
 * present" is one merge-walk.  The reader accepts only shortest heads and
 * definite lengths, so any accepted input re-encodes to the same bytes.
 * libcbor's own decoder is not used: it accepts non-shortest integers,
 * duplicate keys and indefinite lengths, and frees nested items recursively.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "evidence/batch_proof.h"
#include "util/buf.h"
#include "wire/cmw.h"

#define CMW_DEPTH_MAX	8
#define CMW_TN_FIRST	1668546817u	/* RFC 9277 tag range of CMW (TN(0)) */
#define CMW_TN_LAST	1668612095u	/* TN(65535) */
#define TPM_PART_MAX	2048		/* TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC */

enum { MT_UINT = 0, MT_NINT = 1, MT_BSTR = 2, MT_TSTR = 3, MT_ARRAY = 4, MT_MAP = 5,
       MT_TAG = 6, MT_SIMPLE = 7 };

/* ---- strict reader --------------------------------------------------------- */

/* One CBOR head; rejects indefinite lengths, reserved and non-shortest forms. */
static int get_head(struct katls_cursor *c, uint8_t *major, uint64_t *arg)
{
	uint8_t ib, v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	if (katls_get_u8(c, &ib))
		return -EBADMSG;
	*major = ib >> 5;
	switch (ib & 0x1f) {
	case 24:
		if (katls_get_u8(c, &v8) || v8 < 24)
			return -EBADMSG;
		*arg = v8;
		return 0;
	case 25:
		if (katls_get_be16(c, &v16) || v16 <= UINT8_MAX)
			return -EBADMSG;
		*arg = v16;
		return 0;
	case 26:
		if (katls_get_be32(c, &v32) || v32 <= UINT16_MAX)
			return -EBADMSG;
		*arg = v32;
		return 0;
	case 27:
		if (katls_get_be64(c, &v64) || v64 <= UINT32_MAX)
			return -EBADMSG;
		*arg = v64;
		return 0;
	case 28: case 29: case 30: case 31:
		return -EBADMSG;
	default:
		*arg = ib & 0x1f;
		return 0;
	}
}

static int get_typed(struct katls_cursor *c, uint8_t want, uint64_t *arg)
{
	uint8_t major;

	if (get_head(c, &major, arg) || major != want)
		return -EBADMSG;
	return 0;
}

static int get_string(struct katls_cursor *c, uint8_t major, const uint8_t **p, size_t *len)
{
	uint64_t n;

	if (get_typed(c, major, &n) || n > c->len)
		return -EBADMSG;
	*len = (size_t)n;
	return katls_get_bytes(c, *len, p);
}

static int get_bool(struct katls_cursor *c, bool *out)
{
	uint64_t v;

	if (get_typed(c, MT_SIMPLE, &v) || (v != 20 && v != 21))
		return -EBADMSG;
	*out = v == 21;
	return 0;
}

/* Valid UTF-8 (no overlongs, surrogates or NUL). */
static bool text_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t b = s[i];
		uint32_t cp, min;
		size_t k;

		if (b == 0)
			return false;
		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xe0) == 0xc0)
			k = 1, cp = b & 0x1f, min = 0x80;
		else if ((b & 0xf0) == 0xe0)
			k = 2, cp = b & 0x0f, min = 0x800;
		else if ((b & 0xf8) == 0xf0)
			k = 3, cp = b & 0x07, min = 0x10000;
		else
			return false;
		if (n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static bool bytes_are(const uint8_t *p, size_t len, const char *s)
{
	return len == strlen(s) && !memcmp(p, s, len);
}

/* [media-type, value, 4] with exactly this media type. */
static int get_record(struct katls_cursor *c, const char *media, const uint8_t **p, size_t *len)
{
	const uint8_t *mt;
	size_t mt_len;
	uint64_t n, ind;

	if (get_typed(c, MT_ARRAY, &n) || n != 3 ||
	    get_string(c, MT_TSTR, &mt, &mt_len) || !bytes_are(mt, mt_len, media) ||
	    get_string(c, MT_BSTR, p, len) ||
	    get_typed(c, MT_UINT, &ind) || ind != KATLS_CMW_IND_EVIDENCE)
		return -EBADMSG;
	return 0;
}

/* ---- libcbor builders -------------------------------------------------------- */

static cbor_item_t *built(cbor_item_t *item, const char *call)
{
	if (!item)
		fprintf(stderr, "katls: %s: out of memory\n", call);
	return item;
}

static cbor_item_t *build_uint(uint64_t v)
{
	if (v <= UINT8_MAX)
		return built(cbor_build_uint8((uint8_t)v), "cbor_build_uint8");
	if (v <= UINT16_MAX)
		return built(cbor_build_uint16((uint16_t)v), "cbor_build_uint16");
	if (v <= UINT32_MAX)
		return built(cbor_build_uint32((uint32_t)v), "cbor_build_uint32");
	return built(cbor_build_uint64(v), "cbor_build_uint64");
}

static cbor_item_t *build_tstr(const char *s, size_t len)
{
	return built(cbor_build_stringn(s, len), "cbor_build_stringn");
}

static cbor_item_t *build_bstr(const uint8_t *p, size_t len)
{
	/* libcbor copies len bytes from p even when len is 0. */
	return built(cbor_build_bytestring(len ? p : (const uint8_t *)"", len),
		     "cbor_build_bytestring");
}

/* Adds key => val to map and drops our references (also on failure). */
static int map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *val)
{
	bool ok = key && val && cbor_map_add(map, (struct cbor_pair){ .key = key, .value = val });

	if (key && val && !ok)
		fprintf(stderr, "katls: cbor_map_add: out of memory\n");
	if (key)
		cbor_decref(&key);
	if (val)
		cbor_decref(&val);
	return ok ? 0 : -ENOMEM;
}

static int push(cbor_item_t *array, cbor_item_t *item)
{
	bool ok = item && cbor_array_push(array, item);

	if (item && !ok)
		fprintf(stderr, "katls: cbor_array_push: out of memory\n");
	if (item)
		cbor_decref(&item);
	return ok ? 0 : -ENOMEM;
}

static cbor_item_t *build_record(const char *media, const uint8_t *p, size_t len)
{
	cbor_item_t *a = built(cbor_new_definite_array(3), "cbor_new_definite_array");

	if (a && (push(a, build_tstr(media, strlen(media))) || push(a, build_bstr(p, len)) ||
		  push(a, build_uint(KATLS_CMW_IND_EVIDENCE))))
		cbor_decref(&a);
	return a;
}

static int serialize(cbor_item_t *item, size_t max, struct katls_buf *out)
{
	unsigned char *p = NULL;
	size_t cap = 0, n = cbor_serialize_alloc(item, &p, &cap);
	int ret;

	if (!n) {
		fprintf(stderr, "katls: cbor_serialize_alloc: out of memory\n");
		return -ENOMEM;
	}
	ret = n > max ? -EMSGSIZE : katls_put_bytes(out, p, n);
	free(p);
	return ret;
}

/* ---- field tables -------------------------------------------------------------- */

enum ftype {
	F_UINT,		/* unsigned member of width size, value <= max */
	F_BOOL,
	F_BSTR_FIXED,	/* uint8_t[size], exactly size bytes */
	F_BSTR_VAR,	/* uint8_t[size] + size_t at len_off, 1..size bytes */
	F_TSTR,		/* char[size], NUL-terminated, UTF-8 */
	F_RECORD,	/* struct katls_buf, record of media, <= max bytes */
	F_RECORD_U64,	/* uint64_t, record of media holding 8 big-endian bytes */
	F_CMWC_T,	/* "__cmwc_t" => KATLS_CMWC_TYPE */
};

enum presence { P_REQUIRED, P_IF_NONEMPTY, P_IF_IMA, P_IF_IMA_INLINE };

struct field {
	const char *key;
	enum ftype type;
	enum presence presence;
	size_t off;
	size_t size;
	uint64_t max;
	size_t len_off;
	const char *media;
};

#define MEMBER(type, m)	.off = offsetof(type, m), .size = sizeof(((type *)0)->m)
#define EV(m)		.off = offsetof(struct katls_evidence, m)

/* All three tables are in RFC 8949 §4.2.1 order: shorter key first, then bytewise. */
static const struct field ev_fields[] = {
	{ "ak", F_RECORD, P_REQUIRED, EV(ak), .max = TPM_PART_MAX, .media = KATLS_MT_AK },
	{ "aik", F_RECORD, P_REQUIRED, EV(aik), .max = KATLS_CMW_DIGEST_MAX,
	  .media = KATLS_MT_AIK },
	{ "ima", F_RECORD, P_IF_IMA_INLINE, EV(ima), .max = KATLS_CMW_MAX,
	  .media = KATLS_MT_IMA },
	{ "pcrs", F_RECORD, P_REQUIRED, EV(pcrs), .max = TPM_PART_MAX, .media = KATLS_MT_PCRS },
	/* quote batching: checked by katls_batch_proof_parse() in the verifier */
	{ "batch", F_RECORD, P_IF_NONEMPTY, EV(batch), .max = KATLS_BATCH_PROOF_MAX,
	  .media = KATLS_MT_QUOTE_BATCH },
	{ "quote", F_RECORD, P_REQUIRED, EV(quote), .max = TPM_PART_MAX, .media = KATLS_MT_QUOTE },
	{ "kernel", F_RECORD, P_IF_NONEMPTY, EV(kernel), .max = 4096, .media = KATLS_MT_KERNEL },
	{ "__cmwc_t", F_CMWC_T, P_REQUIRED, .off = 0 },
	{ "workload", F_RECORD, P_IF_NONEMPTY, EV(workload), .max = 8192,
	  .media = KATLS_MT_WORKLOAD },
	{ "ima-start", F_RECORD_U64, P_IF_IMA, EV(ima_start), .media = KATLS_MT_IMA_START },
	{ "quote-sig", F_RECORD, P_REQUIRED, EV(quote_sig), .max = TPM_PART_MAX,
	  .media = KATLS_MT_QUOTE_SIG },
	/* the log sent detached (ima_detach.h): its length and digest, instead of "ima" */
	{ "ima-digest", F_RECORD, P_IF_NONEMPTY, EV(ima_digest),
	  .max = KATLS_CMW_IMA_DIGEST_LEN, .media = KATLS_MT_IMA_DIGEST },
};

#define KS(m) MEMBER(struct katls_cmw_kernel, m)
static const struct field kernel_fields[] = {
	{ "tpm", F_BOOL, P_REQUIRED, KS(tpm) },
	{ "taint", F_UINT, P_REQUIRED, KS(taint), .max = UINT64_MAX },
	{ "boot-id", F_BSTR_FIXED, P_REQUIRED, KS(boot_id) },
	{ "release", F_TSTR, P_REQUIRED, KS(release) },
	{ "cc-flags", F_UINT, P_REQUIRED, KS(cc_flags), .max = UINT32_MAX },
	{ "lockdown", F_UINT, P_REQUIRED, KS(lockdown), .max = 2 },
	{ "ima-count", F_UINT, P_REQUIRED, KS(ima_count), .max = UINT64_MAX },
	{ "generation", F_UINT, P_REQUIRED, KS(generation), .max = UINT64_MAX },
	{ "ima-violations", F_UINT, P_REQUIRED, KS(ima_violations), .max = UINT64_MAX },
};

#define WL(m) MEMBER(struct katls_cmw_workload, m)
static const struct field workload_fields[] = {
	{ "pid", F_UINT, P_REQUIRED, WL(pid), .max = UINT32_MAX },
	{ "uid", F_UINT, P_REQUIRED, WL(uid), .max = UINT32_MAX },
	{ "exe-path", F_TSTR, P_REQUIRED, WL(exe_path) },
	{ "cgroup-id", F_UINT, P_REQUIRED, WL(cgroup_id), .max = UINT64_MAX },
	{ "exe-digest", F_BSTR_VAR, P_REQUIRED, WL(exe_digest),
	  .len_off = offsetof(struct katls_cmw_workload, exe_digest_len) },
	{ "exe-digest-alg", F_UINT, P_REQUIRED, WL(exe_digest_alg), .max = UINT32_MAX },
};

#define MEMBER_AT(obj, off, type) ((type)((char *)(obj) + (off)))

static uint64_t load_uint(const void *p, size_t size)
{
	switch (size) {
	case 1:
		return *(const uint8_t *)p;
	case 4:
		return *(const uint32_t *)p;
	default:
		return *(const uint64_t *)p;
	}
}

static void store_uint(void *p, size_t size, uint64_t v)
{
	switch (size) {
	case 1:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case 4:
		*(uint32_t *)p = (uint32_t)v;
		break;
	default:
		*(uint64_t *)p = v;
		break;
	}
}

static bool aik_len_ok(size_t len)
{
	return len == 32 || len == 48 || len == 64;
}

/* ---- table-driven encoding --------------------------------------------------------- */

static bool present(const struct field *f, const void *obj)
{
	switch (f->presence) {
	case P_REQUIRED:
		return true;
	case P_IF_IMA:
		return ((const struct katls_evidence *)obj)->has_ima;
	case P_IF_IMA_INLINE:
		return ((const struct katls_evidence *)obj)->has_ima &&
		       !((const struct katls_evidence *)obj)->ima_digest.len;
	case P_IF_NONEMPTY:
		return MEMBER_AT(obj, f->off, const struct katls_buf *)->len > 0;
	default:
		return false;
	}
}

static int build_value(const struct field *f, const void *obj, cbor_item_t **out)
{
	const struct katls_buf *b = MEMBER_AT(obj, f->off, const struct katls_buf *);
	const char *s = MEMBER_AT(obj, f->off, const char *);
	uint8_t be[8];
	size_t len;
	uint64_t v;

	switch (f->type) {
	case F_UINT:
		v = load_uint(MEMBER_AT(obj, f->off, const void *), f->size);
		if (v > f->max)
			return -EINVAL;
		*out = build_uint(v);
		break;
	case F_BOOL:
		*out = built(cbor_build_bool(*MEMBER_AT(obj, f->off, const bool *)),
			     "cbor_build_bool");
		break;
	case F_BSTR_FIXED:
		*out = build_bstr(MEMBER_AT(obj, f->off, const uint8_t *), f->size);
		break;
	case F_BSTR_VAR:
		len = *MEMBER_AT(obj, f->len_off, const size_t *);
		if (!len || len > f->size)
			return -EINVAL;
		*out = build_bstr(MEMBER_AT(obj, f->off, const uint8_t *), len);
		break;
	case F_TSTR:
		len = strnlen(s, f->size);
		if (len == f->size || !text_ok((const uint8_t *)s, len))
			return -EINVAL;
		*out = build_tstr(s, len);
		break;
	case F_RECORD:
		if (b->len > f->max || (f->presence == P_REQUIRED && !b->len))
			return -EINVAL;
		*out = build_record(f->media, b->data, b->len);
		break;
	case F_RECORD_U64:
		v = *MEMBER_AT(obj, f->off, const uint64_t *);
		for (unsigned int i = 0; i < 8; i++)
			be[i] = (uint8_t)(v >> (56 - 8 * i));
		*out = build_record(f->media, be, sizeof(be));
		break;
	case F_CMWC_T:
		*out = build_tstr(KATLS_CMWC_TYPE, strlen(KATLS_CMWC_TYPE));
		break;
	default:
		return -EINVAL;
	}
	return *out ? 0 : -ENOMEM;
}

static int encode_fields(const struct field *fields, size_t num, const void *obj, size_t max,
			 struct katls_buf *out)
{
	cbor_item_t *map, *val;
	size_t count = 0;
	int ret = 0;

	for (size_t i = 0; i < num; i++)
		count += present(&fields[i], obj);
	map = built(cbor_new_definite_map(count), "cbor_new_definite_map");
	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < num && !ret; i++) {
		if (!present(&fields[i], obj))
			continue;
		ret = build_value(&fields[i], obj, &val);
		if (!ret)
			ret = map_put(map, build_tstr(fields[i].key, strlen(fields[i].key)), val);
	}
	if (!ret)
		ret = serialize(map, max, out);
	cbor_decref(&map);
	return ret;
}

/* ---- table-driven decoding ----------------------------------------------------------- */

static int decode_value(struct katls_cursor *c, const struct field *f, void *obj)
{
	const uint8_t *p;
	size_t len;
	uint64_t v = 0;

	switch (f->type) {
	case F_UINT:
		if (get_typed(c, MT_UINT, &v) || v > f->max)
			return -EBADMSG;
		store_uint(MEMBER_AT(obj, f->off, void *), f->size, v);
		return 0;
	case F_BOOL:
		return get_bool(c, MEMBER_AT(obj, f->off, bool *));
	case F_BSTR_FIXED:
		if (get_string(c, MT_BSTR, &p, &len) || len != f->size)
			return -EBADMSG;
		memcpy(MEMBER_AT(obj, f->off, void *), p, len);
		return 0;
	case F_BSTR_VAR:
		if (get_string(c, MT_BSTR, &p, &len) || !len || len > f->size)
			return -EBADMSG;
		memcpy(MEMBER_AT(obj, f->off, void *), p, len);
		*MEMBER_AT(obj, f->len_off, size_t *) = len;
		return 0;
	case F_TSTR:
		if (get_string(c, MT_TSTR, &p, &len) || len >= f->size || !text_ok(p, len))
			return -EBADMSG;
		memcpy(MEMBER_AT(obj, f->off, char *), p, len);
		MEMBER_AT(obj, f->off, char *)[len] = '\0';
		return 0;
	case F_RECORD:
		if (get_record(c, f->media, &p, &len) || len > f->max ||
		    (f->presence == P_IF_NONEMPTY && !len))
			return -EBADMSG;
		return katls_put_bytes(MEMBER_AT(obj, f->off, struct katls_buf *), p, len);
	case F_RECORD_U64:
		if (get_record(c, f->media, &p, &len) || len != 8)
			return -EBADMSG;
		for (unsigned int i = 0; i < 8; i++)
			v = v << 8 | p[i];
		*MEMBER_AT(obj, f->off, uint64_t *) = v;
		return 0;
	case F_CMWC_T:
		if (get_string(c, MT_TSTR, &p, &len) || !bytes_are(p, len, KATLS_CMWC_TYPE))
			return -EBADMSG;
		return 0;
	default:
		return -EBADMSG;
	}
}

/*
 * Reads a map whose keys must be a subsequence of the table, in table order,
 * containing every required key.  *seen gets bit i for fields[i].
 */
static int decode_fields(struct katls_cursor *c, const struct field *fields, size_t num,
			 void *obj, uint32_t *seen)
{
	const uint8_t *key;
	size_t key_len, t = 0;
	uint64_t count;
	int ret;

	*seen = 0;
	if (get_typed(c, MT_MAP, &count) || count > num)
		return -EBADMSG;
	for (uint64_t i = 0; i < count; i++) {
		if (get_string(c, MT_TSTR, &key, &key_len))
			return -EBADMSG;
		/* Skip absent optional fields; unknown, duplicate, misordered keys run off. */
		while (t < num && !bytes_are(key, key_len, fields[t].key)) {
			if (fields[t].presence == P_REQUIRED)
				return -EBADMSG;
			t++;
		}
		if (t == num)
			return -EBADMSG;
		ret = decode_value(c, &fields[t], obj);
		if (ret)
			return ret;
		*seen |= 1u << t++;
	}
	for (; t < num; t++) {
		if (fields[t].presence == P_REQUIRED)
			return -EBADMSG;
	}
	return 0;
}

static int decode_whole(const uint8_t *in, size_t in_len, const struct field *fields,
			size_t num, void *obj)
{
	struct katls_cursor c;
	uint32_t seen;
	int ret;

	katls_cursor_init(&c, in, in_len);
	ret = decode_fields(&c, fields, num, obj, &seen);
	return ret ? ret : katls_get_end(&c);
}

/* ---- sub-encodings -------------------------------------------------------------------- */

int katls_cmw_kernel_encode(const struct katls_cmw_kernel *k, struct katls_buf *out)
{
	return encode_fields(kernel_fields, sizeof(kernel_fields) / sizeof(kernel_fields[0]),
			     k, SIZE_MAX, out);
}

int katls_cmw_kernel_decode(const uint8_t *in, size_t in_len, struct katls_cmw_kernel *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = decode_whole(in, in_len, kernel_fields,
			   sizeof(kernel_fields) / sizeof(kernel_fields[0]), out);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

int katls_cmw_workload_encode(const struct katls_cmw_workload *w, struct katls_buf *out)
{
	return encode_fields(workload_fields,
			     sizeof(workload_fields) / sizeof(workload_fields[0]), w, SIZE_MAX,
			     out);
}

int katls_cmw_workload_decode(const uint8_t *in, size_t in_len,
			      struct katls_cmw_workload *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = decode_whole(in, in_len, workload_fields,
			   sizeof(workload_fields) / sizeof(workload_fields[0]), out);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

int katls_cmw_pcrs_encode(const struct katls_pcrs *pcrs, struct katls_buf *out)
{
	cbor_item_t *outer, *inner;
	int ret = 0;

	if (!pcrs->mask || pcrs->mask >> KATLS_PCR_COUNT)
		return -EINVAL;
	inner = built(cbor_new_definite_map((size_t)__builtin_popcount(pcrs->mask)),
		      "cbor_new_definite_map");
	if (!inner)
		return -ENOMEM;
	for (unsigned int i = 0; i < KATLS_PCR_COUNT && !ret; i++) {
		if (pcrs->mask >> i & 1)
			ret = map_put(inner, build_uint(i),
				      build_bstr(pcrs->digest[i], KATLS_PCR_DIGEST_LEN));
	}
	outer = built(cbor_new_definite_map(1), "cbor_new_definite_map");
	if (!ret && !outer)
		ret = -ENOMEM;
	if (!ret) {
		cbor_incref(inner);	/* map_put drops one reference */
		ret = map_put(outer, build_tstr("sha256", 6), inner);
	}
	if (!ret)
		ret = serialize(outer, SIZE_MAX, out);
	if (outer)
		cbor_decref(&outer);
	cbor_decref(&inner);
	return ret;
}

static int get_pcr_map(struct katls_cursor *c, struct katls_pcrs *out)
{
	uint64_t n, idx, next = 0;
	const uint8_t *d;
	size_t len;

	if (get_typed(c, MT_MAP, &n) || n < 1 || n > KATLS_PCR_COUNT)
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		/* Ascending indices: sorted and unique at once. */
		if (get_typed(c, MT_UINT, &idx) || idx < next || idx >= KATLS_PCR_COUNT ||
		    get_string(c, MT_BSTR, &d, &len) || len != KATLS_PCR_DIGEST_LEN)
			return -EBADMSG;
		memcpy(out->digest[idx], d, len);
		out->mask |= 1u << idx;
		next = idx + 1;
	}
	return 0;
}

int katls_cmw_pcrs_decode(const uint8_t *in, size_t in_len, struct katls_pcrs *out)
{
	struct katls_cursor c;
	const uint8_t *bank;
	size_t bank_len;
	uint64_t n;
	int ret = -EBADMSG;

	memset(out, 0, sizeof(*out));
	katls_cursor_init(&c, in, in_len);
	if (!get_typed(&c, MT_MAP, &n) && n == 1 &&
	    !get_string(&c, MT_TSTR, &bank, &bank_len) && bytes_are(bank, bank_len, "sha256") &&
	    !get_pcr_map(&c, out))
		ret = katls_get_end(&c);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}

/* ---- the collection --------------------------------------------------------------------- */

#define NUM_EV_FIELDS (sizeof(ev_fields) / sizeof(ev_fields[0]))

/* "ima-start" goes with exactly one of "ima" and "ima-digest", which is 40 bytes. */
static bool ima_ok(bool start, bool inline_log, const struct katls_buf *digest)
{
	if (digest->len && digest->len != KATLS_CMW_IMA_DIGEST_LEN)
		return false;
	return start ? inline_log != (digest->len > 0) : !inline_log && !digest->len;
}

int katls_cmw_encode(const struct katls_evidence *ev, struct katls_buf *out)
{
	if (!aik_len_ok(ev->aik.len) || (ev->ima_digest.len && ev->ima.len) ||
	    !ima_ok(ev->has_ima, ev->has_ima && !ev->ima_digest.len, &ev->ima_digest))
		return -EINVAL;
	return encode_fields(ev_fields, NUM_EV_FIELDS, ev, KATLS_CMW_MAX, out);
}

/* Sub-encodings must decode too: a decoded Evidence is well-formed throughout. */
static int check_parts(const struct katls_evidence *ev)
{
	struct katls_cmw_workload *w;
	struct katls_cmw_kernel k;
	struct katls_pcrs p;
	int ret;

	if (!aik_len_ok(ev->aik.len) || katls_cmw_pcrs_decode(ev->pcrs.data, ev->pcrs.len, &p))
		return -EBADMSG;
	if (ev->kernel.len && katls_cmw_kernel_decode(ev->kernel.data, ev->kernel.len, &k))
		return -EBADMSG;
	if (!ev->workload.len)
		return 0;
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = katls_cmw_workload_decode(ev->workload.data, ev->workload.len, w);
	free(w);
	return ret;
}

int katls_cmw_decode(const uint8_t *in, size_t in_len, struct katls_evidence *out)
{
	struct katls_cursor c;
	uint32_t seen = 0, start_bit = 0, inline_bit = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (in_len > KATLS_CMW_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < NUM_EV_FIELDS; i++) {
		start_bit |= (uint32_t)(ev_fields[i].presence == P_IF_IMA) << i;
		inline_bit |= (uint32_t)(ev_fields[i].presence == P_IF_IMA_INLINE) << i;
	}
	katls_cursor_init(&c, in, in_len);
	ret = decode_fields(&c, ev_fields, NUM_EV_FIELDS, out, &seen);
	if (!ret)
		ret = katls_get_end(&c);
	out->has_ima = seen & start_bit;
	if (!ret && !ima_ok(out->has_ima, seen & inline_bit, &out->ima_digest))
		ret = -EBADMSG;		/* "ima-start" without its log, or the reverse */
	if (!ret)
		ret = check_parts(out);
	if (ret)
		katls_cmw_cleanup(out);
	return ret;
}

void katls_cmw_cleanup(struct katls_evidence *ev)
{
	if (!ev)
		return;
	katls_buf_cleanup(&ev->quote);
	katls_buf_cleanup(&ev->quote_sig);
	katls_buf_cleanup(&ev->ak);
	katls_buf_cleanup(&ev->pcrs);
	katls_buf_cleanup(&ev->aik);
	katls_buf_cleanup(&ev->ima);
	katls_buf_cleanup(&ev->ima_digest);
	katls_buf_cleanup(&ev->kernel);
	katls_buf_cleanup(&ev->workload);
	katls_buf_cleanup(&ev->batch);
	ev->has_ima = false;
	ev->ima_start = 0;
}

/* ---- generic CMW structure (draft-ietf-rats-msg-wrap CDDL) ---------------------------- */

static int check_cmw(struct katls_cursor *c, unsigned int depth);

static int check_record(struct katls_cursor *c)
{
	struct katls_cursor peek = *c;
	const uint8_t *p;
	size_t len;
	uint64_t n, v;
	uint8_t major;

	if (get_typed(c, MT_ARRAY, &n) || (n != 2 && n != 3))
		return -EBADMSG;
	peek = *c;
	if (get_head(&peek, &major, &v))
		return -EBADMSG;
	if (major == MT_UINT) {			/* CoAP Content-Format */
		if (get_typed(c, MT_UINT, &v) || v > UINT16_MAX)
			return -EBADMSG;
	} else if (get_string(c, MT_TSTR, &p, &len) || !len || !text_ok(p, len)) {
		return -EBADMSG;		/* media type */
	}
	if (get_string(c, MT_BSTR, &p, &len))
		return -EBADMSG;
	if (n == 3 && (get_typed(c, MT_UINT, &v) || !v || v > UINT32_MAX))
		return -EBADMSG;		/* ind: non-zero, at most 4 bytes */
	return 0;
}

static int check_collection(struct katls_cursor *c, unsigned int depth)
{
	const uint8_t *p;
	size_t len;
	uint64_t n, v;
	uint8_t major;
	bool member = false;

	if (get_typed(c, MT_MAP, &n))
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		struct katls_cursor peek = *c;

		if (get_head(&peek, &major, &v))
			return -EBADMSG;
		if (major == MT_UINT || major == MT_NINT) {
			*c = peek;
		} else if (get_string(c, MT_TSTR, &p, &len) || !text_ok(p, len)) {
			return -EBADMSG;
		} else if (bytes_are(p, len, "__cmwc_t")) {
			if (get_string(c, MT_TSTR, &p, &len) || !len || !text_ok(p, len))
				return -EBADMSG;
			continue;
		}
		if (check_cmw(c, depth + 1))
			return -EBADMSG;
		member = true;
	}
	return member ? 0 : -EBADMSG;
}

static int check_cmw(struct katls_cursor *c, unsigned int depth)
{
	struct katls_cursor peek = *c;
	const uint8_t *p;
	size_t len;
	uint64_t v;
	uint8_t major;

	if (depth > CMW_DEPTH_MAX || get_head(&peek, &major, &v))
		return -EBADMSG;
	switch (major) {
	case MT_ARRAY:
		return check_record(c);
	case MT_MAP:
		return check_collection(c, depth);
	case MT_TAG:
		if (v < CMW_TN_FIRST || v > CMW_TN_LAST)
			return -EBADMSG;
		*c = peek;
		return get_string(c, MT_BSTR, &p, &len);
	default:
		return -EBADMSG;
	}
}

int katls_cmw_check(const uint8_t *in, size_t in_len)
{
	struct katls_cursor c;

	if (in_len > KATLS_CMW_MAX)
		return -EBADMSG;
	katls_cursor_init(&c, in, in_len);
	if (check_cmw(&c, 0))
		return -EBADMSG;
	return katls_get_end(&c);
}
