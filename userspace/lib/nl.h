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

#endif /* KATLS_NL_H */
