/* SPDX-License-Identifier: MIT */
/*
 * AK enrollment with the EK (docs/enroll.md; PROTOCOL.md §6 row D2): a
 * registrar proves that an attestation key is resident in the same TPM as an
 * endorsement key certified by a TPM manufacturer, the way Keylime's
 * registrar does, and records the AK in an enrollment store that verifiers
 * consult.
 *
 *   attester  katls enroll request    DIR: ek-cert.der ek.pub ak.pub ak.name
 *                                          ek-nv-index (ak.pem)
 *   registrar katls enroll challenge  checks the request (katls_enroll_check()),
 *                                     MakeCredential(EK, Name(AK), secret);
 *                                     DIR: credential.tpm2 challenge-id ak.name
 *                                          ek-nv-index
 *                                     STATE/<id>.json (0600): secret + record
 *   attester  katls enroll activate   TPM2_ActivateCredential(AK, EK)
 *                                     DIR: secret (0600) challenge-id
 *   registrar katls enroll verify     pending challenge consumed, age checked,
 *                                     secret compared in constant time; the
 *                                     record is added to the STORE.
 *
 * Files in DIRs are the registrar's input and are untrusted: every reader
 * here is strict (sizes, formats, no trailing data).  The registrar's STATE
 * directory and the STORE are its own (0700 / written atomically).
 *
 * Verifier side: an enrollment store is loaded once and is immutable after
 * katls_enroll_store_load(); lookups take a const pointer, touch no shared
 * mutable state and may run concurrently from any number of threads.
 *
 * Errors: 0 or -errno; checks that fail return -EACCES, malformed input
 * -EBADMSG, each with one line in @err naming what failed.
 */
#ifndef KATLS_ENROLL_H
#define KATLS_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evidence/credential.h"
#include "evidence/quote.h"
#include "util/buf.h"

#define KATLS_ENROLL_ID_LEN		16	/* challenge id: random bytes */
#define KATLS_ENROLL_ID_HEX		(2 * KATLS_ENROLL_ID_LEN + 1)
#define KATLS_ENROLL_SECRET_LEN		32	/* credential: random bytes */
#define KATLS_ENROLL_MAX_AGE_DEFAULT	600	/* seconds a challenge stays valid */
#define KATLS_ENROLL_STATE_DEFAULT	"/var/lib/katls/enroll"

/* ---- the record: what a registrar has established about an AK -------------------- */

struct katls_enroll_record {
	uint8_t ak_name[KATLS_TPM_NAME_MAX];	/* nameAlg || H(TPMT_PUBLIC) */
	size_t ak_name_len;
	uint8_t *ak_public;			/* TPMT_PUBLIC of the AK */
	size_t ak_public_len;
	uint8_t ek_name[KATLS_TPM_NAME_MAX];	/* Name of the EK it was activated with */
	size_t ek_name_len;
	uint8_t ek_cert_sha256[32];		/* SHA-256 of the EK certificate (DER) */
	char *ek_cert_issuer;			/* RFC 2253 one-line DNs */
	char *ek_cert_subject;			/* often empty for EK certificates */
	char *ek_cert_serial;			/* lowercase hex */
	char *label;				/* the operator's name for the machine, or NULL */
	int64_t enrolled_at;			/* seconds since 1970-01-01 UTC */
};

/** katls_enroll_record_cleanup() - free the strings and buffers; NULL-safe. */
void katls_enroll_record_cleanup(struct katls_enroll_record *r);

/* ---- the enrollment store (verifier API) --------------------------------------------- */

struct katls_enroll_store;

/**
 * katls_enroll_store_parse() - parse an enrollment store document (format in
 * docs/enroll.md): {"version": 1, "enrollments": [record, ...]}.
 *
 * Strict: unknown keys, wrong types, malformed hex or time stamps, an AK
 * public area that is not a restricted fixedTPM signing key, an ak_name that
 * is not the Name of ak_public, and an AK enrolled twice are all errors.
 * @err: receives "<json path>: <problem>" on failure.
 * Return: 0 and *@out (free with katls_enroll_store_free()), -EINVAL or
 * -ENOMEM.
 */
int katls_enroll_store_parse(const char *json, size_t len, struct katls_enroll_store **out,
			     char *err, size_t err_len);

/**
 * katls_enroll_store_load() - katls_enroll_store_parse() of the file @path;
 * messages are prefixed with @path.  A missing file is -ENOENT (an empty
 * store must exist as a file: a verifier that asks for enrollment must not
 * silently accept "no store").
 */
int katls_enroll_store_load(const char *path, struct katls_enroll_store **out,
			    char *err, size_t err_len);

/** katls_enroll_store_free() - NULL-safe. */
void katls_enroll_store_free(struct katls_enroll_store *s);

/** katls_enroll_store_count() - number of enrolled AKs. */
size_t katls_enroll_store_count(const struct katls_enroll_store *s);

/** katls_enroll_store_get() - the @i-th record (sorted by AK Name), or NULL. */
const struct katls_enroll_record *katls_enroll_store_get(const struct katls_enroll_store *s,
							  size_t i);

/**
 * katls_enroll_store_find() - the record of the AK whose TPM Name is @name
 * (nameAlg || digest, exact bytes), or NULL.  O(log n); thread-safe.
 */
const struct katls_enroll_record *katls_enroll_store_find(const struct katls_enroll_store *s,
							   const uint8_t *name, size_t name_len);

/** katls_enroll_store_has_name() - katls_enroll_store_find() != NULL. */
bool katls_enroll_store_has_name(const struct katls_enroll_store *s, const uint8_t *name,
				 size_t name_len);

/**
 * katls_enroll_store_find_public() - the record of the AK whose TPMT_PUBLIC
 * is @tpmt (as the Evidence carries it): computes its Name, looks it up and
 * also requires the stored public area to be byte-identical.  NULL if the AK
 * is not enrolled or @tpmt does not parse.  Thread-safe.
 */
const struct katls_enroll_record *
katls_enroll_store_find_public(const struct katls_enroll_store *s, const uint8_t *tpmt,
			       size_t tpmt_len);

/**
 * katls_enroll_store_add() - add @rec to the store file @path (created if
 * missing), replacing an earlier record of the same AK Name.  The file is
 * read strictly (a corrupt store is not overwritten), rewritten to a
 * temporary file and renamed over @path, under an exclusive lock on
 * "@path.lock" so that concurrent registrars do not lose records.
 */
int katls_enroll_store_add(const char *path, const struct katls_enroll_record *rec,
			   char *err, size_t err_len);

/**
 * katls_enroll_primary_qualified_name() - the qualified Name of a primary
 * object of @hierarchy (TPM2_RH_OWNER, _ENDORSEMENT or _PLATFORM) whose
 * Name is @name: nameAlg || H_nameAlg(hierarchy handle || Name).  The
 * qualifiedSigner of a quote by katls' AK (an endorsement primary) is this
 * with TPM2_RH_ENDORSEMENT.  @out: KATLS_TPM_NAME_MAX bytes of room.
 * Return: 0, -EINVAL (not a Name), -EOPNOTSUPP (nameAlg), -ENOMEM.
 */
int katls_enroll_primary_qualified_name(uint32_t hierarchy, const uint8_t *name,
					size_t name_len, uint8_t *out, size_t *out_len);

/* ---- protocol steps ------------------------------------------------------------------- */

struct katls_enroll_request {
	struct katls_buf ek_cert;		/* DER */
	struct katls_buf ek_public;		/* TPMT_PUBLIC */
	struct katls_buf ak_public;		/* TPMT_PUBLIC */
	uint8_t ak_name[KATLS_TPM_NAME_MAX];	/* as the attester states it; 0 = absent */
	size_t ak_name_len;
	uint32_t ek_nv_index;			/* where the certificate was; 0 = absent */
};

/** katls_enroll_request_write() - DIR (created 0755 if missing) <- @req. */
int katls_enroll_request_write(const char *dir, const struct katls_enroll_request *req,
			       char *err, size_t err_len);
/** katls_enroll_request_read() - strict reader; cleanup @req after, also on failure. */
int katls_enroll_request_read(const char *dir, struct katls_enroll_request *req,
			      char *err, size_t err_len);
void katls_enroll_request_cleanup(struct katls_enroll_request *req);

/* The manufacturer CA certificates EK certificates must chain to. */
struct katls_enroll_ca;

/**
 * katls_enroll_ca_load() - trust anchors from @num_paths files or
 * directories: PEM (one or more certificates) or DER; in a directory every
 * *.pem, *.crt, *.cer and *.der file.  Every certificate given is an anchor
 * (intermediate CAs may be given instead of their roots).
 * Return: 0, -ENOENT (no certificate found), -EBADMSG, -ENOMEM.
 */
int katls_enroll_ca_load(const char *const *paths, size_t num_paths,
			 struct katls_enroll_ca **out, char *err, size_t err_len);
void katls_enroll_ca_free(struct katls_enroll_ca *ca);

/**
 * katls_enroll_check() - the registrar's checks of a request, in order:
 * the EK certificate parses and chains to @ca at the current time; ek.pub
 * is an endorsement key (katls_ek_public_parse()) and its public key is the
 * certificate's; ak.pub is a restricted, fixedTPM, sensitiveDataOrigin
 * signing key, not a decryption key, with a scheme katls verifies and
 * nameAlg SHA-256/384/512; its Name is computed here (and, if the request
 * states one, must be that).
 * @out: filled with what the record keeps (enrolled_at and label unset).
 * Return: 0; -EACCES (a check failed); -EBADMSG (malformed); -ENOMEM.
 */
int katls_enroll_check(const struct katls_enroll_request *req,
		       const struct katls_enroll_ca *ca, struct katls_enroll_record *out,
		       char *err, size_t err_len);

struct katls_enroll_challenge {
	char id[KATLS_ENROLL_ID_HEX];		/* lowercase hex */
	struct katls_credential cred;		/* credentialBlob + encrypted seed */
	uint8_t ak_name[KATLS_TPM_NAME_MAX];	/* the Name it was made for */
	size_t ak_name_len;
	uint32_t ek_nv_index;			/* copied from the request, 0 = absent */
};

/**
 * katls_enroll_challenge_new() - katls_enroll_check(), then a fresh random
 * credential, MakeCredential to the EK for the computed AK Name, and the
 * pending challenge @state_dir/<id>.json (0600; the directory is created
 * 0700) holding the credential and the checked record.
 */
int katls_enroll_challenge_new(const char *state_dir, const struct katls_enroll_request *req,
			       const struct katls_enroll_ca *ca,
			       struct katls_enroll_challenge *out, char *err, size_t err_len);
int katls_enroll_challenge_write(const char *dir, const struct katls_enroll_challenge *c,
				 char *err, size_t err_len);
int katls_enroll_challenge_read(const char *dir, struct katls_enroll_challenge *c,
				char *err, size_t err_len);

struct katls_enroll_response {
	char id[KATLS_ENROLL_ID_HEX];
	uint8_t secret[KATLS_CRED_DIGEST_MAX];	/* what ActivateCredential returned */
	size_t secret_len;
};

int katls_enroll_response_write(const char *dir, const struct katls_enroll_response *r,
				char *err, size_t err_len);
int katls_enroll_response_read(const char *dir, struct katls_enroll_response *r,
			       char *err, size_t err_len);

/**
 * katls_enroll_verify() - finish an enrollment: the pending challenge
 * @resp->id is taken out of @state_dir (removed before anything else, so a
 * challenge is answered at most once, right or wrong), must be at most
 * @max_age_s old, and @resp->secret must equal its credential (constant
 * time).  Then the record, stamped with the current time and @label (NULL:
 * none), is added to @store_path and copied to @out (may be NULL).
 * Return: 0; -EACCES (unknown or used challenge, expired, secret mismatch);
 * -EBADMSG; other -errno.
 */
int katls_enroll_verify(const char *state_dir, const struct katls_enroll_response *resp,
			uint32_t max_age_s, const char *store_path, const char *label,
			struct katls_enroll_record *out, char *err, size_t err_len);

/* ---- shared with enroll_store.c (the registrar's pending-challenge files) -------------- */

/** katls_enroll_pending_encode() - the JSON text of a pending challenge. */
int katls_enroll_pending_encode(const char *id, int64_t created, const uint8_t *secret,
				size_t secret_len, const struct katls_enroll_record *rec,
				char **out, char *err, size_t err_len);
/** katls_enroll_pending_parse() - strict parser of that text. */
int katls_enroll_pending_parse(const char *json, size_t len, char id[KATLS_ENROLL_ID_HEX],
			       int64_t *created, uint8_t *secret, size_t *secret_len,
			       struct katls_enroll_record *rec, char *err, size_t err_len);
/** katls_enroll_time_format() - "YYYY-MM-DDTHH:MM:SSZ"; @out 21 bytes. */
void katls_enroll_time_format(int64_t t, char out[21]);

#endif /* KATLS_ENROLL_H */
