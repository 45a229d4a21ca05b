// SPDX-License-Identifier: MIT
/*
 * katlsd's metrics (userspace/daemon/metrics.c) and log lines (logfmt.c):
 * histogram bucket boundaries, the OpenMetrics exposition checked by a
 * strict line checker (families, suffixes, labels, cumulative buckets,
 * _count = +Inf, # EOF) and by exact lines after recorded verdicts, label
 * and HELP escaping, counting rules (a refusal is never "ok"; requests by
 * role and mode), the module and gate families, overflow; the verdict line
 * (fields, escaping of application- and peer-supplied names, truncation),
 * logfmt values, journal detection and the log sanitizer.  Both files are
 * part of katlsd, so they are included; katlsd_log() is captured here.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../userspace/daemon/logfmt.c"
#include "../../userspace/daemon/metrics.c"

static char logged[KATLSD_LOG_LINE_MAX];
static int logged_prio;

void katlsd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(logged, sizeof(logged), fmt, ap);
	va_end(ap);
	logged_prio = prio;
}

static struct katls_accepted acc(unsigned int role, unsigned int mode)
{
	struct katls_accepted a;

	memset(&a, 0, sizeof(a));
	a.id = 7;
	a.role = (uint8_t)role;
	a.mode = (uint8_t)mode;
	a.pid = 4242;
	a.uid = 1000;
	snprintf(a.exe_path, sizeof(a.exe_path), "/usr/bin/app");
	snprintf(a.server_name, sizeof(a.server_name), "server.test");
	snprintf(a.exe_digest_algo_name, sizeof(a.exe_digest_algo_name), "sha256");
	a.exe_digest_len = 32;
	memset(a.exe_digest, 0xab, 32);
	return a;
}

/* ---- a strict OpenMetrics line checker ------------------------------------------- */

static bool label_value(const char **p)
{
	if (**p != '"')
		return false;
	for ((*p)++; **p != '"'; (*p)++) {
		if (!**p || **p == '\n')
			return false;
		if (**p == '\\' && (*p)[1] != '\\' && (*p)[1] != '"' && (*p)[1] != 'n')
			return false;
		if (**p == '\\')
			(*p)++;
	}
	(*p)++;
	return true;
}

/* Checks @text; fails the test with the offending line. */
static void om_check(const char *text)
{
	char fam[128] = "", type[16] = "", seen[64][128], le_prev[32] = "";
	size_t nseen = 0;
	double prev_bucket = -1, inf = -1;
	const char *line = text;

	assert_true(strlen(text) >= 6);
	assert_string_equal(text + strlen(text) - 6, "# EOF\n");
	while (*line) {
		const char *nl = strchr(line, '\n');
		char l[512], name[128], t[16];
		const char *p;
		double v;

		assert_non_null(nl);
		assert_true((size_t)(nl - line) < sizeof(l));
		memcpy(l, line, (size_t)(nl - line));
		l[nl - line] = '\0';
		line = nl + 1;
		if (!strcmp(l, "# EOF")) {
			assert_int_equal(*line, '\0');	/* nothing after it */
			break;
		}
		if (sscanf(l, "# TYPE %127s %15s", name, t) == 2) {
			for (size_t i = 0; i < nseen; i++)
				if (!strcmp(seen[i], name))
					fail_msg("family %s twice", name);
			assert_true(nseen < 64);
			strcpy(seen[nseen++], name);
			strcpy(fam, name);
			strcpy(type, t);
			assert_true(!strcmp(t, "counter") || !strcmp(t, "gauge") ||
				    !strcmp(t, "histogram") || !strcmp(t, "info"));
			if (!strcmp(t, "counter"))
				assert_null(strstr(name, "_total"));
			prev_bucket = -1;
			continue;
		}
		if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# UNIT ", 7)) {
			assert_int_equal(strncmp(l + 7, fam, strlen(fam)), 0);
			assert_int_equal(l[7 + strlen(fam)], ' ');
			if (!strncmp(l, "# UNIT ", 7))
				assert_non_null(strstr(fam, l + 8 + strlen(fam)));
			continue;
		}
		if (l[0] == '#')
			fail_msg("unknown comment: %s", l);
		/* a sample of the current family */
		p = l + strcspn(l, "{ ");
		snprintf(name, sizeof(name), "%.*s", (int)(p - l), l);
		if (!strcmp(type, "counter")) {
			if (strncmp(name, fam, strlen(fam)) || strcmp(name + strlen(fam), "_total"))
				fail_msg("counter sample %s of %s", name, fam);
		} else if (!strcmp(type, "info")) {
			assert_true(!strncmp(name, fam, strlen(fam)) && !strcmp(name + strlen(fam), "_info"));
		} else if (!strcmp(type, "gauge")) {
			assert_string_equal(name, fam);
		} else {
			const char *sfx = name + strlen(fam);

			assert_int_equal(strncmp(name, fam, strlen(fam)), 0);
			assert_true(!strcmp(sfx, "_bucket") || !strcmp(sfx, "_sum") ||
				    !strcmp(sfx, "_count"));
		}
		if (*p == '{') {
			p++;
			while (*p != '}') {
				const char *k = p, *vs;

				while ((*p >= 'a' && *p <= 'z') || *p == '_')
					p++;
				assert_true(p > k && *p == '=');
				p++;
				vs = p;
				if (!label_value(&p))
					fail_msg("bad label value in: %s", l);
				if (!strncmp(k, "le=", 3))
					snprintf(le_prev, sizeof(le_prev), "%.*s", (int)(p - vs - 2), vs + 1);
				if (*p == ',')
					p++;
				else
					assert_int_equal(*p, '}');
			}
			p++;
		}
		assert_int_equal(*p, ' ');
		v = strtod(p + 1, (char **)&p);
		assert_int_equal(*p, '\0');
		if (strstr(name, "_bucket")) {
			assert_true(v >= prev_bucket);	/* cumulative */
			prev_bucket = v;
			if (!strcmp(le_prev, "+Inf"))
				inf = v;
		} else if (strstr(name, "_count") && !strcmp(type, "histogram")) {
			assert_true(v == inf);		/* _count is the +Inf bucket */
			prev_bucket = -1;
		}
	}
}

static char *format(const struct katlsd_metrics *m, const struct katlsd_metrics_sources *src)
{
	static char out[256 * 1024];
	size_t n = katlsd_metrics_format(m, src, out, sizeof(out));

	assert_true(n > 0);
	assert_int_equal(strlen(out), n);
	om_check(out);
	return out;
}

static void has(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("missing line: %s", line);
}

/* ---- histograms --------------------------------------------------------------- */

static void test_hist_buckets(void **state)
{
	struct katlsd_hist h;

	(void)state;
	assert_int_equal(katlsd_hist_index(0), 0);
	assert_int_equal(katlsd_hist_index(1000000), 0);	/* le is inclusive */
	assert_int_equal(katlsd_hist_index(1000001), 1);
	assert_int_equal(katlsd_hist_index(2500000), 1);
	assert_int_equal(katlsd_hist_index(1000000000), 9);	/* le="1.0" */
	assert_int_equal(katlsd_hist_index(60000000000ull), 14);	/* le="60.0" */
	assert_int_equal(katlsd_hist_index(60000000001ull), 15);	/* +Inf */
	memset(&h, 0, sizeof(h));
	katlsd_hist_observe(&h, 1.0);		/* 1 ms: le 0.001 */
	katlsd_hist_observe(&h, 2.5);		/* le 0.0025 */
	katlsd_hist_observe(&h, 2.5000004);	/* rounds to 2.5 ms exactly */
	katlsd_hist_observe(&h, 999999.0);	/* +Inf */
	katlsd_hist_observe(&h, -1);		/* did not run */
	katlsd_hist_observe(&h, NAN);
	assert_int_equal(h.bucket[0], 1);
	assert_int_equal(h.bucket[1], 2);
	assert_int_equal(h.bucket[KATLSD_HIST_BUCKETS], 1);
	assert_int_equal(h.sum_ns, 1000000ull + 2 * 2500000ull + 999999000000ull);
}

/* ---- the exposition ------------------------------------------------------------ */

static struct katlsd_verdict verdict(const struct katls_accepted *a, int status,
				     unsigned int reason)
{
	struct katlsd_verdict v = KATLSD_VERDICT_INIT(a, status, reason, "why");

	v.ms_total = 120;
	return v;
}

static void test_format_counts(void **state)
{
	struct katlsd_metrics m;
	struct katlsd_metrics_sources src = { .version = "v1", .workers = 3, .max_workers = 128 };
	struct katls_accepted cv = acc(KATLS_ROLE_CLIENT, KATLS_MODE_VERIFY_PEER);
	struct katls_accepted sm = acc(KATLS_ROLE_SERVER, KATLS_MODE_MUTUAL);
	struct katlsd_verdict v;
	const char *t;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.start_time = 1700000000;
	t = format(&m, &src);
	/* every series is there from the start */
	has(t, "katlsd_attestations_total{result=\"accepted\",reason=\"ok\"} 0");
	has(t, "katlsd_attestations_total{result=\"refused\",reason=\"ima-allowlist\"} 0");
	has(t, "katlsd_requests_total{role=\"server\",mode=\"mutual\"} 0");
	has(t, "katlsd_handshake_duration_seconds_count 0");
	has(t, "katlsd_metrics_responses_total{code=\"400\"} 0");
	for (unsigned int i = 1; i < __KATLS_R_MAX; i++) {
		char l[128];

		snprintf(l, sizeof(l), "katlsd_attestations_total{result=\"refused\",reason=\"%s\"} 0",
			 katls_reason_name(i));
		has(t, l);
	}

	v = verdict(&cv, 0, KATLS_R_OK);
	v.ms_handshake = 1.0;		/* le 0.001 */
	v.ms_verify = 30;		/* le 0.05 */
	katlsd_metrics_record(&m, &v);
	v = verdict(&sm, -EACCES, KATLS_R_IMA_ALLOWLIST);
	v.ms_handshake = 2.5;		/* le 0.0025 */
	v.ms_evidence = 400;
	v.ms_quote = 300;
	katlsd_metrics_record(&m, &v);
	katlsd_metrics_record(&m, &v);
	v = verdict(&sm, -EPROTO, KATLS_R_OK);	/* a refusal is never "ok" */
	katlsd_metrics_record(&m, &v);
	katlsd_metrics_http(&m, 400);
	katlsd_metrics_http(&m, 400);
	katlsd_metrics_http(&m, 999);		/* not one of ours: ignored */
	t = format(&m, &src);
	has(t, "katlsd_info{version=\"v1\"} 1");
	has(t, "katlsd_start_time_seconds 1700000000");
	has(t, "katlsd_requests_total{role=\"client\",mode=\"verify\"} 1");
	has(t, "katlsd_requests_total{role=\"server\",mode=\"mutual\"} 3");
	has(t, "katlsd_requests_total{role=\"server\",mode=\"attest\"} 0");
	has(t, "katlsd_attestations_total{result=\"accepted\",reason=\"ok\"} 1");
	has(t, "katlsd_attestations_total{result=\"refused\",reason=\"ima-allowlist\"} 2");
	has(t, "katlsd_attestations_total{result=\"refused\",reason=\"internal\"} 1");
	/* cumulative buckets, _sum in seconds, _count = +Inf */
	has(t, "katlsd_handshake_duration_seconds_bucket{le=\"0.001\"} 1");
	has(t, "katlsd_handshake_duration_seconds_bucket{le=\"0.0025\"} 3");
	has(t, "katlsd_handshake_duration_seconds_bucket{le=\"60.0\"} 3");
	has(t, "katlsd_handshake_duration_seconds_bucket{le=\"+Inf\"} 3");
	has(t, "katlsd_handshake_duration_seconds_sum 0.006000000");
	has(t, "katlsd_handshake_duration_seconds_count 3");
	has(t, "katlsd_verification_duration_seconds_bucket{le=\"0.025\"} 0");
	has(t, "katlsd_verification_duration_seconds_bucket{le=\"0.05\"} 1");
	has(t, "katlsd_evidence_duration_seconds_bucket{le=\"0.25\"} 0");
	has(t, "katlsd_evidence_duration_seconds_bucket{le=\"0.5\"} 2");
	has(t, "katlsd_quote_duration_seconds_count 2");
	has(t, "katlsd_quote_duration_seconds_sum 0.600000000");
	has(t, "katlsd_request_duration_seconds_count{result=\"accepted\"} 1");
	has(t, "katlsd_request_duration_seconds_count{result=\"refused\"} 3");
	has(t, "katlsd_request_duration_seconds_sum{result=\"refused\"} 0.360000000");
	has(t, "katlsd_request_duration_seconds_bucket{result=\"refused\",le=\"0.1\"} 0");
	has(t, "katlsd_request_duration_seconds_bucket{result=\"refused\",le=\"0.25\"} 3");
	has(t, "# UNIT katlsd_request_duration_seconds seconds");
	has(t, "katlsd_workers 3");
	has(t, "katlsd_workers_max 128");
	has(t, "katlsd_metrics_responses_total{code=\"400\"} 2");
	has(t, "katls_gate_loaded 0");
	assert_null(strstr(t, "katls_gate_denials"));	/* no gate: no counters */
	assert_null(strstr(t, "katls_module_"));		/* no module answer */
}

static void test_format_sources(void **state)
{
	struct katlsd_metrics m;
	struct katlsd_metrics_sources src = { .version = "v1" };
	const char *t;

	(void)state;
	memset(&m, 0, sizeof(m));
	src.have_module = true;
	src.module.req_queued = 4;
	src.module.req_accepted = 2;
	src.module.req_limited = 9;
	src.module.socks = 6;
	t = format(&m, &src);
	has(t, "katls_module_requests_queued 4");
	has(t, "katls_module_requests_accepted 2");
	has(t, "katls_module_requests_limited_total 9");
	has(t, "katls_module_sockets 6");
	assert_null(strstr(t, "katls_module_attested_sockets"));	/* older module */
	src.module.have_socks_attested = true;
	src.module.socks_attested = 5;
	src.gate_loaded = true;
	src.have_gate_stats = true;
	for (unsigned int i = 0; i < __KATLS_CNT_MAX; i++)
		src.gate[i] = 100 + i;
	t = format(&m, &src);
	has(t, "katls_module_attested_sockets 5");
	has(t, "katls_gate_loaded 1");
	has(t, "katls_gate_denials_total{path=\"send\"} 104");
	has(t, "katls_gate_denials_total{path=\"recv\"} 105");
	has(t, "katls_gate_denials_total{path=\"file_write\"} 106");
	has(t, "katls_gate_denials_total{path=\"file_read\"} 107");
	has(t, "katls_gate_denials_total{path=\"zerocopy\"} 108");
	has(t, "katls_gate_denials_total{path=\"connect\"} 114");
	has(t, "katls_gate_denials_expired_total 109");
	has(t, "katls_gate_denials_nostate_total 115");
	has(t, "katls_gate_expirations_total 110");
}

static void test_format_escaping_and_overflow(void **state)
{
	struct katlsd_metrics m;
	struct katlsd_metrics_sources src = { .version = "1.0-\"q\"\\b\nx" };
	static char out[256 * 1024];
	size_t full;
	const char *t;

	(void)state;
	memset(&m, 0, sizeof(m));
	t = format(&m, &src);
	has(t, "katlsd_info{version=\"1.0-\\\"q\\\"\\\\b\\nx\"} 1");
	full = strlen(t);
	/* too small by one byte: nothing (the caller answers 500), never a cut text */
	assert_int_equal(katlsd_metrics_format(&m, &src, out, full), 0);
	assert_int_equal(katlsd_metrics_format(&m, &src, out, full + 1), full);
	assert_int_equal(katlsd_metrics_format(&m, &src, out, 0), 0);
}

/* ---- the verdict line ------------------------------------------------------------ */

static void starts(const char *line, const char *prefix)
{
	if (strncmp(line, prefix, strlen(prefix)))
		fail_msg("want a line starting with\n%s\ngot\n%s", prefix, line);
}

static void test_verdict_accepted(void **state)
{
	struct katls_accepted a = acc(KATLS_ROLE_CLIENT, KATLS_MODE_MUTUAL);
	struct katls_verify_summary s;
	uint8_t cert[32];
	struct katlsd_verdict v = KATLSD_VERDICT_INIT(&a, 0, KATLS_R_OK, NULL);
	char line[KATLSD_LOG_LINE_MAX];
	struct katlsd_metrics before = katlsd_metrics;

	(void)state;
	memset(&s, 0, sizeof(s));
	snprintf(s.peer_subject, sizeof(s.peer_subject), "/CN=server.test");
	snprintf(s.ak_fpr, sizeof(s.ak_fpr), "%064x", 1);
	s.has_workload = true;
	s.workload_verified = true;
	snprintf(s.workload_exe, sizeof(s.workload_exe), "/srv/my server");
	s.workload_digest_alg = 4;
	s.workload_digest_len = 32;
	memset(cert, 0x11, sizeof(cert));
	v.peer_addr = "127.0.0.1:7401";
	v.policy = "vm";
	v.cipher = "aes-128-gcm";
	v.peer_verified = v.self_attested = true;
	v.peer = &s;
	v.peer_cert_sha256 = cert;
	v.max_age_s = 600;
	v.ms_total = 349.71;
	v.ms_handshake = 166.8;
	v.ms_ktls = 0.4;
	v.ms_evidence = 90;
	v.ms_quote = 80;
	v.ms_verify = 30;
	v.ms_exchange = 180;
	v.ms_peer = 50;
	v.round_trips = 2;
	katlsd_verdict_format(&v, line, sizeof(line));
	starts(line, "event=verdict req=7 role=client mode=mutual result=accepted "
				 "reason=ok policy=vm rule=false peer=127.0.0.1:7401 "
				 "server_name=server.test cipher=aes-128-gcm max_age_s=600 "
				 "peer_verified=true self_attested=true ms_total=349.7 "
				 "ms_handshake=166.8 ms_ktls=0.4 ms_evidence=90.0 ms_quote=80.0 "
				 "ms_verify=30.0 ms_exchange=180.0 ms_peer=50.0 ms_local=40.0 "
				 "round_trips=2 pid=4242 uid=1000 exe_digest=sha256:abab");
	assert_non_null(strstr(line, " peer_cert_sha256=1111111111111111111111111111111111111111"
			       "111111111111111111111111 "));
	assert_non_null(strstr(line, " peer_exe_digest=sha256:0000"));
	assert_non_null(strstr(line, " peer_exe_verified=true "));
	assert_non_null(strstr(line, " peer_subject=\"/CN=server.test\" "));
	assert_non_null(strstr(line, " peer_exe=\"/srv/my server\" exe=/usr/bin/app"));
	assert_null(strstr(line, "errno="));
	assert_null(strstr(line, "msg="));
	/* katlsd_verdict(): counted, and logged at LOG_INFO */
	katlsd_verdict(&v);
	assert_int_equal(logged_prio, LOG_INFO);
	assert_string_equal(logged, line);
	assert_int_equal(katlsd_metrics.requests[0][2], before.requests[0][2] + 1);
	assert_int_equal(katlsd_metrics.verdicts[KATLS_R_OK], before.verdicts[KATLS_R_OK] + 1);
}

static void test_verdict_refused_and_injection(void **state)
{
	struct katls_accepted a = acc(KATLS_ROLE_SERVER, KATLS_MODE_ATTEST_SELF);
	struct katlsd_verdict v = KATLSD_VERDICT_INIT(&a, -EACCES, KATLS_R_IMA_ALLOWLIST,
						      "IMA entry 110 \"/tmp/evil\" not listed");
	char line[KATLSD_LOG_LINE_MAX];
	const char *q;
	int fields = 0;

	(void)state;
	/* an application names its binary, server name and policy */
	snprintf(a.exe_path, sizeof(a.exe_path),
		 "/tmp/x\nkatlsd: event=verdict result=accepted\x01\xc3\xa9");
	snprintf(a.server_name, sizeof(a.server_name), "a b=c");
	katlsd_verdict_format(&v, line, sizeof(line));
	starts(line, "event=verdict req=7 role=server mode=attest result=refused "
				 "reason=ima-allowlist errno=EACCES rule=false server_name=\"a b=c\" "
				 "peer_verified=false self_attested=false pid=4242 uid=1000 ");
	assert_null(strchr(line, '\n'));
	assert_null(strchr(line, '\x01'));
	assert_non_null(strstr(line, " exe=\"/tmp/x\\nkatlsd: event=verdict result=accepted"
			       "\\x01\\xc3\\xa9\""));
	assert_non_null(strstr(line, " msg=\"IMA entry 110 \\\"/tmp/evil\\\" not listed\""));
	/* outside quotes, "result=" appears once */
	for (q = line; *q; q++) {
		if (*q == '"') {
			for (q++; *q && *q != '"'; q++)
				if (*q == '\\')
					q++;
			continue;
		}
		fields += !strncmp(q, " result=", 8);
	}
	assert_int_equal(fields, 1);
	katlsd_verdict(&v);
	assert_int_equal(logged_prio, LOG_NOTICE);
	/* errno without a name; a reason the registry does not know counts as internal */
	v.status = -EIO;
	v.reason = 9999;
	katlsd_verdict_format(&v, line, sizeof(line));
	assert_non_null(strstr(line, " reason=internal errno=5 "));
}

static void test_verdict_truncated(void **state)
{
	struct katls_accepted a = acc(KATLS_ROLE_CLIENT, KATLS_MODE_VERIFY_PEER);
	struct katlsd_verdict v = KATLSD_VERDICT_INIT(&a, -EACCES, KATLS_R_POLICY, "m");
	char line[200];
	size_t n;

	(void)state;
	memset(a.exe_path, '"', sizeof(a.exe_path) - 1);
	a.exe_path[sizeof(a.exe_path) - 1] = '\0';
	n = katlsd_verdict_format(&v, line, sizeof(line));
	assert_int_equal(strlen(line), n);
	assert_true(n < sizeof(line));
	assert_string_equal(line + n - 15, " truncated=true");
	starts(line, "event=verdict req=7 ");
}

/* ---- logging helpers ------------------------------------------------------------- */

static void test_logfmt(void **state)
{
	char out[64];
	size_t n = 0;

	(void)state;
	out[0] = '\0';
	assert_true(katlsd_logfmt(out, sizeof(out), &n, "a", "b"));
	assert_true(katlsd_logfmt(out, sizeof(out), &n, "e", ""));
	assert_true(katlsd_logfmt(out, sizeof(out), &n, "q", "x\"y\\\t\r"));
	assert_string_equal(out, " a=b e=\"\" q=\"x\\\"y\\\\\\t\\r\"");
	assert_int_equal(n, strlen(out));
	/* does not fit: nothing appended */
	assert_false(katlsd_logfmt(out, sizeof(out), &n, "long", "0123456789012345678901234567890123456789"));
	assert_int_equal(n, strlen(out));
}

static void test_journal(void **state)
{
	struct stat st;
	char v[64];

	(void)state;
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	unsetenv("JOURNAL_STREAM");
	assert_false(katlsd_stderr_is_journal());
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	assert_true(katlsd_stderr_is_journal());
	/* inherited from a unit, but stderr is elsewhere now */
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", v, 1);
	assert_false(katlsd_stderr_is_journal());
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_false(katlsd_stderr_is_journal());
	unsetenv("JOURNAL_STREAM");
}

static void test_sanitize(void **state)
{
	char s[] = "exe /tmp/a\nb\r<3>c\x7f\td\xc3\xa9";

	(void)state;
	katlsd_log_sanitize(s);
	assert_string_equal(s, "exe /tmp/a?b?<3>c??d\xc3\xa9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_format_counts),
		cmocka_unit_test(test_format_sources),
		cmocka_unit_test(test_format_escaping_and_overflow),
		cmocka_unit_test(test_verdict_accepted),
		cmocka_unit_test(test_verdict_refused_and_injection),
		cmocka_unit_test(test_verdict_truncated),
		cmocka_unit_test(test_logfmt),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_sanitize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
