// SPDX-License-Identifier: MIT
/*
 * The quote batcher (quote_batch.h) against a fake TPM whose quotes the test
 * holds and releases, so every batch is formed deterministically (no timing
 * in the assertions): natural batching, the bound on a batch, solo requests,
 * a failed quote failing its whole batch, timeouts while queued and while in
 * flight, a full queue, linger, and stopping with requests queued.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "evidence/quote_batch.h"

/* ---- a fake TPM ------------------------------------------------------------ */

struct quoted {
	unsigned int call;		/* 1 = first quote */
	uint8_t qd[32];
	size_t qd_len;
};

static struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned int calls;		/* quotes started */
	size_t sizes[64];		/* batch size of each quote */
	unsigned int released;		/* quotes allowed to return (when holding) */
	bool hold;			/* quotes wait for release() */
	unsigned int fail_call;		/* this quote fails (0: none) */
	int live_payloads;
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static int fake_quote(void *arg, const uint8_t *qd, size_t qd_len, size_t n, void **payload,
		      char *err, size_t err_len)
{
	struct quoted *q;
	unsigned int call;

	pthread_mutex_lock(&fk.lock);
	call = ++fk.calls;
	fk.sizes[call < 64 ? call : 0] = n;
	pthread_cond_broadcast(&fk.cv);
	while (fk.hold && fk.released < call)
		pthread_cond_wait(&fk.cv, &fk.lock);
	pthread_mutex_unlock(&fk.lock);
	if (call == fk.fail_call) {
		snprintf(err, err_len, "TPM2_Quote: TPM_RC_FAILURE (fake)");
		return -EIO;
	}
	q = calloc(1, sizeof(*q));
	assert_non_null(q);
	q->call = call;
	memcpy(q->qd, qd, qd_len);
	q->qd_len = qd_len;
	__atomic_add_fetch(&fk.live_payloads, 1, __ATOMIC_RELAXED);
	*payload = q;
	return 0;
}

static void fake_free(void *p)
{
	__atomic_sub_fetch(&fk.live_payloads, 1, __ATOMIC_RELAXED);
	free(p);
}

static const struct katls_quote_batch_ops ops = { fake_quote, fake_free, NULL };

static void fake_reset(bool hold)
{
	pthread_mutex_lock(&fk.lock);
	fk.calls = fk.released = fk.fail_call = 0;
	memset(fk.sizes, 0, sizeof(fk.sizes));
	fk.hold = hold;
	pthread_mutex_unlock(&fk.lock);
}

static void release(unsigned int upto)
{
	pthread_mutex_lock(&fk.lock);
	fk.released = upto;
	pthread_cond_broadcast(&fk.cv);
	pthread_mutex_unlock(&fk.lock);
}

/* Until the fake has started @n quotes. */
static void wait_calls(unsigned int n)
{
	pthread_mutex_lock(&fk.lock);
	while (fk.calls < n)
		pthread_cond_wait(&fk.cv, &fk.lock);
	pthread_mutex_unlock(&fk.lock);
}

static void wait_queued(struct katls_quote_batcher *b, size_t n)
{
	while (katls_quote_batcher_queued(b) != n)
		usleep(1000);
}

/* ---- requests on their own threads ------------------------------------------- */

struct req {
	pthread_t t;
	struct katls_quote_batcher *b;
	struct katls_quote_batch_request rq;
	unsigned int timeout_ms;
	int ret;
	char err[256];
	struct katls_quote_batch_result res;
};

static void req_init(struct req *r, struct katls_quote_batcher *b, unsigned int id, bool solo)
{
	uint8_t binder[32] = { 0xb1, (uint8_t)id, (uint8_t)(id >> 8) };

	memset(r, 0, sizeof(*r));
	r->b = b;
	r->timeout_ms = 10000;
	r->rq.solo = solo;
	assert_int_equal(katls_batch_leaf(binder, sizeof(binder), r->rq.leaf), 0);
	memcpy(r->rq.nonce, binder, sizeof(binder));
	r->rq.nonce_len = sizeof(binder);
}

static void *req_run(void *arg)
{
	struct req *r = arg;

	r->ret = katls_quote_batch_submit(r->b, &r->rq, r->timeout_ms, &r->res, r->err,
					  sizeof(r->err));
	return NULL;
}

static void req_start(struct req *r)
{
	assert_int_equal(pthread_create(&r->t, NULL, req_run, r), 0);
}

static void req_join(struct req *r)
{
	pthread_join(r->t, NULL);
}

static const struct quoted *quoted_of(const struct req *r)
{
	return r->res.payload;
}

/* The result proves this request's leaf under the qualifyingData the TPM got. */
static void assert_proven(const struct req *r, size_t size)
{
	const struct quoted *q = quoted_of(r);
	enum katls_reason reason;
	char msg[200];

	assert_int_equal(r->ret, 0);
	assert_int_equal(r->res.batch_size, size);
	if (size == 1) {
		assert_false(r->res.batched);
		assert_int_equal(q->qd_len, r->rq.nonce_len);
		assert_memory_equal(q->qd, r->rq.nonce, q->qd_len);	/* today's format */
		return;
	}
	assert_true(r->res.batched);
	assert_int_equal(katls_batch_proof_verify(&r->res.proof, r->rq.leaf, KATLS_BATCH_MAX,
						  q->qd, q->qd_len, &reason, msg, sizeof(msg)), 0);
}

static struct katls_quote_batcher *batcher(unsigned int max, unsigned int linger,
					   unsigned int queue)
{
	struct katls_quote_batch_config cfg = { max, linger, queue };
	struct katls_quote_batcher *b;

	assert_int_equal(katls_quote_batcher_new(&cfg, &ops, &b), 0);
	return b;
}

static void cleanup(struct req *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		katls_quote_batch_result_cleanup(&r[i].res);
}

/* ---- tests -------------------------------------------------------------------- */

/* Idle TPM: a request goes straight to the TPM with its own nonce. */
static void test_alone_keeps_todays_format(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 0);
	struct req r;

	fake_reset(false);
	req_init(&r, b, 1, false);
	req_run(&r);
	assert_proven(&r, 1);
	assert_int_equal(fk.calls, 1);
	cleanup(&r, 1);
	assert_int_equal(fk.live_payloads, 0);
	katls_quote_batcher_free(b);
}

/* While quote 1 is in flight, 7 requests queue; quote 2 covers all 7. */
static void test_natural_batching(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 0);
	struct req first, r[7];

	fake_reset(true);
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	for (unsigned int i = 0; i < 7; i++) {
		req_init(&r[i], b, i, false);
		req_start(&r[i]);
	}
	wait_queued(b, 7);
	release(2);
	req_join(&first);
	for (unsigned int i = 0; i < 7; i++)
		req_join(&r[i]);
	assert_int_equal(fk.calls, 2);
	assert_int_equal(fk.sizes[2], 7);
	assert_proven(&first, 1);
	for (unsigned int i = 0; i < 7; i++) {
		assert_proven(&r[i], 7);
		assert_ptr_equal(r[i].res.payload, r[0].res.payload);	/* one quote */
		for (unsigned int j = 0; j < i; j++)
			assert_int_not_equal(r[i].res.proof.index, r[j].res.proof.index);
	}
	cleanup(&first, 1);
	cleanup(r, 6);
	assert_int_equal(fk.live_payloads, 1);	/* the last reference keeps it */
	cleanup(&r[6], 1);
	assert_int_equal(fk.live_payloads, 0);
	katls_quote_batcher_free(b);
}

/* max 3: seven queued requests take three quotes (3, 3, 1). */
static void test_batch_bound(void **state)
{
	struct katls_quote_batcher *b = batcher(3, 0, 0);
	struct req first, r[7];

	fake_reset(true);
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	for (unsigned int i = 0; i < 7; i++) {
		req_init(&r[i], b, i, false);
		req_start(&r[i]);
	}
	wait_queued(b, 7);
	release(10);
	req_join(&first);
	for (unsigned int i = 0; i < 7; i++)
		req_join(&r[i]);
	assert_int_equal(fk.calls, 4);
	assert_int_equal(fk.sizes[2], 3);
	assert_int_equal(fk.sizes[3], 3);
	assert_int_equal(fk.sizes[4], 1);
	for (unsigned int i = 0; i < 7; i++)
		assert_int_equal(r[i].ret, 0);
	cleanup(&first, 1);
	cleanup(r, 7);
	katls_quote_batcher_free(b);
}

/* max 1 (batching off): one quote per request, each with its own nonce. */
static void test_batching_off(void **state)
{
	struct katls_quote_batcher *b = batcher(1, 0, 0);
	struct req first, r[4];

	fake_reset(true);
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	for (unsigned int i = 0; i < 4; i++) {
		req_init(&r[i], b, i, false);
		req_start(&r[i]);
	}
	wait_queued(b, 4);
	release(10);
	req_join(&first);
	for (unsigned int i = 0; i < 4; i++) {
		req_join(&r[i]);
		assert_proven(&r[i], 1);
	}
	assert_int_equal(fk.calls, 5);
	cleanup(&first, 1);
	cleanup(r, 4);
	katls_quote_batcher_free(b);
}

/* Solo requests (verifier did not offer batching) never share a quote. */
static void test_solo_requests_quoted_alone(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 0);
	struct req first, r[5];
	bool solo[5] = { false, true, false, true, false };

	fake_reset(true);
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	for (unsigned int i = 0; i < 5; i++) {
		req_init(&r[i], b, i, solo[i]);
		req_start(&r[i]);
		wait_queued(b, i + 1);		/* arrival order as listed */
	}
	release(10);
	req_join(&first);
	for (unsigned int i = 0; i < 5; i++)
		req_join(&r[i]);
	/* 1: first; 2: the shared r0, r2, r4; 3: r1 alone; 4: r3 alone */
	assert_int_equal(fk.calls, 4);
	assert_int_equal(fk.sizes[2], 3);
	for (unsigned int i = 0; i < 5; i++)
		assert_proven(&r[i], solo[i] ? 1 : 3);
	cleanup(&first, 1);
	cleanup(r, 5);
	katls_quote_batcher_free(b);
}

/* A TPM failure fails every request of that batch with its message; the next
 * batch is quoted again. */
static void test_failure_fails_whole_batch(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 0);
	struct req first, r[7], after;

	fake_reset(true);
	fk.fail_call = 2;
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	for (unsigned int i = 0; i < 7; i++) {
		req_init(&r[i], b, i, false);
		req_start(&r[i]);
	}
	wait_queued(b, 7);
	release(10);
	req_join(&first);
	assert_int_equal(first.ret, 0);
	for (unsigned int i = 0; i < 7; i++) {
		req_join(&r[i]);
		assert_int_equal(r[i].ret, -EIO);
		assert_null(r[i].res.payload);
		assert_non_null(strstr(r[i].err, "TPM quote for a batch of 7 requests failed: "
					   "TPM2_Quote: TPM_RC_FAILURE (fake)"));
	}
	req_init(&after, b, 200, false);
	req_run(&after);
	assert_proven(&after, 1);
	assert_int_equal(fk.calls, 3);
	cleanup(&first, 1);
	cleanup(&after, 1);
	assert_int_equal(fk.live_payloads, 0);
	katls_quote_batcher_free(b);
}

/* Nothing waits forever: a queued request and one whose quote is in flight
 * both give up at their timeout; the batcher frees the abandoned one. */
static void test_timeouts(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 0);
	struct req stuck, queued;

	fake_reset(true);
	req_init(&stuck, b, 1, false);
	stuck.timeout_ms = 300;
	req_start(&stuck);
	wait_calls(1);
	req_init(&queued, b, 2, false);
	queued.timeout_ms = 50;
	req_run(&queued);
	assert_int_equal(queued.ret, -ETIMEDOUT);
	assert_non_null(strstr(queued.err, "still queued"));
	assert_int_equal(katls_quote_batcher_queued(b), 0);	/* it left the queue */
	req_join(&stuck);
	assert_int_equal(stuck.ret, -ETIMEDOUT);
	assert_non_null(strstr(stuck.err, "has not returned"));
	release(10);			/* the quote returns to nobody: freed */
	katls_quote_batcher_free(b);
	assert_int_equal(fk.live_payloads, 0);
}

/* A full queue refuses at once. */
static void test_queue_bound(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 2);
	struct req first, r[2], extra;

	fake_reset(true);
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	for (unsigned int i = 0; i < 2; i++) {
		req_init(&r[i], b, i, false);
		req_start(&r[i]);
	}
	wait_queued(b, 2);
	req_init(&extra, b, 9, false);
	req_run(&extra);
	assert_int_equal(extra.ret, -EBUSY);
	assert_non_null(strstr(extra.err, "quote queue full (2 requests waiting"));
	release(10);
	req_join(&first);
	for (unsigned int i = 0; i < 2; i++) {
		req_join(&r[i]);
		assert_proven(&r[i], 2);
	}
	cleanup(&first, 1);
	cleanup(r, 2);
	katls_quote_batcher_free(b);
}

/* Linger: with an idle TPM the first request waits for more, up to max. */
static void test_linger_until_max(void **state)
{
	struct katls_quote_batcher *b = batcher(3, KATLS_QUOTE_LINGER_MAX_MS, 0);
	struct req r[3];

	fake_reset(false);
	for (unsigned int i = 0; i < 3; i++) {
		req_init(&r[i], b, i, false);
		req_start(&r[i]);
	}
	for (unsigned int i = 0; i < 3; i++)
		req_join(&r[i]);
	assert_int_equal(fk.calls, 1);	/* max reached: no need to wait out the linger */
	for (unsigned int i = 0; i < 3; i++)
		assert_proven(&r[i], 3);
	cleanup(r, 3);
	katls_quote_batcher_free(b);
}

static void *free_batcher(void *b)
{
	katls_quote_batcher_free(b);
	return NULL;
}

/* Stopping fails what is queued, after the quote in flight. */
static void test_stop_cancels_queue(void **state)
{
	struct katls_quote_batcher *b = batcher(0, 0, 0);
	struct req first, r, probe;
	pthread_t t;

	fake_reset(true);
	req_init(&first, b, 100, false);
	req_start(&first);
	wait_calls(1);
	req_init(&r, b, 1, false);
	req_start(&r);
	wait_queued(b, 1);
	/* free() waits for the quote in flight; once it has begun, submits refuse */
	assert_int_equal(pthread_create(&t, NULL, free_batcher, b), 0);
	req_init(&probe, b, 2, false);
	probe.timeout_ms = 10;
	do
		req_run(&probe);
	while (probe.ret == -ETIMEDOUT);
	assert_int_equal(probe.ret, -ECANCELED);
	release(1);
	req_join(&first);
	req_join(&r);
	pthread_join(t, NULL);
	assert_int_equal(first.ret, 0);
	assert_int_equal(r.ret, -ECANCELED);
	assert_non_null(strstr(r.err, "stopping"));
	assert_int_equal(fk.calls, 1);
	cleanup(&first, 1);
	assert_int_equal(fk.live_payloads, 0);
}

static void test_bad_config(void **state)
{
	struct katls_quote_batch_config cfg = { KATLS_BATCH_MAX + 1, 0, 0 };
	struct katls_quote_batcher *b;

	assert_int_equal(katls_quote_batcher_new(&cfg, &ops, &b), -EINVAL);
	cfg.max = 0;
	cfg.linger_ms = KATLS_QUOTE_LINGER_MAX_MS + 1;
	assert_int_equal(katls_quote_batcher_new(&cfg, &ops, &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alone_keeps_todays_format),
		cmocka_unit_test(test_natural_batching),
		cmocka_unit_test(test_batch_bound),
		cmocka_unit_test(test_batching_off),
		cmocka_unit_test(test_solo_requests_quoted_alone),
		cmocka_unit_test(test_failure_fails_whole_batch),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_linger_until_max),
		cmocka_unit_test(test_stop_cancels_queue),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
