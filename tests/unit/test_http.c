// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint's request parser (userspace/daemon/http.c): valid
 * GET and HEAD requests in their allowed spellings, each malformed shape
 * with the status a scraper gets (400, 404, 405, 414, 431, 505), the size
 * limits at their exact boundaries, byte-at-a-time arrival, and that a
 * status once given for a prefix never changes with more bytes.  http.c is
 * part of katlsd, so it is included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../userspace/daemon/http.c"

static int parse(const char *s, struct katlsd_http_req *r)
{
	return katlsd_http_parse(s, strlen(s), r);
}

static void want(const char *req, int status)
{
	struct katlsd_http_req r;
	int got = parse(req, &r);

	if (got != status)
		fail_msg("want %d, got %d (%s) for: %s", status, got, r.why, req);
	assert_int_equal(r.status, status);
	if (status && status != 200)
		assert_true(r.why && *r.why);	/* a one-line explanation for the body */
}

/*
 * Every prefix either waits (0) or already has the whole request's status:
 * the answer does not depend on how the client's bytes are split.
 */
static void want_prefixes(const char *req, size_t len)
{
	struct katlsd_http_req full, r;

	katlsd_http_parse(req, len, &full);
	for (size_t k = 0; k < len; k++) {
		katlsd_http_parse(req, k, &r);
		if (r.status && r.status != full.status)
			fail_msg("prefix %zu: %d, whole: %d", k, r.status, full.status);
	}
}

static void test_valid(void **state)
{
	struct katlsd_http_req r;

	(void)state;
	want("GET /metrics HTTP/1.1\r\nHost: localhost:9466\r\n\r\n", 200);
	/* what Prometheus sends */
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9466\r\n"
			       "User-Agent: Prometheus/2.45.0\r\nAccept: application/openmetrics-text;"
			       "version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
			       "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
			       &r), 200);
	assert_false(r.head);
	assert_int_equal(parse("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r), 200);
	assert_true(r.head);
	want("GET /metrics HTTP/1.0\r\n\r\n", 200);		/* 1.0: Host optional */
	want("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n", 200);
	want("GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\n\r\n", 200);	/* query ignored */
	want("GET /metrics HTTP/1.1\nHost: x\n\n", 200);	/* bare LF */
	want("\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200);	/* leading CRLFs */
	want("GET /metrics HTTP/1.1\r\nhOsT:x\r\nContent-Length: 0\r\n\r\n", 200);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n", 200);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Utf8: caf\xc3\xa9\r\n\r\n", 200);
	/* bytes after the header section are not looked at */
	want("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02garbage", 200);
}

static void test_incomplete(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct katlsd_http_req r;

	(void)state;
	want("", 0);
	want("GET /metrics HTTP/1.1", 0);
	want("GET /metrics HTTP/1.1\r\n", 0);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\n", 0);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", 0);
	/* one byte at a time: nothing before the last byte, then 200 */
	for (size_t k = 0; k < sizeof(req) - 1; k++) {
		katlsd_http_parse(req, k, &r);
		assert_int_equal(r.status, 0);
	}
	katlsd_http_parse(req, sizeof(req) - 1, &r);
	assert_int_equal(r.status, 200);
}

static void test_wrong_path_or_method(void **state)
{
	(void)state;
	want("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404);
	want("GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", 404);
	want("GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n", 404);
	want("GET /METRICS HTTP/1.1\r\nHost: x\r\n\r\n", 404);
	want("GET /%6detrics HTTP/1.1\r\nHost: x\r\n\r\n", 404);	/* no decoding */
	want("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405);
	want("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405);
	want("get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405);	/* methods are case-sensitive */
	want("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400);	/* not a path */
	want("GET http://localhost/metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

static void test_malformed(void **state)
{
	(void)state;
	want("GET /metrics\r\n\r\n", 400);			/* HTTP/0.9 */
	want("GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	want("GET /metrics  HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
	want(" GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	want("G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	want("GET /metrics http/1.1\r\nHost: x\r\n\r\n", 400);
	want("GET /metrics HTTP/1\r\nHost: x\r\n\r\n", 400);
	want("GET /metrics HTTP/11.1\r\nHost: x\r\n\r\n", 400);
	want("GET /metrics HTTP/2.0\r\n\r\n", 505);
	want("GET /metrics HTTP/1.2\r\nHost: x\r\n\r\n", 505);
	want("GET /metrics HTTP/0.9\r\n\r\n", 505);
	want("GET /metrics HTTP/1.1\r\n\r\n", 400);			/* 1.1 without Host */
	want("GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	want("GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n", 200);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400);	/* folding */
	want("GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\rX-Smuggled: y\r\n\r\n", 400);	/* stray CR */
	want("GET /metrics HTTP/1.1\r\nHost: x\x01y\r\n\r\n", 400);
	want("GET /metrics HTTP/1.1\r\nHost: x\x7f\r\n\r\n", 400);
	/* binary is refused at once, without waiting for a line end */
	want("\x16\x03\x01\x02\x00\x01", 400);			/* a TLS ClientHello */
	want("GET /metrics\x80", 400);
	want("GET\r/metrics", 400);
}

static void test_nul_in_field(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\0y\r\n\r\n";
	struct katlsd_http_req r;

	(void)state;
	assert_int_equal(katlsd_http_parse(req, sizeof(req) - 1, &r), 400);
	assert_int_equal(katlsd_http_parse("GE\0T", 4, &r), 400);	/* at once */
}

static void test_sizes(void **state)
{
	size_t line = KATLSD_HTTP_LINE_MAX, head = KATLSD_HTTP_HEAD_MAX;
	char *buf = malloc(2 * head + 64);
	struct katlsd_http_req r;
	size_t n;

	(void)state;
	assert_non_null(buf);
	/* a request line of exactly LINE_MAX bytes: parsed (404, not 414) */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', line - n - 9);
	n = line - 9;
	n += (size_t)sprintf(buf + n, " HTTP/1.1");
	assert_int_equal(n, line);
	strcpy(buf + n, "\r\nHost: x\r\n\r\n");
	want(buf, 404);
	/* one more byte: 414, before and after its line end */
	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'a', line + 1 - n);
	buf[line + 1] = '\0';
	want(buf, 414);
	strcpy(buf + line + 1, "\r\n");
	want(buf, 414);
	/* LINE_MAX bytes then a CR: still waiting for the LF */
	memset(buf, 'a', line);
	buf[line] = '\r';
	buf[line + 1] = '\0';
	want(buf, 0);

	/* a header section of exactly HEAD_MAX bytes: 200; one more: 431 */
	n = (size_t)sprintf(buf, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
	memset(buf + n, 'p', head - n - 4);
	strcpy(buf + head - 4, "\r\n\r\n");
	assert_int_equal(strlen(buf), head);
	want(buf, 200);
	n = (size_t)sprintf(buf, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
	memset(buf + n, 'p', head - n - 3);
	strcpy(buf + head - 3, "\r\n\r\n");
	want(buf, 431);
	/* HEAD_MAX bytes without the end of the section: 431, not "read more" */
	n = (size_t)sprintf(buf, "GET /metrics HTTP/1.1\r\n");
	while (n + 8 <= head)
		n += (size_t)sprintf(buf + n, "X-A: b\r\n");
	memset(buf + n, 'c', head - n);
	assert_int_equal(katlsd_http_parse(buf, head, &r), 431);
	assert_int_equal(katlsd_http_parse(buf, head - 1, &r), 0);
	/* empty lines alone do not get past the limit either */
	memset(buf, '\n', head);
	assert_int_equal(katlsd_http_parse(buf, head, &r), 431);
	free(buf);
}

static void test_prefix_stability(void **state)
{
	static const char *const reqs[] = {
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
		"\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /metrics HTTP/3.0\r\n\r\n",
		"GET /a\x01 HTTP/1.1\r\n\r\n",
	};
	size_t head = KATLSD_HTTP_HEAD_MAX;
	char *buf = malloc(head + 64);

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		want_prefixes(reqs[i], strlen(reqs[i]));
	/* binary late in a long request line, and a CR at the line limit */
	memset(buf, 'a', head + 8);
	buf[KATLSD_HTTP_LINE_MAX + 3] = '\x01';
	want_prefixes(buf, head + 8);
	buf[KATLSD_HTTP_LINE_MAX] = '\r';
	want_prefixes(buf, KATLSD_HTTP_LINE_MAX + 3);
	/* empty lines up to the head limit, then binary */
	memset(buf, '\n', head - 2);
	memcpy(buf + head - 2, "G\r\x01x", 4);
	want_prefixes(buf, head + 2);
	free(buf);
}

static void test_head(void **state)
{
	volatile size_t small;
	char out[512];
	size_t n;

	(void)state;
	n = katlsd_http_head(out, sizeof(out), 404, "text/plain", 12, NULL);
	assert_true(n > 0);
	assert_string_equal(out, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
			    "Content-Length: 12\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n");
	n = katlsd_http_head(out, sizeof(out), 405, "text/plain", 1, "Allow: GET, HEAD\r\n");
	assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n\r\n"));
	small = 20;	/* volatile: the compiler must not see the truncation coming */
	assert_int_equal(katlsd_http_head(out, small, 200, "text/plain", 1, NULL), 0);
	assert_string_equal(katlsd_http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(katlsd_http_reason(999), "Error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_wrong_path_or_method),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul_in_field),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_prefix_stability),
		cmocka_unit_test(test_head),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
