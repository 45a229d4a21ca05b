/* SPDX-License-Identifier: MIT */
/*
 * The attester side of katls/1: gather Evidence bound to one authenticator
 * request (DESIGN.md §5, §6) and encode it as the CMW collection.
 *
 *   binder = katls_binder_compute(exporter, leaf key, crc)
 *   quote  = TPM2_Quote(SHA-256 PCRs 0-10, qualifyingData) (tpm.h), where
 *            qualifyingData = katls_quote_nonce(binder) for a quote of its
 *            own, or the Merkle root of a batch of requests' binders
 *            (quote_batch.h; the Evidence then carries the batch proof)
 *   ima    = the IMA log, read AFTER the quote so it covers every quoted
 *            extend (the log may run ahead; the verifier replays until match)
 *   kernel = katls.ko STATE_GET when the module is loaded, else omitted
 *
 * A struct katls_evidence_source owns one TPM context and the quote batcher
 * whose thread is its only user after katls_evidence_source_new(): requests
 * from any number of threads queue there, and those that arrive while a
 * quote is in flight share the next one (when their verifier offered it).
 */
#ifndef KATLS_EVIDENCE_H
#define KATLS_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "evidence/quote_batch.h"
#include "util/buf.h"
#include "wire/cmw.h"
#include "wire/ea.h"

#define KATLS_EVIDENCE_PCR_MASK	0x7ffu	/* PCRs 0-10 */
#define KATLS_IMA_SECURITYFS \
	"/sys/kernel/security/integrity/ima/binary_runtime_measurements"
#define KATLS_EVIDENCE_TIMEOUT_DEFAULT_MS	30000	/* longest wait for a quote */

struct katls_evidence_config {
	const char *tcti;		/* NULL: $TPM2TOOLS_TCTI, $KATLS_TCTI, default */
	uint32_t ak_handle;		/* 0 = KATLS_AK_HANDLE_DEFAULT */
	uint32_t pcr_mask;		/* 0 = KATLS_EVIDENCE_PCR_MASK */
	const char *ima_log;		/* NULL = KATLS_IMA_SECURITYFS */
	size_t ima_digest_size;		/* D of that file: 0 = 32 for --ima-log, 20 for securityfs */
	bool no_ima;			/* send no IMA log */
	bool no_kernel;			/* never ask katls.ko */
	const struct katls_cmw_workload *workload;	/* optional */
	/* quote batching: max 1 quotes every request alone (batching off) */
	struct katls_quote_batch_config batch;
	/*
	 * Test hook (tests/host, documented in katls(8) as such): "quote-sig"
	 * flips a bit of the quote signature, "aik" of the aik record, "binder"
	 * quotes a wrong nonce (in a quote batch: a root the proof does not
	 * lead to), "ak-attrs" flips the noDA attribute in the ak record (the
	 * same key claimed with other attributes), "batch-sibling" flips a bit
	 * of the first sibling hash of a batch proof.  NULL in production.
	 */
	const char *test_corrupt;
};

struct katls_evidence_source;

/**
 * katls_evidence_source_new() - open the TPM and check the AK exists.
 * @err/@err_len: one line naming what failed.
 * Return: 0 and *@out, -ENOENT (no AK at the handle: run katls provision),
 * or the TPM's -errno.
 */
int katls_evidence_source_new(struct katls_evidence_source **out,
			      const struct katls_evidence_config *cfg,
			      char *err, size_t err_len);
/** katls_evidence_source_free() - close the TPM; NULL-safe. */
void katls_evidence_source_free(struct katls_evidence_source *src);

/** katls_evidence_source_ima_digest_size() - D of the IMA log this source reads. */
size_t katls_evidence_source_ima_digest_size(const struct katls_evidence_source *src);

/* How the quote of one request went (katlsd's per-request log line). */
struct katls_evidence_stats {
	double wait_ms;			/* queued behind the quote in flight */
	double quote_ms;		/* the quote that covers the request */
	size_t batch_size;		/* requests under that quote (1: its own) */
	size_t batch_index;		/* this request's leaf (batches of several) */
};

/* One authenticator request to attest. */
struct katls_evidence_request {
	const struct katls_exporter *ex;	/* the connection's exporter */
	EVP_PKEY *leaf_key;			/* the EA leaf key (AIK) */
	const uint8_t *crc;			/* certificate_request_context */
	size_t crc_len;
	bool batch;				/* the verifier accepts a shared quote */
	const struct katls_cmw_workload *workload;	/* NULL: the source's */
	unsigned int timeout_ms;		/* 0 = KATLS_EVIDENCE_TIMEOUT_DEFAULT_MS */
	struct katls_evidence_stats *stats;	/* optional, filled on success */
};

/**
 * katls_evidence_gather() - Evidence for one request, as CMW bytes.
 * @out: the CMW is appended.
 * Waits for a quote at most @rq->timeout_ms (queued behind the quote in
 * flight, then its own); a failed quote fails every request it covers.
 * Return: 0 or -errno (message in @err): -ETIMEDOUT, -EBUSY (quote queue
 * full), the TPM's -errno, ...
 */
int katls_evidence_gather(struct katls_evidence_source *src,
			  const struct katls_evidence_request *rq, struct katls_buf *out,
			  char *err, size_t err_len);

/** katls_file_read() - whole file into @out (at most @max bytes). 0/-errno. */
int katls_file_read(const char *path, size_t max, struct katls_buf *out);

#endif /* KATLS_EVIDENCE_H */
