// SPDX-License-Identifier: MIT
/*
 * katls/1 framing: the frame reader (limits, truncation, unknown types,
 * non-blocking sources, never reading past a message), authenticator
 * reassembly, and the hello and verdict messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "katls.h"
#include "util/buf.h"
#include "wire/frame.h"

/* ---- hello ---------------------------------------------------------------- */

static void test_hello_roundtrip(void **state)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_hello h;

	for (uint8_t f = 0; f <= KATLS_HELLO_FLAGS_ALL; f++) {
		b.len = 0;
		assert_int_equal(katls_hello_build(&b, f), 0);
		assert_int_equal(b.len, 6);
		assert_memory_equal(b.data, "\xf0\x00\x00\x02\x01", 5);
		assert_int_equal(b.data[5], f);
		memset(&h, 0xff, sizeof(h));
		assert_int_equal(katls_hello_parse(&h, b.data, b.len), 0);
		assert_int_equal(h.version, 1);
		assert_int_equal(h.flags, f);
	}
	katls_buf_cleanup(&b);
}

static void test_hello_rejects(void **state)
{
	static const struct { const char *msg; size_t len; int err; } bad[] = {
		{ "\xf0\x00\x00\x02\x01\x04", 6, -EBADMSG },	/* reserved flag */
		{ "\xf0\x00\x00\x02\x01\x80", 6, -EBADMSG },
		{ "\xf0\x00\x00\x02\x02\x00", 6, -EPROTONOSUPPORT },
		{ "\xf0\x00\x00\x02\x00\x00", 6, -EPROTONOSUPPORT },
		{ "\xf0\x00\x00\x03\x01\x00\x00", 7, -EBADMSG },	/* trailing in body */
		{ "\xf0\x00\x00\x02\x01\x00\x00", 7, -EBADMSG },	/* trailing after */
		{ "\xf0\x00\x00\x01\x01", 5, -EBADMSG },		/* short body */
		{ "\xf1\x00\x00\x02\x01\x00", 6, -EBADMSG },	/* wrong type */
	};
	static const uint8_t good[] = { 0xf0, 0x00, 0x00, 0x02, 0x01, 0x03 };
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_hello h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(katls_hello_parse(&h, (const uint8_t *)bad[i].msg,
						   bad[i].len), bad[i].err);
	for (size_t i = 0; i < sizeof(good); i++)
		assert_int_equal(katls_hello_parse(&h, good, i), -EBADMSG);
	assert_int_equal(katls_hello_build(&b, 0x04), -EINVAL);
	assert_int_equal(katls_hello_build(&b, 0xff), -EINVAL);
	assert_int_equal(b.len, 0);
	katls_buf_cleanup(&b);
}

/* ---- verdict -------------------------------------------------------------- */

static void test_verdict_roundtrip(void **state)
{
	static const uint8_t want[] = {
		0xf1, 0x00, 0x00, 0x0b, 0x0b, 0x00, 0x00, 0x0e, 0x10,
		0x00, 0x04, 'p', 'c', 'r', '7',
	};
	static const char utf8[] = "refus\xc3\xa9 \xe2\x9c\x97 \xf0\x9f\x98\x80";
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_verdict v;

	assert_int_equal(katls_verdict_build(&b, KATLS_R_BINDER, 3600, "pcr7"), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	assert_int_equal(katls_verdict_parse(&v, b.data, b.len), 0);
	assert_int_equal(v.result, KATLS_R_BINDER);
	assert_int_equal(v.max_age_s, 3600);
	assert_int_equal(v.text_len, 4);
	assert_string_equal(v.text, "pcr7");

	b.len = 0;
	assert_int_equal(katls_verdict_build(&b, 0, 0xffffffff, utf8), 0);
	assert_int_equal(katls_verdict_parse(&v, b.data, b.len), 0);
	assert_int_equal(v.result, 0);
	assert_int_equal(v.max_age_s, 0xffffffff);
	assert_string_equal(v.text, utf8);

	b.len = 0;
	assert_int_equal(katls_verdict_build(&b, KATLS_R_TIMEOUT, 0, NULL), 0);
	assert_int_equal(b.len, 4 + 7);
	assert_int_equal(katls_verdict_parse(&v, b.data, b.len), 0);
	assert_int_equal(v.text_len, 0);
	assert_string_equal(v.text, "");
	katls_buf_cleanup(&b);
}

static void test_verdict_text_cut_at_character(void **state)
{
	char text[1100];
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_verdict v;

	/* 1023 ASCII bytes then a 2-byte character: it does not fit */
	memset(text, 'a', 1023);
	memcpy(text + 1023, "\xc3\xa9" "bb", 5);
	assert_int_equal(katls_verdict_build(&b, 1, 0, text), 0);
	assert_int_equal(katls_verdict_parse(&v, b.data, b.len), 0);
	assert_int_equal(v.text_len, 1023);
	/* exactly 1024 fits */
	memset(text, 'a', 1024);
	text[1024] = '\0';
	b.len = 0;
	assert_int_equal(katls_verdict_build(&b, 1, 0, text), 0);
	assert_int_equal(katls_verdict_parse(&v, b.data, b.len), 0);
	assert_int_equal(v.text_len, 1024);
	assert_int_equal(strlen(v.text), 1024);
	katls_buf_cleanup(&b);
}

/* A verdict with result 5, max_age 0 and the given text bytes. */
static size_t verdict_with(uint8_t *out, const void *text, size_t len)
{
	size_t body = 1 + 4 + 2 + len;

	out[0] = 0xf1;
	out[1] = (uint8_t)(body >> 16);
	out[2] = (uint8_t)(body >> 8);
	out[3] = (uint8_t)body;
	memcpy(out + 4, "\x05\x00\x00\x00\x00", 5);
	out[9] = (uint8_t)(len >> 8);
	out[10] = (uint8_t)len;
	memcpy(out + 11, text, len);
	return 11 + len;
}

static void test_verdict_rejects_bad_text(void **state)
{
	static const struct { const char *s; size_t len; } bad[] = {
		{ "a\0b", 3 },			/* NUL */
		{ "\x80", 1 },			/* lone continuation */
		{ "\xc3", 1 },			/* truncated sequence */
		{ "\xe2\x9c", 2 },
		{ "\xc0\xaf", 2 },		/* overlong '/' */
		{ "\xe0\x80\xaf", 3 },		/* overlong */
		{ "\xed\xa0\x80", 3 },		/* surrogate U+D800 */
		{ "\xf4\x90\x80\x80", 4 },	/* U+110000 */
		{ "\xf8\x88\x80\x80\x80", 5 },	/* 5-byte form */
		{ "\xff", 1 },
		{ "\xc3\x28", 2 },		/* bad continuation */
	};
	static const char *const good[] = { "\xf4\x8f\xbf\xbf", "\xef\xbf\xbd", "~" };
	uint8_t msg[1200];
	char big[1025];
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_verdict v;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = verdict_with(msg, bad[i].s, bad[i].len);
		assert_int_equal(katls_verdict_parse(&v, msg, n), -EBADMSG);
	}
	for (size_t i = 0; i < 3; i++) {
		n = verdict_with(msg, good[i], strlen(good[i]));
		assert_int_equal(katls_verdict_parse(&v, msg, n), 0);
		assert_string_equal(v.text, good[i]);
	}
	/* 1025 bytes of text on the wire */
	memset(big, 'x', sizeof(big));
	n = verdict_with(msg, big, sizeof(big));
	assert_int_equal(katls_verdict_parse(&v, msg, n), -EBADMSG);
	n = verdict_with(msg, big, 1024);
	assert_int_equal(katls_verdict_parse(&v, msg, n), 0);
	/* truncations and trailing bytes */
	n = verdict_with(msg, "ok", 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(katls_verdict_parse(&v, msg, i), -EBADMSG);
	msg[n] = 0;
	assert_int_equal(katls_verdict_parse(&v, msg, n + 1), -EBADMSG);
	msg[3]++;
	msg[n] = 0;
	assert_int_equal(katls_verdict_parse(&v, msg, n + 1), -EBADMSG);
	/* the builder refuses what the parser would */
	assert_int_equal(katls_verdict_build(&b, 1, 0, "\xc0\xaf"), -EINVAL);
	assert_int_equal(katls_verdict_build(&b, 1, 0, "\xed\xa0\x80"), -EINVAL);
	assert_int_equal(b.len, 0);
	katls_buf_cleanup(&b);
}

/* ---- reader --------------------------------------------------------------- */

static void test_frame_types(void **state)
{
	static const uint8_t known[] = { 0xf0, 0xf1, 0xf2, 0x11, 0x0d, 0x0b, 0x0f, 0x14 };
	unsigned int n = 0;

	for (unsigned int t = 0; t < 256; t++)
		n += katls_frame_type_known((uint8_t)t);
	assert_int_equal(n, sizeof(known));
	for (size_t i = 0; i < sizeof(known); i++)
		assert_true(katls_frame_type_known(known[i]));
}

static void test_reader_mem_stream(void **state)
{
	struct katls_buf s = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct katls_frame f;
	struct katls_hello h;
	struct katls_verdict v;

	katls_hello_build(&s, KATLS_HELLO_WILL_ATTEST);
	katls_put_bytes(&s, "\x11\x00\x00\x03\x00\x00\x00", 7);
	katls_verdict_build(&s, 0, 60, "fine");
	katls_put_bytes(&s, "\x14\x00\x00\x00", 4);		/* empty body is legal */
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);

	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.type, KATLS_FRAME_HELLO);
	assert_int_equal(f.msg_len, 6);
	assert_int_equal(f.body_len, 2);
	assert_int_equal(katls_hello_parse(&h, f.msg, f.msg_len), 0);
	assert_int_equal(h.flags, KATLS_HELLO_WILL_ATTEST);

	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.type, 0x11);
	assert_int_equal(f.body_len, 3);
	assert_ptr_equal(f.body, f.msg + 4);

	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(katls_verdict_parse(&v, f.msg, f.msg_len), 0);
	assert_string_equal(v.text, "fine");
	assert_int_equal(v.max_age_s, 60);

	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.type, 0x14);
	assert_int_equal(f.body_len, 0);

	assert_int_equal(katls_frame_next(&r, &f), -ENODATA);
	assert_int_equal(katls_frame_next(&r, &f), -ENODATA);
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&s);
}

static void test_reader_truncated(void **state)
{
	static const uint8_t msg[] = { 0xf0, 0x00, 0x00, 0x02, 0x01, 0x00 };
	struct katls_frame_reader r;
	struct katls_frame f;

	for (size_t i = 1; i < sizeof(msg); i++) {
		katls_frame_reader_init_mem(&r, msg, i, 0);
		assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);
		assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);	/* sticky */
		katls_frame_reader_cleanup(&r);
	}
	katls_frame_reader_init_mem(&r, msg, 0, 0);
	assert_int_equal(katls_frame_next(&r, &f), -ENODATA);
	katls_frame_reader_cleanup(&r);
}

static void test_reader_unknown_type(void **state)
{
	static const uint8_t msg[] = {
		0x16, 0x03, 0x03, 0x00, 0x05,		/* a TLS record header */
		0xf0, 0x00, 0x00, 0x02, 0x01, 0x00,
	};
	struct katls_frame_reader r;
	struct katls_frame f;

	katls_frame_reader_init_mem(&r, msg, sizeof(msg), 0);
	assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);
	assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);
	/* rejected from the header: the body was not read */
	assert_int_equal(r.mem.len, sizeof(msg) - 4);
	katls_frame_reader_cleanup(&r);
}

static void test_reader_oversize(void **state)
{
	uint8_t msg[64] = { 0x0b, 0x00, 0x00, 0x11 };	/* 17-byte body */
	struct katls_frame_reader r;
	struct katls_frame f;

	katls_frame_reader_init_mem(&r, msg, 4 + 17, 16);
	assert_int_equal(katls_frame_next(&r, &f), -EMSGSIZE);
	assert_int_equal(katls_frame_next(&r, &f), -EMSGSIZE);
	assert_int_equal(r.mem.len, 17);	/* body never read */
	katls_frame_reader_cleanup(&r);

	katls_frame_reader_init_mem(&r, msg, 4 + 17, 17);
	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.body_len, 17);
	katls_frame_reader_cleanup(&r);

	/* default limit: 256 KiB */
	memcpy(msg + 1, "\x04\x00\x01", 3);
	katls_frame_reader_init_mem(&r, msg, sizeof(msg), 0);
	assert_int_equal(katls_frame_next(&r, &f), -EMSGSIZE);
	katls_frame_reader_cleanup(&r);
	msg[3] = 0x00;
	katls_frame_reader_init_mem(&r, msg, sizeof(msg), 0);
	assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);	/* allowed, but truncated */
	katls_frame_reader_cleanup(&r);
}

/*
 * A stream source that hands out at most `chunk` bytes per call, answers
 * -EAGAIN and -EINTR in between, and records the largest request size.
 */
struct trickle {
	const uint8_t *p;
	size_t len, pos, chunk;
	unsigned int calls;
	bool eagain, eof_sent;
	int error;		/* returned once pos reaches len, if set */
};

static ssize_t trickle_read(void *arg, uint8_t *buf, size_t len)
{
	struct trickle *t = arg;
	size_t n;

	t->calls++;
	if (t->eagain && t->calls % 3 == 1)
		return -EAGAIN;
	if (t->eagain && t->calls % 3 == 2)
		return -EINTR;
	if (t->pos == t->len)
		return t->error;
	n = len < t->chunk ? len : t->chunk;
	if (n > t->len - t->pos)
		n = t->len - t->pos;
	memcpy(buf, t->p + t->pos, n);
	t->pos += n;
	return (ssize_t)n;
}

static void test_reader_nonblocking_never_reads_ahead(void **state)
{
	struct katls_buf s = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct trickle t = { 0 };
	struct katls_frame f;
	unsigned int again = 0;
	int ret;

	katls_hello_build(&s, 3);
	katls_verdict_build(&s, 0, 1, "accepted");
	katls_put_bytes(&s, "application data", 16);
	t.p = s.data;
	t.len = s.len;
	t.chunk = 1000;
	t.eagain = true;
	katls_frame_reader_init(&r, trickle_read, &t, 0);
	while ((ret = katls_frame_next(&r, &f)) == -EAGAIN)
		again++;
	assert_int_equal(ret, 0);
	assert_true(again > 0);
	assert_int_equal(f.type, KATLS_FRAME_HELLO);
	assert_int_equal(t.pos, 6);		/* exactly one message consumed */
	while ((ret = katls_frame_next(&r, &f)) == -EAGAIN)
		;
	assert_int_equal(ret, 0);
	assert_int_equal(f.type, KATLS_FRAME_VERDICT);
	assert_int_equal(t.pos, s.len - 16);	/* the app data is untouched */
	katls_frame_reader_cleanup(&r);

	/* one byte at a time gives the same messages */
	memset(&t, 0, sizeof(t));
	t.p = s.data;
	t.len = s.len - 16;
	t.chunk = 1;
	katls_frame_reader_init(&r, trickle_read, &t, 0);
	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_memory_equal(f.msg, s.data, 6);
	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_memory_equal(f.msg, s.data + 6, s.len - 16 - 6);
	assert_int_equal(katls_frame_next(&r, &f), -ENODATA);
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&s);
}

static ssize_t greedy_read(void *arg, uint8_t *buf, size_t len)
{
	return (ssize_t)len + 1;
}

/* Reports end of stream once, then (wrongly) has more bytes. */
static ssize_t eof_once_read(void *arg, uint8_t *buf, size_t len)
{
	struct trickle *t = arg;

	if (t->pos && !t->eof_sent) {
		t->eof_sent = true;
		return 0;
	}
	return trickle_read(arg, buf, len);
}

static void test_reader_source_errors(void **state)
{
	static const uint8_t hello[] = { 0xf0, 0x00, 0x00, 0x02, 0x01, 0x00 };
	struct katls_frame_reader r;
	struct trickle t = { .p = hello, .len = 3, .chunk = 8, .error = -ECONNRESET };
	struct katls_frame f;

	katls_frame_reader_init(&r, trickle_read, &t, 0);
	assert_int_equal(katls_frame_next(&r, &f), -ECONNRESET);
	katls_frame_reader_cleanup(&r);

	/* an end of stream inside a message is final */
	memset(&t, 0, sizeof(t));
	t.p = hello;
	t.len = sizeof(hello);
	t.chunk = 2;
	katls_frame_reader_init(&r, eof_once_read, &t, 0);
	assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);
	assert_int_equal(katls_frame_next(&r, &f), -EBADMSG);
	katls_frame_reader_cleanup(&r);

	katls_frame_reader_init(&r, greedy_read, NULL, 0);
	assert_int_equal(katls_frame_next(&r, &f), -EIO);
	katls_frame_reader_cleanup(&r);
}

/* ---- authenticator reassembly --------------------------------------------- */

static const uint8_t cert[] = { 0x0b, 0x00, 0x00, 0x02, 0xaa, 0xbb };
static const uint8_t cv[] = { 0x0f, 0x00, 0x00, 0x01, 0xcc };
static const uint8_t fin[] = { 0x14, 0x00, 0x00, 0x01, 0xdd };
static const uint8_t verdict[] = { 0xf1, 0x00, 0x00, 0x07, 0x17, 0, 0, 0, 0, 0, 0 };

static void stream_of(struct katls_buf *s, const uint8_t *const *m,
		      const size_t *len, size_t n)
{
	s->len = 0;
	for (size_t i = 0; i < n; i++)
		katls_put_bytes(s, m[i], len[i]);
}

static void test_read_authenticator(void **state)
{
	const uint8_t *full[] = { cert, cv, fin, verdict };
	size_t full_len[] = { sizeof(cert), sizeof(cv), sizeof(fin), sizeof(verdict) };
	struct katls_buf s = KATLS_BUF_INIT, out = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct katls_frame f;

	stream_of(&s, full, full_len, 4);
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), 0);
	assert_int_equal(out.len, sizeof(cert) + sizeof(cv) + sizeof(fin));
	assert_memory_equal(out.data, s.data, out.len);
	/* the verdict after it is still there */
	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.type, KATLS_FRAME_VERDICT);
	/* a complete authenticator in out is not a partial one */
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EINVAL);
	katls_frame_reader_cleanup(&r);

	/* the empty authenticator: Finished alone */
	out.len = 0;
	katls_frame_reader_init_mem(&r, fin, sizeof(fin), 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), 0);
	assert_int_equal(out.len, sizeof(fin));
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&out);
	katls_buf_cleanup(&s);
}

static void test_read_authenticator_bad_sequences(void **state)
{
	const uint8_t *seq[][3] = {
		{ cert, fin, NULL },		/* no CertificateVerify */
		{ cv, fin, NULL },		/* no Certificate */
		{ cert, cert, NULL },
		{ cert, cv, cv },
		{ verdict, NULL, NULL },	/* peer sent its verdict instead */
	};
	const size_t expect_at[] = { 1, 0, 1, 2, 0 };	/* index of the stray message */
	struct katls_buf s = KATLS_BUF_INIT, out = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct katls_frame f;

	for (size_t i = 0; i < 5; i++) {
		size_t lens[3], n = 0;

		for (; n < 3 && seq[i][n]; n++)
			lens[n] = seq[i][n][0] == 0x0b ? sizeof(cert) :
				  seq[i][n][0] == 0xf1 ? sizeof(verdict) : 5;
		stream_of(&s, seq[i], lens, n);
		out.len = 0;
		katls_frame_reader_init_mem(&r, s.data, s.len, 0);
		assert_int_equal(katls_frame_read_authenticator(&r, &out), -EPROTO);
		/* the stray message stays available */
		assert_int_equal(katls_frame_next(&r, &f), 0);
		assert_memory_equal(f.msg, seq[i][expect_at[i]], f.msg_len);
		katls_frame_reader_cleanup(&r);
	}
	/* truncated inside the CertificateVerify */
	stream_of(&s, (const uint8_t *[]){ cert, cv }, (size_t[]){ sizeof(cert), 3 }, 2);
	out.len = 0;
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EBADMSG);
	katls_frame_reader_cleanup(&r);
	/* the stream ends between Certificate and CertificateVerify */
	out.len = 0;
	katls_frame_reader_init_mem(&r, s.data, sizeof(cert), 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EBADMSG);
	katls_frame_reader_cleanup(&r);
	/* ... or before it starts */
	out.len = 0;
	katls_frame_reader_init_mem(&r, s.data, 0, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -ENODATA);
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&out);
	katls_buf_cleanup(&s);
}

static void test_read_authenticator_resumes(void **state)
{
	const uint8_t *full[] = { cert, cv, fin };
	size_t full_len[] = { sizeof(cert), sizeof(cv), sizeof(fin) };
	struct katls_buf s = KATLS_BUF_INIT, out = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct trickle t = { 0 };
	unsigned int again = 0;
	int ret;

	stream_of(&s, full, full_len, 3);
	t.p = s.data;
	t.len = s.len;
	t.chunk = 2;
	t.eagain = true;
	katls_frame_reader_init(&r, trickle_read, &t, 0);
	while ((ret = katls_frame_read_authenticator(&r, &out)) == -EAGAIN)
		again++;
	assert_int_equal(ret, 0);
	assert_true(again >= 3);
	assert_int_equal(out.len, s.len);
	assert_memory_equal(out.data, s.data, s.len);
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&out);
	katls_buf_cleanup(&s);
}

/* A detached IMA log's frames (ima_detach.h) come before the Certificate. */
static const uint8_t ima1[] = { 0xf2, 0x00, 0x00, 0x03, 1, 2, 3 };
static const uint8_t ima2[] = { 0xf2, 0x00, 0x00, 0x01, 4 };

static void test_read_authenticator_ima_frames(void **state)
{
	const uint8_t *ok[] = { ima1, ima2, cert, cv, fin, verdict };
	size_t ok_len[] = { sizeof(ima1), sizeof(ima2), sizeof(cert), sizeof(cv), sizeof(fin),
			    sizeof(verdict) };
	struct katls_buf s = KATLS_BUF_INIT, out = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct katls_frame f;

	stream_of(&s, ok, ok_len, 6);
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), 0);
	assert_int_equal(out.len, s.len - sizeof(verdict));
	assert_memory_equal(out.data, s.data, out.len);
	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.type, KATLS_FRAME_VERDICT);
	katls_frame_reader_cleanup(&r);

	/* a log goes with Evidence: not with the empty authenticator, not after it starts */
	stream_of(&s, (const uint8_t *[]){ ima1, fin }, (size_t[]){ sizeof(ima1), sizeof(fin) },
		  2);
	out.len = 0;
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EPROTO);
	assert_int_equal(katls_frame_next(&r, &f), 0);
	assert_int_equal(f.type, 0x14);
	katls_frame_reader_cleanup(&r);
	stream_of(&s, (const uint8_t *[]){ cert, ima1 }, (size_t[]){ sizeof(cert), sizeof(ima1) },
		  2);
	out.len = 0;
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EPROTO);
	katls_frame_reader_cleanup(&r);
	/* the stream ends after the log */
	out.len = 0;
	katls_frame_reader_init_mem(&r, ima1, sizeof(ima1), 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EBADMSG);
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&out);
	katls_buf_cleanup(&s);
}

/* No more than KATLS_ANSWER_MAX bytes are collected, however many frames come. */
static void test_read_authenticator_bounded(void **state)
{
	const size_t body = KATLS_FRAME_MAX_DEFAULT;
	const size_t n = KATLS_ANSWER_MAX / body + 1;
	struct katls_buf s = KATLS_BUF_INIT, out = KATLS_BUF_INIT;
	struct katls_frame_reader r;

	assert_int_equal(katls_buf_reserve(&s, n * (body + 4)), 0);
	for (size_t i = 0; i < n; i++) {
		katls_put_u8(&s, KATLS_FRAME_IMA_LOG);
		katls_put_be24(&s, (uint32_t)body);
		memset(s.data + s.len, (int)i, body);
		s.len += body;
	}
	katls_frame_reader_init_mem(&r, s.data, s.len, 0);
	assert_int_equal(katls_frame_read_authenticator(&r, &out), -EMSGSIZE);
	assert_true(out.len <= KATLS_ANSWER_MAX);
	assert_true(out.len > KATLS_IMA_DETACHED_MAX);
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&out);
	katls_buf_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_hello_rejects),
		cmocka_unit_test(test_verdict_roundtrip),
		cmocka_unit_test(test_verdict_text_cut_at_character),
		cmocka_unit_test(test_verdict_rejects_bad_text),
		cmocka_unit_test(test_frame_types),
		cmocka_unit_test(test_reader_mem_stream),
		cmocka_unit_test(test_reader_truncated),
		cmocka_unit_test(test_reader_unknown_type),
		cmocka_unit_test(test_reader_oversize),
		cmocka_unit_test(test_reader_nonblocking_never_reads_ahead),
		cmocka_unit_test(test_reader_source_errors),
		cmocka_unit_test(test_read_authenticator),
		cmocka_unit_test(test_read_authenticator_bad_sequences),
		cmocka_unit_test(test_read_authenticator_resumes),
		cmocka_unit_test(test_read_authenticator_ima_frames),
		cmocka_unit_test(test_read_authenticator_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
