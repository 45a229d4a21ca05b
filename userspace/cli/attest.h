/* SPDX-License-Identifier: MIT */
/* What katls serve, connect and verify share (attest.c). */
#ifndef KATLS_CLI_ATTEST_H
#define KATLS_CLI_ATTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <getopt.h>

#include <openssl/ssl.h>

#include "appraisal/policy.h"
#include "wire/session.h"

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
/*
 * Sets TCP_NODELAY: the exchange is a few small messages each way, which
 * Nagle's algorithm would hold for the peer's delayed ACK (~40 ms a turn).
 */
int katls_cli_set_nodelay(int fd);
/* Runs the exchange over an established SSL. */
int katls_cli_session(SSL *ssl, struct katls_session_params *p, struct katls_session_result *r);
/* The options katls serve and connect share; see katls_cli_attest_opt(). */
struct katls_cli_attest_opts {
	const char *cmd;		/* "katls serve": prefix of messages */
	const char *modes;		/* the --mode values, in usage order */
	void (*usage)(FILE *f);		/* --help prints it and exits 0 */
	const char *cert, *key, *ca, *policy, *policy_name, *tcti, *ima_log;
	const char *save_dir, *ciphers;
	uint32_t ak_handle, ima_digest_size, timeout;
	uint32_t batch_max, batch_linger;	/* quote batching (attesting), 0 = defaults */
	enum katls_mode mode;
	bool json;
	bool no_batch;			/* neither share quotes nor accept shared ones */
};

/* Their getopt_long() entries, for the caller's table. */
#define KATLS_CLI_ATTEST_OPTIONS						\
	{ "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' }, \
	{ "ca", required_argument, NULL, 'C' }, { "policy", required_argument, NULL, 'P' }, \
	{ "policy-name", required_argument, NULL, 'N' },			\
	{ "mode", required_argument, NULL, 'm' }, { "tcti", required_argument, NULL, 'T' }, \
	{ "ak-handle", required_argument, NULL, 'H' },				\
	{ "ima-log", required_argument, NULL, 'I' },				\
	{ "ima-digest-size", required_argument, NULL, 'D' },			\
	{ "timeout", required_argument, NULL, 't' },				\
	{ "ciphers", required_argument, NULL, 'S' },				\
	{ "save-evidence", required_argument, NULL, 's' },			\
	{ "no-batch", no_argument, NULL, 'B' },					\
	{ "batch-max", required_argument, NULL, 'X' },				\
	{ "batch-linger", required_argument, NULL, 'L' },			\
	{ "json", no_argument, NULL, 'j' }

/*
 * Handles the shared option letter @c with argument @arg, and -h.
 * Return: 1 if consumed, 0 if @c is not a shared option, -EINVAL for a bad
 * value (message printed).
 */
int katls_cli_attest_opt(struct katls_cli_attest_opts *o, int c, const char *arg);
/*
 * The option loop of serve and connect: getopt_long() with @opts, shared
 * letters through katls_cli_attest_opt(), the others through @local(@arg,
 * c, optarg), which returns 0 or -EINVAL for a letter it does not know
 * (usage printed on stderr).  Return: 0 or -EINVAL.
 */
int katls_cli_attest_getopt(struct katls_cli_attest_opts *o, int argc, char **argv,
			    const struct option *opts,
			    int (*local)(void *arg, int c, const char *val), void *arg);

/* What katls_cli_attest_setup() loads; release with katls_cli_attest_cleanup(). */
struct katls_cli_attest {
	struct katls_policy_set *set;
	struct katls_verify_params vp;
	struct katls_cli_identity id;
	SSL_CTX *ctx;
	struct katls_evidence_source *src;
};

/*
 * Loads the policy and identity (if given), the TLS context for @role and,
 * unless the mode only verifies, the Evidence source.  Return: 0 or -errno
 * (message printed).
 */
int katls_cli_attest_setup(struct katls_cli_attest *a, const struct katls_cli_attest_opts *o,
			   enum katls_role role);
void katls_cli_attest_cleanup(struct katls_cli_attest *a);
/* Fills the exchange parameters of @p (all but the role) from @a and @o. */
void katls_cli_attest_params(struct katls_session_params *p, const struct katls_cli_attest *a,
			     const struct katls_cli_attest_opts *o);
/* Exit code for a session result (0 ok, 4 refused, 1 other). */
int katls_cli_exit_code(int ret, const struct katls_session_result *r);
/* Prints the verdict (text on stdout, or JSON); @what names the peer. */
void katls_cli_print_result(const char *what, bool json, enum katls_mode mode, int ret,
			    const struct katls_session_result *r);
/* JSON/text for one verification (katls verify). */
void katls_cli_print_verify(bool json, int ret, const struct katls_verify_result *v);

#endif /* KATLS_CLI_ATTEST_H */
