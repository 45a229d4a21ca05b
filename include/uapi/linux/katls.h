/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * katls — kernel-assisted attested TLS: the kernel/user contract.
 *
 * This header is the single source of truth shared by katls.ko, libkatls,
 * the katls CLI and katlsd.  It is dual-licensed so userspace may carry it.
 *
 * Generic netlink family "katls" (KATLS_GENL_NAME), version KATLS_GENL_VERSION,
 * one multicast group "events".  Every operation validates its attributes
 * strictly: unknown attributes, wrong types or lengths and reserved bits all
 * fail with -EINVAL and an extack message naming the offending attribute.
 *
 * Operations
 * ----------
 * KATLS_CMD_STATE_GET (do; any user)
 *   Request:  [KATLS_A_STATE_PCR_MASK]  u32, bit i selects PCR i (0..23).
 *   Reply:    GENERATION, BOOT_ID, KERNEL_RELEASE, TAINT, LOCKDOWN, CC_FLAGS,
 *             TPM_PRESENT and, for callers with CAP_SYS_ADMIN only,
 *             IMA_COUNT, IMA_VIOLATIONS and one nested KATLS_A_STATE_PCR per
 *             selected PCR ({PCR_INDEX u32, PCR_DIGEST 32 bytes, SHA-256
 *             bank}).  An unprivileged caller that asks for PCRs gets -EPERM:
 *             PCR values and the IMA list are root-only elsewhere in Linux
 *             (/dev/tpmrm0, securityfs) and katls does not widen that.
 *             The reply is consistent: the IMA count is read before and after
 *             the PCRs, and the read is retried if it moved.  GENERATION is a
 *             counter that the module increments whenever it observes a change
 *             of the IMA measurement count or violation count.
 *
 * KATLS_CMD_IMA_GET (dump; CAP_SYS_ADMIN)
 *   Request:  [KATLS_A_IMA_START] u64 first record index (default 0); a start
 *             beyond the list fails with -ERANGE.
 *   Reply:    messages carrying GENERATION, IMA_COUNT (the snapshot size: the
 *             list length when the dump started) and IMA_RECORDS: a run of
 *             whole binary_runtime_measurements records (the same bytes), in
 *             order, from START up to IMA_COUNT.  The first message always
 *             comes, even when it carries no record.  Each message's sequence
 *             is the measured-state generation: if it moves during the dump
 *             (new measurements), the kernel flags the part NLM_F_DUMP_INTR
 *             and the reader should restart to get a fresh snapshot.  The
 *             records already sent stay valid (the list is append-only).
 *             A single record larger than a netlink message (> ~32 KiB)
 *             fails the dump with -EMSGSIZE.
 *
 * The daemon is a netlink socket
 * ------------------------------
 * CAP_NET_ADMIN alone is no identity: a CNI plugin or a network manager has
 * it.  The daemon is the one netlink socket that registered; only it may
 * REQUEST_ACCEPT, and only the socket that accepted a request may complete it
 * with REQUEST_DONE (others get -EPERM).  Registering needs more than the
 * ops' CAP_NET_ADMIN: CAP_SYS_ADMIN too (both in the initial user namespace,
 * held by the sender and by the task that opened the socket), a network
 * namespace owned by the initial user namespace, and, if the operator pinned
 * one with the module parameter daemon_exe (e.g. "/usr/sbin/katlsd"; root
 * only, /sys/module/katls/parameters/daemon_exe), that very executable (same
 * inode).  So while katlsd restarts, a CAP_NET_ADMIN task cannot take its
 * place; with daemon_exe set, neither can another CAP_SYS_ADMIN program.
 *
 * KATLS_CMD_DAEMON_REGISTER (do; CAP_NET_ADMIN and CAP_SYS_ADMIN)
 *   The helper daemon announces itself from the netlink socket it will use
 *   for REQUEST_ACCEPT and REQUEST_DONE.  Exactly one daemon is registered at
 *   a time: another socket gets -EBUSY, the same socket again is a no-op.
 *   -EPERM (with an extack message naming the reason) without CAP_SYS_ADMIN,
 *   from a network namespace of another user namespace, or from an executable
 *   other than daemon_exe.  The registration ends when that netlink socket is
 *   released (the module watches NETLINK_URELEASE): a daemon that exits or
 *   crashes is noticed at once, and every request still queued or accepted
 *   fails with -ECONNABORTED.  While no daemon is registered, KATLS_SO_ATTEST
 *   fails at once with -ECONNREFUSED.  The daemon should also join the
 *   "events" group to hear REQUEST_READY.  Unloading the module ends the
 *   registration too (a registered daemon does not pin the module).
 *
 * KATLS_CMD_REQUEST_ACCEPT (do; CAP_NET_ADMIN; the registered daemon only)
 *   Request:  [REQ_ID] u32; without it the oldest queued request is taken.
 *   Reply:    REQ_ID, REQ_FD (a new O_CLOEXEC fd for the application's
 *             socket, installed in the caller), REQ_ROLE, REQ_MODE,
 *             REQ_POLICY, REQ_SERVER_NAME, REQ_TIMEOUT_MS and the requesting
 *             workload: REQ_PID (in the caller's pid namespace), REQ_UID (in
 *             the caller's user namespace), REQ_CGROUP_ID (cgroup v2 id),
 *             REQ_EXE_PATH (d_path of its executable) and, when IMA can hash
 *             it, REQ_EXE_DIGEST with REQ_EXE_DIGEST_ALGO (enum hash_algo of
 *             linux/hash_info.h) and REQ_EXE_DIGEST_ALGO_NAME ("sha256").
 *             REQ_TIMEOUT_MS is the effective timeout (see max_timeout_ms).
 *   Errors:   -EPERM the caller is not the registered daemon's socket,
 *             -ENOENT no queued request (or none with that id), -EALREADY the
 *             request was already accepted, -EMFILE etc. from fd allocation.
 *   The acceptor owns the request until DONE; if its netlink socket is
 *   released first, the request fails with -ECONNABORTED.
 *
 * KATLS_CMD_REQUEST_DONE (do; CAP_NET_ADMIN; the request's acceptor only)
 *   Request:  REQ_ID, REQ_STATUS (s32: 0, -EACCES, -EKEYREJECTED,
 *             -EKEYEXPIRED, -EPROTO, -ETIMEDOUT or -ECONNRESET; anything else
 *             is -EINVAL and leaves the request untouched), [REQ_REASON] u32,
 *             [REQ_PEER_DIGEST] 32 bytes, [REQ_EXPIRY] u64.
 *   Before it reports success, the module checks that the socket carries
 *   kTLS (ULP "tls", software or device crypto) for both transmit and
 *   receive; if not, the request fails with -EPROTO for the application and
 *   DONE itself returns -EPROTO with an extack message.
 *   Errors:   -EPERM the caller is not the daemon's socket that accepted
 *             the request, -ENOENT unknown request id (also: cancelled by
 *             timeout or signal meanwhile), -EINVAL request not accepted yet.
 *   The daemon closes its fd for the socket afterwards.
 *
 * Events (multicast group "events"; joining needs CAP_SYS_ADMIN)
 *   KATLS_CMD_REQUEST_READY: REQ_ID, REQ_ROLE, REQ_MODE — a request is queued;
 *     sent in the daemon's network namespace.
 *   KATLS_CMD_STATE_CHANGED: STATE_GENERATION, STATE_IMA_COUNT — the
 *     measured-state generation moved (new IMA records or violations).  The
 *     module polls IMA's list while someone listens on the group (and on
 *     every STATE_GET), so the event follows a measurement within ~1 s.  Sent
 *     in every network namespace owned by the initial user namespace.
 *   Joining is checked by the kernel (GENL_MCAST_CAP_SYS_ADMIN) against the
 *   network namespace's user namespace: an unprivileged user gets -EPERM in
 *   the initial namespaces; in a user+network namespace of its own it may
 *   join, but nothing is ever sent there.  The events carry what STATE_GET
 *   gives CAP_SYS_ADMIN callers only (the IMA count).
 *
 * STATE_GET additionally reports, for CAP_NET_ADMIN callers, the request
 * counters: STATE_REQ_QUEUED, STATE_REQ_ACCEPTED, STATE_SOCKS (sockets that
 * carry katls state), STATE_DAEMON (1 if a daemon is registered),
 * STATE_REQ_LIMITED (KATLS_SO_ATTEST calls refused by a limit since load) and
 * STATE_SOCKS_ATTESTED (of STATE_SOCKS, those whose request succeeded: live
 * attested sockets in every network namespace, expired verdicts included).
 *
 * Limits (module parameters, /sys/module/katls/parameters/, root may change
 * them at run time; each request is checked against the current values)
 * ------
 *   max_requests          open (queued or accepted) requests of all users;
 *                         default 1024.  Beyond: -ENOBUFS.
 *   max_requests_per_uid  open requests per requesting real uid; default 64;
 *                         callers with CAP_SYS_RESOURCE are exempt (as from
 *                         RLIMIT_NPROC).  Beyond: -EAGAIN.
 *   max_requests_per_cgroup  open requests per requesting cgroup (v2);
 *                         default 256; the same exemption.  Beyond: -EAGAIN.
 *   max_timeout_ms        the longest a request may wait for its verdict;
 *                         1000..KATLS_TIMEOUT_MAX_MS, default 60000.  A
 *                         larger timeout_ms (or the default) is clamped to it.
 *   daemon_exe            see "The daemon is a netlink socket"; default "".
 *   A refused request changes nothing on the socket: the caller may retry.
 *
 * Socket options
 * --------------
 * KATLS_SO_ATTEST (setsockopt, SOL_IP or SOL_IPV6): struct katls_attest_req,
 *   exactly sizeof(struct katls_attest_req) bytes.  The caller sleeps until
 *   the daemon completes the request.  Returns:
 *     0              the socket is now kTLS in both directions and the verdict
 *                    was positive (KATLS_SO_STATUS has the details)
 *     -EINVAL        wrong size, version, role, mode, timeout (max
 *                    KATLS_TIMEOUT_MAX_MS; values above the max_timeout_ms
 *                    parameter are clamped, not refused), strings not
 *                    NUL-terminated, or non-zero reserved fields
 *     -EPROTONOSUPPORT  not a TCP socket (UDP, raw, MPTCP, ...)
 *     -ENOTCONN      TCP but not ESTABLISHED (unconnected, listening, closing)
 *     -EBUSY         the socket already carries a ULP (kTLS, ...), or its
 *                    destructor was chained by other kernel code
 *     -EALREADY      an attestation is already pending on this socket
 *     -EISCONN       this socket was already attested (a socket whose
 *                    attestation failed is shut down: -ENOTCONN)
 *     -ECONNREFUSED  no daemon registered
 *     -EAGAIN        the caller's uid has max_requests_per_uid requests open,
 *                    or its cgroup max_requests_per_cgroup
 *     -ENOBUFS       max_requests requests are open (all users)
 *     -ECONNABORTED  the daemon exited before completing the request
 *     -ETIMEDOUT     the request did not complete within its timeout
 *     -EINTR         a signal interrupted the wait (never restarted)
 *     -EACCES, -EKEYREJECTED, -EKEYEXPIRED, -EPROTO, -ECONNRESET
 *                    as reported by the daemon (attestation failed); -EPROTO
 *                    also when the daemon claimed success without kTLS
 *     -ENOMEM
 *   The errors up to -ENOBUFS leave the socket as it was.  On every failure
 *   after the request was queued, the socket is shut down (SHUT_RDWR): the
 *   application never keeps a half-attested or plaintext stream.  A socket
 *   that used KATLS_SO_ATTEST keeps a small status record until it is
 *   destroyed, and pins katls.ko while it exists (rmmod fails with EBUSY; so
 *   does rmmod while a caller waits in setsockopt).  Such a socket can never
 *   listen() again (EINVAL), so it has no children that could outlive the
 *   module: an attested socket carries the "tls" ULP, and a failed one the
 *   "tls" ULP if the daemon got that far, else the module's own ULP "katls"
 *   (which does nothing and which applications cannot set: EPERM).  If the
 *   application listens on the socket while its request is pending (after
 *   connect(AF_UNSPEC)), the shutdown stops that listener; should it keep
 *   listening anyway, the socket keeps no status record (state NONE).
 * KATLS_SO_STATUS (getsockopt, SOL_IP or SOL_IPV6): struct katls_status,
 *   exactly sizeof(struct katls_status) bytes (else -EINVAL).  Any socket:
 *   state NONE if it never asked for attestation.
 */
#ifndef _UAPI_LINUX_KATLS_H
#define _UAPI_LINUX_KATLS_H

#include <linux/types.h>

#define KATLS_GENL_NAME		"katls"
#define KATLS_GENL_VERSION	1
#define KATLS_GENL_MCGRP_EVENTS	"events"

/* Number of PCRs addressable through KATLS_A_STATE_PCR_MASK. */
#define KATLS_NUM_PCRS		24
#define KATLS_PCR_MASK_ALL	((1U << KATLS_NUM_PCRS) - 1)
#define KATLS_SHA256_LEN	32
#define KATLS_BOOT_ID_LEN	16

enum katls_cmd {
	KATLS_CMD_UNSPEC,
	KATLS_CMD_STATE_GET,
	KATLS_CMD_IMA_GET,
	KATLS_CMD_REQUEST_ACCEPT,
	KATLS_CMD_REQUEST_DONE,
	KATLS_CMD_REQUEST_READY,	/* event */
	KATLS_CMD_STATE_CHANGED,	/* event */
	KATLS_CMD_DAEMON_REGISTER,

	__KATLS_CMD_MAX,
	KATLS_CMD_MAX = __KATLS_CMD_MAX - 1
};

/* Lockdown level, as /sys/kernel/security/lockdown names them. */
enum katls_lockdown {
	KATLS_LOCKDOWN_NONE,
	KATLS_LOCKDOWN_INTEGRITY,
	KATLS_LOCKDOWN_CONFIDENTIALITY,
};

/* Confidential-computing attributes (cc_platform_has()), KATLS_A_STATE_CC_FLAGS. */
enum katls_cc_flag {
	KATLS_CC_MEM_ENCRYPT		= 1 << 0,
	KATLS_CC_HOST_MEM_ENCRYPT	= 1 << 1,
	KATLS_CC_GUEST_MEM_ENCRYPT	= 1 << 2,
	KATLS_CC_GUEST_STATE_ENCRYPT	= 1 << 3,
	KATLS_CC_GUEST_SEV_SNP		= 1 << 4,
};

enum katls_attr {
	KATLS_A_UNSPEC,
	KATLS_A_PAD,

	/* STATE_GET */
	KATLS_A_STATE_PCR_MASK,		/* u32, request */
	KATLS_A_STATE_GENERATION,	/* u64 */
	KATLS_A_STATE_BOOT_ID,		/* binary, KATLS_BOOT_ID_LEN */
	KATLS_A_STATE_KERNEL_RELEASE,	/* NUL-terminated string */
	KATLS_A_STATE_TAINT,		/* u64, get_taint() */
	KATLS_A_STATE_LOCKDOWN,		/* u8, enum katls_lockdown */
	KATLS_A_STATE_CC_FLAGS,		/* u32, enum katls_cc_flag bits */
	KATLS_A_STATE_TPM_PRESENT,	/* u8, 1 if a TPM 2.0 chip is present */
	KATLS_A_STATE_IMA_COUNT,	/* u64, records in the IMA list */
	KATLS_A_STATE_IMA_VIOLATIONS,	/* u64 */
	KATLS_A_STATE_PCR,		/* nested, enum katls_pcr_attr; repeated */

	/* IMA_GET */
	KATLS_A_IMA_START,		/* u64, request */
	KATLS_A_IMA_RECORDS,		/* binary, whole records */

	/* REQUEST_* (upcall) */
	KATLS_A_REQ_ID,			/* u32 */
	KATLS_A_REQ_FD,			/* s32, fd installed in the acceptor */
	KATLS_A_REQ_ROLE,		/* u8, enum katls_role */
	KATLS_A_REQ_MODE,		/* u8, enum katls_mode */
	KATLS_A_REQ_POLICY,		/* string */
	KATLS_A_REQ_SERVER_NAME,	/* string */
	KATLS_A_REQ_TIMEOUT_MS,		/* u32 */
	KATLS_A_REQ_PID,		/* u32 */
	KATLS_A_REQ_UID,		/* u32 */
	KATLS_A_REQ_CGROUP_ID,		/* u64 */
	KATLS_A_REQ_EXE_PATH,		/* string */
	KATLS_A_REQ_EXE_DIGEST,		/* binary */
	KATLS_A_REQ_EXE_DIGEST_ALGO,	/* u32, enum hash_algo of the kernel */
	KATLS_A_REQ_STATUS,		/* s32, 0 or -errno */
	KATLS_A_REQ_REASON,		/* u32, katls reason code */
	KATLS_A_REQ_PEER_DIGEST,	/* binary, KATLS_SHA256_LEN */
	KATLS_A_REQ_EXPIRY,		/* u64, seconds since the epoch */
	KATLS_A_REQ_EXE_DIGEST_ALGO_NAME, /* string, e.g. "sha256" */

	/* STATE_GET, CAP_NET_ADMIN callers */
	KATLS_A_STATE_REQ_QUEUED,	/* u32, requests waiting for ACCEPT */
	KATLS_A_STATE_REQ_ACCEPTED,	/* u32, requests held by the daemon */
	KATLS_A_STATE_SOCKS,		/* u32, sockets with katls state */
	KATLS_A_STATE_DAEMON,		/* u8, 1 if a daemon is registered */
	KATLS_A_STATE_REQ_LIMITED,	/* u64, requests refused by a limit */
	KATLS_A_STATE_SOCKS_ATTESTED,	/* u32, of STATE_SOCKS, those attested */

	/* REQUEST_ACCEPT reply: an attest rule, not the program, asked (issue 14) */
	KATLS_A_REQ_TRANSPARENT,	/* u8, 1 */

	__KATLS_A_MAX,
	KATLS_A_MAX = __KATLS_A_MAX - 1
};

enum katls_pcr_attr {
	KATLS_A_PCR_UNSPEC,
	KATLS_A_PCR_INDEX,		/* u32 */
	KATLS_A_PCR_DIGEST,		/* binary, SHA-256 bank */

	__KATLS_A_PCR_MAX,
	KATLS_A_PCR_MAX = __KATLS_A_PCR_MAX - 1
};

/* ---- socket options ------------------------------------------------------ */

/*
 * Far above the kernel's own IP (≤ 100) and IPv6 (≤ 80) options and
 * netfilter's ranges (64..99, 128..131).
 */
#define KATLS_SO_BASE		0x4b41		/* 'KA' */
#define KATLS_SO_ATTEST		(KATLS_SO_BASE + 0)
#define KATLS_SO_STATUS		(KATLS_SO_BASE + 1)
#define KATLS_SO_MAX		(KATLS_SO_BASE + 2)

#define KATLS_ATTEST_VERSION	1
#define KATLS_NAME_MAX		64
#define KATLS_SERVER_NAME_MAX	256
#define KATLS_TIMEOUT_DEFAULT_MS	30000	/* timeout_ms == 0 */
#define KATLS_TIMEOUT_MAX_MS		600000

enum katls_role {
	KATLS_ROLE_CLIENT = 1,
	KATLS_ROLE_SERVER = 2,
};

enum katls_mode {
	KATLS_MODE_VERIFY_PEER = 1,	/* the peer attests, we verify */
	KATLS_MODE_ATTEST_SELF = 2,	/* we attest, the peer verifies */
	KATLS_MODE_MUTUAL = 3,
};

struct katls_attest_req {
	__u32 version;			/* KATLS_ATTEST_VERSION */
	__u8  role;			/* enum katls_role */
	__u8  mode;			/* enum katls_mode */
	__u16 reserved0;		/* must be zero */
	__u32 timeout_ms;		/* 0: module default */
	__u32 reserved1;		/* must be zero */
	char  policy[KATLS_NAME_MAX];	/* NUL-terminated; "" = default */
	char  server_name[KATLS_SERVER_NAME_MAX]; /* NUL-terminated */
	__u8  reserved2[32];		/* must be zero */
};

enum katls_sock_state {
	KATLS_STATE_NONE,
	KATLS_STATE_PENDING,
	KATLS_STATE_ATTESTED,
	KATLS_STATE_FAILED,
	KATLS_STATE_EXPIRED,		/* attested, but expiry has passed */
};

struct katls_status {
	__u32 version;			/* KATLS_ATTEST_VERSION */
	__u8  state;			/* enum katls_sock_state */
	__u8  reserved0[3];
	__s32 result;			/* 0 or -errno */
	__u32 reason;			/* katls reason code */
	__u64 expiry;			/* seconds since the epoch, 0 = none */
	__u8  peer_digest[KATLS_SHA256_LEN];
	__u8  reserved1[16];
};

#endif /* _UAPI_LINUX_KATLS_H */
