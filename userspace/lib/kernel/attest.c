// SPDX-License-Identifier: MIT
/* katls_attest() for applications (see attest.h). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "kernel/attest.h"

static int sol_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return SOL_IP;
	if (ss.ss_family == AF_INET6)
		return SOL_IPV6;
	return -EAFNOSUPPORT;
}

int katls_attest(int fd, const struct katls_attest_opts *o)
{
	struct katls_attest_req req;
	int sol = sol_of(fd);

	if (sol < 0)
		return sol;
	memset(&req, 0, sizeof(req));
	req.version = KATLS_ATTEST_VERSION;
	req.role = (__u8)o->role;
	req.mode = (__u8)(o->mode ? o->mode : o->role == KATLS_ROLE_SERVER ?
			  KATLS_MODE_ATTEST_SELF : KATLS_MODE_VERIFY_PEER);
	req.timeout_ms = o->timeout_ms;
	if (o->policy && strlen(o->policy) >= sizeof(req.policy))
		return -EINVAL;
	if (o->server_name && strlen(o->server_name) >= sizeof(req.server_name))
		return -EINVAL;
	if (o->policy)
		strcpy(req.policy, o->policy);
	if (o->server_name)
		strcpy(req.server_name, o->server_name);
	if (setsockopt(fd, sol, KATLS_SO_ATTEST, &req, sizeof(req)) < 0)
		return -errno;
	return 0;
}

int katls_attest_status(int fd, struct katls_status *out)
{
	socklen_t len = sizeof(*out);
	int sol = sol_of(fd);

	if (sol < 0)
		return sol;
	memset(out, 0, sizeof(*out));
	if (getsockopt(fd, sol, KATLS_SO_STATUS, out, &len) < 0)
		return -errno;
	return 0;
}
