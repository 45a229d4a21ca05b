// SPDX-License-Identifier: MIT
/*
 * Strict JSON walking for the policy parsers; see json.h.  json-c does the
 * tokenizing; this file adds what it lacks: typed getters that reject wrong
 * types, walkers that reject unknown keys, and error messages that name the
 * JSON path of the offending value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "appraisal/ima.h"		/* KATLS_IMA_MAX_DIGEST */
#include "util/hex.h"
#include "util/json.h"

int jerr(struct jctx *j, const char *fmt, ...)
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
size_t jpush(struct jctx *j, const char *key)
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

size_t jpush_index(struct jctx *j, size_t i)
{
	size_t old = j->plen;
	char idx[32], *d = idx + sizeof(idx) - 1;

	/* by hand: a 100k-element array pushes 100k indexes */
	*d = '\0';
	*--d = ']';
	do
		*--d = (char)('0' + i % 10);
	while (i /= 10);
	*--d = '[';
	jappend(j, d);
	return old;
}

void jpop(struct jctx *j, size_t old)
{
	j->plen = old;
	j->path[old] = '\0';
}

static const char *type_name(struct json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

int jwant(struct jctx *j, struct json_object *v, enum json_type t)
{
	if (json_object_get_type(v) != t)
		return jerr(j, "expected %s, got %s", json_type_to_name(t), type_name(v));
	return 0;
}

int jget_str(struct jctx *j, struct json_object *v, const char **s, size_t *len)
{
	int ret = jwant(j, v, json_type_string);

	if (ret)
		return ret;
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (strlen(*s) != *len)
		return jerr(j, "string contains a NUL character");
	return 0;
}

int jany_str(struct jctx *j, struct json_object *v)
{
	const char *s;
	size_t len;

	return jget_str(j, v, &s, &len);
}

int jget_bool(struct jctx *j, struct json_object *v, bool *out)
{
	int ret = jwant(j, v, json_type_boolean);

	if (!ret)
		*out = json_object_get_boolean(v);
	return ret;
}

int jget_int(struct jctx *j, struct json_object *v, int64_t min, int64_t max,
	     int64_t *out)
{
	int ret = jwant(j, v, json_type_int);
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

/* Hex text of @len chars into @out; @want = expected bytes, 0 = 1..64. */
int jparse_hex(struct jctx *j, const char *s, size_t len, size_t want_bytes,
	       uint8_t *out, size_t *out_len)
{
	if (len % 2 || !len || len > 2 * KATLS_IMA_MAX_DIGEST ||
	    (want_bytes && len != 2 * want_bytes)) {
		if (want_bytes)
			return jerr(j, "expected %zu hex digits, got %zu", 2 * want_bytes, len);
		return jerr(j, "expected an even number (2..128) of hex digits, got %zu", len);
	}
	for (size_t i = 0; i < len; i += 2) {
		int hi = katls_hex_digit(s[i]), lo = katls_hex_digit(s[i + 1]);

		if ((hi | lo) < 0)
			return jerr(j, "invalid hex digit at position %zu", hi < 0 ? i : i + 1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = len / 2;
	return 0;
}

int jget_hex(struct jctx *j, struct json_object *v, size_t want_bytes,
	     uint8_t *out, size_t *out_len)
{
	const char *s;
	size_t len;

	return jget_str(j, v, &s, &len) ?: jparse_hex(j, s, len, want_bytes, out, out_len);
}

int jwalk(struct jctx *j, struct json_object *obj, const struct jkey *keys, size_t n)
{
	int ret = jwant(j, obj, json_type_object);

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

int jmembers(struct jctx *j, struct json_object *v,
	     int (*fn)(struct jctx *j, const char *key, struct json_object *val))
{
	int ret = jwant(j, v, json_type_object);

	if (ret)
		return ret;
	json_object_object_foreach(v, k, val) {
		size_t old = jpush(j, k);

		ret = fn(j, k, val);
		if (ret)
			return ret;
		jpop(j, old);
	}
	return 0;
}

static int str_elem(struct jctx *j, struct json_object *v,
		    int (*fn)(struct jctx *j, const char *s, size_t len))
{
	const char *s;
	size_t len;
	int ret = jget_str(j, v, &s, &len);

	return ret ?: fn(j, s, len);
}

/* Calls @fn (or @sfn on its string) on each element; @nonempty rejects []. */
static int each_elem(struct jctx *j, struct json_object *v, bool nonempty,
		     int (*fn)(struct jctx *j, struct json_object *elem, size_t i),
		     int (*sfn)(struct jctx *j, const char *s, size_t len))
{
	size_t n;
	int ret = jwant(j, v, json_type_array);

	if (ret)
		return ret;
	n = json_object_array_length(v);
	if (nonempty && !n)
		return jerr(j, "must not be empty");
	for (size_t i = 0; i < n; i++) {
		size_t old = jpush_index(j, i);
		struct json_object *elem = json_object_array_get_idx(v, i);

		ret = fn ? fn(j, elem, i) : str_elem(j, elem, sfn);
		if (ret)
			return ret;
		jpop(j, old);
	}
	return 0;
}

int jeach(struct jctx *j, struct json_object *v, bool nonempty,
	  int (*fn)(struct jctx *j, struct json_object *elem, size_t i))
{
	return each_elem(j, v, nonempty, fn, NULL);
}

int jeach_str(struct jctx *j, struct json_object *v, bool nonempty,
	      int (*fn)(struct jctx *j, const char *s, size_t len))
{
	return each_elem(j, v, nonempty, NULL, fn);
}

/* Reads a regular file of at most KATLS_JSON_MAX_FILE bytes, NUL-terminated. */
int katls_read_file(const char *path, char **out, size_t *out_len)
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
	else if (st.st_size > KATLS_JSON_MAX_FILE)
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
int jparse_doc(struct jctx *j, const char *json, size_t len, struct json_object **out)
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

int jload(const char *path, char **json, size_t *len, char *err, size_t err_len)
{
	int ret = katls_read_file(path, json, len);

	if (ret && err && err_len)
		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
	return ret;
}

/* ---- streaming reader ------------------------------------------------------- */

#define JSCAN_MAX_DEPTH	64

static int truncated(struct jscan *s)
{
	return jerr(s->j, "JSON document is truncated");
}

static int invalid(struct jscan *s, const char *what)
{
	return jerr(s->j, "invalid JSON at byte %zu: %s", (size_t)(s->p - s->start), what);
}

void jscan_init(struct jscan *s, struct jctx *j, const char *json, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->j = j;
	s->start = s->p = json;
	s->end = json + len;
}

void jscan_cleanup(struct jscan *s)
{
	free(s->str);
	free(s->key);
	s->str = s->key = NULL;
	s->str_cap = s->key_cap = 0;
}

static void skip_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

/*
 * A number at s->p, by RFC 8259's grammar: *@end past it, *@is_int when it
 * has no fraction or exponent.  Return: 0 or an error.
 */
static int number(struct jscan *s, const char **end, bool *is_int)
{
	const char *q = s->p;

	if (q < s->end && *q == '-')
		q++;
	if (q == s->end)
		return truncated(s);
	if (*q == '0')
		q++;
	else if (*q >= '1' && *q <= '9')
		while (q < s->end && *q >= '0' && *q <= '9')
			q++;
	else
		return invalid(s, "malformed number");
	*is_int = true;
	if (q < s->end && *q == '.') {
		*is_int = false;
		if (++q == s->end || *q < '0' || *q > '9')
			return invalid(s, "malformed number");
		while (q < s->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < s->end && (*q == 'e' || *q == 'E')) {
		*is_int = false;
		if (++q < s->end && (*q == '+' || *q == '-'))
			q++;
		if (q == s->end || *q < '0' || *q > '9')
			return invalid(s, "malformed number");
		while (q < s->end && *q >= '0' && *q <= '9')
			q++;
	}
	*end = q;
	return 0;
}

/* The type of the next value, from its first bytes (numbers: scanned). */
static int peek(struct jscan *s, enum json_type *t)
{
	const char *end;
	bool is_int = false;
	int ret;

	skip_ws(s);
	if (s->p == s->end)
		return truncated(s);
	switch (*s->p) {
	case '{':
		*t = json_type_object;
		return 0;
	case '[':
		*t = json_type_array;
		return 0;
	case '"':
		*t = json_type_string;
		return 0;
	case 't':
	case 'f':
		*t = json_type_boolean;
		return 0;
	case 'n':
		*t = json_type_null;
		return 0;
	case '-':
	case '0' ... '9':
		ret = number(s, &end, &is_int);
		*t = is_int ? json_type_int : json_type_double;
		return ret;
	default:
		return invalid(s, "unexpected character");
	}
}

static int want(struct jscan *s, enum json_type t)
{
	enum json_type got = json_type_null;
	int ret = peek(s, &got);

	if (ret)
		return ret;
	if (got != t)
		return jerr(s->j, "expected %s, got %s", json_type_to_name(t),
			    json_type_to_name(got));
	return 0;
}

static int put_char(char **buf, size_t *cap, size_t *n, char c)
{
	if (*n + 1 >= *cap) {
		size_t ncap = *cap ? 2 * *cap : 256;
		char *q = realloc(*buf, ncap);

		if (!q)
			return -ENOMEM;
		*buf = q;
		*cap = ncap;
	}
	(*buf)[(*n)++] = c;
	return 0;
}

static int put_utf8(char **buf, size_t *cap, size_t *n, uint32_t cp)
{
	int ret;

	if (cp < 0x80)
		return put_char(buf, cap, n, (char)cp);
	if (cp < 0x800)
		return put_char(buf, cap, n, (char)(0xc0 | cp >> 6)) ?:
		       put_char(buf, cap, n, (char)(0x80 | (cp & 0x3f)));
	if (cp < 0x10000)
		ret = put_char(buf, cap, n, (char)(0xe0 | cp >> 12));
	else
		ret = put_char(buf, cap, n, (char)(0xf0 | cp >> 18)) ?:
		      put_char(buf, cap, n, (char)(0x80 | ((cp >> 12) & 0x3f)));
	return ret ?: put_char(buf, cap, n, (char)(0x80 | ((cp >> 6) & 0x3f))) ?:
	       put_char(buf, cap, n, (char)(0x80 | (cp & 0x3f)));
}

static int hex4(struct jscan *s, uint32_t *out)
{
	*out = 0;
	if (s->end - s->p < 4)
		return truncated(s);
	for (int i = 0; i < 4; i++) {
		int d = katls_hex_digit(*s->p++);

		if (d < 0)
			return invalid(s, "bad \\u escape");
		*out = *out << 4 | (uint32_t)d;
	}
	return 0;
}

/* One escape after the backslash: the character it stands for, as UTF-8. */
static int escape(struct jscan *s, char **buf, size_t *cap, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	uint32_t cp, lo;
	int ret;

	if (s->p == s->end)
		return truncated(s);
	e = *s->p ? strchr(from, *s->p) : NULL;
	if (e) {
		s->p++;
		return put_char(buf, cap, n, to[e - from]);
	}
	if (*s->p++ != 'u')
		return invalid(s, "bad escape");
	ret = hex4(s, &cp);
	if (ret)
		return ret;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return invalid(s, "lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (s->end - s->p < 2)
			return truncated(s);
		if (s->p[0] != '\\' || s->p[1] != 'u')
			return invalid(s, "lone high surrogate");
		s->p += 2;
		ret = hex4(s, &lo);
		if (ret)
			return ret;
		if (lo < 0xdc00 || lo > 0xdfff)
			return invalid(s, "lone high surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return put_utf8(buf, cap, n, cp);
}

/* Length of the UTF-8 sequence at @p (RFC 3629: shortest form, no surrogates), 0 if bad. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	size_t n;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* ASCII but controls, '"' and '\\': what a string's bytes mostly are. */
static const bool plain[256] = {
	[' '] = 1, ['!'] = 1, ['#' ... '['] = 1, [']' ... 0x7f] = 1,
};

/*
 * The string at s->p (its opening quote), decoded into *@buf, NUL-terminated;
 * *@nul tells whether it contains a NUL (from a \\u0000 escape).
 */
static int string(struct jscan *s, char **buf, size_t *cap, size_t *len, bool *nul)
{
	size_t n = 0;
	int ret = 0;

	*nul = false;
	s->p++;
	while (!ret) {
		const char *run = s->p;

		/* the common case: a run of plain ASCII, copied at once */
		while (s->p < s->end && plain[(unsigned char)*s->p])
			s->p++;
		if (s->p > run) {
			size_t k = (size_t)(s->p - run);

			if (n + k + 1 > *cap) {
				size_t ncap = *cap ? *cap : 256;
				char *q;

				while (ncap < n + k + 1)
					ncap *= 2;
				q = realloc(*buf, ncap);
				if (!q)
					return -ENOMEM;
				*buf = q;
				*cap = ncap;
			}
			memcpy(*buf + n, run, k);
			n += k;
		}
		if (s->p == s->end)
			return truncated(s);
		if (*s->p == '"') {
			s->p++;
			break;
		}
		if (*s->p == '\\') {
			s->p++;
			ret = escape(s, buf, cap, &n);
			*nul |= !ret && !(*buf)[n - 1];
		} else if ((unsigned char)*s->p < 0x20) {
			return invalid(s, "control character in a string");
		} else {
			size_t k = utf8_len((const unsigned char *)s->p, (size_t)(s->end - s->p));

			if (!k)
				return invalid(s, "invalid UTF-8");
			for (size_t i = 0; !ret && i < k; i++)
				ret = put_char(buf, cap, &n, *s->p++);
		}
	}
	if (!ret)
		ret = put_char(buf, cap, &n, '\0');
	*len = n - 1;
	return ret;
}

/* What follows a value in a container: ',' (more) or @close. 1 = more, 0 = closed. */
static int next_or_close(struct jscan *s, char close)
{
	skip_ws(s);
	if (s->p == s->end)
		return truncated(s);
	if (*s->p == ',') {
		s->p++;
		return 1;
	}
	if (*s->p == close) {
		s->p++;
		return 0;
	}
	return invalid(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* The opening of a container of type @t: 0 (a value follows), 1 (empty: closed), or an error. */
static int open_container(struct jscan *s, enum json_type t, char close)
{
	int ret = want(s, t);

	if (ret)
		return ret;
	if (++s->depth > JSCAN_MAX_DEPTH)
		return invalid(s, "nested too deeply");
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 1;
	}
	return 0;
}

/* Members of the object at s->p; @member reads each value (path not pushed). */
static int members(struct jscan *s, int (*member)(struct jscan *s, const char *key, void *arg),
		   void *arg)
{
	bool nul;
	size_t len;
	int ret = open_container(s, json_type_object, '}');

	if (ret)
		return ret < 0 ? ret : 0;
	do {
		skip_ws(s);
		if (s->p == s->end)
			return truncated(s);
		if (*s->p != '"')
			return invalid(s, "expected a key");
		ret = string(s, &s->key, &s->key_cap, &len, &nul);
		if (ret)
			return ret;
		if (nul)
			return jerr(s->j, "key contains a NUL character");
		skip_ws(s);
		if (s->p == s->end)
			return truncated(s);
		if (*s->p++ != ':')
			return invalid(s, "expected ':'");
		ret = member(s, s->key, arg);
		if (ret)
			return ret;
		ret = next_or_close(s, '}');
	} while (ret == 1);
	s->depth--;
	return ret;
}

struct object_fn {
	int (*member)(struct jscan *s, const char *key, void *arg);
	void *arg;
};

static int pushed_member(struct jscan *s, const char *key, void *arg)
{
	const struct object_fn *o = arg;
	size_t old = jpush(s->j, key);
	int ret = o->member(s, key, o->arg);

	if (!ret)
		jpop(s->j, old);
	return ret;
}

int jscan_object(struct jscan *s, int (*member)(struct jscan *s, const char *key, void *arg),
		 void *arg)
{
	struct object_fn o = { member, arg };

	return members(s, pushed_member, &o);
}

struct keys_fn {
	const struct jscan_key *keys;
	size_t n;
	uint64_t seen;
	void *arg;
};

static int known_member(struct jscan *s, const char *key, void *arg)
{
	struct keys_fn *k = arg;
	size_t i, old;
	int ret;

	for (i = 0; i < k->n && strcmp(k->keys[i].key, key); i++)
		;
	if (i == k->n || (k->seen & (1ull << i))) {
		char shown[64];

		snprintf(shown, sizeof(shown), "%s", key);
		for (char *c = shown; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
		return jerr(s->j, i == k->n ? "unknown key \"%s\"" : "key \"%s\" appears twice",
			    shown);
	}
	k->seen |= 1ull << i;
	old = jpush(s->j, key);
	ret = k->keys[i].fn(s, k->arg);
	if (!ret)
		jpop(s->j, old);
	return ret;
}

int jscan_keys(struct jscan *s, const struct jscan_key *keys, size_t n, void *arg)
{
	struct keys_fn k = { keys, n, 0, arg };
	int ret;

	if (n > 64)
		return -EINVAL;
	ret = members(s, known_member, &k);
	for (size_t i = 0; !ret && i < n; i++)
		if (keys[i].required && !(k.seen & (1ull << i)))
			return jerr(s->j, "missing required key \"%s\"", keys[i].key);
	return ret;
}

int jscan_array(struct jscan *s, bool nonempty,
		int (*elem)(struct jscan *s, size_t i, void *arg), void *arg)
{
	int ret = open_container(s, json_type_array, ']');
	size_t i = 0;

	if (ret < 0)
		return ret;
	if (ret)
		return nonempty ? jerr(s->j, "must not be empty") : 0;
	do {
		size_t old = jpush_index(s->j, i);

		ret = elem(s, i++, arg);
		if (ret)
			return ret;
		jpop(s->j, old);
		ret = next_or_close(s, ']');
	} while (ret == 1);
	s->depth--;
	return ret;
}

int jscan_str(struct jscan *s, const char **out, size_t *len)
{
	bool nul;
	int ret = want(s, json_type_string);

	if (!ret)
		ret = string(s, &s->str, &s->str_cap, len, &nul);
	if (ret)
		return ret;
	if (nul)
		return jerr(s->j, "string contains a NUL character");
	*out = s->str;
	return 0;
}

int jscan_int(struct jscan *s, int64_t min, int64_t max, int64_t *out)
{
	const char *end, *q;
	uint64_t mag = 0;
	bool is_int, neg, over = false;
	int ret = want(s, json_type_int);

	if (!ret)
		ret = number(s, &end, &is_int);
	if (ret)
		return ret;
	neg = *s->p == '-';
	for (q = s->p + neg; q < end; q++) {
		unsigned int d = (unsigned int)(*q - '0');

		over |= mag > (UINT64_MAX - d) / 10;
		mag = mag * 10 + d;
	}
	s->p = end;
	over |= neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX;
	if (!over) {
		*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		if (*out >= min && *out <= max)
			return 0;
	}
	return jerr(s->j, "integer out of range %lld..%lld", (long long)min, (long long)max);
}

int jscan_null(struct jscan *s)
{
	int ret = want(s, json_type_null);

	if (ret)
		return ret;
	if (s->end - s->p < 4 || memcmp(s->p, "null", 4))
		return s->end - s->p < 4 ? truncated(s) : invalid(s, "unexpected character");
	s->p += 4;
	return 0;
}

int jscan_peek(struct jscan *s, enum json_type *t)
{
	return peek(s, t);
}

int jscan_end(struct jscan *s)
{
	skip_ws(s);
	return s->p == s->end ? 0 : jerr(s->j, "trailing data at byte %zu",
					 (size_t)(s->p - s->start));
}
