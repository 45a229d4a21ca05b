// SPDX-License-Identifier: MIT
/*
 * The verifier's cache of verified IMA prefixes (ima_cache.h): an array of
 * at most max slots, searched linearly under the mutex (a lookup compares
 * 32-byte keys of at most max slots: microseconds for a thousand attesters).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "appraisal/ima.h"
#include "appraisal/ima_cache.h"
#include "util/algs.h"

struct slot {
	struct katls_ima_prefix *p;	/* NULL: free */
	uint64_t stamp;			/* last use */
};

struct katls_ima_cache {
	pthread_mutex_t lock;
	size_t max, num;
	uint64_t clock;
	struct slot *slots;
};

struct katls_ima_prefix *katls_ima_prefix_new(void)
{
	struct katls_ima_prefix *p = calloc(1, sizeof(*p));

	if (p)
		p->refs = 1;
	return p;
}

struct katls_ima_prefix *katls_ima_prefix_ref(struct katls_ima_prefix *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void katls_ima_prefix_unref(struct katls_ima_prefix *p)
{
	if (p && !__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL))
		free(p);
}

int katls_ima_cache_new(size_t max, struct katls_ima_cache **out)
{
	struct katls_ima_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || !max || !(c->slots = calloc(max, sizeof(*c->slots)))) {
		free(c);
		return max ? -ENOMEM : -EINVAL;
	}
	c->max = max;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void katls_ima_cache_free(struct katls_ima_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->max; i++)
		katls_ima_prefix_unref(c->slots[i].p);
	pthread_mutex_destroy(&c->lock);
	free(c->slots);
	free(c);
}

size_t katls_ima_cache_entry_bytes(void)
{
	return sizeof(struct katls_ima_prefix) + sizeof(struct slot);
}

size_t katls_ima_cache_count(struct katls_ima_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->num;
	pthread_mutex_unlock(&c->lock);
	return n;
}

bool katls_ima_cache_tag(const uint8_t *id, size_t id_len, const char *name, uint8_t out[32])
{
	static const char dom_id[] = "katls peer id", dom_name[] = "katls peer name";
	EVP_MD_CTX *ctx;
	bool ok;

	if (!(id && id_len) && !(name && *name))
		return false;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, katls_md(KATLS_IMA_SHA256), NULL) == 1;
	if (ok && id && id_len)
		ok = EVP_DigestUpdate(ctx, dom_id, sizeof(dom_id)) == 1 &&
		     EVP_DigestUpdate(ctx, id, id_len) == 1;
	else if (ok)
		ok = EVP_DigestUpdate(ctx, dom_name, sizeof(dom_name)) == 1 &&
		     EVP_DigestUpdate(ctx, name, strlen(name)) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool same_ak(const struct katls_ima_prefix *p, const uint8_t *name, size_t len)
{
	return p->ak.len == len && !memcmp(p->ak.name, name, len);
}

static bool same_peer(const struct katls_ima_prefix *p, const uint8_t tag[32])
{
	return p->has_peer && !memcmp(p->peer_tag, tag, 32);
}

/* Under the lock: a new reference to the prefix of the slot found, touched. */
static struct katls_ima_prefix *take(struct katls_ima_cache *c, struct slot *s)
{
	s->stamp = ++c->clock;
	return katls_ima_prefix_ref(s->p);
}

struct katls_ima_prefix *katls_ima_cache_by_peer(struct katls_ima_cache *c,
						 const uint8_t tag[32])
{
	struct katls_ima_prefix *p = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->max && !p; i++)
		if (c->slots[i].p && same_peer(c->slots[i].p, tag))
			p = take(c, &c->slots[i]);
	pthread_mutex_unlock(&c->lock);
	return p;
}

struct katls_ima_prefix *katls_ima_cache_by_ak(struct katls_ima_cache *c, const uint8_t *name,
					       size_t name_len)
{
	struct katls_ima_prefix *p = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->max && !p; i++)
		if (c->slots[i].p && same_ak(c->slots[i].p, name, name_len))
			p = take(c, &c->slots[i]);
	pthread_mutex_unlock(&c->lock);
	return p;
}

/* Under the lock. */
static void clear(struct katls_ima_cache *c, struct slot *s)
{
	katls_ima_prefix_unref(s->p);
	s->p = NULL;
	c->num--;
}

void katls_ima_cache_put(struct katls_ima_cache *c, struct katls_ima_prefix *p)
{
	struct slot *victim = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->max; i++) {
		struct slot *s = &c->slots[i];

		if (s->p && (same_ak(s->p, p->ak.name, p->ak.len) ||
			     (p->has_peer && same_peer(s->p, p->peer_tag))))
			clear(c, s);
	}
	/* a free slot, else the least recently used */
	for (size_t i = 0; i < c->max && !(victim && !victim->p); i++)
		if (!victim || !c->slots[i].p || c->slots[i].stamp < victim->stamp)
			victim = &c->slots[i];
	if (victim->p)
		clear(c, victim);
	victim->p = p;
	victim->stamp = ++c->clock;
	c->num++;
	pthread_mutex_unlock(&c->lock);
}

void katls_ima_cache_drop(struct katls_ima_cache *c, const uint8_t *name, size_t name_len)
{
	uint8_t copy[KATLS_TPM_NAME_MAX];	/* @name may live in the prefix dropped */

	if (name_len > sizeof(copy))
		return;
	memcpy(copy, name, name_len);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->max; i++)
		if (c->slots[i].p && same_ak(c->slots[i].p, copy, name_len))
			clear(c, &c->slots[i]);
	pthread_mutex_unlock(&c->lock);
}
