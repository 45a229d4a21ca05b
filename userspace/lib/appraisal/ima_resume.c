// SPDX-License-Identifier: MIT
/* Incremental IMA in one verification; see ima_resume.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "appraisal/ima_resume.h"
#include "util/algs.h"

static bool same_name(const struct katls_tpm_name *a, const struct katls_tpm_name *b)
{
	return a->len == b->len && !memcmp(a->name, b->name, a->len);
}

static bool sha256(const void *p, size_t len, uint8_t out[32])
{
	return EVP_Digest(p, len, out, NULL, katls_md(KATLS_IMA_SHA256), NULL) == 1;
}

/* A tail: it resumes from the prefix offered, and from nothing else. */
static int plan_tail(struct katls_ima_resume *r, struct katls_ima_verify_in *in,
		     uint64_t start, struct katls_ima_prefix *offered,
		     const struct katls_tpm_name *ak, char *why, size_t why_len)
{
	if (!offered) {
		snprintf(why, why_len, "IMA: the log starts at entry %llu, after a prefix this "
			 "verifier does not hold (its request offered none)",
			 (unsigned long long)start);
		return KATLS_IMA_RESUME_REFUSE;
	}
	if (start != offered->num_entries || !same_name(ak, &offered->ak)) {
		snprintf(why, why_len, "IMA: the log starts at entry %llu, not where the prefix this "
			 "verifier offered ends (entry %llu, for %s AK)",
			 (unsigned long long)start, (unsigned long long)offered->num_entries,
			 same_name(ak, &offered->ak) ? "this" : "another");
		return KATLS_IMA_RESUME_REFUSE;
	}
	r->kind = KATLS_IMA_TAIL;
	r->from = katls_ima_prefix_ref(offered);
	if (memcmp(r->boot_aggregate, offered->boot_aggregate, 32)) {
		snprintf(why, why_len, "IMA: the quoted PCRs 0-9 are not those of the boot whose "
			 "first %llu log entries this verifier holds (the attester rebooted?)",
			 (unsigned long long)start);
		return KATLS_IMA_RESUME_AGAIN;
	}
	in->start_index = start;
	in->start_pcr = offered->pcr10;
	in->boot_aggregate = NULL;
	/* the attester's log file, so its digest size, is the prefix's (a tail may be empty) */
	if (offered->bytes_digest_size)
		in->digest_size = offered->bytes_digest_size;
	r->whole = *in;
	return 0;
}

/*
 * SHA-256 of the first @len bytes of the log as sent, its context kept in
 * @r for the commit, which hashes on to the end of the new prefix.
 */
static bool hash_prefix(struct katls_ima_resume *r, uint64_t len, uint8_t out[32])
{
	EVP_MD_CTX *fork = EVP_MD_CTX_new();
	bool ok;

	r->bytes_ctx = EVP_MD_CTX_new();
	ok = r->bytes_ctx && fork &&
	     EVP_DigestInit_ex(r->bytes_ctx, katls_md(KATLS_IMA_SHA256), NULL) == 1 &&
	     EVP_DigestUpdate(r->bytes_ctx, r->whole.log, len) == 1 &&
	     EVP_MD_CTX_copy_ex(fork, r->bytes_ctx) == 1 &&
	     EVP_DigestFinal_ex(fork, out, NULL) == 1;
	EVP_MD_CTX_free(fork);
	r->hashed_len = ok ? len : 0;
	return ok;
}

/* A whole log: skip the bytes of the AK's cached prefix if they are the same. */
static int plan_whole(struct katls_ima_resume *r, struct katls_ima_verify_in *in,
		      struct katls_ima_cache *cache, const struct katls_tpm_name *ak,
		      char *why, size_t why_len)
{
	const struct katls_ima_prefix *p;
	uint8_t h[32];

	in->boot_aggregate = r->boot_aggregate;
	in->boot_aggregate_len = sizeof(r->boot_aggregate);
	r->kind = KATLS_IMA_WHOLE;
	r->whole = *in;
	r->from = cache ? katls_ima_cache_by_ak(cache, ak->name, ak->len) : NULL;
	p = r->from;
	if (!p)
		return 0;
	in->checkpoint = p->num_entries;	/* does this log extend the cached one? */
	if (!p->bytes_entries || p->bytes_digest_size != in->digest_size ||
	    in->log_len < p->bytes_len || !hash_prefix(r, p->bytes_len, h) ||
	    memcmp(h, p->bytes_sha256, 32))
		return 0;
	/* the same records: entry 0 is the cached boot_aggregate */
	if (memcmp(p->boot_aggregate, r->boot_aggregate, 32)) {
		snprintf(why, why_len, "IMA boot_aggregate: entry 0 (boot_aggregate) does not match "
			 "the quoted boot PCRs 0-9 (sha256): the log is from another boot or machine");
		return -EACCES;
	}
	r->kind = KATLS_IMA_BYTES;
	in->log += p->bytes_len;
	in->log_len -= p->bytes_len;
	in->start_index = p->bytes_entries;
	in->start_pcr = p->bytes_pcr10;
	in->boot_aggregate = NULL;
	return 0;
}

int katls_ima_resume_plan(struct katls_ima_resume *r, struct katls_ima_verify_in *in,
			  uint64_t ima_start, struct katls_ima_prefix *offered,
			  struct katls_ima_cache *cache, const struct katls_tpm_name *ak,
			  const uint8_t agg[32], char *why, size_t why_len)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->boot_aggregate, agg, sizeof(r->boot_aggregate));
	if (ima_start)
		return plan_tail(r, in, ima_start, offered, ak, why, why_len);
	return plan_whole(r, in, cache, ak, why, why_len);
}

static void workload_key(struct katls_ima_prefix_workload *w, const char *path,
			 unsigned int alg, const uint8_t *digest, size_t digest_len)
{
	memset(w, 0, sizeof(*w));
	sha256(path, strlen(path), w->path_sha256);
	w->alg = (uint8_t)alg;
	w->digest_len = (uint8_t)digest_len;
	memcpy(w->digest, digest, digest_len);
}

static bool same_workload(const struct katls_ima_prefix_workload *a,
			  const struct katls_ima_prefix_workload *b)
{
	return a->alg == b->alg && a->digest_len == b->digest_len &&
	       !memcmp(a->digest, b->digest, a->digest_len) &&
	       !memcmp(a->path_sha256, b->path_sha256, 32);
}

int katls_ima_resume_workload(struct katls_ima_resume *r, uint64_t covered, const char *path,
			      unsigned int alg, const uint8_t *digest, size_t digest_len,
			      uint32_t *index)
{
	struct katls_ima_prefix_workload w;
	int ret;

	if (digest_len > sizeof(w.digest) || covered < r->whole.start_index)
		return -EINVAL;
	ret = katls_ima_find_measurement(&r->whole, (uint32_t)(covered - r->whole.start_index),
					 path, alg, digest, digest_len, index);
	if (ret && ret != -ENOENT)
		return ret;
	workload_key(&w, path, alg, digest, digest_len);
	if (ret && r->kind == KATLS_IMA_TAIL) {
		const struct katls_ima_prefix_workload *known = NULL;

		for (unsigned int i = 0; i < r->from->num_workloads && !known; i++)
			if (same_workload(&r->from->workloads[i], &w))
				known = &r->from->workloads[i];
		if (!known)
			return KATLS_IMA_RESUME_AGAIN;
		ret = known->found ? 0 : -ENOENT;
		*index = known->index;
	}
	w.found = !ret;
	w.index = ret ? 0 : *index;
	r->workload = w;
	r->has_workload = true;
	return ret;
}

/*
 * The workloads of @from still unseen, looked for in the newly covered
 * records of @in (up to entry @end): one pass, a path hashed only when
 * the digest already matches.
 */
static void scan_new(struct katls_ima_prefix *p, const struct katls_ima_verify_in *in,
		     uint64_t end)
{
	struct katls_ima_record rec;
	struct katls_ima_iter it;

	katls_ima_iter_init(&it, in->log, in->log_len, in->digest_size, (uint32_t)in->start_index);
	for (uint64_t i = in->start_index; i < end; i++) {
		if (katls_ima_iter_next(&it, &rec, NULL, 0) != 1)
			return;
		for (unsigned int k = 0; k < p->num_workloads; k++) {
			struct katls_ima_prefix_workload *w = &p->workloads[k];
			uint8_t h[32];

			if (!w->found &&
			    katls_ima_measures_digest(in, &rec, w->alg, w->digest, w->digest_len) &&
			    sha256(rec.path, rec.path_len, h) && !memcmp(h, w->path_sha256, 32)) {
				w->found = true;
				w->index = rec.index;
			}
		}
	}
}

/* The workload list of the new prefix: the old one carried over, plus this lookup. */
static void workloads(struct katls_ima_resume *r, struct katls_ima_prefix *p,
		      const struct katls_ima_verify_in *in, const struct katls_ima_verify_out *res)
{
	const struct katls_ima_prefix *from = r->from;
	bool extends = from && (r->kind == KATLS_IMA_TAIL ||
				(res->has_checkpoint && !memcmp(res->checkpoint_pcr, from->pcr10, 32)));
	unsigned int n = 0;

	if (extends) {
		memcpy(p->workloads, from->workloads, sizeof(p->workloads));
		p->num_workloads = from->num_workloads;
		scan_new(p, in, p->num_entries);
	}
	if (!r->has_workload)
		return;
	/* this lookup replaces its older self, and goes last (the oldest fall off) */
	for (unsigned int i = 0; i < p->num_workloads; i++)
		if (!same_workload(&p->workloads[i], &r->workload))
			p->workloads[n++] = p->workloads[i];
	if (n == KATLS_IMA_PREFIX_WORKLOADS) {
		memmove(p->workloads, p->workloads + 1, (n - 1) * sizeof(p->workloads[0]));
		n--;
	}
	p->workloads[n++] = r->workload;
	p->num_workloads = n;
}

/* SHA-256 of the first @len bytes of the log, on from what the plan hashed. */
static bool hash_on(struct katls_ima_resume *r, uint64_t len, uint8_t out[32])
{
	if (!r->bytes_ctx || len < r->hashed_len)
		return sha256(r->whole.log, len, out);
	return EVP_DigestUpdate(r->bytes_ctx, r->whole.log + r->hashed_len,
				len - r->hashed_len) == 1 &&
	       EVP_DigestFinal_ex(r->bytes_ctx, out, NULL) == 1;
}

int katls_ima_resume_commit(struct katls_ima_resume *r, struct katls_ima_cache *cache,
			    const struct katls_tpm_name *ak, const uint8_t *peer_tag,
			    const struct katls_ima_verify_in *in,
			    const struct katls_ima_verify_out *res)
{
	struct katls_ima_prefix *p;

	if (!cache)
		return 0;
	p = katls_ima_prefix_new();
	if (!p)
		return -ENOMEM;
	p->ak = *ak;
	p->has_peer = peer_tag;
	if (peer_tag)
		memcpy(p->peer_tag, peer_tag, 32);
	p->num_entries = in->start_index + res->num_covered;
	memcpy(p->pcr10, res->pcr, 32);
	memcpy(p->boot_aggregate, r->boot_aggregate, 32);
	if (r->kind == KATLS_IMA_TAIL) {
		p->bytes_entries = r->from->bytes_entries;
		memcpy(p->bytes_pcr10, r->from->bytes_pcr10, 32);
		p->bytes_len = r->from->bytes_len;
		p->bytes_digest_size = r->from->bytes_digest_size;
		memcpy(p->bytes_sha256, r->from->bytes_sha256, 32);
	} else {
		p->bytes_entries = p->num_entries;
		memcpy(p->bytes_pcr10, res->pcr, 32);
		p->bytes_len = (uint64_t)(in->log - r->whole.log) + res->covered_len;
		p->bytes_digest_size = (uint32_t)in->digest_size;
		if (!hash_on(r, p->bytes_len, p->bytes_sha256))
			p->bytes_entries = 0;
	}
	workloads(r, p, in, res);
	katls_ima_cache_put(cache, p);
	return 0;
}

void katls_ima_resume_cleanup(struct katls_ima_resume *r)
{
	katls_ima_prefix_unref(r->from);
	EVP_MD_CTX_free(r->bytes_ctx);
	r->from = NULL;
	r->bytes_ctx = NULL;
}
