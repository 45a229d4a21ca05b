// SPDX-License-Identifier: MIT
/*
 * The quote batcher (see quote_batch.h).
 *
 * Lifetimes: a request is a struct entry that its submitter allocates and
 * links into the queue.  The batcher thread unlinks a batch of entries
 * (state INFLIGHT), quotes without the lock, then marks them DONE under the
 * lock and wakes every waiter (one condition variable: waiters check their
 * own entry).  Whoever is last frees the entry: the submitter after DONE, or
 * after unlinking its own QUEUED entry on timeout; the thread for an entry
 * whose submitter gave up while INFLIGHT (abandoned).  The payload is shared
 * by reference count (struct shared): one reference per entry of the batch,
 * handed to the result, dropped by katls_quote_batch_result_cleanup().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evidence/quote_batch.h"

struct shared {
	int refs;			/* atomic */
	void *payload;
	void (*payload_free)(void *payload);
};

enum state { QUEUED, INFLIGHT, DONE };

struct entry {
	struct entry *next;
	enum state state;
	bool abandoned;
	struct katls_quote_batch_request rq;
	double t_submit, t_start, t_end;
	/* the outcome, written by the thread */
	int err;
	char msg[256];
	struct shared *shared;
	size_t size, index, path_len;
	katls_merkle_hash root;
	katls_merkle_hash path[KATLS_BATCH_DEPTH_MAX];
};

struct katls_quote_batcher {
	struct katls_quote_batch_config cfg;
	struct katls_quote_batch_ops ops;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* the thread: queue not empty, or stop */
	pthread_cond_t done;		/* the waiters: some entry is DONE */
	struct entry *head, *tail;
	size_t queued;			/* entries in the queue */
	size_t shareable;		/* of those, not solo */
	bool stop;
	unsigned int users;		/* submitters inside katls_quote_batch_submit() */
	pthread_t thread;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct timespec deadline_in(double ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void shared_put(struct shared *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		s->payload_free(s->payload);
		free(s);
	}
}

/* ---- the queue (under lock) ------------------------------------------------- */

static void unlink_entry(struct katls_quote_batcher *b, struct entry *e)
{
	struct entry **pp = &b->head, *prev = NULL;

	while (*pp && *pp != e) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = e->next;
	if (b->tail == e)
		b->tail = prev;
	e->next = NULL;
	b->queued--;
	if (!e->rq.solo)
		b->shareable--;
}

/*
 * The next batch, in arrival order: a solo request (or any request when
 * max is 1) at the head goes alone; otherwise every shareable request up to
 * max, solo ones keeping their place for the next rounds.
 */
static size_t take_batch(struct katls_quote_batcher *b, struct entry **batch)
{
	struct entry *e = b->head, *next;
	size_t n = 0;

	if (e->rq.solo || b->cfg.max == 1) {
		unlink_entry(b, e);
		batch[n++] = e;
	} else {
		for (; e && n < b->cfg.max; e = next) {
			next = e->next;
			if (e->rq.solo)
				continue;
			unlink_entry(b, e);
			batch[n++] = e;
		}
	}
	for (size_t i = 0; i < n; i++) {
		batch[i]->state = INFLIGHT;
		batch[i]->size = n;
	}
	return n;
}

/* Linger: with a shareable request at the head, wait for more, up to max. */
static void linger(struct katls_quote_batcher *b)
{
	struct timespec until;

	if (!b->cfg.linger_ms || b->cfg.max == 1 || b->head->rq.solo)
		return;
	until = deadline_in(b->cfg.linger_ms);
	while (!b->stop && b->shareable < b->cfg.max &&
	       pthread_cond_timedwait(&b->work, &b->lock, &until) != ETIMEDOUT)
		;
}

/* ---- one quote (without the lock) ------------------------------------------- */

static void fail_batch(struct entry **batch, size_t n, int err, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		batch[i]->err = err;
		snprintf(batch[i]->msg, sizeof(batch[i]->msg), "TPM quote for a batch of %zu "
			 "request%s failed: %s", n, n == 1 ? "" : "s", why);
	}
}

/* Leaves → tree → the quote of its root; paths for every entry. */
static int quote_tree(struct katls_quote_batcher *b, struct entry **batch, size_t n,
		      void **payload, char *err, size_t err_len)
{
	struct katls_merkle_tree *t = NULL;
	katls_merkle_hash *leaves = calloc(n, sizeof(*leaves));
	int ret = leaves ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < n; i++)
		memcpy(leaves[i], batch[i]->rq.leaf, sizeof(leaves[i]));
	if (!ret)
		ret = katls_merkle_tree_build(leaves, n, &t);
	for (size_t i = 0; !ret && i < n; i++) {
		batch[i]->index = i;
		memcpy(batch[i]->root, katls_merkle_tree_root(t), KATLS_MERKLE_HASH_LEN);
		ret = katls_merkle_tree_path(t, i, batch[i]->path, &batch[i]->path_len);
	}
	if (ret)
		snprintf(err, err_len, "cannot build the batch's Merkle tree: %s", strerror(-ret));
	else
		ret = b->ops.quote(b->ops.arg, katls_merkle_tree_root(t), KATLS_MERKLE_HASH_LEN, n,
				   payload, err, err_len);
	katls_merkle_tree_free(t);
	free(leaves);
	return ret;
}

static void run_batch(struct katls_quote_batcher *b, struct entry **batch, size_t n)
{
	struct shared *s = calloc(1, sizeof(*s));
	double t0 = now_ms();
	void *payload = NULL;
	char err[200] = "";
	int ret;

	for (size_t i = 0; i < n; i++)
		batch[i]->t_start = t0;
	if (!s)
		ret = -ENOMEM;
	else if (n == 1)
		ret = b->ops.quote(b->ops.arg, batch[0]->rq.nonce, batch[0]->rq.nonce_len, 1,
				   &payload, err, sizeof(err));
	else
		ret = quote_tree(b, batch, n, &payload, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		batch[i]->t_end = now_ms();
	if (ret) {
		fail_batch(batch, n, ret, *err ? err : strerror(-ret));
		free(s);
		return;
	}
	s->refs = (int)n;
	s->payload = payload;
	s->payload_free = b->ops.payload_free;
	for (size_t i = 0; i < n; i++)
		batch[i]->shared = s;
}

/* ---- the thread ---------------------------------------------------------------- */

static void finish(struct katls_quote_batcher *b, struct entry **batch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (batch[i]->abandoned) {
			shared_put(batch[i]->shared);
			free(batch[i]);
		} else {
			batch[i]->state = DONE;
		}
	}
	pthread_cond_broadcast(&b->done);
}

static void *batcher(void *arg)
{
	struct katls_quote_batcher *b = arg;
	struct entry **batch = calloc(b->cfg.max, sizeof(*batch));
	size_t n;

	pthread_mutex_lock(&b->lock);
	while (batch) {
		while (!b->stop && !b->head)
			pthread_cond_wait(&b->work, &b->lock);
		if (b->stop)
			break;
		linger(b);
		if (b->stop)
			break;
		n = take_batch(b, batch);
		pthread_mutex_unlock(&b->lock);
		run_batch(b, batch, n);
		pthread_mutex_lock(&b->lock);
		finish(b, batch, n);
	}
	/* stopping (or no memory for a batch): fail whatever still waits */
	while (b->head) {
		struct entry *e = b->head;

		unlink_entry(b, e);
		e->err = batch ? -ECANCELED : -ENOMEM;
		snprintf(e->msg, sizeof(e->msg), "%s", batch ? "the quote batcher is stopping" :
			 "the quote batcher is out of memory");
		e->state = DONE;
	}
	b->stop = true;
	pthread_cond_broadcast(&b->done);
	pthread_mutex_unlock(&b->lock);
	free(batch);
	return NULL;
}

int katls_quote_batcher_new(const struct katls_quote_batch_config *cfg,
			    const struct katls_quote_batch_ops *ops,
			    struct katls_quote_batcher **out)
{
	struct katls_quote_batcher *b;
	pthread_condattr_t ca;
	int ret;

	*out = NULL;
	if (!cfg || !ops || !ops->quote || !ops->payload_free || cfg->max > KATLS_BATCH_MAX ||
	    cfg->linger_ms > KATLS_QUOTE_LINGER_MAX_MS)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->ops = *ops;
	if (!b->cfg.max)
		b->cfg.max = KATLS_BATCH_MAX;
	if (!b->cfg.queue_max)
		b->cfg.queue_max = KATLS_QUOTE_QUEUE_DEFAULT;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->work, &ca);
	pthread_cond_init(&b->done, &ca);
	pthread_condattr_destroy(&ca);
	ret = -pthread_create(&b->thread, NULL, batcher, b);
	if (ret) {
		pthread_cond_destroy(&b->work);
		pthread_cond_destroy(&b->done);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return ret;
	}
	*out = b;
	return 0;
}

void katls_quote_batcher_free(struct katls_quote_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->work);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	/* every entry is DONE now: wait for their submitters to leave */
	pthread_mutex_lock(&b->lock);
	while (b->users)
		pthread_cond_wait(&b->done, &b->lock);
	pthread_mutex_unlock(&b->lock);
	pthread_cond_destroy(&b->work);
	pthread_cond_destroy(&b->done);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

size_t katls_quote_batcher_queued(struct katls_quote_batcher *b)
{
	size_t n;

	pthread_mutex_lock(&b->lock);
	n = b->queued;
	pthread_mutex_unlock(&b->lock);
	return n;
}

static void fill_result(const struct entry *e, struct katls_quote_batch_result *out)
{
	out->payload = e->shared->payload;
	out->ref = e->shared;
	out->batch_size = e->size;
	out->wait_ms = e->t_start - e->t_submit;
	out->quote_ms = e->t_end - e->t_start;
	out->batched = e->size > 1;
	if (!out->batched)
		return;
	out->proof.size = (uint16_t)e->size;
	out->proof.index = (uint16_t)e->index;
	memcpy(out->proof.leaf, e->rq.leaf, sizeof(out->proof.leaf));
	memcpy(out->proof.root, e->root, sizeof(out->proof.root));
	memcpy(out->path, e->path, e->path_len * sizeof(e->path[0]));
	out->proof.path = out->path;
	out->proof.path_len = e->path_len;
}

/* Gave up waiting: leave the queue, or leave the entry to the thread. */
static int give_up(struct katls_quote_batcher *b, struct entry *e, unsigned int timeout_ms,
		   char *err, size_t err_len)
{
	if (e->state == QUEUED) {
		unlink_entry(b, e);
		snprintf(err, err_len, "no TPM quote within %u ms: still queued behind the quote "
			 "in flight (%zu requests waiting)", timeout_ms, b->queued);
		free(e);
	} else {
		e->abandoned = true;
		snprintf(err, err_len, "no TPM quote within %u ms: the quote of its batch "
			 "(%zu requests) has not returned", timeout_ms, e->size);
	}
	return -ETIMEDOUT;
}

int katls_quote_batch_submit(struct katls_quote_batcher *b,
			     const struct katls_quote_batch_request *rq, unsigned int timeout_ms,
			     struct katls_quote_batch_result *out, char *err, size_t err_len)
{
	struct entry *e;
	struct timespec until;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!b || !rq || !timeout_ms || !rq->nonce_len || rq->nonce_len > sizeof(rq->nonce)) {
		snprintf(err, err_len, "invalid quote request");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	e->rq = *rq;
	e->t_submit = now_ms();
	until = deadline_in(timeout_ms);
	pthread_mutex_lock(&b->lock);
	if (b->stop || b->queued >= b->cfg.queue_max) {
		ret = b->stop ? -ECANCELED : -EBUSY;
		snprintf(err, err_len, b->stop ? "the quote batcher is stopping" :
			 "quote queue full (%zu requests waiting for the TPM)", b->queued);
		pthread_mutex_unlock(&b->lock);
		free(e);
		return ret;
	}
	if (b->tail)
		b->tail->next = e;
	else
		b->head = e;
	b->tail = e;
	b->queued++;
	if (!rq->solo)
		b->shareable++;
	pthread_cond_signal(&b->work);
	b->users++;
	while (e->state != DONE)
		if (pthread_cond_timedwait(&b->done, &b->lock, &until) == ETIMEDOUT &&
		    e->state != DONE) {
			ret = give_up(b, e, timeout_ms, err, err_len);
			e = NULL;
			break;
		}
	if (e) {
		ret = e->err;
		if (ret)
			snprintf(err, err_len, "%s", e->msg);
		else
			fill_result(e, out);
		free(e);
	}
	if (!--b->users && b->stop)
		pthread_cond_broadcast(&b->done);	/* katls_quote_batcher_free() waits */
	pthread_mutex_unlock(&b->lock);
	return ret;
}

void katls_quote_batch_result_cleanup(struct katls_quote_batch_result *res)
{
	if (!res)
		return;
	shared_put(res->ref);
	memset(res, 0, sizeof(*res));
}
