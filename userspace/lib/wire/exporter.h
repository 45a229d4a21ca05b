/* SPDX-License-Identifier: MIT */
/*
 * RFC 8446 TLS-Exporter behind one interface, so that Exported Authenticators
 * (ea.h) and the binder (binder.h) can be computed both from a live
 * connection and from a saved exporter_master_secret (offline verification,
 * tests).
 */
#ifndef KATLS_EXPORTER_H
#define KATLS_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

/* ---- TLS 1.3 exporter ---------------------------------------------------- */

/*
 * A TLS 1.3 exporter: export(arg, label, ctx, ctx_len, out, out_len) must
 * behave exactly like RFC 8446 TLS-Exporter (the context is always hashed, so
 * an empty context equals "no context").  Returns 0 or -errno.  md is the
 * cipher suite's hash.
 */
struct katls_exporter {
	const EVP_MD *md;
	int (*export)(void *arg, const char *label, const uint8_t *ctx,
		      size_t ctx_len, uint8_t *out, size_t out_len);
	void *arg;
};

/* Caller-owned storage for katls_exporter_from_secret(). */
struct katls_exporter_secret {
	const EVP_MD *md;
	size_t len;
	uint8_t secret[EVP_MAX_MD_SIZE];
};

int katls_exporter_from_ssl(struct katls_exporter *out, SSL *ssl);
int katls_exporter_from_secret(struct katls_exporter *out,
			       struct katls_exporter_secret *store,
			       const EVP_MD *md, const uint8_t *secret,
			       size_t secret_len);
void katls_exporter_secret_cleanup(struct katls_exporter_secret *store);
int katls_exporter_export(const struct katls_exporter *ex, const char *label,
			  const uint8_t *ctx, size_t ctx_len,
			  uint8_t *out, size_t out_len);

#endif /* KATLS_EXPORTER_H */
