// SPDX-License-Identifier: MIT
/*
 * Memoized verification steps (verify_cache.h).  Three small arrays of
 * slots, each found by a linear scan of its SHA-256 keys under the mutex;
 * parsing, key building and the digests happen outside it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "appraisal/ima.h"
#include "appraisal/verify_cache.h"
#include "util/algs.h"
#include "util/spki.h"

#define N	KATLS_VERIFY_CACHE_SLOTS

struct slot {
	uint8_t key[32];
	bool used;
	uint64_t stamp;			/* last use: the least recent is replaced */
	X509 *x509;			/* certs */
	EVP_PKEY *pkey;			/* aks */
	time_t not_before, not_after;	/* chains */
};

struct katls_verify_cache {
	pthread_mutex_t lock;
	uint64_t clock;
	struct slot certs[N], chains[N], aks[N];
};

static void slot_clear(struct slot *s)
{
	X509_free(s->x509);
	EVP_PKEY_free(s->pkey);
	memset(s, 0, sizeof(*s));
}

int katls_verify_cache_new(struct katls_verify_cache **out)
{
	struct katls_verify_cache *c = calloc(1, sizeof(*c));

	*out = c;
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void katls_verify_cache_free(struct katls_verify_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < N; i++) {
		slot_clear(&c->certs[i]);
		slot_clear(&c->aks[i]);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static bool sha256(const void *p, size_t len, uint8_t out[32])
{
	return EVP_Digest(p, len, out, NULL, katls_md(KATLS_IMA_SHA256), NULL) == 1;
}

/* Under the lock: the slot holding @key (touched), or NULL. */
static struct slot *find(struct katls_verify_cache *c, struct slot *v, const uint8_t key[32])
{
	for (size_t i = 0; i < N; i++)
		if (v[i].used && !memcmp(v[i].key, key, 32)) {
			v[i].stamp = ++c->clock;
			return &v[i];
		}
	return NULL;
}

/* Under the lock: a cleared slot for @key, the least recently used one. */
static struct slot *claim(struct katls_verify_cache *c, struct slot *v, const uint8_t key[32])
{
	struct slot *s = &v[0];

	for (size_t i = 0; i < N && s->used; i++)
		if (!v[i].used || v[i].stamp < s->stamp)
			s = &v[i];
	slot_clear(s);
	memcpy(s->key, key, 32);
	s->used = true;
	s->stamp = ++c->clock;
	return s;
}

X509 *katls_verify_cache_x509(struct katls_verify_cache *c, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	uint8_t key[32];
	struct slot *s;
	X509 *x = NULL;

	if (!sha256(der, len, key))
		return NULL;
	pthread_mutex_lock(&c->lock);
	s = find(c, c->certs, key);
	if (s && X509_up_ref(s->x509) == 1)
		x = s->x509;
	pthread_mutex_unlock(&c->lock);
	if (x)
		return x;
	x = d2i_X509(NULL, &p, (long)len);
	if (!x || p != der + len) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	katls_spki_remember(x);		/* before any other thread can see it */
	pthread_mutex_lock(&c->lock);
	if (!find(c, c->certs, key) && X509_up_ref(x) == 1)
		claim(c, c->certs, key)->x509 = x;
	pthread_mutex_unlock(&c->lock);
	return x;
}

/* Under the lock: the key of a chain made of remembered certificates. */
static bool chain_key(struct katls_verify_cache *c, X509 *leaf, STACK_OF(X509) *chain,
		      int purpose, uint8_t out[32])
{
	uint8_t in[4 + 32 * (1 + 15)];
	size_t n = 0;
	int num = chain ? sk_X509_num(chain) : 0;

	if (num > 16)
		return false;
	in[n++] = (uint8_t)(purpose >> 24);
	in[n++] = (uint8_t)(purpose >> 16);
	in[n++] = (uint8_t)(purpose >> 8);
	in[n++] = (uint8_t)purpose;
	for (int i = 0; i < (num ? num : 1); i++) {
		X509 *x = i ? sk_X509_value(chain, i) : leaf;
		size_t j;

		for (j = 0; j < N && !(c->certs[j].used && c->certs[j].x509 == x); j++)
			;
		if (j == N)
			return false;
		memcpy(in + n, c->certs[j].key, 32);
		n += 32;
	}
	return sha256(in, n, out);
}

bool katls_verify_cache_chain_ok(struct katls_verify_cache *c, X509 *leaf,
				 STACK_OF(X509) *chain, int purpose)
{
	time_t now = time(NULL);
	uint8_t key[32];
	struct slot *s;
	bool ok = false;

	pthread_mutex_lock(&c->lock);
	if (chain_key(c, leaf, chain, purpose, key) && (s = find(c, c->chains, key)))
		ok = s->not_before <= now && now <= s->not_after;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* The validity window of a verified chain (all of it, anchor included). */
static bool window(X509_STORE_CTX *ctx, time_t *not_before, time_t *not_after)
{
	STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
	struct tm tm;

	*not_before = 0;
	*not_after = (time_t)INT64_MAX;
	for (int i = 0; built && i < sk_X509_num(built); i++) {
		X509 *x = sk_X509_value(built, i);
		time_t t;

		if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
			return false;
		t = timegm(&tm);
		*not_before = t > *not_before ? t : *not_before;
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
			return false;
		t = timegm(&tm);
		*not_after = t < *not_after ? t : *not_after;
	}
	return built && sk_X509_num(built) > 0;
}

void katls_verify_cache_chain_add(struct katls_verify_cache *c, X509 *leaf,
				  STACK_OF(X509) *chain, int purpose, X509_STORE_CTX *ctx)
{
	time_t nb, na;
	uint8_t key[32];
	struct slot *s;

	if (!window(ctx, &nb, &na))
		return;
	pthread_mutex_lock(&c->lock);
	if (chain_key(c, leaf, chain, purpose, key)) {
		s = find(c, c->chains, key);
		if (!s)
			s = claim(c, c->chains, key);
		s->not_before = nb;
		s->not_after = na;
	}
	pthread_mutex_unlock(&c->lock);
}

int katls_verify_cache_ak(struct katls_verify_cache *c, const uint8_t *pub, size_t len,
			  int (*make)(const uint8_t *pub, size_t len, EVP_PKEY **out),
			  EVP_PKEY **out)
{
	uint8_t key[32];
	struct slot *s;
	int ret;

	*out = NULL;
	if (!sha256(pub, len, key))
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	s = find(c, c->aks, key);
	if (s && EVP_PKEY_up_ref(s->pkey) == 1)
		*out = s->pkey;
	pthread_mutex_unlock(&c->lock);
	if (*out)
		return 0;
	ret = make(pub, len, out);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->lock);
	if (!find(c, c->aks, key) && EVP_PKEY_up_ref(*out) == 1)
		claim(c, c->aks, key)->pkey = *out;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
