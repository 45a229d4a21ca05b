/* SPDX-License-Identifier: MIT */
/*
 * Explicit-cursor reading and growable-buffer writing of big-endian wire
 * formats (TLS, TPM) and host/little-endian ones (IMA).  Every parser in
 * libkatls reads through a struct katls_cursor and never touches a byte it has
 * not bounds-checked; every encoder writes into a struct katls_buf.
 *
 * Readers return 0 or -EBADMSG (input too short); on failure the cursor is
 * left unchanged.  Writers return 0 or -ENOMEM; a failed writer leaves the
 * buffer's existing contents intact.
 */
#ifndef KATLS_BUF_H
#define KATLS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct katls_cursor {
	const uint8_t *p;
	size_t len;		/* bytes remaining */
};

static inline void katls_cursor_init(struct katls_cursor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = len;
}

int katls_get_u8(struct katls_cursor *c, uint8_t *out);
int katls_get_be16(struct katls_cursor *c, uint16_t *out);
int katls_get_be24(struct katls_cursor *c, uint32_t *out);
int katls_get_be32(struct katls_cursor *c, uint32_t *out);
int katls_get_be64(struct katls_cursor *c, uint64_t *out);
int katls_get_le32(struct katls_cursor *c, uint32_t *out);
/* Points *out at the next n bytes and advances (no copy). */
int katls_get_bytes(struct katls_cursor *c, size_t n, const uint8_t **out);
int katls_get_copy(struct katls_cursor *c, void *out, size_t n);
/*
 * Reads a length-prefixed vector (prefix of 1, 2, 3 or 4 big-endian bytes)
 * into a sub-cursor and advances past it.
 */
int katls_get_vec(struct katls_cursor *c, unsigned int prefix, struct katls_cursor *out);
/* Fails with -EBADMSG unless the cursor is exhausted. */
int katls_get_end(const struct katls_cursor *c);

/*
 * Secrets are marked where the buffer is declared: a buffer that will hold
 * key material, exporter outputs or key-log lines starts as
 * KATLS_BUF_SECRET_INIT (or katls_buf_init_secret()), every other one as
 * KATLS_BUF_INIT.  A secret buffer is wiped, its used length, when it is
 * freed or moved by growth; a plain one is only freed.  Do not shrink a
 * secret buffer by lowering len: the bytes past len would escape the wipe.
 */
struct katls_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool secret;		/* wipe data[0..len) before freeing it */
};

#define KATLS_BUF_INIT		{ NULL, 0, 0, false }
#define KATLS_BUF_SECRET_INIT	{ NULL, 0, 0, true }

/* An empty secret buffer (for buffers inside structs). */
static inline void katls_buf_init_secret(struct katls_buf *b)
{
	*b = (struct katls_buf)KATLS_BUF_SECRET_INIT;
}

/* Frees the buffer, wiping its used length first if it is secret. NULL-safe. */
void katls_buf_cleanup(struct katls_buf *b);
int katls_buf_reserve(struct katls_buf *b, size_t extra);
int katls_put_u8(struct katls_buf *b, uint8_t v);
int katls_put_be16(struct katls_buf *b, uint16_t v);
int katls_put_be24(struct katls_buf *b, uint32_t v);
int katls_put_be32(struct katls_buf *b, uint32_t v);
int katls_put_be64(struct katls_buf *b, uint64_t v);
int katls_put_le32(struct katls_buf *b, uint32_t v);
int katls_put_bytes(struct katls_buf *b, const void *p, size_t n);
/*
 * Length-prefixed vectors: katls_vec_begin() writes a zero prefix of `prefix`
 * bytes and returns its offset in *mark; katls_vec_end() patches in the
 * length written since, failing with -EMSGSIZE if it does not fit.
 */
int katls_vec_begin(struct katls_buf *b, unsigned int prefix, size_t *mark);
int katls_vec_end(struct katls_buf *b, unsigned int prefix, size_t mark);

#endif /* KATLS_BUF_H */
