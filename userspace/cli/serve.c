// SPDX-License-Identifier: MIT
/*
 * katls serve: a TLS 1.3 server with the katls/1 exchange in userspace
 * (DESIGN.md §3.3).  One connection at a time; after a successful exchange
 * it echoes the client's application data back until the client closes.
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

#include "attest.h"
#include "cli.h"
#include "evidence.h"
#include "tls.h"

struct serve_opts {
	const char *cert, *key, *ca, *policy, *policy_name, *addr, *port, *tcti, *ima_log;
	const char *save_dir, *ciphers;
	uint32_t ak_handle, ima_digest_size, timeout;
	enum katls_mode mode;
	bool once, json;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls serve --cert C --key K [--policy FILE] [OPTIONS]\n\n"
		"TLS 1.3 server that runs the katls/1 attestation exchange after every\n"
		"handshake (userspace record layer), then echoes the client's data back.\n\n"
		"  --cert C, --key K    PEM certificate (+chain) and key: TLS and EA leaf\n"
		"  --ca CA              verify TLS client certificates against CA (optional)\n"
		"  --policy FILE        verification policy (modes verify and mutual)\n"
		"  --policy-name N      policy of the set to use (default: the first)\n"
		"  --addr A             listen address (default 127.0.0.1)\n"
		"  --port P             listen port (default 4433)\n"
		"  --mode M             attest (default), verify or mutual\n"
		"  --tcti T             TPM (default $TPM2TOOLS_TCTI, $KATLS_TCTI, device:/dev/tpmrm0)\n"
		"  --ak-handle H        AK persistent handle (default 0x81010002)\n"
		"  --ima-log F          IMA log file instead of securityfs\n"
		"  --ima-digest-size D  template digest size of that log (20 or 32; default 32\n"
		"                       for --ima-log, 20 for securityfs)\n"
		"  --timeout S          seconds for handshake and exchange (default 10)\n"
		"  --ciphers LIST       TLS 1.3 cipher suites (OpenSSL syntax)\n"
		"  --save-evidence DIR  save the client's exchange (verify/mutual); contains\n"
		"                       session secrets, see katls(8)\n"
		"  --once               serve one connection, exit with its status\n"
		"  --json               print each verdict as JSON\n\n"
		"Honours SSLKEYLOGFILE.  Exit status (--once): 0 accepted, 1 failure, 2 usage,\n"
		"4 attestation refused.\n");
}

static int listen_on(const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai;
	int fd = -1, one = 1, r;

	r = getaddrinfo(addr, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "katls serve: %s:%s: %s\n", addr, port, gai_strerror(r));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16)) {
		fprintf(stderr, "katls serve: cannot listen on %s:%s: %s\n", addr, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static void echo(SSL *ssl)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = katls_tls_read(ssl, buf, sizeof(buf))) > 0)
		if (katls_tls_write(ssl, buf, (size_t)n))
			break;
}

static int serve_one(SSL_CTX *ctx, int cfd, const char *peer, const struct serve_opts *o,
		     struct katls_cli_identity *id, struct katls_evidence_source *src,
		     const struct katls_verify_params *vp)
{
	struct katls_session_params p = {
		.role = KATLS_ROLE_SERVER, .mode = o->mode, .leaf = id->leaf,
		.chain = id->chain, .key = id->key, .src = src, .verify = vp,
		.save_dir = o->save_dir,
	};
	struct katls_session_result r;
	char err[512];
	SSL *ssl = NULL;
	int ret, code;

	katls_cli_set_timeout(cfd, o->timeout);
	ret = katls_tls_ssl_new(&ssl, ctx, cfd, NULL);
	if (!ret)
		ret = katls_tls_handshake(ssl, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", strerror(-ret));
	if (ret) {
		fprintf(stderr, "katls serve: %s: %s\n", peer, err);
		SSL_free(ssl);
		return KATLS_EXIT_FAIL;
	}
	ret = katls_cli_session(ssl, &p, &r);
	katls_cli_print_result(peer, o->json, o->mode, ret, &r);
	code = katls_cli_exit_code(ret, &r);
	katls_session_result_cleanup(&r);
	if (code == KATLS_EXIT_OK)
		echo(ssl);
	katls_tls_ssl_wipe_secrets(ssl);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
	return code;
}

static int parse_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		{ "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'C' }, { "policy", required_argument, NULL, 'P' },
		{ "policy-name", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'p' }, { "addr", required_argument, NULL, 'a' },
		{ "mode", required_argument, NULL, 'm' }, { "tcti", required_argument, NULL, 'T' },
		{ "ak-handle", required_argument, NULL, 'H' },
		{ "ima-log", required_argument, NULL, 'I' },
		{ "ima-digest-size", required_argument, NULL, 'D' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ciphers", required_argument, NULL, 'S' },
		{ "save-evidence", required_argument, NULL, 's' },
		{ "once", no_argument, NULL, '1' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'C': o->ca = optarg; break;
		case 'P': o->policy = optarg; break;
		case 'N': o->policy_name = optarg; break;
		case 'p': o->port = optarg; break;
		case 'a': o->addr = optarg; break;
		case 'T': o->tcti = optarg; break;
		case 'I': o->ima_log = optarg; break;
		case 'S': o->ciphers = optarg; break;
		case 's': o->save_dir = optarg; break;
		case '1': o->once = true; break;
		case 'j': o->json = true; break;
		case 'm':
			if (katls_cli_mode_parse(optarg, &o->mode)) {
				fprintf(stderr, "katls serve: --mode must be attest, verify or mutual\n");
				return -EINVAL;
			}
			break;
		case 'H':
		case 'D':
		case 't':
			if (katls_cli_parse_u32(optarg, c == 'H' ? &o->ak_handle : c == 'D' ?
						&o->ima_digest_size : &o->timeout)) {
				fprintf(stderr, "katls serve: bad number '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			usage(stdout);
			exit(KATLS_EXIT_OK);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->cert || !o->key) {
		fprintf(stderr, "katls serve: --cert and --key are required\n");
		return -EINVAL;
	}
	if (o->mode != KATLS_MODE_ATTEST_SELF && !o->policy) {
		fprintf(stderr, "katls serve: --mode %s needs --policy\n",
			katls_cli_mode_name(o->mode));
		return -EINVAL;
	}
	if (o->ima_digest_size && o->ima_digest_size != 20 && o->ima_digest_size != 32 &&
	    o->ima_digest_size != 48 && o->ima_digest_size != 64) {
		fprintf(stderr, "katls serve: --ima-digest-size must be 20, 32, 48 or 64\n");
		return -EINVAL;
	}
	return 0;
}

int serve_main(int argc, char **argv)
{
	struct serve_opts o = { .addr = "127.0.0.1", .port = "4433", .timeout = 10,
				.mode = KATLS_MODE_ATTEST_SELF };
	struct katls_tls_config tc = { .role = KATLS_ROLE_SERVER };
	struct katls_evidence_config ec = { 0 };
	struct katls_evidence_source *src = NULL;
	struct katls_policy_set *set = NULL;
	struct katls_verify_params vp = { 0 };
	struct katls_cli_identity id = { 0 };
	SSL_CTX *ctx = NULL;
	int lfd = -1, code = KATLS_EXIT_FAIL;
	char err[512];

	if (parse_args(argc, argv, &o))
		return KATLS_EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	if (o.policy && katls_cli_policy_load(o.policy, o.policy_name, &set, &vp.policy))
		goto out;
	if (katls_cli_identity_load(&id, o.cert, o.key))
		goto out;
	tc.cert_file = o.cert;
	tc.key_file = o.key;
	tc.ca_file = o.ca;	/* optional: verify TLS client certificates */
	tc.ciphersuites = o.ciphers;
	if (katls_tls_ctx_new(&ctx, &tc, err, sizeof(err))) {
		fprintf(stderr, "katls serve: %s\n", err);
		goto out;
	}
	if (o.mode != KATLS_MODE_VERIFY_PEER) {
		ec.tcti = o.tcti;
		ec.ak_handle = o.ak_handle;
		ec.ima_log = o.ima_log;
		ec.ima_digest_size = o.ima_digest_size;
		ec.test_corrupt = getenv("KATLS_TEST_CORRUPT");
		if (katls_evidence_source_new(&src, &ec, err, sizeof(err))) {
			fprintf(stderr, "katls serve: %s\n", err);
			goto out;
		}
	}
	lfd = listen_on(o.addr, o.port);
	if (lfd < 0)
		goto out;
	fprintf(stderr, "katls serve: listening on %s:%s (mode %s)\n", o.addr, o.port,
		katls_cli_mode_name(o.mode));
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		char host[NI_MAXHOST], serv[NI_MAXSERV], peer[NI_MAXHOST + NI_MAXSERV + 2];
		int cfd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "katls serve: accept: %s\n", strerror(errno));
			break;
		}
		if (getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), serv, sizeof(serv),
				NI_NUMERICHOST | NI_NUMERICSERV))
			snprintf(peer, sizeof(peer), "client");
		else
			snprintf(peer, sizeof(peer), "%s:%s", host, serv);
		code = serve_one(ctx, cfd, peer, &o, &id, src, &vp);
		close(cfd);
		if (o.once)
			break;
	}
out:
	if (lfd >= 0)
		close(lfd);
	SSL_CTX_free(ctx);
	katls_evidence_source_free(src);
	katls_cli_identity_cleanup(&id);
	katls_policy_set_free(set);
	return code;
}
