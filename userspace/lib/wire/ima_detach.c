// SPDX-License-Identifier: MIT
/*
 * The detached IMA log: frames on the attester's side, split and digest
 * check on the verifier's; see ima_detach.h.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "appraisal/ima.h"
#include "util/algs.h"
#include "wire/ima_detach.h"

/* u64 length || SHA-256 of @log: the "ima-digest" record. */
static int log_digest(const uint8_t *log, size_t len, uint8_t out[KATLS_CMW_IMA_DIGEST_LEN])
{
	for (unsigned int i = 0; i < 8; i++)
		out[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	return EVP_Digest(log, len, out + 8, NULL, katls_md(KATLS_IMA_SHA256), NULL) == 1 ?
	       0 : -ENOMEM;
}

int katls_ima_detach(struct katls_buf *cmw, struct katls_buf *frames)
{
	struct katls_buf out = KATLS_BUF_INIT;
	uint8_t d[KATLS_CMW_IMA_DIGEST_LEN];
	struct katls_evidence ev;
	int ret;

	ret = katls_cmw_decode(cmw->data, cmw->len, &ev);
	if (ret)
		return ret == -ENOMEM ? ret : -EBADMSG;
	if (!ev.has_ima || ev.ima_digest.len) {
		katls_cmw_cleanup(&ev);
		return 0;
	}
	if (ev.ima.len > KATLS_IMA_DETACHED_MAX) {
		katls_cmw_cleanup(&ev);
		return -EMSGSIZE;
	}
	ret = log_digest(ev.ima.data, ev.ima.len, d);
	for (size_t off = 0; !ret && off < ev.ima.len; off += KATLS_IMA_FRAME_CHUNK) {
		size_t n = ev.ima.len - off < KATLS_IMA_FRAME_CHUNK ? ev.ima.len - off :
			   KATLS_IMA_FRAME_CHUNK;

		ret = katls_put_u8(frames, KATLS_FRAME_IMA_LOG) ?:
		      katls_put_be24(frames, (uint32_t)n) ?:
		      katls_put_bytes(frames, ev.ima.data + off, n);
	}
	if (!ret) {
		katls_buf_cleanup(&ev.ima);
		ret = katls_put_bytes(&ev.ima_digest, d, sizeof(d));
	}
	if (!ret)
		ret = katls_cmw_encode(&ev, &out);
	if (!ret) {
		katls_buf_cleanup(cmw);
		*cmw = out;
		ret = 1;
	}
	katls_cmw_cleanup(&ev);
	return ret;
}

int katls_ima_split(const uint8_t *answer, size_t len, struct katls_buf *log,
		    size_t *num_frames, size_t *auth_off)
{
	struct katls_cursor c, body;
	int ret;

	*num_frames = 0;
	katls_cursor_init(&c, answer, len);
	while (c.len && c.p[0] == KATLS_FRAME_IMA_LOG) {
		c.p++;
		c.len--;
		if (katls_get_vec(&c, 3, &body) || !body.len)
			return -EBADMSG;
		if (body.len > KATLS_IMA_DETACHED_MAX - log->len)
			return -EMSGSIZE;
		ret = katls_put_bytes(log, body.p, body.len);
		if (ret)
			return ret;
		++*num_frames;
	}
	*auth_off = len - c.len;
	return 0;
}

int katls_ima_attach(struct katls_evidence *ev, const uint8_t *log, size_t len)
{
	uint8_t d[KATLS_CMW_IMA_DIGEST_LEN];
	int ret;

	if (ev->ima_digest.len != sizeof(d) || ev->ima.len)
		return -EBADMSG;
	ret = log_digest(log, len, d);
	if (ret)
		return ret;
	if (CRYPTO_memcmp(d, ev->ima_digest.data, sizeof(d)))
		return -EBADMSG;
	return katls_put_bytes(&ev->ima, log, len);
}
