// SPDX-License-Identifier: MIT
/*
 * RFC 9261 Exported Authenticators; see ea.h.  The exporter they are keyed
 * from is exporter.c, the expat binder binder.c.
 *
 * Layout: requests (§4), the crc registry, authenticator construction
 * (§5, §6), validation (PROTOCOL.md §1.6).  Parsers read through struct
 * katls_cursor and check every length against what remains; encoders write
 * into struct katls_buf.  HC, FK and derived secrets live on the stack and
 * are wiped on every path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "appraisal/ima.h"
#include "util/algs.h"
#include "wire/ea.h"

#define HS_HDR_LEN	4
#define EXT_SIG_ALGS_CERT	0x0032	/* signature_algorithms_cert */

/* ---- extension blocks ---------------------------------------------------- */

/* One bit per extension type, for duplicate detection. */
struct ext_seen {
	uint8_t bits[65536 / 8];
};

static int next_ext(struct katls_cursor *exts, uint16_t *type,
		    struct katls_cursor *data)
{
	if (katls_get_be16(exts, type) || katls_get_vec(exts, 2, data))
		return -EBADMSG;
	return 0;
}

/*
 * Checks that an extension block is well-formed and has no type twice
 * (RFC 8446 §4.2).  Leaves @seen all-zero again.
 */
static int check_ext_block(struct katls_cursor exts, struct ext_seen *seen)
{
	struct katls_cursor c = exts, data;
	int ret = 0;
	uint16_t t;

	while (c.len) {
		if (next_ext(&c, &t, &data)) {
			ret = -EBADMSG;
			break;
		}
		if (seen->bits[t / 8] & (1u << (t % 8))) {
			ret = -EBADMSG;
			break;
		}
		seen->bits[t / 8] |= (uint8_t)(1u << (t % 8));
	}
	while (exts.len && !next_ext(&exts, &t, &data))
		seen->bits[t / 8] = 0;
	return ret;
}

static bool ext_block_has(struct katls_cursor exts, uint16_t type)
{
	struct katls_cursor data;
	uint16_t t;

	while (exts.len && !next_ext(&exts, &t, &data))
		if (t == type)
			return true;
	return false;
}

/* ---- signature schemes --------------------------------------------------- */

struct scheme {
	uint16_t id;
	const char *key_type;		/* EVP_PKEY_is_a() name */
	int curve;			/* NID for ECDSA, else 0 */
	unsigned int md;		/* enum katls_ima_hash; NO_MD for EdDSA */
	bool pss;
};

#define NO_MD	KATLS_IMA_NUM_HASHES	/* katls_md() gives NULL */

/* TLS 1.3 CertificateVerify schemes only: no PKCS#1 v1.5, no SHA-1. */
static const struct scheme schemes[] = {
	{ KATLS_SIG_ECDSA_P256_SHA256, "EC", NID_X9_62_prime256v1, KATLS_IMA_SHA256, false },
	{ KATLS_SIG_ECDSA_P384_SHA384, "EC", NID_secp384r1, KATLS_IMA_SHA384, false },
	{ KATLS_SIG_ECDSA_P521_SHA512, "EC", NID_secp521r1, KATLS_IMA_SHA512, false },
	{ KATLS_SIG_ED25519, "ED25519", 0, NO_MD, false },
	{ KATLS_SIG_ED448, "ED448", 0, NO_MD, false },
	{ KATLS_SIG_RSA_PSS_RSAE_SHA256, "RSA", 0, KATLS_IMA_SHA256, true },
	{ KATLS_SIG_RSA_PSS_RSAE_SHA384, "RSA", 0, KATLS_IMA_SHA384, true },
	{ KATLS_SIG_RSA_PSS_RSAE_SHA512, "RSA", 0, KATLS_IMA_SHA512, true },
	{ KATLS_SIG_RSA_PSS_PSS_SHA256, "RSA-PSS", 0, KATLS_IMA_SHA256, true },
	{ KATLS_SIG_RSA_PSS_PSS_SHA384, "RSA-PSS", 0, KATLS_IMA_SHA384, true },
	{ KATLS_SIG_RSA_PSS_PSS_SHA512, "RSA-PSS", 0, KATLS_IMA_SHA512, true },
};

#define NUM_SCHEMES	(sizeof(schemes) / sizeof(schemes[0]))

static const struct scheme *find_scheme(uint16_t id)
{
	for (size_t i = 0; i < NUM_SCHEMES; i++)
		if (schemes[i].id == id)
			return &schemes[i];
	return NULL;
}

static int key_curve(EVP_PKEY *key)
{
	char name[64];

	if (EVP_PKEY_get_group_name(key, name, sizeof(name), NULL) != 1)
		return NID_undef;
	return OBJ_txt2nid(name);
}

/* RFC 8446 §4.4.3: the scheme must match the key (and its curve). */
static bool scheme_fits_key(const struct scheme *s, EVP_PKEY *key)
{
	if (!key || !EVP_PKEY_is_a(key, s->key_type))
		return false;
	return !s->curve || key_curve(key) == s->curve;
}

/* ---- requests (RFC 9261 §4) ---------------------------------------------- */

static const uint16_t default_sigalgs[] = {
	KATLS_SIG_ECDSA_P256_SHA256, KATLS_SIG_ECDSA_P384_SHA384,
	KATLS_SIG_ECDSA_P521_SHA512, KATLS_SIG_ED25519, KATLS_SIG_ED448,
	KATLS_SIG_RSA_PSS_RSAE_SHA256, KATLS_SIG_RSA_PSS_RSAE_SHA384,
	KATLS_SIG_RSA_PSS_RSAE_SHA512, KATLS_SIG_RSA_PSS_PSS_SHA256,
	KATLS_SIG_RSA_PSS_PSS_SHA384, KATLS_SIG_RSA_PSS_PSS_SHA512,
};

/* Starts a handshake message of @type: its 3-byte length is patched at @msg. */
static int put_hs_begin(struct katls_buf *b, uint8_t type, size_t *msg)
{
	int ret = katls_put_u8(b, type);

	return ret ?: katls_vec_begin(b, 3, msg);
}

/* put_hs_begin() followed by a certificate_request_context. */
static int put_hs_crc_begin(struct katls_buf *b, uint8_t type, const uint8_t *crc,
			    size_t crc_len, size_t *msg)
{
	int ret = put_hs_begin(b, type, msg);

	if (!ret)
		ret = katls_put_u8(b, (uint8_t)crc_len);
	if (!ret)
		ret = katls_put_bytes(b, crc, crc_len);
	return ret;
}

static int put_sigalgs_ext(struct katls_buf *b, const uint16_t *algs, size_t n)
{
	size_t ext, list;
	int ret;

	ret = katls_put_be16(b, KATLS_EXT_SIGNATURE_ALGORITHMS);
	if (!ret)
		ret = katls_vec_begin(b, 2, &ext);
	if (!ret)
		ret = katls_vec_begin(b, 2, &list);
	for (size_t i = 0; !ret && i < n; i++)
		ret = katls_put_be16(b, algs[i]);
	if (!ret)
		ret = katls_vec_end(b, 2, list);
	if (!ret)
		ret = katls_vec_end(b, 2, ext);
	return ret;
}

static int put_request(struct katls_buf *b, uint8_t type, const uint8_t *crc,
		       size_t crc_len, const uint16_t *algs, size_t num_algs,
		       int cmw_ext, const struct katls_ea_request_params *p)
{
	size_t msg, exts;
	int ret;

	ret = put_hs_crc_begin(b, type, crc, crc_len, &msg);
	if (!ret)
		ret = katls_vec_begin(b, 2, &exts);
	if (!ret)
		ret = put_sigalgs_ext(b, algs, num_algs);
	if (!ret && cmw_ext >= 0)
		ret = katls_put_be16(b, (uint16_t)cmw_ext);
	if (!ret && cmw_ext >= 0)
		ret = katls_put_be16(b, 0);
	if (!ret && p->offer_batch)
		ret = katls_put_be16(b, KATLS_EXT_QUOTE_BATCH);
	if (!ret && p->offer_batch)
		ret = katls_put_be16(b, 0);
	if (!ret && p->offer_ima_detached)
		ret = katls_put_be16(b, KATLS_EXT_IMA_DETACHED);
	if (!ret && p->offer_ima_detached)
		ret = katls_put_be16(b, 0);
	if (!ret && p->extra_exts_len)
		ret = katls_put_bytes(b, p->extra_exts, p->extra_exts_len);
	if (!ret)
		ret = katls_vec_end(b, 2, exts);
	if (!ret)
		ret = katls_vec_end(b, 3, msg);
	return ret;
}

/**
 * katls_ea_request_build() - Build a CertificateRequest/ClientCertificateRequest.
 * @out: the request (raw bytes and parsed view); katls_ea_request_cleanup().
 * @p: parameters; see struct katls_ea_request_params for the defaults.
 *
 * The crc defaults to KATLS_EA_CRC_LEN bytes from RAND_bytes().  Only TLS 1.3
 * signature schemes katls implements may be listed.
 *
 * Return: 0, -EINVAL (bad parameter), -EIO (RNG), -ENOMEM.
 */
int katls_ea_request_build(struct katls_ea_request *out,
			   const struct katls_ea_request_params *p)
{
	struct katls_buf b = KATLS_BUF_INIT;
	uint8_t rnd[KATLS_EA_CRC_LEN];
	const uint8_t *crc = p ? p->crc : NULL;
	size_t crc_len = p ? p->crc_len : 0;
	const uint16_t *algs = default_sigalgs;
	size_t num_algs = NUM_SCHEMES;
	uint8_t type;
	uint16_t cmw;
	int ret;

	if (!out || !p)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	type = p->type ? p->type : KATLS_HS_CERTIFICATE_REQUEST;
	cmw = p->cmw_ext ? p->cmw_ext : KATLS_EXT_CMW_ATTESTATION;
	if (p->sigalgs) {
		algs = p->sigalgs;
		num_algs = p->num_sigalgs;
	}
	if ((type != KATLS_HS_CERTIFICATE_REQUEST &&
	     type != KATLS_HS_CLIENT_CERTIFICATE_REQUEST) ||
	    crc_len > KATLS_EA_CRC_MAX || (!crc && crc_len) || !num_algs ||
	    num_algs > 1024 || (!p->no_cmw && (cmw == KATLS_EXT_SIGNATURE_ALGORITHMS ||
						cmw == KATLS_EXT_QUOTE_BATCH ||
						cmw == KATLS_EXT_IMA_DETACHED)))
		return -EINVAL;
	for (size_t i = 0; i < num_algs; i++)
		if (!find_scheme(algs[i]))
			return -EINVAL;
	if (!crc) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return -EIO;
		crc = rnd;
		crc_len = sizeof(rnd);
	}
	ret = put_request(&b, type, crc, crc_len, algs, num_algs,
			  p->no_cmw ? -1 : cmw, p);
	if (!ret)
		ret = katls_ea_request_parse(out, b.data, b.len, cmw);
	katls_buf_cleanup(&b);
	return ret;
}

static int parse_sigalgs(struct katls_ea_request *req, struct katls_cursor data)
{
	struct katls_cursor list;

	if (katls_get_vec(&data, 2, &list) || katls_get_end(&data) ||
	    list.len < 2 || list.len % 2)
		return -EBADMSG;
	req->sigalgs = list.p;
	req->num_sigalgs = list.len / 2;
	return 0;
}

static int parse_request_exts(struct katls_ea_request *req,
			      struct katls_cursor exts)
{
	struct katls_cursor data;
	struct ext_seen seen = { { 0 } };
	uint16_t t;

	if (check_ext_block(exts, &seen))
		return -EBADMSG;
	while (exts.len) {
		if (next_ext(&exts, &t, &data))
			return -EBADMSG;
		if (t == KATLS_EXT_SIGNATURE_ALGORITHMS && parse_sigalgs(req, data))
			return -EBADMSG;
		if (t == req->cmw_ext) {
			/* katls/1 offers cmw_attestation empty. */
			if (data.len)
				return -EBADMSG;
			req->wants_cmw = true;
		}
	}
	return req->sigalgs ? 0 : -EBADMSG;	/* RFC 9261 §4: MUST */
}

static int parse_request(struct katls_ea_request *req)
{
	struct katls_cursor c, body, crc, exts;

	katls_cursor_init(&c, req->raw.data, req->raw.len);
	if (katls_get_u8(&c, &req->type) || katls_get_vec(&c, 3, &body) ||
	    katls_get_end(&c))
		return -EBADMSG;
	if (req->type != KATLS_HS_CERTIFICATE_REQUEST &&
	    req->type != KATLS_HS_CLIENT_CERTIFICATE_REQUEST)
		return -EBADMSG;
	if (katls_get_vec(&body, 1, &crc) || katls_get_vec(&body, 2, &exts) ||
	    katls_get_end(&body) || exts.len < 2)
		return -EBADMSG;
	req->crc = crc.p;
	req->crc_len = (uint8_t)crc.len;
	req->exts = exts.p;
	req->exts_len = exts.len;
	return parse_request_exts(req, exts);
}

/**
 * katls_ea_request_parse() - Parse one authenticator request.
 * @out: the request; keeps a copy of @in.  katls_ea_request_cleanup().
 * @in: exactly one handshake message, type 0x0d or 0x11, header included.
 * @in_len: its length.
 * @cmw_ext: codepoint of cmw_attestation (0 = KATLS_EXT_CMW_ATTESTATION).
 *
 * Rejects trailing bytes, duplicated extensions, a missing or malformed
 * signature_algorithms and a non-empty cmw_attestation.  Unknown extensions
 * are kept and otherwise ignored.
 *
 * Return: 0, -EBADMSG, -EINVAL or -ENOMEM.
 */
int katls_ea_request_parse(struct katls_ea_request *out, const uint8_t *in,
			   size_t in_len, uint16_t cmw_ext)
{
	int ret;

	if (!out || (!in && in_len) || cmw_ext == KATLS_EXT_SIGNATURE_ALGORITHMS)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->cmw_ext = cmw_ext ? cmw_ext : KATLS_EXT_CMW_ATTESTATION;
	ret = katls_put_bytes(&out->raw, in, in_len);
	if (!ret)
		ret = parse_request(out);
	if (ret)
		katls_ea_request_cleanup(out);
	return ret;
}

/**
 * katls_ea_request_cleanup() - Release a request. NULL-safe.
 * @req: the request; zeroed afterwards.
 */
void katls_ea_request_cleanup(struct katls_ea_request *req)
{
	if (!req)
		return;
	katls_buf_cleanup(&req->raw);
	memset(req, 0, sizeof(*req));
}

/**
 * katls_ea_request_offers() - Whether the request carries an extension.
 * @req: a parsed request.
 * @ext_type: the extension type.
 *
 * Return: true if @ext_type is in the request's extension block.
 */
bool katls_ea_request_offers(const struct katls_ea_request *req,
			     uint16_t ext_type)
{
	struct katls_cursor exts;

	if (!req || !req->exts)
		return false;
	katls_cursor_init(&exts, req->exts, req->exts_len);
	return ext_block_has(exts, ext_type);
}

/**
 * katls_ea_request_find_ext() - The data of one extension of a request.
 * @req: a parsed request (its extension block is well-formed, types unique).
 * @ext_type: the extension.
 * @data, @len: receive its extension_data.
 *
 * Return: 0, or -ENOENT if the request does not carry it.
 */
int katls_ea_request_find_ext(const struct katls_ea_request *req, uint16_t ext_type,
			      const uint8_t **data, size_t *len)
{
	struct katls_cursor exts, d;
	uint16_t t;

	if (!req || !req->exts)
		return -ENOENT;
	katls_cursor_init(&exts, req->exts, req->exts_len);
	while (exts.len && !next_ext(&exts, &t, &d))
		if (t == ext_type) {
			*data = d.p;
			*len = d.len;
			return 0;
		}
	return -ENOENT;
}

/**
 * katls_ea_request_has_sigalg() - Whether signature_algorithms lists @scheme.
 * @req: a parsed request.
 * @scheme: a TLS SignatureScheme.
 *
 * Return: true if listed.
 */
bool katls_ea_request_has_sigalg(const struct katls_ea_request *req,
				 uint16_t scheme)
{
	for (size_t i = 0; req && i < req->num_sigalgs; i++)
		if ((uint16_t)(req->sigalgs[2 * i] << 8 | req->sigalgs[2 * i + 1]) == scheme)
			return true;
	return false;
}

/* ---- crc registry --------------------------------------------------------- */

/**
 * katls_ea_crc_set_init() - Initialise an empty crc registry.
 * @set: the registry, one per connection.
 */
void katls_ea_crc_set_init(struct katls_ea_crc_set *set)
{
	memset(set, 0, sizeof(*set));
}

/**
 * katls_ea_crc_set_cleanup() - Free a crc registry. NULL-safe.
 * @set: the registry.
 */
void katls_ea_crc_set_cleanup(struct katls_ea_crc_set *set)
{
	if (!set)
		return;
	if (set->v)
		OPENSSL_cleanse(set->v, set->cap * sizeof(*set->v));
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/**
 * katls_ea_crc_set_contains() - Whether a crc was already consumed.
 * @set: the registry.
 * @crc: the certificate_request_context.
 * @crc_len: its length.
 *
 * Return: true if present.
 */
bool katls_ea_crc_set_contains(const struct katls_ea_crc_set *set,
			       const uint8_t *crc, size_t crc_len)
{
	for (size_t i = 0; set && i < set->num; i++)
		if (set->v[i].len == crc_len &&
		    (!crc_len || !memcmp(set->v[i].bytes, crc, crc_len)))
			return true;
	return false;
}

/**
 * katls_ea_crc_set_add() - Mark a crc consumed.
 * @set: the registry.
 * @crc: the certificate_request_context.
 * @crc_len: its length (<= KATLS_EA_CRC_MAX).
 *
 * Return: 0, -EEXIST if already present, -EINVAL, -ENOSPC (more than
 * KATLS_EA_CRC_SET_MAX entries), -ENOMEM.
 */
int katls_ea_crc_set_add(struct katls_ea_crc_set *set, const uint8_t *crc,
			 size_t crc_len)
{
	struct katls_ea_crc *v;
	size_t cap;

	if (!set || crc_len > KATLS_EA_CRC_MAX || (!crc && crc_len))
		return -EINVAL;
	if (katls_ea_crc_set_contains(set, crc, crc_len))
		return -EEXIST;
	if (set->num >= KATLS_EA_CRC_SET_MAX)
		return -ENOSPC;
	if (set->num == set->cap) {
		cap = set->cap ? set->cap * 2 : 4;
		v = reallocarray(set->v, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	v = &set->v[set->num++];
	memset(v, 0, sizeof(*v));
	v->len = (uint8_t)crc_len;
	if (crc_len)
		memcpy(v->bytes, crc, crc_len);
	return 0;
}

/* ---- HC, FK and the transcript (RFC 9261 §5.1) ---------------------------- */

struct hs_keys {
	uint8_t hc[EVP_MAX_MD_SIZE];
	uint8_t fk[EVP_MAX_MD_SIZE];
	size_t len;
};

static int derive_keys(const struct katls_exporter *ex, enum katls_role sender,
		       struct hs_keys *k)
{
	const char *hc, *fk;
	int ret, n;

	switch (sender) {
	case KATLS_ROLE_CLIENT:
		hc = "EXPORTER-client authenticator handshake context";
		fk = "EXPORTER-client authenticator finished key";
		break;
	case KATLS_ROLE_SERVER:
		hc = "EXPORTER-server authenticator handshake context";
		fk = "EXPORTER-server authenticator finished key";
		break;
	default:
		return -EINVAL;
	}
	if (!ex || !ex->md)
		return -EINVAL;
	n = EVP_MD_get_size(ex->md);
	if (n <= 0 || n > EVP_MAX_MD_SIZE)
		return -EINVAL;
	k->len = (size_t)n;
	ret = katls_exporter_export(ex, hc, NULL, 0, k->hc, k->len);
	if (!ret)
		ret = katls_exporter_export(ex, fk, NULL, 0, k->fk, k->len);
	if (ret)
		OPENSSL_cleanse(k, sizeof(*k));
	return ret;
}

/* The request as it enters the transcript. */
static void request_bytes(const struct katls_ea_request *req,
			  const uint8_t **p, size_t *len)
{
	*p = req->raw.data;
	*len = req->raw.len;
	if ((req->flags & KATLS_EA_REQ_DRAFT_TRANSCRIPT) && *len >= HS_HDR_LEN) {
		*p += HS_HDR_LEN;
		*len -= HS_HDR_LEN;
	}
}

/*
 * H(HC || request || Certificate) into @before_cv (if not NULL) and, with
 * the CertificateVerify @cv (if not NULL) appended, into @out: one pass over
 * the Certificate, which carries the Evidence (an IMA log of megabytes).
 */
static int transcript(const EVP_MD *md, const struct hs_keys *k,
		      const struct katls_ea_request *req, const uint8_t *cert, size_t cert_len,
		      uint8_t *before_cv, const uint8_t *cv, size_t cv_len,
		      uint8_t *out, unsigned int *out_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *fork = before_cv ? EVP_MD_CTX_new() : NULL;
	const uint8_t *r;
	size_t r_len;
	int ok;

	request_bytes(req, &r, &r_len);
	ok = ctx && (!before_cv || fork) &&
	     EVP_DigestInit_ex(ctx, katls_md_prefetched(md), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, k->hc, k->len) == 1 &&
	     EVP_DigestUpdate(ctx, r, r_len) == 1 &&
	     EVP_DigestUpdate(ctx, cert, cert_len) == 1;
	if (ok && before_cv)
		ok = EVP_MD_CTX_copy_ex(fork, ctx) == 1 &&
		     EVP_DigestFinal_ex(fork, before_cv, NULL) == 1;
	ok = ok && (!cv || EVP_DigestUpdate(ctx, cv, cv_len) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, out_len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(fork);
	return ok ? 0 : -EIO;
}

/* H(HC || request || Certificate [|| CertificateVerify]) */
static int transcript_hash(const EVP_MD *md, const struct hs_keys *k,
			   const struct katls_ea_request *req,
			   const uint8_t *cert, size_t cert_len,
			   const uint8_t *cv, size_t cv_len,
			   uint8_t *out, unsigned int *out_len)
{
	return transcript(md, k, req, cert, cert_len, NULL, cv, cv_len, out, out_len);
}

/* Finished: HMAC-H(FK, transcript), in constant time against @fin. */
static int finished_ok(const EVP_MD *md, const struct hs_keys *k, const uint8_t *th,
		       unsigned int th_len, const struct katls_cursor *fin)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	int ret = 0;

	if (katls_hmac(md, k->fk, k->len, th, th_len, mac, &mac_len))
		ret = -EIO;
	else if (fin->len != mac_len || CRYPTO_memcmp(mac, fin->p, mac_len))
		ret = -EACCES;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

/**
 * katls_ea_finished_compute() - Finished verify_data over given messages.
 * @ex: exporter of the connection.
 * @sender: role of the authenticator's sender (selects HC and FK labels).
 * @req: the request the authenticator answers.
 * @cert: Certificate message, header included (Certificate_empty for §6).
 * @cert_len: its length.
 * @cv: CertificateVerify message, or NULL for the empty authenticator.
 * @cv_len: its length.
 * @out: receives HMAC-H(FK, H(HC || request || Certificate || CV)).
 * @out_len: in: size of @out; out: H.len.
 *
 * Exposed for vector tests and interop checks; build and validate use it.
 *
 * Return: 0, -EINVAL, -ENOBUFS (@out too small), -EIO.
 */
int katls_ea_finished_compute(const struct katls_exporter *ex,
			      enum katls_role sender,
			      const struct katls_ea_request *req,
			      const uint8_t *cert, size_t cert_len,
			      const uint8_t *cv, size_t cv_len,
			      uint8_t *out, size_t *out_len)
{
	uint8_t th[EVP_MAX_MD_SIZE];
	unsigned int th_len, mac_len;
	struct hs_keys k;
	int ret;

	if (!req || !cert || !out || !out_len)
		return -EINVAL;
	ret = derive_keys(ex, sender, &k);
	if (ret)
		return ret;
	if (*out_len < k.len) {
		ret = -ENOBUFS;
		goto out;
	}
	ret = transcript_hash(ex->md, &k, req, cert, cert_len, cv, cv_len,
			      th, &th_len);
	if (!ret && katls_hmac(ex->md, k.fk, k.len, th, th_len, out, &mac_len))
		ret = -EIO;
	if (!ret)
		*out_len = mac_len;
out:
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

/* ---- authenticator construction (RFC 9261 §5.2, §6) ----------------------- */

static int put_cert_entry(struct katls_buf *b, X509 *x, uint16_t cmw_ext,
			  const uint8_t *cmw, size_t cmw_len)
{
	size_t der, exts, ext, inner;
	uint8_t *p;
	int ret, n;

	n = i2d_X509(x, NULL);
	if (n <= 0)
		return -EINVAL;
	ret = katls_vec_begin(b, 3, &der);
	if (!ret)
		ret = katls_buf_reserve(b, (size_t)n);
	if (ret)
		return ret;
	p = b->data + b->len;
	if (i2d_X509(x, &p) != n)
		return -EIO;
	b->len += (size_t)n;
	ret = katls_vec_end(b, 3, der);
	if (!ret)
		ret = katls_vec_begin(b, 2, &exts);
	if (!ret && cmw) {
		/* extension_data = CMWAttestation { opaque cmw_data<1..2^16-1> } */
		ret = katls_put_be16(b, cmw_ext);
		if (!ret)
			ret = katls_vec_begin(b, 2, &ext);
		if (!ret)
			ret = katls_vec_begin(b, 2, &inner);
		if (!ret)
			ret = katls_put_bytes(b, cmw, cmw_len);
		if (!ret)
			ret = katls_vec_end(b, 2, inner);
		if (!ret)
			ret = katls_vec_end(b, 2, ext);
	}
	if (!ret)
		ret = katls_vec_end(b, 2, exts);
	return ret;
}

static int put_certificate(struct katls_buf *b, const struct katls_ea_request *req,
			   const struct katls_ea_identity *id)
{
	size_t msg, list;
	int ret;

	ret = put_hs_crc_begin(b, KATLS_HS_CERTIFICATE, req->crc, req->crc_len, &msg);
	if (!ret)
		ret = katls_vec_begin(b, 3, &list);
	if (!ret)
		ret = put_cert_entry(b, id->leaf, req->cmw_ext, id->cmw, id->cmw_len);
	for (int i = 0; !ret && i < sk_X509_num(id->intermediates); i++)
		ret = put_cert_entry(b, sk_X509_value(id->intermediates, i), 0,
				     NULL, 0);
	if (!ret)
		ret = katls_vec_end(b, 3, list);
	if (!ret)
		ret = katls_vec_end(b, 3, msg);
	return ret;
}

/* Certificate_empty of RFC 9261 §6: the request's crc, zero entries. */
static int put_certificate_empty(struct katls_buf *b,
				 const struct katls_ea_request *req)
{
	size_t msg;
	int ret;

	ret = put_hs_crc_begin(b, KATLS_HS_CERTIFICATE, req->crc, req->crc_len, &msg);
	if (!ret)
		ret = katls_put_be24(b, 0);
	if (!ret)
		ret = katls_vec_end(b, 3, msg);
	return ret;
}

/* 0x20 * 64 || "Exported Authenticator" || 0x00 || hash */
static size_t signed_content(uint8_t *out, const uint8_t *th, size_t th_len)
{
	static const char ctx[] = "Exported Authenticator";

	memset(out, 0x20, 64);
	memcpy(out + 64, ctx, sizeof(ctx));	/* with its NUL separator */
	memcpy(out + 64 + sizeof(ctx), th, th_len);
	return 64 + sizeof(ctx) + th_len;
}

#define CONTENT_MAX	(64 + sizeof("Exported Authenticator") + EVP_MAX_MD_SIZE)

static int scheme_ctx_init(EVP_MD_CTX *mctx, const struct scheme *s,
			   EVP_PKEY *key, bool sign)
{
	const EVP_MD *md = katls_md(s->md);
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	ok = sign ? EVP_DigestSignInit(mctx, &pctx, md, NULL, key) :
		    EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key);
	if (ok == 1 && s->pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1;
	return ok == 1 ? 0 : -EIO;
}

/* Appends the signature over the §5.2.2 content to @b. */
static int sign_append(struct katls_buf *b, const struct scheme *s,
		       EVP_PKEY *key, const uint8_t *th, size_t th_len)
{
	uint8_t content[CONTENT_MAX];
	size_t n = signed_content(content, th, th_len), sig_len = 0;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ret;

	if (!mctx)
		return -ENOMEM;
	ret = scheme_ctx_init(mctx, s, key, true);
	if (!ret && EVP_DigestSign(mctx, NULL, &sig_len, content, n) != 1)
		ret = -EIO;
	if (!ret)
		ret = katls_buf_reserve(b, sig_len);
	if (!ret && EVP_DigestSign(mctx, b->data + b->len, &sig_len, content, n) != 1)
		ret = -EIO;
	if (!ret)
		b->len += sig_len;
	EVP_MD_CTX_free(mctx);
	return ret;
}

/* The first scheme in the request's (preference) order that fits the key. */
static const struct scheme *pick_scheme(const struct katls_ea_request *req,
					EVP_PKEY *key)
{
	const struct scheme *s;

	for (size_t i = 0; i < req->num_sigalgs; i++) {
		s = find_scheme((uint16_t)(req->sigalgs[2 * i] << 8 |
					   req->sigalgs[2 * i + 1]));
		if (s && scheme_fits_key(s, key))
			return s;
	}
	return NULL;
}

static int put_cv(struct katls_buf *b, const struct scheme *s, EVP_PKEY *key,
		  const uint8_t *th, size_t th_len)
{
	size_t msg, sig;
	int ret;

	ret = put_hs_begin(b, KATLS_HS_CERTIFICATE_VERIFY, &msg);
	if (!ret)
		ret = katls_put_be16(b, s->id);
	if (!ret)
		ret = katls_vec_begin(b, 2, &sig);
	if (!ret)
		ret = sign_append(b, s, key, th, th_len);
	if (!ret)
		ret = katls_vec_end(b, 2, sig);
	if (!ret)
		ret = katls_vec_end(b, 3, msg);
	return ret;
}

static int put_finished(struct katls_buf *b, const uint8_t *mac, size_t len)
{
	int ret = katls_put_u8(b, KATLS_HS_FINISHED);

	if (!ret)
		ret = katls_put_be24(b, (uint32_t)len);
	if (!ret)
		ret = katls_put_bytes(b, mac, len);
	return ret;
}

static int check_identity(const struct katls_ea_request *req,
			  const struct katls_ea_identity *id)
{
	if (!id || !id->leaf || !id->key)
		return -EINVAL;
	if (X509_check_private_key(id->leaf, id->key) != 1) {
		ERR_clear_error();
		return -EINVAL;
	}
	if (id->cmw && (!id->cmw_len || id->cmw_len > UINT16_MAX - 2))
		return -EINVAL;
	if (id->cmw && !req->wants_cmw)
		return -ENOPROTOOPT;
	return 0;
}

/* Certificate, CertificateVerify and Finished, appended to @out. */
static int put_authenticator(struct katls_buf *out, const struct katls_exporter *ex,
			     enum katls_role sender,
			     const struct katls_ea_request *req,
			     const struct katls_ea_identity *id,
			     const struct scheme *s)
{
	size_t start = out->len, cert_len, mac_len = EVP_MAX_MD_SIZE;
	uint8_t th[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
	unsigned int th_len;
	struct hs_keys k;
	int ret;

	ret = derive_keys(ex, sender, &k);
	if (ret)
		return ret;
	ret = put_certificate(out, req, id);
	cert_len = out->len - start;
	if (!ret)
		ret = transcript_hash(ex->md, &k, req, out->data + start,
				      cert_len, NULL, 0, th, &th_len);
	if (!ret)
		ret = put_cv(out, s, id->key, th, th_len);
	if (!ret)
		ret = katls_ea_finished_compute(ex, sender, req, out->data + start,
						cert_len, out->data + start + cert_len,
						out->len - start - cert_len,
						mac, &mac_len);
	if (!ret)
		ret = put_finished(out, mac, mac_len);
	OPENSSL_cleanse(&k, sizeof(k));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

/**
 * katls_ea_authenticator_build() - Build an authenticator for a request.
 * @out: Certificate || CertificateVerify || Finished is appended here.
 * @ex: exporter of the connection.
 * @sender: our role (selects the HC/FK labels).
 * @req: the peer's request.
 * @id: leaf, intermediates, private key and optional CMW for the leaf entry.
 *
 * The signature scheme is the first in the request's list that fits the key
 * (ECDSA with the key's curve, RSA-PSS with salt = hash length, EdDSA).
 *
 * Return: 0; -EINVAL (bad arguments, key does not match leaf), -ENOPROTOOPT
 * (CMW given but the request did not offer cmw_attestation), -EOPNOTSUPP (no
 * offered scheme fits the key), -EMSGSIZE, -ENOMEM, -EIO.  On failure @out
 * is left as it was.
 */
int katls_ea_authenticator_build(struct katls_buf *out,
				 const struct katls_exporter *ex,
				 enum katls_role sender,
				 const struct katls_ea_request *req,
				 const struct katls_ea_identity *id)
{
	const struct scheme *s;
	size_t start;
	int ret;

	if (!out || !ex || !req || !req->raw.data)
		return -EINVAL;
	ret = check_identity(req, id);
	if (ret)
		return ret;
	s = pick_scheme(req, id->key);
	if (!s)
		return -EOPNOTSUPP;
	start = out->len;
	ret = put_authenticator(out, ex, sender, req, id, s);
	if (ret)
		out->len = start;	/* what we would have sent: nothing secret */
	return ret;
}

/**
 * katls_ea_empty_build() - Build the empty authenticator (a refusal, §6).
 * @out: the lone Finished message is appended here.
 * @ex: exporter of the connection.
 * @sender: our role.
 * @req: the peer's request.
 *
 * Return: 0, -EINVAL, -ENOMEM, -EIO.  On failure @out is left as it was.
 */
int katls_ea_empty_build(struct katls_buf *out, const struct katls_exporter *ex,
			 enum katls_role sender, const struct katls_ea_request *req)
{
	struct katls_buf cert = KATLS_BUF_INIT;
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t mac_len = sizeof(mac), start;
	int ret;

	if (!out || !req || !req->raw.data)
		return -EINVAL;
	start = out->len;
	ret = put_certificate_empty(&cert, req);
	if (!ret)
		ret = katls_ea_finished_compute(ex, sender, req, cert.data, cert.len,
						NULL, 0, mac, &mac_len);
	if (!ret)
		ret = put_finished(out, mac, mac_len);
	if (ret && out->len > start)
		out->len = start;
	OPENSSL_cleanse(mac, sizeof(mac));
	katls_buf_cleanup(&cert);
	return ret;
}

/* ---- validation (PROTOCOL.md §1.6) --------------------------------------- */

/* The messages of a received authenticator, each header included. */
struct ea_msgs {
	struct katls_cursor cert, cv, fin;		/* whole messages */
	struct katls_cursor cert_body, cv_body, fin_body;
};

static int next_msg(struct katls_cursor *c, uint8_t want,
		    struct katls_cursor *msg, struct katls_cursor *body)
{
	const uint8_t *start = c->p;
	uint8_t type;

	if (katls_get_u8(c, &type) || type != want ||
	    katls_get_vec(c, 3, body))
		return -EBADMSG;
	katls_cursor_init(msg, start, (size_t)(c->p - start));
	return 0;
}

/* Certificate CertificateVerify Finished, or Finished alone; nothing else. */
static int split_msgs(const uint8_t *in, size_t in_len, struct ea_msgs *m)
{
	struct katls_cursor c;

	memset(m, 0, sizeof(*m));
	katls_cursor_init(&c, in, in_len);
	if (in_len && in[0] == KATLS_HS_FINISHED) {
		if (next_msg(&c, KATLS_HS_FINISHED, &m->fin, &m->fin_body))
			return -EBADMSG;
		return katls_get_end(&c);
	}
	if (next_msg(&c, KATLS_HS_CERTIFICATE, &m->cert, &m->cert_body) ||
	    next_msg(&c, KATLS_HS_CERTIFICATE_VERIFY, &m->cv, &m->cv_body) ||
	    next_msg(&c, KATLS_HS_FINISHED, &m->fin, &m->fin_body))
		return -EBADMSG;
	return katls_get_end(&c);
}

/* Structure of one CertificateEntry; the certificate joins @chain. */
static X509 *d2i_exact(void *arg, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x && p == der + len)
		return x;
	X509_free(x);
	ERR_clear_error();
	return NULL;
}

static const struct katls_ea_x509_parser plain_d2i = { d2i_exact, NULL };

static int parse_entry(struct katls_cursor *list, STACK_OF(X509) *chain,
		       struct ext_seen *seen, const struct katls_ea_x509_parser *parser)
{
	struct katls_cursor der, exts;
	X509 *x;

	if (katls_get_vec(list, 3, &der) || !der.len ||
	    katls_get_vec(list, 2, &exts) || check_ext_block(exts, seen))
		return -EBADMSG;
	x = parser->parse(parser->arg, der.p, der.len);
	if (!x || !sk_X509_push(chain, x)) {
		X509_free(x);
		return -EBADMSG;
	}
	return 0;
}

/* Certificate structure: crc, at least one entry, each a DER certificate. */
static int parse_certificate(struct katls_cursor body, struct katls_cursor *crc,
			     struct katls_cursor *list, struct katls_ea_result *out,
			     const struct katls_ea_x509_parser *parser)
{
	struct katls_cursor l;
	struct ext_seen *seen;
	int ret = 0;

	if (katls_get_vec(&body, 1, crc) || katls_get_vec(&body, 3, list) ||
	    katls_get_end(&body) || !list->len)
		return -EBADMSG;
	out->chain = sk_X509_new_null();
	seen = calloc(1, sizeof(*seen));
	if (!out->chain || !seen) {
		free(seen);
		return -ENOMEM;
	}
	l = *list;
	while (!ret && l.len)
		ret = parse_entry(&l, out->chain, seen, parser);
	free(seen);
	if (ret)
		return ret;
	out->leaf = sk_X509_value(out->chain, 0);
	return X509_up_ref(out->leaf) == 1 ? 0 : -EIO;
}

static int parse_cv(struct katls_cursor body, uint16_t *scheme,
		    struct katls_cursor *sig)
{
	if (katls_get_be16(&body, scheme) || katls_get_vec(&body, 2, sig) ||
	    katls_get_end(&body))
		return -EBADMSG;
	return 0;
}

/* Every entry extension offered; cmw_attestation in entry 0 only (copied). */
static int check_entry_exts(const struct katls_ea_request *req,
			    struct katls_cursor list, struct katls_ea_result *out)
{
	struct katls_cursor der, exts, data, cmw;
	uint16_t t;

	for (size_t idx = 0; list.len; idx++) {
		if (katls_get_vec(&list, 3, &der) || katls_get_vec(&list, 2, &exts))
			return -EBADMSG;
		while (exts.len) {
			if (next_ext(&exts, &t, &data))
				return -EBADMSG;
			if (t == KATLS_EXT_SIGNATURE_ALGORITHMS ||
			    t == EXT_SIG_ALGS_CERT || !katls_ea_request_offers(req, t))
				return -EACCES;
			if (t != req->cmw_ext)
				continue;
			if (idx)
				return -EACCES;
			if (katls_get_vec(&data, 2, &cmw) || !cmw.len ||
			    katls_get_end(&data))
				return -EBADMSG;
			out->cmw = malloc(cmw.len);
			if (!out->cmw)
				return -ENOMEM;
			memcpy(out->cmw, cmw.p, cmw.len);
			out->cmw_len = cmw.len;
		}
	}
	return 0;
}

static int verify_sig(const struct scheme *s, EVP_PKEY *key, const uint8_t *th,
		      size_t th_len, struct katls_cursor sig)
{
	uint8_t content[CONTENT_MAX];
	size_t n = signed_content(content, th, th_len);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	int ret;

	if (!mctx)
		return -ENOMEM;
	ret = scheme_ctx_init(mctx, s, key, false);
	if (!ret && EVP_DigestVerify(mctx, sig.p, sig.len, content, n) != 1)
		ret = -EACCES;
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	return ret;
}

/* Maps an internal error to a reason: -EACCES carries @why. */
static int fail(enum katls_reason *reason, int err, enum katls_reason why)
{
	switch (err) {
	case -EACCES:
		*reason = why;
		break;
	case -EBADMSG:
		*reason = KATLS_R_EA_MALFORMED;
		break;
	default:
		*reason = KATLS_R_INTERNAL;
		break;
	}
	return err;
}

/* Scheme offered, TLS 1.3 and fitting the leaf key; signature verifies. */
/* 4. CertificateVerify over @th (the transcript up to the Certificate). */
static int check_cv(const struct katls_ea_request *req, uint16_t scheme,
		    struct katls_cursor sig, X509 *leaf, const uint8_t *th,
		    unsigned int th_len, enum katls_reason *reason)
{
	EVP_PKEY *key = X509_get0_pubkey(leaf);
	const struct scheme *s;
	int ret;

	ERR_clear_error();
	s = find_scheme(scheme);
	if (!s || !katls_ea_request_has_sigalg(req, scheme) ||
	    !scheme_fits_key(s, key))
		return fail(reason, -EACCES, KATLS_R_EA_SIGALG);
	ret = verify_sig(s, key, th, th_len, sig);
	return ret ? fail(reason, ret, KATLS_R_EA_SIGNATURE) : 0;
}

/* 4 and 5: CertificateVerify, then Finished, the Certificate hashed once. */
static int check_cv_finished(const struct katls_exporter *ex, enum katls_role sender,
			     const struct katls_ea_request *req, const struct ea_msgs *m,
			     uint16_t scheme, struct katls_cursor sig, X509 *leaf,
			     enum katls_reason *reason)
{
	uint8_t th_cv[EVP_MAX_MD_SIZE], th[EVP_MAX_MD_SIZE];
	unsigned int th_len = 0;
	struct hs_keys k;
	int ret = derive_keys(ex, sender, &k);

	if (ret)
		return fail(reason, ret, 0);
	ret = transcript(ex->md, &k, req, m->cert.p, m->cert.len, th_cv, m->cv.p, m->cv.len,
			 th, &th_len);
	if (ret)
		ret = fail(reason, ret, 0);
	else
		ret = check_cv(req, scheme, sig, leaf, th_cv, th_len, reason);
	if (!ret) {
		ret = finished_ok(ex->md, &k, th, th_len, &m->fin_body);
		if (ret)
			ret = fail(reason, ret, KATLS_R_EA_FINISHED);
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

static int consume_crc(struct katls_ea_crc_set *used,
		       const struct katls_ea_request *req,
		       enum katls_reason *reason)
{
	int ret = katls_ea_crc_set_add(used, req->crc, req->crc_len);

	return ret == -EEXIST ? fail(reason, -EACCES, KATLS_R_EA_CRC) :
	       ret ? fail(reason, ret, 0) : 0;
}

/* Empty authenticator: Finished over Certificate_empty (not transmitted). */
static int validate_empty(const struct katls_exporter *ex, enum katls_role sender,
			  const struct katls_ea_request *req,
			  struct katls_ea_crc_set *used, const struct ea_msgs *m,
			  enum katls_reason *reason)
{
	struct katls_buf cert = KATLS_BUF_INIT;
	uint8_t th[EVP_MAX_MD_SIZE];
	unsigned int th_len = 0;
	struct hs_keys k;
	int ret;

	if (m->fin_body.len != (size_t)EVP_MD_get_size(ex->md))
		return fail(reason, -EBADMSG, 0);
	if (katls_ea_crc_set_contains(used, req->crc, req->crc_len))
		return fail(reason, -EACCES, KATLS_R_EA_CRC);
	ret = put_certificate_empty(&cert, req) ?: derive_keys(ex, sender, &k);
	if (ret) {
		katls_buf_cleanup(&cert);
		return fail(reason, ret, 0);
	}
	ret = transcript_hash(ex->md, &k, req, cert.data, cert.len, NULL, 0, th, &th_len);
	if (!ret)
		ret = finished_ok(ex->md, &k, th, th_len, &m->fin_body);
	if (ret)
		ret = fail(reason, ret, KATLS_R_EA_FINISHED);
	OPENSSL_cleanse(&k, sizeof(k));
	katls_buf_cleanup(&cert);
	if (!ret)
		ret = consume_crc(used, req, reason);
	if (!ret)
		ret = fail(reason, -EACCES, KATLS_R_EA_EMPTY);
	return ret;
}

static int validate_full(const struct katls_exporter *ex, enum katls_role sender,
			 const struct katls_ea_request *req,
			 struct katls_ea_crc_set *used, const struct ea_msgs *m,
			 struct katls_ea_result *out, enum katls_reason *reason,
			 const struct katls_ea_x509_parser *parser)
{
	struct katls_cursor crc, list, sig;
	uint16_t scheme;
	int ret;

	/* 1. structure: all three messages parse */
	ret = parse_certificate(m->cert_body, &crc, &list, out, parser);
	if (!ret)
		ret = parse_cv(m->cv_body, &scheme, &sig);
	if (!ret && m->fin_body.len != (size_t)EVP_MD_get_size(ex->md))
		ret = -EBADMSG;
	if (ret)
		return fail(reason, ret, 0);
	/* 2. crc: the outstanding request's, not consumed before */
	if (crc.len != req->crc_len || CRYPTO_memcmp(crc.p, req->crc, crc.len) ||
	    katls_ea_crc_set_contains(used, crc.p, crc.len))
		return fail(reason, -EACCES, KATLS_R_EA_CRC);
	/* 3. extensions */
	ret = check_entry_exts(req, list, out);
	if (ret)
		return fail(reason, ret, KATLS_R_EA_EXTENSION);
	/* 4. CertificateVerify, 5. Finished */
	out->sigalg = scheme;
	ret = check_cv_finished(ex, sender, req, m, scheme, sig, out->leaf, reason);
	/* 7. single use */
	if (!ret)
		ret = consume_crc(used, req, reason);
	return ret;
}

/**
 * katls_ea_authenticator_validate() - Validate a peer's authenticator.
 * @out: on success the leaf, the chain (leaf first; PKI validation is the
 *	 caller's job), the CMW of the leaf entry and the scheme.  Zeroed on
 *	 failure.  Release with katls_ea_result_cleanup().
 * @reason: KATLS_R_OK on success, else why it failed.
 * @ex: exporter of the connection.
 * @sender: the peer's role (selects the HC/FK labels).
 * @req: the request we sent.
 * @used: this connection's consumed crcs; the crc is added on success and
 *	  on a valid empty authenticator.
 * @in: Certificate || CertificateVerify || Finished, or Finished alone.
 * @in_len: its length.
 *
 * Return: 0; -EBADMSG (malformed, KATLS_R_EA_MALFORMED); -EACCES with the
 * reason (KATLS_R_EA_CRC, _EXTENSION, _SIGALG, _SIGNATURE, _FINISHED, or
 * KATLS_R_EA_EMPTY for a genuine empty authenticator); -EINVAL, -ENOMEM,
 * -EIO (KATLS_R_INTERNAL).
 */
int katls_ea_authenticator_validate(struct katls_ea_result *out,
				    enum katls_reason *reason,
				    const struct katls_exporter *ex,
				    enum katls_role sender,
				    const struct katls_ea_request *req,
				    struct katls_ea_crc_set *used,
				    const uint8_t *in, size_t in_len)
{
	return katls_ea_authenticator_validate_with(out, reason, ex, sender, req, used, in,
						    in_len, NULL);
}

int katls_ea_authenticator_validate_with(struct katls_ea_result *out,
					 enum katls_reason *reason,
					 const struct katls_exporter *ex,
					 enum katls_role sender,
					 const struct katls_ea_request *req,
					 struct katls_ea_crc_set *used,
					 const uint8_t *in, size_t in_len,
					 const struct katls_ea_x509_parser *parser)
{
	struct ea_msgs m;
	int ret;

	if (!out || !reason)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	*reason = KATLS_R_INTERNAL;
	if (!ex || !ex->md || !req || !req->raw.data || !used || (!in && in_len))
		return -EINVAL;
	if (sender != KATLS_ROLE_CLIENT && sender != KATLS_ROLE_SERVER)
		return -EINVAL;
	*reason = KATLS_R_OK;
	if (split_msgs(in, in_len, &m))
		return fail(reason, -EBADMSG, 0);
	if (!m.cert.p)
		ret = validate_empty(ex, sender, req, used, &m, reason);
	else
		ret = validate_full(ex, sender, req, used, &m, out, reason,
				    parser ? parser : &plain_d2i);
	if (ret)
		katls_ea_result_cleanup(out);
	return ret;
}

/**
 * katls_ea_result_cleanup() - Release a validation result. NULL-safe.
 * @res: the result; zeroed afterwards.
 */
void katls_ea_result_cleanup(struct katls_ea_result *res)
{
	if (!res)
		return;
	X509_free(res->leaf);
	sk_X509_pop_free(res->chain, X509_free);
	free(res->cmw);		/* Evidence: public, not wiped */
	memset(res, 0, sizeof(*res));
}
