// SPDX-License-Identifier: GPL-2.0
/*
 * Access to the IMA runtime measurement list.
 *
 * IMA exports no in-kernel API for its list or counters, so the module reads
 * binary_runtime_measurements — the very bytes userspace reads — through a
 * private kernel mount of securityfs (a single-superblock filesystem, so this
 * is the tree the admin sees at /sys/kernel/security, whether or where
 * userspace mounted it).  The file is a seq_file without ->read_iter, which
 * kernel_read() refuses, so reads go through seq_read_iter() with a kvec.
 * Files are opened with kernel credentials: the module, not the file mode,
 * decides who sees what (genl.c).
 *
 * The counters are kept incrementally: one file stays open, positioned after
 * the last whole record seen, and each katls_ima_counts() parses only the
 * records appended since (under count_lock).  IMA records each violation as
 * an entry whose template digest is zero, so violations are counted from the
 * list too and always agree with it.
 */
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <asm/unaligned.h>

#include "ima.h"

#define IMA_LIST		"integrity/ima/binary_runtime_measurements"
#define IMA_LIST_DIGEST		20	/* the unsuffixed list carries SHA-1 digests */
#define IMA_NAME_MAX		255
#define IMA_DATA_MAX		(128 * 1024)
#define CHUNK			(256 * 1024)

static struct vfsmount *secfs;
static const struct cred *kcred;

static DEFINE_MUTEX(count_lock);
static struct file *count_file;
static loff_t count_pos;
static u64 nrecords, nviolations;
static u8 *chunk;

/**
 * katls_ima_record_len - length of the binary IMA record at @p
 * @violation: out, true if its template digest is zero
 *
 * Return: the record's length, 0 if @len holds only part of it, or -EBADMSG.
 */
ssize_t katls_ima_record_len(const u8 *p, size_t len, bool *violation)
{
	size_t off = 4 + IMA_LIST_DIGEST;
	u32 nlen, dlen;
	bool is_ima;

	if (len < off + 4)
		return 0;
	*violation = !memchr_inv(p + 4, 0, IMA_LIST_DIGEST);
	nlen = get_unaligned((const u32 *)(p + off));
	off += 4;
	if (nlen == 0 || nlen > IMA_NAME_MAX)
		return -EBADMSG;
	if (len < off + nlen)
		return 0;
	is_ima = nlen == 3 && !memcmp(p + off, "ima", 3);
	off += nlen;
	/* Template "ima": a bare SHA-1 digest, then the name with a u32 length. */
	if (is_ima)
		off += IMA_LIST_DIGEST;
	if (len < off + 4)
		return 0;
	dlen = get_unaligned((const u32 *)(p + off));
	off += 4;
	if (dlen > IMA_DATA_MAX)
		return -EBADMSG;
	if (len < off + dlen)
		return 0;
	return off + dlen;
}

struct file *katls_ima_open(void)
{
	const struct cred *old = override_creds(kcred);
	struct file *f = file_open_root_mnt(secfs, IMA_LIST, O_RDONLY, 0);

	revert_creds(old);
	return f;
}

ssize_t katls_ima_read(struct file *f, loff_t *pos, void *buf, size_t len)
{
	struct kvec kv = { .iov_base = buf, .iov_len = len };
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t n;

	init_sync_kiocb(&kiocb, f);
	kiocb.ki_pos = *pos;
	iov_iter_kvec(&iter, READ, &kv, 1, len);
	n = seq_read_iter(&kiocb, &iter);
	if (n > 0)
		*pos = kiocb.ki_pos;
	return n;
}

/* Parses whole records from the open list; leaves count_pos after the last. */
static int count_new_records(void)
{
	loff_t pos = count_pos;
	size_t have = 0, off;
	ssize_t n, rlen;
	bool viol;

	for (;;) {
		n = katls_ima_read(count_file, &pos, chunk + have, CHUNK - have);
		if (n < 0)
			return n;
		have += n;
		for (off = 0; off < have; off += rlen) {
			rlen = katls_ima_record_len(chunk + off, have - off, &viol);
			if (rlen < 0)
				return rlen;
			if (!rlen)
				break;
			nrecords++;
			nviolations += viol;
			count_pos += rlen;
		}
		if (n == 0)
			break;
		if (off == 0 && have == CHUNK)
			return -EFBIG;
		memmove(chunk, chunk + off, have - off);
		have -= off;
	}
	/* seq_file emits whole records, so nothing may be left at the end. */
	return have ? -EBADMSG : 0;
}

/**
 * katls_ima_counts - current IMA measurement and violation counts
 * Return: 0, or -ENOENT when this kernel has no IMA.
 */
int katls_ima_counts(u64 *count, u64 *violations)
{
	int ret;

	if (!count_file)
		return -ENOENT;
	mutex_lock(&count_lock);
	ret = count_new_records();
	*count = nrecords;
	*violations = nviolations;
	mutex_unlock(&count_lock);
	return ret;
}

int katls_ima_init(void)
{
	struct file_system_type *type;
	struct file *f;

	type = get_fs_type("securityfs");
	if (!type)
		return -ENODEV;
	/* securityfs is built in (no owner module): nothing to put back. */
	secfs = kern_mount(type);
	if (IS_ERR(secfs))
		return PTR_ERR(secfs);
	kcred = prepare_kernel_cred(NULL);
	chunk = kvmalloc(CHUNK, GFP_KERNEL);
	if (!kcred || !chunk) {
		katls_ima_exit();
		return -ENOMEM;
	}
	f = katls_ima_open();
	if (IS_ERR(f)) {
		pr_info("no IMA measurement list (%ld): IMA counters unavailable\n", PTR_ERR(f));
		return 0;
	}
	count_file = f;
	return 0;
}

void katls_ima_exit(void)
{
	if (count_file)
		fput(count_file);
	count_file = NULL;
	kvfree(chunk);
	if (kcred)
		put_cred(kcred);
	kern_unmount(secfs);
}

/*
 * Dump iterator (IMA_GET): a private open of the list, read in chunks into a
 * buffer; runs of whole records are handed out in order.  Records after
 * @end (the snapshot count) are never returned, although the list may already
 * hold them.
 */
#define ITER_BUF		(64 * 1024)

struct katls_ima_iter {
	struct file *f;
	loff_t pos;
	u64 index;		/* records handed out or skipped */
	u64 end;
	size_t have, off;	/* bytes in buf, consumed bytes */
	bool eof;
	u8 buf[];
};

static int iter_fill(struct katls_ima_iter *it)
{
	ssize_t n;

	if (it->off) {
		memmove(it->buf, it->buf + it->off, it->have - it->off);
		it->have -= it->off;
		it->off = 0;
	}
	while (!it->eof && it->have < ITER_BUF) {
		n = katls_ima_read(it->f, &it->pos, it->buf + it->have, ITER_BUF - it->have);
		if (n < 0)
			return n;
		if (n == 0)
			it->eof = true;
		it->have += n;
	}
	return 0;
}

/*
 * Measures the run of whole records at it->off that fits in @room bytes and
 * ends at most at it->end.  Return: run length (0: none left) or -errno.
 */
static ssize_t iter_run(struct katls_ima_iter *it, size_t room, u64 *nrec)
{
	size_t total = 0;
	ssize_t rlen;
	bool viol;
	int ret;

	*nrec = 0;
	ret = iter_fill(it);
	if (ret)
		return ret;
	while (it->index + *nrec < it->end) {
		rlen = katls_ima_record_len(it->buf + it->off + total,
					    it->have - it->off - total, &viol);
		if (rlen < 0)
			return rlen;
		if (rlen == 0) {
			if (total)
				break;
			/* Not even one whole record in a full buffer, or a short list. */
			return it->eof ? -EBADMSG : -EFBIG;
		}
		if (total + rlen > room) {
			if (!total)
				return -EMSGSIZE;
			break;
		}
		total += rlen;
		(*nrec)++;
	}
	return total;
}

/**
 * katls_ima_iter_new - iterate over records [@start, @end) of the IMA list
 * Return: the iterator (free with katls_ima_iter_free()) or ERR_PTR.
 */
struct katls_ima_iter *katls_ima_iter_new(u64 start, u64 end)
{
	struct katls_ima_iter *it;
	ssize_t n;
	u64 nrec;

	it = kvzalloc(sizeof(*it) + ITER_BUF, GFP_KERNEL);
	if (!it)
		return ERR_PTR(-ENOMEM);
	it->end = start;
	it->f = katls_ima_open();
	if (IS_ERR(it->f)) {
		n = PTR_ERR(it->f);
		kvfree(it);
		return ERR_PTR(n);
	}
	/* Skip to @start: consume runs without handing them out. */
	while (it->index < start) {
		n = iter_run(it, ITER_BUF, &nrec);
		if (n <= 0) {
			katls_ima_iter_free(it);
			return ERR_PTR(n ? n : -EBADMSG);
		}
		it->off += n;
		it->index += nrec;
	}
	it->end = end;
	return it;
}

/**
 * katls_ima_iter_next - the next run of whole records, at most @room bytes
 * @out: set to the run (valid until the next call)
 *
 * Return: run length, 0 at the end, -EMSGSIZE if the next record alone is
 * larger than @room, or another -errno.
 */
ssize_t katls_ima_iter_next(struct katls_ima_iter *it, size_t room, const u8 **out)
{
	ssize_t n;
	u64 nrec;

	n = iter_run(it, room, &nrec);
	if (n <= 0)
		return n;
	*out = it->buf + it->off;
	it->off += n;
	it->index += nrec;
	return n;
}

void katls_ima_iter_free(struct katls_ima_iter *it)
{
	if (IS_ERR_OR_NULL(it))
		return;
	fput(it->f);
	kvfree(it);
}
