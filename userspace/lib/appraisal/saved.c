// SPDX-License-Identifier: MIT
/*
 * Saved exchanges (katls serve/connect --save-evidence, katls verify --dir):
 * writing one, reading it back into memory once, and re-verifying it as
 * often as wanted (the benchmarks verify one in a loop) without touching
 * the directory again.  The exporter outputs the live verifier used are
 * SESSION SECRETS: they are held in secret buffers, wiped when freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "appraisal/verify.h"
#include "evidence/evidence.h"
#include "evidence/quote.h"
#include "util/algs.h"
#include "util/io.h"
#include "wire/cmw.h"
#include "wire/frame.h"
#include "wire/ima_prefix.h"

#define AUTH_MAX	KATLS_ANSWER_MAX

/* ---- writing ---------------------------------------------------------------- */

static const char *const hc_label[] = {
	[KATLS_ROLE_CLIENT] = "EXPORTER-client authenticator handshake context",
	[KATLS_ROLE_SERVER] = "EXPORTER-server authenticator handshake context",
};
static const char *const fk_label[] = {
	[KATLS_ROLE_CLIENT] = "EXPORTER-client authenticator finished key",
	[KATLS_ROLE_SERVER] = "EXPORTER-server authenticator finished key",
};

static const char saved_readme[] =
	"katls saved attestation exchange (katls serve/connect --save-evidence)\n"
	"\n"
	"request.bin        the authenticator request we sent (RFC 9261, as on the wire)\n"
	"authenticator.bin  the peer's authenticator (Certificate||CertificateVerify||Finished),\n"
	"                   after the frames of its IMA log when it sent the log detached\n"
	"cmw.cbor           the CMW Evidence from the leaf's cmw_attestation extension\n"
	"peer-ak.unverified.pem\n"
	"                   the attestation key the PEER CLAIMS in its Evidence (public),\n"
	"                   for inspection.  It is unverified: do NOT pin it.  Pinning a\n"
	"                   key a peer sent is trust on first use: it makes whoever answered\n"
	"                   this connection the trusted attester.  Get AK pins (ak_names)\n"
	"                   from 'katls provision' on the attester, or from EK enrollment.\n"
	"meta               suite hash, sender role, expected peer name, binder label\n"
	"session-secrets/   SESSION SECRETS of the TLS connection: exporter outputs the\n"
	"                   verifier used (hc.bin = authenticator handshake context,\n"
	"                   fk.bin = finished MAC key, attestation.bin =\n"
	"                   TLS-Exporter(binder label, crc, 32)).  Anyone holding them can\n"
	"                   forge authenticators for that connection: keep this directory\n"
	"                   private (files are 0600) and delete it when done.\n"
	"\n"
	"'katls verify --dir DIR --policy FILE' re-checks everything except the TLS binding\n"
	"itself, which it takes from the saved session-secrets values.\n";

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	int fd, ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	ret = katls_write_all(fd, data, len);
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return chmod(path, 0700) ? -errno : 0;
}

/* The peer's claimed AK, named so that nobody mistakes it for a trust pin. */
#define SAVED_PEER_AK	"peer-ak.unverified.pem"

static int save_ak(const char *dir, const uint8_t *cmw, size_t cmw_len)
{
	struct katls_evidence ev;
	struct katls_tpm_public pub;
	EVP_PKEY *ak = NULL;
	char *pem = NULL;
	BIO *bio;
	long n;
	int ret = 0;

	memset(&ev, 0, sizeof(ev));
	if (!cmw || katls_cmw_decode(cmw, cmw_len, &ev))
		return 0;	/* nothing to extract: the verdict says why */
	if (!katls_quote_public_parse(ev.ak.data, ev.ak.len, &pub) &&
	    !katls_quote_public_pkey(&pub, &ak) && (bio = BIO_new(BIO_s_mem()))) {
		if (PEM_write_bio_PUBKEY(bio, ak) == 1 && (n = BIO_get_mem_data(bio, &pem)) > 0)
			ret = write_file(dir, SAVED_PEER_AK, pem, (size_t)n);
		BIO_free(bio);
	}
	EVP_PKEY_free(ak);
	katls_cmw_cleanup(&ev);
	return ret;
}

int katls_verify_save(const char *dir, const struct katls_exporter *ex,
		      enum katls_role sender, const struct katls_ea_request *req,
		      const uint8_t *auth, size_t auth_len, const uint8_t *cmw,
		      size_t cmw_len, const char *peer_name, const char *binder_label)
{
	uint8_t hc[EVP_MAX_MD_SIZE], fk[EVP_MAX_MD_SIZE], att[32];
	size_t n = (size_t)EVP_MD_get_size(ex->md);
	char sub[4096], meta[1024];
	int ret;

	if (sender != KATLS_ROLE_CLIENT && sender != KATLS_ROLE_SERVER)
		return -EINVAL;
	if (!binder_label)
		binder_label = KATLS_BINDER_LABEL;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/session-secrets", dir) >= sizeof(sub))
		return -ENAMETOOLONG;
	ret = mkdir_private(dir);
	if (!ret)
		ret = mkdir_private(sub);
	if (!ret)
		ret = katls_exporter_export(ex, hc_label[sender], NULL, 0, hc, n);
	if (!ret)
		ret = katls_exporter_export(ex, fk_label[sender], NULL, 0, fk, n);
	if (!ret)
		ret = katls_exporter_export(ex, binder_label, req->crc, req->crc_len, att,
					    sizeof(att));
	if (!ret)
		ret = write_file(sub, "hc.bin", hc, n);
	if (!ret)
		ret = write_file(sub, "fk.bin", fk, n);
	if (!ret)
		ret = write_file(sub, "attestation.bin", att, sizeof(att));
	OPENSSL_cleanse(hc, sizeof(hc));
	OPENSSL_cleanse(fk, sizeof(fk));
	OPENSSL_cleanse(att, sizeof(att));
	if (!ret)
		ret = write_file(dir, "request.bin", req->raw.data, req->raw.len);
	if (!ret)
		ret = write_file(dir, "authenticator.bin", auth, auth_len);
	if (!ret && cmw)
		ret = write_file(dir, "cmw.cbor", cmw, cmw_len);
	if (!ret)
		ret = save_ak(dir, cmw, cmw_len);
	if (!ret) {
		snprintf(meta, sizeof(meta), "hash %s\nsender %s\npeer-name %s\nbinder-label %s\n",
			 EVP_MD_get0_name(ex->md), sender == KATLS_ROLE_SERVER ? "server" : "client",
			 peer_name && *peer_name ? peer_name : "-", binder_label);
		ret = write_file(dir, "meta", meta, strlen(meta));
	}
	if (!ret)
		ret = write_file(dir, "README", saved_readme, sizeof(saved_readme) - 1);
	return ret;
}

/* ---- reading back ------------------------------------------------------------ */

struct katls_saved {
	enum katls_role sender;
	const EVP_MD *md;			/* pre-fetched (algs.h) */
	char peer[256];				/* expected peer name, "" = none */
	char label[128];			/* binder label */
	struct katls_ea_request req;		/* request.bin, parsed */
	struct katls_buf auth;			/* authenticator.bin */
	struct katls_buf hc, fk, att;		/* session-secrets/: SECRET */
};

/* An exporter that answers only the three values the live verifier used. */
static int saved_export(void *arg, const char *label, const uint8_t *ctx, size_t ctx_len,
			uint8_t *out, size_t out_len)
{
	const struct katls_saved *s = arg;
	const struct katls_buf *b = NULL;

	if (!strcmp(label, hc_label[s->sender]) && !ctx_len)
		b = &s->hc;
	else if (!strcmp(label, fk_label[s->sender]) && !ctx_len)
		b = &s->fk;
	else if (!strcmp(label, s->label) && ctx_len == s->req.crc_len &&
		 !memcmp(ctx, s->req.crc, ctx_len))
		b = &s->att;
	if (!b || b->len != out_len)
		return -ENOENT;
	memcpy(out, b->data, out_len);
	return 0;
}

static int read_in(const char *dir, const char *name, struct katls_buf *out)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return katls_file_read(path, AUTH_MAX, out);
}

static int parse_meta(char *meta, struct katls_saved *s)
{
	char *save = NULL;

	for (char *l = strtok_r(meta, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(l, ' ');

		if (!v)
			return -EBADMSG;
		*v++ = '\0';
		if (!strcmp(l, "hash"))
			s->md = katls_md_prefetched(EVP_get_digestbyname(v));
		else if (!strcmp(l, "sender"))
			s->sender = !strcmp(v, "server") ? KATLS_ROLE_SERVER :
				    !strcmp(v, "client") ? KATLS_ROLE_CLIENT : 0;
		else if (!strcmp(l, "peer-name"))
			snprintf(s->peer, sizeof(s->peer), "%s", strcmp(v, "-") ? v : "");
		else if (!strcmp(l, "binder-label"))
			snprintf(s->label, sizeof(s->label), "%s", v);
		else
			return -EBADMSG;
	}
	return s->md && s->sender && *s->label ? 0 : -EBADMSG;
}

static int load(const char *dir, struct katls_saved *s, const char **what)
{
	struct katls_buf meta = KATLS_BUF_INIT, reqb = KATLS_BUF_INIT;
	int ret;

	*what = "meta";
	ret = read_in(dir, "meta", &meta);
	if (!ret)
		ret = katls_put_u8(&meta, 0);
	if (!ret)
		ret = parse_meta((char *)meta.data, s);
	if (!ret && (*what = "request.bin", 1))
		ret = read_in(dir, "request.bin", &reqb);
	if (!ret)
		ret = katls_ea_request_parse(&s->req, reqb.data, reqb.len, 0);
	if (!ret && (*what = "authenticator.bin", 1))
		ret = read_in(dir, "authenticator.bin", &s->auth);
	if (!ret && (*what = "session-secrets/hc.bin", 1))
		ret = read_in(dir, "session-secrets/hc.bin", &s->hc);
	if (!ret && (*what = "session-secrets/fk.bin", 1))
		ret = read_in(dir, "session-secrets/fk.bin", &s->fk);
	if (!ret && (*what = "session-secrets/attestation.bin", 1))
		ret = read_in(dir, "session-secrets/attestation.bin", &s->att);
	katls_buf_cleanup(&meta);
	katls_buf_cleanup(&reqb);
	return ret;
}

int katls_saved_load(const char *dir, struct katls_saved **out, char *err, size_t err_len)
{
	struct katls_saved *s = calloc(1, sizeof(*s));
	const char *what = "";
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	katls_buf_init_secret(&s->hc);
	katls_buf_init_secret(&s->fk);
	katls_buf_init_secret(&s->att);
	ret = load(dir, s, &what);
	if (ret) {
		snprintf(err, err_len, "%s/%s: %s", dir, what, strerror(-ret));
		katls_saved_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

void katls_saved_free(struct katls_saved *s)
{
	if (!s)
		return;
	katls_ea_request_cleanup(&s->req);
	katls_buf_cleanup(&s->auth);
	katls_buf_cleanup(&s->hc);
	katls_buf_cleanup(&s->fk);
	katls_buf_cleanup(&s->att);
	free(s);
}

/*
 * The IMA prefix the saved request offered, if this verifier holds exactly
 * it (an earlier exchange of the same attester was verified under the same
 * policy object): a saved tail can then be re-verified.  NULL otherwise.
 */
static struct katls_ima_prefix *held_prefix(const struct katls_saved *s,
					    const struct katls_policy *pol)
{
	struct katls_ima_prefix *held;
	struct katls_ima_hint h;

	if (!pol->ima_cache || katls_ima_hint_of_request(&s->req, &h))
		return NULL;
	held = katls_ima_cache_by_ak(pol->ima_cache, h.ak.name, h.ak.len);
	if (held && !katls_ima_hint_names(&h, held)) {
		katls_ima_prefix_unref(held);
		held = NULL;
	}
	return held;
}

int katls_saved_verify(const struct katls_saved *s, const struct katls_verify_params *p,
		       struct katls_verify_result *out)
{
	struct katls_verify_params vp = *p;
	struct katls_exporter ex = { s->md, saved_export, (void *)s };
	struct katls_ima_prefix *held = NULL;
	struct katls_ea_crc_set used;
	int ret;

	katls_ea_crc_set_init(&used);
	if (!vp.peer_name && *s->peer)
		vp.peer_name = s->peer;
	vp.binder_label = s->label;
	if (!vp.ima_prefix && vp.policy)
		vp.ima_prefix = held = held_prefix(s, vp.policy);
	ret = katls_verify_authenticator(&vp, &ex, s->sender, &s->req, &used, s->auth.data,
					 s->auth.len, out);
	katls_ima_prefix_unref(held);
	katls_ea_crc_set_cleanup(&used);
	return ret;
}

int katls_verify_dir(const char *dir, const struct katls_verify_params *p,
		     struct katls_verify_result *out)
{
	struct katls_saved *s;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = katls_saved_load(dir, &s, out->msg, sizeof(out->msg));
	if (ret) {
		out->reason = KATLS_R_INTERNAL;
		return ret;
	}
	ret = katls_saved_verify(s, p, out);
	katls_saved_free(s);
	return ret;
}
