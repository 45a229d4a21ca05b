// SPDX-License-Identifier: MIT
/*
 * bench_gate - what the BPF gate costs, measured side by side in one run.
 *
 * 1. Rule lookup: the gate's own rule_match() (bpf/katls_rules.bpf.h) over an
 *    LPM trie of 10 and of 100,000 rules, timed by the kernel through
 *    BPF_PROG_TEST_RUN (bpf/katls_bench.bpf.c); half the addresses hit a rule.
 *    This is the per-connection cost sockops pays at establishment.
 * 2. Loopback TCP with the gate not loaded vs loaded (both sockets ATTESTED
 *    with an expiry, the full check on every call): throughput with 16 KiB
 *    writes (a sender and a receiver thread), and the cost of one send()+recv()
 *    pair in one thread (16 KiB and 64 B).  Conditions alternate over ROUNDS
 *    rounds and the medians are compared.  Needs BPF-LSM (run it in the VM:
 *    bench/gate_vm.sh); elsewhere part 2 says why it is skipped.
 * 3. The programs' own run time per call (the kernel's BPF statistics) on a
 *    socket the gate does not cover at all (a Unix socket: the storage lookup
 *    misses, as it did for every unruled TCP socket before the gate kept a
 *    state on each), on an unruled TCP socket (state NONE: lookup hit and the
 *    rules-generation check) and on an ATTESTED one (the expiry check); and
 *    the cost of setting up a connection (connect+accept+close) with the gate
 *    not loaded vs loaded with 10 rules none of which matches.
 *
 * The gate is loaded under its own pin directory (/sys/fs/bpf/katls-bench),
 * so a gate already loaded by the operator is left alone.  Target: <= 3 %
 * throughput loss.  A benchmark, not a test: it always exits 0 unless setup
 * fails.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "katls_bench.skel.h"
#include "kernel/gate.h"

#define ROUNDS		5
#define XFER_SECONDS	2.0
#define WRITE_SIZE	16384
#define LOOKUP_ADDRS	256
#define LOOKUP_RUNS	2000
#define BENCH_PIN_DIR	"/sys/fs/bpf/katls-bench"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ---- 1. rule lookup ------------------------------------------------------------ */

/* ns per connection lookup with @num_rules random rules in 10.0.0.0/8. */
static int lookup_cost(uint32_t num_rules, double *out_ns)
{
	struct katls_bench_bpf *skel = katls_bench_bpf__open();
	uint32_t seed = 0x6b61746c, *prefixes = NULL;
	int map_fd, ret;
	uint8_t pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = LOOKUP_RUNS);

	if (!skel)
		return -errno;
	ret = katls_bench_bpf__load(skel);
	if (ret)
		goto out;
	map_fd = bpf_map__fd(skel->maps.katls_rules);
	prefixes = calloc(num_rules, sizeof(*prefixes));
	if (!prefixes) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < num_rules; i++) {
		struct katls_rule_key k = { .dir = KATLS_DIR_OUT, .family = KATLS_FAM_V4 };
		struct katls_rule_v v = { .action = KATLS_ACT_REQUIRE, .policy_id = 1 };
		uint32_t len = 16 + rnd(&seed) % 17;	/* /16 .. /32 */
		uint32_t a = (0x0a000000U | (rnd(&seed) & 0x00ffffffU)) & ~(len == 32 ? 0 :
			     0xffffffffU >> len);

		k.prefixlen = KATLS_RULE_KEY_FIXED_BITS + len;
		k.port = htons(i % 2 ? 443 : 0);
		a = htonl(a);
		memcpy(k.addr, &a, 4);
		prefixes[i] = a;
		if (bpf_map_update_elem(map_fd, &k, &v, BPF_ANY) && errno != EEXIST) {
			ret = -errno;
			goto out;
		}
	}
	/* Half the lookups fall inside a rule's prefix, half are random. */
	for (int i = 0; i < LOOKUP_ADDRS; i++)
		skel->bss->bench_addrs[i] = i % 2 ? prefixes[rnd(&seed) % num_rules] :
					htonl(rnd(&seed));
	skel->bss->bench_port = htons(443);
	/* Warm up (caches; under QEMU/TCG, the translation of the code), then time. */
	topts.repeat = 10;
	ret = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.katls_bench_lookup), &topts);
	topts.repeat = LOOKUP_RUNS;
	if (!ret)
		ret = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.katls_bench_lookup), &topts);
	if (ret)
		goto out;
	*out_ns = (double)topts.duration / LOOKUP_ADDRS;
out:
	free(prefixes);
	katls_bench_bpf__destroy(skel);
	return ret;
}

static void bench_lookup(void)
{
	double ns10, ns100k;
	int ret;

	printf("rule lookup (sockops, once per new connection): %d lookups x %d runs, "
	       "kernel-timed\n", LOOKUP_ADDRS, LOOKUP_RUNS);
	ret = lookup_cost(10, &ns10);
	if (!ret)
		ret = lookup_cost(100000, &ns100k);
	if (ret) {
		printf("  skipped: %s\n", strerror(-ret));
		return;
	}
	printf("  10 rules          %8.1f ns/connection\n", ns10);
	printf("  100,000 rules     %8.1f ns/connection\n", ns100k);
	printf("  ratio             %8.2fx\n", ns100k / ns10);
}

/* ---- 2. loopback TCP ------------------------------------------------------------- */

static int tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		return -errno;
	*cli = socket(AF_INET, SOCK_STREAM, 0);
	if (*cli < 0 || connect(*cli, (struct sockaddr *)&a, sizeof(a)))
		return -errno;
	*srv = accept(l, NULL, NULL);
	close(l);
	return *srv < 0 ? -errno : 0;
}

struct xfer {
	int fd;
	double deadline;
	unsigned long long bytes;
};

static void *sender(void *arg)
{
	static char buf[WRITE_SIZE];
	struct xfer *x = arg;

	while (now_s() < x->deadline) {
		ssize_t n = send(x->fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		x->bytes += (unsigned long long)n;
	}
	shutdown(x->fd, SHUT_WR);
	return NULL;
}

/* MB/s over XFER_SECONDS of 16 KiB writes. */
static double throughput(int cli, int srv)
{
	static char buf[WRITE_SIZE];
	struct xfer x = { .fd = cli, .deadline = now_s() + XFER_SECONDS };
	unsigned long long got = 0;
	double t0 = now_s(), t;
	pthread_t th;
	ssize_t n;

	if (pthread_create(&th, NULL, sender, &x))
		return 0;
	while ((n = recv(srv, buf, sizeof(buf), 0)) > 0)
		got += (unsigned long long)n;
	t = now_s() - t0;
	pthread_join(th, NULL);
	return (double)got / t / 1e6;
}

/* ns per send()+recv() pair of @size bytes, one thread. */
static double pair_cost(int cli, int srv, size_t size, int iters)
{
	static char buf[WRITE_SIZE];
	double t0 = now_s();

	for (int i = 0; i < iters; i++) {
		size_t got = 0;

		if (send(cli, buf, size, 0) != (ssize_t)size)
			return 0;
		while (got < size) {
			ssize_t n = recv(srv, buf, size - got, 0);

			if (n <= 0)
				return 0;
			got += (size_t)n;
		}
	}
	return (now_s() - t0) * 1e9 / iters;
}

/* Per-call run time of katls_socket_sendmsg and _recvmsg, from prog_stats(). */
static double prog_ns[2];

/* Run time and count of the program behind the pinned link @name. */
static int prog_run(const char *name, uint64_t *ns, uint64_t *cnt)
{
	char path[256];
	struct bpf_link_info li = { 0 };
	struct bpf_prog_info pi = { 0 };
	__u32 len = sizeof(li);
	int lfd, pfd, ret = -1;

	snprintf(path, sizeof(path), "%s/link_%s", BENCH_PIN_DIR, name);
	lfd = bpf_obj_get(path);
	if (lfd < 0)
		return -1;
	if (!bpf_obj_get_info_by_fd(lfd, &li, &len)) {
		pfd = bpf_prog_get_fd_by_id(li.prog_id);
		len = sizeof(pi);
		if (pfd >= 0 && !bpf_obj_get_info_by_fd(pfd, &pi, &len)) {
			*ns = pi.run_time_ns;
			*cnt = pi.run_cnt;
			ret = 0;
		}
		if (pfd >= 0)
			close(pfd);
	}
	close(lfd);
	return ret;
}

/*
 * The kernel's own account of the gate programs' run time per call
 * (kernel.bpf_stats_enabled), in a separate untimed pass: the stats add two
 * clock reads per run.  Excludes the trampoline around the programs.
 */
static void prog_stats(int cli, int srv, const char *what)
{
	static const char *const names[] = {
		"katls_socket_sendmsg", "katls_socket_recvmsg", "katls_file_permission",
	};
	uint64_t ns0[3], n0[3], ns1, n1;
	double per;
	char buf[64] = { 0 };
	int sfd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (sfd < 0) {
		printf("  program run time: unavailable (%s)\n", strerror(errno));
		return;
	}
	for (int i = 0; i < 3; i++)
		if (prog_run(names[i], &ns0[i], &n0[i]))
			goto out;
	pair_cost(cli, srv, 64, 5000);
	for (int i = 0; i < 5000; i++)
		if (write(cli, buf, sizeof(buf)) != sizeof(buf) || read(srv, buf, sizeof(buf)) <= 0)
			break;
	printf("  program run time per call, %-38s", what);
	for (int i = 0; i < 3; i++) {
		if (prog_run(names[i], &ns1, &n1) || n1 == n0[i])
			continue;
		per = (double)(ns1 - ns0[i]) / (double)(n1 - n0[i]);
		if (i < 2 && !strcmp(what, "ATTESTED TCP socket:"))
			prog_ns[i] = per;
		printf(" %s %.0f ns", names[i] + 6, per);
	}
	printf("\n");
out:
	close(sfd);
}

struct sample {
	double mbps, ns16k, ns64;
};

static int measure(struct katls_gate *g, bool stats, struct sample *s)
{
	int cli = -1, srv = -1, ret = tcp_pair(&cli, &srv);
	uint64_t expiry = katls_gate_now_ns() + 3600ULL * 1000000000ULL;

	if (ret)
		return ret;
	if (g && ((ret = katls_gate_set_state(g, cli, KATLS_GATE_ATTESTED, 0, expiry)) ||
		  (ret = katls_gate_set_state(g, srv, KATLS_GATE_ATTESTED, 0, expiry))))
		goto out;
	pair_cost(cli, srv, 64, 2000);	/* warm-up */
	s->ns64 = pair_cost(cli, srv, 64, 20000);
	s->ns16k = pair_cost(cli, srv, WRITE_SIZE, 5000);
	if (g && stats) {
		int u[2];

		printf("  (BPF stats; file_permission averages every file read and written)\n");
		if (!socketpair(AF_UNIX, SOCK_STREAM, 0, u)) {
			prog_stats(u[0], u[1], "a Unix socket (no state):");
			close(u[0]);
			close(u[1]);
		}
		if (!tcp_pair(&u[0], &u[1])) {
			prog_stats(u[0], u[1], "an unruled TCP socket (NONE):");
			close(u[0]);
			close(u[1]);
		}
		prog_stats(cli, srv, "ATTESTED TCP socket:");
	}
	s->mbps = throughput(cli, srv);
	if (!s->mbps || !s->ns64 || !s->ns16k)
		ret = -EIO;
out:
	close(cli);
	close(srv);
	return ret;
}

static void bench_tcp(void)
{
	struct katls_gate_opts opts = { .pin_dir = BENCH_PIN_DIR };
	double mb[2][ROUNDS], c16[2][ROUNDS], c64[2][ROUNDS];
	struct katls_gate *g;
	struct sample s;
	int ret;

	printf("loopback TCP, 16 KiB writes, %d rounds x %.0f s per condition, alternating "
	       "(medians)\n", ROUNDS, XFER_SECONDS);
	katls_gate_unload(BENCH_PIN_DIR);	/* a previous run that died */
	for (int r = 0; r < ROUNDS; r++) {
		if ((ret = measure(NULL, false, &s)))
			goto fail;
		mb[0][r] = s.mbps, c16[0][r] = s.ns16k, c64[0][r] = s.ns64;
		ret = katls_gate_load(&opts, &g);
		if (ret) {
			printf("  skipped: %s\n", katls_gate_errmsg());
			return;
		}
		ret = measure(g, r == ROUNDS - 1, &s);
		katls_gate_free(g);
		katls_gate_unload(BENCH_PIN_DIR);
		if (ret)
			goto fail;
		mb[1][r] = s.mbps, c16[1][r] = s.ns16k, c64[1][r] = s.ns64;
	}
	double m0 = median(mb[0], ROUNDS), m1 = median(mb[1], ROUNDS);
	double a0 = median(c16[0], ROUNDS), a1 = median(c16[1], ROUNDS);
	double b0 = median(c64[0], ROUNDS), b1 = median(c64[1], ROUNDS);

	printf("  %-22s %10s %20s %18s   (MB/s min-max)\n", "", "MB/s", "send+recv 16 KiB",
	       "send+recv 64 B");
	printf("  %-22s %10.1f %17.0f ns %15.0f ns   (%.1f-%.1f)\n", "gate not loaded", m0, a0, b0,
	       mb[0][0], mb[0][ROUNDS - 1]);
	printf("  %-22s %10.1f %17.0f ns %15.0f ns   (%.1f-%.1f)\n", "gate loaded, ATTESTED", m1, a1,
	       b1, mb[1][0], mb[1][ROUNDS - 1]);
	printf("  throughput loss        %9.2f %%  (target <= 3 %%; compare with the spread of "
	       "the rounds)\n", (m0 - m1) / m0 * 100);
	if (prog_ns[0] > 0 && prog_ns[1] > 0)
		printf("  program share          %9.2f %%  of a 16 KiB send+recv pair: "
		       "(sendmsg + recvmsg run time) / pair time without the gate\n",
		       (prog_ns[0] + prog_ns[1]) / a0 * 100);
	printf("  per-call overhead      %+9.0f ns per call at 16 KiB, %+.0f ns per call at 64 B "
	       "(pair delta / 2)\n", (a1 - a0) / 2, (b1 - b0) / 2);
	return;
fail:
	printf("  failed: %s\n", strerror(-ret));
}

/* ns per connect()+accept()+close() of both ends over loopback. */
static double conn_cost(int iters)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	double t0;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 64) ||
	    getsockname(l, (struct sockaddr *)&a, &len))
		return 0;
	t0 = now_s();
	for (int i = 0; i < iters; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), s;

		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
			return 0;
		s = accept(l, NULL, NULL);
		close(c);
		if (s < 0)
			return 0;
		close(s);
	}
	close(l);
	return (now_s() - t0) * 1e9 / iters;
}

static void bench_connect(void)
{
	struct katls_gate_opts opts = { .pin_dir = BENCH_PIN_DIR };
	struct katls_gate_rule r = { .dir = KATLS_DIR_OUT, .family = KATLS_FAM_V4,
				     .prefix_len = 32, .action = KATLS_ACT_REQUIRE, .port = 1 };
	double c[2][ROUNDS];
	struct katls_gate *g;

	printf("connection setup (connect+accept+close over loopback, %d rounds, medians)\n",
	       ROUNDS);
	katls_gate_unload(BENCH_PIN_DIR);
	for (int k = 0; k < ROUNDS; k++) {
		c[0][k] = conn_cost(500);
		if (katls_gate_load(&opts, &g)) {
			printf("  skipped: %s\n", katls_gate_errmsg());
			return;
		}
		for (uint32_t i = 0; i < 10; i++) {
			uint32_t addr = htonl(0x0a000001U + i);

			memcpy(r.addr, &addr, 4);
			katls_gate_rules_add(g, &r, 1, false);
		}
		c[1][k] = conn_cost(500);
		katls_gate_free(g);
		katls_gate_unload(BENCH_PIN_DIR);
	}
	double a = median(c[0], ROUNDS), b = median(c[1], ROUNDS);

	printf("  gate not loaded        %10.0f ns per connection\n", a);
	printf("  gate loaded, 10 rules  %10.0f ns per connection (%+.0f ns, %.2fx; each end's "
	       "state is created and decided)\n", b, b - a, b / a);
}

int main(void)
{
	char cs[64] = "?";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");

	if (f) {
		if (fscanf(f, "%63s", cs) != 1)
			snprintf(cs, sizeof(cs), "?");
		fclose(f);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench_gate (%s; clocksource %s)\n", getenv("KATLS_BENCH_WHERE") ?
	       getenv("KATLS_BENCH_WHERE") : "this machine", cs);
	bench_lookup();
	bench_tcp();
	bench_connect();
	return 0;
}
