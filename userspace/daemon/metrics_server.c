// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint: GET /metrics on a Unix socket and/or a loopback TCP
 * port (katlsd.json(5) "metrics"), OpenMetrics text (metrics.c).
 *
 * One thread of its own, not the main event loop: a scrape reads the BPF
 * gate's per-CPU counters (under gate_lock, which workers take too) and asks
 * katls.ko for its counters (a netlink round trip), and none of that may
 * delay the main thread's accepting of requests.  The thread polls its
 * listeners and at most MAX_CLIENTS connections, all non-blocking; each
 * connection has READ_MS to send its request (at most KATLSD_HTTP_HEAD_MAX
 * bytes) and CONN_MS in all, then is closed; a connection beyond
 * MAX_CLIENTS gets 503 at once.  After a response the connection is shut
 * down for writing and drained for at most LINGER_MS (so that a client
 * that sent more than we read sees our answer, not a reset).  A client can
 * thus hold one of the slots for CONN_MS, never a worker: attestation does
 * not depend on this thread at all, and the thread touches nothing a
 * worker waits for except gate_lock, for the duration of one map read.
 *
 * Lifetime: started once after registration, never stopped (katlsd exits
 * with _exit()); katlsd_metrics_stop() only removes the Unix socket file.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "katlsd.h"
#include "metrics.h"

#define MAX_CLIENTS	8
#define READ_MS		5000
#define CONN_MS		10000
#define LINGER_MS	1000
#define BODY_MAX	(256 * 1024)
#define CTYPE_OM	"application/openmetrics-text; version=1.0.0; charset=utf-8"
#define CTYPE_TEXT	"text/plain; charset=utf-8"

enum conn_state { C_FREE, C_READ, C_WRITE, C_LINGER };

struct conn {
	enum conn_state st;
	int fd;
	uint64_t read_end, conn_end, linger_end;	/* CLOCK_MONOTONIC ms */
	char req[KATLSD_HTTP_HEAD_MAX];
	size_t req_len;
	char *out;
	size_t out_len, out_off;
};

static struct {
	int lfd[2];
	unsigned int num_lfd;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn c[MAX_CLIENTS];
	struct katls_nl *nl;		/* STATE_GET, this thread's own */
} srv = { .lfd = { -1, -1 } };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->st = C_FREE;
}

/* ---- what a scrape reads ----------------------------------------------------- */

static void collect(struct katlsd_metrics_sources *src)
{
	struct katlsd_config *cfg = katlsd_config_get();
	struct katls_gate *g;

	memset(src, 0, sizeof(*src));
	src->version = KATLS_VERSION;
	pthread_mutex_lock(&katlsd.lock);
	src->workers = katlsd.workers;
	src->max_workers = katlsd.cfg->max_workers;
	pthread_mutex_unlock(&katlsd.lock);
	if (!srv.nl && katls_nl_open(&srv.nl))
		srv.nl = NULL;
	if (srv.nl && katls_nl_state_get(srv.nl, 0, &src->module)) {
		katls_nl_close(srv.nl);		/* reopened by the next scrape */
		srv.nl = NULL;
	} else if (srv.nl) {
		src->have_module = src->module.have_requests;
	}
	pthread_mutex_lock(&katlsd.gate_lock);
	g = katlsd_gate_locked(cfg->gate_pin_dir);
	src->gate_loaded = g != NULL;
	src->have_gate_stats = g && !katls_gate_stats(g, src->gate);
	pthread_mutex_unlock(&katlsd.gate_lock);
	katlsd_config_put(cfg);
}

/* ---- responses -------------------------------------------------------------- */

/* Queues @status with a one-line body (an error) or the exposition (200). */
static void respond(struct conn *c, int status, const char *why, bool head)
{
	struct katlsd_metrics_sources src;
	const char *ctype = CTYPE_TEXT;
	char hd[512], line[160];
	size_t hl, bl;

	c->out = malloc(sizeof(hd) + (status == 200 ? BODY_MAX : sizeof(line)));
	if (!c->out) {
		conn_close(c);
		return;
	}
	if (status == 200) {
		collect(&src);
		bl = katlsd_metrics_format(&katlsd_metrics, &src, c->out + sizeof(hd), BODY_MAX);
		if (bl) {
			ctype = CTYPE_OM;
		} else {
			status = 500;
			why = "the exposition does not fit its buffer";
		}
	}
	if (status != 200) {
		snprintf(line, sizeof(line), "katlsd metrics: %d %s: %s\n", status,
			 katlsd_http_reason(status), why);
		bl = strlen(line);
		memcpy(c->out + sizeof(hd), line, bl);
	}
	hl = katlsd_http_head(hd, sizeof(hd), status, ctype, bl,
			      status == 405 ? "Allow: GET, HEAD\r\n" : NULL);
	/* the head goes right before the body */
	memcpy(c->out + sizeof(hd) - hl, hd, hl);
	c->out_off = sizeof(hd) - hl;
	c->out_len = sizeof(hd) + (head && status == 200 ? 0 : bl);
	c->st = C_WRITE;
	katlsd_metrics_http(&katlsd_metrics, status);
}

/* Reads what came; answers once the request is judged. */
static void on_read(struct conn *c)
{
	struct katlsd_http_req r;
	ssize_t n;

	n = recv(c->fd, c->req + c->req_len, sizeof(c->req) - c->req_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);	/* gone before asking: nothing to answer */
		return;
	}
	c->req_len += (size_t)n;
	if (katlsd_http_parse(c->req, c->req_len, &r))
		respond(c, r.status, r.why, r.head);
}

static void on_write(struct conn *c, uint64_t now)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	c->st = C_LINGER;
	c->linger_end = now + LINGER_MS;
}

static void on_linger(struct conn *c)
{
	char buf[1024];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_close(c);
}

/* Beyond MAX_CLIENTS: 503 at once, without reading the request. */
static void refuse(int fd)
{
	static const char body[] = "katlsd metrics: 503 Service Unavailable: too many "
				   "scrapers at once, retry\n";
	char out[512];
	size_t hl = katlsd_http_head(out, sizeof(out) - sizeof(body), 503, CTYPE_TEXT,
				     sizeof(body) - 1, NULL);

	memcpy(out + hl, body, sizeof(body) - 1);
	if (send(fd, out, hl + sizeof(body) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
		katlsd_metrics_http(&katlsd_metrics, 503);
	close(fd);
}

static void on_accept(int lfd, uint64_t now)
{
	for (;;) {
		struct conn *c = NULL;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;	/* EAGAIN: all taken; else a client that gave up */
		for (unsigned int i = 0; i < MAX_CLIENTS && !c; i++)
			if (srv.c[i].st == C_FREE)
				c = &srv.c[i];
		if (!c) {
			refuse(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->st = C_READ;
		c->read_end = now + READ_MS;
		c->conn_end = now + CONN_MS;
	}
}

/* Deadlines: 408 for a request that did not come, close for the rest. */
static int expire(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (unsigned int i = 0; i < MAX_CLIENTS; i++) {
		struct conn *c = &srv.c[i];
		uint64_t end;

		if (c->st == C_READ && now >= c->read_end)
			respond(c, 408, "no complete request within 5 s", false);
		if (c->st != C_FREE && c->st != C_READ && now >= c->conn_end)
			conn_close(c);
		if (c->st == C_LINGER && now >= c->linger_end)
			conn_close(c);
		if (c->st == C_FREE)
			continue;
		end = c->st == C_READ ? c->read_end : c->conn_end;
		if (c->st == C_LINGER && c->linger_end < end)
			end = c->linger_end;
		if (end < next)
			next = end;
	}
	return next == UINT64_MAX ? -1 : next > now ? (int)(next - now) : 0;
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2 + MAX_CLIENTS];
		unsigned int n = 0, map[MAX_CLIENTS];
		uint64_t now = now_ms();
		int timeout = expire(now);

		for (unsigned int i = 0; i < srv.num_lfd; i++)
			p[n++] = (struct pollfd){ .fd = srv.lfd[i], .events = POLLIN };
		for (unsigned int i = 0; i < MAX_CLIENTS; i++) {
			struct conn *c = &srv.c[i];

			if (c->st == C_FREE)
				continue;
			map[n - srv.num_lfd] = i;
			p[n++] = (struct pollfd){ .fd = c->fd,
						  .events = c->st == C_WRITE ? POLLOUT : POLLIN };
		}
		if (poll(p, n, timeout) < 0) {
			if (errno != EINTR)
				katlsd_log(LOG_ERR, "metrics: poll: %s", strerror(errno));
			continue;
		}
		now = now_ms();
		for (unsigned int i = srv.num_lfd; i < n; i++) {
			struct conn *c = &srv.c[map[i - srv.num_lfd]];

			if (!p[i].revents)
				continue;
			if (c->st == C_READ)
				on_read(c);
			else if (c->st == C_WRITE)
				on_write(c, now);
			else if (c->st == C_LINGER)
				on_linger(c);
		}
		for (unsigned int i = 0; i < srv.num_lfd; i++)
			if (p[i].revents)
				on_accept(srv.lfd[i], now);
	}
	return NULL;
}

/* ---- listeners ------------------------------------------------------------- */

static int listen_tcp(const struct katlsd_config *cfg, char *err, size_t err_len)
{
	int one = 1, fd = socket(cfg->metrics.addr.ss_family,
				 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (cfg->metrics.addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (const struct sockaddr *)&cfg->metrics.addr, cfg->metrics.addr_len) ||
	    listen(fd, 16)) {
		int e = errno;

		snprintf(err, err_len, "metrics: cannot listen on %s: %s", cfg->metrics.listen,
			 strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	srv.lfd[srv.num_lfd++] = fd;
	return 0;
}

static int listen_unix(const struct katlsd_config *cfg, char *err, size_t err_len)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	const char *path = cfg->metrics.unix_path;
	struct stat st;
	mode_t old;
	int fd, e = 0;

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	/* a socket left by an earlier katlsd (only one registers at a time) */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err_len, "metrics: %s exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
	} else {
		/* created with no access but the owner's; then unix_mode */
		old = umask(0177);
		if (bind(fd, (struct sockaddr *)&un, sizeof(un)))
			e = errno;
		umask(old);
		if (!e && chmod(path, cfg->metrics.unix_mode))
			e = errno;
		if (!e && listen(fd, 16))
			e = errno;
	}
	if (e) {
		snprintf(err, err_len, "metrics: cannot listen on %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	snprintf(srv.unix_path, sizeof(srv.unix_path), "%s", path);
	srv.lfd[srv.num_lfd++] = fd;
	return 0;
}

int katlsd_metrics_start(const struct katlsd_config *cfg, char *err, size_t err_len)
{
	pthread_t t;
	int ret = 0;

	katlsd_metrics.start_time = (uint64_t)time(NULL);
	if (!cfg->metrics.listen && !cfg->metrics.unix_path)
		return 0;
	for (unsigned int i = 0; i < MAX_CLIENTS; i++)
		srv.c[i].fd = -1;
	if (cfg->metrics.listen)
		ret = listen_tcp(cfg, err, err_len);
	if (!ret && cfg->metrics.unix_path)
		ret = listen_unix(cfg, err, err_len);
	if (!ret && (ret = -pthread_create(&t, NULL, serve, NULL)))
		snprintf(err, err_len, "metrics: cannot start its thread: %s", strerror(-ret));
	if (ret) {
		katlsd_metrics_stop();
		for (unsigned int i = 0; i < srv.num_lfd; i++)
			close(srv.lfd[i]);
		srv.num_lfd = 0;
		return ret;
	}
	pthread_detach(t);
	katlsd_log(LOG_INFO, "metrics: serving GET /metrics on %s%s%s", cfg->metrics.listen ?
		   cfg->metrics.listen : "", cfg->metrics.listen && cfg->metrics.unix_path ?
		   " and " : "", cfg->metrics.unix_path ? cfg->metrics.unix_path : "");
	return 0;
}

void katlsd_metrics_stop(void)
{
	if (*srv.unix_path)
		unlink(srv.unix_path);
	srv.unix_path[0] = '\0';
}
