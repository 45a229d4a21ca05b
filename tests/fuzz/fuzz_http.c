// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the metrics endpoint's HTTP request parser
 * (userspace/daemon/http.c, part of katlsd, so included).  The input is what
 * a client sent, cut at KATLSD_HTTP_HEAD_MAX as the server reads it.
 * Invariants: a status from the documented set; a reason for every error;
 * "read more" only below the size limit; the status of any prefix that has
 * one is the status of the whole (the split of the bytes never matters);
 * the response head for it is well formed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../userspace/daemon/http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool known(int status)
{
	return status == 0 || status == 200 || status == 400 || status == 404 || status == 405 ||
	       status == 414 || status == 431 || status == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct katlsd_http_req r, p;
	char *in, head[512];
	size_t n;

	if (size > KATLSD_HTTP_HEAD_MAX)
		size = KATLSD_HTTP_HEAD_MAX;
	in = malloc(size ? size : 1);	/* exact size: ASan sees any read past it */
	if (!in)
		return 0;
	memcpy(in, data, size);
	katlsd_http_parse(in, size, &r);
	if (!known(r.status) || !r.why || (r.status > 200 && !*r.why))
		__builtin_trap();
	if (!r.status && size >= KATLSD_HTTP_HEAD_MAX)
		__builtin_trap();	/* never waits past the limit */
	if (r.head && r.status != 200)
		__builtin_trap();
	for (size_t k = size / 4; k < size; k += size / 4 ? size / 4 : 1) {
		katlsd_http_parse(in, k, &p);
		if (p.status && p.status != r.status)
			__builtin_trap();	/* a prefix decided otherwise */
	}
	if (r.status) {
		n = katlsd_http_head(head, sizeof(head), r.status, "text/plain", 80, NULL);
		if (!n || strlen(head) != n || memcmp(head + n - 4, "\r\n\r\n", 4))
			__builtin_trap();
	}
	free(in);
	return 0;
}
