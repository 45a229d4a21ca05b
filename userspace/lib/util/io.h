/* SPDX-License-Identifier: MIT */
/*
 * Writing whole buffers to files: one loop for every file libkatls writes
 * (saved Evidence, the enrollment files and store).
 */
#ifndef KATLS_IO_H
#define KATLS_IO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* Writes all @len bytes of @p to @fd (retrying EINTR).  Return: 0 or -errno. */
static inline int katls_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EIO;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif /* KATLS_IO_H */
