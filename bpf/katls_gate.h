/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * katls BPF gate: structures shared by bpf/katls_gate.bpf.c and userspace
 * (userspace/lib/kernel/gate.c, the katls CLI, tests and benchmarks).  Fixed-width
 * types only; every struct has explicit padding so that the BPF object and
 * userspace agree on the layout byte for byte.  Maps are pinned under
 * KATLS_GATE_PIN_DIR with the names given here; changing a struct's layout
 * makes the pinned maps of a running gate incompatible, which the loader
 * reports ("katls gate unload" first).  See docs/gate.md.
 */
#ifndef KATLS_GATE_H
#define KATLS_GATE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KATLS_GATE_PIN_DIR	"/sys/fs/bpf/katls"

/* Per-socket state, as stored in katls_sk_state (BPF_MAP_TYPE_SK_STORAGE). */
enum katls_gate_state {
	KATLS_GATE_NONE = 0,		/* not gated: I/O allowed */
	KATLS_GATE_REQUIRED = 1,	/* a rule requires attestation; nothing ran yet */
	KATLS_GATE_PENDING = 2,		/* the daemon runs the handshake (only it may do I/O) */
	KATLS_GATE_ATTESTED = 3,	/* verdict accepted; I/O allowed until expiry_ns */
	KATLS_GATE_FAILED = 4,		/* verdict negative: I/O denied (EACCES) */
	KATLS_GATE_EXPIRED = 5,		/* verdict too old: I/O denied (EKEYEXPIRED) */
	__KATLS_GATE_STATE_MAX
};

/*
 * katls_sk_state_v.flags.  Neither ACTIVE nor PASSIVE: the gate met the
 * socket only at an I/O call (it was connected before the gate was loaded, or
 * its storage could not be created earlier), so it does not know which end
 * opened the connection and applies the rules of both directions.
 */
#define KATLS_SKF_ACTIVE	0x01	/* this end opened the connection (connect, TFO) */
#define KATLS_SKF_PASSIVE	0x02	/* this end accepted it */
#define KATLS_SKF_USER		0x04	/* state last written from userspace (katlsd) */
#define KATLS_SKF_EARLY		0x08	/* marked at connect(), not yet established */
#define KATLS_SKF_ATTEST	0x10	/* an attest rule: katls.ko takes the socket (issue 14) */
#define KATLS_SKF_SELFTEST	0x80	/* the loader's self-test socket: not counted */

struct katls_sk_state_v {
	__u8 state;		/* enum katls_gate_state */
	__u8 flags;		/* KATLS_SKF_* */
	__u16 policy_id;	/* index into katls_policies; 0 = none */
	__u32 max_age_s;	/* from the matching rule; 0 = no limit */
	__u64 expiry_ns;	/* CLOCK_BOOTTIME ns; ATTESTED is fresh before it; 0 = never */
	__u64 marked_ns;	/* CLOCK_BOOTTIME ns of the last state change */
	__u64 cookie;		/* socket cookie (SO_COOKIE), for events and logs */
	__u32 denied_send;	/* application writes refused on this socket */
	__u32 denied_recv;	/* application reads refused on this socket */
	__u32 rules_gen;	/* katls_config.rules_gen the rule-derived state was computed at */
	__u8 attest_role;	/* enum katls_attest_role of an attest rule (KATLS_SKF_ATTEST) */
	__u8 pad8;
	__u16 pad16;
};

/*
 * katls_config: BPF_MAP_TYPE_ARRAY of one element.  rules_gen changes with
 * every change of the rules; a state the rules decided (not one katlsd wrote)
 * is decided again at the socket's next I/O when its rules_gen differs, so a
 * rule applies to connections that already exist.
 */
struct katls_config_v {
	__u32 rules_gen;
	__u8 attest;		/* the loaded gate calls katls.ko for attest rules (issue 14) */
	__u8 pad[3];
};

/*
 * Rules: BPF_MAP_TYPE_LPM_TRIE keyed by direction, family and port (always
 * matched exactly: they sit in the first 32 bits of the key, which every rule
 * covers) and then by the remote address prefix.
 *   out: outgoing connections to (remote address, remote port)
 *   in:  accepted connections from remote address to local (listening) port
 * port 0 means any port; a rule for the exact port is looked up first, then
 * the any-port rule; within one port the longest prefix wins.  IPv4-mapped
 * IPv6 peers (::ffff:a.b.c.d) are matched as IPv4, so rules never hold a
 * mapped prefix (the CLI turns one into its IPv4 form).
 */
enum katls_rule_dir {
	KATLS_DIR_OUT = 1,
	KATLS_DIR_IN = 2,
};

enum katls_rule_family {
	KATLS_FAM_V4 = 4,
	KATLS_FAM_V6 = 6,
};

#define KATLS_RULE_KEY_FIXED_BITS	32	/* dir + family + port */

struct katls_rule_key {
	__u32 prefixlen;	/* LPM: 32 + address prefix length */
	__u8 dir;		/* enum katls_rule_dir */
	__u8 family;		/* enum katls_rule_family */
	__u16 port;		/* network byte order; 0 = any */
	__u8 addr[16];		/* IPv4 in addr[0..3], rest zero */
};

enum katls_rule_action {
	KATLS_ACT_REQUIRE = 1,	/* mark REQUIRED: no application I/O until attested */
	KATLS_ACT_EXEMPT = 2,	/* leave the connection alone (overrides a broader require) */
	KATLS_ACT_ATTEST = 3,	/* like require, and katls.ko attests it without the program */
};

/* Who attests under an attest rule (katls_rule_v.attest_role). */
enum katls_attest_role {
	KATLS_AROLE_SERVER = 0,	/* the server attests, the client verifies it (default) */
	KATLS_AROLE_CLIENT = 1,	/* the client attests, the server verifies it */
	KATLS_AROLE_MUTUAL = 2,	/* both */
};

/*
 * Flags of the kfunc katls.ko exports to the gate's LSM programs,
 * int katls_kf_attest(struct sock *sk, __u32 flags) (docs/transparent.md):
 * 0 if katls.ko holds @sk (its I/O waits for the verdict there), else -errno.
 */
#define KATLS_KF_ROLE_MASK	0x03	/* enum katls_role: the TLS role of this end */
#define KATLS_KF_MODE_SHIFT	2
#define KATLS_KF_MODE_MASK	0x0c	/* enum katls_mode of this end, << 2 */
#define KATLS_KF_TAKE		0x10	/* take the socket if katls.ko does not hold it */

struct katls_rule_v {
	__u8 action;		/* enum katls_rule_action */
	__u8 attest_role;	/* enum katls_attest_role, attest rules only */
	__u16 policy_id;	/* index into katls_policies; 0 = none */
	__u32 max_age_s;	/* verdict lifetime cap; 0 = no limit */
};

#define KATLS_MAX_RULES		131072
#define KATLS_MAX_POLICIES	1024	/* ids 1..1023; 0 = none */
#define KATLS_POLICY_NAME_LEN	48	/* including the NUL */

/* katls_policies: BPF_MAP_TYPE_ARRAY, index = policy id; name[0] == 0 = free. */
struct katls_policy_v {
	char name[KATLS_POLICY_NAME_LEN];
};

/* The daemon's exemption, BPF_MAP_TYPE_TASK_STORAGE on its thread-group leader. */
#define KATLS_DAEMON_MAGIC	0x6b61746cU	/* "katl" */
struct katls_daemon_v {
	__u32 magic;		/* KATLS_DAEMON_MAGIC */
	__u32 tgid;		/* for logs */
	__u64 since_ns;		/* CLOCK_BOOTTIME ns of the registration */
};

/* Global per-CPU counters: katls_counters is a PERCPU_ARRAY indexed by these. */
enum katls_counter {
	KATLS_CNT_ESTABLISHED = 0,	/* TCP connections seen by sockops */
	KATLS_CNT_MARK_REQUIRED,	/* ... marked REQUIRED by a rule */
	KATLS_CNT_MARK_EXEMPT,		/* ... matched an exempt rule */
	KATLS_CNT_MARK_FAILED,		/* ... matched, but socket storage failed */
	KATLS_CNT_DENY_SEND,		/* socket_sendmsg denials */
	KATLS_CNT_DENY_RECV,		/* socket_recvmsg denials */
	KATLS_CNT_DENY_FILE_WRITE,	/* file_permission(MAY_WRITE): write, writev, sendfile, splice */
	KATLS_CNT_DENY_FILE_READ,	/* file_permission(MAY_READ): read, readv, splice */
	KATLS_CNT_DENY_ZEROCOPY,	/* getsockopt(TCP_ZEROCOPY_RECEIVE) denials */
	KATLS_CNT_DENY_EXPIRED,		/* denials with EKEYEXPIRED (also counted above) */
	KATLS_CNT_EXPIRED,		/* ATTESTED -> EXPIRED transitions */
	KATLS_CNT_DAEMON_IO,		/* I/O allowed to the daemon on a PENDING socket */
	KATLS_CNT_EVENTS_LOST,		/* denial events dropped: ring buffer full */
	KATLS_CNT_DAEMON_EXEC,		/* daemon exemptions dropped at execve */
	KATLS_CNT_DENY_CONNECT,		/* connect()/TFO/disconnect refused: a verdict is per connection */
	KATLS_CNT_DENY_NOSTATE,		/* I/O refused on a socket without storage (fail closed) */
	KATLS_CNT_LATE_MARK,		/* sockets decided at an I/O call: pre-existing, or after a rule change */
	__KATLS_CNT_MAX
};

/* What the application tried, in katls_gate_event.op. */
enum katls_gate_op {
	KATLS_OP_SEND = 1,		/* socket_sendmsg: send, sendto, sendmsg, sendmmsg */
	KATLS_OP_RECV = 2,		/* socket_recvmsg: recv, recvfrom, recvmsg, recvmmsg */
	/*
	 * file_permission (rw_verify_area): write, writev, sendfile and splice into
	 * the socket, read, readv and splice out of it.  read() and write() meet this
	 * hook before sock_read_iter/sock_write_iter, so they are refused here.
	 */
	KATLS_OP_FILE_WRITE = 3,
	KATLS_OP_FILE_READ = 4,
	KATLS_OP_ZEROCOPY = 5,		/* getsockopt(TCP_ZEROCOPY_RECEIVE) */
	KATLS_OP_CONNECT = 6,		/* connect() or sendto(MSG_FASTOPEN): (re)connect refused */
	__KATLS_OP_MAX
};

/* One denial, from the katls_events ring buffer. */
struct katls_gate_event {
	__u64 ts_ns;		/* CLOCK_BOOTTIME ns */
	__u64 cookie;		/* socket cookie */
	__u32 pid;		/* thread-group id of the caller */
	__u32 uid;
	__s32 err;		/* -EACCES or -EKEYEXPIRED */
	__u8 op;		/* enum katls_gate_op */
	__u8 state;		/* enum katls_gate_state at the time of the denial */
	__u16 policy_id;
	__u16 family;		/* AF_INET or AF_INET6 */
	__u16 lport;		/* host byte order */
	__u16 rport;		/* host byte order */
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[16];
};

#endif /* KATLS_GATE_H */
