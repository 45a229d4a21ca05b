/* SPDX-License-Identifier: MIT */
/*
 * The attester side of katls/1: gather Evidence bound to one authenticator
 * request (DESIGN.md §5, §6) and encode it as the CMW collection.
 *
 *   binder = katls_binder_compute(exporter, leaf key, crc)
 *   nonce  = katls_quote_nonce(binder)
 *   quote  = TPM2_Quote(SHA-256 PCRs 0-10, nonce)      (tpm.h)
 *   ima    = the IMA log, read AFTER the quote so it covers every quoted
 *            extend (the log may run ahead; the verifier replays until match)
 *   kernel = katls.ko STATE_GET when the module is loaded, else omitted
 *
 * A struct katls_evidence_source owns one TPM context; gathers on one
 * source are serialized by its mutex, so a daemon may share it between
 * threads.
 */
#ifndef KATLS_EVIDENCE_H
#define KATLS_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "cmw.h"
#include "ea.h"

#define KATLS_EVIDENCE_PCR_MASK	0x7ffu	/* PCRs 0-10 */
#define KATLS_IMA_SECURITYFS \
	"/sys/kernel/security/integrity/ima/binary_runtime_measurements"

struct katls_evidence_config {
	const char *tcti;		/* NULL: $TPM2TOOLS_TCTI, $KATLS_TCTI, default */
	uint32_t ak_handle;		/* 0 = KATLS_AK_HANDLE_DEFAULT */
	uint32_t pcr_mask;		/* 0 = KATLS_EVIDENCE_PCR_MASK */
	const char *ima_log;		/* NULL = KATLS_IMA_SECURITYFS */
	size_t ima_digest_size;		/* D of that file: 0 = 32 for --ima-log, 20 for securityfs */
	bool no_ima;			/* send no IMA log */
	bool no_kernel;			/* never ask katls.ko */
	const struct katls_cmw_workload *workload;	/* optional */
	/*
	 * Test hook (tests/host, documented in katls(8) as such): "quote-sig"
	 * flips a bit of the quote signature, "aik" of the aik record, "binder"
	 * quotes a wrong nonce, "ak-attrs" flips the noDA attribute in the ak
	 * record (the same key claimed with other attributes).  NULL in
	 * production.
	 */
	const char *test_corrupt;
};

struct katls_evidence_source;

/*
 * Timing only (katlsd's per-request log line): how long the last
 * katls_tpm_quote() made by a gather on this thread took, in ms.
 */
extern _Thread_local double katls_evidence_quote_ms;

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

/**
 * katls_evidence_gather() - Evidence for one request, as CMW bytes.
 * @ex: the connection's exporter; @leaf_key: the EA leaf key (AIK);
 * @crc/@crc_len: the request's certificate_request_context.
 * @out: the CMW is appended.
 * Return: 0 or -errno (message in @err).
 */
int katls_evidence_gather(struct katls_evidence_source *src, const struct katls_exporter *ex,
			  EVP_PKEY *leaf_key, const uint8_t *crc, size_t crc_len,
			  struct katls_buf *out, char *err, size_t err_len);

/**
 * katls_evidence_gather_workload() - katls_evidence_gather() with the
 * workload record of this request (@workload, may be NULL: none) instead of
 * the source's (katlsd: the requesting application's identity).
 */
int katls_evidence_gather_workload(struct katls_evidence_source *src,
				   const struct katls_cmw_workload *workload,
				   const struct katls_exporter *ex, EVP_PKEY *leaf_key,
				   const uint8_t *crc, size_t crc_len, struct katls_buf *out,
				   char *err, size_t err_len);

/** katls_file_read() - whole file into @out (at most @max bytes). 0/-errno. */
int katls_file_read(const char *path, size_t max, struct katls_buf *out);

#endif /* KATLS_EVIDENCE_H */
