// SPDX-License-Identifier: MIT
/*
 * Evidence gathering (see evidence.h).  The TPM context is used by the
 * quote batcher's thread alone (batch_quote()), which quotes and then reads
 * the IMA log once for every request of a batch; the requests' own threads
 * compute their binders and encode their Evidence from that shared quote.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "evidence/evidence.h"
#include "evidence/quote.h"
#include "evidence/tpm.h"
#include "kernel/nl.h"

#define IMA_LOG_MAX	(64u << 20)

struct katls_evidence_source {
	struct katls_evidence_config cfg;
	struct katls_tpm *tpm;		/* the batcher's thread only */
	struct katls_buf ak_public;	/* TPMT_PUBLIC of the AK */
	struct katls_quote_batcher *batcher;
};

/* What one quote gives every request it covers (the batcher's payload). */
struct quoted {
	struct katls_buf quote;		/* TPMS_ATTEST */
	struct katls_buf sig;		/* TPMT_SIGNATURE */
	struct katls_pcrs pcrs;		/* the quoted values */
	struct katls_buf ima;		/* the IMA log, read after the quote */
};

int katls_file_read(const char *path, size_t max, struct katls_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		ret = katls_buf_reserve(out, 65536);
		if (ret)
			break;
		n = read(fd, out->data + out->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len > max) {
			ret = -EFBIG;
			break;
		}
	}
	close(fd);
	return ret;
}

static bool corrupt(const struct katls_evidence_source *src, const char *what)
{
	return src->cfg.test_corrupt && !strcmp(src->cfg.test_corrupt, what);
}

/* STATE_GET of katls.ko; -ENOENT when the module is not loaded. */
static int kernel_state(struct katls_buf *out)
{
	struct katls_cmw_kernel k;
	struct katls_state st;
	struct katls_nl *nl;
	int ret;

	ret = katls_nl_open(&nl);
	if (ret)
		return ret;
	ret = katls_nl_state_get(nl, 0, &st);
	katls_nl_close(nl);
	if (ret)
		return ret;
	memset(&k, 0, sizeof(k));
	k.generation = st.generation;
	memcpy(k.boot_id, st.boot_id, sizeof(k.boot_id));
	snprintf(k.release, sizeof(k.release), "%s", st.release);
	k.taint = st.taint;
	k.lockdown = st.have_lockdown ? st.lockdown : 0;
	k.cc_flags = st.cc_flags;
	k.tpm = st.tpm_present;
	k.ima_count = st.ima_count;
	k.ima_violations = st.ima_violations;
	return katls_cmw_kernel_encode(&k, out);
}

static int append_records(const uint8_t *records, size_t len, uint64_t generation,
			  uint64_t count, void *arg)
{
	struct katls_buf *b = arg;

	if (len > IMA_LOG_MAX - b->len)
		return -EFBIG;
	return katls_put_bytes(b, records, len);
}

/*
 * The IMA list from katls.ko (IMA_GET), the first source of DESIGN.md §6: one
 * consistent snapshot, restarted while the list grows under the dump.
 * Return: 0, -ENOENT without the module, or -errno.
 */
static int ima_from_module(struct katls_buf *out)
{
	struct katls_nl *nl;
	int ret, tries;

	ret = katls_nl_open(&nl);
	if (ret)
		return ret;
	for (tries = 0; tries < 8; tries++) {
		out->len = 0;
		ret = katls_nl_ima_dump(nl, 0, append_records, out);
		if (ret != -EINTR)
			break;
	}
	katls_nl_close(nl);
	return ret;
}

/* The module's dump, else the file (securityfs or one named in the config). */
static int read_ima(const struct katls_evidence_source *src, struct katls_buf *out)
{
	if (!strcmp(src->cfg.ima_log, KATLS_IMA_SECURITYFS) && !ima_from_module(out))
		return 0;
	katls_buf_cleanup(out);
	return katls_file_read(src->cfg.ima_log, IMA_LOG_MAX, out);
}

/* ---- the quote: on the batcher's thread ------------------------------------ */

static void quoted_free(void *payload)
{
	struct quoted *q = payload;

	katls_buf_cleanup(&q->quote);
	katls_buf_cleanup(&q->sig);
	katls_buf_cleanup(&q->ima);
	free(q);
}

/* One TPM quote for @n requests, then the IMA log: it must cover every quoted extend. */
static int batch_quote(void *arg, const uint8_t *qd, size_t qd_len, size_t n, void **payload,
		       char *err, size_t err_len)
{
	struct katls_evidence_source *src = arg;
	struct quoted *q = calloc(1, sizeof(*q));
	uint8_t nonce[KATLS_QUOTE_NONCE_MAX];
	int ret;

	if (!q)
		return -ENOMEM;
	memcpy(nonce, qd, qd_len);
	if (corrupt(src, "binder"))
		nonce[0] ^= 1;
	ret = katls_tpm_quote(src->tpm, src->cfg.ak_handle, nonce, qd_len, src->cfg.pcr_mask,
			      &q->quote, &q->sig, &q->pcrs);
	if (ret)
		snprintf(err, err_len, "TPM2_Quote: %s", strerror(-ret));
	if (!ret && !src->cfg.no_ima) {
		ret = read_ima(src, &q->ima);
		if (ret)
			snprintf(err, err_len, "cannot read the IMA log %s: %s", src->cfg.ima_log,
				 strerror(-ret));
	}
	if (ret) {
		quoted_free(q);
		return ret;
	}
	*payload = q;
	return 0;
}

int katls_evidence_source_new(struct katls_evidence_source **out,
			      const struct katls_evidence_config *cfg,
			      char *err, size_t err_len)
{
	struct katls_evidence_source *src = calloc(1, sizeof(*src));
	int ret;

	*out = NULL;
	if (!src)
		return -ENOMEM;
	src->cfg = *cfg;
	if (!src->cfg.ak_handle)
		src->cfg.ak_handle = KATLS_AK_HANDLE_DEFAULT;
	if (!src->cfg.pcr_mask)
		src->cfg.pcr_mask = KATLS_EVIDENCE_PCR_MASK;
	if (!src->cfg.ima_digest_size)
		src->cfg.ima_digest_size = cfg->ima_log ? 32 : 20;
	if (!src->cfg.ima_log)
		src->cfg.ima_log = KATLS_IMA_SECURITYFS;
	ret = katls_tpm_open(cfg->tcti, &src->tpm);
	if (ret) {
		snprintf(err, err_len, "cannot open the TPM (%s): %s",
			 cfg->tcti ? cfg->tcti : "TCTI from the environment", strerror(-ret));
		goto fail;
	}
	ret = katls_tpm_ak_public(src->tpm, src->cfg.ak_handle, &src->ak_public, NULL);
	if (ret) {
		snprintf(err, err_len, "no attestation key at handle 0x%08x: %s%s",
			 src->cfg.ak_handle, strerror(-ret),
			 ret == -ENOENT ? " (run 'katls provision')" : "");
		goto fail;
	}
	ret = katls_quote_batcher_new(&src->cfg.batch, &(struct katls_quote_batch_ops){
		batch_quote, quoted_free, src }, &src->batcher);
	if (ret) {
		snprintf(err, err_len, "cannot start the quote batcher: %s", strerror(-ret));
		goto fail;
	}
	*out = src;
	return 0;
fail:
	katls_evidence_source_free(src);
	return ret;
}

void katls_evidence_source_free(struct katls_evidence_source *src)
{
	if (!src)
		return;
	katls_quote_batcher_free(src->batcher);
	katls_tpm_close(src->tpm);
	katls_buf_cleanup(&src->ak_public);
	free(src);
}

size_t katls_evidence_source_ima_digest_size(const struct katls_evidence_source *src)
{
	return src->cfg.ima_digest_size;
}

/* ---- one request: on its own thread ------------------------------------------ */

/* The quote of @rq: its binder's leaf and nonce queued at the batcher. */
static int wait_quote(struct katls_evidence_source *src, const struct katls_evidence_request *rq,
		      struct katls_quote_batch_result *res, char *err, size_t err_len)
{
	struct katls_quote_batch_request q = { .solo = !rq->batch };
	uint8_t binder[EVP_MAX_MD_SIZE];
	size_t binder_len = sizeof(binder);
	int ret;

	ret = katls_binder_compute(rq->ex, rq->leaf_key, rq->crc, rq->crc_len, NULL, binder,
				   &binder_len);
	if (!ret)
		ret = katls_quote_nonce(binder, binder_len, q.nonce, &q.nonce_len);
	if (!ret)
		ret = katls_batch_leaf(binder, binder_len, q.leaf);
	OPENSSL_cleanse(binder, sizeof(binder));
	if (ret) {
		snprintf(err, err_len, "cannot compute the binder: %s", strerror(-ret));
		return ret;
	}
	ret = katls_quote_batch_submit(src->batcher, &q, rq->timeout_ms ? rq->timeout_ms :
				       KATLS_EVIDENCE_TIMEOUT_DEFAULT_MS, res, err, err_len);
	OPENSSL_cleanse(&q, sizeof(q));
	return ret;
}

/* The batch proof record, with the test hook that breaks it. */
static int put_batch(const struct katls_evidence_source *src, struct katls_quote_batch_result *res,
		     struct katls_buf *out)
{
	if (corrupt(src, "batch-sibling") && res->proof.path_len)
		res->path[0][0] ^= 1;
	return katls_batch_proof_encode(&res->proof, out);
}

/* quote, quote-sig, pcrs, ak, aik, ima and batch records from the shared quote */
static int put_quote(const struct katls_evidence_source *src,
		     const struct katls_evidence_request *rq,
		     struct katls_quote_batch_result *res, struct katls_evidence *ev)
{
	const struct quoted *q = res->payload;
	size_t aik_len = EVP_MAX_MD_SIZE;
	int ret;

	ret = katls_put_bytes(&ev->quote, q->quote.data, q->quote.len);
	if (!ret)
		ret = katls_put_bytes(&ev->quote_sig, q->sig.data, q->sig.len);
	if (!ret && corrupt(src, "quote-sig") && ev->quote_sig.len)
		ev->quote_sig.data[ev->quote_sig.len - 1] ^= 1;
	if (!ret)
		ret = katls_cmw_pcrs_encode(&q->pcrs, &ev->pcrs);
	if (!ret)
		ret = katls_put_bytes(&ev->ak, src->ak_public.data, src->ak_public.len);
	/* TPMT_PUBLIC: type u16, nameAlg u16, objectAttributes u32 (noDA = 0x400) */
	if (!ret && corrupt(src, "ak-attrs") && ev->ak.len >= 8)
		ev->ak.data[6] ^= 0x04;
	if (!ret)
		ret = katls_buf_reserve(&ev->aik, EVP_MAX_MD_SIZE);
	if (!ret)
		ret = katls_aik_hash(rq->ex->md, rq->leaf_key, ev->aik.data, &aik_len);
	if (!ret) {
		ev->aik.len = aik_len;
		if (corrupt(src, "aik"))
			ev->aik.data[0] ^= 1;
	}
	if (!ret && !src->cfg.no_ima) {
		ev->has_ima = true;
		ev->ima_start = 0;
		ret = katls_put_bytes(&ev->ima, q->ima.data, q->ima.len);
	}
	if (!ret && res->batched)
		ret = put_batch(src, res, &ev->batch);
	return ret;
}

int katls_evidence_gather(struct katls_evidence_source *src,
			  const struct katls_evidence_request *rq, struct katls_buf *out,
			  char *err, size_t err_len)
{
	const struct katls_cmw_workload *workload = rq->workload ? rq->workload :
						    src->cfg.workload;
	struct katls_quote_batch_result res;
	struct katls_evidence ev;
	int ret;

	memset(&ev, 0, sizeof(ev));
	ret = wait_quote(src, rq, &res, err, err_len);
	if (ret)
		return ret;
	ret = put_quote(src, rq, &res, &ev);
	if (ret)
		snprintf(err, err_len, "cannot encode Evidence: %s", strerror(-ret));
	if (!ret && rq->stats) {
		rq->stats->wait_ms = res.wait_ms;
		rq->stats->quote_ms = res.quote_ms;
		rq->stats->batch_size = res.batch_size;
		rq->stats->batch_index = res.batched ? res.proof.index : 0;
	}
	katls_quote_batch_result_cleanup(&res);
	if (!ret && !src->cfg.no_kernel) {
		ret = kernel_state(&ev.kernel);
		if (ret == -ENOENT || ret == -EPERM || ret == -EACCES || ret == -EPROTONOSUPPORT) {
			katls_buf_cleanup(&ev.kernel);	/* no module: omit the record */
			ret = 0;
		} else if (ret) {
			snprintf(err, err_len, "katls.ko STATE_GET failed: %s", strerror(-ret));
		}
	}
	if (!ret && workload) {
		ret = katls_cmw_workload_encode(workload, &ev.workload);
		if (ret)
			snprintf(err, err_len, "cannot encode the workload: %s", strerror(-ret));
	}
	if (!ret) {
		ret = katls_cmw_encode(&ev, out);
		if (ret)
			snprintf(err, err_len, "cannot encode the CMW: %s", strerror(-ret));
	}
	katls_cmw_cleanup(&ev);
	return ret;
}
