// SPDX-License-Identifier: GPL-2.0
/*
 * Attestation requests: the upcall from KATLS_SO_ATTEST to the helper daemon
 * and back (DESIGN.md §3.1), and the per-socket status that outlives them.
 *
 * Lifetimes.
 *
 * A request lives exactly as long as the setsockopt() call that made it: the
 * caller allocates it, queues it, sleeps, and frees it.  While it is queued or
 * accepted it sits in req_idr, and every other context (REQUEST_ACCEPT,
 * REQUEST_DONE, the netlink release notifier) touches it only under req_lock
 * and only while it is in req_idr.  Whoever completes it (DONE, daemon exit)
 * removes it from req_idr under req_lock before complete(); a waiter that
 * wakes by timeout or signal removes it itself.  So after the waiter has taken
 * req_lock once more, nobody else can reach the request and it is freed
 * without a refcount.  The request holds a reference on the socket's file
 * until then.  The module cannot go away meanwhile: the waiter sits in an
 * nf_sockopt handler, which holds a module reference (nf_sockopt_ops.owner).
 *
 * A socket that asked for attestation gets a struct katls_sock: its state,
 * verdict, peer digest and expiry for KATLS_SO_STATUS.  It is found through a
 * hash keyed by the struct sock and freed from the socket's destructor, which
 * we chain the way net/handshake does (sk_destruct).  Because a destructor
 * pointer into this module outlives the setsockopt() call, each katls_sock
 * pins the module until the socket is destroyed.  Status fields are written
 * under socks_lock; the destructor can run in softirq context, hence _bh.
 *
 * The daemon registers with DAEMON_REGISTER; NETLINK_URELEASE of its netlink
 * socket unregisters it and fails every open request (-ECONNABORTED), and the
 * release of any other socket that accepted requests fails those.
 */
#include <linux/errno.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/idr.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <net/genetlink.h>
#include <net/inet_connection_sock.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "genl.h"
#include "ktls.h"
#include "request.h"
#include "workload.h"

enum req_state {
	REQ_QUEUED,
	REQ_ACCEPTED,
	REQ_DONE,
};

/* Per-socket status: kept until the socket is destroyed. */
struct katls_sock {
	struct hlist_node node;
	struct sock *sk;
	void (*odestruct)(struct sock *sk);
	u64 expiry;
	s32 result;
	u32 reason;
	u8 state;			/* enum katls_sock_state */
	u8 peer_digest[KATLS_SHA256_LEN];
};

struct katls_request {
	struct list_head queue;		/* on req_queue while REQ_QUEUED */
	struct completion done;
	struct file *file;		/* the application's socket */
	struct sock *sk;		/* pinned by file */
	struct net *acceptor_net;
	u32 acceptor_portid;
	u32 id;
	enum req_state state;
	s32 result;
	u32 reason;
	u64 expiry;
	u8 peer_digest[KATLS_SHA256_LEN];
	struct katls_workload wl;
	struct katls_attest_req params;
};

static DEFINE_MUTEX(req_lock);
static DEFINE_IDR(req_idr);
static LIST_HEAD(req_queue);
static u32 nr_queued, nr_accepted;
static struct {
	struct net *net;		/* no reference: valid while registered */
	u32 portid;
	bool registered;
} daemon;

#define SOCKS_BITS 10
static DEFINE_SPINLOCK(socks_lock);
static DEFINE_HASHTABLE(socks, SOCKS_BITS);
static u32 nr_socks;

/* ---- per-socket status --------------------------------------------------- */

static struct katls_sock *lookup_sock(const struct sock *sk)
{
	struct katls_sock *ks;

	lockdep_assert_held(&socks_lock);
	hash_for_each_possible(socks, ks, node, (unsigned long)sk)
		if (ks->sk == sk)
			return ks;
	return NULL;
}

static void katls_sk_destruct(struct sock *sk)
{
	void (*odestruct)(struct sock *sk) = NULL;
	struct katls_sock *ks;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (ks) {
		hash_del(&ks->node);
		nr_socks--;
	}
	spin_unlock_bh(&socks_lock);
	/* Only this module installs katls_sk_destruct, always with a katls_sock. */
	if (WARN_ON_ONCE(!ks))
		return;
	odestruct = ks->odestruct;
	kfree(ks);
	if (odestruct)
		odestruct(sk);
	/* Last: the reference taken when the destructor was chained. */
	module_put(THIS_MODULE);
}

/*
 * Validates the socket and attaches a PENDING katls_sock to it.  Under the
 * socket lock, so TCP state, ULP and destructor cannot change meanwhile.  The
 * socket checks come first so that their errors are precise with or without
 * a daemon.
 */
static int attach_sock(struct sock *sk)
{
	struct katls_sock *ks, *old;
	int ret = 0;

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
	if (inet_csk(sk)->icsk_ulp_ops) {
		ret = -EBUSY;
		goto out_release;
	}
	/* Fail fast, changing nothing, when nobody could serve the request. */
	if (!READ_ONCE(daemon.registered)) {
		ret = -ECONNREFUSED;
		goto out_release;
	}
	ks->sk = sk;
	ks->state = KATLS_STATE_PENDING;
	ks->odestruct = sk->sk_destruct;
	/* We run in an nf_sockopt handler, which holds a module reference. */
	__module_get(THIS_MODULE);
	spin_lock_bh(&socks_lock);
	hash_add(socks, &ks->node, (unsigned long)sk);
	nr_socks++;
	spin_unlock_bh(&socks_lock);
	sk->sk_destruct = katls_sk_destruct;
	ks = NULL;
out_release:
	release_sock(sk);
	kfree(ks);
	return ret;
}

/* Records the outcome; @req may be NULL when the request never existed. */
static void finish_sock(struct sock *sk, const struct katls_request *req, int result)
{
	struct katls_sock *ks;

	spin_lock_bh(&socks_lock);
	ks = lookup_sock(sk);
	if (!WARN_ON_ONCE(!ks)) {
		ks->state = result ? KATLS_STATE_FAILED : KATLS_STATE_ATTESTED;
		ks->result = result;
		if (req) {
			ks->reason = req->reason;
			ks->expiry = result ? 0 : req->expiry;
			memcpy(ks->peer_digest, req->peer_digest, KATLS_SHA256_LEN);
		}
	}
	spin_unlock_bh(&socks_lock);
}

/**
 * katls_request_status - fill @st with @sk's attestation status
 * @sk: any socket; state NONE if it never asked for attestation
 * @st: out, zeroed first
 */
void katls_request_status(struct sock *sk, struct katls_status *st)
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

/* ---- the request --------------------------------------------------------- */

/* Takes @req out of every index and completes it.  Under req_lock. */
static void complete_request(struct katls_request *req, int result)
{
	lockdep_assert_held(&req_lock);
	if (req->state == REQ_QUEUED) {
		list_del(&req->queue);
		nr_queued--;
	} else if (req->state == REQ_ACCEPTED) {
		nr_accepted--;
	}
	idr_remove(&req_idr, req->id);
	req->state = REQ_DONE;
	req->result = result;
	complete(&req->done);
}

static struct katls_request *new_request(struct sock *sk, const struct katls_attest_req *ar)
{
	struct katls_request *req;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return NULL;
	INIT_LIST_HEAD(&req->queue);
	init_completion(&req->done);
	req->params = *ar;
	if (!req->params.timeout_ms)
		req->params.timeout_ms = KATLS_TIMEOUT_DEFAULT_MS;
	req->file = get_file(sk->sk_socket->file);
	req->sk = sk;
	katls_workload_capture(&req->wl);
	return req;
}

static void free_request(struct katls_request *req)
{
	katls_workload_release(&req->wl);
	fput(req->file);
	kfree(req);
}

/* Queues @req for the daemon and announces it.  Return: 0 or -errno. */
static int queue_request(struct katls_request *req)
{
	int id;

	mutex_lock(&req_lock);
	if (!daemon.registered) {
		mutex_unlock(&req_lock);
		return -ECONNREFUSED;
	}
	id = idr_alloc_cyclic(&req_idr, req, 1, INT_MAX, GFP_KERNEL);
	if (id < 0) {
		mutex_unlock(&req_lock);
		return id;
	}
	req->id = id;
	req->state = REQ_QUEUED;
	list_add_tail(&req->queue, &req_queue);
	nr_queued++;
	/* Under req_lock: the daemon, hence its netns, cannot go away. */
	katls_genl_request_ready(daemon.net, req->id, req->params.role, req->params.mode);
	mutex_unlock(&req_lock);
	return 0;
}

/* Sleeps until @req completes, times out or is interrupted.  Return: result. */
static int wait_request(struct katls_request *req)
{
	long left;
	int ret;

	left = wait_for_completion_interruptible_timeout(&req->done,
			msecs_to_jiffies(req->params.timeout_ms));
	mutex_lock(&req_lock);
	/* Never restart: the request is cancelled and the socket shut down. */
	if (req->state != REQ_DONE)
		complete_request(req, left == 0 ? -ETIMEDOUT : -EINTR);
	ret = req->result;
	mutex_unlock(&req_lock);
	return ret;
}

/**
 * katls_request_attest - KATLS_SO_ATTEST: attest @sk through the daemon
 * @sk: the caller's socket (pinned by the setsockopt call)
 * @ar: a validated request
 *
 * Context: process context of the application; sleeps interruptibly.
 * Return: 0 when the socket is attested and carries kTLS, else -errno as
 * include/uapi/linux/katls.h documents.  On failure after the socket was
 * accepted for attestation it is shut down.
 */
int katls_request_attest(struct sock *sk, const struct katls_attest_req *ar)
{
	struct katls_request *req;
	int ret;

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	if (!sk->sk_socket || !sk->sk_socket->file)
		return -EBADF;
	ret = attach_sock(sk);
	if (ret)
		return ret;

	req = new_request(sk, ar);
	if (!req) {
		ret = -ENOMEM;
		goto out_fail;
	}
	ret = queue_request(req);
	if (!ret)
		ret = wait_request(req);
	finish_sock(sk, req, ret);
	free_request(req);
	if (!ret)
		return 0;
	goto out_shutdown;

out_fail:
	finish_sock(sk, NULL, ret);
out_shutdown:
	kernel_sock_shutdown(sk->sk_socket, SHUT_RDWR);
	return ret;
}

/* ---- daemon side --------------------------------------------------------- */

/**
 * katls_request_register - DAEMON_REGISTER from netlink socket @portid
 * Return: 0, or -EBUSY if another socket is registered.
 */
int katls_request_register(struct net *net, u32 portid, struct netlink_ext_ack *extack)
{
	int ret = 0;

	mutex_lock(&req_lock);
	if (daemon.registered && (daemon.net != net || daemon.portid != portid)) {
		NL_SET_ERR_MSG(extack, "another katls daemon is registered");
		ret = -EBUSY;
	} else {
		daemon.net = net;
		daemon.portid = portid;
		WRITE_ONCE(daemon.registered, true);
	}
	mutex_unlock(&req_lock);
	return ret;
}

static int put_params(struct sk_buff *msg, const struct katls_request *req)
{
	const struct katls_attest_req *p = &req->params;

	if (nla_put_u32(msg, KATLS_A_REQ_ID, req->id) ||
	    nla_put_u8(msg, KATLS_A_REQ_ROLE, p->role) ||
	    nla_put_u8(msg, KATLS_A_REQ_MODE, p->mode) ||
	    nla_put_u32(msg, KATLS_A_REQ_TIMEOUT_MS, p->timeout_ms) ||
	    nla_put_string(msg, KATLS_A_REQ_POLICY, p->policy) ||
	    nla_put_string(msg, KATLS_A_REQ_SERVER_NAME, p->server_name))
		return -EMSGSIZE;
	return 0;
}

/* Picks the request to accept and marks it accepted.  Under req_lock. */
static struct katls_request *take_request(u32 id, struct net *net, u32 portid,
					  struct netlink_ext_ack *extack, int *err)
{
	struct katls_request *req;

	if (id)
		req = idr_find(&req_idr, id);
	else
		req = list_first_entry_or_null(&req_queue, struct katls_request, queue);
	if (!req) {
		if (id)
			NL_SET_ERR_MSG(extack, "no request with this id");
		else
			NL_SET_ERR_MSG(extack, "no queued request");
		*err = -ENOENT;
		return NULL;
	}
	if (req->state != REQ_QUEUED) {
		NL_SET_ERR_MSG(extack, "request already accepted");
		*err = -EALREADY;
		return NULL;
	}
	list_del_init(&req->queue);
	nr_queued--;
	nr_accepted++;
	req->state = REQ_ACCEPTED;
	req->acceptor_net = net;
	req->acceptor_portid = portid;
	return req;
}

/**
 * katls_request_accept - REQUEST_ACCEPT: hand a request to the caller
 * @msg: reply, after the genl header; gets the request's attributes
 * @net: caller's netns
 * @portid: caller's netlink port
 * @id: request id, 0 for the oldest queued one
 * @out_fd: the fd installed for the socket in the caller
 * @extack: why it failed
 *
 * The fd is installed last, when nothing can fail any more.  If building the
 * reply fails, the request fails (fail closed) rather than going back to the
 * queue.
 *
 * Context: the caller's process context (genl doit).
 * Return: 0 or -errno.
 */
int katls_request_accept(struct sk_buff *msg, struct net *net, u32 portid, u32 id,
			 int *out_fd, struct netlink_ext_ack *extack)
{
	struct katls_workload wl = {};
	struct katls_request *req;
	struct file *file;
	int fd, ret;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		NL_SET_ERR_MSG(extack, "cannot allocate an fd for the socket");
		return fd;
	}
	mutex_lock(&req_lock);
	req = take_request(id, net, portid, extack, &ret);
	if (!req)
		goto out_unlock;
	id = req->id;
	ret = put_params(msg, req);
	/* References for what is done outside req_lock (hashing may be slow). */
	file = get_file(req->file);
	katls_workload_copy(&wl, &req->wl);
	mutex_unlock(&req_lock);

	if (!ret)
		ret = katls_workload_put(msg, &wl);
	if (!ret && nla_put_s32(msg, KATLS_A_REQ_FD, fd))
		ret = -EMSGSIZE;
	katls_workload_release(&wl);
	if (ret)
		goto out_fail;
	fd_install(fd, file);
	*out_fd = fd;
	return 0;

out_fail:
	fput(file);
	NL_SET_ERR_MSG(extack, "reply too large; request failed");
	mutex_lock(&req_lock);
	req = idr_find(&req_idr, id);
	if (req && req->state == REQ_ACCEPTED)
		complete_request(req, ret);
out_unlock:
	mutex_unlock(&req_lock);
	put_unused_fd(fd);
	return ret;
}

/**
 * katls_request_done - REQUEST_DONE: complete request @id with @status
 * @id: request id
 * @status: 0 or one of the -errno values the uapi header allows
 * @reason: katls reason code
 * @peer_digest: KATLS_SHA256_LEN bytes or NULL
 * @expiry: seconds since the epoch, 0 for none
 * @extack: why it failed
 *
 * Success is reported only if the socket carries kTLS both ways; otherwise the
 * request fails with -EPROTO, and so does this call.
 *
 * Return: 0, -ENOENT, -EINVAL or -EPROTO.
 */
int katls_request_done(u32 id, s32 status, u32 reason, const u8 *peer_digest,
		       u64 expiry, struct netlink_ext_ack *extack)
{
	struct katls_request *req;
	int ret = 0;

	mutex_lock(&req_lock);
	req = idr_find(&req_idr, id);
	if (!req) {
		NL_SET_ERR_MSG(extack, "no request with this id (completed or cancelled)");
		ret = -ENOENT;
		goto out_unlock;
	}
	if (req->state != REQ_ACCEPTED) {
		NL_SET_ERR_MSG(extack, "request not accepted yet");
		ret = -EINVAL;
		goto out_unlock;
	}
	if (!status && !katls_ktls_active(req->sk)) {
		NL_SET_ERR_MSG(extack, "socket does not carry kTLS in both directions; request failed");
		status = -EPROTO;
		ret = -EPROTO;
	}
	req->reason = reason;
	req->expiry = expiry;
	if (peer_digest)
		memcpy(req->peer_digest, peer_digest, KATLS_SHA256_LEN);
	complete_request(req, status);
out_unlock:
	mutex_unlock(&req_lock);
	return ret;
}

/* Fails requests owned by a netlink socket that is going away. */
static void release_portid(struct net *net, u32 portid)
{
	struct katls_request *req;
	bool is_daemon;
	int id;

	mutex_lock(&req_lock);
	is_daemon = daemon.registered && daemon.net == net && daemon.portid == portid;
	if (is_daemon)
		WRITE_ONCE(daemon.registered, false);
	idr_for_each_entry(&req_idr, req, id) {
		if (is_daemon ||
		    (req->state == REQ_ACCEPTED && req->acceptor_net == net &&
		     req->acceptor_portid == portid))
			complete_request(req, -ECONNABORTED);
	}
	mutex_unlock(&req_lock);
}

static int netlink_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event == NETLINK_URELEASE && n->protocol == NETLINK_GENERIC)
		release_portid(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block netlink_nb = {
	.notifier_call = netlink_event,
};

/**
 * katls_request_stats - request and socket counters for STATE_GET
 */
void katls_request_stats(struct katls_request_stats *st)
{
	mutex_lock(&req_lock);
	st->queued = nr_queued;
	st->accepted = nr_accepted;
	st->daemon = daemon.registered;
	mutex_unlock(&req_lock);
	spin_lock_bh(&socks_lock);
	st->socks = nr_socks;
	spin_unlock_bh(&socks_lock);
}

int __init katls_request_init(void)
{
	pr_info("per-socket state %zu bytes (slab %zu), per-request %zu bytes (slab %zu)\n",
		sizeof(struct katls_sock), kmalloc_size_roundup(sizeof(struct katls_sock)),
		sizeof(struct katls_request), kmalloc_size_roundup(sizeof(struct katls_request)));
	return netlink_register_notifier(&netlink_nb);
}

void katls_request_exit(void)
{
	netlink_unregister_notifier(&netlink_nb);
	/*
	 * No request can exist (each waiter pins the module) and no katls_sock
	 * either (each pins the module until its socket is destroyed).
	 */
	WARN_ON_ONCE(!idr_is_empty(&req_idr) || nr_socks);
	idr_destroy(&req_idr);
}
