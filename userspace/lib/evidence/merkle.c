// SPDX-License-Identifier: MIT
/*
 * RFC 9162 Merkle tree hashing and inclusion paths (see merkle.h).
 *
 * The attester builds the tree bottom up, level by level: nodes pair up left
 * to right and the last node of an odd-sized level moves up unchanged.  That
 * is the same tree as RFC 9162's recursive split at the largest power of two
 * (a promoted node is exactly the right subtree that is not yet complete),
 * and it costs n - 1 node hashes for n leaves, whatever the number of paths
 * taken from it.  The verifier side is RFC 9162 §2.1.3.2 verbatim.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "evidence/merkle.h"

#define LEVELS_MAX	(KATLS_BATCH_DEPTH_MAX + 1)

struct katls_merkle_tree {
	size_t num_levels;		/* leaves are level 0, the root is the last */
	size_t off[LEVELS_MAX];		/* first node of each level in node[] */
	size_t len[LEVELS_MAX];		/* nodes in each level */
	katls_merkle_hash *node;
};

/* SHA-256(prefix || a || b). */
static int hash3(uint8_t prefix, const uint8_t *a, size_t a_len, const uint8_t *b,
		 size_t b_len, katls_merkle_hash out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
	     (!a_len || EVP_DigestUpdate(ctx, a, a_len) == 1) &&
	     (!b_len || EVP_DigestUpdate(ctx, b, b_len) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -ENOMEM;
}

int katls_merkle_leaf_hash(const uint8_t *data, size_t len, katls_merkle_hash out)
{
	return hash3(0x00, data, len, NULL, 0, out);
}

int katls_merkle_node_hash(const katls_merkle_hash left, const katls_merkle_hash right,
			   katls_merkle_hash out)
{
	return hash3(0x01, left, KATLS_MERKLE_HASH_LEN, right, KATLS_MERKLE_HASH_LEN, out);
}

int katls_batch_leaf(const uint8_t *binder, size_t len, katls_merkle_hash out)
{
	static const char label[] = KATLS_BATCH_LEAF_LABEL;

	if (!binder || !len || len > 64)
		return -EINVAL;
	return hash3(0x00, (const uint8_t *)label, sizeof(label) - 1, binder, len, out);
}

/*
 * One step of RFC 9162 §2.1.3.2 for leaf number *fn of last index *sn: true
 * if the next path hash is the left sibling (or the node is the right edge
 * of its subtree, which the loop then skips up to where it has a sibling).
 */
static bool sibling_on_left(size_t *fn, size_t *sn)
{
	bool left = (*fn & 1) || *fn == *sn;

	if (left && !(*fn & 1))
		while (!(*fn & 1) && *fn) {
			*fn >>= 1;
			*sn >>= 1;
		}
	return left;
}

size_t katls_merkle_path_len(size_t index, size_t size)
{
	size_t fn = index, sn, n = 0;

	if (index >= size)
		return 0;
	for (sn = size - 1; sn; fn >>= 1, sn >>= 1) {
		sibling_on_left(&fn, &sn);
		n++;
	}
	return n;
}

int katls_merkle_root_from_path(const katls_merkle_hash leaf, size_t index, size_t size,
				const katls_merkle_hash *path, size_t path_len,
				katls_merkle_hash out)
{
	katls_merkle_hash r;
	size_t fn = index, sn;
	int ret = 0;

	if (index >= size)
		return -EINVAL;
	sn = size - 1;
	memcpy(r, leaf, sizeof(r));
	for (size_t i = 0; i < path_len && !ret; i++, fn >>= 1, sn >>= 1) {
		if (!sn)
			return -EBADMSG;	/* longer than the tree is deep */
		if (sibling_on_left(&fn, &sn))
			ret = katls_merkle_node_hash(path[i], r, r);
		else
			ret = katls_merkle_node_hash(r, path[i], r);
	}
	if (ret)
		return ret;
	if (sn)
		return -EBADMSG;		/* stops short of the root */
	memcpy(out, r, sizeof(r));
	return 0;
}

int katls_merkle_tree_build(const katls_merkle_hash *leaves, size_t n,
			    struct katls_merkle_tree **out)
{
	struct katls_merkle_tree *t;
	size_t total = 0, len = n, l;
	int ret = 0;

	*out = NULL;
	if (!leaves || !n || n > KATLS_BATCH_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (l = 0; ; l++) {
		t->off[l] = total;
		t->len[l] = len;
		total += len;
		if (len == 1)
			break;
		len = (len + 1) / 2;
	}
	t->num_levels = l + 1;
	t->node = calloc(total, sizeof(*t->node));
	if (!t->node) {
		free(t);
		return -ENOMEM;
	}
	memcpy(t->node, leaves, n * sizeof(*leaves));
	for (l = 1; l < t->num_levels && !ret; l++) {
		const katls_merkle_hash *below = t->node + t->off[l - 1];
		katls_merkle_hash *here = t->node + t->off[l];
		size_t nb = t->len[l - 1];

		for (size_t i = 0; i < t->len[l] && !ret; i++) {
			const uint8_t *left = below[2 * i];

			if (2 * i + 1 < nb)
				ret = katls_merkle_node_hash(left, below[2 * i + 1], here[i]);
			else
				memcpy(here[i], left, sizeof(here[i]));	/* promoted */
		}
	}
	if (ret) {
		katls_merkle_tree_free(t);
		return ret;
	}
	*out = t;
	return 0;
}

void katls_merkle_tree_free(struct katls_merkle_tree *t)
{
	if (!t)
		return;
	free(t->node);
	free(t);
}

const uint8_t *katls_merkle_tree_root(const struct katls_merkle_tree *t)
{
	return t->node[t->off[t->num_levels - 1]];
}

int katls_merkle_tree_path(const struct katls_merkle_tree *t, size_t index,
			   katls_merkle_hash *out, size_t *out_len)
{
	size_t n = 0;

	if (index >= t->len[0])
		return -EINVAL;
	for (size_t l = 0; l + 1 < t->num_levels; l++, index >>= 1) {
		const katls_merkle_hash *level = t->node + t->off[l];

		if (index & 1)
			memcpy(out[n++], level[index - 1], KATLS_MERKLE_HASH_LEN);
		else if (index + 1 < t->len[l])
			memcpy(out[n++], level[index + 1], KATLS_MERKLE_HASH_LEN);
		/* else: the last node of an odd level has no sibling here */
	}
	*out_len = n;
	return 0;
}
