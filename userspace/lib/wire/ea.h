/* SPDX-License-Identifier: MIT */
/*
 * RFC 9261 Exported Authenticators for TLS 1.3, as profiled by katls/1
 * (DESIGN.md §5, PROTOCOL.md §1-§2).
 *
 * Everything session-specific comes from one primitive, the TLS 1.3 exporter
 * (struct katls_exporter, exporter.h): either the live SSL object or an
 * exporter_master_secret (vector tests, offline verification).  From it this
 * module derives the authenticator handshake context (HC) and finished key
 * (FK), builds and parses authenticator requests, builds authenticators
 * (Certificate || CertificateVerify || Finished, or the empty authenticator)
 * and validates the peer's; binder.h computes the expat binder that ties
 * Evidence to the session.  This header includes both.
 *
 * Nothing here keeps global state; objects are caller-owned and not shared
 * between threads.  Exporter outputs (HC, FK, binder inputs) are wiped before
 * every return.  PKI validation of the returned chain is the caller's job.
 */
#ifndef KATLS_EA_H
#define KATLS_EA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/katls.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "katls.h"
#include "util/buf.h"
#include "wire/binder.h"
#include "wire/exporter.h"

/* TLS handshake message types used by RFC 9261. */
#define KATLS_HS_CERTIFICATE_REQUEST		0x0d
#define KATLS_HS_CLIENT_CERTIFICATE_REQUEST	0x11
#define KATLS_HS_CERTIFICATE			0x0b
#define KATLS_HS_CERTIFICATE_VERIFY		0x0f
#define KATLS_HS_FINISHED			0x14

#define KATLS_EXT_SIGNATURE_ALGORITHMS	0x000d
/* Private codepoint until IANA assigns one (PROTOCOL.md §2.1, §8). */
#define KATLS_EXT_CMW_ATTESTATION	0xFF00
/*
 * katls quote batching (docs/wire.md): an empty extension in a request says
 * that the verifier accepts Evidence whose quote covers a batch of sessions.
 * Private codepoint; attesters that do not know it ignore it (RFC 9261 §4).
 */
#define KATLS_EXT_QUOTE_BATCH		0xFF02
/*
 * katls detached IMA log (docs/wire.md): an empty extension in a request says
 * that the verifier accepts the IMA log in katls/1 frames ahead of the
 * authenticator, bound by digest from the Evidence, instead of inside the
 * 64 KiB cmw_attestation extension.  Private codepoint, ignored by
 * attesters that do not know it.
 */
#define KATLS_EXT_IMA_DETACHED		0xFF03

#define KATLS_EA_CRC_LEN	32	/* default certificate_request_context size */
#define KATLS_EA_CRC_MAX	255

/* TLS 1.3 SignatureScheme values katls signs and accepts. */
#define KATLS_SIG_ECDSA_P256_SHA256	0x0403
#define KATLS_SIG_ECDSA_P384_SHA384	0x0503
#define KATLS_SIG_ECDSA_P521_SHA512	0x0603
#define KATLS_SIG_RSA_PSS_RSAE_SHA256	0x0804
#define KATLS_SIG_RSA_PSS_RSAE_SHA384	0x0805
#define KATLS_SIG_RSA_PSS_RSAE_SHA512	0x0806
#define KATLS_SIG_ED25519		0x0807
#define KATLS_SIG_ED448			0x0808
#define KATLS_SIG_RSA_PSS_PSS_SHA256	0x0809
#define KATLS_SIG_RSA_PSS_PSS_SHA384	0x080a
#define KATLS_SIG_RSA_PSS_PSS_SHA512	0x080b

/* ---- authenticator requests (RFC 9261 §4) --------------------------------- */

/*
 * Transcript variant: hash the request without its 4-byte handshake header,
 * as draft-era implementations (fizz) did.  RFC 9261 hashes the whole
 * message; katls/1 never sets this outside interop tests.
 */
#define KATLS_EA_REQ_DRAFT_TRANSCRIPT	0x1u

/*
 * A parsed or built request.  All pointers point into raw, which owns the
 * complete handshake message (header included): do not copy the struct, move
 * it by value only if the original is then forgotten.
 */
struct katls_ea_request {
	uint8_t type;			/* KATLS_HS_(CLIENT_)CERTIFICATE_REQUEST */
	uint8_t crc_len;
	const uint8_t *crc;
	const uint8_t *sigalgs;		/* num_sigalgs big-endian u16 */
	size_t num_sigalgs;
	const uint8_t *exts;		/* the whole extensions block */
	size_t exts_len;
	uint16_t cmw_ext;		/* codepoint of cmw_attestation */
	bool wants_cmw;			/* request carries an empty cmw_attestation */
	unsigned int flags;		/* KATLS_EA_REQ_* */
	struct katls_buf raw;
};

/* Inputs of katls_ea_request_build(); zeroed fields select the defaults. */
struct katls_ea_request_params {
	uint8_t type;			/* 0 = KATLS_HS_CERTIFICATE_REQUEST */
	const uint8_t *crc;		/* NULL = KATLS_EA_CRC_LEN random bytes */
	size_t crc_len;
	const uint16_t *sigalgs;	/* NULL = every scheme katls supports */
	size_t num_sigalgs;
	uint16_t cmw_ext;		/* 0 = KATLS_EXT_CMW_ATTESTATION */
	bool no_cmw;			/* leave out cmw_attestation */
	bool offer_batch;		/* add an empty KATLS_EXT_QUOTE_BATCH */
	bool offer_ima_detached;	/* add an empty KATLS_EXT_IMA_DETACHED */
	const uint8_t *extra_exts;	/* more extensions, encoded (type, len, data)... */
	size_t extra_exts_len;		/* ... appended after cmw_attestation */
};

int katls_ea_request_build(struct katls_ea_request *out,
			   const struct katls_ea_request_params *p);
int katls_ea_request_parse(struct katls_ea_request *out, const uint8_t *in,
			   size_t in_len, uint16_t cmw_ext);
void katls_ea_request_cleanup(struct katls_ea_request *req);
bool katls_ea_request_offers(const struct katls_ea_request *req,
			     uint16_t ext_type);
bool katls_ea_request_has_sigalg(const struct katls_ea_request *req,
				 uint16_t scheme);
int katls_ea_request_find_ext(const struct katls_ea_request *req, uint16_t ext_type,
			      const uint8_t **data, size_t *len);

/* ---- single-use registry of crcs (one per connection) --------------------- */

struct katls_ea_crc {
	uint8_t len;
	uint8_t bytes[KATLS_EA_CRC_MAX];
};

struct katls_ea_crc_set {
	struct katls_ea_crc *v;
	size_t num, cap;
};

#define KATLS_EA_CRC_SET_MAX	65536

void katls_ea_crc_set_init(struct katls_ea_crc_set *set);
void katls_ea_crc_set_cleanup(struct katls_ea_crc_set *set);
bool katls_ea_crc_set_contains(const struct katls_ea_crc_set *set,
			       const uint8_t *crc, size_t crc_len);
int katls_ea_crc_set_add(struct katls_ea_crc_set *set, const uint8_t *crc,
			 size_t crc_len);

/* ---- authenticators (RFC 9261 §5, §6) ------------------------------------- */

/* The attester's identity and optional Evidence for one authenticator. */
struct katls_ea_identity {
	X509 *leaf;
	STACK_OF(X509) *intermediates;	/* may be NULL */
	EVP_PKEY *key;			/* private key of leaf */
	const uint8_t *cmw;		/* NULL = no cmw_attestation */
	size_t cmw_len;
};

int katls_ea_authenticator_build(struct katls_buf *out,
				 const struct katls_exporter *ex,
				 enum katls_role sender,
				 const struct katls_ea_request *req,
				 const struct katls_ea_identity *id);
int katls_ea_empty_build(struct katls_buf *out, const struct katls_exporter *ex,
			 enum katls_role sender,
			 const struct katls_ea_request *req);
int katls_ea_finished_compute(const struct katls_exporter *ex,
			      enum katls_role sender,
			      const struct katls_ea_request *req,
			      const uint8_t *cert, size_t cert_len,
			      const uint8_t *cv, size_t cv_len,
			      uint8_t *out, size_t *out_len);

/* What a successful validation yields; release with _cleanup(). */
struct katls_ea_result {
	X509 *leaf;
	STACK_OF(X509) *chain;		/* every certificate, leaf first */
	uint8_t *cmw;			/* malloc'ed copy, NULL if absent */
	size_t cmw_len;
	uint16_t sigalg;
};

int katls_ea_authenticator_validate(struct katls_ea_result *out,
				    enum katls_reason *reason,
				    const struct katls_exporter *ex,
				    enum katls_role sender,
				    const struct katls_ea_request *req,
				    struct katls_ea_crc_set *used,
				    const uint8_t *in, size_t in_len);

/*
 * How an authenticator's certificates are parsed: @parse returns a new
 * reference to the X509 of exactly @len bytes of DER, or NULL.  A verifier
 * passes its cache of parsed certificates (verify_cache.h).
 */
struct katls_ea_x509_parser {
	X509 *(*parse)(void *arg, const uint8_t *der, size_t len);
	void *arg;
};

/** katls_ea_authenticator_validate_with() - the same, parsing with @parser (NULL: d2i_X509). */
int katls_ea_authenticator_validate_with(struct katls_ea_result *out,
					 enum katls_reason *reason,
					 const struct katls_exporter *ex,
					 enum katls_role sender,
					 const struct katls_ea_request *req,
					 struct katls_ea_crc_set *used,
					 const uint8_t *in, size_t in_len,
					 const struct katls_ea_x509_parser *parser);
void katls_ea_result_cleanup(struct katls_ea_result *res);

#endif /* KATLS_EA_H */
