/* SPDX-License-Identifier: MIT */
/*
 * Incremental IMA in one verification (verify.c's IMA step): where to
 * resume the replay from, the workload lookup across a cached prefix, and
 * what to remember once the Evidence is accepted.  ima_cache.h says what a
 * prefix is; docs/wire.md "Incremental IMA" what the peers send.
 *
 *   katls_ima_resume_plan()     before katls_ima_verify(): a tail resumes
 *                               from the prefix the request offered (and
 *                               only from it); a whole log from the bytes of
 *                               the cached prefix of its AK, if they match;
 *                               else it is replayed from entry 0.
 *   katls_ima_resume_workload() is the workload measured in the entries the
 *                               quote covers, prefix included?
 *   katls_ima_resume_commit()   after acceptance: publish the new prefix.
 *
 * Never less checking: every entry is replayed and appraised once under
 * this compiled policy, entry 0 is checked against the quoted PCRs 0-9 at
 * every verification, and what cannot be decided from the cache (a tail
 * that does not extend the prefix, a workload the prefix was never searched
 * for) is decided by the whole log (KATLS_IMA_RESUME_AGAIN).
 */
#ifndef KATLS_IMA_RESUME_H
#define KATLS_IMA_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appraisal/ima.h"
#include "appraisal/ima_cache.h"

struct evp_md_ctx_st;

/* Outcomes of katls_ima_resume_plan() and _workload() besides 0. */
#define KATLS_IMA_RESUME_REFUSE	1	/* a tail the verifier did not ask for: refuse */
#define KATLS_IMA_RESUME_AGAIN	2	/* cannot decide from the cache: ask for the whole log */

enum katls_ima_resume_kind {
	KATLS_IMA_WHOLE,		/* a whole log, replayed from entry 0 */
	KATLS_IMA_BYTES,		/* a whole log, its cached prefix skipped */
	KATLS_IMA_TAIL,			/* the entries after the offered prefix */
};

struct katls_ima_resume {
	enum katls_ima_resume_kind kind;
	struct katls_ima_prefix *from;	/* prefix resumed from, or (WHOLE) the AK's cached one */
	struct katls_ima_verify_in whole;	/* the log as sent, from its first entry */
	uint8_t boot_aggregate[32];	/* SHA-256 of the quoted PCRs 0-9 */
	bool has_workload;		/* the workload looked up, for the commit */
	struct katls_ima_prefix_workload workload;
	struct evp_md_ctx_st *bytes_ctx;	/* SHA-256 of the log's first ... */
	uint64_t hashed_len;		/* ... bytes, carried on by the commit */
};

/**
 * katls_ima_resume_plan() - set up @in (log, digest size, quote, policy
 * already filled in for the log as sent: @in->log from the Evidence's
 * "ima", @ima_start its "ima-start") to verify from the right place.
 * @offered: the prefix this verifier's request named (a reference is taken),
 * or NULL.  @cache: the policy's, or NULL.  @ak: the verified AK's Name.
 * @agg: SHA-256 of the quoted PCRs 0-9.
 * Return: 0; KATLS_IMA_RESUME_REFUSE or _AGAIN with the reason in @why; or
 * -EACCES (a whole log whose cached entry 0 does not match @agg) with @why.
 */
int katls_ima_resume_plan(struct katls_ima_resume *r, struct katls_ima_verify_in *in,
			  uint64_t ima_start, struct katls_ima_prefix *offered,
			  struct katls_ima_cache *cache, const struct katls_tpm_name *ak,
			  const uint8_t agg[32], char *why, size_t why_len);

/**
 * katls_ima_resume_workload() - is @path measured with @alg:@digest in the
 * first @covered entries of the log (counted from entry 0, prefix
 * included)?  Return: 0 and *@index; -ENOENT; KATLS_IMA_RESUME_AGAIN (a
 * tail, and the prefix was never searched for it); -EBADMSG/-EINVAL.
 */
int katls_ima_resume_workload(struct katls_ima_resume *r, uint64_t covered, const char *path,
			      unsigned int alg, const uint8_t *digest, size_t digest_len,
			      uint32_t *index);

/**
 * katls_ima_resume_commit() - after the Evidence was accepted: remember the
 * covered prefix of AK @ak for peer @peer_tag (NULL: none) in @cache.
 * @in/@res: the replay as verified.  Return: 0 or -ENOMEM (nothing kept).
 */
int katls_ima_resume_commit(struct katls_ima_resume *r, struct katls_ima_cache *cache,
			    const struct katls_tpm_name *ak, const uint8_t *peer_tag,
			    const struct katls_ima_verify_in *in,
			    const struct katls_ima_verify_out *res);

/** katls_ima_resume_cleanup() - drop the prefix reference. */
void katls_ima_resume_cleanup(struct katls_ima_resume *r);

#endif /* KATLS_IMA_RESUME_H */
