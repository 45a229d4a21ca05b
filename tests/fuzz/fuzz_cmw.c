// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the strict CMW decoders of cmw.c.  Besides not
 * crashing, every accepted input must re-encode to exactly the same bytes
 * (the decoders accept only the deterministic encoding), else abort().
 * Evidence with an IMA log must survive detaching it (ima_detach.h):
 * frames split back into the same log, which attaches to the re-decoded
 * Evidence and re-encodes to the input.
 * Seeds: tests/fuzz/corpus/fuzz_cmw/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/cmw.h"
#include "wire/ima_detach.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const struct katls_buf *b, const uint8_t *data, size_t size, int ret)
{
	if (ret || b->len != size || memcmp(b->data, data, size))
		abort();
}

static void sub_encodings(const uint8_t *data, size_t size)
{
	static struct katls_cmw_workload w;
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_cmw_kernel k;
	struct katls_pcrs p;

	if (!katls_cmw_pcrs_decode(data, size, &p))
		same_or_abort(&b, data, size, katls_cmw_pcrs_encode(&p, &b));
	b.len = 0;
	if (!katls_cmw_kernel_decode(data, size, &k))
		same_or_abort(&b, data, size, katls_cmw_kernel_encode(&k, &b));
	b.len = 0;
	if (!katls_cmw_workload_decode(data, size, &w))
		same_or_abort(&b, data, size, katls_cmw_workload_encode(&w, &b));
	katls_buf_cleanup(&b);
}

static void detach_roundtrip(const uint8_t *data, size_t size)
{
	struct katls_buf cmw = KATLS_BUF_INIT, frames = KATLS_BUF_INIT, log = KATLS_BUF_INIT;
	struct katls_buf back = KATLS_BUF_INIT;
	struct katls_evidence ev;
	size_t n, off;

	if (!katls_put_bytes(&cmw, data, size) && katls_ima_detach(&cmw, &frames) == 1) {
		if (katls_ima_split(frames.data, frames.len, &log, &n, &off) || off != frames.len ||
		    katls_cmw_decode(cmw.data, cmw.len, &ev))
			abort();
		if (katls_ima_attach(&ev, log.data, log.len))
			abort();
		katls_buf_cleanup(&ev.ima_digest);
		same_or_abort(&back, data, size, katls_cmw_encode(&ev, &back));
		katls_cmw_cleanup(&ev);
	}
	katls_buf_cleanup(&cmw);
	katls_buf_cleanup(&frames);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_evidence ev;

	if (!katls_cmw_decode(data, size, &ev)) {
		same_or_abort(&b, data, size, katls_cmw_encode(&ev, &b));
		/* what we accept is a CMW collection by the draft's rules too */
		if (katls_cmw_check(data, size))
			abort();
		katls_cmw_cleanup(&ev);
		katls_buf_cleanup(&b);
	}
	(void)katls_cmw_check(data, size);
	sub_encodings(data, size);
	detach_roundtrip(data, size);
	return 0;
}
