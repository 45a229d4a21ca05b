// SPDX-License-Identifier: MIT
/*
 * katls/1 framing: the incremental frame reader and the katls_hello and
 * katls_verdict messages; see frame.h.
 */
#include <errno.h>
#include <string.h>

#include "wire/frame.h"

/* RFC 9261 handshake message types that may appear in a katls/1 stream. */
#define HS_CERTIFICATE_REQUEST		0x0d
#define HS_CLIENT_CERTIFICATE_REQUEST	0x11
#define HS_CERTIFICATE			0x0b
#define HS_CERTIFICATE_VERIFY		0x0f
#define HS_FINISHED			0x14

/**
 * katls_frame_type_known() - Whether katls/1 defines a message type.
 * @type: the first byte of a frame.
 *
 * Return: true for hello, verdict, requests and authenticator messages.
 */
bool katls_frame_type_known(uint8_t type)
{
	switch (type) {
	case KATLS_FRAME_HELLO:
	case KATLS_FRAME_VERDICT:
	case KATLS_FRAME_IMA_LOG:
	case HS_CERTIFICATE_REQUEST:
	case HS_CLIENT_CERTIFICATE_REQUEST:
	case HS_CERTIFICATE:
	case HS_CERTIFICATE_VERIFY:
	case HS_FINISHED:
		return true;
	default:
		return false;
	}
}

/* ---- reader -------------------------------------------------------------- */

/**
 * katls_frame_reader_init() - Reader over a read callback.
 * @r: the reader; katls_frame_reader_cleanup() when done.
 * @read: the byte source.
 * @arg: its argument.
 * @max_body: largest accepted body, 0 = KATLS_FRAME_MAX_DEFAULT.
 */
void katls_frame_reader_init(struct katls_frame_reader *r,
			     katls_frame_read_fn read, void *arg,
			     size_t max_body)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->arg = arg;
	r->max_body = max_body ? max_body : KATLS_FRAME_MAX_DEFAULT;
	if (r->max_body > 0xffffff)
		r->max_body = 0xffffff;
}

static ssize_t mem_read(void *arg, uint8_t *buf, size_t len)
{
	struct katls_cursor *c = arg;
	size_t n = len < c->len ? len : c->len;

	if (katls_get_copy(c, buf, n))
		return -EIO;
	return (ssize_t)n;
}

/**
 * katls_frame_reader_init_mem() - Reader over a byte buffer.
 * @r: the reader; it points to itself, so do not move it after this call.
 * @data: the whole stream; must outlive @r.
 * @len: its length.
 * @max_body: largest accepted body, 0 = KATLS_FRAME_MAX_DEFAULT.
 */
void katls_frame_reader_init_mem(struct katls_frame_reader *r,
				 const uint8_t *data, size_t len,
				 size_t max_body)
{
	katls_frame_reader_init(r, mem_read, NULL, max_body);
	katls_cursor_init(&r->mem, data, len);
	r->arg = &r->mem;
}

/**
 * katls_frame_reader_cleanup() - Free the reader's buffer. NULL-safe.
 * @r: the reader.
 */
void katls_frame_reader_cleanup(struct katls_frame_reader *r)
{
	if (r)
		katls_buf_cleanup(&r->buf);
}

static int fail(struct katls_frame_reader *r, int err)
{
	r->error = err;
	return err;
}

/* Reads until buf holds @want bytes; never asks for more than that. */
static int fill(struct katls_frame_reader *r, size_t want)
{
	ssize_t got;
	int ret;

	while (r->buf.len < want) {
		ret = katls_buf_reserve(&r->buf, want - r->buf.len);
		if (ret)
			return ret;
		got = r->read(r->arg, r->buf.data + r->buf.len, want - r->buf.len);
		if (got == -EINTR)
			continue;
		if (got < 0)
			return (int)got;
		if (got == 0)
			return r->buf.len ? fail(r, -EBADMSG) : -ENODATA;
		if ((size_t)got > want - r->buf.len)
			return fail(r, -EIO);
		r->buf.len += (size_t)got;
	}
	return 0;
}

/**
 * katls_frame_next() - Return the next whole message.
 * @r: the reader.
 * @out: the message; valid until the next call on @r.
 *
 * Unknown types and oversized lengths are rejected from the header alone,
 * before the body is read.  Framing errors are sticky: the stream has lost
 * synchronisation and the connection must be closed.
 *
 * Return: 0; -EAGAIN (callback has no data yet: call again, progress is
 * kept); -ENODATA (clean end of stream between messages); -EBADMSG (unknown
 * type, or stream ends inside a message); -EMSGSIZE (body larger than the
 * limit); -ENOMEM; or the callback's error.
 */
int katls_frame_next(struct katls_frame_reader *r, struct katls_frame *out)
{
	struct katls_cursor c;
	uint32_t len;
	uint8_t type;
	int ret;

	if (r->error)
		return r->error;
	if (r->delivered && !r->again)
		r->buf.len = 0;
	r->delivered = r->again = false;
	ret = fill(r, KATLS_FRAME_HDR_LEN);
	if (ret)
		return ret;
	katls_cursor_init(&c, r->buf.data, KATLS_FRAME_HDR_LEN);
	if (katls_get_u8(&c, &type) || katls_get_be24(&c, &len))
		return fail(r, -EIO);
	if (!katls_frame_type_known(type))
		return fail(r, -EBADMSG);
	if (len > r->max_body)
		return fail(r, -EMSGSIZE);
	ret = fill(r, KATLS_FRAME_HDR_LEN + (size_t)len);
	if (ret)
		return ret;
	out->type = type;
	out->msg = r->buf.data;
	out->msg_len = r->buf.len;
	out->body = r->buf.data + KATLS_FRAME_HDR_LEN;
	out->body_len = len;
	r->delivered = true;
	return 0;
}

/* Type of the last message in a partial authenticator, 0 if none. */
static int last_type(const struct katls_buf *b, uint8_t *type)
{
	struct katls_cursor c, body;

	*type = 0;
	katls_cursor_init(&c, b->data, b->len);
	while (c.len)
		if (katls_get_u8(&c, type) || katls_get_vec(&c, 3, &body))
			return -EINVAL;
	return 0;
}

static bool follows(uint8_t last, uint8_t type)
{
	switch (last) {
	case 0:
		return type == KATLS_FRAME_IMA_LOG || type == HS_CERTIFICATE ||
		       type == HS_FINISHED;
	case KATLS_FRAME_IMA_LOG:	/* a log goes with Evidence, not with a refusal */
		return type == KATLS_FRAME_IMA_LOG || type == HS_CERTIFICATE;
	case HS_CERTIFICATE:
		return type == HS_CERTIFICATE_VERIFY;
	case HS_CERTIFICATE_VERIFY:
		return type == HS_FINISHED;
	default:
		return false;
	}
}

/**
 * katls_frame_read_authenticator() - Read one whole authenticator.
 * @r: the reader.
 * @out: Certificate || CertificateVerify || Finished, or a lone Finished (the
 *	 empty authenticator), is appended here, after the IMA log frames
 *	 that may precede a Certificate (ima_detach.h), all as on the wire.
 *	 Pass it empty; after -EAGAIN pass the same buffer again to resume.
 *
 * Only the framing is checked; katls_ea_authenticator_validate() and
 * katls_ima_split() do the rest.
 *
 * Return: 0; -EPROTO if the next message cannot continue an authenticator (it
 * stays in the reader: katls_frame_next() returns it); -EBADMSG if the stream
 * ends inside the authenticator; -EMSGSIZE past KATLS_ANSWER_MAX bytes;
 * -EINVAL if @out does not hold a partial authenticator; otherwise as
 * katls_frame_next().
 */
int katls_frame_read_authenticator(struct katls_frame_reader *r,
				   struct katls_buf *out)
{
	struct katls_frame f;
	uint8_t last;
	int ret;

	if (last_type(out, &last) || last == HS_FINISHED)
		return -EINVAL;
	for (;;) {
		ret = katls_frame_next(r, &f);
		if (ret == -ENODATA && last)
			return -EBADMSG;	/* stream ends inside it */
		if (ret)
			return ret;
		if (!follows(last, f.type)) {
			r->again = true;
			return -EPROTO;
		}
		if (f.msg_len > KATLS_ANSWER_MAX - out->len)
			return -EMSGSIZE;
		ret = katls_put_bytes(out, f.msg, f.msg_len);
		if (ret)
			return ret;
		if (f.type == HS_FINISHED)
			return 0;
		last = f.type;
	}
}

/* ---- katls_hello --------------------------------------------------------- */

static int open_frame(const uint8_t *msg, size_t msg_len, uint8_t type,
		      struct katls_cursor *body)
{
	struct katls_cursor c;
	uint8_t t;

	if (!msg && msg_len)
		return -EINVAL;
	katls_cursor_init(&c, msg, msg_len);
	if (katls_get_u8(&c, &t) || t != type || katls_get_vec(&c, 3, body) ||
	    katls_get_end(&c))
		return -EBADMSG;
	return 0;
}

/**
 * katls_hello_build() - Append a katls_hello (version 1).
 * @out: the buffer.
 * @flags: KATLS_HELLO_* bits.
 *
 * Return: 0, -EINVAL (reserved flag bits), -ENOMEM.
 */
int katls_hello_build(struct katls_buf *out, uint8_t flags)
{
	size_t start = out->len;
	int ret;

	if (flags & ~KATLS_HELLO_FLAGS_ALL)
		return -EINVAL;
	ret = katls_put_u8(out, KATLS_FRAME_HELLO);
	if (!ret)
		ret = katls_put_be24(out, 2);
	if (!ret)
		ret = katls_put_u8(out, KATLS_PROTO_VERSION);
	if (!ret)
		ret = katls_put_u8(out, flags);
	if (ret)
		out->len = start;
	return ret;
}

/**
 * katls_hello_parse() - Parse a katls_hello.
 * @out: version and flags.
 * @msg: the whole message, header included.
 * @msg_len: its length.
 *
 * Return: 0; -EBADMSG (malformed, trailing bytes, reserved flags set);
 * -EPROTONOSUPPORT (version other than 1).
 */
int katls_hello_parse(struct katls_hello *out, const uint8_t *msg,
		      size_t msg_len)
{
	struct katls_cursor body;
	int ret;

	ret = open_frame(msg, msg_len, KATLS_FRAME_HELLO, &body);
	if (ret)
		return ret;
	if (katls_get_u8(&body, &out->version) ||
	    katls_get_u8(&body, &out->flags) || katls_get_end(&body))
		return -EBADMSG;
	if (out->version != KATLS_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (out->flags & ~KATLS_HELLO_FLAGS_ALL)
		return -EBADMSG;
	return 0;
}

/* ---- katls_verdict ------------------------------------------------------- */

/* Strict UTF-8 (RFC 3629): shortest form, no surrogates, <= U+10FFFF, no NUL. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0, len, k;
	uint32_t cp;

	while (i < n) {
		if (!s[i])
			return false;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			len = 2;
		else if ((s[i] & 0xf0) == 0xe0)
			len = 3;
		else if ((s[i] & 0xf8) == 0xf0)
			len = 4;
		else
			return false;
		cp = s[i] & (0x7f >> len);
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min_cp[len] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/**
 * katls_verdict_build() - Append a katls_verdict.
 * @out: the buffer.
 * @result: 0 accepted, else an enum katls_reason.
 * @max_age_s: how long an acceptance holds.
 * @text: UTF-8 human message, NULL = "".  Longer than
 *	  KATLS_VERDICT_TEXT_MAX bytes: cut at the last character that fits.
 *
 * Return: 0, -EINVAL (@text not UTF-8), -ENOMEM.
 */
int katls_verdict_build(struct katls_buf *out, uint8_t result,
			uint32_t max_age_s, const char *text)
{
	const uint8_t *t = (const uint8_t *)(text ? text : "");
	size_t len = strlen((const char *)t), start = out->len, mark;
	int ret;

	if (!utf8_valid(t, len))
		return -EINVAL;
	if (len > KATLS_VERDICT_TEXT_MAX) {
		len = KATLS_VERDICT_TEXT_MAX;
		while (len && (t[len] & 0xc0) == 0x80)
			len--;
	}
	ret = katls_put_u8(out, KATLS_FRAME_VERDICT);
	if (!ret)
		ret = katls_vec_begin(out, 3, &mark);
	if (!ret)
		ret = katls_put_u8(out, result);
	if (!ret)
		ret = katls_put_be32(out, max_age_s);
	if (!ret)
		ret = katls_put_be16(out, (uint16_t)len);
	if (!ret)
		ret = katls_put_bytes(out, t, len);
	if (!ret)
		ret = katls_vec_end(out, 3, mark);
	if (ret)
		out->len = start;
	return ret;
}

/**
 * katls_verdict_parse() - Parse a katls_verdict.
 * @out: result, max_age_s and the text (NUL-terminated copy).
 * @msg: the whole message, header included.
 * @msg_len: its length.
 *
 * Return: 0 or -EBADMSG (malformed, trailing bytes, text longer than
 * KATLS_VERDICT_TEXT_MAX, not UTF-8, or containing NUL).
 */
int katls_verdict_parse(struct katls_verdict *out, const uint8_t *msg,
			size_t msg_len)
{
	struct katls_cursor body, text;
	int ret;

	ret = open_frame(msg, msg_len, KATLS_FRAME_VERDICT, &body);
	if (ret)
		return ret;
	if (katls_get_u8(&body, &out->result) ||
	    katls_get_be32(&body, &out->max_age_s) ||
	    katls_get_vec(&body, 2, &text) || katls_get_end(&body) ||
	    text.len > KATLS_VERDICT_TEXT_MAX || !utf8_valid(text.p, text.len))
		return -EBADMSG;
	if (text.len)
		memcpy(out->text, text.p, text.len);
	out->text[text.len] = '\0';
	out->text_len = text.len;
	return 0;
}
