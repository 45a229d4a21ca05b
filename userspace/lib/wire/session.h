/* SPDX-License-Identifier: MIT */
/*
 * The katls/1 attestation exchange (DESIGN.md §5) over any byte transport:
 * SSL_read/SSL_write in userspace mode (katls serve/connect), a kTLS socket
 * in the daemon.  Order, server attesting and client verifying, mutual
 * adding the mirror image:
 *
 *   C→S  hello + [ClientCertificateRequest]
 *   S→C  hello + [CertificateRequest] + [authenticator]
 *   C→S  [verdict] + [authenticator]
 *   S→C  [verdict]
 *
 * The server's hello and request go out before its quote; the mutual client
 * gathers its own Evidence as soon as it has the request, so that the two
 * quotes overlap, and sends it only after its verdict on the server.
 *
 * A peer that sends no hello before the transport times out, or whose first
 * frame is not a katls hello, does not speak katls/1 (KATLS_R_PROTOCOL).  On
 * any local failure a verdict with the reason is sent before returning; the
 * caller then closes the connection.  Application data may flow only after
 * katls_session_run() returned 0.
 *
 * One session per connection and thread; nothing global.
 */
#ifndef KATLS_SESSION_H
#define KATLS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/katls.h>
#include <openssl/x509.h>

#include "appraisal/verify.h"
#include "evidence/evidence.h"
#include "wire/ea.h"

struct katls_transport {
	/* bytes read (> 0), 0 at EOF, -ETIMEDOUT, other -errno */
	ssize_t (*read)(void *arg, uint8_t *buf, size_t len);
	/* writes everything or fails: 0 or -errno */
	int (*write)(void *arg, const uint8_t *buf, size_t len);
	void *arg;
};

struct katls_session_params {
	enum katls_role role;
	enum katls_mode mode;
	struct katls_transport tr;
	const struct katls_exporter *ex;	/* exporter of the TLS connection */
	/* attesting (mode attest or mutual) */
	X509 *leaf;				/* EA leaf: our PKI certificate */
	STACK_OF(X509) *chain;			/* intermediates, may be NULL */
	EVP_PKEY *key;				/* its private key */
	struct katls_evidence_source *src;	/* NULL: attest without Evidence */
	/*
	 * Evidence hook used instead of @src when set (tests inject a software
	 * TPM here, katlsd adds the workload): same contract as
	 * katls_evidence_gather(), for the request @rq the session built.
	 */
	int (*gather)(void *arg, const struct katls_evidence_request *rq, struct katls_buf *out,
		      char *err, size_t err_len);
	void *gather_arg;
	unsigned int quote_timeout_ms;		/* 0 = KATLS_EVIDENCE_TIMEOUT_DEFAULT_MS */
	/*
	 * Quote batching (docs/wire.md): attesting, never share a quote with
	 * other sessions; verifying, do not offer the peer to (its request
	 * leaves out KATLS_EXT_QUOTE_BATCH).
	 */
	bool no_batch;
	/* verifying (mode verify or mutual) */
	const struct katls_verify_params *verify;
	const char *save_dir;			/* save the peer's exchange here */
	/* request tuning (tests): NULL/0 = katls defaults */
	const uint16_t *sigalgs;
	size_t num_sigalgs;
};

struct katls_session_result {
	enum katls_reason reason;		/* KATLS_R_OK when all verdicts accepted */
	char msg[512];				/* one line on failure */
	bool verified_peer;			/* we checked the peer's Evidence */
	struct katls_verify_result peer;	/* that verification */
	double verify_ms;			/* its time (EA checks and appraisal) */
	bool attested;				/* the peer accepted our Evidence */
	uint32_t peer_max_age_s;		/* from the peer's verdict */
};

/**
 * katls_session_run() - run the exchange for @p->role / @p->mode.
 * Return: 0 when every required verdict is accepted; -EACCES when a
 * verification failed or the peer refused (@out->reason); -EPROTO (not
 * katls/1), -ETIMEDOUT or another -errno otherwise.  Always call
 * katls_session_result_cleanup() after.
 */
int katls_session_run(const struct katls_session_params *p, struct katls_session_result *out);
void katls_session_result_cleanup(struct katls_session_result *res);

#endif /* KATLS_SESSION_H */
