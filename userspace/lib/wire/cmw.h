/* SPDX-License-Identifier: MIT */
/*
 * The katls/1 Evidence: a deterministic CBOR CMW collection
 * (draft-ietf-rats-msg-wrap, PROTOCOL.md §3, DESIGN.md §5) and the CBOR
 * sub-encodings it carries (PCR values, kernel state, workload identity).
 *
 *   { "__cmwc_t": "tag:katls.invalid,2026:evidence/v1",
 *     "quote":     [KATLS_MT_QUOTE,     TPMS_ATTEST,        4],
 *     "quote-sig": [KATLS_MT_QUOTE_SIG, TPMT_SIGNATURE,     4],
 *     "ak":        [KATLS_MT_AK,        TPMT_PUBLIC,        4],
 *     "pcrs":      [KATLS_MT_PCRS,      << pcrs map >>,     4],
 *     "aik":       [KATLS_MT_AIK,       H(SPKI of leaf),    4],
 *     ? "ima":       [KATLS_MT_IMA,       binary records,     4],
 *     ? "ima-start": [KATLS_MT_IMA_START, u64 big-endian (8), 4],
 *     ? "ima-digest": [KATLS_MT_IMA_DIGEST, u64 length || SHA-256 (40), 4],
 *     ? "kernel":    [KATLS_MT_KERNEL,    << kernel map >>,   4],
 *     ? "workload":  [KATLS_MT_WORKLOAD,  << workload map >>, 4],
 *     ? "batch":     [KATLS_MT_QUOTE_BATCH, batch proof,     4] }
 *
 * "ima-start" is its own record (8-byte big-endian index of the first IMA
 * record in "ima") so that "ima" stays exactly the kernel's binary format;
 * the two appear together or not at all.  When the log travels detached
 * (ima_detach.h), "ima-digest" stands in for "ima": the log's length in
 * bytes (u64 big-endian) and its SHA-256; "ima-start" goes with either.
 *
 * "batch" (quote batching, batch_proof.h) is present when the quote covers a
 * batch of sessions: the quote's qualifyingData is then the batch's Merkle
 * root, not this session's binder.
 *
 * Determinism (RFC 8949 §4.2.1 core deterministic encoding): definite
 * lengths, shortest heads, map keys in bytewise order of their encodings.
 * For text keys that order is "shorter key first, then bytewise", so
 * "__cmwc_t" is not the first key: "ak" < "aik" < "ima" < "pcrs" < "batch" <
 * "quote" < "kernel" < "__cmwc_t" < "workload" < "ima-start" < "quote-sig" <
 * "ima-digest".
 * Encoders build the items with libcbor in that order; decoders are strict
 * cursor-based readers that accept exactly what the encoders produce (any
 * other encoding of the same data, unknown or duplicate keys, indefinite
 * lengths, trailing bytes are rejected).
 *
 * Sub-encodings (all keys required, deterministic as above):
 *   pcrs     { "sha256": { uint index (0..23, ascending) => bstr .size 32 } }
 *   kernel   { "tpm": bool, "taint": uint, "boot-id": bstr .size 16,
 *              "release": tstr, "cc-flags": uint, "lockdown": uint (0..2),
 *              "ima-count": uint, "generation": uint, "ima-violations": uint }
 *   workload { "pid": uint, "uid": uint, "exe-path": tstr, "cgroup-id": uint,
 *              "exe-digest": bstr, "exe-digest-alg": uint (kernel hash_algo) }
 * Text strings must be valid UTF-8 without NUL.
 *
 * No global state; thread-safe.
 */
#ifndef KATLS_CMW_H
#define KATLS_CMW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evidence/quote.h"
#include "util/buf.h"

#define KATLS_CMWC_TYPE		"tag:katls.invalid,2026:evidence/v1"
#define KATLS_MT_QUOTE		"application/vnd.katls.tpms-attest"
#define KATLS_MT_QUOTE_SIG	"application/vnd.katls.tpmt-signature"
#define KATLS_MT_AK		"application/vnd.katls.tpmt-public"
#define KATLS_MT_PCRS		"application/vnd.katls.pcrs+cbor"
#define KATLS_MT_IMA		"application/vnd.katls.ima-log"
#define KATLS_MT_IMA_START	"application/vnd.katls.ima-start"
#define KATLS_MT_IMA_DIGEST	"application/vnd.katls.ima-log-digest"
#define KATLS_MT_KERNEL		"application/vnd.katls.kernel-state+cbor"
#define KATLS_MT_WORKLOAD	"application/vnd.katls.workload+cbor"
#define KATLS_MT_AIK		"application/vnd.katls.aik-hash"
#define KATLS_MT_QUOTE_BATCH	"application/vnd.katls.quote-batch"
#define KATLS_CMW_IND_EVIDENCE	4

#define KATLS_CMW_MAX		(16u << 20)	/* whole collection */
#define KATLS_CMW_RELEASE_MAX	65		/* utsname release + NUL */
#define KATLS_CMW_PATH_MAX	4096		/* PATH_MAX, with NUL */
#define KATLS_CMW_DIGEST_MAX	64
#define KATLS_CMW_IMA_DIGEST_LEN	40	/* u64 length || SHA-256 */

/* Evidence parts in wire form; every buffer is owned by the struct. */
struct katls_evidence {
	struct katls_buf quote;		/* TPMS_ATTEST */
	struct katls_buf quote_sig;	/* TPMT_SIGNATURE */
	struct katls_buf ak;		/* TPMT_PUBLIC of the AK */
	struct katls_buf pcrs;		/* katls_cmw_pcrs_encode() */
	struct katls_buf aik;		/* H(SPKI DER of the EA leaf key): 32, 48 or 64 B */
	bool has_ima;			/* ima_start and ima or ima_digest present */
	uint64_t ima_start;		/* index of the first record in ima */
	struct katls_buf ima;		/* binary_runtime_measurements records (may be empty) */
	/*
	 * Detached log (len KATLS_CMW_IMA_DIGEST_LEN, else 0): what "ima-digest"
	 * carries instead of "ima"; katls_ima_attach() fills ima from the frames.
	 */
	struct katls_buf ima_digest;
	struct katls_buf kernel;	/* optional (len 0 = absent): katls_cmw_kernel_encode() */
	struct katls_buf workload;	/* optional (len 0 = absent): katls_cmw_workload_encode */
	/* quote batching: katls_batch_proof_encode(), len 0 = the quote is this session's own */
	struct katls_buf batch;
};

/* STATE_GET snapshot (include/uapi/linux/katls.h). */
struct katls_cmw_kernel {
	uint64_t generation;
	uint8_t boot_id[16];
	char release[KATLS_CMW_RELEASE_MAX];
	uint64_t taint;
	uint8_t lockdown;		/* enum katls_lockdown */
	uint32_t cc_flags;		/* enum katls_cc_flag bits */
	bool tpm;
	uint64_t ima_count;
	uint64_t ima_violations;
};

/*
 * Identity of the workload that asked for attestation: the attester's claim.
 * A verifier checks exe_path and exe_digest against the quoted IMA log;
 * pid, uid and cgroup_id are advisory (docs/policy.md).
 */
struct katls_cmw_workload {
	uint32_t pid;
	uint32_t uid;
	uint64_t cgroup_id;
	char exe_path[KATLS_CMW_PATH_MAX];
	/*
	 * All zero = unknown (the kernel could not hash the exe): verifiers
	 * treat the workload as unverified and no rule accepts it.
	 */
	uint8_t exe_digest[KATLS_CMW_DIGEST_MAX];
	size_t exe_digest_len;		/* 1..64 */
	uint32_t exe_digest_alg;	/* kernel enum hash_algo (4 = SHA-256) */
};

/**
 * katls_cmw_encode() - encode Evidence as the katls CMW collection.
 * @ev: required parts non-empty (quote, quote_sig, ak, pcrs, aik).
 * @out: the encoding is appended.
 * Return: 0, -EINVAL (a required part missing, a size cap exceeded),
 * -EMSGSIZE (result over KATLS_CMW_MAX) or -ENOMEM.
 */
int katls_cmw_encode(const struct katls_evidence *ev, struct katls_buf *out);

/**
 * katls_cmw_decode() - strict decode of a katls CMW collection.
 * @out: filled with copies of the parts; call katls_cmw_cleanup() after
 *       success (on failure it is left empty).
 * The pcrs, kernel and workload sub-encodings are validated too.
 * Return: 0, -EBADMSG (anything but exactly our encoding), -EMSGSIZE (input
 * over KATLS_CMW_MAX) or -ENOMEM.
 */
int katls_cmw_decode(const uint8_t *in, size_t in_len, struct katls_evidence *out);

/** katls_cmw_cleanup() - wipe and free every part; NULL-safe. */
void katls_cmw_cleanup(struct katls_evidence *ev);

/**
 * katls_cmw_check() - structural check of any CBOR CMW (record, tag or
 * collection, nested at most 8 deep), as draft-ietf-rats-msg-wrap defines
 * it; contents are not interpreted.  Definite lengths and shortest heads only.
 * Return: 0 or -EBADMSG.
 */
int katls_cmw_check(const uint8_t *in, size_t in_len);

/** katls_cmw_pcrs_encode() - append the pcrs map of @pcrs (mask non-zero). */
int katls_cmw_pcrs_encode(const struct katls_pcrs *pcrs, struct katls_buf *out);
/** katls_cmw_pcrs_decode() - strict decode. Return: 0, -EBADMSG. */
int katls_cmw_pcrs_decode(const uint8_t *in, size_t in_len, struct katls_pcrs *out);

/** katls_cmw_kernel_encode() - append the kernel map. Return: 0, -EINVAL, -ENOMEM. */
int katls_cmw_kernel_encode(const struct katls_cmw_kernel *k, struct katls_buf *out);
/** katls_cmw_kernel_decode() - strict decode. Return: 0, -EBADMSG. */
int katls_cmw_kernel_decode(const uint8_t *in, size_t in_len, struct katls_cmw_kernel *out);

/** katls_cmw_workload_encode() - append the workload map. Return: 0, -EINVAL, -ENOMEM. */
int katls_cmw_workload_encode(const struct katls_cmw_workload *w, struct katls_buf *out);
/** katls_cmw_workload_decode() - strict decode. Return: 0, -EBADMSG. */
int katls_cmw_workload_decode(const uint8_t *in, size_t in_len,
			      struct katls_cmw_workload *out);

#endif /* KATLS_CMW_H */
