/* SPDX-License-Identifier: MIT */
/*
 * The Merkle tree of quote batching (docs/wire.md, "Quote batching"): the
 * tree hash and inclusion proofs of RFC 9162 §2.1 (= RFC 6962 §2.1) with
 * SHA-256:
 *
 *   leaf hash  SHA-256(0x00 || data)
 *   node hash  SHA-256(0x01 || left || right)
 *   MTH(D[n])  = leaf hash of D[0] if n = 1, else
 *                node hash of MTH(D[0:k]) and MTH(D[k:n]), k the largest
 *                power of two below n
 *
 * The 0x00/0x01 prefixes keep a leaf from ever being read as an inner node
 * (second preimages).  A session's leaf data is KATLS_BATCH_LEAF_LABEL
 * followed by its binder (katls_batch_leaf()).
 *
 * Pure computation, no global state, thread-safe.
 */
#ifndef KATLS_MERKLE_H
#define KATLS_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define KATLS_MERKLE_HASH_LEN	32
/* The fixed maximum depth of a batch: at most 2^10 sessions per quote. */
#define KATLS_BATCH_DEPTH_MAX	10
#define KATLS_BATCH_MAX		(1u << KATLS_BATCH_DEPTH_MAX)
/* Leaf data = this label (no NUL) || binder: the tree hashes nothing else. */
#define KATLS_BATCH_LEAF_LABEL	"katls/1 quote batch leaf"

typedef uint8_t katls_merkle_hash[KATLS_MERKLE_HASH_LEN];

/** katls_merkle_leaf_hash() - SHA-256(0x00 || @data).  Return: 0 or -ENOMEM. */
int katls_merkle_leaf_hash(const uint8_t *data, size_t len, katls_merkle_hash out);

/** katls_merkle_node_hash() - SHA-256(0x01 || @left || @right).  Return: 0 or -ENOMEM. */
int katls_merkle_node_hash(const katls_merkle_hash left, const katls_merkle_hash right,
			   katls_merkle_hash out);

/**
 * katls_batch_leaf() - a session's leaf: the leaf hash of
 * KATLS_BATCH_LEAF_LABEL || @binder (the binder of docs/wire.md, 32 or 48
 * bytes).  Attester and verifier both call this.
 * Return: 0, -EINVAL (empty or over 64 bytes) or -ENOMEM.
 */
int katls_batch_leaf(const uint8_t *binder, size_t len, katls_merkle_hash out);

/**
 * katls_merkle_path_len() - number of hashes in the inclusion path of leaf
 * @index in a tree of @size leaves (RFC 9162 §2.1.3.1), or 0 when @index is
 * not below @size (and for a tree of one leaf).
 */
size_t katls_merkle_path_len(size_t index, size_t size);

/* A whole tree: every level, leaves first (for the attester). */
struct katls_merkle_tree;

/**
 * katls_merkle_tree_build() - the tree over @n leaf hashes (1..KATLS_BATCH_MAX).
 * Return: 0 and *@out, -EINVAL or -ENOMEM.
 */
int katls_merkle_tree_build(const katls_merkle_hash *leaves, size_t n,
			    struct katls_merkle_tree **out);
/** katls_merkle_tree_free() - NULL-safe. */
void katls_merkle_tree_free(struct katls_merkle_tree *t);
/** katls_merkle_tree_root() - the tree head, MTH of every leaf. */
const uint8_t *katls_merkle_tree_root(const struct katls_merkle_tree *t);
/**
 * katls_merkle_tree_path() - the inclusion path of leaf @index, bottom up.
 * @out: room for KATLS_BATCH_DEPTH_MAX hashes; *@out_len gets the count.
 * Return: 0 or -EINVAL (@index out of range).
 */
int katls_merkle_tree_path(const struct katls_merkle_tree *t, size_t index,
			   katls_merkle_hash *out, size_t *out_len);

/**
 * katls_merkle_root_from_path() - RFC 9162 §2.1.3.2: hash @leaf up along
 * @path (@path_len hashes, bottom up) as leaf @index of a tree of @size.
 * Return: 0 and the root in @out; -EINVAL (@index not below @size) or
 * -EBADMSG (@path_len is not katls_merkle_path_len()); -ENOMEM.
 */
int katls_merkle_root_from_path(const katls_merkle_hash leaf, size_t index, size_t size,
				const katls_merkle_hash *path, size_t path_len,
				katls_merkle_hash out);

#endif /* KATLS_MERKLE_H */
