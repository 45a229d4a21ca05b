/* SPDX-License-Identifier: MIT */
/*
 * libkatls public API (libkatls.so.1, pkg-config name "katls").
 *
 * A thin C API over opaque handles; everything else in the library is
 * internal and not exported (docs/packaging.md, "ABI policy").  Four uses:
 *
 *   kernel mode      katls_socket_attest(): opt a connected TCP socket into
 *                    attestation by katls.ko + katlsd and wait for the verdict
 *   userspace mode   katls_endpoint_*() + katls_conn_*(): TLS 1.3 and the
 *                    katls/1 exchange in this process (like katls serve/connect)
 *   saved Evidence   katls_verify_saved(): re-verify an exchange saved with
 *                    KATLS_OPT_SAVE_EVIDENCE (or katls connect --save-evidence)
 *   policies         katls_policies_load(): parse and compile a policy file
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno on failure; -EACCES means an attestation was refused, and the
 * reason code (enum katls_reason, katls_reason_name()) says why.  Message
 * buffers (@msg/@msg_len) may be NULL/0 and receive one line.
 *
 * Thread safety: a katls_policies or a katls_endpoint that is ready may be
 * shared by threads; a katls_conn belongs to one thread at a time.
 */
#ifndef KATLS_KATLS_H
#define KATLS_KATLS_H

#include <stddef.h>
#include <sys/types.h>

#include <linux/katls.h>	/* enum katls_role, enum katls_mode, struct katls_status */
#include <katls/reason.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this API; the library's SONAME major follows it. */
#define KATLS_API_VERSION 1

/* The library's version string (e.g. "0.1" or a git description). */
KATLS_PUBLIC const char *katls_version(void);

/* ---- policies (docs/policy.md) ------------------------------------------ */

typedef struct katls_policies katls_policies;

/*
 * Loads and compiles the policy or policy set in @path; every file it names
 * is read now.  Return: 0 and *@out, -EINVAL (message in @msg), -ENOENT,
 * -ENOMEM.  A file that defines no policy is -EINVAL.
 */
KATLS_PUBLIC int katls_policies_load(const char *path, katls_policies **out,
				     char *msg, size_t msg_len);
/* Number of policies in the set (at least 1). */
KATLS_PUBLIC size_t katls_policies_count(const katls_policies *p);
/* Name of policy @i, or NULL if @i is out of range. */
KATLS_PUBLIC const char *katls_policies_name(const katls_policies *p, size_t i);
KATLS_PUBLIC void katls_policies_free(katls_policies *p);

/* ---- saved Evidence ------------------------------------------------------ */

/*
 * Re-verifies the exchange saved in directory @dir under policy
 * @policy_name of @p (NULL: the first).  @peer_name: expected peer name
 * (NULL: the one saved).  Return: 0 accepted; -EACCES refused (*@reason);
 * -ENOENT (no such policy), other -errno (KATLS_R_INTERNAL).  @reason may
 * be NULL.
 */
KATLS_PUBLIC int katls_verify_saved(const katls_policies *p, const char *policy_name,
				    const char *dir, const char *peer_name,
				    unsigned int *reason, char *msg, size_t msg_len);

/* ---- kernel mode (katls.ko and katlsd) ----------------------------------- */

/*
 * KATLS_SO_ATTEST on the connected TCP socket @fd (IPv4 or IPv6): katlsd
 * runs the TLS handshake and the exchange for @role/@mode under the daemon's
 * policy @policy ("" or NULL: its default), and the call returns when the
 * socket is an attested kTLS socket or was refused.  @server_name: the name
 * a client expects (NULL: none); @timeout_ms: 0 = the module's default.
 * Return: 0; -EACCES refused (*@reason); -ENOPROTOOPT when katls.ko is not
 * loaded; -ECONNREFUSED when no katlsd is registered; -EINVAL for a name too
 * long (linux/katls.h limits); -EAFNOSUPPORT for a socket neither IPv4 nor
 * IPv6; other -errno (the socket is then unusable).  @reason may be NULL.
 */
KATLS_PUBLIC int katls_socket_attest(int fd, enum katls_role role, enum katls_mode mode,
				     const char *policy, const char *server_name,
				     unsigned int timeout_ms, unsigned int *reason);
/* KATLS_SO_STATUS of @fd into @st.  Return: 0 or -errno. */
KATLS_PUBLIC int katls_socket_status(int fd, struct katls_status *st);

/* ---- userspace mode (TLS 1.3 + katls/1 in this process) ------------------ */

typedef struct katls_endpoint katls_endpoint;
typedef struct katls_conn katls_conn;

/* Settings of an endpoint; values are strings (numbers in decimal or 0x hex). */
enum katls_opt {
	KATLS_OPT_MODE = 1,		/* "verify", "attest" or "mutual" (default: verify
					 * for clients, attest for servers) */
	KATLS_OPT_CERT = 2,		/* PEM certificate (+ chain): TLS and EA leaf */
	KATLS_OPT_KEY = 3,		/* its PEM private key */
	KATLS_OPT_CA = 4,		/* trust anchors for the TLS handshake */
	KATLS_OPT_POLICY_FILE = 5,	/* policy to verify the peer with */
	KATLS_OPT_POLICY_NAME = 6,	/* policy of that set (default: the first) */
	KATLS_OPT_TCTI = 7,		/* TPM TCTI (default: the device) */
	KATLS_OPT_AK_HANDLE = 8,	/* persistent AK handle (default 0x81010002) */
	KATLS_OPT_IMA_LOG = 9,		/* binary IMA log (default: securityfs) */
	KATLS_OPT_TIMEOUT_S = 10,	/* exchange and quote timeout, seconds (default 10) */
	KATLS_OPT_SAVE_EVIDENCE = 11,	/* save each verified exchange in this directory */
	KATLS_OPT_CIPHERS = 12,		/* TLS 1.3 cipher suites (OpenSSL syntax) */
	KATLS_OPT_NO_BATCH = 13,	/* "1": never share or accept a shared quote */
};

/* A client (KATLS_ROLE_CLIENT) or server endpoint.  Return: 0 or -ENOMEM. */
KATLS_PUBLIC int katls_endpoint_new(enum katls_role role, katls_endpoint **out);
/* Sets @opt to @value (copied).  Return: 0, -EINVAL, -EBUSY (already ready). */
KATLS_PUBLIC int katls_endpoint_set(katls_endpoint *ep, enum katls_opt opt, const char *value);
/*
 * Loads what the settings name: policy, identity, TLS context and, unless
 * the mode only verifies, the TPM Evidence source.  Return: 0 or -errno
 * (message in @msg).
 */
KATLS_PUBLIC int katls_endpoint_ready(katls_endpoint *ep, char *msg, size_t msg_len);
KATLS_PUBLIC void katls_endpoint_free(katls_endpoint *ep);

/*
 * Runs the TLS 1.3 handshake on the connected socket @fd (a client checks
 * the server certificate against KATLS_OPT_CA and @server_name), then the
 * katls/1 exchange.  Return: 0 and *@out, over which application data then
 * flows; -EACCES refused (*@reason, also for a certificate the handshake
 * rejected); -EPROTO, -ETIMEDOUT or another -errno.  @fd stays the
 * caller's: katls_conn_free() does not close it.
 */
KATLS_PUBLIC int katls_conn_start(katls_endpoint *ep, int fd, const char *server_name,
				  katls_conn **out, unsigned int *reason,
				  char *msg, size_t msg_len);
/* Bytes read (> 0), 0 at end of stream, or -errno. */
KATLS_PUBLIC ssize_t katls_conn_read(katls_conn *c, void *buf, size_t len);
/* Writes all @len bytes.  Return: @len or -errno. */
KATLS_PUBLIC ssize_t katls_conn_write(katls_conn *c, const void *buf, size_t len);
/* Sends close_notify, wipes the session's secrets and frees @c. */
KATLS_PUBLIC void katls_conn_free(katls_conn *c);

#ifdef __cplusplus
}
#endif

#endif /* KATLS_KATLS_H */
