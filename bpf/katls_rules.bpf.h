/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Rule lookup shared by the gate (katls_gate.bpf.c) and the rule-lookup
 * benchmark (katls_bench.bpf.c), so that the benchmark times the very code
 * the gate runs.  Include after vmlinux.h, bpf_helpers.h and katls_gate.h.
 */
#ifndef KATLS_RULES_BPF_H
#define KATLS_RULES_BPF_H

/*
 * rule_match() - the operator rule for a connection, or NULL
 * @rules: the LPM-trie map of rules (struct katls_rule_key -> katls_rule_v)
 * @key:   dir, family, port (network order) and addr filled in; prefixlen and
 *         port are used as scratch and restored
 *
 * Exact port first, then the any-port (0) rule; the trie picks the longest
 * address prefix within each.
 */
static __always_inline struct katls_rule_v *rule_match(void *rules, struct katls_rule_key *key)
{
	struct katls_rule_v *v;
	__u16 port = key->port;

	key->prefixlen = KATLS_RULE_KEY_FIXED_BITS + (key->family == KATLS_FAM_V4 ? 32 : 128);
	v = bpf_map_lookup_elem(rules, key);
	if (v || !port)
		return v;
	key->port = 0;
	v = bpf_map_lookup_elem(rules, key);
	key->port = port;
	return v;
}

#endif /* KATLS_RULES_BPF_H */
