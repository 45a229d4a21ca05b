/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_MEASURE_H
#define _KATLS_MEASURE_H

#include <linux/types.h>
#include <uapi/linux/katls.h>

struct netlink_ext_ack;

/* A consistent view of the machine's measured state (STATE_GET). */
struct katls_snapshot {
	u64 generation;
	u64 taint;
	u64 ima_count;
	u64 ima_violations;
	u32 cc_flags;
	u32 pcr_mask;			/* PCRs read into pcrs[] */
	u8 lockdown;
	bool have_ima;
	bool have_boot_id;
	bool tpm_present;
	u8 boot_id[KATLS_BOOT_ID_LEN];
	u8 pcrs[KATLS_NUM_PCRS][KATLS_SHA256_LEN];
};

int katls_measure_init(void);
int katls_measure_snapshot(struct katls_snapshot *s, u32 pcr_mask,
			   struct netlink_ext_ack *extack);

int katls_measure_generation(u64 *gen, u64 *ima_count);
void katls_measure_watch_start(void);
void katls_measure_watch_stop(void);

#endif /* _KATLS_MEASURE_H */
