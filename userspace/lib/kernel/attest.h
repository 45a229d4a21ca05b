/* SPDX-License-Identifier: MIT */
/*
 * katls_attest(): the application's one call (DESIGN.md §3.1).  Fills a
 * struct katls_attest_req and sets KATLS_SO_ATTEST at SOL_IP or SOL_IPV6,
 * whichever matches the socket's family, then returns what the module
 * returned.  On failure katls_attest_status() tells the reason code.
 */
#ifndef KATLS_ATTEST_H
#define KATLS_ATTEST_H

#include <stdint.h>

#include <linux/katls.h>

struct katls_attest_opts {
	enum katls_role role;		/* KATLS_ROLE_CLIENT or _SERVER */
	enum katls_mode mode;		/* 0 = verify (client) / attest (server) */
	const char *policy;		/* NULL or "" = katlsd's default policy */
	const char *server_name;	/* client: expected server name; may be NULL */
	uint32_t timeout_ms;		/* 0 = the module's default */
};

/**
 * katls_attest() - attest the connected TCP socket @fd
 * Return: 0 (the socket is kTLS and attested), or the -errno of
 * KATLS_SO_ATTEST (see linux/katls.h): -EACCES refused, -ECONNREFUSED no
 * daemon, -ETIMEDOUT, ...; -EINVAL for bad options, -EAFNOSUPPORT for a
 * socket that is neither IPv4 nor IPv6.
 */
int katls_attest(int fd, const struct katls_attest_opts *opts);

/** katls_attest_status() - KATLS_SO_STATUS of @fd.  Return: 0 or -errno. */
int katls_attest_status(int fd, struct katls_status *out);

#endif /* KATLS_ATTEST_H */
