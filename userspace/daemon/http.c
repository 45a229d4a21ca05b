// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint's HTTP/1.x request parser and response head (http.h).
 *
 * Strict where a lenient reading could be ambiguous (request smuggling
 * shapes: bodies, Transfer-Encoding, folded lines, stray CRs, NULs), lenient
 * where RFC 9112 allows it (bare LF line ends, empty lines before the
 * request line, any header field it does not need).  Every decision is made
 * on complete lines, which never extend past KATLSD_HTTP_HEAD_MAX bytes.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

enum method { M_OTHER, M_GET, M_HEAD };

struct parse {
	bool have_line;		/* the request line was read */
	enum method method;
	bool origin_form;	/* the target starts with '/' */
	bool path_ok;		/* ... and its path is KATLSD_HTTP_PATH */
	int major, minor;	/* HTTP version */
	unsigned int hosts;	/* Host fields */
};

static int reject(struct katlsd_http_req *out, int status, const char *why)
{
	out->status = status;
	out->why = why;
	return status;
}

/* RFC 9110 tchar */
static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool token(const char *p, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!tchar((unsigned char)p[i]))
			return false;
	return true;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* request-line = method SP request-target SP HTTP-version */
static int request_line(struct parse *ps, const char *p, size_t len, struct katlsd_http_req *out)
{
	const char *sp1 = memchr(p, ' ', len), *sp2, *t, *v;
	size_t tlen, plen;

	if (!sp1 || !token(p, (size_t)(sp1 - p)))
		return reject(out, 400, "malformed request line (want: GET /metrics HTTP/1.1)");
	t = sp1 + 1;
	sp2 = memchr(t, ' ', len - (size_t)(t - p));
	if (!sp2 || sp2 == t)
		return reject(out, 400, "malformed request line (want: GET /metrics HTTP/1.1)");
	tlen = (size_t)(sp2 - t);
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return reject(out, 400, "malformed request target");
	v = sp2 + 1;
	if (len - (size_t)(v - p) != 8 || memcmp(v, "HTTP/", 5) || !digit(v[5]) || v[6] != '.' ||
	    !digit(v[7]))
		return reject(out, 400, "malformed HTTP version (want: HTTP/1.1 or HTTP/1.0)");
	ps->method = (sp1 - p == 3 && !memcmp(p, "GET", 3)) ? M_GET :
		     (sp1 - p == 4 && !memcmp(p, "HEAD", 4)) ? M_HEAD : M_OTHER;
	ps->origin_form = t[0] == '/';
	plen = tlen;
	if (memchr(t, '?', tlen))
		plen = (size_t)((const char *)memchr(t, '?', tlen) - t);
	ps->path_ok = plen == strlen(KATLSD_HTTP_PATH) && !memcmp(t, KATLSD_HTTP_PATH, plen);
	ps->major = v[5] - '0';
	ps->minor = v[7] - '0';
	ps->have_line = true;
	return 0;
}

static bool name_is(const char *p, size_t len, const char *name)
{
	return len == strlen(name) && !strncasecmp(p, name, len);
}

/* field-line = field-name ":" OWS field-value OWS */
static int field_line(struct parse *ps, const char *p, size_t len, struct katlsd_http_req *out)
{
	const char *colon = memchr(p, ':', len), *v;
	size_t nlen, vlen;

	if (p[0] == ' ' || p[0] == '\t')
		return reject(out, 400, "obsolete line folding is not accepted");
	if (!colon || !token(p, (size_t)(colon - p)))
		return reject(out, 400, "malformed header field");
	nlen = (size_t)(colon - p);
	v = colon + 1;
	vlen = len - nlen - 1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return reject(out, 400, "control character in a header field");
	}
	while (vlen && (v[0] == ' ' || v[0] == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_is(p, nlen, "Host"))
		ps->hosts++;
	else if (name_is(p, nlen, "Transfer-Encoding"))
		return reject(out, 400, "request bodies are not accepted (Transfer-Encoding)");
	else if (name_is(p, nlen, "Content-Length")) {
		if (!vlen)
			return reject(out, 400, "malformed Content-Length");
		for (size_t i = 0; i < vlen; i++) {
			if (!digit(v[i]))
				return reject(out, 400, "malformed Content-Length");
			if (v[i] != '0')
				return reject(out, 400, "request bodies are not accepted");
		}
	}
	return 0;
}

/* The empty line came: the verdict on the whole request. */
static int decide(const struct parse *ps, struct katlsd_http_req *out)
{
	if (ps->major != 1 || ps->minor > 1)
		return reject(out, 505, "only HTTP/1.0 and HTTP/1.1 are served");
	if (ps->minor == 1 && ps->hosts != 1)
		return reject(out, 400, "an HTTP/1.1 request needs exactly one Host field");
	if (ps->hosts > 1)
		return reject(out, 400, "more than one Host field");
	if (!ps->origin_form)
		return reject(out, 400, "the request target must be a path (/metrics)");
	if (ps->method == M_OTHER)
		return reject(out, 405, "only GET and HEAD are allowed");
	if (!ps->path_ok)
		return reject(out, 404, "not found: the only resource is /metrics");
	out->head = ps->method == M_HEAD;
	return reject(out, 200, "");
}

int katlsd_http_parse(const char *in, size_t in_len, struct katlsd_http_req *out)
{
	struct parse ps = { 0 };
	size_t pos = 0;

	out->head = false;
	reject(out, 0, "");
	for (;;) {
		const char *nl = memchr(in + pos, '\n', in_len - pos);
		size_t end = nl ? (size_t)(nl - in) : in_len, len = end - pos;
		int ret;

		/*
		 * The verdict must not depend on how the bytes arrive: so the
		 * request line's checks look at the same bytes in a prefix as in
		 * the whole (its first LINE_MAX + 1, none past HEAD_MAX), binary
		 * first (a TLS ClientHello is refused at once), then sizes.
		 */
		if (!ps.have_line) {
			size_t lim = len < KATLSD_HTTP_LINE_MAX + 1 ? len : KATLSD_HTTP_LINE_MAX + 1;

			if (lim > KATLSD_HTTP_HEAD_MAX - pos)
				lim = KATLSD_HTTP_HEAD_MAX - pos;
			for (size_t i = 0; i < lim; i++) {
				unsigned char c = (unsigned char)in[pos + i];

				if ((c < 0x20 && !(c == '\r' && (i == len - 1 || i == lim - 1))) ||
				    c >= 0x7f)
					return reject(out, 400, "not an HTTP request (binary data)");
			}
			if (len > KATLSD_HTTP_LINE_MAX + (size_t)(len && in[end - 1] == '\r'))
				return reject(out, 414, "request line too long");
		}
		if (end + 1 > KATLSD_HTTP_HEAD_MAX)
			return reject(out, 431, "request header section too large");
		if (!nl)
			return 0;
		if (len && in[end - 1] == '\r')
			len--;
		for (size_t i = 0; i < len; i++)
			if (in[pos + i] == '\r' || in[pos + i] == '\0')
				return reject(out, 400, "stray CR or NUL in the request");
		if (!len) {
			pos = end + 1;
			if (ps.have_line)
				return decide(&ps, out);
			continue;	/* empty lines before the request line are ignored */
		}
		ret = ps.have_line ? field_line(&ps, in + pos, len, out) :
				     request_line(&ps, in + pos, len, out);
		if (ret)
			return ret;
		pos = end + 1;
	}
}

const char *katlsd_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

size_t katlsd_http_head(char *out, size_t out_len, int status, const char *ctype,
			size_t body_len, const char *extra)
{
	int n = snprintf(out, out_len, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n"
			 "Cache-Control: no-store\r\n%s\r\n", status, katlsd_http_reason(status),
			 ctype, body_len, extra ? extra : "");

	return n > 0 && (size_t)n < out_len ? (size_t)n : 0;
}
