// SPDX-License-Identifier: MIT
/*
 * The enrollment store and the registrar's pending-challenge files: JSON,
 * parsed strictly with the json.h walker (unknown keys, wrong types and
 * malformed values are errors naming their JSON path) and written with
 * json-c.  Format: docs/enroll.md.
 *
 * A loaded store is an array of records sorted by AK Name; it is never
 * modified after katls_enroll_store_parse() returns, so lookups (bsearch,
 * plus a digest for find_public) are safe from any number of threads.
 * Writers serialize through an flock on "<store>.lock" and replace the
 * store by rename, so readers see the old or the new file, never a mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "evidence/enroll.h"
#include "util/hex.h"
#include "util/io.h"
#include "util/json.h"

#define STORE_VERSION		1
#define MAX_RECORDS		1000000
#define MAX_PUBLIC		1024	/* > any TPMT_PUBLIC katls accepts */
#define MAX_TEXT		1024	/* DNs, serials */
#define MAX_LABEL		253	/* a DNS name */

struct katls_enroll_store {
	struct katls_enroll_record *rec;
	size_t num;
};

void katls_enroll_record_cleanup(struct katls_enroll_record *r)
{
	if (!r)
		return;
	free(r->ak_public);
	free(r->ek_cert_issuer);
	free(r->ek_cert_subject);
	free(r->ek_cert_serial);
	free(r->label);
	memset(r, 0, sizeof(*r));
}

/* ---- values ------------------------------------------------------------------ */

void katls_enroll_time_format(int64_t t, char out[21])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 21, "1970-01-01T00:00:00Z");
}

/* "YYYY-MM-DDTHH:MM:SSZ", a real UTC time (formatting it back gives the same text). */
static int get_time(struct jctx *j, struct json_object *v, int64_t *out)
{
	char back[21];
	const char *s;
	size_t len;
	struct tm tm = { 0 };
	int ret = jget_str(j, v, &s, &len);
	time_t t;

	if (ret)
		return ret;
	if (len != 20 || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return jerr(j, "expected a UTC time YYYY-MM-DDTHH:MM:SSZ");
	t = timegm(&tm);
	if (t < 0)
		return jerr(j, "time before 1970");
	katls_enroll_time_format(t, back);
	if (strcmp(back, s))
		return jerr(j, "not a valid UTC time (%s)", s);
	*out = t;
	return 0;
}

/* Lowercase hex of 1..@max bytes (@exact: exactly @max) into malloc'd or fixed @out. */
static int get_hex(struct jctx *j, struct json_object *v, size_t max, bool exact,
		   uint8_t *out, size_t *out_len)
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	if (!len || len % 2 || len / 2 > max || (exact && len / 2 != max))
		return exact ? jerr(j, "expected %zu hex digits", 2 * max) :
		       jerr(j, "expected an even number (2..%zu) of hex digits", 2 * max);
	for (size_t i = 0; i < len; i += 2) {
		int hi = katls_hex_digit_lower(s[i]), lo = katls_hex_digit_lower(s[i + 1]);

		if (hi < 0 || lo < 0)
			return jerr(j, "invalid lowercase hex digit at position %zu",
				    hi < 0 ? i : i + 1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = len / 2;
	return 0;
}

/* A printable one-line string of at most @max bytes (may be empty if @empty_ok). */
static int get_text(struct jctx *j, struct json_object *v, size_t max, bool empty_ok,
		    bool spaces_ok, char **out)
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	if (ret)
		return ret;
	if ((!len && !empty_ok) || len > max)
		return jerr(j, "expected %s..%zu characters", empty_ok ? "0" : "1", max);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < (spaces_ok ? 0x20 : 0x21) || (unsigned char)s[i] >= 0x7f)
			return jerr(j, "character 0x%02x at position %zu is not printable ASCII%s",
				    (unsigned char)s[i], i, spaces_ok ? "" : " without spaces");
	free(*out);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* ---- one record ------------------------------------------------------------------ */

static struct katls_enroll_record *cur(struct jctx *j)
{
	return j->priv;
}

static int r_ak_name(struct jctx *j, struct json_object *v)
{
	return get_hex(j, v, KATLS_TPM_NAME_MAX, false, cur(j)->ak_name, &cur(j)->ak_name_len);
}

static int r_ak_public(struct jctx *j, struct json_object *v)
{
	uint8_t buf[MAX_PUBLIC];
	size_t n = 0;
	int ret = get_hex(j, v, sizeof(buf), false, buf, &n);

	if (ret)
		return ret;
	free(cur(j)->ak_public);
	cur(j)->ak_public = malloc(n);
	if (!cur(j)->ak_public)
		return -ENOMEM;
	memcpy(cur(j)->ak_public, buf, n);
	cur(j)->ak_public_len = n;
	return 0;
}

static int r_ek_name(struct jctx *j, struct json_object *v)
{
	return get_hex(j, v, KATLS_TPM_NAME_MAX, false, cur(j)->ek_name, &cur(j)->ek_name_len);
}

static int r_ek_sha256(struct jctx *j, struct json_object *v)
{
	size_t n;

	return get_hex(j, v, 32, true, cur(j)->ek_cert_sha256, &n);
}

static int r_issuer(struct jctx *j, struct json_object *v)
{
	return get_text(j, v, MAX_TEXT, false, true, &cur(j)->ek_cert_issuer);
}

static int r_subject(struct jctx *j, struct json_object *v)
{
	return get_text(j, v, MAX_TEXT, true, true, &cur(j)->ek_cert_subject);
}

static int r_serial(struct jctx *j, struct json_object *v)
{
	int ret = get_text(j, v, 2 * 20 + 1, false, false, &cur(j)->ek_cert_serial);

	for (const char *s = cur(j)->ek_cert_serial; !ret && *s; s++)
		if (katls_hex_digit_lower(*s) < 0)
			return jerr(j, "expected lowercase hex");
	return ret;
}

static int r_label(struct jctx *j, struct json_object *v)
{
	return get_text(j, v, MAX_LABEL, false, false, &cur(j)->label);
}

static int r_time(struct jctx *j, struct json_object *v)
{
	return get_time(j, v, &cur(j)->enrolled_at);
}

/* The cross-field checks: ak_public is an AK and ak_name is its Name. */
static int record_consistent(struct jctx *j, const struct katls_enroll_record *r)
{
	struct katls_tpm_public pub;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t n = 0;

	if (katls_quote_public_parse(r->ak_public, r->ak_public_len, &pub))
		return jerr(j, "ak_public is not a TPMT_PUBLIC of an RSA or ECC key");
	if (!katls_quote_is_ak(&pub))
		return jerr(j, "ak_public is not a restricted, fixedTPM signing key");
	if (pub.name_alg != TPM2_ALG_SHA256 && pub.name_alg != TPM2_ALG_SHA384 &&
	    pub.name_alg != TPM2_ALG_SHA512)
		return jerr(j, "ak_public has nameAlg 0x%04x (SHA-256/384/512 required)",
			    pub.name_alg);
	if (katls_quote_public_name(&pub, name, &n))
		return -ENOMEM;
	if (n != r->ak_name_len || memcmp(name, r->ak_name, n))
		return jerr(j, "ak_name is not the Name of ak_public");
	if (r->ek_name_len && r->ek_name_len < 2 + 20)
		return jerr(j, "ek_name is too short to be a TPM Name");
	return 0;
}

static const struct jkey record_keys[] = {
	{ "ak_name", r_ak_name, true },
	{ "ak_public", r_ak_public, true },
	{ "ek_name", r_ek_name, false },
	{ "ek_cert_sha256", r_ek_sha256, true },
	{ "ek_cert_issuer", r_issuer, true },
	{ "ek_cert_subject", r_subject, false },
	{ "ek_cert_serial", r_serial, false },
	{ "label", r_label, false },
	{ "enrolled_at", r_time, true },
};

static int record_from_json(struct jctx *j, struct json_object *v, struct katls_enroll_record *r)
{
	void *saved = j->priv;
	int ret;

	memset(r, 0, sizeof(*r));
	j->priv = r;
	ret = JWALK(j, v, record_keys);
	j->priv = saved;
	return ret ?: record_consistent(j, r);
}

static int add_str(struct json_object *o, const char *key, const char *val)
{
	struct json_object *s = json_object_new_string(val);

	if (!s || json_object_object_add(o, key, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

static int add_hex(struct json_object *o, const char *key, const uint8_t *p, size_t len)
{
	char *hex = malloc(2 * len + 1);
	int ret;

	if (!hex)
		return -ENOMEM;
	katls_hex_encode(hex, p, len);
	ret = add_str(o, key, hex);
	OPENSSL_cleanse(hex, 2 * len);	/* may be a secret */
	free(hex);
	return ret;
}

static struct json_object *record_to_json(const struct katls_enroll_record *r)
{
	struct json_object *o = json_object_new_object();
	char when[21];
	int ret;

	if (!o)
		return NULL;
	katls_enroll_time_format(r->enrolled_at, when);
	ret = add_hex(o, "ak_name", r->ak_name, r->ak_name_len) ?:
	      add_hex(o, "ak_public", r->ak_public, r->ak_public_len) ?:
	      (r->ek_name_len ? add_hex(o, "ek_name", r->ek_name, r->ek_name_len) : 0) ?:
	      add_hex(o, "ek_cert_sha256", r->ek_cert_sha256, 32) ?:
	      add_str(o, "ek_cert_issuer", r->ek_cert_issuer ? r->ek_cert_issuer : "") ?:
	      (r->ek_cert_subject ? add_str(o, "ek_cert_subject", r->ek_cert_subject) : 0) ?:
	      (r->ek_cert_serial ? add_str(o, "ek_cert_serial", r->ek_cert_serial) : 0) ?:
	      (r->label ? add_str(o, "label", r->label) : 0) ?:
	      add_str(o, "enrolled_at", when);
	if (ret) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int record_copy(struct katls_enroll_record *dst, const struct katls_enroll_record *src)
{
	*dst = *src;
	dst->ak_public = malloc(src->ak_public_len ? src->ak_public_len : 1);
	dst->ek_cert_issuer = src->ek_cert_issuer ? strdup(src->ek_cert_issuer) : NULL;
	dst->ek_cert_subject = src->ek_cert_subject ? strdup(src->ek_cert_subject) : NULL;
	dst->ek_cert_serial = src->ek_cert_serial ? strdup(src->ek_cert_serial) : NULL;
	dst->label = src->label ? strdup(src->label) : NULL;
	if (!dst->ak_public || (src->ek_cert_issuer && !dst->ek_cert_issuer) ||
	    (src->ek_cert_subject && !dst->ek_cert_subject) ||
	    (src->ek_cert_serial && !dst->ek_cert_serial) || (src->label && !dst->label)) {
		katls_enroll_record_cleanup(dst);
		return -ENOMEM;
	}
	memcpy(dst->ak_public, src->ak_public, src->ak_public_len);
	return 0;
}

/* ---- the store ------------------------------------------------------------------------ */

static int name_cmp(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

	return c ? c : (a_len > b_len) - (a_len < b_len);
}

static int rec_cmp(const void *a, const void *b)
{
	const struct katls_enroll_record *x = a, *y = b;

	return name_cmp(x->ak_name, x->ak_name_len, y->ak_name, y->ak_name_len);
}

void katls_enroll_store_free(struct katls_enroll_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->num; i++)
		katls_enroll_record_cleanup(&s->rec[i]);
	free(s->rec);
	free(s);
}

static int store_record(struct jctx *j, struct json_object *v, size_t i)
{
	struct katls_enroll_store *s = j->priv;
	int ret;

	if (i >= MAX_RECORDS)
		return jerr(j, "more than %d enrollments", MAX_RECORDS);
	ret = record_from_json(j, v, &s->rec[i]);
	s->num = i + 1;		/* cleaned up by the caller, also when half-filled */
	return ret;
}

static int store_enrollments(struct jctx *j, struct json_object *v)
{
	struct katls_enroll_store *s = j->priv;
	size_t n;
	int ret = jwant(j, v, json_type_array);

	if (ret)
		return ret;
	n = json_object_array_length(v);
	if (s->rec)
		return jerr(j, "given twice");
	s->rec = calloc(n ? n : 1, sizeof(*s->rec));
	return s->rec ? jeach(j, v, false, store_record) : -ENOMEM;
}

static int store_version(struct jctx *j, struct json_object *v)
{
	int64_t n;
	int ret = jget_int(j, v, 0, INT32_MAX, &n);

	if (!ret && n != STORE_VERSION)
		return jerr(j, "version %lld is not supported (this katls reads %d)",
			    (long long)n, STORE_VERSION);
	return ret;
}

static const struct jkey store_keys[] = {
	{ "version", store_version, true },
	{ "enrollments", store_enrollments, true },
};

static int store_sorted(struct jctx *j, struct katls_enroll_store *s)
{
	char hex[2 * KATLS_TPM_NAME_MAX + 1];

	qsort(s->rec, s->num, sizeof(*s->rec), rec_cmp);
	for (size_t i = 1; i < s->num; i++) {
		if (!rec_cmp(&s->rec[i - 1], &s->rec[i])) {
			katls_hex_encode(hex, s->rec[i].ak_name, s->rec[i].ak_name_len);
			return jerr(j, "AK %s is enrolled twice", hex);
		}
	}
	return 0;
}

static int store_from_doc(struct jctx *j, const char *json, size_t len,
			  struct katls_enroll_store **out)
{
	struct katls_enroll_store *s = calloc(1, sizeof(*s));
	struct json_object *obj = NULL;
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	ret = jparse_doc(j, json, len, &obj);
	if (!ret) {
		j->priv = s;
		ret = JWALK(j, obj, store_keys);
		j->priv = NULL;
	}
	if (!ret)
		ret = store_sorted(j, s);
	json_object_put(obj);
	if (ret) {
		katls_enroll_store_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int katls_enroll_store_parse(const char *json, size_t len, struct katls_enroll_store **out,
			     char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(NULL, err, err_len);

	return store_from_doc(&j, json, len, out);
}

int katls_enroll_store_load(const char *path, struct katls_enroll_store **out,
			    char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(path, err, err_len);
	char *json = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	ret = jload(path, &json, &len, err, err_len);
	if (!ret)
		ret = store_from_doc(&j, json, len, out);
	free(json);
	return ret;
}

size_t katls_enroll_store_count(const struct katls_enroll_store *s)
{
	return s ? s->num : 0;
}

const struct katls_enroll_record *katls_enroll_store_get(const struct katls_enroll_store *s,
							  size_t i)
{
	return s && i < s->num ? &s->rec[i] : NULL;
}

const struct katls_enroll_record *katls_enroll_store_find(const struct katls_enroll_store *s,
							   const uint8_t *name, size_t name_len)
{
	size_t lo = 0, hi = s ? s->num : 0;

	if (!name || !name_len || name_len > KATLS_TPM_NAME_MAX)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct katls_enroll_record *r = &s->rec[mid];
		int c = name_cmp(name, name_len, r->ak_name, r->ak_name_len);

		if (!c)
			return r;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

bool katls_enroll_store_has_name(const struct katls_enroll_store *s, const uint8_t *name,
				 size_t name_len)
{
	return katls_enroll_store_find(s, name, name_len) != NULL;
}

const struct katls_enroll_record *
katls_enroll_store_find_public(const struct katls_enroll_store *s, const uint8_t *tpmt,
			       size_t tpmt_len)
{
	const struct katls_enroll_record *r;
	struct katls_tpm_public pub;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t n = 0;

	if (!tpmt || katls_quote_public_parse(tpmt, tpmt_len, &pub) ||
	    katls_quote_public_name(&pub, name, &n))
		return NULL;
	r = katls_enroll_store_find(s, name, n);
	if (!r || r->ak_public_len != tpmt_len || memcmp(r->ak_public, tpmt, tpmt_len))
		return NULL;
	return r;
}

int katls_enroll_primary_qualified_name(uint32_t hierarchy, const uint8_t *name,
					size_t name_len, uint8_t *out, size_t *out_len)
{
	uint8_t in[4 + KATLS_TPM_NAME_MAX];
	const EVP_MD *md;
	unsigned int n = 0;

	if (name_len < 2 || name_len > KATLS_TPM_NAME_MAX)
		return -EINVAL;
	switch (name[0] << 8 | name[1]) {
	case TPM2_ALG_SHA1:
		md = EVP_sha1();
		break;
	case TPM2_ALG_SHA256:
		md = EVP_sha256();
		break;
	case TPM2_ALG_SHA384:
		md = EVP_sha384();
		break;
	case TPM2_ALG_SHA512:
		md = EVP_sha512();
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (name_len != 2 + (size_t)EVP_MD_get_size(md))
		return -EINVAL;
	in[0] = (uint8_t)(hierarchy >> 24);
	in[1] = (uint8_t)(hierarchy >> 16);
	in[2] = (uint8_t)(hierarchy >> 8);
	in[3] = (uint8_t)hierarchy;
	memcpy(in + 4, name, name_len);
	if (!EVP_Digest(in, 4 + name_len, out + 2, &n, md, NULL))
		return -ENOMEM;
	out[0] = name[0];
	out[1] = name[1];
	*out_len = 2 + n;
	return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

static char *store_text(const struct katls_enroll_store *s)
{
	struct json_object *top = json_object_new_object(), *arr = json_object_new_array();
	char *text = NULL;
	struct json_object *version = json_object_new_int(STORE_VERSION);
	bool ok = top && arr && version && !json_object_object_add(top, "version", version);

	for (size_t i = 0; ok && i < s->num; i++) {
		struct json_object *r = record_to_json(&s->rec[i]);

		ok = r && !json_object_array_add(arr, r);
		if (!ok)
			json_object_put(r);
	}
	if (ok && !json_object_object_add(top, "enrollments", arr)) {
		arr = NULL;
		text = strdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	if (!ok && version && (!top || !json_object_object_get_ex(top, "version", NULL)))
		json_object_put(version);
	json_object_put(arr);
	json_object_put(top);
	return text;
}

/* Writes @text to a temporary file next to @path and renames it over @path. */
static int replace_file(const char *path, const char *text, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	size_t len = strlen(text);
	char *slash;
	int fd, dfd, ret = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode))
		ret = -errno;
	if (!ret)
		ret = katls_write_all(fd, text, len);
	if (!ret && write(fd, "\n", 1) != 1)
		ret = -EIO;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Replaces the record of the same AK Name in @s, or appends @rec. */
static int store_put(struct katls_enroll_store *s, const struct katls_enroll_record *rec)
{
	struct katls_enroll_record copy, *grown;
	const struct katls_enroll_record *old = katls_enroll_store_find(s, rec->ak_name,
									rec->ak_name_len);
	int ret = record_copy(&copy, rec);

	if (ret)
		return ret;
	if (old) {
		size_t i = (size_t)(old - s->rec);

		katls_enroll_record_cleanup(&s->rec[i]);
		s->rec[i] = copy;
		return 0;
	}
	grown = realloc(s->rec, (s->num + 1) * sizeof(*s->rec));
	if (!grown) {
		katls_enroll_record_cleanup(&copy);
		return -ENOMEM;
	}
	s->rec = grown;
	s->rec[s->num++] = copy;
	qsort(s->rec, s->num, sizeof(*s->rec), rec_cmp);
	return 0;
}

int katls_enroll_store_add(const char *path, const struct katls_enroll_record *rec,
			   char *err, size_t err_len)
{
	struct katls_enroll_store *s = NULL;
	char lock[PATH_MAX], *text = NULL;
	int fd, ret;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock))
		return -ENAMETOOLONG;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		ret = -errno;
		snprintf(err, err_len, "%s: cannot lock: %s", lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	ret = katls_enroll_store_load(path, &s, err, err_len);
	if (ret == -ENOENT) {
		s = calloc(1, sizeof(*s));
		ret = s ? 0 : -ENOMEM;
	}
	if (!ret)
		ret = store_put(s, rec);
	if (!ret && !(text = store_text(s)))
		ret = -ENOMEM;
	if (!ret) {
		ret = replace_file(path, text, 0644);
		if (ret)
			snprintf(err, err_len, "%s: cannot write: %s", path, strerror(-ret));
	}
	free(text);
	katls_enroll_store_free(s);
	close(fd);		/* releases the lock */
	return ret;
}

/* ---- pending challenges (the registrar's state) -------------------------------------------- */

struct pending {
	char *id;
	int64_t created;
	uint8_t secret[KATLS_CRED_DIGEST_MAX];
	size_t secret_len;
	struct katls_enroll_record *rec;
	bool have_rec;
};

static struct pending *pend(struct jctx *j)
{
	return j->priv;
}

static int p_id(struct jctx *j, struct json_object *v)
{
	int ret = get_text(j, v, KATLS_ENROLL_ID_HEX - 1, false, false, &pend(j)->id);

	if (!ret && strlen(pend(j)->id) != KATLS_ENROLL_ID_HEX - 1)
		return jerr(j, "expected %d hex digits", KATLS_ENROLL_ID_HEX - 1);
	for (const char *s = pend(j)->id; !ret && *s; s++)
		if (katls_hex_digit_lower(*s) < 0)
			return jerr(j, "expected lowercase hex");
	return ret;
}

static int p_created(struct jctx *j, struct json_object *v)
{
	return get_time(j, v, &pend(j)->created);
}

static int p_secret(struct jctx *j, struct json_object *v)
{
	return get_hex(j, v, KATLS_CRED_DIGEST_MAX, false, pend(j)->secret,
		       &pend(j)->secret_len);
}

static int p_record(struct jctx *j, struct json_object *v)
{
	struct pending *p = pend(j);
	int ret;

	if (p->have_rec)
		return jerr(j, "given twice");
	ret = record_from_json(j, v, p->rec);
	p->have_rec = true;
	return ret;
}

static const struct jkey pending_keys[] = {
	{ "version", store_version, true },
	{ "id", p_id, true },
	{ "created", p_created, true },
	{ "secret", p_secret, true },
	{ "record", p_record, true },
};

int katls_enroll_pending_parse(const char *json, size_t len, char id[KATLS_ENROLL_ID_HEX],
			       int64_t *created, uint8_t *secret, size_t *secret_len,
			       struct katls_enroll_record *rec, char *err, size_t err_len)
{
	struct jctx j = JCTX_INIT(NULL, err, err_len);
	struct pending p = { .rec = rec };
	struct json_object *obj = NULL;
	int ret;

	memset(rec, 0, sizeof(*rec));
	ret = jparse_doc(&j, json, len, &obj);
	if (!ret) {
		j.priv = &p;
		ret = JWALK(&j, obj, pending_keys);
	}
	json_object_put(obj);
	if (!ret) {
		memcpy(id, p.id, KATLS_ENROLL_ID_HEX);
		*created = p.created;
		memcpy(secret, p.secret, p.secret_len);
		*secret_len = p.secret_len;
	} else {
		katls_enroll_record_cleanup(rec);
	}
	free(p.id);
	OPENSSL_cleanse(p.secret, sizeof(p.secret));
	return ret;
}

int katls_enroll_pending_encode(const char *id, int64_t created, const uint8_t *secret,
				size_t secret_len, const struct katls_enroll_record *rec,
				char **out, char *err, size_t err_len)
{
	struct json_object *o = json_object_new_object(), *r = record_to_json(rec);
	const char *text;
	char when[21];
	int ret;

	*out = NULL;
	katls_enroll_time_format(created, when);
	ret = o && r ? 0 : -ENOMEM;
	if (!ret)
		ret = json_object_object_add(o, "version", json_object_new_int(STORE_VERSION)) ?
		      -ENOMEM : add_str(o, "id", id) ?: add_str(o, "created", when) ?:
		      add_hex(o, "secret", secret, secret_len);
	if (!ret && json_object_object_add(o, "record", r))
		ret = -ENOMEM;
	else if (!ret)
		r = NULL;
	if (!ret) {
		text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
		*out = text ? strdup(text) : NULL;
		ret = *out ? 0 : -ENOMEM;
		/* json-c keeps the text in the object: wipe it with the object */
		if (text)
			OPENSSL_cleanse((char *)text, strlen(text));
	}
	if (ret)
		snprintf(err, err_len, "pending challenge: %s", strerror(-ret));
	json_object_put(r);
	if (o && json_object_object_get_ex(o, "secret", &r) && json_object_get_string(r))
		OPENSSL_cleanse((char *)json_object_get_string(r),
				(size_t)json_object_get_string_len(r));
	json_object_put(o);
	return ret;
}
