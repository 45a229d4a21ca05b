// SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT
/*
 * katls BPF gate: no application byte moves on a socket that requires
 * attestation until the verdict is in (DESIGN.md §3.2, docs/gate.md).
 *
 * Per-socket, at the socket layer, never on packets.  A sockops program on the
 * root cgroup v2 looks every newly established TCP connection up in the
 * operator's rules (katls_rules, an LPM trie) and marks matches REQUIRED in
 * socket-local storage (katls_sk_state).  The handshake, TCP itself and the
 * first packets are untouched: unlike a packet-level gate (Cilium's
 * mutual-auth, which drops the first packet and caches verdicts per identity)
 * nothing is dropped or retransmitted, and the verdict belongs to this one
 * socket, so it cannot be borrowed by another connection of the same peer.
 *
 * LSM programs then refuse every way a task can move application data through
 * a gated socket unless its state is ATTESTED and fresh:
 *   socket_sendmsg     send, sendto, sendmsg, sendmmsg (and io_uring's send)
 *   socket_recvmsg     recv, recvfrom, recvmsg, recvmmsg (and io_uring's recv)
 *   file_permission    sendfile and splice into the socket, splice out of it: they
 *                      reach tcp_sendpage / tcp_splice_read without sendmsg/recvmsg,
 *                      but pass rw_verify_area() -> security_file_permission().
 *                      read, readv, write and writev pass it too, before
 *                      sock_read_iter/sock_write_iter, and are refused here.
 *   socket_getsockopt  TCP_ZEROCOPY_RECEIVE, which maps received pages or copies
 *                      them into its copybuf without recvmsg
 * and close the window before establishment: socket_connect (and sendto with
 * MSG_FASTOPEN in socket_sendmsg) marks an outgoing connection to a REQUIRED
 * destination at once, so a send() or recv() started during the TCP handshake,
 * or data for the SYN (TCP Fast Open), is refused too; sockops then confirms
 * the mark, or clears it if the socket ended up connected elsewhere.
 * The error is EACCES (REQUIRED, PENDING, FAILED) or EKEYEXPIRED (a verdict
 * past its expiry: the first such call flips ATTESTED to EXPIRED).  A state
 * value this file does not know is denied (fail closed).
 *
 * The daemon's exemption.  While katlsd runs the handshake the socket is
 * PENDING and only katlsd may do I/O on it.  The same struct file is shared by
 * the app and the daemon (katls.ko installs the app's socket into the daemon),
 * so the exemption must name the *task*, not the socket.  Choices rejected:
 * a PID/TGID in a map (reused after the daemon dies; a stale entry would
 * exempt whatever process gets the number), a cgroup id (any app placed in the
 * daemon's cgroup, or a forked child, would inherit it), the exe path or inode
 * (every copy of the binary, or a process started from it by an attacker, would
 * qualify), a per-socket "handover" flag alone (the app shares the socket, so a
 * flag cannot tell the two apart).  Chosen: BPF_MAP_TYPE_TASK_STORAGE
 * (katls_daemon) on the daemon's thread-group leader, written from userspace
 * through a pidfd (katls_gate_exempt_task()).  The entry lives in the
 * task_struct and dies with it, so PID reuse cannot inherit it; fork() does not
 * copy it; execve() drops it (katls_bprm_committed_creds), so a daemon that
 * execs another program loses it; setting it needs CAP_BPF/CAP_SYS_ADMIN and a
 * pidfd of the daemon.  All threads of the daemon share it: the check reads the
 * entry of current->group_leader (a worker thread pool is one daemon).  And the
 * exemption only opens PENDING sockets: the daemon must announce the handshake
 * by setting PENDING, and gets no more access than an app to REQUIRED, FAILED or
 * EXPIRED sockets.
 *
 * Concurrency: userspace replaces a socket's state with a map update, which
 * links a new storage element; a program still holding the old element writes
 * its counters or its EXPIRED flip into that stale copy, so a racing update
 * can lose a per-socket counter increment but never reopens a socket.
 *
 * Kernel structs are read with CO-RE: BPF_CORE_READ for values, and direct
 * dereference (vmlinux.h types carry preserve_access_index, so these are CO-RE
 * relocated too) where the verifier must keep a BTF pointer for a helper
 * (sock->sk for bpf_sk_storage_get, the task's group_leader).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "katls_gate.h"
#include "katls_rules.bpf.h"

#define AF_UNSPEC		0
#define AF_INET			2
#define AF_INET6		10
#define EACCES			13
#define EKEYEXPIRED		127
#define MAY_WRITE		0x2
#define MAY_READ		0x4
#define SOL_TCP			6
#define TCP_ZEROCOPY_RECEIVE	35
#define IPPROTO_TCP		6
#define IPPROTO_MPTCP		262
#define SOCK_STREAM		1
#define TCP_SYN_SENT		2
#define TCP_CLOSE		7
#define TCP_LISTEN		10
#define MSG_FASTOPEN		0x20000000

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct katls_sk_state_v);
} katls_sk_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, KATLS_MAX_RULES);
	__type(key, struct katls_rule_key);
	__type(value, struct katls_rule_v);
} katls_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KATLS_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct katls_policy_v);
} katls_policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct katls_daemon_v);
} katls_daemon SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct katls_config_v);
} katls_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __KATLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} katls_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} katls_events SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&katls_counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline __u32 rules_gen(void)
{
	__u32 zero = 0;
	struct katls_config_v *c = bpf_map_lookup_elem(&katls_config, &zero);

	return c ? c->rules_gen : 0;
}

/* ---- deciding a socket from the rules ----------------------------------------- */

/* Does @rule keep application I/O off the connection until a verdict (require, attest)? */
static __always_inline bool gated(const struct katls_rule_v *rule)
{
	return rule && (rule->action == KATLS_ACT_REQUIRE || rule->action == KATLS_ACT_ATTEST);
}

/* key->family/addr from an IPv6 address, IPv4-mapped ones as IPv4. */
static __always_inline void key_addr6(struct katls_rule_key *key, const __u32 w[4])
{
	if (!w[0] && !w[1] && w[2] == bpf_htonl(0xffff)) {
		/* ::ffff:a.b.c.d on a dual-stack socket: an IPv4 peer. */
		key->family = KATLS_FAM_V4;
		__builtin_memcpy(key->addr, &w[3], 4);
		return;
	}
	key->family = KATLS_FAM_V6;
	__builtin_memcpy(key->addr, w, 16);
}

/* Fill key->family/addr from the connection's remote address; false if not IP. */
static __always_inline bool remote_addr(struct bpf_sock_ops *skops, struct katls_rule_key *key)
{
	__u32 w[4];

	if (skops->family == AF_INET) {
		w[0] = skops->remote_ip4;
		key->family = KATLS_FAM_V4;
		__builtin_memcpy(key->addr, w, 4);
		return true;
	}
	if (skops->family != AF_INET6)
		return false;
	w[0] = skops->remote_ip6[0];
	w[1] = skops->remote_ip6[1];
	w[2] = skops->remote_ip6[2];
	w[3] = skops->remote_ip6[3];
	key_addr6(key, w);
	return true;
}

/* Is @sk a TCP or MPTCP stream socket of an IP family (the only ones the gate covers)? */
static __always_inline bool stream_sock(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	return (family == AF_INET || family == AF_INET6) &&
	       (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP) &&
	       BPF_CORE_READ(sk, sk_type) == SOCK_STREAM;
}

/*
 * The key of an outgoing connection from the sockaddr given to connect() or
 * sendto(), as the kernel will resolve it: the unspecified address means
 * loopback (tcp_v4_connect/tcp_v6_connect route 0.0.0.0 and :: there; :: on a
 * socket bound to an IPv4-mapped address becomes 127.0.0.1).
 */
static __always_inline bool sockaddr_key(struct sock *sk, struct sockaddr *sa, int len,
					 struct katls_rule_key *key)
{
	__u16 family;
	__u32 w[4];

	if (!sa || len < (int)sizeof(struct sockaddr_in))
		return false;
	family = BPF_CORE_READ(sa, sa_family);
	key->dir = KATLS_DIR_OUT;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		w[0] = BPF_CORE_READ(s4, sin_addr.s_addr);
		key->port = BPF_CORE_READ(s4, sin_port);
		key->family = KATLS_FAM_V4;
		__builtin_memcpy(key->addr, w, 4);
	} else if (family == AF_INET6 && len >= 24) {	/* SIN6_LEN_RFC2133 */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		key->port = BPF_CORE_READ(s6, sin6_port);
		if (bpf_core_read(w, sizeof(w), &s6->sin6_addr))
			return false;
		if (!(w[0] | w[1] | w[2] | w[3])) {
			__u32 b[4] = {};

			bpf_core_read(b, sizeof(b), &sk->__sk_common.skc_v6_rcv_saddr);
			if (!b[0] && !b[1] && b[2] == bpf_htonl(0xffff)) {
				w[2] = bpf_htonl(0xffff);	/* ::ffff:0.0.0.0 */
			} else {
				w[3] = bpf_htonl(1);		/* ::1 */
				key->family = KATLS_FAM_V6;
				__builtin_memcpy(key->addr, w, 16);
				return true;
			}
		}
		key_addr6(key, w);
	} else {
		return false;
	}
	if (key->family == KATLS_FAM_V4) {
		__u32 a4;

		__builtin_memcpy(&a4, key->addr, 4);
		if (!a4) {
			a4 = bpf_htonl(0x7f000001);	/* 127.0.0.1 */
			__builtin_memcpy(key->addr, &a4, 4);
		}
	}
	return true;
}

/* The REQUIRE rule that wins between two lookups (either may be NULL). */
static __always_inline struct katls_rule_v *stricter(struct katls_rule_v *a, struct katls_rule_v *b)
{
	if (gated(a))
		return a;
	if (gated(b))
		return b;
	return a ? a : b;
}

/*
 * The rule for an existing socket, from the addresses it actually has.
 * @dir: KATLS_DIR_OUT, KATLS_DIR_IN, or 0 when the gate does not know which
 * end opened the connection: then both directions are looked up and a require
 * rule of either wins (fail closed).
 */
static __always_inline struct katls_rule_v *sock_rule(struct sock *sk, __u8 dir)
{
	struct katls_rule_key key = {};
	struct katls_rule_v *out = NULL, *in = NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 rport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	__u16 lport = bpf_htons(BPF_CORE_READ(sk, __sk_common.skc_num));
	__u32 w[4] = {};

	if (family == AF_INET) {
		w[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		key.family = KATLS_FAM_V4;
		__builtin_memcpy(key.addr, w, 4);
	} else {
		bpf_core_read(w, sizeof(w), &sk->__sk_common.skc_v6_daddr);
		key_addr6(&key, w);
	}
	if (dir != KATLS_DIR_IN) {
		key.dir = KATLS_DIR_OUT;
		key.port = rport;
		out = rule_match(&katls_rules, &key);
	}
	if (dir != KATLS_DIR_OUT) {
		key.dir = KATLS_DIR_IN;
		key.port = lport;
		in = rule_match(&katls_rules, &key);
	}
	return stricter(out, in);
}

static __always_inline __u8 flags_dir(__u8 flags)
{
	return (flags & KATLS_SKF_ACTIVE) ? KATLS_DIR_OUT :
	       (flags & KATLS_SKF_PASSIVE) ? KATLS_DIR_IN : 0;
}

/*
 * Set @st from @rule (NULL: no rule) as the rules decide it: REQUIRED or
 * NONE, with @flags (direction and EARLY), the rules' generation, and the
 * userspace flag cleared.  Returns true if the socket became REQUIRED.
 */
static __always_inline bool decide(struct katls_sk_state_v *st, const struct katls_rule_v *rule,
				   __u8 flags, __u32 gen)
{
	bool req = gated(rule);
	bool was = st->state == KATLS_GATE_REQUIRED && !(st->flags & KATLS_SKF_USER);

	st->state = req ? KATLS_GATE_REQUIRED : KATLS_GATE_NONE;
	st->flags = flags | (st->flags & KATLS_SKF_SELFTEST);
	if (req && rule->action == KATLS_ACT_ATTEST)
		st->flags |= KATLS_SKF_ATTEST;
	st->attest_role = req ? rule->attest_role : 0;
	st->policy_id = req ? rule->policy_id : 0;
	st->max_age_s = req ? rule->max_age_s : 0;
	st->expiry_ns = 0;
	st->rules_gen = gen;
	if (req != was || !st->marked_ns)
		st->marked_ns = bpf_ktime_get_boot_ns();
	if (req && !was)
		count(KATLS_CNT_MARK_REQUIRED);
	return req && !was;
}

/* ---- attest rules: katls.ko takes the socket (issue 14) ------------------------ */

#define KATLS_ROLE_CLIENT	1
#define KATLS_ROLE_SERVER	2
#define KATLS_MODE_VERIFY_PEER	1
#define KATLS_MODE_ATTEST_SELF	2
#define KATLS_MODE_MUTUAL	3

#ifdef KATLS_GATE_ATTEST
/* katls.ko's kfunc (kmod/transparent.c): 0 if it holds @sk, else -errno. */
extern int katls_kf_attest(struct sock *sk, __u32 flags) __ksym;
#endif

/*
 * Ask katls.ko whether it holds @sk (and with @take, to take it over): then
 * the program's I/O waits for the verdict in katls.ko, so the gate lets the
 * call through to it.  Returns 0 or the errno to refuse the call with.  The
 * gate built without the kfunc (katls.ko without BTF, or not loaded when the
 * gate was) refuses: fail closed, like a require rule.
 */
static __always_inline int attest_hold(struct sock *sk, struct katls_sk_state_v *st, bool take)
{
#ifdef KATLS_GATE_ATTEST
	__u8 dir = flags_dir(st->flags);
	__u32 f, mode;

	if (!dir && BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_SYN_SENT)
		dir = KATLS_DIR_OUT;
	if (!dir)
		return -EACCES;		/* which end is the TLS client is unknown */
	if (st->attest_role == KATLS_AROLE_MUTUAL)
		mode = KATLS_MODE_MUTUAL;
	else if ((st->attest_role == KATLS_AROLE_CLIENT) == (dir == KATLS_DIR_OUT))
		mode = KATLS_MODE_ATTEST_SELF;
	else
		mode = KATLS_MODE_VERIFY_PEER;
	f = (dir == KATLS_DIR_OUT ? KATLS_ROLE_CLIENT : KATLS_ROLE_SERVER) |
	    mode << KATLS_KF_MODE_SHIFT | (take ? KATLS_KF_TAKE : 0);
	return katls_kf_attest(sk, f) ? -EACCES : 0;
#else
	return -EACCES;
#endif
}

/* ---- sockops: decide connections as they come to exist ------------------------ */

SEC("sockops")
int katls_sockops(struct bpf_sock_ops *skops)
{
	struct katls_rule_key key = {};
	struct katls_sk_state_v *st, *mst;
	struct katls_rule_v *rule;
	struct mptcp_sock *msk;
	struct bpf_sock *sk;
	bool reset = false;
	__u8 flags;

	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		/* tcp_connect(): the destination is final, the SYN not sent yet */
		reset = true;
		flags = KATLS_SKF_ACTIVE;
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		count(KATLS_CNT_ESTABLISHED);
		flags = KATLS_SKF_ACTIVE;
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		count(KATLS_CNT_ESTABLISHED);
		flags = KATLS_SKF_PASSIVE;
		break;
	default:
		return 1;
	}
	sk = skops->sk;
	if (!sk || !remote_addr(skops, &key))
		return 1;
	st = bpf_sk_storage_get(&katls_sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	/*
	 * Simultaneous open and self-connect complete through SYN_RECV and so
	 * arrive here as PASSIVE_ESTABLISHED: the socket that called connect()
	 * still opened the connection.
	 */
	if (st && (st->flags & KATLS_SKF_ACTIVE))
		flags = KATLS_SKF_ACTIVE;
	if (flags & KATLS_SKF_ACTIVE) {
		key.dir = KATLS_DIR_OUT;
		/* sockops keeps the remote port in network order, shifted left by 16. */
		key.port = (__u16)(skops->remote_port >> 16);
	} else {
		key.dir = KATLS_DIR_IN;
		key.port = bpf_htons((__u16)skops->local_port);
	}
	rule = rule_match(&katls_rules, &key);
	if (!st) {
		/* Counted; the LSM programs refuse the socket's I/O from its addresses. */
		if (gated(rule))
			count(KATLS_CNT_MARK_FAILED);
	} else if (reset || !(st->flags & (KATLS_SKF_USER | KATLS_SKF_SELFTEST))) {
		/* A new connection (reset) is always decided afresh: a verdict is per connection. */
		decide(st, rule, flags, rules_gen());
		if (!reset && rule && rule->action == KATLS_ACT_EXEMPT)
			count(KATLS_CNT_MARK_EXEMPT);
		if (!st->cookie)
			st->cookie = bpf_get_socket_cookie(skops);
	}
	/*
	 * An MPTCP subflow: the application reads and writes the MPTCP socket,
	 * which the LSM programs see.  A subflow a require rule covers makes it
	 * REQUIRED for good (kTLS and katlsd do not run over MPTCP).
	 */
	msk = bpf_skc_to_mptcp_sock(sk);
	if (!msk)
		return 1;
	mst = bpf_sk_storage_get(&katls_sk_state, msk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!mst) {
		if (gated(rule))
			count(KATLS_CNT_MARK_FAILED);
		return 1;
	}
	if (!mst->flags && mst->state == KATLS_GATE_NONE) {
		/* first sight of the MPTCP socket (the accepted end) */
		decide(mst, rule, flags, rules_gen());
	} else if (gated(rule) &&
		   mst->state != KATLS_GATE_REQUIRED) {
		decide(mst, rule, mst->flags & (KATLS_SKF_ACTIVE | KATLS_SKF_PASSIVE), rules_gen());
	}
	return 1;
}

/*
 * connect() and sendto(MSG_FASTOPEN) on a socket that is not connected:
 * decide it from the destination before it exists, so that a send() or
 * recv() issued during the TCP handshake, or data for the SYN, is refused;
 * sockops decides it again at tcp_connect() from the address the kernel
 * resolved.  A verdict is per connection, so two kinds of (re)connect are
 * refused with EACCES:
 *   - any connect or disconnect of a socket whose state katlsd wrote
 *     (PENDING, ATTESTED, FAILED, EXPIRED): it was attested for one peer;
 *   - a connect to a destination a require rule covers, on a socket that
 *     already had a connection the gate let through (state NONE): another
 *     thread's send() may have passed the gate for the old connection and
 *     be waiting for the socket lock, to complete on the new one.
 * Returns 0 or -EACCES.
 */
static __always_inline int on_connect(struct sock *sk, struct sockaddr *sa, int len, bool tfo)
{
	struct katls_rule_key key = {};
	struct katls_sk_state_v *st;
	struct katls_rule_v *rule;
	bool req;

	if (!stream_sock(sk))
		return 0;
	st = bpf_sk_storage_get(&katls_sk_state, sk, NULL, 0);
	if (!tfo && sa && len >= 2 && BPF_CORE_READ(sa, sa_family) == AF_UNSPEC) {
		/* disconnect */
		if (st && (st->flags & KATLS_SKF_USER))
			return -EACCES;
		return 0;
	}
	/* Connected or connecting: the kernel refuses a new destination (EISCONN, EALREADY). */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE)
		return 0;
	if (!sockaddr_key(sk, sa, len, &key))
		return 0;
	rule = rule_match(&katls_rules, &key);
	req = gated(rule);
	if (st && !(st->flags & KATLS_SKF_SELFTEST)) {
		if (st->flags & KATLS_SKF_USER)
			return -EACCES;
		if (req && st->state != KATLS_GATE_REQUIRED)
			return -EACCES;
	}
	if (!st)
		st = bpf_sk_storage_get(&katls_sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		/* the I/O hooks refuse this socket from its addresses (fail closed) */
		if (req)
			count(KATLS_CNT_MARK_FAILED);
		return 0;
	}
	decide(st, rule, KATLS_SKF_ACTIVE | KATLS_SKF_EARLY, rules_gen());
	if (!st->cookie)
		st->cookie = bpf_get_socket_cookie(sk);
	/*
	 * An attest rule: katls.ko takes the socket before it connects, so that
	 * poll() already reports it not ready (a failure leaves it REQUIRED).
	 */
	if (st->flags & KATLS_SKF_ATTEST)
		attest_hold(sk, st, true);
	return 0;
}

/* ---- LSM: deny application I/O on gated sockets ------------------------------ */

/* Is the caller the registered daemon (any thread of it)? */
static __always_inline bool is_daemon(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct katls_daemon_v *d;

	d = bpf_task_storage_get(&katls_daemon, task->group_leader, NULL, 0);
	return d && d->magic == KATLS_DAEMON_MAGIC;
}

static __always_inline void emit(struct sock *sk, __u8 state, __u16 policy_id, __u8 op, int err)
{
	struct katls_gate_event *e;
	__u16 family;

	e = bpf_ringbuf_reserve(&katls_events, sizeof(*e), 0);
	if (!e) {
		count(KATLS_CNT_EVENTS_LOST);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->cookie = bpf_get_socket_cookie(sk);
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->err = err;
	e->op = op;
	e->state = state;
	e->policy_id = policy_id;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->family = family;
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

static const __u32 deny_counter[__KATLS_OP_MAX] = {
	[KATLS_OP_SEND] = KATLS_CNT_DENY_SEND,
	[KATLS_OP_RECV] = KATLS_CNT_DENY_RECV,
	[KATLS_OP_FILE_WRITE] = KATLS_CNT_DENY_FILE_WRITE,
	[KATLS_OP_FILE_READ] = KATLS_CNT_DENY_FILE_READ,
	[KATLS_OP_ZEROCOPY] = KATLS_CNT_DENY_ZEROCOPY,
	[KATLS_OP_CONNECT] = KATLS_CNT_DENY_CONNECT,
};

/* Count and report a denial; @st may be NULL (a socket without storage). */
static __always_inline int deny(struct sock *sk, struct katls_sk_state_v *st, __u8 op, int err)
{
	if (st) {
		if (st->flags & KATLS_SKF_SELFTEST)
			return err;
		if (op == KATLS_OP_SEND || op == KATLS_OP_FILE_WRITE)
			st->denied_send++;
		else if (op != KATLS_OP_CONNECT)
			st->denied_recv++;
	} else {
		count(KATLS_CNT_DENY_NOSTATE);
	}
	if (op < __KATLS_OP_MAX)
		count(deny_counter[op]);
	if (err == -EKEYEXPIRED)
		count(KATLS_CNT_DENY_EXPIRED);
	emit(sk, st ? st->state : KATLS_GATE_REQUIRED, st ? st->policy_id : 0, op, err);
	return err;
}

/*
 * The state of a TCP/MPTCP socket the gate has not decided yet, or whose rules
 * changed since: it was connected before the gate was loaded (or its storage
 * could not be created then), it is an accepted MPTCP socket, or a rule was
 * added or removed.  Decided now from the addresses it has; NULL when no
 * storage can be created, with *@required saying what the rules want.
 */
static __always_inline struct katls_sk_state_v *late_decide(struct sock *sk,
							     struct katls_sk_state_v *st,
							     bool *required)
{
	struct katls_rule_v *rule;
	__u8 dir, flags = st ? st->flags & (KATLS_SKF_ACTIVE | KATLS_SKF_PASSIVE) : 0;

	dir = flags_dir(flags);
	/* only a socket that called connect() is ever in SYN_SENT */
	if (!dir && BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_SYN_SENT)
		dir = KATLS_DIR_OUT;
	rule = sock_rule(sk, dir);
	*required = gated(rule);
	if (!st)
		st = bpf_sk_storage_get(&katls_sk_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		if (*required)
			count(KATLS_CNT_MARK_FAILED);
		return NULL;
	}
	count(KATLS_CNT_LATE_MARK);
	decide(st, rule, flags, rules_gen());
	if (rule && rule->action == KATLS_ACT_EXEMPT)
		count(KATLS_CNT_MARK_EXEMPT);
	if (!st->cookie)
		st->cookie = bpf_get_socket_cookie(sk);
	return st;
}

/* 0 to allow the operation @op on @sk, or the errno to fail it with. */
static __always_inline int gate(struct sock *sk, __u8 op)
{
	struct katls_sk_state_v *st;
	bool required;
	__u64 now;
	int err;

	if (!sk)
		return 0;
	st = bpf_sk_storage_get(&katls_sk_state, sk, NULL, 0);
	if (!st) {
		__u8 tcp_state;

		if (!stream_sock(sk))
			return 0;
		tcp_state = BPF_CORE_READ(sk, __sk_common.skc_state);
		if (tcp_state == TCP_LISTEN)
			return 0;	/* no data moves through a listener */
		/*
		 * Not connected, and the gate never saw a connect(): whatever a
		 * connect() racing this call (another thread) would lead to was
		 * not decided when this call passed here.  Such a call fails
		 * anyway (EPIPE, ENOTCONN) unless a connect() is racing it.
		 */
		if (tcp_state == TCP_CLOSE)
			return deny(sk, NULL, op, -EACCES);
		st = late_decide(sk, NULL, &required);
		if (!st)
			return required ? deny(sk, NULL, op, -EACCES) : 0;
	} else if (!(st->flags & (KATLS_SKF_USER | KATLS_SKF_SELFTEST)) &&
		   st->rules_gen != rules_gen()) {
		late_decide(sk, st, &required);
	}
	switch (st->state) {
	case KATLS_GATE_NONE:
		return 0;
	case KATLS_GATE_ATTESTED:
		if (!st->expiry_ns)
			return 0;
		now = bpf_ktime_get_boot_ns();
		if (now < st->expiry_ns)
			return 0;
		st->state = KATLS_GATE_EXPIRED;
		st->marked_ns = now;
		if (!(st->flags & KATLS_SKF_SELFTEST))
			count(KATLS_CNT_EXPIRED);
		err = -EKEYEXPIRED;
		break;
	case KATLS_GATE_EXPIRED:
		err = -EKEYEXPIRED;
		break;
	case KATLS_GATE_PENDING:
		if (is_daemon()) {
			count(KATLS_CNT_DAEMON_IO);
			return 0;
		}
		err = -EACCES;
		/* katls.ko holds the program's call until the verdict */
		if ((st->flags & KATLS_SKF_ATTEST) && op != KATLS_OP_ZEROCOPY &&
		    !attest_hold(sk, st, false))
			return 0;
		break;
	case KATLS_GATE_REQUIRED:
		err = -EACCES;
		if ((st->flags & KATLS_SKF_ATTEST) && op != KATLS_OP_ZEROCOPY &&
		    !(st->flags & (KATLS_SKF_USER | KATLS_SKF_SELFTEST)) && !is_daemon() &&
		    !attest_hold(sk, st, true))
			return 0;
		break;
	case KATLS_GATE_FAILED:
	default:
		err = -EACCES;
		break;
	}
	return deny(sk, st, op, err);
}

/* A refused (re)connect: counted and reported like an I/O denial. */
static __always_inline int connect_gate(struct sock *sk, struct sockaddr *sa, int len, bool tfo)
{
	int err = on_connect(sk, sa, len, tfo);

	if (!err)
		return 0;
	return deny(sk, bpf_sk_storage_get(&katls_sk_state, sk, NULL, 0), KATLS_OP_CONNECT, err);
}

SEC("lsm/socket_sendmsg")
int BPF_PROG(katls_socket_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct sock *sk = sock->sk;

	if (ret || !sk)
		return ret;
	/* sendto(MSG_FASTOPEN) connects without connect(): its data would ride the SYN. */
	if (BPF_CORE_READ(msg, msg_flags) & MSG_FASTOPEN) {
		ret = connect_gate(sk, BPF_CORE_READ(msg, msg_name), BPF_CORE_READ(msg, msg_namelen),
				   true);
		if (ret)
			return ret;
	}
	return gate(sk, KATLS_OP_SEND);
}

SEC("lsm/socket_recvmsg")
int BPF_PROG(katls_socket_recvmsg, struct socket *sock, struct msghdr *msg, int size,
	     int flags, int ret)
{
	if (ret)
		return ret;
	return gate(sock->sk, KATLS_OP_RECV);
}

/*
 * Every read/write/sendfile/splice passes here (rw_verify_area); for anything
 * but a socket the cost is one helper call that compares f_op.
 */
SEC("lsm/file_permission")
int BPF_PROG(katls_file_permission, struct file *file, int mask, int ret)
{
	struct socket *sock;

	if (ret)
		return ret;
	if (!(mask & (MAY_READ | MAY_WRITE)))
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	return gate(sock->sk, (mask & MAY_WRITE) ? KATLS_OP_FILE_WRITE : KATLS_OP_FILE_READ);
}

SEC("lsm/socket_connect")
int BPF_PROG(katls_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen,
	     int ret)
{
	if (ret || !sock->sk)
		return ret;
	return connect_gate(sock->sk, address, addrlen, false);
}

SEC("lsm/socket_getsockopt")
int BPF_PROG(katls_socket_getsockopt, struct socket *sock, int level, int optname, int ret)
{
	if (ret)
		return ret;
	if (level != SOL_TCP || optname != TCP_ZEROCOPY_RECEIVE)
		return 0;
	return gate(sock->sk, KATLS_OP_ZEROCOPY);
}

/*
 * accept() grafts the new connection onto the program's socket: an attest
 * rule hands it to katls.ko here, before the program can poll or read it.
 */
SEC("lsm/sock_graft")
int BPF_PROG(katls_sock_graft, struct sock *sk, struct socket *parent)
{
	struct katls_sk_state_v *st;

	st = bpf_sk_storage_get(&katls_sk_state, sk, NULL, 0);
	if (!st || st->state != KATLS_GATE_REQUIRED || !(st->flags & KATLS_SKF_ATTEST) ||
	    (st->flags & (KATLS_SKF_USER | KATLS_SKF_SELFTEST)) || is_daemon())
		return 0;
	attest_hold(sk, st, true);
	return 0;
}

/* execve() ends the daemon's exemption: the new program is not katlsd. */
SEC("lsm/bprm_committed_creds")
int BPF_PROG(katls_bprm_committed_creds, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!bpf_task_storage_delete(&katls_daemon, task))
		count(KATLS_CNT_DAEMON_EXEC);
	return 0;
}
