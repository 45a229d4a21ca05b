/* SPDX-License-Identifier: MIT */
/*
 * Quote batching on the attester (docs/wire.md, "Quote batching"): one TPM
 * quote for every attestation request that arrived while the previous quote
 * was in flight.
 *
 * A batcher owns one thread, the only caller of @ops->quote.  Requests
 * queue (FIFO, at most queue_max); when the quote in flight returns, the
 * thread takes every queued request that may share a quote (up to max; an
 * optional linger first waits for more), builds the Merkle tree of their
 * leaves (merkle.h) and quotes its root.  A batch of one request is quoted
 * with that request's own nonce, exactly as without batching, and so is a
 * "solo" request (its verifier did not offer batching): it never shares.
 * Each waiter gets the quote's shared payload and, for a batch of several,
 * its leaf index and sibling path (batch_proof.h).
 *
 * Failure and time: a failed quote fails every request of its batch with
 * the quote's message; a request waits at most its timeout, whether queued
 * (it leaves the queue) or in flight (it is abandoned, the thread frees it
 * when the quote returns); a full queue refuses at once (-EBUSY).  Nothing
 * waits without a bound but @ops->quote itself.
 *
 * Threads: katls_quote_batch_submit() may be called from any number of
 * threads; results are independent of each other and of the batcher.
 */
#ifndef KATLS_QUOTE_BATCH_H
#define KATLS_QUOTE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evidence/batch_proof.h"
#include "evidence/merkle.h"
#include "evidence/quote.h"

#define KATLS_QUOTE_QUEUE_DEFAULT	4096
#define KATLS_QUOTE_LINGER_MAX_MS	1000

struct katls_quote_batch_config {
	unsigned int max;		/* requests per quote, 1..KATLS_BATCH_MAX (0 = the
					 * maximum); 1 quotes every request alone */
	unsigned int linger_ms;		/* wait up to this for more requests before a
					 * quote, 0..KATLS_QUOTE_LINGER_MAX_MS (0: none) */
	unsigned int queue_max;		/* requests waiting, 0 = KATLS_QUOTE_QUEUE_DEFAULT */
};

struct katls_quote_batch_ops {
	/*
	 * One TPM quote with qualifyingData @qd (1..32 bytes) for a batch of @n
	 * requests: *@payload gets what they all share (freed by
	 * @payload_free once the last result is cleaned up).  0, or -errno and
	 * one line in @err.  Runs on the batcher's thread only.
	 */
	int (*quote)(void *arg, const uint8_t *qd, size_t qd_len, size_t n, void **payload,
		     char *err, size_t err_len);
	void (*payload_free)(void *payload);
	void *arg;
};

/* One attestation request. */
struct katls_quote_batch_request {
	katls_merkle_hash leaf;			/* katls_batch_leaf() of its binder */
	uint8_t nonce[KATLS_QUOTE_NONCE_MAX];	/* katls_quote_nonce() of its binder */
	size_t nonce_len;
	bool solo;				/* must have a quote of its own */
};

/*
 * What a request gets.  proof.path points into path[]: do not copy the
 * struct.  Release with katls_quote_batch_result_cleanup().
 */
struct katls_quote_batch_result {
	const void *payload;		/* the quote, shared by its batch: read only */
	bool batched;			/* several requests share the quote: proof set */
	struct katls_batch_proof proof;
	katls_merkle_hash path[KATLS_BATCH_DEPTH_MAX];
	size_t batch_size;		/* requests under the quote (1 if not batched) */
	double wait_ms;			/* queued until its quote started */
	double quote_ms;		/* the quote itself */
	void *ref;			/* the payload's reference count (private) */
};

struct katls_quote_batcher;

/**
 * katls_quote_batcher_new() - start a batcher thread.
 * Return: 0 and *@out, -EINVAL (a bound out of range) or -errno.
 */
int katls_quote_batcher_new(const struct katls_quote_batch_config *cfg,
			    const struct katls_quote_batch_ops *ops,
			    struct katls_quote_batcher **out);

/**
 * katls_quote_batcher_free() - stop the thread (after the quote in flight),
 * fail what is still queued (-ECANCELED) and wait until every submitter has
 * returned.  No new katls_quote_batch_submit() may start; NULL-safe.
 */
void katls_quote_batcher_free(struct katls_quote_batcher *b);

/**
 * katls_quote_batch_submit() - queue @rq and wait for its quote.
 * @timeout_ms: the longest wait, non-zero.
 * Return: 0 and @out filled; -EBUSY (queue full), -ETIMEDOUT, -ECANCELED
 * (batcher stopping), -ENOMEM, or the quote's -errno; one line in @err.
 */
int katls_quote_batch_submit(struct katls_quote_batcher *b,
			     const struct katls_quote_batch_request *rq, unsigned int timeout_ms,
			     struct katls_quote_batch_result *out, char *err, size_t err_len);

/** katls_quote_batch_result_cleanup() - drop the payload reference; NULL-safe. */
void katls_quote_batch_result_cleanup(struct katls_quote_batch_result *res);

/** katls_quote_batcher_queued() - requests waiting for a quote (not in flight). */
size_t katls_quote_batcher_queued(struct katls_quote_batcher *b);

#endif /* KATLS_QUOTE_BATCH_H */
