/* SPDX-License-Identifier: MIT */
/*
 * The BPF gate (bpf/katls_gate.bpf.c) from userspace: load, reload and unload
 * it, keep its maps and links pinned under KATLS_GATE_PIN_DIR (so a daemon or
 * CLI restart neither opens the gate nor loses state), set a socket's state by
 * fd (the daemon's path), manage the operator's rules and policy names, read
 * counters and denial events, and register the daemon's exemption.
 *
 * Every call returns 0 or -errno.  katls_gate_load() and the parsers also
 * leave a one-line human explanation in katls_gate_errmsg() (thread-local).
 * A struct katls_gate is one set of pinned map fds; use it from one thread.
 * See docs/gate.md.
 */
#ifndef KATLS_GATE_LIB_H
#define KATLS_GATE_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../../bpf/katls_gate.h"

struct katls_gate;

struct katls_gate_opts {
	const char *pin_dir;	/* NULL: KATLS_GATE_PIN_DIR */
	const char *cgroup;	/* cgroup v2 directory for sockops; NULL: the cgroup2 mount */
	bool no_lsm;		/* test/diagnostic only: rules + sockops, NO enforcement */
	bool no_attest;		/* do not load the attest-rule programs even if katls.ko has BTF */
	bool verbose;		/* copy libbpf's log to stderr */
};

/* What is loaded, from the pins. */
struct katls_gate_info {
	bool sockops;		/* sockops link pinned */
	bool lsm;		/* all LSM links pinned: the gate enforces */
	unsigned int num_lsm;	/* LSM links pinned */
	unsigned int num_lsm_expected;	/* LSM programs in this version of the gate */
	uint64_t cgroup_id;	/* where sockops is attached */
	uint32_t num_rules;
	uint32_t num_policies;
	bool attest;		/* attest rules are served (katls.ko's kfunc); else refused like require */
};

/**
 * katls_gate_load() - load the gate, or reload it over a running one
 * @opts: may be NULL for the defaults
 * @out:  an open handle on success (may be NULL if the caller needs none)
 *
 * Creates or reuses the pinned maps (state survives a reload), attaches the
 * sockops program to the cgroup and the LSM programs, pins the links, and
 * then proves the LSM programs enforce with a loopback self-test.  On a
 * reload the new links replace the old ones after they are attached, so the
 * gate never opens.  Without opts->no_lsm a kernel that refuses BPF-LSM
 * programs (lockdown, or "bpf" missing from the LSM list), or LSM programs
 * that fail the self-test, fail with -EPERM and one line in
 * katls_gate_errmsg(): the gate fails closed.  -EPERM means only that; other
 * permission failures (not root) are -EACCES.
 */
int katls_gate_load(const struct katls_gate_opts *opts, struct katls_gate **out);

/* Open the pinned maps of a loaded gate; -ENOENT if it is not loaded. */
int katls_gate_open_pinned(const char *pin_dir, struct katls_gate **out);
/* Detach everything and remove the pins (the gate opens); -ENOENT if not loaded. */
int katls_gate_unload(const char *pin_dir);
void katls_gate_free(struct katls_gate *g);
int katls_gate_info(struct katls_gate *g, struct katls_gate_info *out);
const char *katls_gate_pin_dir(const struct katls_gate *g);

/* The reason for the last failure of this thread's katls_gate_* call, or "". */
const char *katls_gate_errmsg(void);

/* CLOCK_BOOTTIME in ns: the clock of expiry_ns and of event timestamps. */
uint64_t katls_gate_now_ns(void);

/* ---- socket state (the daemon's path) ---------------------------------------- */

#define KATLS_GATE_POLICY_KEEP	UINT32_MAX

/**
 * katls_gate_set_state() - set the gate state of the socket @sockfd
 * @policy_id: new policy id, or KATLS_GATE_POLICY_KEEP to keep the marked one
 * @expiry_ns: for ATTESTED, CLOCK_BOOTTIME ns after which the verdict is
 *             stale (0: none); capped by the matching rule's max age counted
 *             from now.  Ignored for other states.
 *
 * Return: 0; -EINVAL for a bad state or id; -ENOTSOCK/-EBADF for a bad fd.
 */
int katls_gate_set_state(struct katls_gate *g, int sockfd, enum katls_gate_state state,
			 uint32_t policy_id, uint64_t expiry_ns);
/* -ENOENT if the socket carries no gate state (never marked). */
int katls_gate_get_state(struct katls_gate *g, int sockfd, struct katls_sk_state_v *out);

/*
 * katls_gate_rule_for() - the rule the gate applies to a connection in
 * direction @dir (KATLS_DIR_*) with the remote address @remote (IPv4, IPv6;
 * IPv4-mapped is IPv4) and @port (network order: out the remote port, in the
 * local one).  Return: true and *@out if a rule matches.
 */
bool katls_gate_rule_for(struct katls_gate *g, uint8_t dir, const struct sockaddr *remote,
			 uint16_t port, struct katls_rule_v *out);

/* What the operator's rules say about a connected socket (katlsd asks before it attests). */
struct katls_gate_sock_rule {
	bool required;		/* a require rule covers it: the peer must be verified */
	uint16_t policy_id;	/* that rule's policy (0: the rule names none) */
	uint32_t max_age_s;	/* that rule's cap on a verdict's age (0: none) */
	bool attest;		/* it is an attest rule (katls.ko took the socket itself) */
	uint8_t attest_role;	/* enum katls_attest_role of that rule */
};

/*
 * katls_gate_socket_rule() - the rule that covers the connection of @sockfd
 *
 * Looked up now, from the socket's own addresses and the direction the gate
 * recorded (both directions when it recorded none, a require rule of either
 * winning), so a rule added since the socket was marked counts, and a state
 * katlsd wrote earlier does not hide the rule.  A socket the gate marked
 * REQUIRED stays required even if its rule is gone.
 *
 * Return: 0; -ENOTCONN for an unconnected socket; -errno.
 */
int katls_gate_socket_rule(struct katls_gate *g, int sockfd, struct katls_gate_sock_rule *out);

/* ---- rules ---------------------------------------------------------------- */

struct katls_gate_rule {
	uint8_t dir;		/* enum katls_rule_dir */
	uint8_t family;		/* enum katls_rule_family */
	uint8_t prefix_len;	/* 0..32 or 0..128 */
	uint8_t action;		/* enum katls_rule_action */
	uint8_t attest_role;	/* enum katls_attest_role (attest rules) */
	uint16_t port;		/* host order; 0 = any */
	uint16_t policy_id;
	uint32_t max_age_s;	/* 0 = no limit */
	uint8_t addr[16];
};

/*
 * Add @num_rules rules all or nothing: on any failure (-EEXIST without
 * @replace, -ENOSPC when the table is full, ...) the ones already added are
 * removed (or restored, with @replace) before returning.
 */
int katls_gate_rules_add(struct katls_gate *g, const struct katls_gate_rule *rules,
			 size_t num_rules, bool replace);
/* Delete all of them, or none: -ENOENT if one of them does not exist. */
int katls_gate_rules_del(struct katls_gate *g, const struct katls_gate_rule *rules,
			 size_t num_rules);
/* Every rule, sorted; free *out with free(). */
int katls_gate_rules_get(struct katls_gate *g, struct katls_gate_rule **out, size_t *num_out);

/* "10.0.0.0/8", "2001:db8::/32", "192.0.2.1" (= /32); host bits must be 0. */
int katls_gate_parse_cidr(const char *s, uint8_t *out_family, uint8_t out_addr[16],
			  uint8_t *out_prefix_len);
int katls_gate_parse_port(const char *s, uint16_t *out);
/* Seconds with an optional s/m/h/d suffix; 0 = no limit. */
int katls_gate_parse_age(const char *s, uint32_t *out);
/* "prefix/len" of a rule into @buf (INET6_ADDRSTRLEN + 4 bytes suffice). */
void katls_gate_format_prefix(const struct katls_gate_rule *r, char *buf, size_t len);

/* ---- policy names ----------------------------------------------------------- */

/* 1..47 characters of [A-Za-z0-9._-], starting with a letter or digit. */
bool katls_gate_policy_name_valid(const char *name);
/*
 * The id of policy @name; with @create a free id is assigned if it has none
 * (-ENOSPC when all KATLS_MAX_POLICIES - 1 are taken), else -ENOENT.
 * @out_created (may be NULL) tells whether this call assigned it.
 */
int katls_gate_policy_id(struct katls_gate *g, const char *name, bool create,
			 uint16_t *out_id, bool *out_created);
/* Forget the name of @id (used to undo a creation). */
int katls_gate_policy_forget(struct katls_gate *g, uint16_t id);
/* Name of @id into @out; -ENOENT if unassigned. */
int katls_gate_policy_name(struct katls_gate *g, uint16_t id, char out[KATLS_POLICY_NAME_LEN]);

/* ---- counters and events ---------------------------------------------------- */

/* Sums over all CPUs, indexed by enum katls_counter. */
int katls_gate_stats(struct katls_gate *g, uint64_t out[__KATLS_CNT_MAX]);
const char *katls_gate_counter_name(unsigned int idx);
const char *katls_gate_state_name(unsigned int state);
const char *katls_gate_op_name(unsigned int op);

typedef int (*katls_gate_event_fn)(const struct katls_gate_event *e, void *arg);
/* Subscribe to denial events; @fn returning non-zero stops katls_gate_events_poll(). */
int katls_gate_events_open(struct katls_gate *g, katls_gate_event_fn fn, void *arg);
/* Wait up to @timeout_ms (-1: forever); the number of events handled, or -errno. */
int katls_gate_events_poll(struct katls_gate *g, int timeout_ms);

/* ---- the daemon's exemption --------------------------------------------------- */

/*
 * Exempt the process @pid (a thread-group leader; all its threads) from the
 * gate on PENDING sockets, until it exits or execs.  Through a pidfd, so a
 * recycled pid cannot inherit it.  See katls_gate.bpf.c for why.
 */
int katls_gate_exempt_task(struct katls_gate *g, pid_t pid);
int katls_gate_unexempt_task(struct katls_gate *g, pid_t pid);
/* 0 if @pid is exempt, -ENOENT if not. */
int katls_gate_task_exempt(struct katls_gate *g, pid_t pid);

#endif /* KATLS_GATE_LIB_H */
