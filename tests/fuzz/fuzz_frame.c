// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for katls/1 framing (frame.c).  The first input byte
 * selects the mode, the rest is a byte stream:
 *   0  frame reader over the stream; every hello and verdict is parsed, and
 *      whatever parses must rebuild to the same bytes (oracle);
 *   1  authenticator reassembly through a source that returns bytes in
 *      chunks of (byte 1 % 7 + 1) with -EAGAIN in between, small size limit;
 *   2  hello and verdict parsers on the stream as one message;
 *   3  katls_ima_split() on the stream as one answer: the log it returns
 *      and the frames it skipped must account for every byte before the
 *      authenticator (oracle).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/frame.h"
#include "wire/ima_detach.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const uint8_t *msg, size_t len)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_verdict v;
	struct katls_hello h;

	if (!katls_hello_parse(&h, msg, len)) {
		if (katls_hello_build(&b, h.flags) || b.len != len ||
		    memcmp(b.data, msg, len))
			abort();
	}
	b.len = 0;
	if (!katls_verdict_parse(&v, msg, len)) {
		if (strlen(v.text) != v.text_len ||
		    katls_verdict_build(&b, v.result, v.max_age_s, v.text) ||
		    b.len != len || memcmp(b.data, msg, len))
			abort();
	}
	katls_buf_cleanup(&b);
}

static void read_frames(const uint8_t *data, size_t size)
{
	struct katls_frame_reader r;
	struct katls_frame f;
	int ret;

	katls_frame_reader_init_mem(&r, data, size, 0);
	while (!(ret = katls_frame_next(&r, &f))) {
		if (!katls_frame_type_known(f.type) || f.msg_len != 4 + f.body_len)
			abort();
		check_roundtrip(f.msg, f.msg_len);
	}
	if (ret != -ENODATA && ret != -EBADMSG && ret != -EMSGSIZE)
		abort();
	katls_frame_reader_cleanup(&r);
}

struct chunked {
	const uint8_t *p;
	size_t len, chunk;
	unsigned int calls;
};

static ssize_t chunked_read(void *arg, uint8_t *buf, size_t len)
{
	struct chunked *c = arg;
	size_t n = len < c->chunk ? len : c->chunk;

	if (c->calls++ % 2)
		return -EAGAIN;
	if (n > c->len)
		n = c->len;
	memcpy(buf, c->p, n);
	c->p += n;
	c->len -= n;
	return (ssize_t)n;
}

/*
 * A reassembled authenticator is Finished, or IMA log frames (any number)
 * then Certificate CV Finished.
 */
static void check_authenticator(const struct katls_buf *b)
{
	static const uint8_t full[] = { 0x0b, 0x0f, 0x14 };
	struct katls_cursor c, body;
	uint8_t types[3], n = 0, t;
	unsigned int logs = 0;

	katls_cursor_init(&c, b->data, b->len);
	while (c.len) {
		if (katls_get_u8(&c, &t) || katls_get_vec(&c, 3, &body))
			abort();
		if (t == KATLS_FRAME_IMA_LOG && !n) {
			logs++;
			continue;
		}
		if (n == 3)
			abort();
		types[n++] = t;
	}
	if (!((n == 1 && types[0] == 0x14 && !logs) || (n == 3 && !memcmp(types, full, 3))))
		abort();
}

static void split_answer(const uint8_t *data, size_t size)
{
	struct katls_buf log = KATLS_BUF_INIT;
	size_t frames, off;

	if (!katls_ima_split(data, size, &log, &frames, &off) &&
	    (off != log.len + frames * KATLS_FRAME_HDR_LEN || off > size ||
	     (off < size && data[off] == KATLS_FRAME_IMA_LOG)))
		abort();
	katls_buf_cleanup(&log);
}

static void read_authenticators(const uint8_t *data, size_t size)
{
	struct chunked c = { .p = data + 1, .len = size - 1, .chunk = data[0] % 7 + 1 };
	struct katls_buf out = KATLS_BUF_INIT;
	struct katls_frame_reader r;
	struct katls_frame f;
	int ret;

	katls_frame_reader_init(&r, chunked_read, &c, 4096);
	for (;;) {
		ret = katls_frame_read_authenticator(&r, &out);
		if (ret == -EAGAIN)
			continue;
		if (ret == -EPROTO) {
			/* skip the stray message, start a new authenticator */
			while ((ret = katls_frame_next(&r, &f)) == -EAGAIN)
				;
			if (ret)
				break;
			out.len = 0;
			continue;
		}
		if (ret)
			break;
		check_authenticator(&out);
		out.len = 0;
	}
	katls_frame_reader_cleanup(&r);
	katls_buf_cleanup(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	switch (data[0]) {
	case 0:
		read_frames(data + 1, size - 1);
		break;
	case 1:
		read_authenticators(data + 1, size - 1);
		break;
	case 2:
		check_roundtrip(data + 1, size - 1);
		break;
	case 3:
		split_answer(data + 1, size - 1);
		break;
	default:
		break;
	}
	return 0;
}
