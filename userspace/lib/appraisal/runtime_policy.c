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

#include "appraisal/runtime_policy.h"
#include "util/json.h"

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
 * and probing past other paths rarely touches their records at all; the
 * index is taken from those 32 bits, so growing rehashes the slots alone.
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
	return h;	/* the tag and the index are its high bits, FNV's best mixed */
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

/* A slot: the top 32 bits of the key's hash, and the record's offset / 8 + 1. */
#define TAG(h)		((h) >> 32)
#define SLOT_TAG(v)	((v) >> 32)

/*
 * The slot of @key, or the empty slot where it would go.  The index is the
 * low bits of the tag, so the table can grow from its slots alone.
 */
static size_t dmap_probe(const struct dmap *m, uint64_t h, const char *key, size_t len)
{
	size_t i;

	for (i = TAG(h) & m->mask; m->slots[i]; i = (i + 1) & m->mask) {
		const struct drec *r;

		if (SLOT_TAG(m->slots[i]) != TAG(h))
			continue;
		r = rec_at(m, m->slots[i]);
		if (r->key_len == len && !memcmp(rec_key(r), key, len))
			break;
	}
	return i;
}

static const struct drec *dmap_find(const struct dmap *m, const char *key, size_t len)
{
	size_t i;

	if (!m->mask)
		return NULL;
	i = dmap_probe(m, fnv1a(key, len), key, len);
	return m->slots[i] ? rec_at(m, m->slots[i]) : NULL;
}

static int dmap_rehash(struct dmap *m, size_t nslots)
{
	uint64_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; m->mask && j <= m->mask; j++) {
		size_t i = SLOT_TAG(m->slots[j]) & (nslots - 1);

		if (!m->slots[j])
			continue;
		while (slots[i])
			i = (i + 1) & (nslots - 1);
		slots[i] = m->slots[j];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = nslots - 1;
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
	size_t off = m->pool_len, size = rec_size(key_len, len), i;
	uint64_t h = fnv1a(key, key_len);
	struct drec *r;

	if (!len || len > KATLS_IMA_MAX_DIGEST || key_len > MAX_KEY_LEN)
		return -EINVAL;
	if ((m->num + 1) * 2 > m->mask + 1 &&
	    dmap_rehash(m, m->mask ? 2 * (m->mask + 1) : 64))
		return -ENOMEM;
	i = dmap_probe(m, h, key, key_len);
	if (m->slots[i])
		return dmap_add_node(m, rec_at(m, m->slots[i]), d, len);
	if (off + size > (size_t)UINT32_MAX * 8)
		return -ENOMEM;
	if (GROW(m->pool, m->pool_cap, off + size))
		return -ENOMEM;
	r = (struct drec *)(m->pool + off);
	*r = (struct drec){ .key_len = (uint16_t)key_len, .dlen = (uint8_t)len };
	memcpy((uint8_t *)(r + 1), d, len);
	memcpy((uint8_t *)(r + 1) + len, key, key_len);
	m->pool_len += size;
	m->num++;
	m->slots[i] = TAG(h) << 32 | (off / 8 + 1);
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

#define MAX_EXCLUDE_LEN	1024

/*
 * A repetition applied to a repetition ("a++", "x*{2}"): POSIX leaves it
 * undefined, Python's re (Keylime) refuses it ("multiple repeat"), and
 * glibc's regcomp() nests it into automata of gigabytes.
 */
static bool multiple_repeat(const char *re)
{
	bool after_repeat = false;

	for (const char *c = re; *c; c++) {
		bool repeat = *c == '*' || *c == '+' || *c == '?' || *c == '{';

		if (repeat && after_repeat)
			return true;
		if (*c == '\\' && c[1]) {
			c++;
		} else if (*c == '[') {
			/* a bracket expression: ']' first is a member, not the end */
			c += c[1] == '^' ? 2 : 1;
			if (*c == ']')
				c++;
			while (*c && *c != ']')
				c++;
			if (!*c)
				return false;	/* unterminated: regcomp() says so */
		} else if (*c == '{') {
			while (c[1] && c[1] != '}')
				c++;
			if (c[1])
				c++;	/* the bound ends at its '}' */
		}
		after_repeat = repeat;
	}
	return false;
}

int katls_runtime_policy_add_exclude(struct katls_runtime_policy *rp, const char *regex,
				     char *err, size_t err_len)
{
	const char *why_not = strlen(regex) > MAX_EXCLUDE_LEN ? "longer than 1024 characters" :
			      multiple_repeat(regex) ? "a repetition of a repetition (multiple repeat)" :
			      NULL;
	int rc;

	if (why_not) {
		if (err && err_len)
			snprintf(err, err_len, "exclude regex \"%.200s\" is refused: %s", regex, why_not);
		return -EINVAL;
	}
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
		__builtin_prefetch(&m->slots[TAG(fnv1a(rec->path, rec->path_len)) & m->mask]);
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

/*
 * Read with the streaming reader (json.h): a policy of 100k paths is a scan
 * and 100k hash-map inserts, with no JSON tree in between.  An inline
 * runtime policy (already a json-c object inside a katls policy) is written
 * back to text and read the same way, so there is one parser.
 */

/* The reader's state: the policy being filled, the map and key being read. */
struct rp_state {
	struct katls_runtime_policy *rp;
	enum katls_rp_map map;
	const char *key;
	size_t key_len;
	size_t digests;			/* read for the current key */
};

static int rp_version(struct jscan *s, void *arg)
{
	int64_t n = 0;
	int ret = jscan_int(s, INT64_MIN, INT64_MAX, &n);

	(void)arg;
	if (!ret && n != 1)
		return jerr(s->j, "unsupported runtime policy version %lld (only 1)", (long long)n);
	return ret;
}

static int any_int(struct jscan *s, void *arg)
{
	int64_t n = 0;

	(void)arg;
	return jscan_int(s, 0, INT64_MAX, &n);
}

static int any_str(struct jscan *s, void *arg)
{
	const char *str;
	size_t len;

	(void)arg;
	return jscan_str(s, &str, &len);
}

static int rp_meta(struct jscan *s, void *arg)
{
	static const struct jscan_key keys[] = {
		{ "version", rp_version, true },
		{ "generator", any_int, false },
		{ "timestamp", any_str, false },
	};

	return JSCAN_KEYS(s, keys, arg);
}

static int rp_digest(struct jscan *s, size_t i, void *arg)
{
	struct rp_state *st = arg;
	uint8_t d[KATLS_IMA_MAX_DIGEST];
	const char *hex;
	size_t hex_len, len;
	int ret = jscan_str(s, &hex, &hex_len);

	(void)i;
	st->digests++;
	return ret ?: jparse_hex(s->j, hex, hex_len, 0, d, &len) ?:
	       katls_runtime_policy_add_digest(st->rp, st->map, st->key, st->key_len, d, len);
}

static int rp_entry(struct jscan *s, const char *key, void *arg)
{
	struct rp_state *st = arg;
	size_t before = st->rp->maps[st->map].num;
	int ret;

	st->key = key;
	st->key_len = strlen(key);
	st->digests = 0;
	ret = jscan_array(s, false, rp_digest, st);
	/* digests for a path that was already there: the key appeared before */
	if (!ret && st->rp->maps[st->map].num == before && st->digests)
		return jerr(s->j, "listed twice");
	return ret;
}

/* { "<path or name>": ["<hex>", ...], ... } into map @map. */
static int rp_map(struct jscan *s, struct rp_state *st, enum katls_rp_map map)
{
	st->map = map;
	return jscan_object(s, rp_entry, st);
}

static int rp_digests(struct jscan *s, void *arg)
{
	return rp_map(s, arg, KATLS_RP_DIGESTS);
}

static int rp_keyrings(struct jscan *s, void *arg)
{
	return rp_map(s, arg, KATLS_RP_KEYRINGS);
}

static int rp_ima_buf(struct jscan *s, void *arg)
{
	return rp_map(s, arg, KATLS_RP_IMA_BUF);
}

static int rp_exclude(struct jscan *s, size_t i, void *arg)
{
	struct rp_state *st = arg;
	char why[384];
	const char *re;
	size_t len;
	int ret = jscan_str(s, &re, &len);

	(void)i;
	if (ret)
		return ret;
	ret = katls_runtime_policy_add_exclude(st->rp, re, why, sizeof(why));
	return ret == -EINVAL ? jerr(s->j, "%s", why) : ret;
}

static int rp_excludes(struct jscan *s, void *arg)
{
	return jscan_array(s, false, rp_exclude, arg);
}

static int rp_keyring(struct jscan *s, size_t i, void *arg)
{
	struct rp_state *st = arg;
	const char *name;
	size_t len;
	int ret = jscan_str(s, &name, &len);

	(void)i;
	return ret ?: katls_runtime_policy_ignore_keyring(st->rp, name);
}

static int rp_ignored_keyrings(struct jscan *s, void *arg)
{
	return jscan_array(s, false, rp_keyring, arg);
}

static int rp_log_hash_alg(struct jscan *s, void *arg)
{
	const char *str;
	size_t len;
	int ret = jscan_str(s, &str, &len);

	(void)arg;
	if (!ret && katls_ima_hash_from_name(str, len) < 0)
		return jerr(s->j, "expected sha1, sha256, sha384 or sha512");
	return ret;
}

static int rp_dm_policy(struct jscan *s, void *arg)
{
	enum json_type t;
	int ret = jscan_peek(s, &t);

	(void)arg;
	if (!ret && t != json_type_null)
		return jerr(s->j, "device-mapper policies are not supported (must be null)");
	return ret ?: jscan_null(s);
}

static int rp_ima(struct jscan *s, void *arg)
{
	static const struct jscan_key keys[] = {
		{ "ignored_keyrings", rp_ignored_keyrings, false },
		{ "log_hash_alg", rp_log_hash_alg, false },
		{ "dm_policy", rp_dm_policy, false },
	};

	return JSCAN_KEYS(s, keys, arg);
}

static int rp_document(struct jscan *s, struct rp_state *st)
{
	static const struct jscan_key keys[] = {
		{ "meta", rp_meta, true },
		{ "release", any_int, false },
		{ "digests", rp_digests, true },
		{ "excludes", rp_excludes, false },
		{ "keyrings", rp_keyrings, false },
		{ "ima", rp_ima, false },
		{ "ima-buf", rp_ima_buf, false },
		/* File signatures are not verified: signed-only files fail. */
		{ "verification-keys", any_str, false },
		{ "rules", any_str, false },
	};

	return JSCAN_KEYS(s, keys, st) ?: jscan_end(s);
}

int katls_runtime_policy_from_doc(struct jctx *j, const char *json, size_t len,
				  struct katls_runtime_policy **out)
{
	struct rp_state st = { NULL, KATLS_RP_DIGESTS, NULL, 0, 0 };
	struct jscan s;
	int ret = katls_runtime_policy_new(&st.rp);

	if (ret)
		return ret;
	jscan_init(&s, j, json, len);
	ret = rp_document(&s, &st);
	jscan_cleanup(&s);
	if (ret)
		katls_runtime_policy_free(st.rp);
	else
		*out = st.rp;
	return ret;
}

int katls_runtime_policy_from_json(struct jctx *j, struct json_object *v,
				   struct katls_runtime_policy **out)
{
	size_t len;
	const char *text;
	int ret = jwant(j, v, json_type_object);

	if (ret)
		return ret;
	text = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	return text ? katls_runtime_policy_from_doc(j, text, len, out) : -ENOMEM;
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
