// SPDX-License-Identifier: MIT
/*
 * tpm_delay: FOR BENCHMARKS AND TESTS ONLY.  A TPM with a real chip's
 * latency: a proxy that speaks swtpm's socket protocol (the "swtpm:" TCTI)
 * in front of a swtpm or a TPM device, and makes chosen TPM commands take a
 * configurable time.  swtpm signs a quote in about a millisecond; a discrete
 * TPM takes ~200 ms (p50 in field data) and serves one command at a time,
 * and quote batching (docs/wire.md) exists for that chip, so its benches and
 * tests need that chip.  Nothing in katls itself uses this program.
 *
 *   tpm_delay (--upstream HOST:PORT | --device PATH) [--port P] [--port-file F]
 *             [--quote-ms MS] [--delay CC=MS]... [--fail-file F] [--drop-file F]
 *             [--log F]
 *
 *   --upstream     swtpm's command port (its control port is PORT+1)
 *   --device       a TPM character device instead (/dev/tpmrm0; one open
 *                  file shared by every client, as one chip)
 *   --port         our command port on 127.0.0.1 (control = P+1; default: a
 *                  free pair, written to --port-file once listening)
 *   --quote-ms     TPM2_Quote (command code 0x158) takes MS longer
 *   --delay CC=MS  command code CC (e.g. 0x15d, TPM2_Sign) takes MS longer;
 *                  commands not named are not delayed (PCR reads, reads of
 *                  public areas: what a real chip does quickly)
 *   --fail-file F  a TPM2_Quote that arrives while F exists is answered,
 *                  after its delay, with TPM_RC_FAILURE without reaching the
 *                  TPM (tests of a TPM that fails mid-batch)
 *   --drop-file F  a TPM2_Quote that arrives while F exists is never answered:
 *                  the proxy closes that client's connection, as a chip that
 *                  times out leaves the client's TCTI with an I/O failure
 *   --log F        a line when a quote starts ("quote 3 started") and one
 *                  when it ends ("quote 3 delayed 200 ms", "quote 3 failed
 *                  after 200 ms"), or another delayed command ends
 *
 * Clients use TPM2TOOLS_TCTI / KATLS_TCTI = swtpm:host=127.0.0.1,port=P.
 * Like a chip, the proxy runs one command at a time, whichever client sent
 * it: a command waits for the one in progress (its delay included).  The
 * control channel is relayed to swtpm's (with --device, CMD_SET_LOCALITY to
 * locality 0 is acknowledged and anything else refused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TPM_CC_QUOTE		0x158u
#define TPM_RC_FAILURE		0x101u
#define TPM_ST_NO_SESSIONS	0x8001u
#define CMD_MAX			(64u * 1024)
#define DELAYS_MAX		16
#define CTRL_SET_LOCALITY	5u

static struct {
	const char *up_host, *device, *fail_file, *drop_file;
	int up_port;
	struct { uint32_t cc; unsigned int ms; } delay[DELAYS_MAX];
	size_t num_delays;
	FILE *log;
	int dev_fd;
	pthread_mutex_t chip;		/* one command at a time */
	unsigned long quotes;		/* TPM2_Quote commands seen (under chip) */
} px = { .dev_fd = -1, .chip = PTHREAD_MUTEX_INITIALIZER };

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tpm_delay: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int dial(const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char serv[16];
	int fd;

	snprintf(serv, sizeof(serv), "%d", port);
	if (getaddrinfo(host, serv, &hints, &ai))
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* A TPM response header alone: @rc for the command. */
static size_t error_response(uint8_t *rsp, uint32_t rc)
{
	rsp[0] = TPM_ST_NO_SESSIONS >> 8;
	rsp[1] = TPM_ST_NO_SESSIONS & 0xff;
	put_be32(rsp + 2, 10);
	put_be32(rsp + 6, rc);
	return 10;
}

/* One command to the TPM and its response (@rsp, CMD_MAX bytes). */
static ssize_t upstream(const uint8_t *cmd, size_t len, uint8_t *rsp)
{
	ssize_t n;
	size_t size;
	int fd;

	if (px.device) {
		if (write_all(px.dev_fd, cmd, len))
			return -1;
		n = read(px.dev_fd, rsp, CMD_MAX);
		return n >= 10 ? n : -1;
	}
	fd = dial(px.up_host, px.up_port);	/* swtpm: one connection per command */
	if (fd < 0 || write_all(fd, cmd, len) || read_all(fd, rsp, 10)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size = be32(rsp + 2);
	if (size < 10 || size > CMD_MAX || read_all(fd, rsp + 10, size - 10)) {
		close(fd);
		return -1;
	}
	close(fd);
	return (ssize_t)size;
}

static unsigned int delay_of(uint32_t cc)
{
	for (size_t i = 0; i < px.num_delays; i++)
		if (px.delay[i].cc == cc)
			return px.delay[i].ms;
	return 0;
}

#define DROPPED (-2)

/*
 * Runs one command as the chip would: delayed, maybe failed, one at a time.
 * Return: the response's length, -1 (upstream failed) or DROPPED.
 */
static ssize_t execute(const uint8_t *cmd, size_t len, uint8_t *rsp)
{
	uint32_t cc = be32(cmd + 6);
	unsigned int ms = delay_of(cc);
	unsigned long quote = 0;
	bool fail;
	ssize_t n;

	pthread_mutex_lock(&px.chip);
	fail = cc == TPM_CC_QUOTE && px.fail_file && !access(px.fail_file, F_OK);
	if (cc == TPM_CC_QUOTE) {
		quote = ++px.quotes;
		if (px.log) {
			fprintf(px.log, "quote %lu started\n", quote);
			fflush(px.log);
		}
	}
	if (cc == TPM_CC_QUOTE && px.drop_file && !access(px.drop_file, F_OK)) {
		if (px.log) {
			fprintf(px.log, "quote %lu dropped\n", quote);
			fflush(px.log);
		}
		pthread_mutex_unlock(&px.chip);
		return DROPPED;
	}
	if (ms)
		sleep_ms(ms);
	n = fail ? (ssize_t)error_response(rsp, TPM_RC_FAILURE) : upstream(cmd, len, rsp);
	if (px.log && (quote || ms)) {
		if (quote)
			fprintf(px.log, "quote %lu %s %u ms\n", quote, fail ? "failed after" :
				"delayed", ms);
		else
			fprintf(px.log, "command 0x%x delayed %u ms\n", cc, ms);
		fflush(px.log);
	}
	pthread_mutex_unlock(&px.chip);
	return n;
}

static void *command_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t *cmd = malloc(CMD_MAX), *rsp = malloc(CMD_MAX);

	while (cmd && rsp && !read_all(fd, cmd, 10)) {
		size_t size = be32(cmd + 2);
		ssize_t n;

		if (size < 10 || size > CMD_MAX || read_all(fd, cmd + 10, size - 10))
			break;
		n = execute(cmd, size, rsp);
		if (n == DROPPED)
			break;
		if (n < 0)
			n = (ssize_t)error_response(rsp, TPM_RC_FAILURE);
		if (write_all(fd, rsp, (size_t)n))
			break;
	}
	free(cmd);
	free(rsp);
	close(fd);
	return NULL;
}

/* Control channel: relayed to swtpm's, or answered for a device. */
static void *control_conn(void *arg)
{
	int fd = (int)(intptr_t)arg, up = -1;
	uint8_t buf[4096];

	if (px.device) {
		ssize_t n = read(fd, buf, sizeof(buf));
		uint8_t rsp[4] = { 0 };

		if (n < 4 || be32(buf) != CTRL_SET_LOCALITY || (n > 4 && buf[4]))
			put_be32(rsp, 0x0a);	/* TPM_BAD_PARAMETER */
		if (n > 0)
			write_all(fd, rsp, sizeof(rsp));
		close(fd);
		return NULL;
	}
	up = dial(px.up_host, px.up_port + 1);
	for (struct pollfd p[2] = { { fd, POLLIN, 0 }, { up, POLLIN, 0 } }; up >= 0;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || write_all(p[!i].fd, buf, (size_t)n))
				goto out;
		}
	}
out:
	if (up >= 0)
		close(up);
	close(fd);
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		close(fd);
		return -1;
	}
	return fd;
}

struct listener {
	int fd;
	void *(*conn)(void *);
};

static void *accept_loop(void *arg)
{
	const struct listener *l = arg;

	for (;;) {
		int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("tpm_delay: accept");
			exit(1);
		}
		if (pthread_create(&t, NULL, l->conn, (void *)(intptr_t)c)) {
			close(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static void parse_delay(const char *s)
{
	char *end;
	unsigned long cc = strtoul(s, &end, 0), ms;

	if (*end != '=' || px.num_delays == DELAYS_MAX)
		die("bad --delay '%s' (CC=MS)", s);
	ms = strtoul(end + 1, &end, 10);
	if (*end || cc > UINT32_MAX || ms > 60000)
		die("bad --delay '%s' (CC=MS, at most 60000 ms)", s);
	px.delay[px.num_delays].cc = (uint32_t)cc;
	px.delay[px.num_delays++].ms = (unsigned int)ms;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "upstream", required_argument, NULL, 'u' },
		{ "device", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "quote-ms", required_argument, NULL, 'q' },
		{ "delay", required_argument, NULL, 'D' },
		{ "fail-file", required_argument, NULL, 'f' },
		{ "drop-file", required_argument, NULL, 'x' },
		{ "log", required_argument, NULL, 'l' },
		{ 0 }
	};
	struct listener cmd, ctl;
	const char *port_file = NULL;
	char quote[32], *colon;
	pthread_t t;
	int c, port = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			colon = strrchr(optarg, ':');
			if (!colon)
				die("--upstream wants HOST:PORT, not '%s'", optarg);
			*colon = '\0';
			px.up_host = optarg;
			px.up_port = atoi(colon + 1);
			break;
		case 'd': px.device = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'P': port_file = optarg; break;
		case 'q':
			snprintf(quote, sizeof(quote), "0x%x=%s", TPM_CC_QUOTE, optarg);
			parse_delay(quote);
			break;
		case 'D': parse_delay(optarg); break;
		case 'f': px.fail_file = optarg; break;
		case 'x': px.drop_file = optarg; break;
		case 'l':
			px.log = fopen(optarg, "a");
			if (!px.log)
				die("cannot open %s", optarg);
			break;
		default:
			fprintf(stderr, "usage: see the top of tests/host/tpm_delay.c\n");
			return 2;
		}
	}
	if (!px.up_host == !px.device || optind != argc)
		die("exactly one of --upstream HOST:PORT and --device PATH");
	if (px.device) {
		px.dev_fd = open(px.device, O_RDWR | O_CLOEXEC);
		if (px.dev_fd < 0)
			die("cannot open %s", px.device);
	}
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned int)getpid());
	for (int try = 0; try < 50; try++) {
		int p = port ? port : 20001 + 2 * (rand() % 20000);

		cmd.fd = listen_on(p);
		ctl.fd = cmd.fd >= 0 ? listen_on(p + 1) : -1;
		if (cmd.fd >= 0 && ctl.fd >= 0) {
			port = p;
			break;
		}
		if (cmd.fd >= 0)
			close(cmd.fd);
		if (port)
			die("cannot listen on port %d and %d", port, port + 1);
	}
	if (cmd.fd < 0 || ctl.fd < 0)
		die("no free port pair");
	cmd.conn = command_conn;
	ctl.conn = control_conn;
	if (pthread_create(&t, NULL, accept_loop, &ctl))
		die("pthread_create");
	pthread_detach(t);
	if (port_file) {
		/* whole or not at all: a waiter that sees the file reads the port */
		char tmp[4096];
		FILE *f;

		if (snprintf(tmp, sizeof(tmp), "%s.tmp", port_file) >= (int)sizeof(tmp))
			die("--port-file: path too long");
		f = fopen(tmp, "w");
		if (!f)
			die("cannot write %s", tmp);
		fprintf(f, "%d\n", port);
		if (fclose(f) || rename(tmp, port_file))
			die("cannot write %s", port_file);
	}
	if (px.device)
		fprintf(stderr, "tpm_delay: listening on 127.0.0.1:%d (control %d), TPM %s\n",
			port, port + 1, px.device);
	else
		fprintf(stderr, "tpm_delay: listening on 127.0.0.1:%d (control %d), swtpm %s:%d\n",
			port, port + 1, px.up_host, px.up_port);
	accept_loop(&cmd);
	return 0;
}
