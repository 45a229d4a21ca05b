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
 *   "ak_names":      ["<hex TPM Name of the AK: nameAlg || H(TPMT_PUBLIC)>", ...]
 *                    (nameAlg SHA-256/384/512; pins the whole public area)
 *   "ak_pins":       [path or inline "-----BEGIN PUBLIC KEY-----..." PEM]
 *                    (pins the public key only)
 *   "ak_enrollment": path of an enrollment store (katls enroll verify --store,
 *                    docs/enroll.md): the AK must be enrolled there, i.e. proven
 *                    resident in a TPM whose EK a manufacturer CA certified;
 *                    pins alone do not suffice then.  Read when the policy is
 *                    loaded (reload after enrolling more machines).
 *   "pcrs":          { "sha1"|"sha256"|"sha384"|"sha512":
 *                      { "<0..23>": "<hex of the bank size>", ... } }
 *   "ima":           { "runtime_policy": path or inline Keylime object,
 *                      "required": bool (default true),
 *                      "allow_violations": bool (default false),
 *                      "cache_attesters": 0..65536 (default 1024): verified
 *                      log prefixes kept for incremental IMA, 0: none }
 *   "kernel":        { "allow_taint_mask": integer >= 0 (default 0),
 *                      "min_lockdown": "none"|"integrity"|"confidentiality"
 *                                      (default "none"),
 *                      "require_tpm": bool (default true) }
 *   "workload":      { "exe_paths": [absolute path, ...] (non-empty),
 *                      "exe_digests": ["sha256:<hex>", ...] (non-empty, not
 *                                     all zero) }  -- needs an "ima" section:
 *                    the workload claim is verified against the quoted IMA log
 *   "max_age_s":     integer 1..2147483647 (default 3600)
 *
 * Relative paths are resolved against the directory of the policy file
 * (or the base_dir given to katls_policy_parse()).  The Keylime runtime
 * policy format is described in runtime_policy.h.
 */
#ifndef KATLS_POLICY_H
#define KATLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/katls.h>		/* enum katls_lockdown, KATLS_NAME_MAX */

#include "appraisal/ima.h"
#include "appraisal/runtime_policy.h"
#include "evidence/enroll.h"
#include "evidence/quote.h"

struct x509_store_st;
struct katls_verify_cache;
struct katls_ima_cache;

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

/*
 * A compiled policy: everything verification needs, read and parsed when the
 * policy is loaded (the trust anchors into an X509_STORE, the AK pins into
 * DER public keys, the runtime policy into hash maps, the enrollment store),
 * so that verifying opens no file.  Immutable once loaded, and safe to use
 * from many threads at once; the IMA prefix cache it points to is the one
 * mutable part, with its own lock (ima_cache.h).
 */
struct katls_policy {
	char *name;
	char **trust_anchors;		/* resolved file names (for messages) */
	size_t num_trust_anchors;
	struct x509_store_st *trust_store;	/* compiled: the anchors' certificates */
	char **peer_names;
	size_t num_peer_names;
	struct katls_policy_ak *ak_pins;	/* public keys (SPKI) */
	struct katls_spki *ak_pin_spki;		/* compiled: their DER, one per ak_pins */
	size_t num_ak_pins;
	struct katls_tpm_name *ak_names;	/* TPM Names: key and attributes */
	size_t num_ak_names;
	char *ak_enrollment_path;		/* resolved, or NULL */
	struct katls_enroll_store *ak_enrollment;	/* loaded from it */
	/* Reference PCR values: bit i of pcr_mask[bank] set => pcrs[bank][i]. */
	uint32_t pcr_mask[KATLS_IMA_NUM_HASHES];
	uint8_t pcrs[KATLS_IMA_NUM_HASHES][KATLS_IMA_NUM_PCRS][KATLS_IMA_MAX_DIGEST];
	struct {
		bool present;		/* "ima" given: IMA rules apply */
		bool required;		/* Evidence must carry an IMA log */
		bool allow_violations;
		char *runtime_policy_path;	/* NULL if inline or absent */
		struct katls_runtime_policy *runtime_policy;	/* NULL: replay only */
		uint32_t cache_attesters;	/* incremental IMA: prefixes kept, 0: none */
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
	/* compiled: memoized parsing and chain verdicts (verify_cache.h) */
	struct katls_verify_cache *verify_cache;
	/* the attesters' verified IMA prefixes (ima_cache.h), NULL: none kept */
	struct katls_ima_cache *ima_cache;
};

/*
 * A loaded set of policies, reference counted: katls_policy_set_up_ref()
 * for every holder, katls_policy_set_free() drops one reference and frees
 * the set with the last.  A reload makes a new set; holders of the old one
 * finish with it.
 */
struct katls_policy_set {
	struct katls_policy *policies;
	size_t num_policies;
	int refs;			/* atomic */
};

/**
 * katls_policy_parse() - parse and compile a policy or policy-set document:
 * every file it names (trust anchors, AK pins, runtime policy, enrollment
 * store) is read now, never during verification.
 * @json/@len: the document (need not be NUL-terminated).
 * @base_dir: directory relative paths are resolved against (NULL: keep them
 * relative to the working directory).
 * @err/@err_len: receives "<json path>: <problem>" on failure.
 * Return: 0 and *@out (one reference: katls_policy_set_free()), -EINVAL,
 * -ENOMEM, or the -errno of reading a referenced runtime policy file.
 */
int katls_policy_parse(const char *json, size_t len, const char *base_dir,
		       struct katls_policy_set **out, char *err, size_t err_len);
/**
 * katls_policy_load() - katls_policy_parse() of the file @path, resolving
 * relative paths against its directory; messages are prefixed with @path.
 */
int katls_policy_load(const char *path, struct katls_policy_set **out,
		      char *err, size_t err_len);
/** katls_policy_set_up_ref() - one more reference on @set. Return: @set. */
struct katls_policy_set *katls_policy_set_up_ref(struct katls_policy_set *set);
/** katls_policy_set_free() - drop a reference; the last frees.  NULL-safe. */
void katls_policy_set_free(struct katls_policy_set *set);
/** katls_policy_set_find() - the policy named @name, or NULL. */
const struct katls_policy *katls_policy_set_find(const struct katls_policy_set *set,
						 const char *name);

#endif /* KATLS_POLICY_H */
