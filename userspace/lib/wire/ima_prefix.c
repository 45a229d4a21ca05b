// SPDX-License-Identifier: MIT
/* The katls_ima_prefix request extension and the attester's answer; see ima_prefix.h. */
#include <errno.h>
#include <string.h>

#include "appraisal/ima.h"
#include "wire/cmw.h"
#include "wire/ima_prefix.h"

#define TPM_ALG_SHA256	0x000b

void katls_ima_hint_of(const struct katls_ima_prefix *p, struct katls_ima_hint *out)
{
	out->ak = p->ak;
	out->num_entries = p->num_entries;
	memcpy(out->pcr10, p->pcr10, sizeof(out->pcr10));
}

bool katls_ima_hint_names(const struct katls_ima_hint *h, const struct katls_ima_prefix *p)
{
	return h->ak.len == p->ak.len && !memcmp(h->ak.name, p->ak.name, h->ak.len) &&
	       h->num_entries == p->num_entries && !memcmp(h->pcr10, p->pcr10, 32);
}

int katls_ima_hint_encode(const struct katls_ima_hint *h, struct katls_buf *out)
{
	size_t start = out->len, ext, v;
	int ret = katls_put_be16(out, KATLS_EXT_IMA_PREFIX) ?: katls_vec_begin(out, 2, &ext) ?:
		  katls_vec_begin(out, 1, &v) ?: katls_put_bytes(out, h->ak.name, h->ak.len) ?:
		  katls_vec_end(out, 1, v) ?: katls_put_be64(out, h->num_entries) ?:
		  katls_put_be16(out, TPM_ALG_SHA256) ?: katls_vec_begin(out, 1, &v) ?:
		  katls_put_bytes(out, h->pcr10, sizeof(h->pcr10)) ?: katls_vec_end(out, 1, v) ?:
		  katls_vec_end(out, 2, ext);

	if (ret)
		out->len = start;
	return ret;
}

int katls_ima_hint_parse(const uint8_t *data, size_t len, struct katls_ima_hint *out)
{
	struct katls_cursor c, name, pcr;
	uint16_t bank;

	memset(out, 0, sizeof(*out));
	katls_cursor_init(&c, data, len);
	if (katls_get_vec(&c, 1, &name) || katls_get_be64(&c, &out->num_entries) ||
	    katls_get_be16(&c, &bank) || katls_get_vec(&c, 1, &pcr) || katls_get_end(&c))
		return -EBADMSG;
	if (name.len > sizeof(out->ak.name) || katls_quote_name_check(name.p, name.len) ||
	    !out->num_entries || bank != TPM_ALG_SHA256 || pcr.len != sizeof(out->pcr10))
		return -EBADMSG;
	memcpy(out->ak.name, name.p, name.len);
	out->ak.len = name.len;
	memcpy(out->pcr10, pcr.p, pcr.len);
	return 0;
}

int katls_ima_hint_of_request(const struct katls_ea_request *req, struct katls_ima_hint *out)
{
	const uint8_t *data;
	size_t len;

	if (katls_ea_request_find_ext(req, KATLS_EXT_IMA_PREFIX, &data, &len))
		return -ENOENT;
	return katls_ima_hint_parse(data, len, out);
}

/* Is the "ak" record's TPM Name @name? */
static bool ak_is(const struct katls_evidence *ev, const struct katls_tpm_name *name)
{
	struct katls_tpm_public pub;
	struct katls_tpm_name n;

	return !katls_quote_public_parse(ev->ak.data, ev->ak.len, &pub) &&
	       !katls_quote_public_name(&pub, n.name, &n.len) && n.len == name->len &&
	       !memcmp(n.name, name->name, n.len);
}

/* Byte offset of entry @n of @log, or -ENOENT if the log has fewer entries. */
static int64_t entry_offset(const struct katls_buf *log, uint64_t n)
{
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	int d = katls_ima_detect_digest_size(log->data, log->len);

	if (d < 0)
		return -ENOENT;
	katls_ima_iter_init(&it, log->data, log->len, (size_t)d, 0);
	for (uint64_t i = 0; i < n; i++)
		if (katls_ima_iter_next(&it, &rec, NULL, 0) != 1)
			return -ENOENT;
	return (int64_t)(it.c.p - it.base);
}

int katls_ima_hint_answer(const struct katls_ea_request *req, struct katls_buf *cmw)
{
	struct katls_buf tail = KATLS_BUF_INIT, out = KATLS_BUF_INIT;
	struct katls_ima_hint h;
	struct katls_evidence ev;
	int64_t off;
	int ret = 0;

	if (katls_ima_hint_of_request(req, &h) || katls_cmw_decode(cmw->data, cmw->len, &ev))
		return 0;
	if (!ev.has_ima || ev.ima_start || !ak_is(&ev, &h.ak) ||
	    (off = entry_offset(&ev.ima, h.num_entries)) < 0)
		goto out;
	ret = katls_put_bytes(&tail, ev.ima.data + off, ev.ima.len - (size_t)off);
	if (ret)
		goto out;
	katls_buf_cleanup(&ev.ima);
	ev.ima = tail;
	tail = (struct katls_buf)KATLS_BUF_INIT;
	ev.ima_start = h.num_entries;
	ret = katls_cmw_encode(&ev, &out);
	if (!ret) {
		katls_buf_cleanup(cmw);
		*cmw = out;
		ret = 1;
	}
out:
	katls_buf_cleanup(&tail);
	katls_cmw_cleanup(&ev);
	return ret == -ENOMEM || ret >= 0 ? ret : 0;
}
