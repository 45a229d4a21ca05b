// SPDX-License-Identifier: MIT
/*
 * katls connect: TLS 1.3 client that verifies (and/or proves) attestation
 * with the katls/1 exchange in userspace, prints the verdict and an
 * Evidence summary, and optionally sends a line of application data.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "attest.h"
#include "cli.h"
#include "evidence/evidence.h"
#include "wire/tls.h"

struct connect_opts {
	struct katls_cli_attest_opts a;
	const char *target, *name, *send, *resume;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls connect HOST:PORT --ca CA --policy FILE [OPTIONS]\n\n"
		"TLS 1.3 client: handshake (server certificate checked against CA and the\n"
		"server name), then the katls/1 attestation exchange; prints the verdict and\n"
		"an Evidence summary.\n\n"
		"  --ca CA              trust anchors for the TLS handshake\n"
		"  --policy FILE        verification policy\n"
		"  --policy-name N      policy of the set to use (default: the first)\n"
		"  --name NAME          expected server name (SNI, certificate; default HOST)\n"
		"  --mode M             verify (default), attest or mutual\n"
		"  --cert C, --key K    our certificate and key (modes attest and mutual)\n"
		"  --tcti T, --ak-handle H, --ima-log F, --ima-digest-size D\n"
		"                       our Evidence sources (modes attest and mutual)\n"
		"  --timeout S          seconds for connect, handshake and exchange (default 10)\n"
		"  --no-batch           ask the server for a TPM quote of its own (default: a\n"
		"                       quote it shares with concurrent sessions is accepted,\n"
		"                       docs/wire.md); attesting, never share ours\n"
		"  --ciphers LIST       TLS 1.3 cipher suites (OpenSSL syntax)\n"
		"  --save-evidence DIR  save the exchange for 'katls verify --dir' (contains\n"
		"                       session secrets, and the AK the peer claims as\n"
		"                       peer-ak.unverified.pem: not a pin; see katls(8))\n"
		"  --resume-from DIR    re-verify a saved exchange of this server first: its IMA\n"
		"                       log prefix is then asked for no more (incremental IMA)\n"
		"  --send TEXT          after acceptance send TEXT and a newline, print the echo\n"
		"  --json               machine-readable verdict\n\n"
		"Honours SSLKEYLOGFILE.  Exit status: 0 accepted, 1 failure, 2 usage,\n"
		"4 attestation refused (reason printed).\n");
}

static int split_target(char *t, char **host, char **port)
{
	char *colon = strrchr(t, ':');

	if (!colon || colon == t || !colon[1])
		return -EINVAL;
	*colon = '\0';
	*port = colon + 1;
	*host = t;
	if (*t == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		*host = t + 1;
	}
	return 0;
}

static int dial(const char *host, const char *port, unsigned int timeout)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	int fd = -1, r, err = 0;

	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "katls connect: %s:%s: %s\n", host, port, gai_strerror(r));
		return -1;
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		katls_cli_set_timeout(fd, timeout);
		katls_cli_set_nodelay(fd);
		if (!connect(fd, a->ai_addr, a->ai_addrlen))
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		fprintf(stderr, "katls connect: cannot connect to %s:%s: %s\n", host, port,
			strerror(err ? err : EHOSTUNREACH));
	return fd;
}

/* A handshake refused because of the server certificate is a PKI verdict. */
static int handshake_verdict(SSL *ssl, const char *err, const struct connect_opts *o,
			     const char *what)
{
	struct katls_session_result r = { 0 };
	long vr = SSL_get_verify_result(ssl);

	if (vr == X509_V_OK)
		return -1;
	r.reason = vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH ?
		   KATLS_R_PKI_NAME : KATLS_R_PKI_CHAIN;
	snprintf(r.msg, sizeof(r.msg), "%s", err);
	katls_cli_print_result(what, o->a.json, o->a.mode, -EACCES, &r);
	return KATLS_EXIT_REFUSED;
}

static int send_text(SSL *ssl, const char *text)
{
	size_t len = strlen(text), got = 0;
	char *buf = malloc(len + 1);
	int ret = -ENOMEM;

	if (!buf)
		return ret;
	memcpy(buf, text, len);
	buf[len] = '\n';
	ret = katls_tls_write(ssl, (const uint8_t *)buf, len + 1);
	while (!ret && got < len + 1) {
		ssize_t n = katls_tls_read(ssl, (uint8_t *)buf + got, len + 1 - got);

		if (n <= 0)
			ret = n ? (int)n : -ECONNRESET;
		else
			got += (size_t)n;
	}
	if (!ret) {
		fwrite(buf, 1, got, stderr);
		fflush(stderr);
	}
	free(buf);
	return ret;
}

/*
 * --resume-from: the saved exchange, verified under the policy just loaded,
 * leaves the verified prefix of the server's IMA log in the policy's cache,
 * so the request names it.  A failure only costs the whole log.
 */
static void resume_from(const char *dir, const struct katls_verify_params *vp)
{
	struct katls_verify_result v;

	if (katls_verify_dir(dir, vp, &v))
		fprintf(stderr, "katls connect: --resume-from %s: not used: %s\n", dir, v.msg);
	else
		fprintf(stderr, "katls connect: resuming from %s: %u IMA log entries verified\n",
			dir, v.sum.ima_covered);
	katls_verify_result_cleanup(&v);
}

/* The options of katls connect alone. */
static int local_opt(void *arg, int c, const char *val)
{
	struct connect_opts *o = arg;

	switch (c) {
	case 'n': o->name = val; break;
	case 'x': o->send = val; break;
	case 'r': o->resume = val; break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct connect_opts *o)
{
	static const struct option opts[] = {
		KATLS_CLI_ATTEST_OPTIONS,
		{ "name", required_argument, NULL, 'n' }, { "send", required_argument, NULL, 'x' },
		{ "resume-from", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct katls_cli_attest_opts *a = &o->a;

	if (katls_cli_attest_getopt(a, argc, argv, opts, local_opt, o))
		return -EINVAL;
	if (optind + 1 != argc) {
		fprintf(stderr, "katls connect: exactly one HOST:PORT expected\n");
		return -EINVAL;
	}
	o->target = argv[optind];
	if (!a->ca || (a->mode != KATLS_MODE_ATTEST_SELF && !a->policy)) {
		fprintf(stderr, "katls connect: --ca and --policy are required\n");
		return -EINVAL;
	}
	if (a->mode != KATLS_MODE_VERIFY_PEER && (!a->cert || !a->key)) {
		fprintf(stderr, "katls connect: --mode %s needs --cert and --key\n",
			katls_cli_mode_name(a->mode));
		return -EINVAL;
	}
	return 0;
}

int connect_main(int argc, char **argv)
{
	struct connect_opts o = { .a = { .cmd = "katls connect", .modes = "verify, attest or mutual",
					 .usage = usage, .timeout = 10, .mode = KATLS_MODE_VERIFY_PEER } };
	struct katls_cli_attest a = { 0 };
	struct katls_session_params p = { .role = KATLS_ROLE_CLIENT };
	struct katls_session_result r;
	char err[512], *target = NULL, *host, *port;
	SSL *ssl = NULL;
	int fd = -1, code = KATLS_EXIT_FAIL, ret;

	if (parse_args(argc, argv, &o))
		return KATLS_EXIT_USAGE;
	target = strdup(o.target);
	if (!target || split_target(target, &host, &port)) {
		fprintf(stderr, "katls connect: '%s' is not HOST:PORT\n", o.target);
		free(target);
		return KATLS_EXIT_USAGE;
	}
	if (!o.name)
		o.name = host;
	signal(SIGPIPE, SIG_IGN);
	if (katls_cli_attest_setup(&a, &o.a, KATLS_ROLE_CLIENT))
		goto out;
	a.vp.peer_name = o.name;
	if (o.resume && a.vp.policy)
		resume_from(o.resume, &a.vp);
	fd = dial(host, port, o.a.timeout);
	if (fd < 0)
		goto out;
	ret = katls_tls_ssl_new(&ssl, a.ctx, fd, o.name);
	if (ret) {
		katls_err("SSL_new", ret, NULL);
		goto out;
	}
	ret = katls_tls_handshake(ssl, err, sizeof(err));
	if (ret) {
		code = handshake_verdict(ssl, err, &o, o.target);
		if (code < 0) {
			fprintf(stderr, "katls connect: %s: %s\n", o.target, err);
			code = KATLS_EXIT_FAIL;
		}
		goto out;
	}
	katls_cli_attest_params(&p, &a, &o.a);
	ret = katls_cli_session(ssl, &p, &r);
	katls_cli_print_result(o.target, o.a.json, o.a.mode, ret, &r);
	code = katls_cli_exit_code(ret, &r);
	katls_session_result_cleanup(&r);
	if (code == KATLS_EXIT_OK && o.send && send_text(ssl, o.send)) {
		fprintf(stderr, "katls connect: sending application data failed\n");
		code = KATLS_EXIT_FAIL;
	}
	katls_tls_ssl_wipe_secrets(ssl);
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	katls_cli_attest_cleanup(&a);
	free(target);
	ERR_clear_error();
	return code;
}
