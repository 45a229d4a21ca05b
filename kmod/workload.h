/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_WORKLOAD_H
#define _KATLS_WORKLOAD_H

#include <linux/types.h>
#include <linux/uidgid.h>

struct file;
struct pid;
struct sk_buff;

/* Who asked for attestation: captured in the requester's context. */
struct katls_workload {
	struct pid *pid;
	struct file *exe;		/* NULL for kernel threads */
	u64 cgroup_id;
	kuid_t uid;
};

void katls_workload_capture(struct katls_workload *w);
void katls_workload_copy(struct katls_workload *dst, const struct katls_workload *src);
void katls_workload_release(struct katls_workload *w);
int katls_workload_put(struct sk_buff *msg, const struct katls_workload *w);
int katls_workload_exe_is(const char *path);

#endif /* _KATLS_WORKLOAD_H */
