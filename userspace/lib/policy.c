// SPDX-License-Identifier: MIT
/*
 * Verification policies: the Keylime runtime policy (a path -> digests hash
 * map plus exclude regexes, used to appraise IMA entries) and the katls
 * policy JSON, parsed strictly with json-c (unknown keys and wrong types are
 * errors naming the JSON path).  Shapes: policy.h and docs/policy.md.
 *
 * The hash maps are open-addressed with linear probing over an entry array;
 * keys live in one string pool and digests in one node pool, so a 100k-path
 * allowlist costs a handful of allocations and lookups stay O(1).  Keys come
 * from the (trusted) policy, lookups from the (untrusted) log: a lookup can
 * only probe as far as the policy's own clusters, so FNV-1a is enough.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "policy.h"

#define MAX_FILE_SIZE	(256u << 20)	/* largest policy file read */
#define DEFAULT_MAX_AGE	3600
#define MAX_TAINT_MASK	0xffffffffu

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

/* ---- strict JSON walking -------------------------------------------------- */

struct jctx {
	const char *file;		/* message prefix, may be NULL */
	const char *base_dir;		/* NULL: keep relative paths */
	char *err;
	size_t err_len;
	char path[256];			/* JSON path of the current value */
	size_t plen;
	struct katls_policy *pol;	/* policy being filled */
	struct katls_runtime_policy *rp;	/* runtime policy being filled */
	enum katls_rp_map map;		/* map being filled */
	const char *key;		/* its current key */
	unsigned int bank;		/* "pcrs" bank being filled */
};

typedef int (*jfn)(struct jctx *j, struct json_object *v);

struct jkey {
	const char *key;
	jfn fn;
	bool required;
};

__attribute__((format(printf, 2, 3)))
static int jerr(struct jctx *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!j->err || !j->err_len)
		return -EINVAL;
	n = snprintf(j->err, j->err_len, "%s%s%s: ", j->file ? j->file : "",
		     j->file ? ": " : "", j->path);
	if (n >= 0 && (size_t)n < j->err_len) {
		va_start(ap, fmt);
		vsnprintf(j->err + n, j->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void jappend(struct jctx *j, const char *s)
{
	size_t n = strlen(s), room = sizeof(j->path) - j->plen;

	if (n < room) {
		memcpy(j->path + j->plen, s, n + 1);
		j->plen += n;
	} else if (room > 4) {
		memcpy(j->path + sizeof(j->path) - 4, "...", 4);
		j->plen = sizeof(j->path) - 1;
	}
}

static bool ident(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* Appends .key or ["key"] to the JSON path; returns what to restore. */
static size_t jpush(struct jctx *j, const char *key)
{
	size_t old = j->plen;
	char shown[96];
	size_t o = 0;

	if (ident(key)) {
		jappend(j, ".");
		jappend(j, key);
		return old;
	}
	for (const char *s = key; *s && o + 4 < sizeof(shown); s++)
		shown[o++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
	shown[o] = '\0';
	jappend(j, "[\"");
	jappend(j, shown);
	jappend(j, "\"]");
	return old;
}

static size_t jpush_index(struct jctx *j, size_t i)
{
	size_t old = j->plen;
	char idx[32];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	jappend(j, idx);
	return old;
}

static void jpop(struct jctx *j, size_t old)
{
	j->plen = old;
	j->path[old] = '\0';
}

static const char *type_name(struct json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

static int want(struct jctx *j, struct json_object *v, enum json_type t)
{
	if (json_object_get_type(v) != t)
		return jerr(j, "expected %s, got %s", json_type_to_name(t), type_name(v));
	return 0;
}

static int get_str(struct jctx *j, struct json_object *v, const char **s, size_t *len)
{
	int ret = want(j, v, json_type_string);

	if (ret)
		return ret;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (strlen(*s) != *len)
		return jerr(j, "string contains a NUL character");
	return 0;
}

static int get_bool(struct jctx *j, struct json_object *v, bool *out)
{
	int ret = want(j, v, json_type_boolean);

	if (!ret)
		*out = json_object_get_boolean(v);
	return ret;
}

static int get_int(struct jctx *j, struct json_object *v, int64_t min, int64_t max,
		   int64_t *out)
{
	int ret = want(j, v, json_type_int);
	int64_t n = 0;

	if (ret)
		return ret;
	n = json_object_get_int64(v);
	/* json-c clamps larger unsigned values to INT64_MAX. */
	if (n < min || n > max || (n == INT64_MAX && json_object_get_uint64(v) != INT64_MAX))
		return jerr(j, "integer out of range %lld..%lld",
			    (long long)min, (long long)max);
	*out = n;
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex text of @len chars into @out; @want = expected bytes, 0 = 1..64. */
static int parse_hex(struct jctx *j, const char *s, size_t len, size_t want_bytes,
		     uint8_t *out, size_t *out_len)
{
	if (len % 2 || !len || len > 2 * KATLS_IMA_MAX_DIGEST ||
	    (want_bytes && len != 2 * want_bytes)) {
		if (want_bytes)
			return jerr(j, "expected %zu hex digits, got %zu", 2 * want_bytes, len);
		return jerr(j, "expected an even number (2..128) of hex digits, got %zu", len);
	}
	for (size_t i = 0; i < len; i += 2) {
		int hi = unhex(s[i]), lo = unhex(s[i + 1]);

		if (hi < 0 || lo < 0)
			return jerr(j, "invalid hex digit at position %zu", hi < 0 ? i : i + 1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = len / 2;
	return 0;
}

static int get_hex(struct jctx *j, struct json_object *v, size_t want_bytes,
		   uint8_t *out, size_t *out_len)
{
	const char *s;
	size_t len;

	return get_str(j, v, &s, &len) ?: parse_hex(j, s, len, want_bytes, out, out_len);
}

static int walk(struct jctx *j, struct json_object *obj, const struct jkey *keys, size_t n)
{
	int ret = want(j, obj, json_type_object);

	if (ret)
		return ret;
	json_object_object_foreach(obj, k, v) {
		size_t i, old;

		for (i = 0; i < n && strcmp(keys[i].key, k); i++)
			;
		if (i == n) {
			char shown[64];

			snprintf(shown, sizeof(shown), "%s", k);
			for (char *c = shown; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					*c = '?';
			return jerr(j, "unknown key \"%s\"", shown);
		}
		old = jpush(j, k);
		ret = keys[i].fn(j, v);
		if (ret)
			return ret;
		jpop(j, old);
	}
	for (size_t i = 0; i < n; i++)
		if (keys[i].required && !json_object_object_get_ex(obj, keys[i].key, NULL))
			return jerr(j, "missing required key \"%s\"", keys[i].key);
	return 0;
}

/* Calls @fn on each element; @nonempty rejects []. */
static int each(struct jctx *j, struct json_object *v, bool nonempty,
		int (*fn)(struct jctx *j, struct json_object *elem, size_t i))
{
	size_t n;
	int ret = want(j, v, json_type_array);

	if (ret)
		return ret;
	n = json_object_array_length(v);
	if (nonempty && !n)
		return jerr(j, "must not be empty");
	for (size_t i = 0; i < n; i++) {
		size_t old = jpush_index(j, i);

		ret = fn(j, json_object_array_get_idx(v, i), i);
		if (ret)
			return ret;
		jpop(j, old);
	}
	return 0;
}

/* Reads a regular file of at most MAX_FILE_SIZE bytes, NUL-terminated. */
static int read_file(const char *path, char **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	size_t len = 0;
	char *buf;
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;		/* no FIFOs or devices: they may block or never end */
	else if (st.st_size > MAX_FILE_SIZE)
		ret = -EFBIG;
	if (ret) {
		close(fd);
		return ret;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n ? -errno : -EIO;	/* shrank under us */
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (!buf || ret) {
		free(buf);
		return buf ? ret : -ENOMEM;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/* Parses a whole document strictly: no comments, no trailing data. */
static int parse_doc(struct jctx *j, const char *json, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr_code;
	size_t used;

	if (len > INT32_MAX)
		return jerr(j, "document too large");
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 |
				    JSON_TOKENER_ALLOW_TRAILING_CHARS);
	obj = json_tokener_parse_ex(tok, json, (int)len);
	jerr_code = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr_code == json_tokener_continue)
		return jerr(j, "JSON document is truncated");
	if (jerr_code != json_tokener_success)
		return jerr(j, "invalid JSON at byte %zu: %s", used,
			    json_tokener_error_desc(jerr_code));
	for (; used < len; used++)
		if (!strchr(" \t\r\n", json[used]) || !json[used]) {
			json_object_put(obj);
			return jerr(j, "trailing data at byte %zu", used);
		}
	*out = obj;
	return 0;
}

/* ---- Keylime runtime policy JSON ------------------------------------------ */

static int rp_version(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = get_int(j, v, INT64_MIN, INT64_MAX, &n);

	if (!ret && n != 1)
		return jerr(j, "unsupported runtime policy version %lld (only 1)", (long long)n);
	return ret;
}

static int any_int(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;

	return get_int(j, v, 0, INT64_MAX, &n);
}

static int any_str(struct jctx *j, struct json_object *v)
{
	const char *s;
	size_t len;

	return get_str(j, v, &s, &len);
}

static int rp_meta(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "version", rp_version, true },
		{ "generator", any_int, false },
		{ "timestamp", any_str, false },
	};

	return walk(j, v, keys, sizeof(keys) / sizeof(keys[0]));
}

static int rp_digest(struct jctx *j, struct json_object *v, size_t i)
{
	uint8_t d[KATLS_IMA_MAX_DIGEST];
	size_t len;
	int ret = get_hex(j, v, 0, d, &len);

	(void)i;
	return ret ?: katls_runtime_policy_add_digest(j->rp, j->map, j->key, strlen(j->key),
						      d, len);
}

/* { "<path or name>": ["<hex>", ...], ... } into map j->map. */
static int rp_map(struct jctx *j, struct json_object *v)
{
	int ret = want(j, v, json_type_object);

	if (ret)
		return ret;
	json_object_object_foreach(v, k, list) {
		size_t old = jpush(j, k);

		j->key = k;
		ret = each(j, list, false, rp_digest);
		if (ret)
			return ret;
		jpop(j, old);
	}
	return 0;
}

static int rp_digests(struct jctx *j, struct json_object *v)
{
	j->map = KATLS_RP_DIGESTS;
	return rp_map(j, v);
}

static int rp_keyrings(struct jctx *j, struct json_object *v)
{
	j->map = KATLS_RP_KEYRINGS;
	return rp_map(j, v);
}

static int rp_ima_buf(struct jctx *j, struct json_object *v)
{
	j->map = KATLS_RP_IMA_BUF;
	return rp_map(j, v);
}

static int rp_exclude(struct jctx *j, struct json_object *v, size_t i)
{
	char why[384];
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	(void)i;
	if (ret)
		return ret;
	ret = katls_runtime_policy_add_exclude(j->rp, s, why, sizeof(why));
	return ret == -EINVAL ? jerr(j, "%s", why) : ret;
}

static int rp_excludes(struct jctx *j, struct json_object *v)
{
	return each(j, v, false, rp_exclude);
}

static int rp_keyring(struct jctx *j, struct json_object *v, size_t i)
{
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	(void)i;
	return ret ?: katls_runtime_policy_ignore_keyring(j->rp, s);
}

static int rp_ignored_keyrings(struct jctx *j, struct json_object *v)
{
	return each(j, v, false, rp_keyring);
}

static int rp_log_hash_alg(struct jctx *j, struct json_object *v)
{
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

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

	return walk(j, v, keys, sizeof(keys) / sizeof(keys[0]));
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
		{ "verification-keys", any_str, false },
		{ "rules", any_str, false },
	};

	return walk(j, v, keys, sizeof(keys) / sizeof(keys[0]));
}

/* Builds a runtime policy from a parsed object; j->path names it. */
static int rp_from_object(struct jctx *j, struct json_object *v,
			  struct katls_runtime_policy **out)
{
	struct katls_runtime_policy *saved = j->rp;
	int ret = katls_runtime_policy_new(&j->rp);

	if (ret)
		return ret;
	ret = rp_document(j, v);
	if (ret)
		katls_runtime_policy_free(j->rp);
	else
		*out = j->rp;
	j->rp = saved;
	return ret;
}

static int rp_parse_file(struct jctx *j, const char *json, size_t len,
			 struct katls_runtime_policy **out)
{
	struct json_object *obj;
	int ret = parse_doc(j, json, len, &obj);

	if (ret)
		return ret;
	ret = rp_from_object(j, obj, out);
	json_object_put(obj);
	return ret;
}

int katls_runtime_policy_parse(const char *json, size_t len,
			       struct katls_runtime_policy **out, char *err, size_t err_len)
{
	struct jctx j = { .err = err, .err_len = err_len, .path = "$", .plen = 1 };

	*out = NULL;
	return rp_parse_file(&j, json, len, out);
}

int katls_runtime_policy_load(const char *path, struct katls_runtime_policy **out,
			      char *err, size_t err_len)
{
	struct jctx j = { .file = path, .err = err, .err_len = err_len, .path = "$",
			  .plen = 1 };
	char *json;
	size_t len;
	int ret;

	*out = NULL;
	ret = read_file(path, &json, &len);
	if (ret) {
		if (err && err_len)
			snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = rp_parse_file(&j, json, len, out);
	free(json);
	return ret;
}

/* ---- katls policy JSON ---------------------------------------------------- */

static int push_str(struct jctx *j, char ***arr, size_t *n, char *s)
{
	char **q;

	if (!s)
		return -ENOMEM;
	q = realloc(*arr, (*n + 1) * sizeof(*q));
	if (!q) {
		free(s);
		return -ENOMEM;
	}
	q[(*n)++] = s;
	*arr = q;
	(void)j;
	return 0;
}

static int resolve(struct jctx *j, const char *s, size_t len, char **out)
{
	if (!len)
		return jerr(j, "empty path");
	if (s[0] == '/' || !j->base_dir)
		*out = strdup(s);
	else if (asprintf(out, "%s/%s", j->base_dir, s) < 0)
		*out = NULL;
	return *out ? 0 : -ENOMEM;
}

static bool name_ok(const char *s, size_t len)
{
	if (!len || len >= KATLS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return false;
	return true;
}

static int pol_name(struct jctx *j, struct json_object *v)
{
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	if (ret)
		return ret;
	if (!name_ok(s, len))
		return jerr(j, "policy names are 1..%d characters of [A-Za-z0-9._-]",
			    KATLS_NAME_MAX - 1);
	j->pol->name = strdup(s);
	return j->pol->name ? 0 : -ENOMEM;
}

static int trust_anchor(struct jctx *j, struct json_object *v, size_t i)
{
	struct katls_policy *p = j->pol;
	const char *s;
	size_t len;
	char *path;
	int ret = get_str(j, v, &s, &len) ?: resolve(j, s, len, &path);

	(void)i;
	return ret ?: push_str(j, &p->trust_anchors, &p->num_trust_anchors, path);
}

static int pol_trust_anchors(struct jctx *j, struct json_object *v)
{
	return each(j, v, true, trust_anchor);
}

static int peer_name(struct jctx *j, struct json_object *v, size_t i)
{
	struct katls_policy *p = j->pol;
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	(void)i;
	if (ret)
		return ret;
	if (!len || len >= KATLS_SERVER_NAME_MAX)
		return jerr(j, "peer names are 1..%d characters", KATLS_SERVER_NAME_MAX - 1);
	for (size_t k = 0; k < len; k++)
		if (s[k] <= 0x20 || s[k] >= 0x7f)
			return jerr(j, "peer name contains a space or non-ASCII character");
	return push_str(j, &p->peer_names, &p->num_peer_names, strdup(s));
}

static int pol_peer_names(struct jctx *j, struct json_object *v)
{
	return each(j, v, false, peer_name);
}

static int ak_pin(struct jctx *j, struct json_object *v, size_t i)
{
	struct katls_policy *p = j->pol;
	struct katls_policy_ak *q, ak = { NULL, NULL };
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	(void)i;
	if (ret)
		return ret;
	if (!strncmp(s, "-----BEGIN ", 11))
		ret = (ak.pem = strdup(s)) ? 0 : -ENOMEM;
	else
		ret = resolve(j, s, len, &ak.path);
	if (ret)
		return ret;
	q = realloc(p->ak_pins, (p->num_ak_pins + 1) * sizeof(*q));
	if (!q) {
		free(ak.pem);
		free(ak.path);
		return -ENOMEM;
	}
	q[p->num_ak_pins++] = ak;
	p->ak_pins = q;
	return 0;
}

static int pol_ak_pins(struct jctx *j, struct json_object *v)
{
	return each(j, v, false, ak_pin);
}

static int pcr_index(const char *k)
{
	size_t len = strlen(k);
	int n;

	if (!len || len > 2 || (len == 2 && k[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++)
		if (k[i] < '0' || k[i] > '9')
			return -1;
	n = atoi(k);
	return n < KATLS_IMA_NUM_PCRS ? n : -1;
}

static int pcr_bank(struct jctx *j, struct json_object *v)
{
	struct katls_policy *p = j->pol;
	int ret = want(j, v, json_type_object);

	if (ret)
		return ret;
	json_object_object_foreach(v, k, hex) {
		size_t old = jpush(j, k), len;
		int idx = pcr_index(k);

		if (idx < 0)
			return jerr(j, "PCR index must be a decimal number 0..%d",
				    KATLS_IMA_NUM_PCRS - 1);
		ret = get_hex(j, hex, katls_ima_hash_size(j->bank), p->pcrs[j->bank][idx], &len);
		if (ret)
			return ret;
		p->pcr_mask[j->bank] |= 1u << idx;
		jpop(j, old);
	}
	return 0;
}

static int pol_pcrs(struct jctx *j, struct json_object *v)
{
	int ret = want(j, v, json_type_object);

	if (ret)
		return ret;
	json_object_object_foreach(v, k, bank) {
		size_t old = jpush(j, k);
		int alg = katls_ima_hash_from_name(k, strlen(k));

		if (alg < 0)
			return jerr(j, "unknown PCR bank (sha1, sha256, sha384, sha512)");
		j->bank = (unsigned int)alg;
		ret = pcr_bank(j, bank);
		if (ret)
			return ret;
		jpop(j, old);
	}
	return 0;
}

static int ima_runtime_policy(struct jctx *j, struct json_object *v)
{
	struct katls_policy *p = j->pol;
	struct jctx sub = { .err = j->err, .err_len = j->err_len, .path = "$", .plen = 1 };
	const char *s;
	size_t len;
	char *json;
	int ret;

	if (json_object_is_type(v, json_type_object))
		return rp_from_object(j, v, &p->ima.runtime_policy);
	ret = get_str(j, v, &s, &len) ?: resolve(j, s, len, &p->ima.runtime_policy_path);
	if (ret)
		return ret;
	ret = read_file(p->ima.runtime_policy_path, &json, &len);
	if (ret) {
		jerr(j, "cannot read runtime policy %s: %s", p->ima.runtime_policy_path,
		     strerror(-ret));
		return ret;
	}
	sub.file = p->ima.runtime_policy_path;
	ret = rp_parse_file(&sub, json, len, &p->ima.runtime_policy);
	free(json);
	return ret;
}

static int ima_required(struct jctx *j, struct json_object *v)
{
	return get_bool(j, v, &j->pol->ima.required);
}

static int ima_allow_violations(struct jctx *j, struct json_object *v)
{
	return get_bool(j, v, &j->pol->ima.allow_violations);
}

static int pol_ima(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "runtime_policy", ima_runtime_policy, false },
		{ "required", ima_required, false },
		{ "allow_violations", ima_allow_violations, false },
	};

	j->pol->ima.present = true;
	j->pol->ima.required = true;
	return walk(j, v, keys, sizeof(keys) / sizeof(keys[0]));
}

static int kernel_taint(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = get_int(j, v, 0, MAX_TAINT_MASK, &n);

	if (!ret)
		j->pol->kernel.allow_taint_mask = (uint64_t)n;
	return ret;
}

static int kernel_lockdown(struct jctx *j, struct json_object *v)
{
	static const char *const levels[] = {
		[KATLS_LOCKDOWN_NONE] = "none",
		[KATLS_LOCKDOWN_INTEGRITY] = "integrity",
		[KATLS_LOCKDOWN_CONFIDENTIALITY] = "confidentiality",
	};
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcmp(s, levels[i])) {
			j->pol->kernel.min_lockdown = (enum katls_lockdown)i;
			return 0;
		}
	return jerr(j, "expected none, integrity or confidentiality, got \"%.40s\"", s);
}

static int kernel_require_tpm(struct jctx *j, struct json_object *v)
{
	return get_bool(j, v, &j->pol->kernel.require_tpm);
}

static int pol_kernel(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "allow_taint_mask", kernel_taint, false },
		{ "min_lockdown", kernel_lockdown, false },
		{ "require_tpm", kernel_require_tpm, false },
	};

	j->pol->kernel.present = true;
	j->pol->kernel.require_tpm = true;
	return walk(j, v, keys, sizeof(keys) / sizeof(keys[0]));
}

static int exe_path(struct jctx *j, struct json_object *v, size_t i)
{
	struct katls_policy *p = j->pol;
	const char *s;
	size_t len;
	int ret = get_str(j, v, &s, &len);

	(void)i;
	if (ret)
		return ret;
	if (s[0] != '/' || len >= KATLS_IMA_MAX_NNG)
		return jerr(j, "executable paths must be absolute (and < %d bytes)",
			    KATLS_IMA_MAX_NNG);
	return push_str(j, &p->workload.exe_paths, &p->workload.num_exe_paths, strdup(s));
}

static int exe_digest(struct jctx *j, struct json_object *v, size_t i)
{
	struct katls_policy *p = j->pol;
	struct katls_policy_digest d = { 0 }, *q;
	const char *s, *colon;
	size_t len;
	int alg, ret = get_str(j, v, &s, &len);

	(void)i;
	if (ret)
		return ret;
	colon = strchr(s, ':');
	alg = colon ? katls_ima_hash_from_name(s, (size_t)(colon - s)) : -1;
	if (alg < 0)
		return jerr(j, "expected \"<sha1|sha256|sha384|sha512>:<hex>\"");
	d.alg = (unsigned int)alg;
	ret = parse_hex(j, colon + 1, len - (size_t)(colon + 1 - s),
			katls_ima_hash_size(d.alg), d.digest, &d.len);
	if (ret)
		return ret;
	q = realloc(p->workload.exe_digests, (p->workload.num_exe_digests + 1) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	q[p->workload.num_exe_digests++] = d;
	p->workload.exe_digests = q;
	return 0;
}

static int workload_paths(struct jctx *j, struct json_object *v)
{
	return each(j, v, true, exe_path);
}

static int workload_digests(struct jctx *j, struct json_object *v)
{
	return each(j, v, true, exe_digest);
}

static int pol_workload(struct jctx *j, struct json_object *v)
{
	static const struct jkey keys[] = {
		{ "exe_paths", workload_paths, false },
		{ "exe_digests", workload_digests, false },
	};

	return walk(j, v, keys, sizeof(keys) / sizeof(keys[0]));
}

static int pol_max_age(struct jctx *j, struct json_object *v)
{
	int64_t n = 0;
	int ret = get_int(j, v, 1, INT32_MAX, &n);

	if (!ret)
		j->pol->max_age_s = (uint32_t)n;
	return ret;
}

static const struct jkey policy_keys[] = {
	{ "name", pol_name, false },
	{ "description", any_str, false },
	{ "trust_anchors", pol_trust_anchors, true },
	{ "peer_names", pol_peer_names, false },
	{ "ak_pins", pol_ak_pins, false },
	{ "pcrs", pol_pcrs, false },
	{ "ima", pol_ima, false },
	{ "kernel", pol_kernel, false },
	{ "workload", pol_workload, false },
	{ "max_age_s", pol_max_age, false },
};

static void free_strs(char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(arr[i]);
	free(arr);
}

static void policy_cleanup(struct katls_policy *p)
{
	free(p->name);
	free_strs(p->trust_anchors, p->num_trust_anchors);
	free_strs(p->peer_names, p->num_peer_names);
	for (size_t i = 0; i < p->num_ak_pins; i++) {
		free(p->ak_pins[i].path);
		free(p->ak_pins[i].pem);
	}
	free(p->ak_pins);
	free(p->ima.runtime_policy_path);
	katls_runtime_policy_free(p->ima.runtime_policy);
	free_strs(p->workload.exe_paths, p->workload.num_exe_paths);
	free(p->workload.exe_digests);
	memset(p, 0, sizeof(*p));
}

/* @key: the policy's key in a set (its name must match), or NULL. */
static int parse_policy(struct jctx *j, struct json_object *v, const char *key,
			struct katls_policy *p)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->max_age_s = DEFAULT_MAX_AGE;
	j->pol = p;
	ret = walk(j, v, policy_keys, sizeof(policy_keys) / sizeof(policy_keys[0]));
	if (ret)
		return ret;
	if (key && p->name && strcmp(key, p->name))
		return jerr(j, "name \"%s\" differs from the policy's key", p->name);
	if (!p->name)
		p->name = strdup(key ? key : "default");
	return p->name ? 0 : -ENOMEM;
}

static int parse_set(struct jctx *j, struct json_object *v, struct katls_policy_set *set)
{
	size_t n;
	int ret = want(j, v, json_type_object);

	if (ret)
		return ret;
	n = (size_t)json_object_object_length(v);
	if (!n)
		return jerr(j, "no policies");
	set->policies = calloc(n, sizeof(*set->policies));
	if (!set->policies)
		return -ENOMEM;
	json_object_object_foreach(v, k, pol) {
		size_t old = jpush(j, k);

		if (!name_ok(k, strlen(k)))
			return jerr(j, "policy names are 1..%d characters of [A-Za-z0-9._-]",
				    KATLS_NAME_MAX - 1);
		ret = parse_policy(j, pol, k, &set->policies[set->num_policies]);
		set->num_policies++;	/* partially filled ones are freed too */
		if (ret)
			return ret;
		jpop(j, old);
	}
	return 0;
}

static int parse_top(struct jctx *j, struct json_object *obj, struct katls_policy_set *set)
{
	struct json_object *pols;
	int ret = want(j, obj, json_type_object);

	if (ret)
		return ret;
	if (json_object_object_get_ex(obj, "policies", &pols)) {
		size_t old;

		if (json_object_object_length(obj) != 1) {
			json_object_object_foreach(obj, k, unused) {
				(void)unused;
				if (strcmp(k, "policies"))
					return jerr(j, "unknown key \"%.60s\" beside "
						    "\"policies\"", k);
			}
		}
		old = jpush(j, "policies");
		ret = parse_set(j, pols, set);
		if (!ret)
			jpop(j, old);
		return ret;
	}
	set->policies = calloc(1, sizeof(*set->policies));
	if (!set->policies)
		return -ENOMEM;
	set->num_policies = 1;
	return parse_policy(j, obj, NULL, &set->policies[0]);
}

static int parse_with(struct jctx *j, const char *json, size_t len,
		      struct katls_policy_set **out)
{
	struct katls_policy_set *set;
	struct json_object *obj;
	int ret;

	*out = NULL;
	ret = parse_doc(j, json, len, &obj);
	if (ret)
		return ret;
	set = calloc(1, sizeof(*set));
	ret = set ? parse_top(j, obj, set) : -ENOMEM;
	json_object_put(obj);
	if (ret) {
		katls_policy_set_free(set);
		return ret;
	}
	*out = set;
	return 0;
}

int katls_policy_parse(const char *json, size_t len, const char *base_dir,
		       struct katls_policy_set **out, char *err, size_t err_len)
{
	struct jctx j = { .base_dir = base_dir, .err = err, .err_len = err_len,
			  .path = "$", .plen = 1 };

	return parse_with(&j, json, len, out);
}

int katls_policy_load(const char *path, struct katls_policy_set **out,
		      char *err, size_t err_len)
{
	struct jctx j = { .file = path, .err = err, .err_len = err_len, .path = "$", .plen = 1 };
	const char *slash = strrchr(path, '/');
	char *dir, *json;
	size_t len;
	int ret;

	*out = NULL;
	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (!dir)
		return -ENOMEM;
	ret = read_file(path, &json, &len);
	if (ret) {
		if (err && err_len)
			snprintf(err, err_len, "%s: %s", path, strerror(-ret));
		free(dir);
		return ret;
	}
	j.base_dir = dir;
	ret = parse_with(&j, json, len, out);
	free(json);
	free(dir);
	return ret;
}

void katls_policy_set_free(struct katls_policy_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->num_policies; i++)
		policy_cleanup(&set->policies[i]);
	free(set->policies);
	free(set);
}

const struct katls_policy *katls_policy_set_find(const struct katls_policy_set *set,
						 const char *name)
{
	for (size_t i = 0; set && i < set->num_policies; i++)
		if (!strcmp(set->policies[i].name, name))
			return &set->policies[i];
	return NULL;
}
