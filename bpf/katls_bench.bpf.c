// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT
/*
 * Rule-lookup benchmark (bench/bench_gate.c): the gate's own rule_match() on
 * an LPM trie of the gate's layout, run through BPF_PROG_TEST_RUN so that the
 * kernel times it.  Each run looks up KATLS_BENCH_ADDRS remote addresses that
 * userspace put in .bss; not part of the gate and never attached.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "katls_gate.h"
#include "katls_rules.bpf.h"

#define KATLS_BENCH_ADDRS 256

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KATLS_MAX_RULES);
	__type(key, struct katls_rule_key);
	__type(value, struct katls_rule_v);
} katls_rules SEC(".maps");

__u32 bench_addrs[KATLS_BENCH_ADDRS];	/* IPv4, network order */
__u16 bench_port;			/* network order */
__u64 bench_hits;

struct bench_ctx {
	struct katls_rule_key key;
	__u64 hits;
};

static long lookup_one(__u32 i, void *arg)
{
	struct bench_ctx *c = arg;

	__builtin_memcpy(c->key.addr, &bench_addrs[i & (KATLS_BENCH_ADDRS - 1)], 4);
	if (rule_match(&katls_rules, &c->key))
		c->hits++;
	return 0;
}

/*
 * bpf_loop() rather than a plain loop: 6.1's verifier rejects a loop whose back
 * edge follows a helper call ("back-edge from insn"), and unrolling 256 lookups
 * overflows the stack.
 */
SEC("xdp")
int katls_bench_lookup(struct xdp_md *ctx)
{
	struct bench_ctx c = {};

	c.key.dir = KATLS_DIR_OUT;
	c.key.family = KATLS_FAM_V4;
	c.key.port = bench_port;
	bpf_loop(KATLS_BENCH_ADDRS, lookup_one, &c, 0);
	bench_hits += c.hits;
	return XDP_PASS;
}
