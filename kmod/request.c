// SPDX-License-Identifier: GPL-2.0
/*
 * Attestation requests: the upcall from KATLS_SO_ATTEST to the helper daemon
 * and back (DESIGN.md §3.1), who the daemon is, and how much an application
 * may ask of it.  The per-socket status that outlives a request is sock.c's.
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
 * The daemon is one netlink socket, not a capability.  DAEMON_REGISTER needs
 * CAP_SYS_ADMIN besides the op's CAP_NET_ADMIN (both in the initial user
 * namespace, of the sender and of the socket's opener: netlink_capable()),
 * a network namespace owned by the initial user namespace, and, when the
 * operator pinned one with the daemon_exe parameter, that executable.  The
 * registered socket is held (sock_hold) and compared by address: only it may
 * REQUEST_ACCEPT, and only the socket that accepted a request may
 * REQUEST_DONE it, so a CAP_NET_ADMIN task (a CNI plugin, a network manager)
 * can neither take requests, nor forge a verdict, nor register while katlsd
 * restarts.  NETLINK_URELEASE of that socket (checked: the held socket is
 * SOCK_DEAD, so a new socket reusing the portid cannot be mistaken for it)
 * unregisters the daemon and fails every open request (-ECONNABORTED).
 *
 * Limits (module parameters, read at each request): at most max_requests
 * open (queued or accepted) requests in all (-ENOBUFS beyond), at most
 * max_requests_per_uid per requesting real uid and max_requests_per_cgroup
 * per requesting cgroup (v2) unless the requester has CAP_SYS_RESOURCE
 * (-EAGAIN beyond: a container cannot exhaust the daemon by spreading its
 * requests over many uids), and no request waits longer than
 * max_timeout_ms (a longer timeout_ms is clamped; the daemon sees the clamped
 * value).  A refused request leaves the socket as it was.
 */
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "genl.h"
#include "ktls.h"
#include "request.h"
#include "sock.h"
#include "workload.h"

static const struct kernel_param_ops max_timeout_ops;

static unsigned int max_requests = 1024;
module_param(max_requests, uint, 0644);
MODULE_PARM_DESC(max_requests,
		 "Open attestation requests (queued or accepted), all users; more: ENOBUFS");
static unsigned int max_requests_per_uid = 64;
module_param(max_requests_per_uid, uint, 0644);
MODULE_PARM_DESC(max_requests_per_uid,
		 "Open attestation requests per uid, unless CAP_SYS_RESOURCE; more: EAGAIN");
static unsigned int max_requests_per_cgroup = 256;
module_param(max_requests_per_cgroup, uint, 0644);
MODULE_PARM_DESC(max_requests_per_cgroup,
		 "Open attestation requests per cgroup (v2), unless CAP_SYS_RESOURCE; more: EAGAIN");
static unsigned int max_timeout_ms = 60000;
module_param_cb(max_timeout_ms, &max_timeout_ops, &max_timeout_ms, 0644);
MODULE_PARM_DESC(max_timeout_ms,
		 "Longest wait for a verdict, 1000.." __stringify(KATLS_TIMEOUT_MAX_MS)
		 " ms; longer timeout_ms values are clamped");
static char daemon_exe[256];
module_param_string(daemon_exe, daemon_exe, sizeof(daemon_exe), 0600);
MODULE_PARM_DESC(daemon_exe,
		 "If set, only this executable may register as the daemon (e.g. /usr/sbin/katlsd)");

static int set_max_timeout(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1000, KATLS_TIMEOUT_MAX_MS);
}

static const struct kernel_param_ops max_timeout_ops = {
	.set	= set_max_timeout,
	.get	= param_get_uint,
};

enum req_state {
	REQ_QUEUED,
	REQ_ACCEPTED,
	REQ_DONE,
};

struct katls_request {
	struct list_head queue;		/* on req_queue while REQ_QUEUED */
	struct completion done;
	struct file *file;		/* the application's socket */
	struct sock *sk;		/* pinned by file */
	const struct sock *acceptor;	/* netlink socket; compared, never used */
	u32 id;
	enum req_state state;
	s32 result;
	u32 reason;
	u64 expiry;
	bool exempt;			/* CAP_SYS_RESOURCE: no per-uid/cgroup limit */
	u8 peer_digest[KATLS_SHA256_LEN];
	struct katls_workload wl;
	struct katls_attest_req params;
	/* Asynchronous (transparent) requests: nobody waits in a syscall. */
	katls_request_done_fn async_done;
	void *async_ctx;
	struct work_struct done_work;	/* runs async_done, then frees */
	struct delayed_work timeout_work;
};

static DEFINE_MUTEX(req_lock);
static DEFINE_IDR(req_idr);
static LIST_HEAD(req_queue);
static u32 nr_queued, nr_accepted;
static u64 nr_limited;			/* requests refused by a limit */
static struct workqueue_struct *katls_wq;
static struct {
	struct pid *tgid;		/* the registering process; held while registered */
	struct sock *nlsk;		/* held while registered */
	struct net *net;		/* nlsk's, alive as long as nlsk */
	u32 portid;
	bool registered;
} daemon;

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
	if (req->async_done)
		queue_work(katls_wq, &req->done_work);
	else
		complete(&req->done);
}

static struct katls_request *new_request(struct sock *sk, const struct katls_attest_req *ar,
					 struct katls_workload *wl)
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
	req->params.timeout_ms = min(req->params.timeout_ms, READ_ONCE(max_timeout_ms));
	req->file = get_file(sk->sk_socket->file);
	req->sk = sk;
	if (wl) {
		/* The operator's rule asked, not the program: no per-uid limit. */
		req->exempt = true;
		req->wl = *wl;
		memset(wl, 0, sizeof(*wl));
	} else {
		req->exempt = ns_capable_noaudit(&init_user_ns, CAP_SYS_RESOURCE);
		katls_workload_capture(&req->wl);
	}
	return req;
}

static void free_request(struct katls_request *req)
{
	katls_workload_release(&req->wl);
	fput(req->file);
	kfree(req);
}

/* Room for @req under the limits?  Under req_lock.  Return: 0 or -errno. */
static int check_limits(const struct katls_request *req)
{
	unsigned int max_uid = READ_ONCE(max_requests_per_uid), mine = 0;
	unsigned int max_cg = READ_ONCE(max_requests_per_cgroup), cg = 0;
	struct katls_request *r;
	int id;

	lockdep_assert_held(&req_lock);
	if (nr_queued + nr_accepted >= READ_ONCE(max_requests)) {
		nr_limited++;
		pr_notice_ratelimited("%u open requests (max_requests): refused with ENOBUFS\n",
				      nr_queued + nr_accepted);
		return -ENOBUFS;
	}
	if (req->exempt)
		return 0;
	idr_for_each_entry(&req_idr, r, id) {
		mine += uid_eq(r->wl.uid, req->wl.uid);
		cg += r->wl.cgroup_id == req->wl.cgroup_id;
	}
	if (mine >= max_uid) {
		nr_limited++;
		pr_notice_ratelimited("uid %u has %u open requests (max_requests_per_uid): refused with EAGAIN\n",
				      from_kuid(&init_user_ns, req->wl.uid), mine);
		return -EAGAIN;
	}
	if (cg >= max_cg) {
		nr_limited++;
		pr_notice_ratelimited("cgroup %llu has %u open requests (max_requests_per_cgroup): refused with EAGAIN\n",
				      req->wl.cgroup_id, cg);
		return -EAGAIN;
	}
	return 0;
}

/* Queues @req for the daemon and announces it.  Under req_lock.  Return: 0 or -errno. */
static int queue_request_locked(struct katls_request *req)
{
	int id, ret;

	lockdep_assert_held(&req_lock);
	ret = daemon.registered ? check_limits(req) : -ECONNREFUSED;
	if (ret)
		return ret;
	id = idr_alloc_cyclic(&req_idr, req, 1, INT_MAX, GFP_KERNEL);
	if (id < 0)
		return id;
	req->id = id;
	req->state = REQ_QUEUED;
	list_add_tail(&req->queue, &req_queue);
	nr_queued++;
	/* Under req_lock: the daemon, hence its netns, cannot go away. */
	katls_genl_request_ready(daemon.net, req->id, req->params.role, req->params.mode);
	return 0;
}

static int queue_request(struct katls_request *req)
{
	int ret;

	mutex_lock(&req_lock);
	ret = queue_request_locked(req);
	mutex_unlock(&req_lock);
	return ret;
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
 * include/uapi/linux/katls.h documents.  Errors before the request is queued
 * (socket state, no daemon, limits) leave the socket as it was; after it was
 * queued, a failure shuts the socket down (sock.c).
 */
int katls_request_attest(struct sock *sk, const struct katls_attest_req *ar)
{
	struct katls_request *req;
	int ret;

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	if (!sk->sk_socket || !sk->sk_socket->file)
		return -EBADF;
	ret = katls_sock_attach(sk);
	if (ret)
		return ret;
	req = new_request(sk, ar, NULL);
	if (!req) {
		katls_sock_detach(sk);
		return -ENOMEM;
	}
	ret = queue_request(req);
	if (ret) {
		free_request(req);
		katls_sock_detach(sk);
		return ret;
	}
	ret = wait_request(req);
	ret = katls_sock_finish(sk, ret, req->reason, req->expiry, req->peer_digest);
	free_request(req);
	return ret;
}

static void async_done_work(struct work_struct *work)
{
	struct katls_request *req = container_of(work, struct katls_request, done_work);

	/* A timeout running now finds the request DONE and leaves it. */
	cancel_delayed_work_sync(&req->timeout_work);
	req->async_done(req->async_ctx, req->result, req->reason, req->expiry,
			req->peer_digest);
	free_request(req);
}

static void async_timeout_work(struct work_struct *work)
{
	struct katls_request *req = container_of(to_delayed_work(work), struct katls_request,
						 timeout_work);

	mutex_lock(&req_lock);
	if (req->state != REQ_DONE)
		complete_request(req, -ETIMEDOUT);
	mutex_unlock(&req_lock);
}

/**
 * katls_request_start - queue an asynchronous (transparent) request for @sk
 * @sk: an established TCP socket whose file its caller pins
 * @ar: validated parameters
 * @wl: the workload identity, captured where the program met the gate; its
 *	references move into the request (zeroed here) on success
 * @fn: called once, from the module's workqueue, with the outcome; the
 *	request holds a reference on @sk's file until @fn has returned
 * @ctx: for @fn
 *
 * Context: process context, may sleep.
 * Return: 0 (@fn will be called), or -errno (@fn will not be called).
 */
int katls_request_start(struct sock *sk, const struct katls_attest_req *ar,
			struct katls_workload *wl, katls_request_done_fn fn, void *ctx)
{
	struct katls_request *req;
	int ret;

	if (!sk->sk_socket || !sk->sk_socket->file)
		return -EBADF;
	req = new_request(sk, ar, wl);
	if (!req)
		return -ENOMEM;
	req->async_done = fn;
	req->async_ctx = ctx;
	INIT_WORK(&req->done_work, async_done_work);
	INIT_DELAYED_WORK(&req->timeout_work, async_timeout_work);
	mutex_lock(&req_lock);
	/* Queued and armed under req_lock: DONE cannot run before the timer exists. */
	ret = queue_request_locked(req);
	if (!ret)
		queue_delayed_work(katls_wq, &req->timeout_work,
				   msecs_to_jiffies(req->params.timeout_ms));
	mutex_unlock(&req_lock);
	if (ret) {
		/* give the identity back: the caller still owns it */
		*wl = req->wl;
		memset(&req->wl, 0, sizeof(req->wl));
		free_request(req);
	}
	return ret;
}

/**
 * katls_request_daemon_current - is current a thread of the registered daemon?
 *
 * Compares struct pid pointers only: lockless, for transparent.c's hot path.
 */
bool katls_request_daemon_current(void)
{
	struct pid *p = READ_ONCE(daemon.tgid);

	return p && p == task_tgid(current);
}

/* ---- daemon side --------------------------------------------------------- */

/* Is @nlsk the registered daemon's socket?  Under req_lock. */
static bool is_daemon(const struct sock *nlsk)
{
	lockdep_assert_held(&req_lock);
	return daemon.registered && daemon.nlsk == nlsk;
}

/* The daemon_exe pin, if the operator set one.  Return: 0 or -EPERM. */
static int check_exe(struct netlink_ext_ack *extack)
{
	char *pin, *path;
	int ret = 0;

	kernel_param_lock(THIS_MODULE);
	pin = kstrdup(daemon_exe, GFP_KERNEL);
	kernel_param_unlock(THIS_MODULE);
	if (!pin)
		return -ENOMEM;
	/* "echo > daemon_exe" (a lone newline) unpins. */
	path = strim(pin);
	if (*path)
		ret = katls_workload_exe_is(path);
	kfree(pin);
	if (ret) {
		NL_SET_ERR_MSG(extack, "not the executable the daemon_exe parameter pins");
		return -EPERM;
	}
	return 0;
}

/**
 * katls_request_register - DAEMON_REGISTER
 * @skb: the request; its sender socket becomes the daemon
 * @portid: the sender's netlink port
 * @extack: why it failed
 *
 * Return: 0 (also for the registered socket again), -EPERM (privilege,
 * namespace or daemon_exe), -EBUSY (another socket is registered).
 */
int katls_request_register(struct sk_buff *skb, u32 portid, struct netlink_ext_ack *extack)
{
	struct sock *nlsk = NETLINK_CB(skb).sk;
	int ret;

	if (!netlink_capable(skb, CAP_SYS_ADMIN)) {
		NL_SET_ERR_MSG(extack, "registering the katls daemon requires CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (sock_net(nlsk)->user_ns != &init_user_ns) {
		NL_SET_ERR_MSG(extack,
			       "the katls daemon must run in a netns of the initial user namespace");
		return -EPERM;
	}
	ret = check_exe(extack);
	if (ret)
		return ret;
	mutex_lock(&req_lock);
	if (daemon.registered && daemon.nlsk != nlsk) {
		NL_SET_ERR_MSG(extack, "another katls daemon is registered");
		ret = -EBUSY;
	} else if (!daemon.registered) {
		sock_hold(nlsk);
		WRITE_ONCE(daemon.tgid, get_pid(task_tgid(current)));
		daemon.nlsk = nlsk;
		daemon.net = sock_net(nlsk);
		daemon.portid = portid;
		WRITE_ONCE(daemon.registered, true);
	}
	mutex_unlock(&req_lock);
	return ret;
}

static int put_params(struct sk_buff *msg, const struct katls_request *req)
{
	const struct katls_attest_req *p = &req->params;

	if (req->async_done && nla_put_u8(msg, KATLS_A_REQ_TRANSPARENT, 1))
		return -EMSGSIZE;
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
static struct katls_request *take_request(u32 id, const struct sock *nlsk,
					  struct netlink_ext_ack *extack, int *err)
{
	struct katls_request *req;

	if (!is_daemon(nlsk)) {
		NL_SET_ERR_MSG(extack, "only the registered katls daemon may accept requests");
		*err = -EPERM;
		return NULL;
	}
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
	req->acceptor = nlsk;
	return req;
}

/**
 * katls_request_accept - REQUEST_ACCEPT: hand a request to the caller
 * @msg: reply, after the genl header; gets the request's attributes
 * @nlsk: the caller's netlink socket: must be the registered daemon's
 * @id: request id, 0 for the oldest queued one
 * @out_fd: the fd installed for the socket in the caller
 * @extack: why it failed
 *
 * The fd is installed last, when nothing can fail any more.  If building the
 * reply fails, the request fails (fail closed) rather than going back to the
 * queue.
 *
 * Context: the caller's process context (genl doit).
 * Return: 0 or -errno (-EPERM: not the daemon).
 */
int katls_request_accept(struct sk_buff *msg, const struct sock *nlsk, u32 id,
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
	req = take_request(id, nlsk, extack, &ret);
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
 * @nlsk: the caller's netlink socket: must be the one that accepted @id
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
 * Return: 0, -EPERM, -ENOENT, -EINVAL or -EPROTO.
 */
int katls_request_done(const struct sock *nlsk, u32 id, s32 status, u32 reason,
		       const u8 *peer_digest, u64 expiry, struct netlink_ext_ack *extack)
{
	struct katls_request *req;
	int ret = 0;

	mutex_lock(&req_lock);
	if (!is_daemon(nlsk)) {
		NL_SET_ERR_MSG(extack, "only the registered katls daemon may complete requests");
		ret = -EPERM;
		goto out_unlock;
	}
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
	if (req->acceptor != nlsk) {
		NL_SET_ERR_MSG(extack, "request accepted by another socket");
		ret = -EPERM;
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

/* The daemon's socket is going away: unregister it, fail every request. */
static void release_portid(struct net *net, u32 portid)
{
	struct katls_request *req;
	struct sock *gone = NULL;
	struct pid *tgid = NULL;
	int id;

	mutex_lock(&req_lock);
	/*
	 * netlink_release() frees the portid before it notifies; the held
	 * socket being dead tells the daemon's release from that of a new
	 * socket that reused the portid meanwhile.
	 */
	if (daemon.registered && daemon.net == net && daemon.portid == portid &&
	    sock_flag(daemon.nlsk, SOCK_DEAD)) {
		gone = daemon.nlsk;
		tgid = daemon.tgid;
		WRITE_ONCE(daemon.tgid, NULL);
		WRITE_ONCE(daemon.registered, false);
		daemon.nlsk = NULL;
		idr_for_each_entry(&req_idr, req, id)
			complete_request(req, -ECONNABORTED);
	}
	mutex_unlock(&req_lock);
	put_pid(tgid);
	if (gone)
		sock_put(gone);
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
	st->limited = nr_limited;
	st->daemon = daemon.registered;
	mutex_unlock(&req_lock);
	st->socks = katls_sock_count();
	st->socks_attested = katls_sock_count_attested();
}

int __init katls_request_init(void)
{
	int ret;

	pr_info("per-request %zu bytes (slab %zu); limits: %u requests, %u per uid, %u per cgroup, %u ms\n",
		sizeof(struct katls_request), kmalloc_size_roundup(sizeof(struct katls_request)),
		max_requests, max_requests_per_uid, max_requests_per_cgroup, max_timeout_ms);
	katls_wq = alloc_workqueue("katls", WQ_UNBOUND, 0);
	if (!katls_wq)
		return -ENOMEM;
	ret = netlink_register_notifier(&netlink_nb);
	if (ret)
		destroy_workqueue(katls_wq);
	return ret;
}

void katls_request_exit(void)
{
	netlink_unregister_notifier(&netlink_nb);
	/* A registered daemon does not pin the module: let its socket go. */
	if (daemon.registered) {
		sock_put(daemon.nlsk);
		put_pid(daemon.tgid);
		daemon.tgid = NULL;
	}
	daemon.registered = false;
	/* Transparent requests pin the module through their sockets; flush the last works. */
	destroy_workqueue(katls_wq);
	/* No request can exist: each waiter pins the module. */
	WARN_ON_ONCE(!idr_is_empty(&req_idr));
	idr_destroy(&req_idr);
}
