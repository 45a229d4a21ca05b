// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for quote batching's parser and hashing (batch_proof.c,
 * merkle.c).  The first input byte selects the mode, the rest is the data:
 *   0  the batch proof record: whatever parses re-encodes to the same bytes;
 *      it is then checked against its own leaf and root (and a leaf that
 *      differs in one bit), and an accepted proof must be a real hash chain
 *      from that leaf to that root, within the bounds;
 *   1  the attester's tree over the data's 32-byte leaves (at most
 *      TREE_LEAVES_MAX, for speed: every tree shape up to 2^7 + 2 leaves;
 *      tests/unit/test_merkle.c covers the full size): every leaf's path,
 *      hashed up by the verifier's RFC 9162 algorithm, gives the tree's
 *      root, and any path of another length is refused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/batch_proof.h"
#include "evidence/merkle.h"

#define TREE_LEAVES_MAX	130

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void proof_mode(const uint8_t *data, size_t size)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_batch_proof p;
	katls_merkle_hash other, r;
	enum katls_reason reason;
	char msg[256];
	int ret;

	if (katls_batch_proof_parse(data, size, &p))
		return;
	if (katls_batch_proof_encode(&p, &b) || b.len != size || memcmp(b.data, data, size))
		abort();
	katls_buf_cleanup(&b);
	ret = katls_batch_proof_verify(&p, p.leaf, KATLS_BATCH_MAX, p.root, sizeof(p.root),
				       &reason, msg, sizeof(msg));
	if (!ret) {
		if (reason != KATLS_R_OK || p.size < 2 || p.size > KATLS_BATCH_MAX ||
		    p.index >= p.size || p.path_len > KATLS_BATCH_DEPTH_MAX ||
		    katls_merkle_root_from_path(p.leaf, p.index, p.size, p.path, p.path_len, r) ||
		    memcmp(r, p.root, sizeof(r)))
			abort();
		/* the same proof never proves a different leaf */
		memcpy(other, p.leaf, sizeof(other));
		other[0] ^= 1;
		if (!katls_batch_proof_verify(&p, other, KATLS_BATCH_MAX, p.root, sizeof(p.root),
					      &reason, msg, sizeof(msg)))
			abort();
	} else if (ret != -EACCES || reason < KATLS_R_BATCH_SIZE || reason > KATLS_R_BATCH_ROOT) {
		abort();
	}
}

static void tree_mode(const uint8_t *data, size_t size)
{
	size_t n = size / KATLS_MERKLE_HASH_LEN, len;
	katls_merkle_hash path[KATLS_BATCH_DEPTH_MAX + 1], r;
	struct katls_merkle_tree *t;

	if (!n || n > TREE_LEAVES_MAX)
		return;
	if (katls_merkle_tree_build((const katls_merkle_hash *)data, n, &t))
		abort();
	for (size_t i = 0; i < n; i++) {
		const uint8_t *leaf = data + i * KATLS_MERKLE_HASH_LEN;

		if (katls_merkle_tree_path(t, i, path, &len) || len != katls_merkle_path_len(i, n) ||
		    katls_merkle_root_from_path(leaf, i, n, path, len, r) ||
		    memcmp(r, katls_merkle_tree_root(t), sizeof(r)))
			abort();
		if (len && katls_merkle_root_from_path(leaf, i, n, path, len - 1, r) != -EBADMSG)
			abort();
		memcpy(path[len], leaf, KATLS_MERKLE_HASH_LEN);
		if (katls_merkle_root_from_path(leaf, i, n, path, len + 1, r) != -EBADMSG)
			abort();
	}
	katls_merkle_tree_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		tree_mode(data + 1, size - 1);
	else
		proof_mode(data + 1, size - 1);
	return 0;
}
