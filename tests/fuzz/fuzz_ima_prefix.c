// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for incremental IMA's request field (ima_prefix.c).  The
 * first input byte selects what the rest is:
 *   0  a katls_ima_prefix extension_data: if it parses, encoding it again
 *      must give the same bytes (oracle);
 *   1  u8 N, then an IMA log: Evidence carrying that log, answered for a
 *      request naming a prefix of N entries of this attester's AK; if the
 *      answer is a tail, it must be the log from entry N, as its own
 *      iterator finds it (oracle); otherwise the Evidence is unchanged.
 * The seed corpus (tests/fuzz/corpus/fuzz_ima_prefix) holds one of each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appraisal/ima.h"
#include "wire/cmw.h"
#include "wire/ima_prefix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A TPMT_PUBLIC of an ECC P-256 signing key (the point is not checked here). */
static void ak_public(struct katls_buf *b)
{
	static const uint8_t head[] = {
		0x00, 0x23, 0x00, 0x0b, 0x00, 0x05, 0x04, 0x72, 0x00, 0x00, 0x00, 0x10,
		0x00, 0x18, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x10, 0x00, 0x20,
	};
	uint8_t coord[32];

	memset(coord, 0x11, sizeof(coord));
	if (katls_put_bytes(b, head, sizeof(head)) || katls_put_bytes(b, coord, 32) ||
	    katls_put_be16(b, 32) || katls_put_bytes(b, coord, 32))
		abort();
}

static void roundtrip(const uint8_t *data, size_t size)
{
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ima_hint h;

	if (katls_ima_hint_parse(data, size, &h))
		return;
	if (katls_ima_hint_encode(&h, &b) || b.len != size + 4 || memcmp(b.data + 4, data, size))
		__builtin_trap();
	katls_buf_cleanup(&b);
}

static void answer(uint8_t n, const uint8_t *log, size_t len)
{
	struct katls_ea_request_params rp = { .type = KATLS_HS_CERTIFICATE_REQUEST };
	struct katls_buf cmw = KATLS_BUF_INIT, ext = KATLS_BUF_INIT;
	struct katls_ima_hint h = { .num_entries = n ? n : 1 };
	struct katls_evidence ev, got;
	struct katls_tpm_public pub;
	struct katls_ea_request req;
	struct katls_pcrs pcrs = { .mask = 0x7ff };
	int ret;

	memset(&ev, 0, sizeof(ev));
	ak_public(&ev.ak);
	if (katls_quote_public_parse(ev.ak.data, ev.ak.len, &pub) ||
	    katls_quote_public_name(&pub, h.ak.name, &h.ak.len) ||
	    katls_put_u8(&ev.quote, 1) || katls_put_u8(&ev.quote_sig, 1) ||
	    katls_put_bytes(&ev.aik, h.pcr10, 32) || katls_cmw_pcrs_encode(&pcrs, &ev.pcrs) ||
	    katls_put_bytes(&ev.ima, log, len))
		abort();
	ev.has_ima = true;
	if (katls_cmw_encode(&ev, &cmw) || katls_ima_hint_encode(&h, &ext))
		goto out;
	rp.extra_exts = ext.data;
	rp.extra_exts_len = ext.len;
	if (katls_ea_request_build(&req, &rp))
		abort();
	ret = katls_ima_hint_answer(&req, &cmw);
	if (ret < 0 || katls_cmw_decode(cmw.data, cmw.len, &got))
		__builtin_trap();
	if (ret == 1) {
		struct katls_ima_record rec;
		struct katls_ima_iter it;
		int d = katls_ima_detect_digest_size(log, len);

		if (d < 0 || got.ima_start != h.num_entries)
			__builtin_trap();
		katls_ima_iter_init(&it, log, len, (size_t)d, 0);
		for (uint64_t i = 0; i < h.num_entries; i++)
			if (katls_ima_iter_next(&it, &rec, NULL, 0) != 1)
				__builtin_trap();
		if (got.ima.len != it.c.len || (it.c.len && memcmp(got.ima.data, it.c.p, it.c.len)))
			__builtin_trap();
	} else if (got.ima_start || got.ima.len != len || (len && memcmp(got.ima.data, log, len))) {
		__builtin_trap();
	}
	katls_cmw_cleanup(&got);
	katls_ea_request_cleanup(&req);
out:
	katls_cmw_cleanup(&ev);
	katls_buf_cleanup(&cmw);
	katls_buf_cleanup(&ext);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 0)
		roundtrip(data + 1, size - 1);
	else if (data[0] == 1 && size >= 2)
		answer(data[1], data + 2, size - 2);
	return 0;
}
