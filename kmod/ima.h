/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KATLS_IMA_H
#define _KATLS_IMA_H

#include <linux/types.h>

struct file;

int katls_ima_init(void);
void katls_ima_exit(void);
int katls_ima_counts(u64 *count, u64 *violations);
struct file *katls_ima_open(void);
ssize_t katls_ima_read(struct file *f, loff_t *pos, void *buf, size_t len);
ssize_t katls_ima_record_len(const u8 *p, size_t len, bool *violation);

struct katls_ima_iter;
struct katls_ima_iter *katls_ima_iter_new(u64 start, u64 end);
ssize_t katls_ima_iter_next(struct katls_ima_iter *it, size_t room, const u8 **out);
void katls_ima_iter_free(struct katls_ima_iter *it);

#endif /* _KATLS_IMA_H */
