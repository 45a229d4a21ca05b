// SPDX-License-Identifier: MIT
/* Cursor reads and buffer writes; see buf.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/buf.h"

static int get_be(struct katls_cursor *c, unsigned int n, uint64_t *out)
{
	uint64_t v = 0;

	if (c->len < n)
		return -EBADMSG;
	for (unsigned int i = 0; i < n; i++)
		v = (v << 8) | c->p[i];
	c->p += n;
	c->len -= n;
	*out = v;
	return 0;
}

int katls_get_u8(struct katls_cursor *c, uint8_t *out)
{
	uint64_t v;
	int ret = get_be(c, 1, &v);

	if (!ret)
		*out = (uint8_t)v;
	return ret;
}

int katls_get_be16(struct katls_cursor *c, uint16_t *out)
{
	uint64_t v;
	int ret = get_be(c, 2, &v);

	if (!ret)
		*out = (uint16_t)v;
	return ret;
}

int katls_get_be24(struct katls_cursor *c, uint32_t *out)
{
	uint64_t v;
	int ret = get_be(c, 3, &v);

	if (!ret)
		*out = (uint32_t)v;
	return ret;
}

int katls_get_be32(struct katls_cursor *c, uint32_t *out)
{
	uint64_t v;
	int ret = get_be(c, 4, &v);

	if (!ret)
		*out = (uint32_t)v;
	return ret;
}

int katls_get_be64(struct katls_cursor *c, uint64_t *out)
{
	return get_be(c, 8, out);
}

int katls_get_le32(struct katls_cursor *c, uint32_t *out)
{
	if (c->len < 4)
		return -EBADMSG;
	*out = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 |
	       (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
	c->p += 4;
	c->len -= 4;
	return 0;
}

int katls_get_bytes(struct katls_cursor *c, size_t n, const uint8_t **out)
{
	if (c->len < n)
		return -EBADMSG;
	*out = c->p;
	c->p += n;
	c->len -= n;
	return 0;
}

int katls_get_copy(struct katls_cursor *c, void *out, size_t n)
{
	const uint8_t *p;
	int ret = katls_get_bytes(c, n, &p);

	if (!ret && n)
		memcpy(out, p, n);
	return ret;
}

int katls_get_vec(struct katls_cursor *c, unsigned int prefix, struct katls_cursor *out)
{
	struct katls_cursor save = *c;
	const uint8_t *p;
	uint64_t n;

	if (prefix < 1 || prefix > 4)
		return -EINVAL;
	if (get_be(c, prefix, &n))
		return -EBADMSG;
	if (katls_get_bytes(c, n, &p)) {
		*c = save;
		return -EBADMSG;
	}
	katls_cursor_init(out, p, n);
	return 0;
}

int katls_get_end(const struct katls_cursor *c)
{
	return c->len ? -EBADMSG : 0;
}

void katls_buf_cleanup(struct katls_buf *b)
{
	if (!b)
		return;
	if (b->data && b->secret)
		OPENSSL_cleanse(b->data, b->len);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* A secret's old block is wiped, so it cannot be realloc()ed in place. */
static uint8_t *grow_secret(struct katls_buf *b, size_t cap)
{
	uint8_t *p = malloc(cap);

	if (p && b->data) {
		memcpy(p, b->data, b->len);
		OPENSSL_cleanse(b->data, b->len);
		free(b->data);
	}
	return p;
}

int katls_buf_reserve(struct katls_buf *b, size_t extra)
{
	size_t cap;
	uint8_t *p;

	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	cap = b->cap ? b->cap : 64;
	while (cap - b->len < extra)
		cap *= 2;
	p = b->secret ? grow_secret(b, cap) : realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static int put_be(struct katls_buf *b, uint64_t v, unsigned int n)
{
	int ret = katls_buf_reserve(b, n);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < n; i++)
		b->data[b->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	b->len += n;
	return 0;
}

int katls_put_u8(struct katls_buf *b, uint8_t v) { return put_be(b, v, 1); }
int katls_put_be16(struct katls_buf *b, uint16_t v) { return put_be(b, v, 2); }
int katls_put_be24(struct katls_buf *b, uint32_t v) { return put_be(b, v, 3); }
int katls_put_be32(struct katls_buf *b, uint32_t v) { return put_be(b, v, 4); }
int katls_put_be64(struct katls_buf *b, uint64_t v) { return put_be(b, v, 8); }

int katls_put_le32(struct katls_buf *b, uint32_t v)
{
	uint8_t le[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	return katls_put_bytes(b, le, sizeof(le));
}

int katls_put_bytes(struct katls_buf *b, const void *p, size_t n)
{
	int ret = katls_buf_reserve(b, n);

	if (ret)
		return ret;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int katls_vec_begin(struct katls_buf *b, unsigned int prefix, size_t *mark)
{
	if (prefix < 1 || prefix > 4)
		return -EINVAL;
	*mark = b->len;
	return put_be(b, 0, prefix);
}

int katls_vec_end(struct katls_buf *b, unsigned int prefix, size_t mark)
{
	size_t n = b->len - mark - prefix;

	if (prefix < 4 && n >> (8 * prefix))
		return -EMSGSIZE;
	if (prefix == 4 && n > UINT32_MAX)
		return -EMSGSIZE;
	for (unsigned int i = 0; i < prefix; i++)
		b->data[mark + i] = (uint8_t)(n >> (8 * (prefix - 1 - i)));
	return 0;
}
