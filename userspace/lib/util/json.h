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

/* ---- streaming reader -------------------------------------------------------- */

/*
 * A strict pull reader over JSON text that builds no tree, for documents too
 * large for a json-c DOM (a Keylime runtime policy of 100k digests: json-c
 * alone takes 100-300 ms and 100k allocations).  The caller reads each value
 * with the call for the type it expects.  The rules are jparse_doc()'s
 * (RFC 8259, UTF-8 checked, no comments, whitespace only after the
 * document), plus: a key may not appear twice in an object read with
 * jscan_keys(), and strings may not contain NUL.  Errors go through jerr()
 * and name the JSON path and, like the json-c walker, the type found:
 * "$.digests[\"/x\"]: expected array, got string".
 */
struct jscan {
	struct jctx *j;
	const char *start, *p, *end;
	char *str, *key;		/* decoded string value and member key */
	size_t str_cap, key_cap;
	unsigned int depth;
};

/* A key of an object read with jscan_keys(); @fn reads its value. */
struct jscan_key {
	const char *key;
	int (*fn)(struct jscan *s, void *arg);
	bool required;
};

/** jscan_init() - read @len bytes of @json; errors into @j. */
void jscan_init(struct jscan *s, struct jctx *j, const char *json, size_t len);
/** jscan_cleanup() - free the decoding buffers. */
void jscan_cleanup(struct jscan *s);
/** jscan_peek() - the type of the next value (a number is scanned to tell int from double). */
int jscan_peek(struct jscan *s, enum json_type *t);
/** jscan_end() - only whitespace may follow the document. */
int jscan_end(struct jscan *s);
/** jscan_keys() - an object of known keys (unknown, repeated or missing required: errors). */
int jscan_keys(struct jscan *s, const struct jscan_key *keys, size_t n, void *arg);
#define JSCAN_KEYS(s, keys, arg)	jscan_keys((s), (keys), sizeof(keys) / sizeof((keys)[0]), (arg))
/**
 * jscan_object() - an object of any keys: @member reads each value; @key
 * (NUL-terminated, no NUL inside) is valid until the value reads an object.
 */
int jscan_object(struct jscan *s, int (*member)(struct jscan *s, const char *key, void *arg),
		 void *arg);
/** jscan_array() - @elem reads each element; @nonempty rejects []. */
int jscan_array(struct jscan *s, bool nonempty,
		int (*elem)(struct jscan *s, size_t i, void *arg), void *arg);
/** jscan_str() - a string (valid until the next string is read), and its length. */
int jscan_str(struct jscan *s, const char **out, size_t *len);
/** jscan_int() - an integer in @min..@max. */
int jscan_int(struct jscan *s, int64_t min, int64_t max, int64_t *out);
/** jscan_null() - the literal null. */
int jscan_null(struct jscan *s);

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
