// SPDX-License-Identifier: GPL-2.0
/*
 * KATLS_SO_ATTEST and KATLS_SO_STATUS at SOL_IP and SOL_IPV6.
 *
 * Registered with nf_register_sockopt(): ip_setsockopt()/ipv6_setsockopt()
 * hand unknown options to netfilter's registry, also through the kTLS ULP.
 * The handlers run in the caller's context without the socket lock and may
 * sleep; the registry holds a module reference for the duration of a call,
 * which is what keeps katls.ko loaded while an application waits.  They are
 * reached for any socket of the family (UDP, raw, unconnected TCP), so
 * request.c checks protocol and state itself.
 */
#include <linux/netfilter.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include <uapi/linux/katls.h>

#include "request.h"
#include "sock.h"
#include "sockopt.h"

static bool str_terminated(const char *s, size_t size)
{
	return strnlen(s, size) < size;
}

static int validate(const struct katls_attest_req *ar)
{
	if (ar->version != KATLS_ATTEST_VERSION)
		return -EINVAL;
	if (ar->role != KATLS_ROLE_CLIENT && ar->role != KATLS_ROLE_SERVER)
		return -EINVAL;
	if (ar->mode < KATLS_MODE_VERIFY_PEER || ar->mode > KATLS_MODE_MUTUAL)
		return -EINVAL;
	if (ar->timeout_ms > KATLS_TIMEOUT_MAX_MS)
		return -EINVAL;
	if (ar->reserved0 || ar->reserved1 ||
	    memchr_inv(ar->reserved2, 0, sizeof(ar->reserved2)))
		return -EINVAL;
	if (!str_terminated(ar->policy, sizeof(ar->policy)) ||
	    !str_terminated(ar->server_name, sizeof(ar->server_name)))
		return -EINVAL;
	return 0;
}

static int katls_so_set(struct sock *sk, int optval, sockptr_t arg, unsigned int len)
{
	struct katls_attest_req *ar;
	int ret;

	if (optval != KATLS_SO_ATTEST)
		return -ENOPROTOOPT;
	if (len != sizeof(*ar))
		return -EINVAL;
	ar = kmalloc(sizeof(*ar), GFP_KERNEL);
	if (!ar)
		return -ENOMEM;
	ret = -EFAULT;
	if (copy_from_sockptr(ar, arg, sizeof(*ar)))
		goto out_free;
	ret = validate(ar);
	if (!ret)
		ret = katls_request_attest(sk, ar);
out_free:
	kfree(ar);
	return ret;
}

static int katls_so_get(struct sock *sk, int optval, void __user *user, int *len)
{
	struct katls_status st;

	if (optval != KATLS_SO_STATUS)
		return -ENOPROTOOPT;
	if (*len != sizeof(st))
		return -EINVAL;
	katls_sock_status(sk, &st);
	if (copy_to_user(user, &st, sizeof(st)))
		return -EFAULT;
	return 0;
}

static struct nf_sockopt_ops katls_sockopts[] = {
	{
		.pf		= PF_INET,
		.set_optmin	= KATLS_SO_BASE,
		.set_optmax	= KATLS_SO_MAX,
		.set		= katls_so_set,
		.get_optmin	= KATLS_SO_BASE,
		.get_optmax	= KATLS_SO_MAX,
		.get		= katls_so_get,
		.owner		= THIS_MODULE,
	},
	{
		.pf		= PF_INET6,
		.set_optmin	= KATLS_SO_BASE,
		.set_optmax	= KATLS_SO_MAX,
		.set		= katls_so_set,
		.get_optmin	= KATLS_SO_BASE,
		.get_optmax	= KATLS_SO_MAX,
		.get		= katls_so_get,
		.owner		= THIS_MODULE,
	},
};

int __init katls_sockopt_init(void)
{
	int ret;

	ret = nf_register_sockopt(&katls_sockopts[0]);
	if (ret)
		return ret;
	ret = nf_register_sockopt(&katls_sockopts[1]);
	if (ret)
		nf_unregister_sockopt(&katls_sockopts[0]);
	return ret;
}

void katls_sockopt_exit(void)
{
	nf_unregister_sockopt(&katls_sockopts[1]);
	nf_unregister_sockopt(&katls_sockopts[0]);
}
