// SPDX-License-Identifier: MIT
/*
 * katlsd's metrics registry, its OpenMetrics text exposition, and the
 * verdict record (metrics.h).
 *
 * Threads: workers update the registry with relaxed atomic adds (no lock on
 * the request path); katlsd_metrics_record() adds the request counter last,
 * with release order, and the formatter loads the request counters first,
 * with acquire order, so a scrape that counts a request also has its phases
 * and its verdict.  Histograms keep per-bucket counts and a sum in
 * nanoseconds; the exposition makes them cumulative and derives _count from
 * them, so _count always equals the +Inf bucket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include "katlsd.h"
#include "metrics.h"

struct katlsd_metrics katlsd_metrics;

static const struct {
	uint64_t ns;
	const char *le;		/* OpenMetrics canonical number */
} buckets[KATLSD_HIST_BUCKETS] = {
	{ 1000000ull, "0.001" }, { 2500000ull, "0.0025" }, { 5000000ull, "0.005" },
	{ 10000000ull, "0.01" }, { 25000000ull, "0.025" }, { 50000000ull, "0.05" },
	{ 100000000ull, "0.1" }, { 250000000ull, "0.25" }, { 500000000ull, "0.5" },
	{ 1000000000ull, "1.0" }, { 2500000000ull, "2.5" }, { 5000000000ull, "5.0" },
	{ 10000000000ull, "10.0" }, { 30000000000ull, "30.0" }, { 60000000000ull, "60.0" },
};

static const int http_codes[KATLSD_NUM_HTTP_CODES] = KATLSD_HTTP_CODES;

static const char *const role_names[2] = { "client", "server" };
static const char *const mode_names[3] = { "verify", "attest", "mutual" };
static const char *const result_names[__KATLSD_RESULT_MAX] = { "accepted", "refused" };

/* ---- recording ------------------------------------------------------------ */

static void add(uint64_t *p, uint64_t n)
{
	__atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

unsigned int katlsd_hist_index(uint64_t ns)
{
	unsigned int i = 0;

	while (i < KATLSD_HIST_BUCKETS && ns > buckets[i].ns)
		i++;
	return i;
}

void katlsd_hist_observe(struct katlsd_hist *h, double ms)
{
	uint64_t ns;

	if (!(ms >= 0))
		return;		/* did not run (or NaN) */
	ns = ms >= 1e12 ? (uint64_t)1e18 : (uint64_t)(ms * 1e6 + 0.5);
	add(&h->bucket[katlsd_hist_index(ns)], 1);
	add(&h->sum_ns, ns);
}

void katlsd_metrics_http(struct katlsd_metrics *m, int status)
{
	for (unsigned int i = 0; i < KATLSD_NUM_HTTP_CODES; i++)
		if (http_codes[i] == status)
			add(&m->http[i], 1);
}

static unsigned int role_index(unsigned int role)
{
	return role == KATLS_ROLE_SERVER;
}

/* The module accepts only the three modes; anything else counts as verify. */
static unsigned int mode_index(unsigned int mode)
{
	return mode == KATLS_MODE_ATTEST_SELF ? 1 : mode == KATLS_MODE_MUTUAL ? 2 : 0;
}

/* What is counted: OK for an accepted request, never OK for a refused one. */
static unsigned int counted_reason(const struct katlsd_verdict *v)
{
	if (!v->status)
		return KATLS_R_OK;
	if (v->reason == KATLS_R_OK || v->reason >= __KATLS_R_MAX)
		return KATLS_R_INTERNAL;
	return v->reason;
}

void katlsd_metrics_record(struct katlsd_metrics *m, const struct katlsd_verdict *v)
{
	katlsd_hist_observe(&m->phase[KATLSD_PH_HANDSHAKE], v->ms_handshake);
	katlsd_hist_observe(&m->phase[KATLSD_PH_EVIDENCE], v->ms_evidence);
	katlsd_hist_observe(&m->phase[KATLSD_PH_QUOTE], v->ms_quote);
	katlsd_hist_observe(&m->phase[KATLSD_PH_VERIFY], v->ms_verify);
	katlsd_hist_observe(&m->request[v->status ? KATLSD_REFUSED : KATLSD_ACCEPTED],
			    v->ms_total);
	add(&m->verdicts[counted_reason(v)], 1);
	/* last, release: see the top of this file */
	__atomic_add_fetch(&m->requests[role_index(v->a->role)][mode_index(v->a->mode)], 1,
			   __ATOMIC_RELEASE);
}

/* ---- the exposition ---------------------------------------------------------- */

struct om {
	char *p;
	size_t len, cap;
	bool full;
};

__attribute__((format(printf, 2, 3)))
static void put(struct om *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = true;
	else
		o->len += (size_t)n;
}

/* OpenMetrics escaped-string: backslash, double quote and line feed. */
static void put_escaped(struct om *o, const char *s)
{
	for (; *s && !o->full; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '"')
			put(o, "\\\"");
		else if (*s == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *s);
	}
}

/* # TYPE, [# UNIT,] # HELP of family @name. */
static void family(struct om *o, const char *name, const char *type, const char *unit,
		   const char *help)
{
	put(o, "# TYPE %s %s\n", name, type);
	if (unit)
		put(o, "# UNIT %s %s\n", name, unit);
	put(o, "# HELP %s ", name);
	put_escaped(o, help);
	put(o, "\n");
}

static void put_seconds(struct om *o, uint64_t ns)
{
	put(o, "%llu.%09llu", (unsigned long long)(ns / 1000000000ull),
	    (unsigned long long)(ns % 1000000000ull));
}

/* One histogram series; @labels is "" or `key="value",` (with the comma). */
static void histogram(struct om *o, const char *name, const char *labels,
		      const struct katlsd_hist *h)
{
	uint64_t cum = 0;
	size_t ll = strlen(labels);

	for (unsigned int i = 0; i <= KATLSD_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		put(o, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels,
		    i < KATLSD_HIST_BUCKETS ? buckets[i].le : "+Inf", (unsigned long long)cum);
	}
	/* the labels without their trailing comma, in braces, or nothing */
	put(o, "%s_sum%s%.*s%s ", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
	    ll ? "}" : "");
	put_seconds(o, h->sum_ns);
	put(o, "\n%s_count%s%.*s%s %llu\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
	    ll ? "}" : "", (unsigned long long)cum);
}

static void gauge(struct om *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "gauge", NULL, help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void counter(struct om *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", NULL, help);
	put(o, "%s_total %llu\n", name, (unsigned long long)v);
}

static void hist_copy(const struct katlsd_hist *h, struct katlsd_hist *c)
{
	for (unsigned int i = 0; i <= KATLSD_HIST_BUCKETS; i++)
		c->bucket[i] = get(&h->bucket[i]);
	c->sum_ns = get(&h->sum_ns);
}

/* A consistent copy of @m: request counters first (see the top of this file). */
static void snapshot(const struct katlsd_metrics *m, struct katlsd_metrics *c)
{
	for (unsigned int r = 0; r < 2; r++)
		for (unsigned int i = 0; i < 3; i++)
			c->requests[r][i] = __atomic_load_n(&m->requests[r][i], __ATOMIC_ACQUIRE);
	for (unsigned int i = 0; i < __KATLS_R_MAX; i++)
		c->verdicts[i] = get(&m->verdicts[i]);
	for (unsigned int i = 0; i < __KATLSD_RESULT_MAX; i++)
		hist_copy(&m->request[i], &c->request[i]);
	for (unsigned int i = 0; i < __KATLSD_PH_MAX; i++)
		hist_copy(&m->phase[i], &c->phase[i]);
	for (unsigned int i = 0; i < KATLSD_NUM_HTTP_CODES; i++)
		c->http[i] = get(&m->http[i]);
	c->start_time = get(&m->start_time);
}

static void daemon_families(struct om *o, const struct katlsd_metrics *m,
			    const struct katlsd_metrics_sources *src)
{
	static const struct {
		enum katlsd_phase ph;
		const char *name, *help;
	} phases[] = {
		{ KATLSD_PH_HANDSHAKE, "katlsd_handshake_duration_seconds",
		  "TLS 1.3 handshakes katlsd ran, whatever their outcome." },
		{ KATLSD_PH_EVIDENCE, "katlsd_evidence_duration_seconds",
		  "Gathering this host's Evidence (TPM quote, IMA log, workload record)." },
		{ KATLSD_PH_QUOTE, "katlsd_quote_duration_seconds",
		  "TPM2_Quote calls (part of Evidence gathering)." },
		{ KATLSD_PH_VERIFY, "katlsd_verification_duration_seconds",
		  "Verifying a peer's authenticator and Evidence, accepted or refused." },
	};
	char labels[64];

	family(o, "katlsd", "info", NULL, "katlsd build information.");
	put(o, "katlsd_info{version=\"");
	put_escaped(o, src->version ? src->version : "");
	put(o, "\"} 1\n");
	family(o, "katlsd_start_time_seconds", "gauge", "seconds",
	       "When katlsd started, in seconds since the epoch.");
	put(o, "katlsd_start_time_seconds %llu\n", (unsigned long long)m->start_time);

	family(o, "katlsd_requests", "counter", NULL,
	       "Requests katlsd completed (its verdict reported to katls.ko), by role and mode.");
	for (unsigned int r = 0; r < 2; r++)
		for (unsigned int i = 0; i < 3; i++)
			put(o, "katlsd_requests_total{role=\"%s\",mode=\"%s\"} %llu\n",
			    role_names[r], mode_names[i], (unsigned long long)m->requests[r][i]);
	family(o, "katlsd_attestations", "counter", NULL,
	       "Verdicts by result and reason (the katls reason code names; ok when accepted).");
	put(o, "katlsd_attestations_total{result=\"accepted\",reason=\"ok\"} %llu\n",
	    (unsigned long long)m->verdicts[KATLS_R_OK]);
	for (unsigned int i = 1; i < __KATLS_R_MAX; i++)
		put(o, "katlsd_attestations_total{result=\"refused\",reason=\"%s\"} %llu\n",
		    katls_reason_name(i), (unsigned long long)m->verdicts[i]);

	family(o, "katlsd_request_duration_seconds", "histogram", "seconds",
	       "Requests from acceptance by katlsd to its verdict, by result.");
	for (unsigned int r = 0; r < __KATLSD_RESULT_MAX; r++) {
		snprintf(labels, sizeof(labels), "result=\"%s\",", result_names[r]);
		histogram(o, "katlsd_request_duration_seconds", labels, &m->request[r]);
	}
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		family(o, phases[i].name, "histogram", "seconds", phases[i].help);
		histogram(o, phases[i].name, "", &m->phase[phases[i].ph]);
	}
	gauge(o, "katlsd_workers", "Requests katlsd is working on (worker threads).",
	      src->workers);
	gauge(o, "katlsd_workers_max",
	      "max_workers: beyond it, requests wait in katls.ko's queue.", src->max_workers);
}

static void module_families(struct om *o, const struct katls_state *s)
{
	gauge(o, "katls_module_requests_queued",
	      "Requests waiting in katls.ko for katlsd to accept them.", s->req_queued);
	gauge(o, "katls_module_requests_accepted",
	      "Requests katlsd accepted and has not completed yet.", s->req_accepted);
	counter(o, "katls_module_requests_limited",
		"KATLS_SO_ATTEST calls katls.ko refused by a limit (max_requests, "
		"max_requests_per_uid, max_requests_per_cgroup) since it was loaded.", s->req_limited);
	gauge(o, "katls_module_sockets",
	      "Sockets that carry katls state (pending, attested or failed) and still exist.",
	      s->socks);
	if (s->have_socks_attested)
		gauge(o, "katls_module_attested_sockets",
		      "Live attested sockets: their request succeeded and they still exist "
		      "(in any network namespace; a verdict past its expiry included).",
		      s->socks_attested);
}

static void gate_families(struct om *o, const struct katlsd_metrics_sources *src)
{
	static const struct {
		unsigned int cnt;
		const char *path;
	} paths[] = {
		{ KATLS_CNT_DENY_SEND, "send" }, { KATLS_CNT_DENY_RECV, "recv" },
		{ KATLS_CNT_DENY_FILE_WRITE, "file_write" },
		{ KATLS_CNT_DENY_FILE_READ, "file_read" },
		{ KATLS_CNT_DENY_ZEROCOPY, "zerocopy" }, { KATLS_CNT_DENY_CONNECT, "connect" },
	};

	gauge(o, "katls_gate_loaded", "1 when katlsd has the pinned BPF gate open (enforcing).",
	      src->gate_loaded);
	if (!src->have_gate_stats)
		return;
	family(o, "katls_gate_denials", "counter", NULL,
	       "Application I/O the BPF gate refused, by the path it took (all CPUs, since the "
	       "gate's maps were created).");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		put(o, "katls_gate_denials_total{path=\"%s\"} %llu\n", paths[i].path,
		    (unsigned long long)src->gate[paths[i].cnt]);
	counter(o, "katls_gate_denials_expired",
		"Of the denials, those of a verdict past its max age (EKEYEXPIRED).",
		src->gate[KATLS_CNT_DENY_EXPIRED]);
	counter(o, "katls_gate_denials_nostate",
		"Of the denials, those on a socket the gate had no storage for (fail closed).",
		src->gate[KATLS_CNT_DENY_NOSTATE]);
	counter(o, "katls_gate_expirations",
		"ATTESTED sockets the gate found past their max age (no renewal: they stay "
		"denied until the connection is remade).", src->gate[KATLS_CNT_EXPIRED]);
}

size_t katlsd_metrics_format(const struct katlsd_metrics *live,
			     const struct katlsd_metrics_sources *src, char *out, size_t out_len)
{
	struct om o = { .p = out, .cap = out_len };
	struct katlsd_metrics m;

	if (!out_len)
		return 0;
	snapshot(live, &m);
	daemon_families(&o, &m, src);
	if (src->have_module)
		module_families(&o, &src->module);
	gate_families(&o, src);
	family(&o, "katlsd_metrics_responses", "counter", NULL,
	       "Responses of this endpoint by HTTP status (this one not yet counted).");
	for (unsigned int i = 0; i < KATLSD_NUM_HTTP_CODES; i++)
		put(&o, "katlsd_metrics_responses_total{code=\"%d\"} %llu\n", http_codes[i],
		    (unsigned long long)m.http[i]);
	put(&o, "# EOF\n");
	return o.full ? 0 : o.len;
}

/* ---- the verdict line ------------------------------------------------------- */

static const char *errno_name(int e)
{
	switch (e) {
	case EACCES: return "EACCES";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNRESET: return "ECONNRESET";
	case EPROTO: return "EPROTO";
	case EKEYREJECTED: return "EKEYREJECTED";
	case EKEYEXPIRED: return "EKEYEXPIRED";
	default: return NULL;
	}
}

/* Linux enum hash_algo (include/uapi/linux/hash_info.h) */
static const char *hash_name(unsigned int alg)
{
	switch (alg) {
	case 2: return "sha1";
	case 4: return "sha256";
	case 5: return "sha384";
	case 6: return "sha512";
	case 7: return "sha224";
	default: return NULL;
	}
}

static const char *hex_str(char *out, size_t out_len, const uint8_t *d, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len && n + 3 <= out_len; i++)
		n += (size_t)snprintf(out + n, out_len - n, "%02x", d[i]);
	return out;
}

/* "alg:hex" of @len bytes into @out (2 * 64 + 16 bytes suffice) */
static const char *digest_str(char *out, size_t out_len, const char *alg, unsigned int alg_num,
			      const uint8_t *d, size_t len)
{
	size_t n;

	if (alg && *alg)
		n = (size_t)snprintf(out, out_len, "%s:", alg);
	else
		n = (size_t)snprintf(out, out_len, "alg%u:", alg_num);
	if (n < out_len)
		hex_str(out + n, out_len - n, d, len);
	return out;
}

struct line {
	char *p;
	size_t len, cap;	/* cap: room for fields, " truncated=true" excluded */
	bool cut;
};

static void field(struct line *l, const char *key, const char *value)
{
	if (!l->cut && value && !katlsd_logfmt(l->p, l->cap, &l->len, key, value))
		l->cut = true;
}

__attribute__((format(printf, 3, 4)))
static void fieldf(struct line *l, const char *key, const char *fmt, ...)
{
	char v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	field(l, key, v);
}

static void ms_field(struct line *l, const char *key, double ms)
{
	if (ms >= 0)
		fieldf(l, key, "%.1f", ms);
}

static void peer_fields(struct line *l, const struct katls_verify_summary *s)
{
	char d[160];

	fieldf(l, "peer_ak_sha256", "%s", s->ak_fpr);
	if (s->has_workload && s->workload_digest_len)
		field(l, "peer_exe_digest", digest_str(d, sizeof(d),
						      hash_name(s->workload_digest_alg),
						      s->workload_digest_alg, s->workload_digest,
						      s->workload_digest_len));
	if (s->has_workload)
		field(l, "peer_exe_verified", s->workload_verified ? "true" : "false");
	field(l, "peer_subject", s->peer_subject);
	if (s->has_workload)
		field(l, "peer_exe", s->workload_exe);
}

size_t katlsd_verdict_format(const struct katlsd_verdict *v, char *out, size_t out_len)
{
	static const char cut[] = " truncated=true";
	const struct katls_accepted *a = v->a;
	struct line l = { .p = out, .cap = out_len > sizeof(cut) ? out_len - sizeof(cut) + 1 : 0 };
	const char *en = v->status ? errno_name(-v->status) : NULL;
	char d[160];

	if (out_len < sizeof(cut) + 16) {
		if (out_len)
			out[0] = '\0';
		return 0;
	}
	l.len = (size_t)snprintf(out, l.cap, "event=verdict");
	fieldf(&l, "req", "%u", a->id);
	field(&l, "role", role_names[role_index(a->role)]);
	field(&l, "mode", mode_names[mode_index(a->mode)]);
	field(&l, "result", result_names[v->status ? KATLSD_REFUSED : KATLSD_ACCEPTED]);
	field(&l, "reason", katls_reason_name(counted_reason(v)));
	if (v->status) {
		if (en)
			field(&l, "errno", en);
		else
			fieldf(&l, "errno", "%d", -v->status);
	}
	field(&l, "policy", v->policy);
	field(&l, "rule", v->ruled ? "true" : "false");
	field(&l, "peer", v->peer_addr);
	if (*a->server_name)
		field(&l, "server_name", a->server_name);
	field(&l, "cipher", v->cipher);
	if (!v->status)
		fieldf(&l, "max_age_s", "%u", v->max_age_s);
	field(&l, "peer_verified", v->peer_verified ? "true" : "false");
	field(&l, "self_attested", v->self_attested ? "true" : "false");
	ms_field(&l, "ms_total", v->ms_total);
	ms_field(&l, "ms_handshake", v->ms_handshake);
	ms_field(&l, "ms_ktls", v->ms_ktls);
	ms_field(&l, "ms_evidence", v->ms_evidence);
	ms_field(&l, "ms_quote", v->ms_quote);
	ms_field(&l, "ms_verify", v->ms_verify);
	ms_field(&l, "ms_exchange", v->ms_exchange);
	ms_field(&l, "ms_peer", v->ms_peer);
	if (v->ms_exchange >= 0 && v->ms_peer >= 0)
		ms_field(&l, "ms_local", v->ms_exchange - v->ms_peer -
			 (v->ms_evidence > 0 ? v->ms_evidence : 0));
	if (v->ms_exchange >= 0)
		fieldf(&l, "round_trips", "%u", v->round_trips);
	if (v->quote_batch) {
		fieldf(&l, "quote_batch", "%zu", v->quote_batch);
		fieldf(&l, "quote_leaf", "%zu", v->quote_leaf);
		ms_field(&l, "ms_quote_queued", v->ms_quote_queued);
	}
	if (a->transparent)
		field(&l, "transparent", "true");
	fieldf(&l, "pid", "%u", a->pid);
	fieldf(&l, "uid", "%u", a->uid);
	if (a->exe_digest_len && a->exe_digest_len <= sizeof(a->exe_digest))
		field(&l, "exe_digest", digest_str(d, sizeof(d), a->exe_digest_algo_name,
						   a->exe_digest_algo, a->exe_digest,
						   a->exe_digest_len));
	if (v->peer_cert_sha256)
		field(&l, "peer_cert_sha256", hex_str(d, sizeof(d), v->peer_cert_sha256, 32));
	if (v->peer)
		peer_fields(&l, v->peer);
	field(&l, "exe", *a->exe_path ? a->exe_path : NULL);
	if (v->status && v->msg && *v->msg)
		field(&l, "msg", v->msg);
	if (l.cut)
		l.len += (size_t)snprintf(out + l.len, out_len - l.len, "%s", cut);
	return l.len;
}

const char *katlsd_peer_addr(int fd, char *out, size_t out_len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl))
		return NULL;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, out_len, "%s:%u", host, ntohs(s4->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, out_len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		return NULL;
	}
	return out;
}

void katlsd_verdict(const struct katlsd_verdict *v)
{
	char line[KATLSD_LOG_LINE_MAX - 16];

	katlsd_metrics_record(&katlsd_metrics, v);
	katlsd_verdict_format(v, line, sizeof(line));
	katlsd_log(v->status ? LOG_NOTICE : LOG_INFO, "%s", line);
}
