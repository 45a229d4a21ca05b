// SPDX-License-Identifier: GPL-2.0
/*
 * The requesting workload's identity: pid, uid, cgroup v2 id and executable.
 * References are taken in the requester's context (setsockopt) and turned
 * into attributes in the acceptor's (REQUEST_ACCEPT), so the pid and uid are
 * translated into the daemon's namespaces and the executable is hashed there.
 *
 * get_task_exe_file() is not exported in 6.1: the exe comes from the mm with
 * an RCU read of mm->exe_file and get_file_rcu() (DESIGN.md §9).
 */
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ima.h>
#include <linux/namei.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <crypto/hash.h>
#include <crypto/hash_info.h>
#include <uapi/linux/katls.h>

#include "workload.h"

/*
 * current's own mm cannot go away under it, so no get_task_mm()/mmput():
 * this also runs in atomic context (transparent.c's kfunc, from BPF).
 */
static struct file *current_exe(void)
{
	struct mm_struct *mm = current->mm;
	struct file *exe;

	if (!mm || (current->flags & PF_KTHREAD))
		return NULL;
	rcu_read_lock();
	exe = rcu_dereference(mm->exe_file);
	if (exe && !get_file_rcu(exe))
		exe = NULL;
	rcu_read_unlock();
	return exe;
}

/**
 * katls_workload_capture - record the calling task's identity
 * @w: out; release with katls_workload_release()
 *
 * Context: any task context, also atomic.
 */
void katls_workload_capture(struct katls_workload *w)
{
	w->pid = get_pid(task_tgid(current));
	w->uid = current_uid();
	rcu_read_lock();
	w->cgroup_id = cgroup_id(task_dfl_cgroup(current));
	rcu_read_unlock();
	w->exe = current_exe();
}

/**
 * katls_workload_copy - take new references on @src's identity into @dst
 */
void katls_workload_copy(struct katls_workload *dst, const struct katls_workload *src)
{
	*dst = *src;
	get_pid(dst->pid);
	if (dst->exe)
		get_file(dst->exe);
}

/**
 * katls_workload_release - drop the references of @w (may be all zero)
 */
void katls_workload_release(struct katls_workload *w)
{
	put_pid(w->pid);
	if (w->exe)
		fput(w->exe);
	w->pid = NULL;
	w->exe = NULL;
}

static int put_exe(struct sk_buff *msg, struct file *exe)
{
	u8 digest[HASH_MAX_DIGESTSIZE];
	char *buf, *path;
	int algo, ret = 0;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	path = d_path(&exe->f_path, buf, PATH_MAX);
	if (!IS_ERR(path) && nla_put_string(msg, KATLS_A_REQ_EXE_PATH, path))
		ret = -EMSGSIZE;
	kfree(buf);
	if (ret)
		return ret;
	/* Without IMA (or for an unhashable file) the digest is simply absent. */
	algo = ima_file_hash(exe, digest, sizeof(digest));
	if (algo < 0 || algo >= HASH_ALGO__LAST || !hash_digest_size[algo])
		return 0;
	if (nla_put(msg, KATLS_A_REQ_EXE_DIGEST, hash_digest_size[algo], digest) ||
	    nla_put_u32(msg, KATLS_A_REQ_EXE_DIGEST_ALGO, algo) ||
	    nla_put_string(msg, KATLS_A_REQ_EXE_DIGEST_ALGO_NAME, hash_algo_name[algo]))
		return -EMSGSIZE;
	return 0;
}

/**
 * katls_workload_put - add the REQ_PID..REQ_EXE_DIGEST_ALGO_NAME attributes
 * @msg: reply being built in the acceptor's context
 * @w: identity captured by katls_workload_capture()
 *
 * Return: 0 or -EMSGSIZE/-ENOMEM.
 */
int katls_workload_put(struct sk_buff *msg, const struct katls_workload *w)
{
	if (nla_put_u32(msg, KATLS_A_REQ_PID, pid_vnr(w->pid)) ||
	    nla_put_u32(msg, KATLS_A_REQ_UID, from_kuid_munged(current_user_ns(), w->uid)) ||
	    nla_put_u64_64bit(msg, KATLS_A_REQ_CGROUP_ID, w->cgroup_id, KATLS_A_PAD))
		return -EMSGSIZE;
	return w->exe ? put_exe(msg, w->exe) : 0;
}

/**
 * katls_workload_exe_is - is the calling task running the executable at @path?
 * @path: absolute path (symlinks followed)
 *
 * Compares inodes, so a copy of the file elsewhere does not match.
 * Return: 0 if it is, -EPERM if not, or the path lookup's -errno.
 */
int katls_workload_exe_is(const char *path)
{
	struct file *exe = current_exe();
	struct path p;
	int ret;

	if (!exe)
		return -EPERM;
	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	if (!ret) {
		ret = d_backing_inode(p.dentry) == file_inode(exe) ? 0 : -EPERM;
		path_put(&p);
	}
	fput(exe);
	return ret;
}
