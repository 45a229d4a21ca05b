/* SPDX-License-Identifier: MIT */
/*
 * Just enough HTTP/1.x (RFC 9112) for a metrics scraper: the request parser
 * and the response head of katlsd's metrics endpoint (metrics_server.c).
 * Pure functions over caller buffers: no I/O, no allocation, no state, so
 * they are unit-tested and fuzzed on their own (tests/unit/test_http.c,
 * tests/fuzz/fuzz_http.c).
 */
#ifndef KATLSD_HTTP_H
#define KATLSD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* The request line and header section together, CRLFs included. */
#define KATLSD_HTTP_HEAD_MAX	4096
/* The request line alone (method, target, version). */
#define KATLSD_HTTP_LINE_MAX	1024
/* The only resource. */
#define KATLSD_HTTP_PATH	"/metrics"

struct katlsd_http_req {
	/*
	 * 0: incomplete, read more (only while fewer than KATLSD_HTTP_HEAD_MAX
	 * bytes came); 200: GET or HEAD /metrics; else the error status to
	 * answer with: 400, 404, 405, 414, 431 or 505.
	 */
	int status;
	const char *why;	/* the error's one-line explanation (static), or "" */
	bool head;		/* HEAD: the same head, no body */
};

/**
 * katlsd_http_parse() - judge the first @in_len bytes a client sent
 *
 * Reads complete lines only (CRLF, or a bare LF), up to the empty line that
 * ends the header section; bytes after it are never looked at.  A syntax
 * error in a complete line is reported at once; so once a prefix of the
 * input gets a non-zero status, every longer input gets the same one.
 * Accepts: "GET" or "HEAD", an origin-form target whose path is exactly
 * /metrics (a query is ignored), HTTP/1.0 or HTTP/1.1 (1.1 with exactly one
 * Host field), no request body (Content-Length other than 0, or any
 * Transfer-Encoding, is an error), no obsolete line folding.
 *
 * Return: @out->status.
 */
int katlsd_http_parse(const char *in, size_t in_len, struct katlsd_http_req *out);

/* The reason phrase of @status ("OK", "Not Found", ...); "Error" if unknown. */
const char *katlsd_http_reason(int status);

/**
 * katlsd_http_head() - write a response head into @out
 * @ctype:    Content-Type of the body
 * @body_len: its length (sent as Content-Length even for HEAD)
 * @extra:    further header lines, each ending in "\r\n", or NULL
 *
 * Always "Connection: close": one request per connection.
 * Return: the length written (without a NUL), or 0 if @out_len is too small.
 */
size_t katlsd_http_head(char *out, size_t out_len, int status, const char *ctype,
			size_t body_len, const char *extra);

#endif /* KATLSD_HTTP_H */
