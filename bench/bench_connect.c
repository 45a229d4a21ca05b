// SPDX-License-Identifier: MIT
/*
 * bench_connect: latency of an attested connection (DESIGN.md §3.1: connect,
 * then setsockopt(KATLS_SO_ATTEST) on both ends, server attests, client
 * verifies, both through katlsd) against plain TLS 1.3 + kTLS handover (the
 * same katls_tls_* handshake and katls_ktls_install(), in process, no daemon,
 * no attestation), and against the "floor" of attestation: one extra
 * loopback round trip + one TPM quote + the verification CPU.
 *
 *   bench_connect --dir DIR --log KATLSD_LOG [-n N] [-w WARMUP]
 *
 * DIR holds what tests/vm/daemon_lib.sh's daemon_setup makes (host.pem,
 * host.key, ca.pem, policies.json with policy "vm"), saved/, an exchange
 * saved by `katls connect --save-evidence`, and saved-tail/, the next one
 * (connect --resume-from saved: incremental IMA); katlsd runs with that config and
 * logs to KATLSD_LOG, whose per-request timing lines give the breakdown.
 * Runs in the VM (bench/connect_vm.sh): it needs katls.ko, katlsd, a TPM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "appraisal/policy.h"
#include "appraisal/verify.h"
#include "evidence/evidence.h"
#include "evidence/tpm.h"
#include "kernel/attest.h"
#include "kernel/ktls.h"
#include "wire/tls.h"

#define MAXN 1000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_connect: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of v[0..n) (sorts v) */
static double pct(double *v, int n, double p)
{
	int i;

	if (n <= 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_d);
	i = (int)(p / 100.0 * n + 0.999999) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static int listen_lo(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket", errno);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, len) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		die("listen", errno);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int connect_lo(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect", errno);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---- the server end: one thread accepting `count` connections -------------- */
struct srv {
	int lfd, count;
	bool attested;		/* katls_attest() as server, else plain TLS + kTLS */
	SSL_CTX *ctx;
	int done[2];		/* one int (0 or -errno) per connection */
	pthread_t t;
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (int i = 0; i < s->count; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC), ret, one = 1;
		char err[256];
		SSL *ssl = NULL;

		if (fd < 0)
			die("accept", errno);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (s->attested) {
			struct katls_attest_opts o = { .role = KATLS_ROLE_SERVER,
						       .mode = KATLS_MODE_ATTEST_SELF };

			ret = katls_attest(fd, &o);
		} else {
			ret = katls_tls_ssl_new(&ssl, s->ctx, fd, NULL);
			if (!ret)
				ret = katls_tls_handshake(ssl, err, sizeof(err));
			if (!ret)
				ret = katls_ktls_install(ssl, fd, false);
			SSL_free(ssl);
		}
		if (write(s->done[1], &ret, sizeof(ret)) != sizeof(ret))
			die("pipe", errno);
		/* closing first would leave the client's socket not ESTABLISHED when it
		 * installs kTLS (-ENOTCONN): wait for the client's close */
		while (!ret && read(fd, err, sizeof(err)) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void srv_start(struct srv *s, int *port)
{
	s->lfd = listen_lo(port);
	if (pipe(s->done))
		die("pipe", errno);
	if (pthread_create(&s->t, NULL, srv_main, s))
		die("pthread_create", EAGAIN);
}

static void srv_stop(struct srv *s)
{
	pthread_join(s->t, NULL);
	close(s->lfd);
	close(s->done[0]);
	close(s->done[1]);
}

static int srv_wait(struct srv *s)
{
	int ret;

	if (read(s->done[0], &ret, sizeof(ret)) != sizeof(ret))
		die("pipe", EIO);
	return ret;
}

/* ---- plain TLS 1.3 + kTLS handover, client-side latency --------------------- */
static int bench_plain(const char *dir, int warm, int n, double *out)
{
	struct katls_tls_config sc = { .role = KATLS_ROLE_SERVER }, cc = { .role = KATLS_ROLE_CLIENT };
	char cert[4096], key[4096], ca[4096], err[256];
	struct srv s = { .count = warm + n };
	SSL_CTX *cctx;
	int port, ret;

	snprintf(cert, sizeof(cert), "%s/host.pem", dir);
	snprintf(key, sizeof(key), "%s/host.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	sc.cert_file = cert;
	sc.key_file = key;
	cc.ca_file = ca;
	if (katls_tls_ctx_new(&s.ctx, &sc, err, sizeof(err)) ||
	    katls_tls_ctx_new(&cctx, &cc, err, sizeof(err))) {
		fprintf(stderr, "bench_connect: %s\n", err);
		exit(1);
	}
	srv_start(&s, &port);
	for (int i = 0; i < warm + n; i++) {
		double t0 = now_ms();
		int fd = connect_lo(port);
		SSL *ssl;

		ret = katls_tls_ssl_new(&ssl, cctx, fd, "server.test");
		if (!ret)
			ret = katls_tls_handshake(ssl, err, sizeof(err));
		if (!ret)
			ret = katls_ktls_install(ssl, fd, true);
		if (i >= warm)
			out[i - warm] = now_ms() - t0;
		if (ret) {
			fprintf(stderr, "bench_connect: plain TLS: %s %s\n", strerror(-ret), err);
			exit(1);
		}
		SSL_free(ssl);
		if ((ret = srv_wait(&s)))
			die("plain TLS server", ret);
		close(fd);
	}
	srv_stop(&s);
	SSL_CTX_free(s.ctx);
	SSL_CTX_free(cctx);
	return 0;
}

/* ---- attested: connect + setsockopt(KATLS_SO_ATTEST) through katlsd -------- */
static void bench_attested(int warm, int n, double *cli, double *srv_done, long *log_off,
			   const char *log)
{
	struct katls_attest_opts o = { .role = KATLS_ROLE_CLIENT, .mode = KATLS_MODE_VERIFY_PEER,
				       .policy = "vm", .server_name = "server.test" };
	struct srv s = { .count = warm + n, .attested = true };
	struct stat st;
	int port, ret;

	srv_start(&s, &port);
	for (int i = 0; i < warm + n; i++) {
		double t0, t1;
		int fd;

		if (i == warm) {
			usleep(300 * 1000);	/* the warm-up's last log lines */
			*log_off = stat(log, &st) ? 0 : (long)st.st_size;
		}
		t0 = now_ms();
		fd = connect_lo(port);
		ret = katls_attest(fd, &o);
		t1 = now_ms();
		if (ret)
			die("katls_attest (client)", ret);
		if ((ret = srv_wait(&s)))
			die("katls_attest (server)", ret);
		if (i >= warm) {
			cli[i - warm] = t1 - t0;
			srv_done[i - warm] = now_ms() - t0;
		}
		close(fd);
	}
	srv_stop(&s);
}

/* ---- katlsd's per-request lines (worker.c) ---------------------------------- */
struct kd {
	double total, hs, ktls, ev, quote, x, peer, local;
	unsigned int rt;
};

/* The value of " key=" in a verdict line (docs/man/katlsd.8, LOGGING); 0 if absent. */
static double kv(const char *line, const char *key)
{
	char k[32];
	const char *p;

	snprintf(k, sizeof(k), " %s=", key);
	p = strstr(line, k);
	return p ? strtod(p + strlen(k), NULL) : 0;
}

/* @what: " role=client mode=verify " and the like */
static int parse_log(const char *log, long off, const char *what, struct kd *out, int max)
{
	FILE *f = fopen(log, "r");
	char line[8192];
	int n = 0;

	if (!f)
		die(log, errno);
	fseek(f, off, SEEK_SET);
	while (n < max && fgets(line, sizeof(line), f)) {
		struct kd *k = &out[n];

		if (!strstr(line, "event=verdict ") || !strstr(line, what) ||
		    !strstr(line, " result=accepted ") || !strstr(line, " ms_total="))
			continue;
		k->total = kv(line, "ms_total");
		k->hs = kv(line, "ms_handshake");
		k->ktls = kv(line, "ms_ktls");
		k->ev = kv(line, "ms_evidence");
		k->quote = kv(line, "ms_quote");
		k->x = kv(line, "ms_exchange");
		k->peer = kv(line, "ms_peer");
		k->local = kv(line, "ms_local");
		k->rt = (unsigned int)kv(line, "round_trips");
		n++;
	}
	fclose(f);
	return n;
}

/* percentile of one field of n records */
static double kd_pct(const struct kd *k, int n, size_t field, double p)
{
	double v[MAXN];

	for (int i = 0; i < n; i++)
		v[i] = field == offsetof(struct kd, rt) ? k[i].rt :
		       *(const double *)((const char *)&k[i] + field);
	return pct(v, n, p);
}
#define KD_P(arr, n, field, p) kd_pct(arr, n, offsetof(struct kd, field), p)

/* ---- floor: loopback round trip, TPM quote, verification -------------------- */
static void *echo_main(void *arg)
{
	int fd = *(int *)arg;
	char c;

	while (read(fd, &c, 1) == 1)
		if (write(fd, &c, 1) != 1)
			break;
	return NULL;
}

static double bench_rtt(int n)
{
	double v[MAXN];
	int port, lfd = listen_lo(&port), cfd = connect_lo(port), sfd, one = 1;
	pthread_t t;
	char c = 'x';

	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pthread_create(&t, NULL, echo_main, &sfd);
	for (int i = 0; i < n + 10; i++) {
		double t0 = now_ms();

		if (write(cfd, &c, 1) != 1 || read(cfd, &c, 1) != 1)
			die("round trip", errno);
		if (i >= 10)
			v[i - 10] = now_ms() - t0;
	}
	close(cfd);
	pthread_join(t, NULL);
	close(sfd);
	close(lfd);
	return pct(v, n, 50);
}

static void bench_quote(int n, double *v)
{
	struct katls_tpm *tpm;
	int ret = katls_tpm_open(NULL, &tpm);

	if (ret)
		die("katls_tpm_open", ret);
	for (int i = 0; i < n + 2; i++) {
		struct katls_buf attest = { 0 }, sig = { 0 };
		struct katls_pcrs pcrs;
		uint8_t nonce[32];
		double t0;

		RAND_bytes(nonce, sizeof(nonce));
		t0 = now_ms();
		ret = katls_tpm_quote(tpm, KATLS_AK_HANDLE_DEFAULT, nonce, sizeof(nonce),
				      KATLS_EVIDENCE_PCR_MASK, &attest, &sig, &pcrs);
		if (ret)
			die("katls_tpm_quote", ret);
		if (i >= 2)
			v[i - 2] = now_ms() - t0;
		katls_buf_cleanup(&attest);
		katls_buf_cleanup(&sig);
	}
	katls_tpm_close(tpm);
}

static struct katls_saved *load_saved(const char *dir, const char *name)
{
	struct katls_saved *s;
	char path[4096], err[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (katls_saved_load(path, &s, err, sizeof(err))) {
		fprintf(stderr, "bench_connect: %s\n", err);
		exit(1);
	}
	return s;
}

/*
 * The verifier's CPU per connection in its steady state: saved/ verified
 * once (the verifier meets the attester), then saved-tail/, the exchange of
 * a connection whose request named the IMA prefix saved/ covered (katls
 * connect --resume-from), each time.  Both read into memory first.
 */
static void bench_verify(const char *dir, int n, double *v)
{
	struct katls_verify_params p = { 0 };
	struct katls_saved *first = load_saved(dir, "saved"), *tail = load_saved(dir, "saved-tail");
	struct katls_policy_set *set;
	char path[4096], err[256];

	snprintf(path, sizeof(path), "%s/policies.json", dir);
	if (katls_policy_load(path, &set, err, sizeof(err))) {
		fprintf(stderr, "bench_connect: %s\n", err);
		exit(1);
	}
	p.policy = katls_policy_set_find(set, "vm");
	if (!p.policy)
		die("no policy \"vm\"", ENOENT);
	for (int i = -1; i < n + 2; i++) {
		struct katls_verify_result r;
		double t0 = now_ms();
		int ret = katls_saved_verify(i < 0 ? first : tail, &p, &r);

		if (i >= 2)
			v[i - 2] = now_ms() - t0;
		if (ret) {
			fprintf(stderr, "bench_connect: saved exchange: %s\n", r.msg);
			exit(1);
		}
		katls_verify_result_cleanup(&r);
	}
	katls_saved_free(first);
	katls_saved_free(tail);
	katls_policy_set_free(set);
}

int main(int argc, char **argv)
{
	static double plain[MAXN], cli[MAXN], srvd[MAXN], q[MAXN], ver[MAXN];
	static struct kd kc[MAXN], ks[MAXN];
	const char *dir = NULL, *log = NULL;
	int n = 50, warm = 5, nq = 20, c, nc, ns;
	double p50p, p99p, p50a, p99a, rtt, q50, v50, floor_ms;
	long off = 0;

	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "log", required_argument, NULL, 'l' },
		{ 0 }
	};

	while ((c = getopt_long(argc, argv, "n:w:q:", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'l': log = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'w': warm = atoi(optarg); break;
		case 'q': nq = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind < argc)
		goto usage;
	if (!dir || !log) {
		/* make bench runs every binary without arguments: on the host there is
		 * no katls.ko/katlsd/TPM to measure; the VM wrapper passes them */
		printf("bench_connect: runs in the VM with katlsd: see bench/connect_vm.sh\n");
		return 0;
	}
	if (n < 1 || n > MAXN || warm < 0 || nq < 1 || nq > MAXN)
		goto usage;

	bench_plain(dir, warm, n, plain);
	bench_attested(warm, n, cli, srvd, &off, log);
	usleep(300 * 1000);	/* katlsd logs its line just after REQUEST_DONE */
	nc = parse_log(log, off, " role=client mode=verify ", kc, MAXN);
	ns = parse_log(log, off, " role=server mode=attest ", ks, MAXN);
	rtt = bench_rtt(200);
	bench_quote(nq, q);
	bench_verify(dir, nq, ver);

	p50p = pct(plain, n, 50);
	p99p = pct(plain, n, 99);
	p50a = pct(cli, n, 50);
	p99a = pct(cli, n, 99);
	q50 = pct(q, nq, 50);
	v50 = pct(ver, nq, 50);
	floor_ms = p50p + rtt + q50 + v50;

	printf("connections: %d measured after %d warm-up, one at a time, loopback IPv4\n", n, warm);
	printf("%-58s %9s %9s\n", "", "p50 ms", "p99 ms");
	printf("%-58s %9.1f %9.1f\n", "plain TLS 1.3 + kTLS handover (in process, no daemon)",
	       p50p, p99p);
	printf("%-58s %9.1f %9.1f\n", "attested: connect + KATLS_SO_ATTEST returns (client)",
	       p50a, p99a);
	printf("%-58s %9.1f %9.1f\n", "  ... and the server's setsockopt returned too",
	       pct(srvd, n, 50), pct(srvd, n, 99));
	printf("%-58s %9.2fx %8.2fx\n", "ratio attested / plain", p50a / p50p, p99a / p99p);
	if (nc > 0 && ns > 0) {
		double kt = KD_P(kc, nc, total, 50);

		printf("breakdown, p50 of katlsd's log lines (%d client, %d server requests):\n",
		       nc, ns);
		printf("  %-56s %9.1f\n", "client katlsd request total", kt);
		printf("  %-56s %9.1f\n", "  TLS 1.3 handshake (1 RTT + server cert check)",
		       KD_P(kc, nc, hs, 50));
		printf("  %-56s %9.1f\n", "  kTLS key installation", KD_P(kc, nc, ktls, 50));
		printf("  %-56s %9.1f\n", "  katls/1 exchange", KD_P(kc, nc, x, 50));
		printf("  %-56s %9.1f\n", "    waiting for the server (its Evidence + EA, network)",
		       KD_P(kc, nc, peer, 50));
		printf("  %-56s %9.1f\n", "    local: verification of EA + Evidence, verdict",
		       KD_P(kc, nc, local, 50));
		printf("  %-56s %9.1f\n", "app-visible beyond katlsd (request dispatch, wake-up)",
		       p50a - kt);
		printf("  %-56s %9.1f\n", "server katlsd request total", KD_P(ks, ns, total, 50));
		printf("  %-56s %9.1f\n", "  TLS 1.3 handshake", KD_P(ks, ns, hs, 50));
		printf("  %-56s %9.1f\n", "  kTLS key installation", KD_P(ks, ns, ktls, 50));
		printf("  %-56s %9.1f\n", "  Evidence gathering", KD_P(ks, ns, ev, 50));
		printf("  %-56s %9.1f\n", "    TPM quote", KD_P(ks, ns, quote, 50));
		printf("  %-56s %9.1f\n", "    rest (IMA log, kernel state, CMW)",
		       KD_P(ks, ns, ev, 50) - KD_P(ks, ns, quote, 50));
		printf("  %-56s %9.1f\n", "  EA signing + framing (exchange local - Evidence)",
		       KD_P(ks, ns, local, 50));
		printf("  %-56s %9.1f\n", "  waiting for the client (verification, verdict)",
		       KD_P(ks, ns, peer, 50));
		printf("  round trips: TLS handshake 1, katls/1 exchange %u (client view)\n",
		       (unsigned int)KD_P(kc, nc, rt, 50));
	} else {
		printf("breakdown: no katlsd timing lines found in %s\n", log);
	}
	printf("floor (same boot):\n");
	printf("  %-56s %9.3f\n", "loopback round trip (TCP, 1 byte, p50)", rtt);
	printf("  %-56s %9.1f %9.1f\n", "TPM quote, katls_tpm_quote, PCRs 0-10 (p50, p99)", q50,
	       pct(q, nq, 99));
	printf("  %-56s %9.1f %9.1f\n", "verification of a known attester's exchange (p50, p99)", v50,
	       pct(ver, nq, 99));
	printf("  %-56s %9.1f\n", "floor = plain p50 + round trip + quote + verification",
	       floor_ms);
	printf("  %-56s %9.1f (%.2fx the floor)\n", "attested p50 above the floor", p50a - floor_ms,
	       p50a / floor_ms);
	printf("  %-56s %9.1f\n", "attestation cost: attested p50 - plain p50", p50a - p50p);
	return 0;
usage:
	fprintf(stderr, "usage: bench_connect --dir DIR --log KATLSD_LOG [-n N] [-w WARMUP] "
		"[-q QUOTES]\n");
	return 2;
}
