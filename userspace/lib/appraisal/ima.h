/* SPDX-License-Identifier: MIT */
/*
 * Linux IMA binary measurement lists: parsing, template-digest recomputation,
 * PCR replay (including replay-until-match against a quoted PCR 10) and the
 * verification coordinator that also appraises entries against a Keylime
 * runtime policy (policy.h).  Byte layout: PROTOCOL.md §5.
 *
 * A log is a concatenation of records read from binary_runtime_measurements
 * (D = 20, template digests are SHA-1) or binary_runtime_measurements_<alg>
 * (D = that bank's digest size).  Integers are little-endian (x86, or any
 * host booted with ima_canonical_fmt).  Records are parsed in place: a
 * struct katls_ima_record only points into the caller's buffer, so
 * iterating a log allocates nothing.
 *
 * Threading: every object here is owned by one thread at a time; nothing
 * is global except OpenSSL's own state.
 */
#ifndef KATLS_IMA_H
#define KATLS_IMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct evp_md_st;
struct evp_md_ctx_st;
struct katls_runtime_policy;

#define KATLS_IMA_MAX_DIGEST	64	/* SHA-512 */
#define KATLS_IMA_NUM_PCRS	24
#define KATLS_IMA_PCR		10	/* CONFIG_IMA_MEASURE_PCR_IDX default */
#define KATLS_IMA_MAX_NNG	4097	/* n-ng field: path (PATH_MAX) plus NUL */
#define KATLS_IMA_MAX_OLD_NAME	255	/* template "ima": n is at most 255 bytes */
#define KATLS_IMA_MAX_DATA	(1u << 20)	/* cap on one record's template data */

/* PCR banks (and file-digest algorithms) the verifier can compute. */
enum katls_ima_hash {
	KATLS_IMA_SHA1,
	KATLS_IMA_SHA256,
	KATLS_IMA_SHA384,
	KATLS_IMA_SHA512,
	KATLS_IMA_NUM_HASHES
};

/* Templates this parser knows; any other template name is rejected. */
enum katls_ima_template {
	KATLS_IMA_TPL_IMA,	/* d | n                              */
	KATLS_IMA_TPL_NG,	/* d-ng | n-ng                        */
	KATLS_IMA_TPL_SIG,	/* d-ng | n-ng | sig                  */
	KATLS_IMA_TPL_BUF,	/* d-ng | n-ng | buf                  */
	KATLS_IMA_TPL_MODSIG,	/* d-ng | n-ng | sig | d-modsig | modsig */
	KATLS_IMA_TPL_SIGV2,	/* d-ngv2 | n-ng | sig                */
	KATLS_IMA_TPL_NGV2,	/* d-ngv2 | n-ng                      */
	KATLS_IMA_NUM_TEMPLATES
};

/** katls_ima_hash_size() - digest size of @alg in bytes, 0 if unknown. */
size_t katls_ima_hash_size(unsigned int alg);
/** katls_ima_hash_name() - kernel name of @alg ("sha256"), "?" if unknown. */
const char *katls_ima_hash_name(unsigned int alg);
/**
 * katls_ima_hash_from_name() - look up a kernel hash name ("sha1", "sha256",
 * "sha384", "sha512"; @len bytes, not NUL-terminated).
 * Return: the enum katls_ima_hash value, or -ENOENT.
 */
int katls_ima_hash_from_name(const char *name, size_t len);
/**
 * katls_ima_hash_from_tpm_alg() - map a TPM_ALG_ID (0x0004, 0x000b, 0x000c,
 * 0x000d) to a bank.  Return: the enum katls_ima_hash value, or -ENOENT.
 */
int katls_ima_hash_from_tpm_alg(uint16_t tpm_alg);
/**
 * katls_ima_digest_is_zero() - are all @n bytes of @p zero?  A zero template
 * digest marks a violation; a zero file digest is no file's digest (katls
 * uses it as the "unknown" marker of a workload's exe digest).
 */
bool katls_ima_digest_is_zero(const uint8_t *p, size_t n);
/**
 * katls_ima_hash_from_kernel_algo() - map the kernel's enum hash_algo
 * (linux/hash_info.h: 2 SHA-1, 4 SHA-256, 5 SHA-384, 6 SHA-512), as
 * ima_file_hash() reports it, to a bank.  Return: the enum value, or -ENOENT.
 */
int katls_ima_hash_from_kernel_algo(uint32_t algo);
/** katls_ima_template_name() - template name ("ima-ng"), "?" if unknown. */
const char *katls_ima_template_name(unsigned int tpl);

/*
 * One parsed record.  Every pointer points into the log buffer.  @path is
 * NUL-terminated in the buffer (n-ng) unless @path_terminated is false
 * (template "ima", whose name has no NUL on the wire).
 */
struct katls_ima_record {
	uint32_t index;			/* position in the whole log */
	size_t offset;			/* byte offset in the buffer parsed */
	uint32_t pcr;
	const uint8_t *digest;		/* stored template digest, D bytes */
	size_t digest_len;
	unsigned int tpl;		/* enum katls_ima_template */
	const uint8_t *data;		/* what the template digest covers */
	size_t data_len;		/* (for "ima": d[20] || u32 len || name) */
	bool violation;			/* stored digest is all zero */

	const char *hash_name;		/* d-ng algorithm ("sha256"), not terminated */
	size_t hash_name_len;
	int hash;			/* enum katls_ima_hash, or -1 if not one */
	const char *digest_type;	/* d-ngv2 "ima" / "verity", else NULL */
	size_t digest_type_len;
	const uint8_t *file_digest;	/* d / d-ng digest */
	size_t file_digest_len;
	const char *path;		/* n / n-ng without the NUL */
	size_t path_len;
	bool path_terminated;
	const uint8_t *sig;		/* sig field (empty if none) */
	size_t sig_len;
	const uint8_t *buf;		/* buf (ima-buf) or modsig (ima-modsig) */
	size_t buf_len;
};

/* Walks a log buffer record by record (no allocation). */
struct katls_ima_iter {
	struct katls_cursor c;
	const uint8_t *base;
	size_t digest_size;
	uint32_t index;
};

/**
 * katls_ima_iter_init() - start walking @in_len bytes of records whose
 * template digests are @digest_size bytes; the first record is log entry
 * @start_index (0 unless the buffer is a suffix of the log).
 */
void katls_ima_iter_init(struct katls_ima_iter *it, const uint8_t *in, size_t in_len,
			 size_t digest_size, uint32_t start_index);
/**
 * katls_ima_iter_next() - parse the next record into @out.
 * @msg/@msg_len receive a one-line reason on failure (may be NULL/0).
 * Return: 1 if a record was produced, 0 at the end of the buffer,
 * -EBADMSG if the record is malformed or truncated, -EOPNOTSUPP if its
 * template is unknown, -EINVAL if @digest_size is not 20/32/48/64.
 */
int katls_ima_iter_next(struct katls_ima_iter *it, struct katls_ima_record *out,
			char *msg, size_t msg_len);

/**
 * katls_ima_detect_digest_size() - the template digest size D (20, 32, 48
 * or 64) with which the first record of @in parses completely, trying 32
 * first.  For Evidence that does not say which securityfs file it copied.
 * Return: D, or -EBADMSG if no size works (or @in_len is 0).
 */
int katls_ima_detect_digest_size(const uint8_t *in, size_t in_len);

/**
 * katls_ima_template_digest() - recompute the template digest of @rec with
 * @alg into @out (katls_ima_hash_size(@alg) bytes).  Convenience form; the
 * replay below reuses one digest context instead.
 * Return: 0, -EINVAL for an unknown @alg, -ENOMEM on an OpenSSL failure.
 */
int katls_ima_template_digest(const struct katls_ima_record *rec, unsigned int alg,
			      uint8_t *out);

/**
 * katls_ima_boot_aggregate() - H_@alg(@pcrs), @num_pcrs PCR values of
 * @alg's size concatenated (8 values, PCR 0-7, for SHA-1; 10, PCR 0-9,
 * otherwise).  Return: 0 or -EINVAL/-ENOMEM.
 */
int katls_ima_boot_aggregate(unsigned int alg, const uint8_t *pcrs, size_t num_pcrs,
			     uint8_t *out);

/* Running PCR values of one bank, fed record by record. */
struct katls_ima_replay {
	unsigned int bank;		/* enum katls_ima_hash */
	size_t bank_size;
	size_t digest_size;		/* D of the log being replayed */
	uint8_t pcr[KATLS_IMA_NUM_PCRS][KATLS_IMA_MAX_DIGEST];
	uint32_t num_extends[KATLS_IMA_NUM_PCRS];
	struct evp_md_ctx_st *ctx;
	const struct evp_md_st *md_bank;	/* pre-fetched (algs.h) */
	const struct evp_md_st *md_check;	/* hash of size D, NULL if == bank */
};

/**
 * katls_ima_replay_init() - all PCRs zero, for bank @bank and a log whose
 * stored template digests are @digest_size bytes.
 * Return: 0, -EINVAL (unknown bank or digest size), -ENOMEM.
 */
int katls_ima_replay_init(struct katls_ima_replay *r, unsigned int bank, size_t digest_size);
/** katls_ima_replay_cleanup() - free the digest context. NULL-safe. */
void katls_ima_replay_cleanup(struct katls_ima_replay *r);
/**
 * katls_ima_replay_extend() - recompute @rec's template digest for the
 * bank (and with the hash of size D, if different), check it against the
 * stored digest unless @rec is a violation, then extend PCR @rec->pcr with
 * it (with 0xFF... for a violation).
 * Return: 0; -EACCES if the stored digest does not match (message in
 * @msg); -ERANGE if @rec->pcr >= 24; -ENOMEM on an OpenSSL failure.
 */
int katls_ima_replay_extend(struct katls_ima_replay *r, const struct katls_ima_record *rec,
			    char *msg, size_t msg_len);

/* Flags for katls_ima_verify_in.flags. */
#define KATLS_IMA_ALLOW_VIOLATIONS	0x1u	/* ToMToU/open-writers entries pass */
#define KATLS_IMA_OTHER_PCRS		0x2u	/* other PCRs' entries: skipped, not rejected */

struct katls_ima_verify_in {
	const uint8_t *log;		/* records from log entry start_index on */
	size_t log_len;
	size_t digest_size;		/* D: 20, 32, 48 or 64 */
	uint32_t start_index;
	unsigned int bank;		/* bank of the quoted PCR */
	unsigned int pcr_index;		/* the IMA PCR (KATLS_IMA_PCR) */
	const uint8_t *start_pcr;	/* IMA PCR before start_index; NULL = zeros */
	const uint8_t *quoted_pcr;	/* quoted value; NULL = replay everything */
	const struct katls_runtime_policy *policy;	/* NULL = no appraisal */
	/*
	 * Expected boot_aggregate (the bank's hash of the quoted PCRs 0-9, bank
	 * size), or NULL for a replay that is not tied to a boot.  When given,
	 * the log must be whole (start_index 0), the quote must cover entry 0,
	 * and entry 0 must be a boot_aggregate of the bank's algorithm with this
	 * value; otherwise KATLS_R_IMA_REPLAY.
	 */
	const uint8_t *boot_aggregate;
	size_t boot_aggregate_len;
	unsigned int flags;
	/*
	 * A log index (0: none): @out reports the IMA PCR after the records
	 * before it, if the replay passes it before the match (incremental IMA
	 * checks that a whole log extends a cached prefix).
	 */
	uint64_t checkpoint;
};

struct katls_ima_verify_out {
	unsigned int reason;		/* enum katls_reason */
	uint32_t num_records;		/* records parsed (whole buffer) */
	uint32_t num_covered;		/* N: records covered by the quote */
	uint32_t num_violations;	/* among the covered ones */
	uint32_t next_index;		/* start_index + N: where to resume */
	uint8_t pcr[KATLS_IMA_MAX_DIGEST];	/* IMA PCR after N records */
	size_t covered_len;		/* bytes of the log those N records take */
	bool has_checkpoint;		/* in->checkpoint passed: ... */
	uint8_t checkpoint_pcr[KATLS_IMA_MAX_DIGEST];	/* ... the IMA PCR there */
	uint32_t fail_index;		/* log entry that failed, if any */
	char msg[512];
};

/**
 * katls_ima_verify() - parse every record of @in->log, recompute and check
 * each template digest, replay the IMA PCR from @in->start_pcr and find the
 * smallest N for which it equals @in->quoted_pcr (records after N are not
 * yet covered by the quote: parsed and digest-checked, not appraised), then
 * appraise the covered records against @in->policy.
 * Return: 0 and @out filled on success.  -EBADMSG/-EOPNOTSUPP (reason
 * KATLS_R_EVIDENCE_MALFORMED) for a malformed log; -EACCES with reason
 * KATLS_R_IMA_REPLAY (tampered record, no match, wrong PCR) or
 * KATLS_R_IMA_ALLOWLIST; -EINVAL for bad arguments; -ENOMEM.  @out->msg
 * always holds a one-line summary.
 */
int katls_ima_verify(const struct katls_ima_verify_in *in, struct katls_ima_verify_out *out);

/**
 * katls_ima_find_measurement() - the first of the first @num_covered
 * records of the log @in describes (katls_ima_verify()'s num_covered: the
 * records the quote covers) that measures the file @path (exact string)
 * with file digest @alg:@digest: an entry of the IMA PCR, not a violation
 * (no digest covers a violation's fields), not an ima-buf buffer, and for
 * d-ngv2 of type "ima" (a "verity" digest is not a file hash).
 * @index: receives its log index.
 * Return: 0, -ENOENT (no such entry), -EBADMSG (fewer records than
 * @num_covered, or a malformed one) or -EINVAL.
 */
int katls_ima_find_measurement(const struct katls_ima_verify_in *in, uint32_t num_covered,
			       const char *path, unsigned int alg, const uint8_t *digest,
			       size_t digest_len, uint32_t *index);

/**
 * katls_ima_measures_digest() - katls_ima_find_measurement()'s test but the
 * path: does @rec measure a file with digest @alg:@digest (an IMA-PCR
 * entry, not a violation, not ima-buf, not a verity digest)?
 */
bool katls_ima_measures_digest(const struct katls_ima_verify_in *in,
			       const struct katls_ima_record *rec, unsigned int alg,
			       const uint8_t *digest, size_t digest_len);

/* Input of the encoder (tests, ima_synth, benchmarks). */
struct katls_ima_entry {
	uint32_t pcr;
	unsigned int tpl;		/* any but KATLS_IMA_TPL_IMA needs hash_name */
	const char *hash_name;		/* d-ng algorithm name */
	const uint8_t *file_digest;
	size_t file_digest_len;
	const char *digest_type;	/* d-ngv2 only: "ima" or "verity" */
	const char *path;		/* NUL-terminated */
	const uint8_t *extra;		/* sig (sig templates) or buf (ima-buf) */
	size_t extra_len;
	bool violation;			/* store a zero template digest */
};

/**
 * katls_ima_record_encode() - append one binary record for @e to @out, its
 * template digest computed with the hash of size @digest_size (SHA-1 for
 * 20, ...) or all zero for a violation.
 * Return: 0, -EINVAL (inconsistent entry), -ENOMEM.
 */
int katls_ima_record_encode(struct katls_buf *out, const struct katls_ima_entry *e,
			    size_t digest_size);

/**
 * katls_ima_format_hex() - lower-case hex of @in into @out (NUL-terminated,
 * truncated to @out_len - 1 characters).  Returns @out.
 */
char *katls_ima_format_hex(char *out, size_t out_len, const uint8_t *in, size_t in_len);

#endif /* KATLS_IMA_H */
