// SPDX-License-Identifier: MIT
/*
 * attest_load: concurrent attested connects against a katls server (katls
 * serve, or a setsockopt server behind katlsd), for tests/host/test_batch.sh
 * and bench/batch_*.sh; and the quote rate of a TPM.
 *
 *   attest_load connect HOST:PORT --ca CA --policy FILE [--name NAME]
 *               [-c CONCURRENCY] [-n TOTAL] [--no-batch] [--timeout S] [-v]
 *       CONCURRENCY client threads (default 100), released together, run
 *       TOTAL connections (default CONCURRENCY) back to back: TCP connect,
 *       TLS 1.3, the katls/1 exchange verifying the server's Evidence with
 *       the policy (offering quote batching unless --no-batch), close.
 *       The latency of one is from connect() to the verdict.
 *   attest_load quote-rate N
 *       N back-to-back katls_tpm_quote()s (PCRs 0-10, the AK at
 *       0x81010002) on the TPM of $KATLS_TCTI: that TPM's quotes per second.
 *
 * Output: "load:" lines of key=value for scripts, e.g.
 *   load: connections=100 ok=100 failed=0 wall_ms=... conn_per_s=... p50_ms=...
 *   load: verified=100 own_binder=100 batched=99 client_cpu_ms=...
 *   load: batch size=99 connections=99 quotes=1
 *   load: failure reason=batch-leaf count=...
 *   quote-rate: quotes=N ms=... quotes_per_s=... p50_ms=...
 * Every verified connection was verified by its own verifier with its own
 * binder: unbatched, the quote's extraData is that binder; batched, the
 * verifier hashed its own leaf up the proof to the quote's extraData.
 * Exit status: 0 all accepted, 1 some failed, 2 usage or set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "appraisal/policy.h"
#include "evidence/merkle.h"
#include "evidence/tpm.h"
#include "wire/exporter.h"
#include "wire/session.h"
#include "wire/tls.h"

struct result {
	double ms;
	enum katls_reason reason;
	uint32_t batch_size;		/* 0: a quote of its own */
	char msg[512];
};

static struct {
	const char *host, *port, *name;
	unsigned int conc, total, timeout;
	bool no_batch, verbose;
	SSL_CTX *ctx;
	struct katls_policy_set *set;
	pthread_barrier_t start;
	unsigned int next;		/* atomic: connections handed out */
	struct result *res;
} ld = { .conc = 100, .timeout = 30 };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dial(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct timeval tv = { .tv_sec = ld.timeout };
	int fd, one = 1;

	if (getaddrinfo(ld.host, ld.port, &hints, &ai))
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* One attested connect; the verdict and its quote batch in @r. */
static void one(struct result *r)
{
	struct katls_verify_params vp = { .policy = &ld.set->policies[0], .peer_name = ld.name };
	struct katls_session_params p = { .role = KATLS_ROLE_CLIENT,
					  .mode = KATLS_MODE_VERIFY_PEER };
	struct katls_session_result sr;
	struct katls_exporter ex;
	double t0 = now_ms();
	SSL *ssl = NULL;
	int fd = dial();

	r->reason = KATLS_R_INTERNAL;
	if (fd < 0) {
		snprintf(r->msg, sizeof(r->msg), "connect: %s", strerror(errno));
		return;
	}
	if (katls_tls_ssl_new(&ssl, ld.ctx, fd, ld.name) ||
	    katls_tls_handshake(ssl, r->msg, sizeof(r->msg)) || katls_exporter_from_ssl(&ex, ssl)) {
		if (!*r->msg)
			snprintf(r->msg, sizeof(r->msg), "TLS set-up failed");
		goto out;
	}
	p.ex = &ex;
	p.tr.read = katls_tls_read;
	p.tr.write = katls_tls_write;
	p.tr.arg = ssl;
	p.verify = &vp;
	p.no_batch = ld.no_batch;
	katls_session_run(&p, &sr);
	r->ms = now_ms() - t0;
	r->reason = sr.reason;
	r->batch_size = sr.peer.sum.batch_size;
	snprintf(r->msg, sizeof(r->msg), "%s", sr.msg);
	katls_session_result_cleanup(&sr);
	katls_tls_ssl_wipe_secrets(ssl);
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
}

static void *client(void *arg)
{
	unsigned int i;

	pthread_barrier_wait(&ld.start);
	while ((i = __atomic_fetch_add(&ld.next, 1, __ATOMIC_RELAXED)) < ld.total) {
		const struct result *r = &ld.res[i];

		one(&ld.res[i]);
		if (ld.verbose || r->reason != KATLS_R_OK)
			fprintf(stderr, "attest_load: connection %u: %s (%.1f ms, batch %u): %s\n",
				i, katls_reason_name(r->reason), r->ms, r->batch_size, r->msg);
	}
	OPENSSL_thread_stop();
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted v[0..n) */
static double pct(const double *v, unsigned int n, double p)
{
	long i = (long)(p / 100.0 * n + 0.999999) - 1;

	return n ? v[i < 0 ? 0 : i >= (long)n ? n - 1 : i] : 0;
}

/* CPU time of this process so far, user + system, in ms. */
static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void report(double wall, double cpu)
{
	unsigned int ok = 0, batched = 0, k = 0, reasons[__KATLS_R_MAX] = { 0 };
	unsigned int *by_size = calloc(KATLS_BATCH_MAX + 1, sizeof(*by_size));
	double *lat = calloc(ld.total, sizeof(*lat));

	if (!by_size || !lat)
		exit(2);
	for (unsigned int i = 0; i < ld.total; i++) {
		const struct result *r = &ld.res[i];

		if (r->reason != KATLS_R_OK) {
			reasons[r->reason < __KATLS_R_MAX ? r->reason : KATLS_R_INTERNAL]++;
			continue;
		}
		ok++;
		lat[k++] = r->ms;
		batched += r->batch_size > 0;
		by_size[r->batch_size <= KATLS_BATCH_MAX ? r->batch_size : 0]++;
	}
	qsort(lat, k, sizeof(*lat), cmp_d);
	printf("load: connections=%u ok=%u failed=%u wall_ms=%.1f conn_per_s=%.1f p50_ms=%.1f "
	       "p90_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", ld.total, ok, ld.total - ok, wall,
	       ld.total / (wall / 1e3), pct(lat, k, 50), pct(lat, k, 90), pct(lat, k, 99),
	       pct(lat, k, 100));
	printf("load: verified=%u own_binder=%u batched=%u client_cpu_ms=%.1f\n", ok, ok, batched,
	       cpu);
	for (unsigned int s = 0; s <= KATLS_BATCH_MAX; s++)
		if (by_size[s])
			printf("load: batch size=%u connections=%u quotes=%u\n", s ? s : 1,
			       by_size[s], s ? (by_size[s] + s - 1) / s : by_size[s]);
	for (unsigned int r = 0; r < __KATLS_R_MAX; r++)
		if (reasons[r])
			printf("load: failure reason=%s count=%u\n", katls_reason_name(r),
			       reasons[r]);
	fflush(stdout);
	free(by_size);
	free(lat);
}

static int usage(void)
{
	fprintf(stderr, "usage: attest_load connect HOST:PORT --ca CA --policy FILE [--name N] "
		"[-c CONC] [-n TOTAL] [--no-batch] [--timeout S] [-v]\n"
		"       attest_load quote-rate N\n");
	return 2;
}

static int load_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'a' }, { "policy", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'N' }, { "no-batch", no_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 't' }, { 0 }
	};
	struct katls_tls_config tc = { .role = KATLS_ROLE_CLIENT };
	const char *policy = NULL;
	char err[512], *colon;
	pthread_t *t;
	double t0, wall, c0;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "c:n:v", opts, NULL)) != -1) {
		switch (c) {
		case 'a': tc.ca_file = optarg; break;
		case 'p': policy = optarg; break;
		case 'N': ld.name = optarg; break;
		case 'B': ld.no_batch = true; break;
		case 't': ld.timeout = (unsigned int)atoi(optarg); break;
		case 'c': ld.conc = (unsigned int)atoi(optarg); break;
		case 'n': ld.total = (unsigned int)atoi(optarg); break;
		case 'v': ld.verbose = true; break;
		default: return usage();
		}
	}
	if (optind + 1 != argc || !tc.ca_file || !policy || !ld.conc || ld.conc > 4096 ||
	    !(colon = strrchr(argv[optind], ':')))
		return usage();
	*colon = '\0';
	ld.host = argv[optind];
	ld.port = colon + 1;
	if (!ld.name)
		ld.name = ld.host;
	if (!ld.total)
		ld.total = ld.conc;
	if (ld.conc > ld.total)
		ld.conc = ld.total;
	if (katls_tls_ctx_new(&ld.ctx, &tc, err, sizeof(err)) ||
	    katls_policy_load(policy, &ld.set, err, sizeof(err)) || !ld.set->num_policies) {
		fprintf(stderr, "attest_load: %s\n", *err ? err : "policy defines no policy");
		return 2;
	}
	ld.res = calloc(ld.total, sizeof(*ld.res));
	t = calloc(ld.conc, sizeof(*t));
	if (!ld.res || !t)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	pthread_barrier_init(&ld.start, NULL, ld.conc + 1);
	for (unsigned int i = 0; i < ld.conc; i++)
		if (pthread_create(&t[i], NULL, client, NULL))
			return 2;
	t0 = now_ms();
	c0 = cpu_ms();
	pthread_barrier_wait(&ld.start);
	for (unsigned int i = 0; i < ld.conc; i++)
		pthread_join(t[i], NULL);
	wall = now_ms() - t0;
	report(wall, cpu_ms() - c0);
	for (unsigned int i = 0; i < ld.total && !ret; i++)
		ret = ld.res[i].reason != KATLS_R_OK;
	pthread_barrier_destroy(&ld.start);
	free(t);
	free(ld.res);
	katls_policy_set_free(ld.set);
	SSL_CTX_free(ld.ctx);
	return ret;
}

static int quote_rate(int n)
{
	uint8_t nonce[32] = { 0x51 };
	struct katls_buf att = KATLS_BUF_INIT, sig = KATLS_BUF_INIT;
	struct katls_pcrs pcrs;
	struct katls_tpm *tpm;
	double *lat = calloc((size_t)n, sizeof(*lat)), t0, all;
	int ret = katls_tpm_open(NULL, &tpm);

	if (ret || !lat) {
		fprintf(stderr, "attest_load: cannot open the TPM: %s\n", strerror(-ret));
		return 2;
	}
	all = now_ms();
	for (int i = 0; i < n && !ret; i++) {
		nonce[1] = (uint8_t)i;
		t0 = now_ms();
		ret = katls_tpm_quote(tpm, KATLS_AK_HANDLE_DEFAULT, nonce, sizeof(nonce),
				      0x7ff, &att, &sig, &pcrs);
		lat[i] = now_ms() - t0;
	}
	all = now_ms() - all;
	katls_tpm_close(tpm);
	katls_buf_cleanup(&att);
	katls_buf_cleanup(&sig);
	if (ret) {
		fprintf(stderr, "attest_load: quote: %s\n", strerror(-ret));
		return 2;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_d);
	printf("quote-rate: quotes=%d ms=%.1f quotes_per_s=%.2f p50_ms=%.1f\n", n, all,
	       n / (all / 1e3), pct(lat, (unsigned int)n, 50));
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "connect"))
		return load_main(argc - 1, argv + 1);
	if (argc == 3 && !strcmp(argv[1], "quote-rate") && atoi(argv[2]) > 0)
		return quote_rate(atoi(argv[2]));
	return usage();
}
