/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON walking on top of json-c, private to libkatls (policy.c,
 * runtime_policy.c).  Typed getters reject wrong types, walkers reject
 * unknown keys, and every error names the JSON path of the offending value:
 * "<file>: $.ima.runtime_policy: expected string, got int".
 *
 * All functions return 0, -EINVAL (message in j->err) or -ENOMEM.  On error
 * the path is left pointing at the offending value.
 */
#ifndef KATLS_JSON_H
#define KATLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Largest file katls_read_file() reads. */
#define KATLS_JSON_MAX_FILE	(256u << 20)

struct jctx {
	const char *file;		/* message prefix, may be NULL */
	const char *base_dir;		/* NULL: keep relative paths */
	char *err;
	size_t err_len;
	char path[256];			/* JSON path of the current value */
	size_t plen;
	void *priv;			/* the walker's state */
};

/* A context whose path is "$" (the document root). */
#define JCTX_INIT(file_, err_, err_len_) \
	{ .file = (file_), .err = (err_), .err_len = (err_len_), .path = "$", .plen = 1 }

typedef int (*jfn)(struct jctx *j, struct json_object *v);

struct jkey {
	const char *key;
	jfn fn;
	bool required;
};

/** jerr() - format "<file>: <path>: <message>" into j->err. Return: -EINVAL. */
__attribute__((format(printf, 2, 3)))
int jerr(struct jctx *j, const char *fmt, ...);
/** jpush() - append .key or ["key"] to the path. Return: what jpop() restores. */
size_t jpush(struct jctx *j, const char *key);
/** jpush_index() - append [i] to the path. Return: what jpop() restores. */
size_t jpush_index(struct jctx *j, size_t i);
/** jpop() - restore the path saved by jpush() or jpush_index(). */
void jpop(struct jctx *j, size_t old);

/** jwant() - @v must have type @t. */
int jwant(struct jctx *j, struct json_object *v, enum json_type t);
/** jget_str() - a string without NUL characters, and its length. */
int jget_str(struct jctx *j, struct json_object *v, const char **s, size_t *len);
/** jany_str() - any string: a key that is checked but ignored. */
int jany_str(struct jctx *j, struct json_object *v);
/** jget_bool() - a boolean. */
int jget_bool(struct jctx *j, struct json_object *v, bool *out);
/** jget_int() - an integer in @min..@max. */
int jget_int(struct jctx *j, struct json_object *v, int64_t min, int64_t max,
	     int64_t *out);
/**
 * jparse_hex() - hex text of @len chars into @out; @want_bytes is the
 * expected size, 0 for any of 1..KATLS_IMA_MAX_DIGEST bytes.
 */
int jparse_hex(struct jctx *j, const char *s, size_t len, size_t want_bytes,
	       uint8_t *out, size_t *out_len);
/** jget_hex() - jparse_hex() of a string value. */
int jget_hex(struct jctx *j, struct json_object *v, size_t want_bytes,
	     uint8_t *out, size_t *out_len);

/** jwalk() - call the handler of each key of object @obj; see struct jkey. */
int jwalk(struct jctx *j, struct json_object *obj, const struct jkey *keys, size_t n);
#define JWALK(j, obj, keys)	jwalk((j), (obj), (keys), sizeof(keys) / sizeof((keys)[0]))
/** jmembers() - call @fn on each member of object @v, the path naming it. */
int jmembers(struct jctx *j, struct json_object *v,
	     int (*fn)(struct jctx *j, const char *key, struct json_object *val));
/** jeach() - call @fn on each element of array @v; @nonempty rejects []. */
int jeach(struct jctx *j, struct json_object *v, bool nonempty,
	  int (*fn)(struct jctx *j, struct json_object *elem, size_t i));
/** jeach_str() - jeach() over an array of strings (see jget_str()). */
int jeach_str(struct jctx *j, struct json_object *v, bool nonempty,
	      int (*fn)(struct jctx *j, const char *s, size_t len));

/** jparse_doc() - parse a whole document: no comments, no trailing data. */
int jparse_doc(struct jctx *j, const char *json, size_t len, struct json_object **out);
/**
 * katls_read_file() - read a regular file of at most KATLS_JSON_MAX_FILE
 * bytes, NUL-terminated.  Return: 0, -errno, -EINVAL (not a regular file),
 * -EFBIG, -EIO, -ENOMEM.
 */
int katls_read_file(const char *path, char **out, size_t *out_len);
/**
 * jload() - katls_read_file() of @path into *@json; on failure writes
 * "<path>: <strerror>" into @err.
 */
int jload(const char *path, char **json, size_t *len, char *err, size_t err_len);

/*
 * The runtime policy parsers (runtime_policy.c), for policy.c: from a parsed
 * object, or from a whole document, naming paths relative to @j.
 */
struct katls_runtime_policy;
int katls_runtime_policy_from_json(struct jctx *j, struct json_object *v,
				   struct katls_runtime_policy **out);
int katls_runtime_policy_from_doc(struct jctx *j, const char *json, size_t len,
				  struct katls_runtime_policy **out);

#endif /* KATLS_JSON_H */
