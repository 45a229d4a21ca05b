/* SPDX-License-Identifier: MIT */
/*
 * Incremental IMA, the verifier's side: what it remembers of each attester's
 * IMA log after an accepted verification, so that the next one checks only
 * what is new (docs/wire.md, "Incremental IMA").
 *
 * A prefix (struct katls_ima_prefix) says: under this compiled policy, the
 * quotes of AK @ak covered log entries 0..N-1, which replay to the SHA-256
 * PCR 10 value @pcr10, start with a boot_aggregate equal to @boot_aggregate
 * and passed the policy's appraisal.  A verifier resumes from it in two ways:
 *
 *   tail   its request names the prefix (N, PCR 10, AK Name); an attester
 *          that holds the same prefix sends the entries from N only, and
 *          the verifier replays them from @pcr10 to the new quote;
 *   bytes  an attester sends its whole log; when the first @bytes_len
 *          bytes hash to @bytes_sha256, they are the records verified
 *          before, and only the records after them are replayed.
 *
 * Either way the new quote must cover PCRs 0-9 with the same boot_aggregate
 * and PCR 10 must extend @pcr10: an attester that rebooted, re-provisioned
 * its AK or rewrote its log does not replay, and the verifier falls back to
 * the whole log.  @workloads remembers which executables were (or were not)
 * measured in entries 0..N-1, for the workload check of a tail.
 *
 * Prefixes are immutable and reference counted: a verification holds the one
 * its request named, while the cache may replace or evict it.  The cache is
 * one per compiled policy (the appraisal belongs to its runtime policy), so a
 * policy reload starts empty; it holds at most @max prefixes, the least
 * recently used evicted, each of katls_ima_cache_entry_bytes() bytes.
 * Thread-safe: one mutex, held for lookups and replacements only.
 */
#ifndef KATLS_IMA_CACHE_H
#define KATLS_IMA_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evidence/quote.h"

#define KATLS_IMA_PREFIX_WORKLOADS	8
#define KATLS_IMA_CACHE_DEFAULT		1024

/* An executable looked up in a prefix: measured at @index, or nowhere in it. */
struct katls_ima_prefix_workload {
	uint8_t path_sha256[32];	/* SHA-256 of the exe path */
	uint8_t alg;			/* enum katls_ima_hash */
	uint8_t digest_len;
	uint8_t digest[64];
	bool found;
	uint32_t index;
};

struct katls_ima_prefix {
	int refs;				/* atomic */
	struct katls_tpm_name ak;		/* Name of the AK whose quotes covered it */
	bool has_peer;
	uint8_t peer_tag[32];			/* katls_ima_cache_tag() of the peer */
	uint64_t num_entries;			/* N */
	uint8_t pcr10[32];			/* SHA-256 PCR 10 after entries 0..N-1 */
	uint8_t boot_aggregate[32];		/* entry 0: SHA-256 of that boot's PCRs 0-9 */
	/* the prefix as bytes of a whole log (0 entries: none) */
	uint64_t bytes_entries;
	uint8_t bytes_pcr10[32];
	uint64_t bytes_len;
	uint32_t bytes_digest_size;		/* D of those records */
	uint8_t bytes_sha256[32];
	unsigned int num_workloads;
	struct katls_ima_prefix_workload workloads[KATLS_IMA_PREFIX_WORKLOADS];
};

struct katls_ima_cache;

/** katls_ima_cache_new() - a cache of at most @max prefixes. Return: 0 or -ENOMEM. */
int katls_ima_cache_new(size_t max, struct katls_ima_cache **out);
/** katls_ima_cache_free() - NULL-safe. */
void katls_ima_cache_free(struct katls_ima_cache *c);
/** katls_ima_cache_entry_bytes() - memory of one cached attester. */
size_t katls_ima_cache_entry_bytes(void);
/** katls_ima_cache_count() - prefixes held. */
size_t katls_ima_cache_count(struct katls_ima_cache *c);

/**
 * katls_ima_cache_tag() - the peer tag of a peer identity: @id (@id_len
 * bytes, e.g. an address) if given, else the expected peer name @name.
 * Return: false if there is neither (no hint can be chosen for the peer).
 */
bool katls_ima_cache_tag(const uint8_t *id, size_t id_len, const char *name, uint8_t out[32]);

/** katls_ima_cache_by_peer() - a reference to the prefix of peer @tag, or NULL. */
struct katls_ima_prefix *katls_ima_cache_by_peer(struct katls_ima_cache *c,
						 const uint8_t tag[32]);
/** katls_ima_cache_by_ak() - a reference to the prefix of AK @name, or NULL. */
struct katls_ima_prefix *katls_ima_cache_by_ak(struct katls_ima_cache *c, const uint8_t *name,
					       size_t name_len);
/**
 * katls_ima_cache_put() - publish @p (the cache takes one reference): it
 * replaces the prefix of the same AK and any other of the same peer.
 */
void katls_ima_cache_put(struct katls_ima_cache *c, struct katls_ima_prefix *p);
/** katls_ima_cache_drop() - forget the prefix of AK @name (it did not replay). */
void katls_ima_cache_drop(struct katls_ima_cache *c, const uint8_t *name, size_t name_len);

/** katls_ima_prefix_new() - a zeroed prefix with one reference, or NULL. */
struct katls_ima_prefix *katls_ima_prefix_new(void);
/** katls_ima_prefix_ref() - one more reference. Return: @p. */
struct katls_ima_prefix *katls_ima_prefix_ref(struct katls_ima_prefix *p);
/** katls_ima_prefix_unref() - NULL-safe; the last reference frees. */
void katls_ima_prefix_unref(struct katls_ima_prefix *p);

#endif /* KATLS_IMA_CACHE_H */
