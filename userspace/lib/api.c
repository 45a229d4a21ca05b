// SPDX-License-Identifier: MIT
/*
 * The public API of libkatls.so.1 (include/katls/katls.h): opaque handles
 * over the internal policy, verify, tls, evidence and session layers.  Only
 * the functions marked KATLS_PUBLIC (and listed in libkatls.map) leave the
 * shared library; the CLI, katlsd and the tests use the internal API
 * through the static library.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <katls/katls.h>

#include "appraisal/policy.h"
#include "appraisal/verify.h"
#include "evidence/evidence.h"
#include "kernel/attest.h"
#include "wire/exporter.h"
#include "wire/session.h"
#include "wire/tls.h"

#ifndef KATLS_VERSION
#define KATLS_VERSION "unknown"
#endif

struct katls_policies {
	struct katls_policy_set *set;
};

struct katls_endpoint {
	enum katls_role role;
	enum katls_mode mode;
	char *opt[KATLS_OPT_NO_BATCH + 1];	/* the settings, as given */
	bool ready;
	/* loaded by katls_endpoint_ready() */
	struct katls_policy_set *set;
	struct katls_verify_params vp;
	X509 *leaf;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
	SSL_CTX *ctx;
	struct katls_evidence_source *src;
	uint32_t timeout_s;
	bool no_batch;
};

struct katls_conn {
	SSL *ssl;
};

static void say(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

KATLS_PUBLIC const char *katls_version(void)
{
	return KATLS_VERSION;
}

/* ---- policies ------------------------------------------------------------ */

KATLS_PUBLIC int katls_policies_load(const char *path, katls_policies **out, char *msg,
				     size_t msg_len)
{
	char err[512] = "";
	struct katls_policies *p;
	int ret;

	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ret = katls_policy_load(path, &p->set, err, sizeof(err));
	if (ret) {
		say(msg, msg_len, "%s", *err ? err : strerror(-ret));
		free(p);
		return ret;
	}
	if (!p->set->num_policies) {
		say(msg, msg_len, "%s defines no policy", path);
		katls_policy_set_free(p->set);
		free(p);
		return -EINVAL;
	}
	*out = p;
	return 0;
}

KATLS_PUBLIC size_t katls_policies_count(const katls_policies *p)
{
	return p ? p->set->num_policies : 0;
}

KATLS_PUBLIC const char *katls_policies_name(const katls_policies *p, size_t i)
{
	return p && i < p->set->num_policies ? p->set->policies[i].name : NULL;
}

KATLS_PUBLIC void katls_policies_free(katls_policies *p)
{
	if (!p)
		return;
	katls_policy_set_free(p->set);
	free(p);
}

static const struct katls_policy *pick(const struct katls_policy_set *set, const char *name)
{
	return name ? katls_policy_set_find(set, name) : &set->policies[0];
}

/* ---- saved Evidence -------------------------------------------------------- */

KATLS_PUBLIC int katls_verify_saved(const katls_policies *p, const char *policy_name,
				    const char *dir, const char *peer_name,
				    unsigned int *reason, char *msg, size_t msg_len)
{
	struct katls_verify_params vp = { .peer_name = peer_name };
	struct katls_verify_result v;
	int ret;

	if (reason)
		*reason = KATLS_R_INTERNAL;
	if (!p || !dir)
		return -EINVAL;
	vp.policy = pick(p->set, policy_name);
	if (!vp.policy) {
		say(msg, msg_len, "no policy named '%s'", policy_name);
		if (reason)
			*reason = KATLS_R_POLICY;
		return -ENOENT;
	}
	ret = katls_verify_dir(dir, &vp, &v);
	if (reason)
		*reason = v.reason;
	say(msg, msg_len, "%s", v.msg);
	katls_verify_result_cleanup(&v);
	return ret;
}

/* ---- kernel mode (attest.c) ------------------------------------------------- */

KATLS_PUBLIC int katls_socket_status(int fd, struct katls_status *st)
{
	return st ? katls_attest_status(fd, st) : -EINVAL;
}

KATLS_PUBLIC int katls_socket_attest(int fd, enum katls_role role, enum katls_mode mode,
				     const char *policy, const char *server_name,
				     unsigned int timeout_ms, unsigned int *reason)
{
	struct katls_attest_opts o = { .role = role, .mode = mode, .policy = policy,
				       .server_name = server_name, .timeout_ms = timeout_ms };
	struct katls_status st;
	int ret = katls_attest(fd, &o);

	if (reason)
		*reason = ret ? KATLS_R_INTERNAL : KATLS_R_OK;
	if (ret && reason && !katls_attest_status(fd, &st) && st.reason)
		*reason = st.reason;
	return ret;
}

/* ---- userspace mode ---------------------------------------------------------- */

KATLS_PUBLIC int katls_endpoint_new(enum katls_role role, katls_endpoint **out)
{
	struct katls_endpoint *ep;

	if (!out || (role != KATLS_ROLE_CLIENT && role != KATLS_ROLE_SERVER))
		return -EINVAL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->role = role;
	ep->mode = role == KATLS_ROLE_CLIENT ? KATLS_MODE_VERIFY_PEER : KATLS_MODE_ATTEST_SELF;
	ep->timeout_s = 10;
	*out = ep;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX || *s == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

KATLS_PUBLIC int katls_endpoint_set(katls_endpoint *ep, enum katls_opt opt, const char *value)
{
	char *copy;
	uint32_t u;

	if (!ep || !value || opt < KATLS_OPT_MODE || opt > KATLS_OPT_NO_BATCH)
		return -EINVAL;
	if (ep->ready)
		return -EBUSY;
	switch (opt) {
	case KATLS_OPT_MODE:
		if (!strcmp(value, "verify"))
			ep->mode = KATLS_MODE_VERIFY_PEER;
		else if (!strcmp(value, "attest"))
			ep->mode = KATLS_MODE_ATTEST_SELF;
		else if (!strcmp(value, "mutual"))
			ep->mode = KATLS_MODE_MUTUAL;
		else
			return -EINVAL;
		break;
	case KATLS_OPT_AK_HANDLE:
	case KATLS_OPT_TIMEOUT_S:
		if (parse_u32(value, &u) || (opt == KATLS_OPT_TIMEOUT_S && !u))
			return -EINVAL;
		if (opt == KATLS_OPT_TIMEOUT_S)
			ep->timeout_s = u;
		break;
	case KATLS_OPT_NO_BATCH:
		if (strcmp(value, "0") && strcmp(value, "1"))
			return -EINVAL;
		ep->no_batch = *value == '1';
		break;
	default:
		break;
	}
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(ep->opt[opt]);
	ep->opt[opt] = copy;
	return 0;
}

static int load_identity(struct katls_endpoint *ep, char *msg, size_t msg_len)
{
	const char *cert = ep->opt[KATLS_OPT_CERT], *key = ep->opt[KATLS_OPT_KEY];
	BIO *bio;
	X509 *x;

	if (!key) {
		say(msg, msg_len, "a certificate needs KATLS_OPT_KEY");
		return -EINVAL;
	}
	bio = BIO_new_file(cert, "r");
	ep->leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!ep->leaf) {
		BIO_free(bio);
		ERR_clear_error();
		say(msg, msg_len, "cannot read certificate %s", cert);
		return -EINVAL;
	}
	ep->chain = sk_X509_new_null();
	while (ep->chain && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(ep->chain, x);
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_file(key, "r");
	ep->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!ep->key) {
		say(msg, msg_len, "cannot read private key %s", key);
		return -EINVAL;
	}
	if (X509_check_private_key(ep->leaf, ep->key) != 1) {
		ERR_clear_error();
		say(msg, msg_len, "key %s does not match certificate %s", key, cert);
		return -EINVAL;
	}
	return 0;
}

KATLS_PUBLIC int katls_endpoint_ready(katls_endpoint *ep, char *msg, size_t msg_len)
{
	struct katls_tls_config tc;
	struct katls_evidence_config ec = { 0 };
	const char *pf, *pn;
	char err[512] = "";
	int ret;

	if (!ep)
		return -EINVAL;
	if (ep->ready)
		return 0;
	pf = ep->opt[KATLS_OPT_POLICY_FILE];
	pn = ep->opt[KATLS_OPT_POLICY_NAME];
	if (ep->mode != KATLS_MODE_ATTEST_SELF && !pf) {
		say(msg, msg_len, "verifying the peer needs KATLS_OPT_POLICY_FILE");
		return -EINVAL;
	}
	if (ep->mode != KATLS_MODE_VERIFY_PEER && !ep->opt[KATLS_OPT_CERT]) {
		say(msg, msg_len, "attesting needs KATLS_OPT_CERT and KATLS_OPT_KEY");
		return -EINVAL;
	}
	if (ep->role == KATLS_ROLE_CLIENT && !ep->opt[KATLS_OPT_CA]) {
		say(msg, msg_len, "a client needs KATLS_OPT_CA");
		return -EINVAL;
	}
	if (pf) {
		ret = katls_policy_load(pf, &ep->set, err, sizeof(err));
		if (ret) {
			say(msg, msg_len, "policy: %s", *err ? err : strerror(-ret));
			return ret;
		}
		ep->vp.policy = ep->set->num_policies ? pick(ep->set, pn) : NULL;
		if (!ep->vp.policy) {
			say(msg, msg_len, "policy %s has no policy%s%s", pf, pn ? " named " : "",
			    pn ? pn : "");
			return -ENOENT;
		}
	}
	if (ep->opt[KATLS_OPT_CERT]) {
		ret = load_identity(ep, msg, msg_len);
		if (ret)
			return ret;
	}
	tc = (struct katls_tls_config){ .role = ep->role, .cert_file = ep->opt[KATLS_OPT_CERT],
					.key_file = ep->opt[KATLS_OPT_KEY],
					.ca_file = ep->opt[KATLS_OPT_CA],
					.ciphersuites = ep->opt[KATLS_OPT_CIPHERS] };
	ret = katls_tls_ctx_new(&ep->ctx, &tc, err, sizeof(err));
	if (ret) {
		say(msg, msg_len, "%s", err);
		return ret;
	}
	if (ep->mode != KATLS_MODE_VERIFY_PEER) {
		ec.tcti = ep->opt[KATLS_OPT_TCTI];
		if (ep->opt[KATLS_OPT_AK_HANDLE])
			parse_u32(ep->opt[KATLS_OPT_AK_HANDLE], &ec.ak_handle);
		ec.ima_log = ep->opt[KATLS_OPT_IMA_LOG];
		ec.batch.max = ep->no_batch ? 1 : 0;
		ret = katls_evidence_source_new(&ep->src, &ec, err, sizeof(err));
		if (ret) {
			say(msg, msg_len, "%s", err);
			return ret;
		}
	}
	ep->ready = true;
	return 0;
}

KATLS_PUBLIC void katls_endpoint_free(katls_endpoint *ep)
{
	if (!ep)
		return;
	katls_evidence_source_free(ep->src);
	SSL_CTX_free(ep->ctx);
	X509_free(ep->leaf);
	sk_X509_pop_free(ep->chain, X509_free);
	EVP_PKEY_free(ep->key);
	katls_policy_set_free(ep->set);
	for (size_t i = 0; i < sizeof(ep->opt) / sizeof(ep->opt[0]); i++)
		free(ep->opt[i]);
	free(ep);
	ERR_clear_error();
}

/* A handshake refused because of the peer's certificate is a PKI verdict. */
static unsigned int handshake_reason(SSL *ssl)
{
	long vr = SSL_get_verify_result(ssl);

	if (vr == X509_V_OK)
		return KATLS_R_INTERNAL;
	return vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH ?
	       KATLS_R_PKI_NAME : KATLS_R_PKI_CHAIN;
}

KATLS_PUBLIC int katls_conn_start(katls_endpoint *ep, int fd, const char *server_name,
				  katls_conn **out, unsigned int *reason, char *msg,
				  size_t msg_len)
{
	struct katls_session_params p = { 0 };
	struct katls_session_result r;
	struct katls_exporter ex;
	struct katls_verify_params vp;
	char err[512] = "";
	SSL *ssl = NULL;
	int ret;

	if (reason)
		*reason = KATLS_R_INTERNAL;
	if (!ep || !out || fd < 0)
		return -EINVAL;
	*out = NULL;
	if (!ep->ready) {
		say(msg, msg_len, "katls_endpoint_ready() was not called (or failed)");
		return -EINVAL;
	}
	ret = katls_tls_ssl_new(&ssl, ep->ctx, fd,
				ep->role == KATLS_ROLE_CLIENT ? server_name : NULL);
	if (ret) {
		say(msg, msg_len, "SSL_new: %s", strerror(-ret));
		return ret;
	}
	ret = katls_tls_handshake(ssl, err, sizeof(err));
	if (ret) {
		unsigned int why = handshake_reason(ssl);

		say(msg, msg_len, "TLS handshake: %s", err);
		if (why != KATLS_R_INTERNAL) {
			ret = -EACCES;
			if (reason)
				*reason = why;
		}
		goto fail;
	}
	ret = katls_exporter_from_ssl(&ex, ssl);
	if (ret) {
		say(msg, msg_len, "no TLS 1.3 exporter: %s", strerror(-ret));
		goto fail;
	}
	vp = ep->vp;
	vp.peer_name = server_name;
	p.role = ep->role;
	p.mode = ep->mode;
	p.tr.read = katls_tls_read;
	p.tr.write = katls_tls_write;
	p.tr.arg = ssl;
	p.ex = &ex;
	p.leaf = ep->leaf;
	p.chain = ep->chain;
	p.key = ep->key;
	p.src = ep->src;
	p.verify = &vp;
	p.save_dir = ep->opt[KATLS_OPT_SAVE_EVIDENCE];
	p.no_batch = ep->no_batch;
	p.quote_timeout_ms = ep->timeout_s * 1000;
	ret = katls_session_run(&p, &r);
	OPENSSL_cleanse(&ex, sizeof(ex));
	if (reason)
		*reason = r.reason;
	say(msg, msg_len, "%s", ret ? r.msg : "accepted");
	katls_session_result_cleanup(&r);
	if (ret)
		goto fail;
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		ret = -ENOMEM;
		goto fail;
	}
	(*out)->ssl = ssl;
	return 0;
fail:
	katls_tls_ssl_wipe_secrets(ssl);
	SSL_free(ssl);
	ERR_clear_error();
	return ret;
}

KATLS_PUBLIC ssize_t katls_conn_read(katls_conn *c, void *buf, size_t len)
{
	if (!c || !buf)
		return -EINVAL;
	return katls_tls_read(c->ssl, buf, len);
}

KATLS_PUBLIC ssize_t katls_conn_write(katls_conn *c, const void *buf, size_t len)
{
	int ret;

	if (!c || !buf)
		return -EINVAL;
	ret = katls_tls_write(c->ssl, buf, len);
	return ret ? ret : (ssize_t)len;
}

KATLS_PUBLIC void katls_conn_free(katls_conn *c)
{
	if (!c)
		return;
	katls_tls_ssl_wipe_secrets(c->ssl);
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	ERR_clear_error();
	free(c);
}
