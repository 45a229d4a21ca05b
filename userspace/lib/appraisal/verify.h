/* SPDX-License-Identifier: MIT */
/*
 * The katls verifier (DESIGN.md §6): validates a peer's authenticator and
 * appraises the Evidence it carries against a policy, in this order, first
 * failure wins, each with a stable reason code and one human line:
 *
 *   RFC 9261 validation (ea.h) → PKI chain of the leaf against the policy's
 *   trust anchors and the expected peer name (D1) → CMW strict decode →
 *   aik record == H(SPKI of the leaf) (D2) → quote extraData == nonce of
 *   this session's binder (B1, F1, R1, R2), or, for a quote batch, the
 *   Merkle root that the batch record proves this binder's leaf under
 *   (batch_proof.h) → quote structure → AK pinned
 *   (D2: its TPM Name in ak_names, or its public key in ak_pins) → quote
 *   signature, PCR digest and qualifiedSigner == the AK's qualified name →
 *   PCR reference values → IMA: PCRs 0-10 quoted, entry 0 boot_aggregate ==
 *   H(quoted PCRs 0-9), replay to the quoted PCR 10 (replay until match),
 *   allowlist → kernel rules (advisory data) → workload: exe path and digest
 *   measured in the quoted IMA log, then the workload rules.  With
 *   incremental IMA (ima_resume.h) the replay starts from a prefix of the
 *   log this verifier accepted before, whose entry 0 is checked against the
 *   quoted PCRs 0-9 all the same; what the prefix cannot decide sets
 *   ima_retry_full (the whole log decides).
 *
 * Offline re-verification (katls verify --dir) uses a saved exchange: the
 * messages as on the wire plus the exporter OUTPUTS the live verifier used
 * (HC, FK, TLS-Exporter("Attestation", crc)); it re-checks everything except
 * the TLS binding itself, which it takes from those saved values.
 *
 * Verification reads no file: the policy was compiled when it was loaded
 * (policy.h).  Many threads may verify at once on one policy; its caches
 * (verify_cache.h, ima_cache.h) take their own locks.  The only global state
 * is the pre-fetched algorithms (algs.h).
 */
#ifndef KATLS_VERIFY_H
#define KATLS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "appraisal/ima_cache.h"
#include "appraisal/policy.h"
#include "katls.h"
#include "wire/ea.h"

struct katls_verify_summary {
	char peer_subject[256];		/* leaf subject, one line */
	uint8_t peer_sha256[32];	/* SHA-256 of the leaf certificate's DER */
	uint16_t sigalg;		/* CertificateVerify scheme */
	char ak_fpr[65];		/* hex SHA-256 of the AK's SPKI DER */
	char ak_name[2 * KATLS_TPM_NAME_MAX + 1];	/* hex TPM Name of the AK */
	const char *ak_pinned_by;	/* "ak_enrollment", "ak_names", "ak_pins" or NULL */
	bool has_pcr10;
	uint8_t pcr10[32];		/* quoted SHA-256 PCR 10 */
	bool has_ima;
	uint32_t ima_records;		/* records in the log sent */
	uint32_t ima_covered;		/* records covered by the quote */
	bool has_kernel;		/* advisory: self-reported, not quoted */
	char kernel_release[65];
	bool has_workload;
	char workload_exe[4096];
	uint8_t workload_digest[64];	/* the workload record's exe digest */
	size_t workload_digest_len;	/* 0: none */
	uint32_t workload_digest_alg;	/* kernel enum hash_algo (4 = SHA-256) */
	/*
	 * The exe path and digest are verified when the quoted IMA log measures
	 * that path with that digest (entry workload_ima_index); otherwise
	 * workload_unverified says why, and every workload rule fails.
	 */
	bool workload_verified;
	uint32_t workload_ima_index;
	char workload_unverified[200];
	uint32_t workload_pid;		/* advisory: self-reported */
	uint32_t workload_uid;		/* advisory: self-reported */
	uint64_t workload_cgroup_id;	/* advisory: self-reported */
	uint32_t max_age_s;		/* from the policy, for the verdict */
	/* quote batching: the quote covered this many sessions (0: its own) */
	uint32_t batch_size;
	uint32_t batch_index;		/* this session's leaf */
};

struct katls_verify_result {
	enum katls_reason reason;	/* KATLS_R_OK when accepted */
	char msg[512];			/* one line: what failed (or passed) */
	/*
	 * Refused because an IMA tail (incremental IMA) could not be decided
	 * from the verifier's cached prefix: a request without the prefix may
	 * get the whole log, which decides (session.c asks once).
	 */
	bool ima_retry_full;
	struct katls_verify_summary sum;
	uint8_t *cmw;			/* copy of the CMW (for saving), may be NULL */
	size_t cmw_len;
};

struct katls_verify_params {
	const struct katls_policy *policy;
	const char *peer_name;		/* expected name (connect target), or NULL */
	const char *binder_label;	/* NULL = KATLS_BINDER_LABEL */
	/*
	 * Incremental IMA (ima_cache.h): who the peer is across connections
	 * (an address, say; NULL: @peer_name), and the prefix of its log the
	 * request offered (session.c sets it), or NULL: a log from entry N > 0
	 * is then refused unless the policy's cache holds exactly the prefix
	 * the request names (a saved exchange re-verified).
	 */
	const uint8_t *peer_id;
	size_t peer_id_len;
	struct katls_ima_prefix *ima_prefix;
};

/**
 * katls_verify_authenticator() - validate @auth (an answer to @req sent by
 * @sender) and appraise its Evidence.
 * Return: 0 accepted; -EACCES refused (@out->reason, @out->msg); other
 * -errno with KATLS_R_INTERNAL.  Call katls_verify_result_cleanup() after.
 */
int katls_verify_authenticator(const struct katls_verify_params *p,
			       const struct katls_exporter *ex, enum katls_role sender,
			       const struct katls_ea_request *req,
			       struct katls_ea_crc_set *used,
			       const uint8_t *auth, size_t auth_len,
			       struct katls_verify_result *out);

/**
 * katls_verify_evidence() - everything after RFC 9261 validation, for a
 * leaf (+ @chain, leaf first, may be NULL) and the CMW it carried.
 */
int katls_verify_evidence(const struct katls_verify_params *p,
			  const struct katls_exporter *ex, enum katls_role sender,
			  const struct katls_ea_request *req, X509 *leaf,
			  STACK_OF(X509) *chain, const uint8_t *cmw, size_t cmw_len,
			  struct katls_verify_result *out);

void katls_verify_result_cleanup(struct katls_verify_result *res);

/**
 * katls_verify_save() - write an exchange to @dir (created 0700, files
 * 0600): request.bin, authenticator.bin, cmw.cbor, peer-ak.unverified.pem
 * (the AK the peer claims, when the CMW decodes: NOT a trust pin),
 * session-secrets/{hc,fk,attestation}.bin, meta, README.
 * Return: 0 or -errno.
 */
int katls_verify_save(const char *dir, const struct katls_exporter *ex,
		      enum katls_role sender, const struct katls_ea_request *req,
		      const uint8_t *auth, size_t auth_len, const uint8_t *cmw,
		      size_t cmw_len, const char *peer_name, const char *binder_label);

/**
 * katls_verify_dir() - re-verify a directory written by katls_verify_save().
 * @p->peer_name NULL = the name saved in meta.
 * Return: as katls_verify_authenticator(); -ENOENT/-EBADMSG for a bad
 * directory (message in @out->msg).
 */
int katls_verify_dir(const char *dir, const struct katls_verify_params *p,
		     struct katls_verify_result *out);

/* A saved exchange read into memory once (saved.c), to re-verify it often. */
struct katls_saved;

/**
 * katls_saved_load() - read a directory written by katls_verify_save().
 * Return: 0 and *@out (katls_saved_free()), or -errno with "<file>: <why>"
 * in @err.
 */
int katls_saved_load(const char *dir, struct katls_saved **out, char *err, size_t err_len);
/** katls_saved_free() - wipes the session secrets; NULL-safe. */
void katls_saved_free(struct katls_saved *s);
/**
 * katls_saved_verify() - katls_verify_dir() of a loaded exchange: reads no
 * file.  @s is not modified (each call starts with no crc consumed), so one
 * loaded exchange may be verified any number of times, from any thread.
 */
int katls_saved_verify(const struct katls_saved *s, const struct katls_verify_params *p,
		       struct katls_verify_result *out);

#endif /* KATLS_VERIFY_H */
