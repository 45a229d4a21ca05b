// SPDX-License-Identifier: MIT
/*
 * IMA binary measurement lists (PROTOCOL.md §5): record and field parsing,
 * template digests, PCR replay and the verification coordinator.
 *
 * Parsing never copies: records are views into the caller's buffer.  The
 * replay keeps one EVP_MD_CTX and pre-fetched EVP_MDs, so verifying a log
 * costs two or three small hashes per record and no allocation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "appraisal/ima.h"
#include "appraisal/policy.h"
#include "katls.h"
#include "util/algs.h"

#define TEMPLATE_NAME_MAX	15	/* IMA_TEMPLATE_NAME_LEN_MAX */
#define OLD_DIGEST_LEN		20	/* template "ima": d is SHA-1/MD5 padded */
#define OLD_NAME_HASHED		256	/* IMA_EVENT_NAME_LEN_MAX + 1 */
#define HASH_NAME_MAX		31
#define SIG_HDR_LEN		9	/* type, version, hash, keyid[4], size be16 */

static const struct {
	const char *name;
	size_t name_len;
	size_t size;
	uint16_t tpm_alg;
	uint32_t kernel_algo;		/* enum hash_algo, linux/hash_info.h */
} hashes[KATLS_IMA_NUM_HASHES] = {
	[KATLS_IMA_SHA1]	= { "sha1",   4, 20, 0x0004, 2 },
	[KATLS_IMA_SHA256]	= { "sha256", 6, 32, 0x000b, 4 },
	[KATLS_IMA_SHA384]	= { "sha384", 6, 48, 0x000c, 5 },
	[KATLS_IMA_SHA512]	= { "sha512", 6, 64, 0x000d, 6 },
};

/* Other kernel hash_algo_name[] entries, to check d-ng digest sizes. */
static const struct {
	const char *name;
	size_t size;
} other_hashes[] = {
	{ "md4", 16 }, { "md5", 16 }, { "rmd160", 20 }, { "rmd256", 32 },
	{ "rmd320", 40 }, { "sha224", 28 }, { "wp256", 32 }, { "wp384", 48 },
	{ "wp512", 64 }, { "tgr128", 16 }, { "tgr160", 20 }, { "tgr192", 24 },
	{ "sm3", 32 }, { "sm3-256", 32 }, { "streebog256", 32 },
	{ "streebog512", 64 }, { "sha3-256", 32 }, { "sha3-384", 48 },
	{ "sha3-512", 64 },
};

enum field { F_D_NG, F_D_NGV2, F_N_NG, F_SIG, F_BUF, F_D_MODSIG, F_MODSIG };

#define TPL(name) name, sizeof(name) - 1
static const struct {
	const char *name;
	size_t name_len;
	unsigned int num_fields;
	enum field fields[5];
} templates[KATLS_IMA_NUM_TEMPLATES] = {
	[KATLS_IMA_TPL_IMA]	= { TPL("ima"), 0, { 0 } },	/* parsed separately */
	[KATLS_IMA_TPL_NG]	= { TPL("ima-ng"), 2, { F_D_NG, F_N_NG } },
	[KATLS_IMA_TPL_SIG]	= { TPL("ima-sig"), 3, { F_D_NG, F_N_NG, F_SIG } },
	[KATLS_IMA_TPL_BUF]	= { TPL("ima-buf"), 3, { F_D_NG, F_N_NG, F_BUF } },
	[KATLS_IMA_TPL_MODSIG]	= { TPL("ima-modsig"), 5,
				    { F_D_NG, F_N_NG, F_SIG, F_D_MODSIG, F_MODSIG } },
	[KATLS_IMA_TPL_SIGV2]	= { TPL("ima-sigv2"), 3, { F_D_NGV2, F_N_NG, F_SIG } },
	[KATLS_IMA_TPL_NGV2]	= { TPL("ima-ngv2"), 2, { F_D_NGV2, F_N_NG } },
};

size_t katls_ima_hash_size(unsigned int alg)
{
	return alg < KATLS_IMA_NUM_HASHES ? hashes[alg].size : 0;
}

const char *katls_ima_hash_name(unsigned int alg)
{
	return alg < KATLS_IMA_NUM_HASHES ? hashes[alg].name : "?";
}

int katls_ima_hash_from_name(const char *name, size_t len)
{
	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++)
		if (hashes[i].name_len == len && !memcmp(hashes[i].name, name, len))
			return (int)i;
	return -ENOENT;
}

int katls_ima_hash_from_tpm_alg(uint16_t tpm_alg)
{
	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++)
		if (hashes[i].tpm_alg == tpm_alg)
			return (int)i;
	return -ENOENT;
}

int katls_ima_hash_from_kernel_algo(uint32_t algo)
{
	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++)
		if (hashes[i].kernel_algo == algo)
			return (int)i;
	return -ENOENT;
}

const char *katls_ima_template_name(unsigned int tpl)
{
	return tpl < KATLS_IMA_NUM_TEMPLATES ? templates[tpl].name : "?";
}

static int hash_of_size(size_t size)
{
	for (unsigned int i = 0; i < KATLS_IMA_NUM_HASHES; i++)
		if (hashes[i].size == size)
			return (int)i;
	return -1;
}

/* Size of a kernel hash algorithm name, 0 if unknown. */
static size_t known_hash_size(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(other_hashes) / sizeof(other_hashes[0]); i++)
		if (strlen(other_hashes[i].name) == len &&
		    !memcmp(other_hashes[i].name, name, len))
			return other_hashes[i].size;
	return 0;
}

char *katls_ima_format_hex(char *out, size_t out_len, const uint8_t *in, size_t in_len)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;

	if (!out_len)
		return out;
	for (size_t i = 0; i < in_len && o + 2 < out_len; i++) {
		out[o++] = digits[in[i] >> 4];
		out[o++] = digits[in[i] & 15];
	}
	out[o] = '\0';
	return out;
}

/* Printable, bounded copy of untrusted text for messages. */
static const char *printable(char *out, size_t out_len, const char *in, size_t in_len)
{
	size_t o = 0, i;

	for (i = 0; i < in_len && o + 4 < out_len; i++) {
		unsigned char ch = (unsigned char)in[i];

		out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (i < in_len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ---- record parsing ---------------------------------------------------- */

struct pctx {
	const struct katls_ima_record *rec;
	char *msg;
	size_t msg_len;
};

__attribute__((format(printf, 3, 4)))
static int bad(const struct pctx *p, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->msg || !p->msg_len)
		return err;
	n = snprintf(p->msg, p->msg_len, "IMA entry %u (offset %zu): ",
		     p->rec->index, p->rec->offset);
	if (n < 0 || (size_t)n >= p->msg_len)
		return err;
	va_start(ap, fmt);
	vsnprintf(p->msg + n, p->msg_len - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}

bool katls_ima_digest_is_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static bool hash_name_ok(const char *s, size_t len)
{
	if (!len || len > HASH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/*
 * "<alg>:" 00 digest (d-ng), or "<type>:<alg>:" 00 digest (d-ngv2).  A
 * violation's digest is zeros of a size that varied across kernels.
 */
static int parse_dng(const struct pctx *p, const uint8_t *f, size_t len, bool v2,
		     struct katls_ima_record *rec)
{
	const char *s = (const char *)f;
	const uint8_t *sep = memchr(f, ':', len);
	size_t alg_off = 0, alg_len, dlen, want;

	if (v2) {
		size_t tlen = sep ? (size_t)(sep - f) : 0;

		if (!sep || !((tlen == 3 && !memcmp(s, "ima", 3)) ||
			      (tlen == 6 && !memcmp(s, "verity", 6))))
			return bad(p, -EBADMSG, "d-ngv2 digest type is not ima: or verity:");
		rec->digest_type = s;
		rec->digest_type_len = tlen;
		alg_off = tlen + 1;
		sep = memchr(f + alg_off, ':', len - alg_off);
	}
	if (!sep || (size_t)(sep - f) + 1 >= len || sep[1] != 0)
		return bad(p, -EBADMSG, "d-ng field lacks the \"<alg>:\\0\" prefix");
	alg_len = (size_t)(sep - f) - alg_off;
	if (!hash_name_ok(s + alg_off, alg_len))
		return bad(p, -EBADMSG, "d-ng hash algorithm name is malformed");
	dlen = len - (alg_off + alg_len + 2);
	if (dlen > KATLS_IMA_MAX_DIGEST)
		return bad(p, -EBADMSG, "d-ng digest of %zu bytes is too long", dlen);
	rec->hash = katls_ima_hash_from_name(s + alg_off, alg_len);
	want = rec->hash >= 0 ? hashes[rec->hash].size : known_hash_size(s + alg_off, alg_len);
	if (rec->hash < 0)
		rec->hash = -1;
	if (!(rec->violation && katls_ima_digest_is_zero(sep + 2, dlen)) &&
	    (!dlen || (want && dlen != want)))
		return bad(p, -EBADMSG, "d-ng %.*s digest has %zu bytes, expected %zu",
			   (int)alg_len, s + alg_off, dlen, want);
	rec->hash_name = s + alg_off;
	rec->hash_name_len = alg_len;
	rec->file_digest = sep + 2;
	rec->file_digest_len = dlen;
	return 0;
}

static int parse_nng(const struct pctx *p, const uint8_t *f, size_t len,
		     struct katls_ima_record *rec)
{
	if (!len || len > KATLS_IMA_MAX_NNG)
		return bad(p, -EBADMSG, "n-ng field of %zu bytes (1..%u allowed)",
			   len, KATLS_IMA_MAX_NNG);
	if (f[len - 1] != 0 || memchr(f, 0, len - 1))
		return bad(p, -EBADMSG, "n-ng field is not one NUL-terminated string");
	rec->path = (const char *)f;
	rec->path_len = len - 1;
	rec->path_terminated = true;
	return 0;
}

/* security.ima / EVM portable signature: signature_v2_hdr + signature. */
static int parse_sig(const struct pctx *p, const uint8_t *f, size_t len,
		     struct katls_ima_record *rec)
{
	if (len) {
		size_t sig_size;

		if (len < SIG_HDR_LEN)
			return bad(p, -EBADMSG, "sig field of %zu bytes is shorter than its header",
				   len);
		if (f[0] != 3 && f[0] != 5 && f[0] != 6)
			return bad(p, -EBADMSG, "sig field has unknown type %u", f[0]);
		sig_size = (size_t)f[7] << 8 | f[8];
		if (SIG_HDR_LEN + sig_size != len)
			return bad(p, -EBADMSG, "sig field length %zu != header 9 + %zu",
				   len, sig_size);
	}
	rec->sig = f;
	rec->sig_len = len;
	return 0;
}

static int parse_field(const struct pctx *p, enum field id, const uint8_t *f, size_t len,
		       struct katls_ima_record *rec)
{
	struct katls_ima_record scratch;

	switch (id) {
	case F_D_NG:
		return parse_dng(p, f, len, false, rec);
	case F_D_NGV2:
		return parse_dng(p, f, len, true, rec);
	case F_N_NG:
		return parse_nng(p, f, len, rec);
	case F_SIG:
		return parse_sig(p, f, len, rec);
	case F_BUF:
	case F_MODSIG:
		rec->buf = f;
		rec->buf_len = len;
		return 0;
	case F_D_MODSIG:
		/* Empty unless the file carries an appended signature. */
		scratch = *rec;
		scratch.violation = false;
		return len ? parse_dng(p, f, len, false, &scratch) : 0;
	default:
		return bad(p, -EBADMSG, "internal: unknown field");
	}
}

static int parse_fields(const struct pctx *p, struct katls_cursor *c,
			struct katls_ima_record *rec)
{
	for (unsigned int i = 0; i < templates[rec->tpl].num_fields; i++) {
		const uint8_t *f;
		uint32_t len;
		int ret;

		if (katls_get_le32(c, &len) || katls_get_bytes(c, len, &f))
			return bad(p, -EBADMSG, "%s field %u truncated",
				   templates[rec->tpl].name, i + 1);
		ret = parse_field(p, templates[rec->tpl].fields[i], f, len, rec);
		if (ret)
			return ret;
	}
	if (katls_get_end(c))
		return bad(p, -EBADMSG, "%zu trailing bytes in template data", c->len);
	return 0;
}

/* Template "ima": d[20] (no length), then u32 strlen + name (no NUL). */
static int parse_old(const struct pctx *p, struct katls_cursor *c, struct katls_ima_record *rec)
{
	const uint8_t *start = c->p, *d, *name;
	uint32_t len;

	if (katls_get_bytes(c, OLD_DIGEST_LEN, &d) || katls_get_le32(c, &len))
		return bad(p, -EBADMSG, "ima template data truncated");
	if (len > KATLS_IMA_MAX_OLD_NAME)
		return bad(p, -EBADMSG, "ima template name of %u bytes (max 255)", len);
	if (katls_get_bytes(c, len, &name))
		return bad(p, -EBADMSG, "ima template name truncated");
	if (memchr(name, 0, len))
		return bad(p, -EBADMSG, "ima template name contains NUL");
	rec->data = start;
	rec->data_len = OLD_DIGEST_LEN + 4 + len;
	rec->hash_name = "sha1";
	rec->hash_name_len = 4;
	rec->hash = KATLS_IMA_SHA1;
	rec->file_digest = d;
	rec->file_digest_len = OLD_DIGEST_LEN;
	rec->path = (const char *)name;
	rec->path_len = len;
	rec->path_terminated = false;
	return 0;
}

static int lookup_template(const struct pctx *p, const uint8_t *name, uint32_t len)
{
	char shown[2 * TEMPLATE_NAME_MAX];

	for (unsigned int i = 0; i < KATLS_IMA_NUM_TEMPLATES; i++)
		if (templates[i].name_len == len && !memcmp(templates[i].name, name, len))
			return (int)i;
	return bad(p, -EOPNOTSUPP, "unknown IMA template \"%s\"",
		   printable(shown, sizeof(shown), (const char *)name, len));
}

static int parse_header(const struct pctx *p, struct katls_cursor *c, size_t dsize,
			struct katls_ima_record *rec)
{
	const uint8_t *name;
	uint32_t name_len;
	int tpl;

	if (katls_get_le32(c, &rec->pcr) || katls_get_bytes(c, dsize, &rec->digest) ||
	    katls_get_le32(c, &name_len))
		return bad(p, -EBADMSG, "record header truncated");
	rec->digest_len = dsize;
	rec->violation = katls_ima_digest_is_zero(rec->digest, dsize);
	if (rec->pcr >= KATLS_IMA_NUM_PCRS)
		return bad(p, -EBADMSG, "PCR %u out of range", rec->pcr);
	if (!name_len || name_len > TEMPLATE_NAME_MAX)
		return bad(p, -EBADMSG, "template name length %u (1..%u allowed)",
			   name_len, TEMPLATE_NAME_MAX);
	if (katls_get_bytes(c, name_len, &name))
		return bad(p, -EBADMSG, "template name truncated");
	tpl = lookup_template(p, name, name_len);
	if (tpl < 0)
		return tpl;
	rec->tpl = (unsigned int)tpl;
	return 0;
}

void katls_ima_iter_init(struct katls_ima_iter *it, const uint8_t *in, size_t in_len,
			 size_t digest_size, uint32_t start_index)
{
	katls_cursor_init(&it->c, in, in_len);
	it->base = in;
	it->digest_size = digest_size;
	it->index = start_index;
}

int katls_ima_iter_next(struct katls_ima_iter *it, struct katls_ima_record *out,
			char *msg, size_t msg_len)
{
	struct katls_cursor c = it->c, data;
	struct pctx p = { out, msg, msg_len };
	uint32_t len;
	int ret;

	if (!c.len)
		return 0;
	memset(out, 0, sizeof(*out));
	out->index = it->index;
	out->offset = (size_t)(c.p - it->base);
	out->hash = -1;
	if (hash_of_size(it->digest_size) < 0)
		return bad(&p, -EINVAL, "template digest size %zu unsupported", it->digest_size);
	ret = parse_header(&p, &c, it->digest_size, out);
	if (ret)
		return ret;
	if (out->tpl == KATLS_IMA_TPL_IMA) {
		ret = parse_old(&p, &c, out);
	} else {
		if (katls_get_le32(&c, &len))
			return bad(&p, -EBADMSG, "template data length truncated");
		if (len > KATLS_IMA_MAX_DATA)
			return bad(&p, -EBADMSG, "template data of %u bytes is too large", len);
		if (katls_get_bytes(&c, len, &out->data))
			return bad(&p, -EBADMSG, "template data truncated (%u bytes, %zu left)",
				   len, c.len);
		out->data_len = len;
		katls_cursor_init(&data, out->data, len);
		ret = parse_fields(&p, &data, out);
	}
	if (ret)
		return ret;
	it->c = c;
	it->index++;
	return 1;
}

int katls_ima_detect_digest_size(const uint8_t *in, size_t in_len)
{
	static const size_t sizes[] = { 32, 20, 48, 64 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct katls_ima_record rec;
		struct katls_ima_iter it;

		katls_ima_iter_init(&it, in, in_len, sizes[i], 0);
		if (katls_ima_iter_next(&it, &rec, NULL, 0) == 1)
			return (int)sizes[i];
	}
	return -EBADMSG;
}

/* ---- template digests and replay --------------------------------------- */

static const uint8_t zeros[OLD_NAME_HASHED];

static int hash_record(EVP_MD_CTX *ctx, const EVP_MD *md, const struct katls_ima_record *rec,
		       uint8_t *out)
{
	int ok = EVP_DigestInit_ex2(ctx, md, NULL);

	if (rec->tpl == KATLS_IMA_TPL_IMA) {
		/* H(d[20] || name zero-padded to 256 bytes), no lengths. */
		ok = ok && EVP_DigestUpdate(ctx, rec->file_digest, OLD_DIGEST_LEN) &&
		     EVP_DigestUpdate(ctx, rec->path, rec->path_len) &&
		     EVP_DigestUpdate(ctx, zeros, OLD_NAME_HASHED - rec->path_len);
	} else {
		ok = ok && EVP_DigestUpdate(ctx, rec->data, rec->data_len);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	return ok ? 0 : -ENOMEM;
}

int katls_ima_template_digest(const struct katls_ima_record *rec, unsigned int alg,
			      uint8_t *out)
{
	const EVP_MD *md = katls_md(alg);
	EVP_MD_CTX *ctx;
	int ret = -ENOMEM;

	if (alg >= KATLS_IMA_NUM_HASHES || rec->tpl >= KATLS_IMA_NUM_TEMPLATES ||
	    (rec->tpl == KATLS_IMA_TPL_IMA && rec->path_len > KATLS_IMA_MAX_OLD_NAME))
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (md && ctx)
		ret = hash_record(ctx, md, rec, out);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int katls_ima_boot_aggregate(unsigned int alg, const uint8_t *pcrs, size_t num_pcrs,
			     uint8_t *out)
{
	const EVP_MD *md = katls_md(alg);

	if (alg >= KATLS_IMA_NUM_HASHES || num_pcrs > KATLS_IMA_NUM_PCRS)
		return -EINVAL;
	return md && EVP_Digest(pcrs, num_pcrs * hashes[alg].size, out, NULL, md, NULL) ?
	       0 : -ENOMEM;
}

int katls_ima_replay_init(struct katls_ima_replay *r, unsigned int bank, size_t digest_size)
{
	int check = hash_of_size(digest_size);

	memset(r, 0, sizeof(*r));
	if (bank >= KATLS_IMA_NUM_HASHES || check < 0)
		return -EINVAL;
	r->bank = bank;
	r->bank_size = hashes[bank].size;
	r->digest_size = digest_size;
	r->ctx = EVP_MD_CTX_new();
	r->md_bank = katls_md(bank);
	if ((unsigned int)check != bank)
		r->md_check = katls_md((unsigned int)check);
	if (!r->ctx || !r->md_bank || ((unsigned int)check != bank && !r->md_check)) {
		katls_ima_replay_cleanup(r);
		return -ENOMEM;
	}
	return 0;
}

void katls_ima_replay_cleanup(struct katls_ima_replay *r)
{
	if (!r)
		return;
	EVP_MD_CTX_free(r->ctx);
	r->ctx = NULL;
	r->md_bank = r->md_check = NULL;
}

static int extend(struct katls_ima_replay *r, uint32_t pcr, const uint8_t *v)
{
	uint8_t *val = r->pcr[pcr];
	int ok = EVP_DigestInit_ex2(r->ctx, r->md_bank, NULL) &&
		 EVP_DigestUpdate(r->ctx, val, r->bank_size) &&
		 EVP_DigestUpdate(r->ctx, v, r->bank_size) &&
		 EVP_DigestFinal_ex(r->ctx, val, NULL);

	r->num_extends[pcr]++;
	return ok ? 0 : -ENOMEM;
}

static void path_of(char *out, size_t out_len, const struct katls_ima_record *rec)
{
	printable(out, out_len, rec->path, rec->path_len);
}

int katls_ima_replay_extend(struct katls_ima_replay *r, const struct katls_ima_record *rec,
			    char *msg, size_t msg_len)
{
	uint8_t v[KATLS_IMA_MAX_DIGEST], chk[KATLS_IMA_MAX_DIGEST];
	const uint8_t *cmp = v;
	char path[128], h1[2 * KATLS_IMA_MAX_DIGEST + 1], h2[sizeof(h1)];
	int ret;

	if (rec->pcr >= KATLS_IMA_NUM_PCRS)
		return -ERANGE;
	if (rec->digest_len != r->digest_size)
		return -EINVAL;
	if (rec->violation) {
		memset(v, 0xff, r->bank_size);
		return extend(r, rec->pcr, v);
	}
	ret = hash_record(r->ctx, r->md_bank, rec, v);
	if (!ret && r->md_check) {
		ret = hash_record(r->ctx, r->md_check, rec, chk);
		cmp = chk;
	}
	if (ret)
		return ret;
	if (memcmp(cmp, rec->digest, r->digest_size)) {
		if (msg && msg_len) {
			path_of(path, sizeof(path), rec);
			snprintf(msg, msg_len, "IMA entry %u %s: stored template digest %s "
				 "does not match recomputed %s", rec->index, path,
				 katls_ima_format_hex(h1, sizeof(h1), rec->digest, rec->digest_len),
				 katls_ima_format_hex(h2, sizeof(h2), cmp, r->digest_size));
		}
		return -EACCES;
	}
	return extend(r, rec->pcr, v);
}

/* ---- verification coordinator ------------------------------------------ */

struct vstate {
	const struct katls_ima_verify_in *in;
	struct katls_ima_verify_out *out;
	struct katls_ima_replay r;
	bool matched;
	bool appraisal_failed;
	bool boot_failed;
	uint32_t processed;		/* records replayed before the match */
	size_t consumed;		/* bytes of the log up to the record at hand */
	uint32_t fail_index;
	char fail_msg[sizeof(((struct katls_ima_verify_out *)0)->msg)];
	char boot_msg[sizeof(((struct katls_ima_verify_out *)0)->msg)];
};

__attribute__((format(printf, 4, 5)))
static int fail(struct katls_ima_verify_out *out, int err, unsigned int reason,
		const char *fmt, ...)
{
	va_list ap;

	out->reason = reason;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	return err;
}

static int check_args(const struct katls_ima_verify_in *in, struct katls_ima_verify_out *out)
{
	if (in->bank >= KATLS_IMA_NUM_HASHES || hash_of_size(in->digest_size) < 0)
		return fail(out, -EINVAL, KATLS_R_INTERNAL,
			    "IMA: unsupported bank %u or template digest size %zu",
			    in->bank, in->digest_size);
	if (in->pcr_index >= KATLS_IMA_NUM_PCRS || (!in->log && in->log_len))
		return fail(out, -EINVAL, KATLS_R_INTERNAL, "IMA: bad PCR index or log");
	if (in->start_index && !in->start_pcr)
		return fail(out, -EINVAL, KATLS_R_INTERNAL,
			    "IMA: log starts at entry %u but no starting PCR value given",
			    in->start_index);
	if (in->boot_aggregate && (in->start_index ||
				   in->boot_aggregate_len != hashes[in->bank].size))
		return fail(out, -EINVAL, KATLS_R_INTERNAL,
			    "IMA: a boot_aggregate is expected of a whole log, %zu bytes of the "
			    "%s bank", hashes[in->bank].size, hashes[in->bank].name);
	return 0;
}

static bool is_boot_aggregate(const struct katls_ima_record *rec)
{
	return rec->index == 0 && rec->path_len == 14 &&
	       !memcmp(rec->path, "boot_aggregate", 14);
}

static void describe(char *out, size_t out_len, const struct katls_ima_record *rec)
{
	char path[160], hex[2 * KATLS_IMA_MAX_DIGEST + 1], alg[HASH_NAME_MAX + 1];

	path_of(path, sizeof(path), rec);
	printable(alg, sizeof(alg), rec->hash_name, rec->hash_name_len);
	snprintf(out, out_len, "IMA entry %u %s digest %s:%s", rec->index, path, alg,
		 katls_ima_format_hex(hex, sizeof(hex), rec->file_digest, rec->file_digest_len));
}

__attribute__((format(printf, 3, 4)))
static int appraisal_failure(struct vstate *s, const struct katls_ima_record *rec,
			     const char *fmt, ...)
{
	char what[sizeof(s->fail_msg)];
	va_list ap;
	size_t n;

	s->appraisal_failed = true;
	s->fail_index = rec->index;
	describe(what, sizeof(what), rec);
	n = (size_t)snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", what);
	if (n < sizeof(s->fail_msg)) {
		va_start(ap, fmt);
		vsnprintf(s->fail_msg + n, sizeof(s->fail_msg) - n, fmt, ap);
		va_end(ap);
	}
	return -EACCES;
}

/*
 * Entry 0 ties the log to the measured boot: it must be boot_aggregate, a
 * real measurement (not a violation, whose fields no digest covers), of the
 * quoted bank's algorithm and size, equal to the expected hash of PCRs 0-9.
 * A boot_aggregate of another algorithm (ima_hash=sha1 hashes the SHA-1
 * bank's PCRs 0-7) is over PCR values nobody quoted: refused, not skipped.
 * Records the first problem in s->boot_msg; finish() reports it.
 */
__attribute__((format(printf, 3, 4)))
static void boot_failure(struct vstate *s, const struct katls_ima_record *rec,
			 const char *fmt, ...)
{
	char path[64];
	va_list ap;
	int n;

	path_of(path, sizeof(path), rec);
	n = snprintf(s->boot_msg, sizeof(s->boot_msg), "IMA boot_aggregate: entry 0 (%s) ", path);
	if (n > 0 && (size_t)n < sizeof(s->boot_msg)) {
		va_start(ap, fmt);
		vsnprintf(s->boot_msg + n, sizeof(s->boot_msg) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	s->boot_failed = true;
}

static void check_boot_aggregate(struct vstate *s, const struct katls_ima_record *rec)
{
	const struct katls_ima_verify_in *in = s->in;
	char alg[HASH_NAME_MAX + 1];

	printable(alg, sizeof(alg), rec->hash_name, rec->hash_name_len);
	if (!is_boot_aggregate(rec))
		boot_failure(s, rec, "is not boot_aggregate: the log does not start at this boot");
	else if (rec->violation)
		boot_failure(s, rec, "is a violation record: its digest covers nothing");
	else if (rec->hash != (int)in->bank || rec->file_digest_len != in->boot_aggregate_len ||
		 (rec->digest_type && !(rec->digest_type_len == 3 &&
					!memcmp(rec->digest_type, "ima", 3))))
		boot_failure(s, rec, "is a %s digest of %zu bytes, the quoted PCRs are the %s bank "
			     "(%zu bytes): the attester's IMA hashes another bank (ima_hash=%s?), "
			     "which the quote does not cover", alg, rec->file_digest_len,
			     hashes[in->bank].name, in->boot_aggregate_len, alg);
	else if (memcmp(rec->file_digest, in->boot_aggregate, in->boot_aggregate_len))
		boot_failure(s, rec, "does not match the quoted boot PCRs 0-9 (%s): the log is "
			     "from another boot or machine", hashes[in->bank].name);
}

static int appraise(struct vstate *s, const struct katls_ima_record *rec)
{
	const struct katls_ima_verify_in *in = s->in;
	const char *map = "digests";
	int verdict;

	if (is_boot_aggregate(rec))
		return 0;	/* check_boot_aggregate(), when the caller expects one */
	if (rec->violation) {
		s->out->num_violations++;
		/* A violation's fields are not covered by any digest: never appraise them. */
		if (!in->policy || (in->flags & KATLS_IMA_ALLOW_VIOLATIONS))
			return 0;
		return appraisal_failure(s, rec, " is a measurement violation "
					 "(ToMToU/open-writers) and the policy allows none");
	}
	if (!in->policy)
		return 0;
	verdict = katls_runtime_policy_check(in->policy, rec, &map);
	switch (verdict) {
	case KATLS_RP_MATCH:
	case KATLS_RP_EXCLUDED:
	case KATLS_RP_IGNORED:
		return 0;
	case KATLS_RP_NO_ENTRY:
		return appraisal_failure(s, rec, " not in allowlist (no %s entry for the path)",
					 map);
	case KATLS_RP_MISMATCH:
		return appraisal_failure(s, rec, " not in allowlist (%s lists other digests)", map);
	default:
		return appraisal_failure(s, rec, " not in allowlist");
	}
}

static bool at_quote(const struct vstate *s)
{
	return s->in->quoted_pcr &&
	       !memcmp(s->r.pcr[s->in->pcr_index], s->in->quoted_pcr, s->r.bank_size);
}

static void mark_covered(struct vstate *s)
{
	s->matched = true;
	s->out->num_covered = s->processed;
	s->out->covered_len = s->consumed;
	memcpy(s->out->pcr, s->r.pcr[s->in->pcr_index], s->r.bank_size);
}

/* After each record replayed: the IMA PCR at the caller's checkpoint. */
static void at_checkpoint(struct vstate *s)
{
	const struct katls_ima_verify_in *in = s->in;

	if (in->checkpoint && in->checkpoint == in->start_index + s->processed) {
		s->out->has_checkpoint = true;
		memcpy(s->out->checkpoint_pcr, s->r.pcr[in->pcr_index], s->r.bank_size);
	}
}

static int step(struct vstate *s, const struct katls_ima_record *rec)
{
	const struct katls_ima_verify_in *in = s->in;
	struct katls_ima_verify_out *out = s->out;
	int ret;

	out->num_records++;
	if (in->policy && !s->matched)
		katls_runtime_policy_prefetch(in->policy, rec);	/* hidden by the hashing */
	ret = katls_ima_replay_extend(&s->r, rec, out->msg, sizeof(out->msg));
	if (ret) {
		out->fail_index = rec->index;
		out->reason = ret == -EACCES ? KATLS_R_IMA_REPLAY : KATLS_R_INTERNAL;
		return ret;
	}
	if (rec->pcr != in->pcr_index && !(in->flags & KATLS_IMA_OTHER_PCRS)) {
		out->fail_index = rec->index;
		return fail(out, -EACCES, KATLS_R_IMA_REPLAY,
			    "IMA entry %u extends PCR %u, not the IMA PCR %u",
			    rec->index, rec->pcr, in->pcr_index);
	}
	if (s->matched)
		return 0;	/* logged but not yet covered by the quote */
	s->processed++;
	if (rec->index == 0 && in->boot_aggregate)
		check_boot_aggregate(s, rec);
	if (rec->pcr == in->pcr_index && !s->appraisal_failed)
		appraise(s, rec);
	at_checkpoint(s);
	if (at_quote(s))
		mark_covered(s);
	return 0;
}

static int finish(struct vstate *s)
{
	const struct katls_ima_verify_in *in = s->in;
	struct katls_ima_verify_out *out = s->out;
	char q[2 * KATLS_IMA_MAX_DIGEST + 1], got[sizeof(q)];

	if (!in->quoted_pcr)
		mark_covered(s);
	if (!s->matched)
		return fail(out, -EACCES, KATLS_R_IMA_REPLAY,
			    "the %u IMA log entries from entry %u do not replay to the quoted "
			    "PCR %u %s (log ends at %s): log stale or tampered",
			    out->num_records, in->start_index, in->pcr_index,
			    katls_ima_format_hex(q, sizeof(q), in->quoted_pcr, s->r.bank_size),
			    katls_ima_format_hex(got, sizeof(got), s->r.pcr[in->pcr_index],
						 s->r.bank_size));
	out->next_index = in->start_index + out->num_covered;
	if (in->boot_aggregate && !out->num_covered)
		return fail(out, -EACCES, KATLS_R_IMA_REPLAY,
			    "IMA boot_aggregate: the quote covers none of the %u log entries (PCR %u "
			    "is still at its reset value): entry 0 must be a boot_aggregate the quote "
			    "covers", out->num_records, in->pcr_index);
	if (s->boot_failed) {
		out->fail_index = 0;
		return fail(out, -EACCES, KATLS_R_IMA_REPLAY, "%s", s->boot_msg);
	}
	if (s->appraisal_failed) {
		out->fail_index = s->fail_index;
		return fail(out, -EACCES, KATLS_R_IMA_ALLOWLIST, "%s", s->fail_msg);
	}
	out->reason = KATLS_R_OK;
	snprintf(out->msg, sizeof(out->msg),
		 "IMA: %u entries from entry %u replay to PCR %u (%u more not yet quoted), "
		 "%u violations, %s", out->num_covered, in->start_index, in->pcr_index,
		 out->num_records - out->num_covered, out->num_violations,
		 in->policy ? "all allowed by the runtime policy" : "no runtime policy");
	return 0;
}

int katls_ima_verify(const struct katls_ima_verify_in *in, struct katls_ima_verify_out *out)
{
	struct vstate s = { .in = in, .out = out };
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = check_args(in, out);
	if (ret)
		return ret;
	ret = katls_ima_replay_init(&s.r, in->bank, in->digest_size);
	if (ret)
		return fail(out, ret, KATLS_R_INTERNAL, "IMA: cannot set up %s replay",
			    hashes[in->bank].name);
	if (in->start_pcr)
		memcpy(s.r.pcr[in->pcr_index], in->start_pcr, s.r.bank_size);
	at_checkpoint(&s);
	if (at_quote(&s))
		mark_covered(&s);
	katls_ima_iter_init(&it, in->log, in->log_len, in->digest_size, in->start_index);
	while ((ret = katls_ima_iter_next(&it, &rec, out->msg, sizeof(out->msg))) > 0) {
		s.consumed = (size_t)(it.c.p - it.base);
		ret = step(&s, &rec);
		if (ret)
			goto out;
	}
	if (ret < 0) {
		out->reason = KATLS_R_EVIDENCE_MALFORMED;
		out->fail_index = it.index;
		goto out;
	}
	ret = finish(&s);
out:
	katls_ima_replay_cleanup(&s.r);
	return ret;
}

/* ---- lookups in a verified log ---------------------------------------- */

bool katls_ima_measures_digest(const struct katls_ima_verify_in *in,
			       const struct katls_ima_record *rec, unsigned int alg,
			       const uint8_t *digest, size_t digest_len)
{
	return rec->pcr == in->pcr_index && !rec->violation && rec->tpl != KATLS_IMA_TPL_BUF &&
	       (!rec->digest_type || (rec->digest_type_len == 3 &&
				      !memcmp(rec->digest_type, "ima", 3))) &&
	       rec->hash == (int)alg && rec->file_digest_len == digest_len &&
	       !memcmp(rec->file_digest, digest, digest_len);
}

static bool measures(const struct katls_ima_verify_in *in, const struct katls_ima_record *rec,
		     const char *path, size_t path_len, unsigned int alg, const uint8_t *digest,
		     size_t digest_len)
{
	return katls_ima_measures_digest(in, rec, alg, digest, digest_len) &&
	       rec->path_len == path_len && !memcmp(rec->path, path, path_len);
}

int katls_ima_find_measurement(const struct katls_ima_verify_in *in, uint32_t num_covered,
			       const char *path, unsigned int alg, const uint8_t *digest,
			       size_t digest_len, uint32_t *index)
{
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	size_t path_len;
	int ret;

	if (!in || !path || !digest || !digest_len || alg >= KATLS_IMA_NUM_HASHES)
		return -EINVAL;
	path_len = strlen(path);
	katls_ima_iter_init(&it, in->log, in->log_len, in->digest_size, in->start_index);
	for (uint32_t i = 0; i < num_covered; i++) {
		ret = katls_ima_iter_next(&it, &rec, NULL, 0);
		if (ret <= 0)
			return ret ? ret : -EBADMSG;	/* fewer records than covered */
		if (measures(in, &rec, path, path_len, alg, digest, digest_len)) {
			*index = rec.index;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- encoder ------------------------------------------------------------ */

static int put_field(struct katls_buf *b, const void *p, size_t n)
{
	return katls_put_le32(b, (uint32_t)n) ?: katls_put_bytes(b, p, n);
}

static int put_dng(struct katls_buf *b, const struct katls_ima_entry *e, bool v2)
{
	size_t alg = strlen(e->hash_name), type = v2 ? strlen(e->digest_type) : 0;
	size_t len = (v2 ? type + 1 : 0) + alg + 2 + e->file_digest_len;
	int ret = katls_put_le32(b, (uint32_t)len);

	if (!ret && v2)
		ret = katls_put_bytes(b, e->digest_type, type) ?: katls_put_u8(b, ':');
	return ret ?: katls_put_bytes(b, e->hash_name, alg) ?:
		katls_put_bytes(b, ":", 2) ?:	/* ':' and its NUL */
		katls_put_bytes(b, e->file_digest, e->file_digest_len);
}

static int put_template_data(struct katls_buf *b, const struct katls_ima_entry *e)
{
	bool v2 = e->tpl == KATLS_IMA_TPL_SIGV2 || e->tpl == KATLS_IMA_TPL_NGV2;
	int ret = put_dng(b, e, v2) ?: put_field(b, e->path, strlen(e->path) + 1);

	switch (e->tpl) {
	case KATLS_IMA_TPL_NG:
	case KATLS_IMA_TPL_NGV2:
		return ret;
	case KATLS_IMA_TPL_SIG:
	case KATLS_IMA_TPL_SIGV2:
	case KATLS_IMA_TPL_BUF:
		return ret ?: put_field(b, e->extra, e->extra_len);
	case KATLS_IMA_TPL_MODSIG:	/* no appended signature */
		return ret ?: put_field(b, e->extra, e->extra_len) ?:
			put_field(b, NULL, 0) ?: put_field(b, NULL, 0);
	default:
		return -EINVAL;
	}
}

static int entry_ok(const struct katls_ima_entry *e)
{
	bool v2 = e->tpl == KATLS_IMA_TPL_SIGV2 || e->tpl == KATLS_IMA_TPL_NGV2;

	if (e->tpl >= KATLS_IMA_NUM_TEMPLATES || !e->path || e->pcr >= KATLS_IMA_NUM_PCRS ||
	    (!e->file_digest && e->file_digest_len) || (!e->extra && e->extra_len))
		return -EINVAL;
	if (e->tpl == KATLS_IMA_TPL_IMA)
		return e->file_digest_len == OLD_DIGEST_LEN &&
		       strlen(e->path) <= KATLS_IMA_MAX_OLD_NAME ? 0 : -EINVAL;
	if (!e->hash_name || (v2 && !e->digest_type) ||
	    strlen(e->path) + 1 > KATLS_IMA_MAX_NNG)
		return -EINVAL;
	return 0;
}

int katls_ima_record_encode(struct katls_buf *out, const struct katls_ima_entry *e,
			    size_t digest_size)
{
	const char *name = e->tpl < KATLS_IMA_NUM_TEMPLATES ? templates[e->tpl].name : "";
	int alg = hash_of_size(digest_size);
	size_t start = out->len, dig_off, data_off, len_off = 0;
	struct katls_ima_record rec = { .tpl = e->tpl };
	int ret;

	if (alg < 0 || entry_ok(e))
		return -EINVAL;
	ret = katls_put_le32(out, e->pcr);
	dig_off = out->len;
	ret = ret ?: katls_put_bytes(out, zeros, digest_size) ?:
		put_field(out, name, strlen(name));
	if (!ret && e->tpl != KATLS_IMA_TPL_IMA) {
		len_off = out->len;
		ret = katls_put_le32(out, 0);
	}
	data_off = out->len;
	if (!ret && e->tpl == KATLS_IMA_TPL_IMA)
		ret = katls_put_bytes(out, e->file_digest, OLD_DIGEST_LEN) ?:
			put_field(out, e->path, strlen(e->path));
	else if (!ret)
		ret = put_template_data(out, e);
	if (ret)
		goto undo;
	rec.data = out->data + data_off;
	rec.data_len = out->len - data_off;
	if (len_off) {
		uint32_t n = (uint32_t)rec.data_len;
		uint8_t le[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
				  (uint8_t)(n >> 24) };

		memcpy(out->data + len_off, le, 4);
	}
	rec.file_digest = rec.data;
	rec.path = e->path;
	rec.path_len = strlen(e->path);
	if (!e->violation)
		ret = katls_ima_template_digest(&rec, (unsigned int)alg, out->data + dig_off);
	if (!ret)
		return 0;
undo:
	out->len = start;
	return ret;
}
