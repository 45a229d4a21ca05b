/* SPDX-License-Identifier: MIT */
/* What katls serve, connect and verify share (attest.c). */
#ifndef KATLS_CLI_ATTEST_H
#define KATLS_CLI_ATTEST_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "policy.h"
#include "session.h"

struct katls_cli_identity {
	X509 *leaf;
	STACK_OF(X509) *chain;		/* intermediates from the cert file */
	EVP_PKEY *key;
};

int katls_cli_identity_load(struct katls_cli_identity *id, const char *cert, const char *key);
void katls_cli_identity_cleanup(struct katls_cli_identity *id);
/* Loads FILE and picks the policy named NAME (NULL: the only/first one). */
int katls_cli_policy_load(const char *file, const char *name, struct katls_policy_set **set,
			  const struct katls_policy **pol);
int katls_cli_mode_parse(const char *s, enum katls_mode *mode);
const char *katls_cli_mode_name(enum katls_mode mode);
int katls_cli_parse_u32(const char *s, uint32_t *out);
/* Sets SO_RCVTIMEO and SO_SNDTIMEO. */
int katls_cli_set_timeout(int fd, unsigned int seconds);
/* Runs the exchange over an established SSL. */
int katls_cli_session(SSL *ssl, struct katls_session_params *p, struct katls_session_result *r);
/* Exit code for a session result (0 ok, 4 refused, 1 other). */
int katls_cli_exit_code(int ret, const struct katls_session_result *r);
/* Prints the verdict (text on stdout, or JSON); @what names the peer. */
void katls_cli_print_result(const char *what, bool json, enum katls_mode mode, int ret,
			    const struct katls_session_result *r);
/* JSON/text for one verification (katls verify). */
void katls_cli_print_verify(bool json, int ret, const struct katls_verify_result *v);

#endif /* KATLS_CLI_ATTEST_H */
