// SPDX-License-Identifier: MIT
/*
 * katls serve: a TLS 1.3 server with the katls/1 exchange in userspace
 * (DESIGN.md §3.3).  Each connection runs on its own thread, at most
 * --max-conns at once (further clients wait in the listen backlog), so that
 * concurrent clients' attestations share TPM quotes (quote_batch.h); --once
 * serves a single connection on the main thread.  After a successful
 * exchange it echoes the client's application data back until the client
 * closes.  A verdict's lines are printed together (stdout is locked).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "attest.h"
#include "cli.h"
#include "evidence/evidence.h"
#include "wire/tls.h"

#define MAX_CONNS_DEFAULT	128

struct serve_opts {
	struct katls_cli_attest_opts a;
	const char *addr, *port;
	uint32_t max_conns;
	bool once;
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
		"  --max-conns N        connections served at once (default 128)\n"
		"  --no-batch           quote every attestation alone, and ask a client that\n"
		"                       attests for a quote of its own (default: concurrent\n"
		"                       attestations share a TPM quote, docs/wire.md)\n"
		"  --batch-max N        attestations per shared quote, 1..1024 (default 1024)\n"
		"  --batch-linger MS    before a quote, wait up to MS for more (default 0)\n"
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
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 256)) {
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

static int serve_one(int cfd, const char *peer, const struct serve_opts *o,
		     const struct katls_cli_attest *a)
{
	struct katls_session_params p = { .role = KATLS_ROLE_SERVER };
	struct katls_session_result r;
	char err[512];
	SSL *ssl = NULL;
	int ret, code;

	katls_cli_attest_params(&p, a, &o->a);
	katls_cli_set_timeout(cfd, o->a.timeout);
	katls_cli_set_nodelay(cfd);
	ret = katls_tls_ssl_new(&ssl, a->ctx, cfd, NULL);
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
	flockfile(stdout);
	katls_cli_print_result(peer, o->a.json, o->a.mode, ret, &r);
	funlockfile(stdout);
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

/* ---- one thread per connection ------------------------------------------------ */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned int running;
} conns = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

struct conn {
	int fd;
	char peer[NI_MAXHOST + NI_MAXSERV + 2];
	const struct serve_opts *o;
	const struct katls_cli_attest *a;
};

static void *conn_thread(void *arg)
{
	struct conn *c = arg;

	serve_one(c->fd, c->peer, c->o, c->a);
	close(c->fd);
	free(c);
	OPENSSL_thread_stop();
	pthread_mutex_lock(&conns.lock);
	conns.running--;
	pthread_cond_signal(&conns.cv);
	pthread_mutex_unlock(&conns.lock);
	return NULL;
}

/* Serves @cfd on a new thread once fewer than max_conns run (owns @cfd). */
static void serve_threaded(int cfd, const char *peer, const struct serve_opts *o,
			   const struct katls_cli_attest *a)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!c) {
		close(cfd);
		return;
	}
	c->fd = cfd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->o = o;
	c->a = a;
	pthread_mutex_lock(&conns.lock);
	while (conns.running >= o->max_conns)
		pthread_cond_wait(&conns.cv, &conns.lock);
	conns.running++;
	pthread_mutex_unlock(&conns.lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1 << 20);
	ret = pthread_create(&t, &attr, conn_thread, c);
	pthread_attr_destroy(&attr);
	if (ret) {
		fprintf(stderr, "katls serve: %s: cannot start a thread: %s\n", peer, strerror(ret));
		close(cfd);
		free(c);
		pthread_mutex_lock(&conns.lock);
		conns.running--;
		pthread_mutex_unlock(&conns.lock);
	}
}

/* The options of katls serve alone. */
static int local_opt(void *arg, int c, const char *val)
{
	struct serve_opts *o = arg;

	switch (c) {
	case 'p': o->port = val; break;
	case 'a': o->addr = val; break;
	case '1': o->once = true; break;
	case 'M':
		if (katls_cli_parse_u32(val, &o->max_conns) || !o->max_conns ||
		    o->max_conns > 4096) {
			fprintf(stderr, "katls serve: --max-conns must be 1..4096\n");
			return -EINVAL;
		}
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		KATLS_CLI_ATTEST_OPTIONS,
		{ "port", required_argument, NULL, 'p' }, { "addr", required_argument, NULL, 'a' },
		{ "once", no_argument, NULL, '1' }, { "max-conns", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct katls_cli_attest_opts *a = &o->a;

	if (katls_cli_attest_getopt(a, argc, argv, opts, local_opt, o))
		return -EINVAL;
	if (optind != argc || !a->cert || !a->key) {
		fprintf(stderr, "katls serve: --cert and --key are required\n");
		return -EINVAL;
	}
	if (a->mode != KATLS_MODE_ATTEST_SELF && !a->policy) {
		fprintf(stderr, "katls serve: --mode %s needs --policy\n",
			katls_cli_mode_name(a->mode));
		return -EINVAL;
	}
	if (a->ima_digest_size && a->ima_digest_size != 20 && a->ima_digest_size != 32 &&
	    a->ima_digest_size != 48 && a->ima_digest_size != 64) {
		fprintf(stderr, "katls serve: --ima-digest-size must be 20, 32, 48 or 64\n");
		return -EINVAL;
	}
	return 0;
}

int serve_main(int argc, char **argv)
{
	struct serve_opts o = { .a = { .cmd = "katls serve", .modes = "attest, verify or mutual",
				       .usage = usage, .timeout = 10, .mode = KATLS_MODE_ATTEST_SELF },
				.addr = "127.0.0.1", .port = "4433", .max_conns = MAX_CONNS_DEFAULT };
	struct katls_cli_attest a = { 0 };
	int lfd = -1, code = KATLS_EXIT_FAIL;

	if (parse_args(argc, argv, &o))
		return KATLS_EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	if (katls_cli_attest_setup(&a, &o.a, KATLS_ROLE_SERVER))
		goto out;
	lfd = listen_on(o.addr, o.port);
	if (lfd < 0)
		goto out;
	fprintf(stderr, "katls serve: listening on %s:%s (mode %s, %s)\n", o.addr, o.port,
		katls_cli_mode_name(o.a.mode), o.once ? "one connection" : "concurrent connections");
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
		if (o.once) {
			code = serve_one(cfd, peer, &o, &a);
			close(cfd);
			break;
		}
		serve_threaded(cfd, peer, &o, &a);
	}
	/* connection threads use @a: let them finish first */
	pthread_mutex_lock(&conns.lock);
	while (conns.running)
		pthread_cond_wait(&conns.cv, &conns.lock);
	pthread_mutex_unlock(&conns.lock);
out:
	if (lfd >= 0)
		close(lfd);
	katls_cli_attest_cleanup(&a);
	return code;
}
