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

#include "hex.h"
#include "ima.h"		/* KATLS_IMA_MAX_DIGEST */
#include "json.h"

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
	char idx[32];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	jappend(j, idx);
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

		if (hi < 0 || lo < 0)
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
