/* SPDX-License-Identifier: MIT */
/*
 * The Keylime runtime policy (IMA allowlist) that a katls policy refers to
 * (policy.h).  The JSON format is {"meta": {"version": 1, ...}, "release",
 * "digests", "excludes", "keyrings", "ima", "ima-buf", "verification-keys",
 * "rules"}; excludes are POSIX extended regexes anchored at the start of the
 * path (Keylime uses Python's re.match()).  docs/policy.md is the user
 * documentation.
 */
#ifndef KATLS_RUNTIME_POLICY_H
#define KATLS_RUNTIME_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "appraisal/ima.h"

/* ---- Keylime runtime policy (IMA allowlist) ---------------------------- */

struct katls_runtime_policy;

/* Which table of the runtime policy an entry is matched against. */
enum katls_rp_map {
	KATLS_RP_DIGESTS,	/* "digests": files */
	KATLS_RP_KEYRINGS,	/* "keyrings": keys measured by ima-buf */
	KATLS_RP_IMA_BUF,	/* "ima-buf": other ima-buf measurements */
	KATLS_RP_NUM_MAPS
};

/* Outcome of appraising one IMA entry. */
enum katls_rp_verdict {
	KATLS_RP_MATCH,		/* the entry's digest is listed for its path */
	KATLS_RP_EXCLUDED,	/* the path matches an "excludes" regex */
	KATLS_RP_IGNORED,	/* ima-buf of an ignored keyring */
	KATLS_RP_NO_ENTRY,	/* the path is not listed */
	KATLS_RP_MISMATCH,	/* the path is listed with other digests */
};

/** katls_runtime_policy_new() - empty runtime policy. Return: 0 or -ENOMEM. */
int katls_runtime_policy_new(struct katls_runtime_policy **out);
/** katls_runtime_policy_free() - NULL-safe. */
void katls_runtime_policy_free(struct katls_runtime_policy *rp);
/**
 * katls_runtime_policy_add_digest() - allow @digest (@len 1..64 bytes) for
 * @path (@path_len bytes) in @map.  Duplicates are ignored.
 * Return: 0, -EINVAL, -ENOMEM.
 */
int katls_runtime_policy_add_digest(struct katls_runtime_policy *rp, enum katls_rp_map map,
				    const char *path, size_t path_len,
				    const uint8_t *digest, size_t len);
/**
 * katls_runtime_policy_add_exclude() - add an "excludes" regex (POSIX ERE,
 * anchored at the start of the path).
 * Return: 0, -EINVAL (message in @err) or -ENOMEM.
 */
int katls_runtime_policy_add_exclude(struct katls_runtime_policy *rp, const char *regex,
				     char *err, size_t err_len);
/** katls_runtime_policy_ignore_keyring() - @name, or "*" for all. 0/-ENOMEM. */
int katls_runtime_policy_ignore_keyring(struct katls_runtime_policy *rp, const char *name);
/** katls_runtime_policy_num_paths() - number of paths listed in @map. */
size_t katls_runtime_policy_num_paths(const struct katls_runtime_policy *rp,
				      enum katls_rp_map map);
/**
 * katls_runtime_policy_check() - appraise one IMA entry: its file digest
 * must be listed for its path (ima-buf entries: in "keyrings" if the name
 * is a keyring listed there, else in "ima-buf"), unless the path matches
 * an exclude or the keyring is ignored.  Violations and boot_aggregate are
 * the caller's business (ima.c).  *@map_name (if @map_name) is set to the
 * table consulted ("digests", "keyrings", "ima-buf").
 * Return: an enum katls_rp_verdict value (never an error).
 */
int katls_runtime_policy_check(const struct katls_runtime_policy *rp,
			       const struct katls_ima_record *rec, const char **map_name);
/**
 * katls_runtime_policy_prefetch() - start loading the hash-map slot that
 * katls_runtime_policy_check() will read for @rec (a cache hint: call it
 * before other work on the record, such as hashing it).
 */
void katls_runtime_policy_prefetch(const struct katls_runtime_policy *rp,
				   const struct katls_ima_record *rec);
/**
 * katls_runtime_policy_parse() - parse a Keylime runtime policy from @len
 * bytes of JSON.  Unknown keys, wrong types, bad hex, meta.version != 1,
 * non-null ima.dm_policy and regexes that do not compile are rejected.
 * Return: 0 and *@out, or -EINVAL (message in @err), -ENOMEM.
 */
int katls_runtime_policy_parse(const char *json, size_t len,
			       struct katls_runtime_policy **out, char *err, size_t err_len);
/** katls_runtime_policy_load() - katls_runtime_policy_parse() of a file. */
int katls_runtime_policy_load(const char *path, struct katls_runtime_policy **out,
			      char *err, size_t err_len);

#endif /* KATLS_RUNTIME_POLICY_H */
