// SPDX-License-Identifier: MIT
/*
 * The batch proof record (see batch_proof.h): encoder, strict parser and the
 * verifier's checks.  The parser admits any size, index and path length the
 * encoding can carry so that the checks, not the parser, name what is wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "evidence/batch_proof.h"

int katls_batch_proof_encode(const struct katls_batch_proof *p, struct katls_buf *out)
{
	int ret;

	if (!p || p->path_len > 255 || (p->path_len && !p->path))
		return -EINVAL;
	ret = katls_put_u8(out, KATLS_BATCH_PROOF_VERSION);
	if (!ret)
		ret = katls_put_be16(out, p->size);
	if (!ret)
		ret = katls_put_be16(out, p->index);
	if (!ret)
		ret = katls_put_bytes(out, p->leaf, sizeof(p->leaf));
	if (!ret)
		ret = katls_put_bytes(out, p->root, sizeof(p->root));
	if (!ret)
		ret = katls_put_u8(out, (uint8_t)p->path_len);
	if (!ret && p->path_len)
		ret = katls_put_bytes(out, p->path, p->path_len * KATLS_MERKLE_HASH_LEN);
	return ret;
}

int katls_batch_proof_parse(const uint8_t *in, size_t in_len, struct katls_batch_proof *out)
{
	struct katls_cursor c;
	const uint8_t *path;
	uint8_t version, n;

	memset(out, 0, sizeof(*out));
	katls_cursor_init(&c, in, in_len);
	if (katls_get_u8(&c, &version) || version != KATLS_BATCH_PROOF_VERSION ||
	    katls_get_be16(&c, &out->size) || katls_get_be16(&c, &out->index) ||
	    katls_get_copy(&c, out->leaf, sizeof(out->leaf)) ||
	    katls_get_copy(&c, out->root, sizeof(out->root)) || katls_get_u8(&c, &n) ||
	    katls_get_bytes(&c, (size_t)n * KATLS_MERKLE_HASH_LEN, &path) || katls_get_end(&c)) {
		memset(out, 0, sizeof(*out));
		return -EBADMSG;
	}
	out->path = (const katls_merkle_hash *)path;
	out->path_len = n;
	return 0;
}

struct report {
	enum katls_reason *reason;
	char *msg;
	size_t msg_size;
};

__attribute__((format(printf, 4, 5)))
static int report(const struct report *r, enum katls_reason reason, int ret, const char *fmt, ...)
{
	va_list ap;

	*r->reason = reason;
	if (r->msg && r->msg_size) {
		va_start(ap, fmt);
		vsnprintf(r->msg, r->msg_size, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static bool same(const uint8_t *a, const uint8_t *b, size_t len)
{
	return !CRYPTO_memcmp(a, b, len);
}

/*
 * After a failed inclusion: would the path prove @leaf at another index of
 * the same path length?  A diagnosis for the message only (at most
 * KATLS_BATCH_MAX tries of at most KATLS_BATCH_DEPTH_MAX hashes, and only
 * for an authenticator that already passed RFC 9261 and the PKI checks).
 * Return: that index, or -1.
 */
static long other_index(const struct katls_batch_proof *p, const katls_merkle_hash leaf)
{
	katls_merkle_hash r;

	for (size_t j = 0; j < p->size; j++)
		if (j != p->index && katls_merkle_path_len(j, p->size) == p->path_len &&
		    !katls_merkle_root_from_path(leaf, j, p->size, p->path, p->path_len, r) &&
		    same(r, p->root, sizeof(r)))
			return (long)j;
	return -1;
}

int katls_batch_proof_verify(const struct katls_batch_proof *p, const katls_merkle_hash leaf,
			     size_t max_size, const uint8_t *extra, size_t extra_len,
			     enum katls_reason *out_reason, char *msg, size_t msg_size)
{
	const struct report rep = { out_reason, msg, msg_size };
	katls_merkle_hash root;
	size_t need;
	long j;
	int ret;

	if (!p || !leaf || !extra)
		return report(&rep, KATLS_R_INTERNAL, -EINVAL, "invalid batch proof check");
	if (p->size < 2 || p->size > max_size)
		return report(&rep, KATLS_R_BATCH_SIZE, -EACCES, "quote batch of %u sessions is "
			      "outside the bounds 2..%zu", p->size, max_size);
	if (p->index >= p->size)
		return report(&rep, KATLS_R_BATCH_INDEX, -EACCES, "batch leaf index %u is not "
			      "below the batch size %u", p->index, p->size);
	need = katls_merkle_path_len(p->index, p->size);
	if (p->path_len != need)
		return report(&rep, KATLS_R_BATCH_PATH, -EACCES, "batch path %s: %zu hashes, "
			      "leaf %u of a batch of %u needs %zu",
			      p->path_len < need ? "truncated" : "over-long", p->path_len,
			      p->index, p->size, need);
	if (!same(p->leaf, leaf, KATLS_MERKLE_HASH_LEN))
		return report(&rep, KATLS_R_BATCH_LEAF, -EACCES, "batch proof is for another "
			      "leaf than this session's binder (Evidence made for another "
			      "session, replayed or relayed)");
	ret = katls_merkle_root_from_path(leaf, p->index, p->size, p->path, p->path_len, root);
	if (ret)
		return report(&rep, KATLS_R_INTERNAL, ret, "batch path hashing failed");
	if (!same(root, p->root, sizeof(root))) {
		j = other_index(p, leaf);
		if (j >= 0)
			return report(&rep, KATLS_R_BATCH_INCLUSION, -EACCES, "batch path does "
				      "not lead from this session's leaf to the root at index %u "
				      "(it does at index %ld: wrong index)", p->index, j);
		return report(&rep, KATLS_R_BATCH_INCLUSION, -EACCES, "batch path does not "
			      "lead from this session's leaf %u to the root (a sibling hash is "
			      "wrong)", p->index);
	}
	if (extra_len != sizeof(root) || !same(root, extra, sizeof(root)))
		return report(&rep, KATLS_R_BATCH_ROOT, -EACCES, "batch root is not the quote's "
			      "extraData (the quote covers another batch)");
	return report(&rep, KATLS_R_OK, 0, "session leaf %u of a quote batch of %u", p->index,
		      p->size);
}
