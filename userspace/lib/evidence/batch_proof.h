/* SPDX-License-Identifier: MIT */
/*
 * The Evidence record of a session whose quote covers a batch of sessions
 * (docs/wire.md, "Quote batching"): where the session's leaf sits in the
 * batch's Merkle tree (merkle.h) and the path from it to the tree head that
 * the TPM quoted as qualifyingData.  Wire form, big-endian:
 *
 *   u8  version            1
 *   u16 size               sessions under the quote, 2..KATLS_BATCH_MAX
 *   u16 index              this session's leaf, < size
 *   u8  leaf[32]           the leaf the attester put in for this session
 *   u8  root[32]           the tree head = the quote's extraData
 *   u8  path_len           hashes that follow
 *   u8  path[path_len][32] siblings from the leaf up (RFC 9162 §2.1.3.1)
 *
 * A quote that covers one session carries no such record: its
 * qualifyingData is the session's own binder, exactly as without batching.
 *
 * Parsing checks the encoding only; katls_batch_proof_verify() checks the
 * bounds and the hashes, each step with its own reason code, so that a
 * verifier says which step failed.  Pure computation, thread-safe.
 */
#ifndef KATLS_BATCH_PROOF_H
#define KATLS_BATCH_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "evidence/merkle.h"
#include "katls.h"
#include "util/buf.h"

#define KATLS_BATCH_PROOF_VERSION	1
#define KATLS_BATCH_PROOF_HEAD		(1 + 2 + 2 + 2 * KATLS_MERKLE_HASH_LEN + 1)
/* The largest encoding (a path of 255 hashes): what the CMW decoder admits. */
#define KATLS_BATCH_PROOF_MAX		(KATLS_BATCH_PROOF_HEAD + 255 * KATLS_MERKLE_HASH_LEN)

struct katls_batch_proof {
	uint16_t size;
	uint16_t index;
	katls_merkle_hash leaf;
	katls_merkle_hash root;
	const katls_merkle_hash *path;	/* points into the caller's buffer */
	size_t path_len;		/* 0..255 */
};

/**
 * katls_batch_proof_encode() - append the wire form of @p.
 * Return: 0, -EINVAL (path_len over 255) or -ENOMEM.
 */
int katls_batch_proof_encode(const struct katls_batch_proof *p, struct katls_buf *out);

/**
 * katls_batch_proof_parse() - strict parse: version 1, exactly path_len
 * hashes, no trailing bytes.  @out->path points into @in.
 * Return: 0 or -EBADMSG.
 */
int katls_batch_proof_parse(const uint8_t *in, size_t in_len, struct katls_batch_proof *out);

/**
 * katls_batch_proof_verify() - does @p prove this session's @leaf under the
 * quote whose extraData is @extra?
 * @leaf: katls_batch_leaf() of the verifier's own binder.
 * @max_size: the largest batch the verifier accepts (KATLS_BATCH_MAX).
 *
 * Steps, first failure wins: size in 2..@max_size (KATLS_R_BATCH_SIZE) →
 * index below size (KATLS_R_BATCH_INDEX) → path length = the one RFC 9162
 * gives that index and size, so a truncated or over-long path fails here
 * (KATLS_R_BATCH_PATH) → the record's leaf is @leaf: a proof made for
 * another session (KATLS_R_BATCH_LEAF) → @leaf hashed up the path with the
 * index's bits gives the record's root (KATLS_R_BATCH_INCLUSION; the
 * message says whether the path would fit another index, or a sibling is
 * wrong) → that root is @extra (KATLS_R_BATCH_ROOT).  Only a hash chain from
 * @leaf itself to @extra is accepted; the record's own leaf and root are
 * there to name the failing step.
 * @out_reason: set on every return; @msg (optional): one line.
 * Return: 0, -EACCES (refused, reason set) or -ENOMEM (KATLS_R_INTERNAL).
 */
int katls_batch_proof_verify(const struct katls_batch_proof *p, const katls_merkle_hash leaf,
			     size_t max_size, const uint8_t *extra, size_t extra_len,
			     enum katls_reason *out_reason, char *msg, size_t msg_size);

#endif /* KATLS_BATCH_PROOF_H */
