// SPDX-License-Identifier: MIT
/* katls gate: load, unload and observe the BPF gate (see docs/gate.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"
#include "kernel/gate.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls gate load [--no-lsm] [--no-attest] [--cgroup DIR] [--verbose]\n"
		"       katls gate unload\n"
		"       katls gate status [--json]\n"
		"       katls gate stats [--json]\n"
		"       katls gate events [--json] [--count N] [--timeout SECONDS] [--backlog]\n\n"
		"The BPF gate keeps application I/O off TCP connections that a rule marks\n"
		"REQUIRED until katlsd has attested them (rules: 'katls policy').\n\n"
		"  load      load (or reload, keeping state) the gate and pin it under\n"
		"            " KATLS_GATE_PIN_DIR "; sockops attaches to the cgroup v2 root\n"
		"            (--cgroup DIR for another).  --no-lsm loads rules and marking\n"
		"            only, WITHOUT enforcement: for tests and diagnostics on kernels\n"
		"            that refuse BPF-LSM.  --verbose prints libbpf's log.\n"
		"            With katls.ko (built with BTF) loaded, the gate also serves\n"
		"            attest rules and then pins katls.ko (rmmod needs 'gate unload'\n"
		"            or a reload with --no-attest first).\n"
		"  unload    detach the gate and drop its state: gated sockets open\n"
		"  status    what is loaded, and whether it enforces\n"
		"  stats     counters (all CPUs)\n"
		"  events    denials as they happen, one per line (--json: JSON lines);\n"
		"            --count N stops after N, --timeout after SECONDS (0: poll once);\n"
		"            --backlog also prints the denials buffered before the start\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 5 gate not loaded,\n"
		"6 the kernel refuses BPF-LSM programs (load), or the gate does not enforce (status).\n");
}

static int open_gate(const char *cmd, struct katls_gate **g)
{
	int ret = katls_gate_open_pinned(NULL, g);

	if (ret == -ENOENT) {
		fprintf(stderr, "katls gate %s: %s\n", cmd, katls_gate_errmsg());
		return KATLS_EXIT_NOGATE;
	}
	if (ret) {
		fprintf(stderr, "katls gate %s: %s\n", cmd,
			*katls_gate_errmsg() ? katls_gate_errmsg() : strerror(-ret));
		return KATLS_EXIT_FAIL;
	}
	return KATLS_EXIT_OK;
}

/* Parse --json/--help only; returns -1 to continue, else an exit code. */
static int simple_opts(int argc, char **argv, bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (!json)
				return katls_usage(usage, c);
			*json = true;
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	return optind == argc ? -1 : katls_usage(usage, '?');
}

static int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-lsm", no_argument, NULL, 'n' },
		{ "no-attest", no_argument, NULL, 'N' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct katls_gate_opts o = { 0 };
	int c, ret;

	while ((c = getopt_long(argc, argv, "nNc:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.no_lsm = true;
			break;
		case 'N':
			o.no_attest = true;
			break;
		case 'c':
			o.cgroup = optarg;
			break;
		case 'v':
			o.verbose = true;
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc)
		return katls_usage(usage, '?');
	ret = katls_gate_load(&o, NULL);
	if (ret) {
		const char *m = katls_gate_errmsg();

		if (!strncmp(m, "katls: ", 7))
			fprintf(stderr, "%s\n", m);
		else
			fprintf(stderr, "katls gate load: %s\n", *m ? m : strerror(-ret));
		return ret == -EPERM ? KATLS_EXIT_NOLSM : KATLS_EXIT_FAIL;
	}
	if (o.no_lsm)
		fprintf(stderr, "katls gate load: loaded WITHOUT the LSM programs (--no-lsm): "
			"sockets are marked but nothing is enforced\n");
	return KATLS_EXIT_OK;
}

static int cmd_unload(int argc, char **argv)
{
	int ret = simple_opts(argc, argv, NULL);

	if (ret >= 0)
		return ret;
	ret = katls_gate_unload(NULL);
	if (ret == -ENOENT) {
		fprintf(stderr, "katls gate unload: %s\n", katls_gate_errmsg());
		return KATLS_EXIT_NOGATE;
	}
	if (ret) {
		fprintf(stderr, "katls gate unload: %s\n", katls_gate_errmsg());
		return KATLS_EXIT_FAIL;
	}
	return KATLS_EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
	struct katls_gate_info info;
	struct katls_gate *g;
	bool json = false;
	const char *mode;
	int ret = simple_opts(argc, argv, &json);

	if (ret >= 0)
		return ret;
	ret = open_gate("status", &g);
	if (ret == KATLS_EXIT_NOGATE) {
		if (json)
			printf("{ \"loaded\": false }\n");
		return ret;
	}
	if (ret)
		return ret;
	ret = katls_gate_info(g, &info);
	if (ret) {
		fprintf(stderr, "katls gate status: %s\n", katls_gate_errmsg());
		katls_gate_free(g);
		return KATLS_EXIT_FAIL;
	}
	mode = info.lsm ? "enforcing" : info.num_lsm ? "partly loaded: NOT ENFORCING" :
							"rules and marking only (--no-lsm): NOT ENFORCING";
	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "loaded", json_object_new_boolean(1));
		json_object_object_add(o, "enforcing", json_object_new_boolean(info.lsm));
		json_object_object_add(o, "pin_dir", json_object_new_string(katls_gate_pin_dir(g)));
		json_object_object_add(o, "sockops", json_object_new_boolean(info.sockops));
		json_object_object_add(o, "cgroup_id", json_object_new_uint64(info.cgroup_id));
		json_object_object_add(o, "lsm_programs", json_object_new_int((int)info.num_lsm));
		json_object_object_add(o, "rules", json_object_new_int64(info.num_rules));
		json_object_object_add(o, "policies", json_object_new_int64(info.num_policies));
		json_object_object_add(o, "attest_rules", json_object_new_boolean(info.attest));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("katls gate: loaded, %s\n", mode);
		printf("  pin dir    %s\n", katls_gate_pin_dir(g));
		printf("  sockops    %s (cgroup id %llu)\n", info.sockops ? "attached" : "MISSING",
		       (unsigned long long)info.cgroup_id);
		printf("  lsm        %u of %u programs attached\n", info.num_lsm,
		       info.num_lsm_expected);
		printf("  rules      %u (max %u)\n", info.num_rules, KATLS_MAX_RULES);
		printf("  policies   %u\n", info.num_policies);
		printf("  attest     %s\n", info.attest ? "served by katls.ko" :
		       "not served (attest rules refuse I/O like require rules)");
	}
	katls_gate_free(g);
	return info.lsm && info.sockops ? KATLS_EXIT_OK : KATLS_EXIT_NOLSM;
}

static int cmd_stats(int argc, char **argv)
{
	uint64_t c[__KATLS_CNT_MAX];
	struct katls_gate *g;
	bool json = false;
	int ret = simple_opts(argc, argv, &json);

	if (ret >= 0)
		return ret;
	ret = open_gate("stats", &g);
	if (ret)
		return ret;
	ret = katls_gate_stats(g, c);
	katls_gate_free(g);
	if (ret) {
		fprintf(stderr, "katls gate stats: %s\n", katls_gate_errmsg());
		return KATLS_EXIT_FAIL;
	}
	if (json) {
		json_object *o = json_object_new_object();

		for (unsigned int i = 0; i < __KATLS_CNT_MAX; i++)
			json_object_object_add(o, katls_gate_counter_name(i),
					       json_object_new_uint64(c[i]));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		return KATLS_EXIT_OK;
	}
	for (unsigned int i = 0; i < __KATLS_CNT_MAX; i++)
		printf("%-22s %llu\n", katls_gate_counter_name(i), (unsigned long long)c[i]);
	return KATLS_EXIT_OK;
}

/* ---- events ---------------------------------------------------------------------- */

struct ev_ctx {
	struct katls_gate *g;
	bool json;
	bool backlog;
	uint64_t start_ns;
	unsigned long count;	/* 0: unlimited */
	unsigned long seen;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void endpoint(char *buf, size_t len, uint16_t family, const uint8_t *addr, uint16_t port)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, a, sizeof(a));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

static int print_event(const struct katls_gate_event *e, void *arg)
{
	struct ev_ctx *x = arg;
	char local[64], remote[64], comm[17], policy[KATLS_POLICY_NAME_LEN] = "";
	const char *err = e->err == -EKEYEXPIRED ? "EKEYEXPIRED" :
			  e->err == -EACCES ? "EACCES" : "?";

	if (!x->backlog && e->ts_ns < x->start_ns)
		return 0;
	if (x->count && x->seen >= x->count)
		return 1;
	endpoint(local, sizeof(local), e->family, e->laddr, e->lport);
	endpoint(remote, sizeof(remote), e->family, e->raddr, e->rport);
	memcpy(comm, e->comm, 16);
	comm[16] = '\0';
	katls_gate_policy_name(x->g, e->policy_id, policy);
	if (x->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ts_ns", json_object_new_uint64(e->ts_ns));
		json_object_object_add(o, "pid", json_object_new_int64(e->pid));
		json_object_object_add(o, "uid", json_object_new_int64(e->uid));
		json_object_object_add(o, "comm", json_object_new_string(comm));
		json_object_object_add(o, "op", json_object_new_string(katls_gate_op_name(e->op)));
		json_object_object_add(o, "error", json_object_new_string(err));
		json_object_object_add(o, "errno", json_object_new_int(-e->err));
		json_object_object_add(o, "state",
				       json_object_new_string(katls_gate_state_name(e->state)));
		json_object_object_add(o, "policy_id", json_object_new_int(e->policy_id));
		json_object_object_add(o, "policy", json_object_new_string(policy));
		json_object_object_add(o, "local", json_object_new_string(local));
		json_object_object_add(o, "remote", json_object_new_string(remote));
		json_object_object_add(o, "cookie", json_object_new_uint64(e->cookie));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("[%llu.%06llu] pid %u (%s) uid %u: %s %s -> %s denied %s (state %s%s%s)\n",
		       (unsigned long long)(e->ts_ns / 1000000000ULL),
		       (unsigned long long)(e->ts_ns % 1000000000ULL / 1000),
		       e->pid, comm, e->uid, katls_gate_op_name(e->op), local, remote, err,
		       katls_gate_state_name(e->state), *policy ? ", policy " : "", policy);
	}
	fflush(stdout);
	x->seen++;
	return x->count && x->seen >= x->count ? 1 : 0;
}

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "backlog", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct ev_ctx x = { .start_ns = katls_gate_now_ns() };
	unsigned long timeout = 0;
	bool have_timeout = false;
	struct timespec t0, t;
	struct sigaction sa = { .sa_handler = on_signal };
	int c, ret;

	while ((c = getopt_long(argc, argv, "jn:t:bh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			x.json = true;
			break;
		case 'n':
			if (parse_ulong(optarg, &x.count) || !x.count) {
				fprintf(stderr, "katls gate events: --count wants a positive number\n");
				return KATLS_EXIT_USAGE;
			}
			break;
		case 't':
			if (parse_ulong(optarg, &timeout) || timeout > 86400 * 365) {
				fprintf(stderr, "katls gate events: --timeout wants seconds\n");
				return KATLS_EXIT_USAGE;
			}
			have_timeout = true;
			break;
		case 'b':
			x.backlog = true;
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc)
		return katls_usage(usage, '?');
	ret = open_gate("events", &x.g);
	if (ret)
		return ret;
	ret = katls_gate_events_open(x.g, print_event, &x);
	if (ret) {
		fprintf(stderr, "katls gate events: %s\n", katls_gate_errmsg());
		katls_gate_free(x.g);
		return KATLS_EXIT_FAIL;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = 0;
	while (!stop) {
		int wait_ms = 250;

		if (have_timeout) {
			long left;

			clock_gettime(CLOCK_MONOTONIC, &t);
			left = (long)timeout * 1000 - ((t.tv_sec - t0.tv_sec) * 1000 +
						       (t.tv_nsec - t0.tv_nsec) / 1000000);
			if (left < 0)
				left = 0;
			wait_ms = left < wait_ms ? (int)left : wait_ms;
		}
		ret = katls_gate_events_poll(x.g, wait_ms);
		if (ret < 0 && ret != -EINTR)
			break;
		ret = 0;
		if (x.count && x.seen >= x.count)
			break;
		if (have_timeout && !wait_ms)
			break;
	}
	katls_gate_free(x.g);
	if (ret < 0) {
		fprintf(stderr, "katls gate events: %s\n", strerror(-ret));
		return KATLS_EXIT_FAIL;
	}
	/* With --count, stopping early (timeout, signal) is a failure: fewer than asked. */
	return x.count && x.seen < x.count ? KATLS_EXIT_FAIL : KATLS_EXIT_OK;
}

int gate_main(int argc, char **argv)
{
	static const struct katls_subcmd sub[] = {
		{ "load", cmd_load, NULL },
		{ "unload", cmd_unload, NULL },
		{ "status", cmd_status, NULL },
		{ "stats", cmd_stats, NULL },
		{ "events", cmd_events, NULL },
	};

	return katls_dispatch("gate", sub, sizeof(sub) / sizeof(sub[0]), usage, argc, argv);
}
