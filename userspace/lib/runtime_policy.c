// SPDX-License-Identifier: MIT
/*
 * The Keylime runtime policy (IMA allowlist): a path -> digests hash map per
 * table plus exclude regexes, used to appraise IMA entries, and its strict
 * JSON parser.  Shape: policy.h and docs/policy.md.
 *
 * The hash maps are open-addressed with linear probing over an entry array;
 * keys live in one string pool and digests in one node pool, so a 100k-path
 * allowlist costs a handful of allocations and lookups stay O(1).  Keys come
 * from the (trusted) policy, lookups from the (untrusted) log: a lookup can
 * only probe as far as the policy's own clusters, so FNV-1a is enough.
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "runtime_policy.h"

/* ---- growable arrays ---------------------------------------------------- */

/*
 * Makes room for @need elements of @elem bytes in @arr (capacity *@cap).
 * Returns the possibly moved array, or NULL (leaving @arr untouched).
 */
static void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;
	void *q;

	if (need <= *cap)
		return arr;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return NULL;
		n *= 2;
	}
	q = realloc(arr, n * elem);
	if (q)
		*cap = n;
	return q;
}

/* grow() for a struct member: GROW(p->arr, p->cap, need) is 0 or -ENOMEM. */
#define GROW(arr, cap, need) ({						\
	void *q_ = grow((arr), &(cap), (need), sizeof(*(arr)));		\
	q_ ? ((arr) = q_, 0) : -ENOMEM;					\
})

/* ---- path -> digests hash map ------------------------------------------ */

/*
 * Each path is one record in a byte pool: header, its first digest, the
 * path.  A slot holds the top 32 bits of the path's hash and the record's
 * offset, so a lookup touches one slot and one record (two cache misses),
 * and probing past other paths rarely touches their records at all.
 * Further digests of a path go to a node list (rare in practice).
 */
struct drec {
	uint32_t more;			/* node index + 1 of further digests, 0 = none */
	uint16_t key_len;
	uint8_t dlen;
	uint8_t pad;
	/* uint8_t digest[dlen]; char key[key_len]; */
};

struct dnode {
	uint32_t next;			/* node index + 1, 0 = end */
	uint8_t len;
	uint8_t d[KATLS_IMA_MAX_DIGEST];
};

struct dmap {
	uint64_t *slots;		/* tag << 32 | (record offset / 8 + 1); 0 = empty */
	size_t mask;			/* slots - 1; 0 while nothing is stored */
	size_t num;			/* paths */
	uint8_t *pool;			/* records, 8-byte aligned */
	size_t pool_len, pool_cap;
	struct dnode *nodes;
	size_t num_nodes, nodes_cap;
};

#define MAX_KEY_LEN	UINT16_MAX

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);		/* fold the well-mixed high bits into the index */
}

static size_t rec_size(size_t key_len, size_t dlen)
{
	return (sizeof(struct drec) + dlen + key_len + 7) & ~(size_t)7;
}

static struct drec *rec_at(const struct dmap *m, uint64_t slot)
{
	return (struct drec *)(m->pool + ((slot & 0xffffffffu) - 1) * 8);
}

static const uint8_t *rec_digest(const struct drec *r)
{
	return (const uint8_t *)(r + 1);
}

static const char *rec_key(const struct drec *r)
{
	return (const char *)(r + 1) + r->dlen;
}

static const struct drec *dmap_find(const struct dmap *m, const char *key, size_t len)
{
	uint64_t h, tag;

	if (!m->mask)
		return NULL;
	h = fnv1a(key, len);
	tag = h >> 32 << 32;
	for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
		const struct drec *r;

		if (!m->slots[i])
			return NULL;
		if ((m->slots[i] & ~0xffffffffull) != tag)
			continue;
		r = rec_at(m, m->slots[i]);
		if (r->key_len == len && !memcmp(rec_key(r), key, len))
			return r;
	}
}

static void dmap_slot(struct dmap *m, uint64_t h, size_t off)
{
	size_t i = h & m->mask;

	while (m->slots[i])
		i = (i + 1) & m->mask;
	m->slots[i] = (h >> 32 << 32) | (off / 8 + 1);
}

static int dmap_rehash(struct dmap *m, size_t nslots)
{
	uint64_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	free(m->slots);
	m->slots = slots;
	m->mask = nslots - 1;
	for (size_t off = 0; off < m->pool_len;) {
		const struct drec *r = (const struct drec *)(m->pool + off);

		dmap_slot(m, fnv1a(rec_key(r), r->key_len), off);
		off += rec_size(r->key_len, r->dlen);
	}
	return 0;
}

static bool dmap_has(const struct dmap *m, const struct drec *r, const uint8_t *d, size_t len)
{
	if (r->dlen == len && !memcmp(rec_digest(r), d, len))
		return true;
	for (uint32_t n = r->more; n; n = m->nodes[n - 1].next)
		if (m->nodes[n - 1].len == len && !memcmp(m->nodes[n - 1].d, d, len))
			return true;
	return false;
}

/* A further digest for an existing path. */
static int dmap_add_node(struct dmap *m, struct drec *r, const uint8_t *d, size_t len)
{
	struct dnode *n;

	if (dmap_has(m, r, d, len))
		return 0;
	if (m->num_nodes >= UINT32_MAX - 1 ||
	    GROW(m->nodes, m->nodes_cap, m->num_nodes + 1))
		return -ENOMEM;
	n = &m->nodes[m->num_nodes];
	n->next = r->more;
	n->len = (uint8_t)len;
	memcpy(n->d, d, len);
	r->more = (uint32_t)++m->num_nodes;
	return 0;
}

static int dmap_add(struct dmap *m, const char *key, size_t key_len, const uint8_t *d, size_t len)
{
	const struct drec *found;
	size_t off = m->pool_len, size = rec_size(key_len, len);
	struct drec *r;

	if (!len || len > KATLS_IMA_MAX_DIGEST || key_len > MAX_KEY_LEN)
		return -EINVAL;
	found = dmap_find(m, key, key_len);
	if (found)
		return dmap_add_node(m, (struct drec *)found, d, len);
	if (off + size > (size_t)UINT32_MAX * 8)
		return -ENOMEM;
	if ((m->num + 1) * 2 > m->mask + 1 &&
	    dmap_rehash(m, m->mask ? 2 * (m->mask + 1) : 64))
		return -ENOMEM;
	if (GROW(m->pool, m->pool_cap, off + size))
		return -ENOMEM;
	r = (struct drec *)(m->pool + off);
	*r = (struct drec){ .key_len = (uint16_t)key_len, .dlen = (uint8_t)len };
	memcpy((uint8_t *)(r + 1), d, len);
	memcpy((uint8_t *)(r + 1) + len, key, key_len);
	m->pool_len += size;
	m->num++;
	dmap_slot(m, fnv1a(key, key_len), off);
	return 0;
}

static void dmap_cleanup(struct dmap *m)
{
	free(m->slots);
	free(m->pool);
	free(m->nodes);
	memset(m, 0, sizeof(*m));
}

/* ---- runtime policy object ---------------------------------------------- */

struct katls_runtime_policy {
	struct dmap maps[KATLS_RP_NUM_MAPS];
	regex_t *excludes;
	size_t num_excludes, cap_excludes;
	char **ignored;			/* ignored keyrings */
	size_t num_ignored, cap_ignored;
	bool ignore_all;
};

static const char *const map_names[KATLS_RP_NUM_MAPS] = {
	[KATLS_RP_DIGESTS] = "digests",
	[KATLS_RP_KEYRINGS] = "keyrings",
	[KATLS_RP_IMA_BUF] = "ima-buf",
};

int katls_runtime_policy_new(struct katls_runtime_policy **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void katls_runtime_policy_free(struct katls_runtime_policy *rp)
{
	if (!rp)
		return;
	for (unsigned int i = 0; i < KATLS_RP_NUM_MAPS; i++)
		dmap_cleanup(&rp->maps[i]);
	for (size_t i = 0; i < rp->num_excludes; i++)
		regfree(&rp->excludes[i]);
	free(rp->excludes);
	for (size_t i = 0; i < rp->num_ignored; i++)
		free(rp->ignored[i]);
	free(rp->ignored);
	free(rp);
}

int katls_runtime_policy_add_digest(struct katls_runtime_policy *rp, enum katls_rp_map map,
				    const char *path, size_t path_len,
				    const uint8_t *digest, size_t len)
{
	if ((unsigned int)map >= KATLS_RP_NUM_MAPS || (!path && path_len))
		return -EINVAL;
	return dmap_add(&rp->maps[map], path ? path : "", path_len, digest, len);
}

int katls_runtime_policy_add_exclude(struct katls_runtime_policy *rp, const char *regex,
				     char *err, size_t err_len)
{
	int rc;

	if (GROW(rp->excludes, rp->cap_excludes, rp->num_excludes + 1))
		return -ENOMEM;
	/*
	 * Compiled as written (wrapping it in "^(...)" would let a stray ')'
	 * change its meaning); excluded() requires the match to start at 0.
	 */
	rc = regcomp(&rp->excludes[rp->num_excludes], regex, REG_EXTENDED);
	if (rc) {
		char why[128];

		regerror(rc, NULL, why, sizeof(why));
		if (err && err_len)
			snprintf(err, err_len, "exclude regex \"%.200s\" does not compile: %s",
				 regex, why);
		return rc == REG_ESPACE ? -ENOMEM : -EINVAL;
	}
	rp->num_excludes++;
	return 0;
}

int katls_runtime_policy_ignore_keyring(struct katls_runtime_policy *rp, const char *name)
{
	char *copy;

	if (!strcmp(name, "*")) {
		rp->ignore_all = true;
		return 0;
	}
	copy = strdup(name);
	if (!copy || GROW(rp->ignored, rp->cap_ignored, rp->num_ignored + 1)) {
		free(copy);
		return -ENOMEM;
	}
	rp->ignored[rp->num_ignored++] = copy;
	return 0;
}

size_t katls_runtime_policy_num_paths(const struct katls_runtime_policy *rp,
				      enum katls_rp_map map)
{
	return (unsigned int)map < KATLS_RP_NUM_MAPS ? rp->maps[map].num : 0;
}

static bool keyring_ignored(const struct katls_runtime_policy *rp,
			    const struct katls_ima_record *rec)
{
	if (rp->ignore_all)
		return true;
	for (size_t i = 0; i < rp->num_ignored; i++)
		if (strlen(rp->ignored[i]) == rec->path_len &&
		    !memcmp(rp->ignored[i], rec->path, rec->path_len))
			return true;
	return false;
}

static bool excluded(const struct katls_runtime_policy *rp, const struct katls_ima_record *rec)
{
	char copy[KATLS_IMA_MAX_NNG];
	const char *path = rec->path;

	if (!rp->num_excludes)
		return false;
	if (!rec->path_terminated) {
		if (rec->path_len >= sizeof(copy))
			return false;
		memcpy(copy, rec->path, rec->path_len);
		copy[rec->path_len] = '\0';
		path = copy;
	}
	/*
	 * Keylime applies Python's re.match(): a match must start at the
	 * path's first byte.  POSIX returns the leftmost match, so one that
	 * starts at 0 exists iff the reported one does.
	 */
	for (size_t i = 0; i < rp->num_excludes; i++) {
		regmatch_t m;

		if (!regexec(&rp->excludes[i], path, 1, &m, 0) && m.rm_so == 0)
			return true;
	}
	return false;
}

void katls_runtime_policy_prefetch(const struct katls_runtime_policy *rp,
				   const struct katls_ima_record *rec)
{
	const struct dmap *m = &rp->maps[rec->tpl == KATLS_IMA_TPL_BUF ? KATLS_RP_IMA_BUF :
					 KATLS_RP_DIGESTS];

	if (m->mask)
		__builtin_prefetch(&m->slots[fnv1a(rec->path, rec->path_len) & m->mask]);
}

int katls_runtime_policy_check(const struct katls_runtime_policy *rp,
			       const struct katls_ima_record *rec, const char **map_name)
{
	enum katls_rp_map map = KATLS_RP_DIGESTS;
	const struct drec *e;

	if (rec->tpl == KATLS_IMA_TPL_BUF) {
		if (map_name)
			*map_name = map_names[KATLS_RP_KEYRINGS];
		if (keyring_ignored(rp, rec))
			return KATLS_RP_IGNORED;
		map = dmap_find(&rp->maps[KATLS_RP_KEYRINGS], rec->path, rec->path_len) ?
		      KATLS_RP_KEYRINGS : KATLS_RP_IMA_BUF;
	}
	if (map_name)
		*map_name = map_names[map];
	/* Lookup first: the regexes are only paid for by entries that miss. */
	e = dmap_find(&rp->maps[map], rec->path, rec->path_len);
	if (e && dmap_has(&rp->maps[map], e, rec->file_digest, rec->file_digest_len))
		return KATLS_RP_MATCH;
	if (excluded(rp, rec))
		return KATLS_RP_EXCLUDED;
	return e ? KATLS_RP_MISMATCH : KATLS_RP_NO_ENTRY;
}

/* ---- Keylime runtime policy JSON ------------------------------------------ */

/* The walker's state (j->priv). */
struct rp_state {
	struct katls_runtime_policy *rp;	/* runtime policy being filled */
	enum katls_rp_map map;		/* map being filled */
	const char *key;		/* its current key */
};

static int rp_version(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = jget_int(j, v, INT64_MIN, INT64_MAX, &n);

	if (!ret && n != 1)
		return jerr(j, "unsupported runtime policy version %lld (only 1)", (long long)n);
	return ret;
}

static int any_int(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;

	return jget_int(j, v, 0, INT64_MAX, &n);
}

static int rp_meta(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "version", rp_version, true },
		{ "generator", any_int, false },
		{ "timestamp", jany_str, false },
	};

	return JWALK(j, v, keys);
}

static int rp_digest(struct jctx *j, struct json_object *v, size_t i)
{
	struct rp_state *st = j->priv;
	uint8_t d[KATLS_IMA_MAX_DIGEST];
	size_t len;
	int ret = jget_hex(j, v, 0, d, &len);

	(void)i;
	return ret ?: katls_runtime_policy_add_digest(st->rp, st->map, st->key,
						      strlen(st->key), d, len);
}

static int rp_entry(struct jctx *j, const char *key, struct json_object *list)
{
	((struct rp_state *)j->priv)->key = key;
	return jeach(j, list, false, rp_digest);
}

/* { "<path or name>": ["<hex>", ...], ... } into map @map. */
static int rp_map(struct jctx *j, struct json_object *v, enum katls_rp_map map)
{
	((struct rp_state *)j->priv)->map = map;
	return jmembers(j, v, rp_entry);
}

static int rp_digests(struct jctx *j, struct json_object *v)
{
	return rp_map(j, v, KATLS_RP_DIGESTS);
}

static int rp_keyrings(struct jctx *j, struct json_object *v)
{
	return rp_map(j, v, KATLS_RP_KEYRINGS);
}

static int rp_ima_buf(struct jctx *j, struct json_object *v)
{
	return rp_map(j, v, KATLS_RP_IMA_BUF);
}

static int rp_exclude(struct jctx *j, const char *s, size_t len)
{
	struct rp_state *st = j->priv;
	char why[384];
	int ret = katls_runtime_policy_add_exclude(st->rp, s, why, sizeof(why));

	(void)len;
	return ret == -EINVAL ? jerr(j, "%s", why) : ret;
}

static int rp_excludes(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, false, rp_exclude);
}

static int rp_keyring(struct jctx *j, const char *s, size_t len)
{
	struct rp_state *st = j->priv;

	(void)len;
	return katls_runtime_policy_ignore_keyring(st->rp, s);
}

static int rp_ignored_keyrings(struct jctx *j, struct json_object *v)
{
	return jeach_str(j, v, false, rp_keyring);
}

static int rp_log_hash_alg(struct jctx *j, struct json_object *v)
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (!ret && katls_ima_hash_from_name(s, len) < 0)
		return jerr(j, "expected sha1, sha256, sha384 or sha512");
	return ret;
}

static int rp_dm_policy(struct jctx *j, struct json_object *v)
{
	if (v)
		return jerr(j, "device-mapper policies are not supported (must be null)");
	return 0;
}

static int rp_ima(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "ignored_keyrings", rp_ignored_keyrings, false },
		{ "log_hash_alg", rp_log_hash_alg, false },
		{ "dm_policy", rp_dm_policy, false },
	};

	return JWALK(j, v, keys);
}

static int rp_document(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "meta", rp_meta, true },
		{ "release", any_int, false },
		{ "digests", rp_digests, true },
		{ "excludes", rp_excludes, false },
		{ "keyrings", rp_keyrings, false },
		{ "ima", rp_ima, false },
		{ "ima-buf", rp_ima_buf, false },
		/* File signatures are not verified: signed-only files fail. */
		{ "verification-keys", jany_str, false },
		{ "rules", jany_str, false },
	};

	return JWALK(j, v, keys);
}

int katls_runtime_policy_from_json(struct jctx *j, struct json_object *v,
				   struct katls_runtime_policy **out)
{
	struct rp_state st = { NULL, KATLS_RP_DIGESTS, NULL };
	void *saved = j->priv;
	int ret = katls_runtime_policy_new(&st.rp);

	if (ret)
		return ret;
	j->priv = &st;
	ret = rp_document(j, v);
	j->priv = saved;
	if (ret)
		katls_runtime_policy_free(st.rp);
	else
		*out = st.rp;
	return ret;
}

int katls_runtime_policy_from_doc(struct jctx *j, const char *json, size_t len,
				  struct katls_runtime_policy **out)
{
	struct json_object *obj;
	int ret = jparse_doc(j, json, len, &obj);

	if (ret)
		return ret;
	ret = katls_runtime_policy_from_json(j, obj, out);
	json_object_put(obj);
	return ret;
}

int katls_runtime_policy_parse(const char *json, size_t len,
			       struct katls_runtime_policy **out, char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(NULL, err, err_len);

	*out = NULL;
	return katls_runtime_policy_from_doc(&j, json, len, out);
}

int katls_runtime_policy_load(const char *path, struct katls_runtime_policy **out,
			      char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(path, err, err_len);
	char *json;
	size_t len;
	int ret;

	*out = NULL;
	ret = jload(path, &json, &len, err, err_len);
	if (ret)
		return ret;
	ret = katls_runtime_policy_from_doc(&j, json, len, out);
	free(json);
	return ret;
}
