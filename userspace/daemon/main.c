// SPDX-License-Identifier: MIT
/*
 * katlsd: the helper daemon of katls.ko (DESIGN.md §3.1).
 *
 * Threads: the main thread runs the event loop (poll over a signalfd and an
 * eventfd); an events thread blocks on the module's "events" group and pokes
 * the eventfd on REQUEST_READY (and once a second, which also covers lost
 * events); every accepted request gets its own detached worker thread
 * (worker.c), at most max_workers at a time: beyond that, requests stay
 * queued in the module (and time out there) until a worker finishes.  A
 * thread per request keeps the blocking OpenSSL handshake simple and lets the
 * two ends of a loopback connection run at once; the price is one stack per
 * request in flight.  The TPM is used by the Evidence source's quote batcher
 * thread alone: workers that attest queue there, and all that queue while a
 * quote is in flight share the next one (quote_batch.h).  The registered
 * netlink handle (ACCEPT, DONE) is serialized by ctl_lock, the BPF gate
 * handle by gate_lock.
 *
 * SIGHUP reloads the configuration and its policies: new requests use the
 * new one, requests in flight finish with the one they started with.  A bad
 * new configuration is logged and the old one kept.  SIGTERM/SIGINT stop
 * accepting, wait up to 10 s for requests in flight, and exit; the module
 * fails whatever is left (-ECONNABORTED).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "katlsd.h"
#include "metrics.h"

struct katlsd katlsd = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
	.ctl_lock = PTHREAD_MUTEX_INITIALIZER,
	.gate_lock = PTHREAD_MUTEX_INITIALIZER,
	.wake_fd = -1,
};

static bool log_prefix;		/* stderr goes to journald: "<prio>" prefixes */
static bool verbose;

void katlsd_log(int prio, const char *fmt, ...)
{
	char line[KATLSD_LOG_LINE_MAX];
	va_list ap;

	if (prio == LOG_DEBUG && !verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	katlsd_log_sanitize(line);	/* names from applications and peers: one line */
	/* one write per line: lines of concurrent workers do not interleave */
	if (log_prefix)
		dprintf(STDERR_FILENO, "<%d>%s\n", prio, line);
	else
		dprintf(STDERR_FILENO, "katlsd: %s\n", line);
}

struct katlsd_config *katlsd_config_get(void)
{
	struct katlsd_config *c;

	pthread_mutex_lock(&katlsd.lock);
	c = katlsd.cfg;
	c->refs++;
	pthread_mutex_unlock(&katlsd.lock);
	return c;
}

void katlsd_config_put(struct katlsd_config *c)
{
	bool last;

	pthread_mutex_lock(&katlsd.lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&katlsd.lock);
	if (last)
		katlsd_config_free(c);
}

struct katls_gate *katlsd_gate_locked(const char *pin_dir)
{
	int ret;

	if (katlsd.gate)
		return katlsd.gate;
	ret = katls_gate_open_pinned(pin_dir, &katlsd.gate);
	if (ret) {
		katlsd.gate = NULL;
		if (!katlsd.gate_warned)
			katlsd_log(LOG_NOTICE, "BPF gate not loaded (%s): enforcement is off",
				   *katls_gate_errmsg() ? katls_gate_errmsg() : strerror(-ret));
		katlsd.gate_warned = true;
		return NULL;
	}
	ret = katls_gate_exempt_task(katlsd.gate, getpid());
	if (ret) {
		katlsd_log(LOG_ERR, "BPF gate: cannot exempt katlsd (pid %d): %s", (int)getpid(),
			   *katls_gate_errmsg() ? katls_gate_errmsg() : strerror(-ret));
		katls_gate_free(katlsd.gate);
		katlsd.gate = NULL;
		return NULL;
	}
	katlsd.gate_warned = false;
	katlsd_log(LOG_INFO, "BPF gate %s: enforcing; katlsd (pid %d) exempt on PENDING sockets",
		   katls_gate_pin_dir(katlsd.gate), (int)getpid());
	return katlsd.gate;
}

static void gate_reopen(void)
{
	struct katlsd_config *c = katlsd_config_get();

	pthread_mutex_lock(&katlsd.gate_lock);
	katls_gate_free(katlsd.gate);
	katlsd.gate = NULL;
	katlsd.gate_warned = false;
	katlsd_gate_locked(c->gate_pin_dir);
	pthread_mutex_unlock(&katlsd.gate_lock);
	katlsd_config_put(c);
}

static int evidence_open(const struct katlsd_config *c)
{
	struct katls_evidence_config ec = {
		.tcti = c->tcti, .ak_handle = c->ak_handle, .ima_log = c->ima_log,
		.ima_digest_size = c->ima_digest_size,
		.batch = { .max = c->batch.enabled ? c->batch.max : 1,
			   .linger_ms = c->batch.linger_ms, .queue_max = c->batch.queue },
	};
	char err[512];
	int ret = katls_evidence_source_new(&katlsd.src, &ec, err, sizeof(err));

	if (ret)
		katlsd_log(LOG_WARNING, "Evidence source: %s; requests that attest this host will "
			   "fail until katlsd is restarted", err);
	return ret;
}

static void reload(void)
{
	struct katlsd_config *c, *old;
	char err[700];
	int ret;

	pthread_mutex_lock(&katlsd.lock);
	old = katlsd.cfg;
	pthread_mutex_unlock(&katlsd.lock);
	ret = katlsd_config_load(old->path, &c, err, sizeof(err));
	if (ret) {
		katlsd_log(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
		return;
	}
	pthread_mutex_lock(&katlsd.lock);
	katlsd.cfg = c;
	pthread_mutex_unlock(&katlsd.lock);
	katlsd_config_put(old);
	katlsd_log(LOG_INFO, "reloaded %s (%zu polic%s)", c->path,
		   c->policies ? c->policies->num_policies : 0,
		   c->policies && c->policies->num_policies == 1 ? "y" : "ies");
	gate_reopen();
}

static void *events_thread(void *arg)
{
	struct katls_nl *ev = arg;
	uint64_t one = 1;

	for (;;) {
		struct katls_event e;
		int ret = katls_nl_event_next(ev, &e, 1000);

		if (ret && ret != -ETIMEDOUT && ret != -ENOBUFS) {
			katlsd_log(LOG_ERR, "events: %s", strerror(-ret));
			sleep(1);
		}
		if (ret || e.cmd == KATLS_CMD_REQUEST_READY)
			if (write(katlsd.wake_fd, &one, sizeof(one)) < 0)
				continue;
	}
	return NULL;
}

/* Accepts queued requests while there is room for workers. */
static void accept_all(void)
{
	struct katls_accepted *a = malloc(sizeof(*a));

	if (!a)
		return;
	for (;;) {
		unsigned int max;
		int ret;

		pthread_mutex_lock(&katlsd.lock);
		max = katlsd.cfg->max_workers;
		ret = katlsd.workers >= max;
		pthread_mutex_unlock(&katlsd.lock);
		if (ret)
			break;	/* a finishing worker wakes us */
		pthread_mutex_lock(&katlsd.ctl_lock);
		ret = katls_nl_request_accept(katlsd.ctl, 0, a);
		if (ret && ret != -ENOENT)
			katlsd_log(LOG_ERR, "REQUEST_ACCEPT: %s (%s)", strerror(-ret),
				   katls_nl_errmsg(katlsd.ctl));
		pthread_mutex_unlock(&katlsd.ctl_lock);
		if (ret)
			break;
		katlsd.requests++;
		ret = katlsd_worker_start(a);
		if (ret) {
			struct katlsd_verdict v = KATLSD_VERDICT_INIT(a, -ECONNRESET, KATLS_R_INTERNAL,
								      "cannot start a worker");

			katlsd_log(LOG_ERR, "request %u: cannot start a worker: %s", a->id,
				   strerror(-ret));
			pthread_mutex_lock(&katlsd.ctl_lock);
			katls_nl_request_done(katlsd.ctl, a->id, -ECONNRESET, KATLS_R_INTERNAL,
					      NULL, 0);
			pthread_mutex_unlock(&katlsd.ctl_lock);
			katlsd_verdict(&v);
			close(a->fd);
		}
	}
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katlsd [--config FILE] [--check] [--verbose]\n\n"
		"The katls helper daemon: runs TLS 1.3, the kTLS handover and the katls/1\n"
		"attestation exchange for sockets that asked for it with KATLS_SO_ATTEST.\n\n"
		"  --config FILE  configuration (default " KATLSD_CONFIG_DEFAULT ")\n"
		"  --check        check the configuration and exit (0 ok, 1 bad)\n"
		"  --ready FILE   create FILE (with the pid) once registered (tests)\n"
		"  --verbose      debug log lines\n\n"
		"Signals: SIGHUP reloads the configuration and policies; SIGTERM stops.\n"
		"See katlsd(8), katlsd.json(5).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'k' },
		{ "ready", required_argument, NULL, 'r' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *path = KATLSD_CONFIG_DEFAULT, *ready = NULL;
	struct katls_nl *ev = NULL;
	struct katlsd_config *cfg;
	bool check = false, stop = false;
	sigset_t mask;
	pthread_t et;
	char err[700];
	int c, ret, sfd;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'r': ready = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_prefix = katlsd_stderr_is_journal();
	ret = katlsd_config_load(path, &cfg, err, sizeof(err));
	if (ret) {
		katlsd_log(LOG_ERR, "bad configuration: %s", err);
		return 1;
	}
	if (check) {
		printf("%s: ok (%zu policies)\n", path,
		       cfg->policies ? cfg->policies->num_policies : 0);
		katlsd_config_free(cfg);
		return 0;
	}
	katlsd.cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* blocked before any thread starts: every thread inherits the mask */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	katlsd.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || katlsd.wake_fd < 0) {
		katlsd_log(LOG_ERR, "signalfd/eventfd: %s", strerror(errno));
		return 1;
	}
	ret = katls_nl_open(&katlsd.ctl);
	if (!ret)
		ret = katls_nl_open(&ev);
	if (!ret)
		ret = katls_nl_events_join(ev);
	if (!ret)
		ret = katls_nl_daemon_register(katlsd.ctl);
	if (ret) {
		const char *why = katlsd.ctl ? katls_nl_errmsg(katlsd.ctl) : "";

		katlsd_log(LOG_ERR, "cannot register with katls.ko: %s%s%s%s%s%s", strerror(-ret),
			   ret == -ENOENT ? " (module not loaded?)" : "",
			   ret == -EBUSY ? " (another daemon is registered)" : "",
			   ret == -EPERM && !*why ? " (katlsd needs CAP_NET_ADMIN and CAP_SYS_ADMIN)" : "",
			   *why ? ": " : "", why);
		return 1;
	}
	if (katlsd_metrics_start(cfg, err, sizeof(err))) {
		katlsd_log(LOG_ERR, "%s", err);
		return 1;
	}
	evidence_open(cfg);
	pthread_mutex_lock(&katlsd.gate_lock);
	katlsd_gate_locked(cfg->gate_pin_dir);
	pthread_mutex_unlock(&katlsd.gate_lock);
	if (pthread_create(&et, NULL, events_thread, ev)) {
		katlsd_log(LOG_ERR, "cannot start the events thread");
		return 1;
	}
	pthread_detach(et);
	katlsd_log(LOG_INFO, "registered with katls.ko (pid %d, config %s, %zu policies, "
		   "max %u workers)", (int)getpid(), path,
		   cfg->policies ? cfg->policies->num_policies : 0, cfg->max_workers);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	accept_all();
	while (!stop) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = katlsd.wake_fd, .events = POLLIN } };
		struct signalfd_siginfo si;
		uint64_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			katlsd_log(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if ((p[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				reload();
			else
				stop = true;
		}
		if ((p[1].revents & POLLIN) && read(katlsd.wake_fd, &n, sizeof(n)) < 0)
			continue;
		if (!stop)
			accept_all();
	}
	katlsd_log(LOG_INFO, "stopping: %llu requests, %llu accepted, %llu refused",
		   (unsigned long long)katlsd.requests, (unsigned long long)katlsd.accepted,
		   (unsigned long long)katlsd.refused);
	pthread_mutex_lock(&katlsd.lock);
	for (int i = 0; i < 100 && katlsd.workers; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&katlsd.idle, &katlsd.lock, &ts);
	}
	pthread_mutex_unlock(&katlsd.lock);
	katlsd_metrics_stop();
	/* exit() with workers still running would free what they use */
	_exit(0);
}
