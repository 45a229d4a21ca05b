// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent attestation (issue 14, docs/transparent.md): an operator's
 * attest rule, not the program, asks for attestation of a TCP socket.
 *
 * The BPF gate decides from its rules; when one says "attest" it calls our
 * kfunc katls_kf_attest() from its LSM programs: at connect() for outgoing
 * connections, when accept() grafts the new socket (sock_graft) for incoming
 * ones, and at the first I/O for any other way a connection came to exist.
 * We then take the socket over the way kTLS installs itself: its struct
 * socket's proto_ops are replaced by a wrapper of the ops it had, which
 * holds every application entry point that moves data or could end the
 * connection under us (sendmsg, recvmsg, sendpage, splice_read, poll,
 * connect(AF_UNSPEC), listen, setsockopt of TCP_ULP/SOL_TLS, shutdown) until
 * the verdict: a blocking call sleeps on the socket's wait queue, a non-blocking
 * one gets EAGAIN, poll reports nothing ready, so a level-triggered event
 * loop sleeps; the verdict wakes the queue.  The request itself is the one
 * setsockopt(KATLS_SO_ATTEST) makes (request.c), queued asynchronously once
 * the connection is established, with the workload identity captured in the
 * program's own context when the gate met it.
 *
 * katlsd does its handshake through the same struct file: calls of the
 * registered daemon's threads pass the wrapper (request.c compares the
 * caller's thread-group pid); they are made blocking (MSG_DONTWAIT dropped),
 * so katlsd needs not touch the program's O_NONBLOCK.  kTLS replaces
 * sock->ops when katlsd installs it; every setsockopt through the wrapper
 * wraps what it finds afterwards, so the program never sees kTLS' ops
 * before the verdict.  On success the wrapper steps aside (sock->ops back to
 * kTLS'); on failure it stays, and the socket is shut down and sealed
 * (sock.c) as for setsockopt.
 *
 * Lifetimes.  The per-socket state (struct katls_tsock) hangs off sock.c's
 * record, whose destructor sock.c chains at once (katls_sock_take()): it is
 * freed with the socket and the destructor's module reference keeps our
 * wrapper tables and text alive as long as any socket can reach them.  A
 * wrapper table, once made for an ops table, is kept until module exit.
 * Work we queue pins the socket's file.
 */
#include <linux/btf.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/splice.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tcp_states.h>
#include <uapi/linux/katls.h>

#include "../bpf/katls_gate.h"
#include "request.h"
#include "sock.h"
#include "transparent.h"
#include "workload.h"

enum {
	T_STARTED,			/* a request was queued, or failed to be */
	T_DONE,				/* the verdict is in: result */
};

struct katls_tsock {
	struct sock *sk;
	unsigned long flags;		/* T_* bits */
	int result;			/* 0 or -errno, valid once T_DONE */
	atomic_t shut;			/* deferred shutdown(): its how + 1, 0 = none */
	u8 role, mode;
	struct katls_workload wl;	/* until the request takes it */
	struct work_struct start_work;
};

struct katls_wrap {
	struct proto_ops ops;
	const struct proto_ops *orig;
};

#define MAX_WRAPS 32
static DEFINE_SPINLOCK(wraps_lock);
static struct katls_wrap *wraps[MAX_WRAPS];

/* The family's plain ops, seen when a socket was first taken (see orig_of()). */
static const struct proto_ops *base_ops[2];

static int w_release(struct socket *sock);

/* One of our tables?  Entries are only ever appended, so no lock is needed. */
static bool is_wrap(const struct proto_ops *o)
{
	int i;

	if (!o || o->release != w_release)
		return false;
	for (i = 0; i < MAX_WRAPS; i++) {
		struct katls_wrap *w = READ_ONCE(wraps[i]);

		if (!w)
			break;
		if (&w->ops == o)
			return true;
	}
	return false;
}

/* The ops a wrapped socket had (or has, if something replaced ours meanwhile). */
static const struct proto_ops *orig_of(struct socket *sock)
{
	const struct proto_ops *o = READ_ONCE(sock->ops);

	if (is_wrap(o))
		return container_of(o, struct katls_wrap, ops)->orig;
	if (unlikely(o->release == w_release)) {
		/*
		 * A copy of our wrapper that is not ours: kTLS built its tables from
		 * a wrapped socket after all (tls.ko reloaded; see prime_tls()).
		 * Never recurse into ourselves: the family's plain ops.
		 */
		WARN_ONCE(1, "katls: kTLS copied katls' socket ops; reload tls.ko\n");
		return base_ops[o->family == PF_INET6];
	}
	return o;
}

static struct katls_tsock *tsock_of(struct socket *sock)
{
	return sock->sk ? katls_sock_tsock(sock->sk) : NULL;
}

static bool t_done(const struct katls_tsock *t)
{
	return test_bit(T_DONE, &t->flags);
}

/* ---- requests ---------------------------------------------------------------- */

static void wake_all(struct sock *sk)
{
	wait_queue_head_t *wq;

	rcu_read_lock();
	wq = sk_sleep(sk);
	if (wq)
		wake_up_interruptible_all(wq);
	rcu_read_unlock();
}

static void unwrap(struct socket *sock)
{
	const struct proto_ops *o = READ_ONCE(sock->ops);

	if (is_wrap(o))
		cmpxchg(&sock->ops, o, container_of(o, struct katls_wrap, ops)->orig);
}

/* The outcome, in process context (request.c's workqueue or the starter). */
static void t_finish(struct katls_tsock *t, int result, u32 reason, u64 expiry,
		     const u8 *peer_digest)
{
	static const u8 zero[KATLS_SHA256_LEN];
	struct sock *sk = t->sk;

	result = katls_sock_finish(sk, result, reason, expiry, peer_digest ?: zero);
	int shut;

	WRITE_ONCE(t->result, result);
	smp_mb__before_atomic();
	set_bit(T_DONE, &t->flags);
	smp_mb__after_atomic();
	shut = atomic_xchg(&t->shut, 0);
	if (!result && sk->sk_socket) {
		unwrap(sk->sk_socket);
		/* the program's shutdown(), held back: now, through kTLS */
		if (shut)
			kernel_sock_shutdown(sk->sk_socket, shut - 1);
	}
	wake_all(sk);
}

static void t_request_done(void *ctx, int result, u32 reason, u64 expiry, const u8 *peer_digest)
{
	t_finish(ctx, result, reason, expiry, peer_digest);
}

/*
 * Queue @t's request (once).  Process context; the caller pins the socket's
 * file.  A request that cannot be queued (no daemon: ECONNREFUSED) fails the
 * socket at once.
 */
static void t_start(struct katls_tsock *t)
{
	struct katls_attest_req ar = {
		.version = KATLS_ATTEST_VERSION,
		.role = t->role,
		.mode = t->mode,
	};
	int ret;

	if (test_and_set_bit(T_STARTED, &t->flags))
		return;
	ret = katls_request_start(t->sk, &ar, &t->wl, t_request_done, t);
	if (ret)
		t_finish(t, ret, 0, 0, NULL);
}

static void start_work(struct work_struct *work)
{
	struct katls_tsock *t = container_of(work, struct katls_tsock, start_work);
	struct file *file = t->sk->sk_socket->file;

	t_start(t);
	fput(file);
}

/* From atomic context (poll, the kfunc): start from a work item that pins the file. */
static void t_start_async(struct katls_tsock *t, struct socket *sock)
{
	if (test_bit(T_STARTED, &t->flags) || !sock->file)
		return;
	get_file(sock->file);
	if (!schedule_work(&t->start_work))
		fput(sock->file);
}

static bool established(const struct sock *sk)
{
	return (1 << READ_ONCE(sk->sk_state)) & (TCPF_ESTABLISHED | TCPF_CLOSE_WAIT);
}

/*
 * May the caller's call go on to the real ops?  0 yes; else the errno.
 * Blocking callers sleep here until the verdict (interruptibly: -ERESTARTSYS).
 */
static int hold(struct socket *sock, struct katls_tsock *t, bool nonblock, bool send)
{
	struct sock *sk = sock->sk;
	int ret;

	for (;;) {
		if (t_done(t)) {
			smp_rmb();
			return READ_ONCE(t->result);
		}
		if (!test_bit(T_STARTED, &t->flags)) {
			if (established(sk)) {
				t_start(t);
				continue;
			}
			if (!((1 << READ_ONCE(sk->sk_state)) & (TCPF_SYN_SENT | TCPF_SYN_RECV)))
				/* never connected: nothing may race a connect() past us */
				return send ? -EPIPE : -ENOTCONN;
			if (nonblock)
				return -EAGAIN;
			ret = wait_event_interruptible(*sk_sleep(sk), t_done(t) || established(sk) ||
				!((1 << READ_ONCE(sk->sk_state)) & (TCPF_SYN_SENT | TCPF_SYN_RECV)));
			if (ret)
				return ret;
			continue;
		}
		if (nonblock)
			return -EAGAIN;
		ret = wait_event_interruptible(*sk_sleep(sk), t_done(t));
		if (ret)
			return ret;
	}
}

/* Wrap whatever ops @sock has now (kTLS replaced ours), while @t is pending. */
static struct katls_wrap *wrap_for(const struct proto_ops *o);

static void rewrap(struct socket *sock, struct katls_tsock *t)
{
	const struct proto_ops *o = READ_ONCE(sock->ops);
	struct katls_wrap *w;

	if (t_done(t) || is_wrap(o))
		return;
	w = wrap_for(o);
	if (w)
		cmpxchg(&sock->ops, o, &w->ops);
	else
		/* cannot hold it: fail closed */
		kernel_sock_shutdown(sock, SHUT_RDWR);
}

/* ---- the wrapper ops ---------------------------------------------------------- */

static int w_release(struct socket *sock)
{
	return orig_of(sock)->release(sock);
}

static int w_connect(struct socket *sock, struct sockaddr *addr, int len, int flags)
{
	const struct proto_ops *o = orig_of(sock);
	struct katls_tsock *t = tsock_of(sock);
	int ret;

	/* a verdict belongs to one connection: no disconnect while katls holds it */
	if (t && !t_done(t) && len >= (int)sizeof(addr->sa_family) &&
	    addr->sa_family == AF_UNSPEC)
		return -EISCONN;
	ret = o->connect(sock, addr, len, flags);
	if (!ret && t && established(sock->sk))
		t_start(t);
	return ret;
}

static __poll_t w_poll(struct file *file, struct socket *sock, poll_table *wait)
{
	const struct proto_ops *o = orig_of(sock);
	__poll_t mask = o->poll(file, sock, wait);
	struct katls_tsock *t = tsock_of(sock);

	if (!t || t_done(t) || katls_request_daemon_current())
		return mask;
	if (established(sock->sk))
		t_start_async(t, sock);
	/* Nothing is ready for the program until the verdict; errors and hangups are. */
	return mask & (EPOLLERR | EPOLLHUP);
}

static int w_listen(struct socket *sock, int backlog)
{
	/* sock.c chained our destructor: this socket must never listen */
	if (tsock_of(sock))
		return -EINVAL;
	return orig_of(sock)->listen(sock, backlog);
}

/*
 * kTLS builds its proto_ops tables once, by copying the ops of the socket it
 * is first installed on (tls_build_proto(), 6.1): were that one of our
 * wrapped sockets, every later kTLS socket of the family would carry our
 * wrapper's functions.  So before katlsd installs "tls" on a socket we hold,
 * let kTLS meet a plain socket of the family first: tls_init() builds its
 * tables before it refuses the unconnected socket (-ENOTCONN).  It rebuilds
 * only when the TCP proto changes (never for ours) or tls.ko is reloaded.
 */
static void prime_tls(int family)
{
	struct socket *s;

	if (sock_create_kern(&init_net, family, SOCK_STREAM, IPPROTO_TCP, &s))
		return;
	s->ops->setsockopt(s, SOL_TCP, TCP_ULP, KERNEL_SOCKPTR("tls"), 3);
	sock_release(s);
}

static int w_setsockopt(struct socket *sock, int level, int optname, sockptr_t optval,
			unsigned int optlen)
{
	const struct proto_ops *o = orig_of(sock);
	struct katls_tsock *t = tsock_of(sock);
	bool daemon = katls_request_daemon_current();
	int ret;

	if (t && !t_done(t) && !daemon &&
	    ((level == SOL_TCP && (optname == TCP_ULP || optname == TCP_REPAIR)) ||
	     level == SOL_TLS))
		return -EBUSY;
	if (t && level == SOL_TCP && optname == TCP_ULP)
		prime_tls(sock->sk->sk_family);
	ret = o->setsockopt(sock, level, optname, optval, optlen);
	if (t)
		rewrap(sock, t);
	return ret;
}

static int w_sendmsg(struct socket *sock, struct msghdr *msg, size_t size)
{
	struct katls_tsock *t = tsock_of(sock);
	int ret;

	if (t) {
		if (katls_request_daemon_current()) {
			msg->msg_flags &= ~MSG_DONTWAIT;
		} else {
			ret = hold(sock, t, msg->msg_flags & MSG_DONTWAIT, true);
			if (ret)
				return ret;
		}
	}
	return orig_of(sock)->sendmsg(sock, msg, size);
}

static int w_recvmsg(struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	struct katls_tsock *t = tsock_of(sock);
	int ret;

	if (t) {
		if (katls_request_daemon_current()) {
			flags &= ~MSG_DONTWAIT;
		} else {
			ret = hold(sock, t, flags & MSG_DONTWAIT, false);
			if (ret)
				return ret;
		}
	}
	return orig_of(sock)->recvmsg(sock, msg, size, flags);
}

static ssize_t w_sendpage(struct socket *sock, struct page *page, int offset, size_t size,
			  int flags)
{
	struct katls_tsock *t = tsock_of(sock);
	int ret;

	if (t && !katls_request_daemon_current()) {
		ret = hold(sock, t, (flags & MSG_DONTWAIT) ||
			   (sock->file && (sock->file->f_flags & O_NONBLOCK)), true);
		if (ret)
			return ret;
	}
	return orig_of(sock)->sendpage(sock, page, offset, size, flags);
}

static ssize_t w_splice_read(struct socket *sock, loff_t *ppos, struct pipe_inode_info *pipe,
			     size_t len, unsigned int flags)
{
	struct katls_tsock *t = tsock_of(sock);
	int ret;

	if (t && !katls_request_daemon_current()) {
		ret = hold(sock, t, (flags & SPLICE_F_NONBLOCK) ||
			   (sock->file && (sock->file->f_flags & O_NONBLOCK)), false);
		if (ret)
			return ret;
	}
	return orig_of(sock)->splice_read(sock, ppos, pipe, len, flags);
}

/*
 * A shutdown() before the verdict would cut katlsd's handshake short (a FIN
 * in its middle, or no more writes for it): it is held back, like the
 * program's data, and done when the verdict accepts the connection (a
 * refused one is shut down anyway).  It returns at once, as it would have.
 */
static int w_shutdown(struct socket *sock, int how)
{
	struct katls_tsock *t = tsock_of(sock);
	int shut;

	if (t && !t_done(t) && !katls_request_daemon_current()) {
		if (how < SHUT_RD || how > SHUT_RDWR)
			return -EINVAL;
		atomic_or(how + 1, &t->shut);
		smp_mb__after_atomic();
		if (!t_done(t))
			return 0;
		/* the verdict came meanwhile: whoever takes the bits does it */
		shut = atomic_xchg(&t->shut, 0);
		if (!shut || READ_ONCE(t->result))
			return 0;
		how = shut - 1;
	}
	return orig_of(sock)->shutdown(sock, how);
}

static int w_mmap(struct file *file, struct socket *sock, struct vm_area_struct *vma)
{
	struct katls_tsock *t = tsock_of(sock);

	/* tcp_mmap maps received pages (TCP_ZEROCOPY_RECEIVE): not before the verdict */
	if (t && !t_done(t))
		return -EAGAIN;
	return orig_of(sock)->mmap(file, sock, vma);
}

/* The wrapper of @o: found or made (atomic context).  NULL if none can be made. */
static struct katls_wrap *wrap_for(const struct proto_ops *o)
{
	struct katls_wrap *w = NULL, *n;
	unsigned long flags;
	int i;

	if (is_wrap(o))
		return container_of(o, struct katls_wrap, ops);
	spin_lock_irqsave(&wraps_lock, flags);
	for (i = 0; i < MAX_WRAPS && wraps[i]; i++)
		if (wraps[i]->orig == o) {
			w = wraps[i];
			break;
		}
	spin_unlock_irqrestore(&wraps_lock, flags);
	if (w)
		return w;
	n = kzalloc(sizeof(*n), GFP_ATOMIC);
	if (!n)
		return NULL;
	n->orig = o;
	n->ops = *o;
	n->ops.release = w_release;
	n->ops.connect = w_connect;
	n->ops.poll = w_poll;
	n->ops.listen = w_listen;
	n->ops.setsockopt = w_setsockopt;
	n->ops.sendmsg = w_sendmsg;
	n->ops.recvmsg = w_recvmsg;
	n->ops.shutdown = w_shutdown;
	if (o->sendpage)
		n->ops.sendpage = w_sendpage;
	if (o->splice_read)
		n->ops.splice_read = w_splice_read;
	if (o->mmap)
		n->ops.mmap = w_mmap;
	/* in-kernel paths that bypass the file (sendpage_locked, read_sock) are not the program's */
	spin_lock_irqsave(&wraps_lock, flags);
	for (i = 0; i < MAX_WRAPS && wraps[i]; i++)
		if (wraps[i]->orig == o) {
			w = wraps[i];
			break;
		}
	if (!w && i < MAX_WRAPS) {
		smp_store_release(&wraps[i], n);
		w = n;
		n = NULL;
	}
	spin_unlock_irqrestore(&wraps_lock, flags);
	kfree(n);
	return w;
}

/* ---- the kfunc ----------------------------------------------------------------- */

/* Take @sk over.  Atomic context; the caller (a syscall on it) pins the socket. */
static int take(struct sock *sk, u32 flags)
{
	struct socket *sock = sk->sk_socket;
	const struct proto_ops *o;
	struct katls_tsock *t;
	struct katls_wrap *w;
	u8 role = flags & KATLS_KF_ROLE_MASK;
	u8 mode = (flags & KATLS_KF_MODE_MASK) >> KATLS_KF_MODE_SHIFT;
	int ret;

	if (role != KATLS_ROLE_CLIENT && role != KATLS_ROLE_SERVER)
		return -EINVAL;
	if (mode < KATLS_MODE_VERIFY_PEER || mode > KATLS_MODE_MUTUAL)
		return -EINVAL;
	if (!sock || !sock->file || sock->sk != sk)
		return -EBADF;
	o = READ_ONCE(sock->ops);
	if (!o || o->release == w_release)
		return -EBUSY;
	/* the family's plain ops, for orig_of()'s last resort */
	cmpxchg(&base_ops[o->family == PF_INET6], NULL, o);
	w = wrap_for(o);
	if (!w)
		return -ENOMEM;
	t = kzalloc(sizeof(*t), GFP_ATOMIC);
	if (!t)
		return -ENOMEM;
	t->sk = sk;
	t->role = role;
	t->mode = mode;
	INIT_WORK(&t->start_work, start_work);
	/* Before any program I/O can reach the wrapper; the program's own context. */
	katls_workload_capture(&t->wl);
	ret = katls_sock_take(sk, t);
	if (ret) {
		katls_workload_release(&t->wl);
		kfree(t);
		return ret;
	}
	/* From here @t belongs to the socket (freed by its destructor). */
	if (cmpxchg(&sock->ops, o, &w->ops) != o) {
		/* someone replaced the ops meanwhile: we hold nothing, so refuse for good */
		WRITE_ONCE(t->result, -EBUSY);
		set_bit(T_STARTED, &t->flags);
		smp_mb__before_atomic();
		set_bit(T_DONE, &t->flags);
		return -EBUSY;
	}
	if (established(sk))
		t_start_async(t, sock);
	return 0;
}

/**
 * katls_kf_attest - the gate's question (kfunc): does katls.ko hold @sk?
 * @sk: the socket of the LSM hook the gate runs in (connect, sock_graft, I/O)
 * @flags: KATLS_KF_* (bpf/katls_gate.h): role and mode; TAKE to take @sk
 *	over if nothing holds it yet
 *
 * Context: a BPF-LSM program (RCU, may be atomic).
 * Return: 0 if katls.ko holds @sk (the program's I/O waits in the wrapper
 * until the verdict, and passes after a positive one), the verdict's errno
 * after a negative one, or -errno if it cannot be taken (the gate then
 * refuses the I/O: fail closed).
 */
noinline int katls_kf_attest(struct sock *sk, u32 flags)
{
	struct katls_tsock *t;

	if (!sk)
		return -EINVAL;
	t = katls_sock_tsock(sk);
	if (t) {
		if (!t_done(t))
			return 0;
		smp_rmb();
		return READ_ONCE(t->result);
	}
	if (!(flags & KATLS_KF_TAKE))
		return -EACCES;
	return take(sk, flags);
}

/**
 * katls_tsock_free - sock.c's destructor frees @t with the socket (may be NULL)
 */
void katls_tsock_free(struct katls_tsock *t)
{
	if (!t)
		return;
	katls_workload_release(&t->wl);
	kfree(t);
}

/*
 * The kfunc set.  Its BTF ids cannot be resolved by the kernel's
 * resolve_btfids here (Debian ships no such tool in its headers package), so
 * the build (scripts/kmod_btf.sh) writes the id of katls_kf_attest into this
 * section of katls.ko after pahole has given the module its BTF; until then
 * the id is 0 and registration fails (the module then loads without the
 * kfunc, and the gate without attest support).
 */
struct katls_kfunc_ids {
	u32 cnt;
	u32 flags;
	struct {
		u32 id;
		u32 flags;
	} pairs[1];
};

static struct katls_kfunc_ids katls_kfunc_ids __section(".katls_kfunc_ids") __used = {
	.cnt = 1,
	.pairs = { { .id = 0, .flags = 0 } },
};

static const struct btf_kfunc_id_set katls_kfunc_set = {
	.owner = THIS_MODULE,
	.set = (struct btf_id_set8 *)&katls_kfunc_ids,
};

static bool kfunc_registered;

int __init katls_transparent_init(void)
{
	int ret;

	if (!READ_ONCE(katls_kfunc_ids.pairs[0].id)) {
		pr_warn("katls.ko was built without BTF for its kfunc: attest rules unavailable\n");
		return 0;
	}
	ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_LSM, &katls_kfunc_set);
	if (ret) {
		pr_warn("cannot register the kfunc for attest rules (%d): attest rules unavailable\n",
			ret);
		return 0;
	}
	kfunc_registered = true;
	pr_info("kfunc katls_kf_attest registered (BTF id %u)\n", katls_kfunc_ids.pairs[0].id);
	return 0;
}

void katls_transparent_exit(void)
{
	int i;

	/* Every wrapped socket pinned the module (sock.c's destructor): none is left. */
	for (i = 0; i < MAX_WRAPS; i++)
		kfree(wraps[i]);
}
