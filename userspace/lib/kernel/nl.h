/* SPDX-License-Identifier: MIT */
/*
 * Generic netlink client for katls.ko (libnl-genl-3).  One struct katls_nl
 * per thread.  Every call returns 0 or -errno; when the kernel explained a
 * rejection (extack), katls_nl_errmsg() returns its message until the next
 * call.
 */
#ifndef KATLS_NL_H
#define KATLS_NL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/katls.h>

struct nl_msg;
struct katls_nl;

/* Snapshot of measured state as KATLS_CMD_STATE_GET reports it. */
struct katls_state {
	uint64_t generation;
	uint64_t taint;
	uint64_t ima_count;
	uint64_t ima_violations;
	uint32_t cc_flags;
	uint32_t pcr_mask;		/* PCRs present in pcrs[] */
	uint8_t lockdown;		/* enum katls_lockdown */
	bool tpm_present;
	bool have_boot_id;
	bool have_lockdown;
	bool have_ima;			/* only for CAP_SYS_ADMIN callers */
	uint8_t boot_id[KATLS_BOOT_ID_LEN];
	char release[65];
	uint8_t pcrs[KATLS_NUM_PCRS][KATLS_SHA256_LEN];
	/* Request counters, only for CAP_NET_ADMIN callers (have_requests). */
	bool have_requests;
	bool daemon;			/* a daemon is registered */
	uint32_t req_queued;
	uint32_t req_accepted;
	uint32_t socks;			/* sockets carrying katls state */
	uint64_t req_limited;		/* KATLS_SO_ATTEST refused by a limit */
	bool have_socks_attested;	/* a module that reports it */
	uint32_t socks_attested;	/* of socks, ATTESTED ones (expired included) */
};

/* A request handed over by KATLS_CMD_REQUEST_ACCEPT. */
struct katls_accepted {
	uint32_t id;
	int fd;				/* the application's socket, O_CLOEXEC */
	uint8_t role;			/* enum katls_role */
	uint8_t mode;			/* enum katls_mode */
	uint32_t timeout_ms;
	char policy[KATLS_NAME_MAX];
	char server_name[KATLS_SERVER_NAME_MAX];
	uint32_t pid;
	uint32_t uid;
	uint64_t cgroup_id;
	char exe_path[4096];		/* "" if unknown */
	uint8_t exe_digest[64];
	size_t exe_digest_len;		/* 0 if IMA could not hash the exe */
	uint32_t exe_digest_algo;	/* enum hash_algo (linux/hash_info.h) */
	char exe_digest_algo_name[32];
	bool transparent;		/* an attest rule asked, not the program (no setsockopt) */
};

/* An event from the "events" multicast group. */
struct katls_event {
	uint8_t cmd;			/* KATLS_CMD_REQUEST_READY or _STATE_CHANGED */
	uint32_t id;			/* REQUEST_READY */
	uint8_t role, mode;		/* REQUEST_READY */
	uint64_t generation;		/* STATE_CHANGED */
	uint64_t ima_count;		/* STATE_CHANGED */
};

/**
 * katls_nl_open() - connect to the katls generic netlink family
 * @out: the new handle, freed with katls_nl_close()
 *
 * Return: 0; -ENOENT if the family is not registered (katls.ko not loaded);
 * another -errno on failure.
 */
int katls_nl_open(struct katls_nl **out);
void katls_nl_close(struct katls_nl *nl);
/* The family id, for callers that build their own messages. */
int katls_nl_family(const struct katls_nl *nl);
/* The kernel's extack message for the last failed call, or "". */
const char *katls_nl_errmsg(const struct katls_nl *nl);

/**
 * katls_nl_transact() - send @msg (consumed) and wait for the reply
 * @cb: called for each reply message (may be NULL); returns 0 or -errno
 *
 * Return: 0, or the kernel's -errno (with its extack kept for
 * katls_nl_errmsg()), or -errno from @cb.
 */
int katls_nl_transact(struct katls_nl *nl, struct nl_msg *msg,
		      int (*cb)(struct nl_msg *reply, void *arg), void *arg);

/**
 * katls_nl_state_get() - KATLS_CMD_STATE_GET
 * @pcr_mask: PCRs to read (bit i = PCR i), 0 for none
 */
int katls_nl_state_get(struct katls_nl *nl, uint32_t pcr_mask, struct katls_state *out);

/**
 * katls_nl_daemon_register() - KATLS_CMD_DAEMON_REGISTER from this handle
 *
 * The registration lasts until the handle is closed (or the process exits);
 * only this handle may then accept and complete requests.
 * Return: 0, -EBUSY if another daemon is registered, -EPERM without
 * CAP_NET_ADMIN and CAP_SYS_ADMIN, from a netns of another user namespace,
 * or when the module's daemon_exe pins another executable (the extack
 * message says which).
 */
int katls_nl_daemon_register(struct katls_nl *nl);

/**
 * katls_nl_request_accept() - KATLS_CMD_REQUEST_ACCEPT
 * @id: request id, 0 for the oldest queued request
 * @out: the request; out->fd is the caller's to close
 *
 * Return: 0, -ENOENT when nothing is queued, -EPERM if this handle is not
 * the registered daemon, or another -errno.
 */
int katls_nl_request_accept(struct katls_nl *nl, uint32_t id, struct katls_accepted *out);

/**
 * katls_nl_request_done() - KATLS_CMD_REQUEST_DONE
 * @status: 0 or a -errno the uapi header allows (-EACCES, ...)
 * @peer_digest: KATLS_SHA256_LEN bytes, or NULL
 * @expiry: seconds since the epoch, 0 for none
 *
 * Return: 0; -EPROTO if @status was 0 but the socket does not carry kTLS in
 * both directions (the request then failed); -ENOENT for an unknown id;
 * -EPERM if this handle did not accept the request.
 */
int katls_nl_request_done(struct katls_nl *nl, uint32_t id, int32_t status, uint32_t reason,
			  const uint8_t *peer_digest, uint64_t expiry);

/*
 * Called for each run of whole binary IMA records of a dump, in order, with
 * the snapshot's generation and record count.  Returns 0 or -errno (stops).
 */
typedef int (*katls_ima_records_fn)(const uint8_t *records, size_t len, uint64_t generation,
				    uint64_t count, void *arg);

/**
 * katls_nl_ima_dump() - KATLS_CMD_IMA_GET from record @start
 *
 * One attempt: if the measured-state generation moved during the dump, the
 * records delivered are still valid but the call returns -EINTR (after reading
 * the rest) so that the caller can start over for a fresh snapshot.
 * Return: 0, -EINTR, -ERANGE (@start beyond the list), -EPERM, -errno.
 */
int katls_nl_ima_dump(struct katls_nl *nl, uint64_t start, katls_ima_records_fn fn, void *arg);

/**
 * katls_nl_events_join() - subscribe this handle to the "events" group
 *
 * Use a handle for events only: katls_nl_event_next() reads it.
 * Return: 0, -EPERM without CAP_SYS_ADMIN, -ENOENT (no such group), -errno.
 */
int katls_nl_events_join(struct katls_nl *nl);

/**
 * katls_nl_event_next() - wait up to @timeout_ms (-1: forever) for an event
 * Return: 0, -ETIMEDOUT, -ENOBUFS (events were lost: rescan), -errno.
 */
int katls_nl_event_next(struct katls_nl *nl, struct katls_event *ev, int timeout_ms);

#endif /* KATLS_NL_H */
