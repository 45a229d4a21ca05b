// SPDX-License-Identifier: GPL-2.0
/*
 * Per-socket attestation status (KATLS_SO_STATUS), and how it is kept until
 * the socket is destroyed without any socket ever reaching module text after
 * rmmod.
 *
 * A socket that asked for attestation gets a struct katls_sock: its state,
 * verdict, peer digest and expiry.  It is found through a hash keyed by the
 * struct sock; status fields are written under socks_lock, taken _bh because
 * the destructor may run in softirq context.
 *
 * While the request runs (PENDING) the record needs no destructor: the
 * setsockopt() caller holds the socket's file for the whole call, so the
 * socket cannot be destroyed before katls_sock_finish().  Only then, when the
 * outcome is recorded, do we chain sk_destruct (as net/handshake does) so the
 * record is freed with the socket.
 *
 * Clones.  sk_clone_lock() copies sk_destruct into every child of a listening
 * socket.  A child has no record and holds no module reference, so once our
 * destructor is in sk_destruct the socket must never listen again.  Linux
 * guarantees that for a socket carrying a ULP without a clone op
 * (inet_ulp_can_listen(), the CVE-2023-0461 fix, present in Debian's 6.1:
 * listen() fails with EINVAL, and such a ULP cannot be set on a listener).
 * So we chain only onto a socket that carries such a ULP:
 *  - attested: the "tls" ULP the daemon installed (checked by DONE);
 *  - failed: after the socket is shut down (SHUT_RDWR also stops a listener
 *    that the application made during PENDING with connect(AF_UNSPEC) and
 *    listen()), the module installs its own ULP "katls", which has no
 *    operation but init.  If the daemon installed "tls" first, that one
 *    serves as well (only one ULP per socket; kTLS keys can never be added
 *    to a failed socket after "katls" is on it).
 * If neither works (the application keeps re-listening, or someone else
 * chained sk_destruct) the record is dropped and the status reads NONE: the
 * socket then never references this module.  Children created while a socket
 * was PENDING copy the core destructor and are unaffected.  We chain only over
 * the destructor inet/inet6 sockets are created with, so the destructor can
 * call it by name; a socket without a record that still runs it (impossible
 * by the above) gets the core destructor of its family and a warning.
 *
 * Module lifetime.  Each chained destructor holds a module reference,
 * dropped by the destructor's last action, module_put(), which the compiler
 * emits as a sibling call (jmp): the reference is dropped in core kernel code
 * that returns straight to the destructor's caller, so no instruction of this
 * module runs after it (tests/vm/test_kmod_attack.sh checks the jmp in
 * katls.ko).  The "katls" ULP holds its own reference (taken by
 * tcp_set_ulp(), dropped by tcp_cleanup_ulp(); it has no release op to run).
 * So rmmod fails with EBUSY while any socket carries our destructor or ULP.
 */
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/inet_common.h>
#include <net/inet_connection_sock.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tcp_states.h>

#include "sock.h"
#include "transparent.h"

#define KATLS_ULP_NAME	"katls"
/* Shut down and re-install the ULP at most this often against a re-listener. */
#define SEAL_TRIES	3

/* Per-socket status: kept until the socket is destroyed. */
struct katls_sock {
	struct hlist_node node;
	struct sock *sk;
	u64 expiry;
	s32 result;
	u32 reason;
	u8 state;			/* enum katls_sock_state */
	bool sealing;			/* katls_ulp_init() may accept this socket */
	bool v6;			/* chained over inet6_sock_destruct */
	bool early;			/* chained when taken (transparent.c), not at finish */
	u8 peer_digest[KATLS_SHA256_LEN];
	struct katls_tsock *tsock;	/* transparent.c's state, freed with the record */
};

#define SOCKS_BITS 10
static DEFINE_SPINLOCK(socks_lock);
static DEFINE_HASHTABLE(socks, SOCKS_BITS);
static u32 nr_socks;
static u32 nr_attested;		/* of nr_socks, state ATTESTED */

static struct katls_sock *lookup_sock(const struct sock *sk)
{
	struct katls_sock *ks;

	lockdep_assert_held(&socks_lock);
	hash_for_each_possible(socks, ks, node, (unsigned long)sk)
		if (ks->sk == sk)
			return ks;
	return NULL;
}

/* Is @sk's destructor the one inet/inet6 create TCP sockets with? */
static bool destruct_expected(const struct sock *sk, bool *v6)
{
	void (*d)(struct sock *sk) = READ_ONCE(sk->sk_destruct);

	*v6 = false;
	if (d == inet_sock_destruct)
		return true;
#if IS_ENABLED(CONFIG_IPV6)
	if (d == inet6_sock_destruct) {
		*v6 = true;
		return true;
	}
#endif
	return false;
}

static void (*core_destruct_of(bool v6))(struct sock *sk)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (v6)
		return inet6_sock_destruct;
#endif
	return inet_sock_destruct;
}

static void core_destruct(struct sock *sk, bool v6)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (v6) {
		inet6_sock_destruct(sk);
		return;
	}
#endif
	inet_sock_destruct(sk);
}

static void katls_sk_destruct(struct sock *sk)
{
	struct katls_sock *ks;
	bool v6;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks) {
		hash_del(&ks->node);
		nr_socks--;
		nr_attested -= ks->state == KATLS_STATE_ATTESTED;
	}
	spin_unlock_bh(&socks_lock);
	if (unlikely(!ks)) {
		/* A clone: impossible (see the top of this file), never skip the core. */
		WARN_ONCE(1, "katls: destructor on a socket without katls state\n");
		core_destruct(sk, sk->sk_family == AF_INET6);
		return;
	}
	v6 = ks->v6;
	katls_tsock_free(ks->tsock);
	kfree(ks);
	core_destruct(sk, v6);
	/*
	 * ORDER: last, and compiled as a sibling call (jmp module_put): no
	 * instruction of this module may run once the reference is gone.
	 */
	module_put(THIS_MODULE);
}

/* The "katls" ULP accepts only the sockets katls_sock_finish() seals. */
static int katls_ulp_init(struct sock *sk)
{
	struct katls_sock *ks;
	bool ok;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	ok = ks && ks->sealing;
	spin_unlock_bh(&socks_lock);
	return ok ? 0 : -EPERM;
}

static struct tcp_ulp_ops katls_ulp_ops __read_mostly = {
	.name		= KATLS_ULP_NAME,
	.owner		= THIS_MODULE,
	.init		= katls_ulp_init,
};

/**
 * katls_sock_attach - validate @sk and give it a PENDING status record
 * @sk: the caller's TCP socket
 *
 * Under the socket lock, so TCP state, ULP and destructor cannot change
 * meanwhile.  Nothing about the socket itself changes.
 *
 * Return: 0, -ENOTCONN (not established), -EALREADY (pending), -EISCONN
 * (attested or failed before), -EBUSY (carries a ULP, or its destructor is
 * not the one inet creates sockets with), -ENOMEM.
 */
int katls_sock_attach(struct sock *sk)
{
	struct katls_sock *ks, *old;
	int ret = 0;
	bool v6;

	ks = kzalloc(sizeof(*ks), GFP_KERNEL);
	if (!ks)
		return -ENOMEM;
	lock_sock(sk);
	if (sk->sk_state != TCP_ESTABLISHED) {
		ret = -ENOTCONN;
		goto out_release;
	}
	spin_lock_bh(&socks_lock);
	old = lookup_sock(sk);
	if (old)
		ret = old->state == KATLS_STATE_PENDING ? -EALREADY : -EISCONN;
	spin_unlock_bh(&socks_lock);
	if (ret)
		goto out_release;
	if (inet_csk(sk)->icsk_ulp_ops || !destruct_expected(sk, &v6)) {
		ret = -EBUSY;
		goto out_release;
	}
	ks->sk = sk;
	ks->state = KATLS_STATE_PENDING;
	spin_lock_bh(&socks_lock);
	hash_add(socks, &ks->node, (unsigned long)sk);
	nr_socks++;
	spin_unlock_bh(&socks_lock);
	ks = NULL;
out_release:
	release_sock(sk);
	kfree(ks);
	return ret;
}

/* Takes @sk's record out of the hash and frees it (no destructor chained). */
static void drop_sock(struct sock *sk)
{
	struct katls_sock *ks;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks) {
		hash_del(&ks->node);
		nr_socks--;
		nr_attested -= ks->state == KATLS_STATE_ATTESTED;
	}
	spin_unlock_bh(&socks_lock);
	kfree(ks);
}

/**
 * katls_sock_detach - forget the PENDING record of a request never queued
 * @sk: a socket katls_sock_attach() accepted, still held by the caller
 */
void katls_sock_detach(struct sock *sk)
{
	drop_sock(sk);
}

static void set_sealing(struct sock *sk, bool on)
{
	struct katls_sock *ks;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks)
		ks->sealing = on;
	spin_unlock_bh(&socks_lock);
}

/*
 * Shuts @sk down and puts the "katls" ULP on it unless it has a ULP already.
 * tcp_set_ulp() refuses a listener (-ENOTCONN): the application listened
 * again after our shutdown, so shut down again, a bounded number of times.
 */
static void shut_and_seal(struct sock *sk)
{
	int i, ret = 0;

	for (i = 0; i < SEAL_TRIES; i++) {
		kernel_sock_shutdown(sk->sk_socket, SHUT_RDWR);
		set_sealing(sk, true);
		ret = tcp_setsockopt(sk, SOL_TCP, TCP_ULP, KERNEL_SOCKPTR(KATLS_ULP_NAME),
				     sizeof(KATLS_ULP_NAME) - 1);
		set_sealing(sk, false);
		if (ret != -ENOTCONN)
			break;
	}
	if (ret && ret != -EEXIST)
		pr_debug("cannot put ULP %s on a failed socket: %d\n", KATLS_ULP_NAME, ret);
}

/*
 * Chains our destructor if @sk can never listen again (a ULP without clone
 * op) and its destructor is still the core one.  Return: 0 or -EBUSY.
 */
static int chain_destructor(struct sock *sk)
{
	const struct tcp_ulp_ops *ulp;
	struct katls_sock *ks;
	int ret = -EBUSY;
	bool v6;

	lock_sock(sk);
	ulp = inet_csk(sk)->icsk_ulp_ops;
	if (!ulp || ulp->clone || sk->sk_state == TCP_LISTEN || !destruct_expected(sk, &v6))
		goto out_release;
	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks)
		ks->v6 = v6;
	spin_unlock_bh(&socks_lock);
	if (!ks)
		goto out_release;
	/* We run in an nf_sockopt handler, which holds a module reference. */
	__module_get(THIS_MODULE);
	WRITE_ONCE(sk->sk_destruct, katls_sk_destruct);
	ret = 0;
out_release:
	release_sock(sk);
	return ret;
}

/**
 * katls_sock_finish - record the outcome of @sk's request and keep it
 * @sk: a socket katls_sock_attach() accepted, still held by the caller
 * @result: 0 (attested, kTLS checked) or -errno
 * @reason: katls reason code from the daemon
 * @expiry: seconds since the epoch, 0 for none
 * @peer_digest: KATLS_SHA256_LEN bytes
 *
 * On failure the socket is shut down (SHUT_RDWR) and sealed against listen()
 * (see the top of this file).  If the record cannot be kept safely it is
 * dropped; a success that cannot be kept becomes -EPROTO (fail closed).
 *
 * Context: process context of the setsockopt() caller.
 * Return: the result the application gets.
 */
int katls_sock_finish(struct sock *sk, int result, u32 reason, u64 expiry,
		      const u8 *peer_digest)
{
	struct katls_sock *ks;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks) {
		nr_attested -= ks->state == KATLS_STATE_ATTESTED;
		ks->state = result ? KATLS_STATE_FAILED : KATLS_STATE_ATTESTED;
		nr_attested += ks->state == KATLS_STATE_ATTESTED;
		ks->result = result;
		ks->reason = reason;
		ks->expiry = result ? 0 : expiry;
		memcpy(ks->peer_digest, peer_digest, KATLS_SHA256_LEN);
	}
	spin_unlock_bh(&socks_lock);

	if (result)
		shut_and_seal(sk);
	if (ks && ks->early)
		return result;	/* chained when taken; the record stays until destruction */
	if (!chain_destructor(sk))
		return result;
	drop_sock(sk);
	if (!result) {
		pr_warn_ratelimited("attested socket cannot keep its status; failing it\n");
		kernel_sock_shutdown(sk->sk_socket, SHUT_RDWR);
		result = -EPROTO;
	}
	return result;
}

/**
 * katls_sock_take - give @sk a PENDING record and chain the destructor now
 * @sk: a TCP socket an attest rule covers, not yet established or just
 *	established (transparent.c); its caller pins it
 * @tsock: transparent.c's state, owned by the record from now on
 *
 * Context: atomic (a BPF-LSM program's kfunc): no socket lock is taken.  The
 * destructor is chained at once rather than at the verdict, because no
 * syscall pins this socket for the duration of the request; the socket
 * cannot listen meanwhile (transparent.c's listen refuses it until the
 * verdict, then the "tls" or "katls" ULP does, see the top of this file).
 * Return: 0, -EPROTONOSUPPORT, -EBUSY (ULP, foreign destructor, listener),
 * -EALREADY (a record exists), -ENOMEM.
 */
int katls_sock_take(struct sock *sk, struct katls_tsock *tsock)
{
	void (*d)(struct sock *sk);
	struct katls_sock *ks;
	bool v6;

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	if (READ_ONCE(sk->sk_state) == TCP_LISTEN || inet_csk(sk)->icsk_ulp_ops ||
	    !destruct_expected(sk, &v6))
		return -EBUSY;
	ks = kzalloc(sizeof(*ks), GFP_ATOMIC);
	if (!ks)
		return -ENOMEM;
	ks->sk = sk;
	ks->state = KATLS_STATE_PENDING;
	ks->v6 = v6;
	ks->early = true;
	ks->tsock = tsock;
	spin_lock_bh(&socks_lock);
	if (lookup_sock(sk)) {
		spin_unlock_bh(&socks_lock);
		kfree(ks);
		return -EALREADY;
	}
	hash_add(socks, &ks->node, (unsigned long)sk);
	nr_socks++;
	spin_unlock_bh(&socks_lock);
	/* Our caller (a BPF program using our kfunc) pins the module. */
	__module_get(THIS_MODULE);
	d = v6 ? core_destruct_of(true) : core_destruct_of(false);
	if (cmpxchg(&sk->sk_destruct, d, katls_sk_destruct) != d) {
		spin_lock_bh(&socks_lock);
		hash_del(&ks->node);
		nr_socks--;
		spin_unlock_bh(&socks_lock);
		kfree(ks);
		module_put(THIS_MODULE);
		return -EBUSY;
	}
	return 0;
}

/**
 * katls_sock_tsock - transparent.c's state of @sk, or NULL
 * @sk: a socket its caller pins (the state lives as long as the socket)
 */
struct katls_tsock *katls_sock_tsock(const struct sock *sk)
{
	struct katls_tsock *t = NULL;
	struct katls_sock *ks;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks)
		t = ks->tsock;
	spin_unlock_bh(&socks_lock);
	return t;
}

/**
 * katls_sock_status - fill @st with @sk's attestation status
 * @sk: any socket; state NONE if it never asked for attestation
 * @st: out, zeroed first
 */
void katls_sock_status(struct sock *sk, struct katls_status *st)
{
	struct katls_sock *ks;

	memset(st, 0, sizeof(*st));
	st->version = KATLS_ATTEST_VERSION;
	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks) {
		st->state = ks->state;
		st->result = ks->result;
		st->reason = ks->reason;
		st->expiry = ks->expiry;
		memcpy(st->peer_digest, ks->peer_digest, KATLS_SHA256_LEN);
	}
	spin_unlock_bh(&socks_lock);
	if (st->state == KATLS_STATE_ATTESTED && st->expiry &&
	    (u64)ktime_get_real_seconds() >= st->expiry)
		st->state = KATLS_STATE_EXPIRED;
}

/**
 * katls_sock_count - sockets that carry a status record
 */
u32 katls_sock_count(void)
{
	u32 n;

	spin_lock_bh(&socks_lock);
	n = nr_socks;
	spin_unlock_bh(&socks_lock);
	return n;
}

/**
 * katls_sock_count_attested - of those, the ones whose request succeeded
 *
 * ATTESTED records of sockets not yet destroyed, in every network namespace;
 * a verdict past its expiry still counts (KATLS_SO_STATUS reads it EXPIRED).
 */
u32 katls_sock_count_attested(void)
{
	u32 n;

	spin_lock_bh(&socks_lock);
	n = nr_attested;
	spin_unlock_bh(&socks_lock);
	return n;
}

int __init katls_sock_init(void)
{
	pr_info("per-socket state %zu bytes (slab %zu)\n", sizeof(struct katls_sock),
		kmalloc_size_roundup(sizeof(struct katls_sock)));
	return tcp_register_ulp(&katls_ulp_ops);
}

void katls_sock_exit(void)
{
	tcp_unregister_ulp(&katls_ulp_ops);
	/* Each record with a destructor pins the module; the others live in a call. */
	WARN_ON_ONCE(nr_socks);
}
