/* SPDX-License-Identifier: MIT */
/*
 * Verification policies: the katls policy JSON (DESIGN.md §6) and the Keylime
 * runtime policy (IMA allowlist) it refers to.  docs/policy.md is the user
 * documentation; this comment is the reference for the shape.
 *
 * A policy file holds either one policy object or a set of named ones:
 *
 *   { "policies": { "prod": { <policy> }, "dev": { <policy> } } }
 *
 * <policy> (every key optional unless marked; unknown keys are errors):
 *
 *   "name":          string of 1..63 printable characters; in a set it must
 *                    equal the key (default: the key, or "default" for a
 *                    single policy)
 *   "description":   string, ignored
 *   "trust_anchors": [path, ...]   REQUIRED, non-empty: PEM CA files
 *   "peer_names":    [string, ...] expected DNS name / SAN of the peer
 *   "ak_pins":       [path or inline "-----BEGIN PUBLIC KEY-----..." PEM]
 *   "pcrs":          { "sha1"|"sha256"|"sha384"|"sha512":
 *                      { "<0..23>": "<hex of the bank size>", ... } }
 *   "ima":           { "runtime_policy": path or inline Keylime object,
 *                      "required": bool (default true),
 *                      "allow_violations": bool (default false) }
 *   "kernel":        { "allow_taint_mask": integer >= 0 (default 0),
 *                      "min_lockdown": "none"|"integrity"|"confidentiality"
 *                                      (default "none"),
 *                      "require_tpm": bool (default true) }
 *   "workload":      { "exe_paths": [absolute path, ...] (non-empty),
 *                      "exe_digests": ["sha256:<hex>", ...] (non-empty) }
 *   "max_age_s":     integer 1..2147483647 (default 3600)
 *
 * Relative paths are resolved against the directory of the policy file
 * (or the base_dir given to katls_policy_parse()).  The Keylime runtime
 * policy format is {"meta": {"version": 1, ...}, "release", "digests",
 * "excludes", "keyrings", "ima", "ima-buf", "verification-keys", "rules"};
 * excludes are POSIX extended regexes anchored at the start of the path
 * (Keylime uses Python's re.match()).
 */
#ifndef KATLS_POLICY_H
#define KATLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/katls.h>		/* enum katls_lockdown, KATLS_NAME_MAX */

#include "ima.h"

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

/* ---- katls policy -------------------------------------------------------- */

struct katls_policy_digest {
	unsigned int alg;		/* enum katls_ima_hash */
	size_t len;
	uint8_t digest[KATLS_IMA_MAX_DIGEST];
};

struct katls_policy_ak {
	char *path;			/* resolved file name, or NULL ... */
	char *pem;			/* ... inline PEM text */
};

struct katls_policy {
	char *name;
	char **trust_anchors;		/* resolved file names */
	size_t num_trust_anchors;
	char **peer_names;
	size_t num_peer_names;
	struct katls_policy_ak *ak_pins;
	size_t num_ak_pins;
	/* Reference PCR values: bit i of pcr_mask[bank] set => pcrs[bank][i]. */
	uint32_t pcr_mask[KATLS_IMA_NUM_HASHES];
	uint8_t pcrs[KATLS_IMA_NUM_HASHES][KATLS_IMA_NUM_PCRS][KATLS_IMA_MAX_DIGEST];
	struct {
		bool present;		/* "ima" given: IMA rules apply */
		bool required;		/* Evidence must carry an IMA log */
		bool allow_violations;
		char *runtime_policy_path;	/* NULL if inline or absent */
		struct katls_runtime_policy *runtime_policy;	/* NULL: replay only */
	} ima;
	struct {
		bool present;		/* "kernel" given: kernel rules apply */
		uint64_t allow_taint_mask;
		enum katls_lockdown min_lockdown;
		bool require_tpm;
	} kernel;
	struct {
		char **exe_paths;	/* empty: no path rule */
		size_t num_exe_paths;
		struct katls_policy_digest *exe_digests;	/* empty: no digest rule */
		size_t num_exe_digests;
	} workload;
	uint32_t max_age_s;
};

struct katls_policy_set {
	struct katls_policy *policies;
	size_t num_policies;
};

/**
 * katls_policy_parse() - parse a policy or policy-set document.
 * @json/@len: the document (need not be NUL-terminated).
 * @base_dir: directory relative paths are resolved against (NULL: keep them
 * relative to the working directory).
 * @err/@err_len: receives "<json path>: <problem>" on failure.
 * Return: 0 and *@out (free with katls_policy_set_free()), -EINVAL, -ENOMEM,
 * or the -errno of reading a referenced runtime policy file.
 */
int katls_policy_parse(const char *json, size_t len, const char *base_dir,
		       struct katls_policy_set **out, char *err, size_t err_len);
/**
 * katls_policy_load() - katls_policy_parse() of the file @path, resolving
 * relative paths against its directory; messages are prefixed with @path.
 */
int katls_policy_load(const char *path, struct katls_policy_set **out,
		      char *err, size_t err_len);
/** katls_policy_set_free() - NULL-safe. */
void katls_policy_set_free(struct katls_policy_set *set);
/** katls_policy_set_find() - the policy named @name, or NULL. */
const struct katls_policy *katls_policy_set_find(const struct katls_policy_set *set,
						 const char *name);

#endif /* KATLS_POLICY_H */
