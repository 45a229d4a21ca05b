// SPDX-License-Identifier: MIT
/*
 * One request, on its own thread (see main.c for the threading model):
 *
 *   gate PENDING → TLS 1.3 handshake over the fd in the request's role →
 *   kTLS handover (ktls.c) → katls/1 exchange over the kTLS socket in the
 *   request's mode → gate ATTESTED (expiry) or FAILED → REQUEST_DONE with
 *   status, reason code and the peer identity digest.
 *
 * The operator's rules decide, not the application: when a gate require rule
 * covers the connection (katls_gate_socket_rule(), looked up from the
 * socket's own addresses), the peer must be verified (ATTEST_SELF is
 * refused) under the rule's policy (an application that names another one is
 * refused; it may name the rule's or none), and the rule's max age caps the
 * verdict.  Without such a rule the application's request stands.
 *
 * The socket is the application's own (same open file): the worker clears
 * O_NONBLOCK and sets its I/O timeouts for the exchange and restores both
 * before DONE.  Fails closed: any error is a failed request, and the module
 * then shuts the socket down.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509_vfy.h>

#include "katlsd.h"
#include "kernel/ktls.h"
#include "metrics.h"
#include "wire/session.h"
#include "wire/tls.h"

struct work {
	struct katls_accepted a;
	struct katlsd_config *cfg;
	struct katls_cmw_workload wl;
	char tag[64];			/* "req 12 client/verify" */
	double t_gather_ms;
	struct katls_evidence_stats ev;	/* the quote: batch, queueing, TPM time */
	/* timing of the katls/1 exchange (tr_read/tr_write below) */
	int fd;
	double t_wait_ms;		/* blocked in reads: the peer's turn */
	double t_last_ms;		/* end of the last read (0: last I/O was a write) */
	unsigned int turns;		/* reads that follow a write: round trips */
	bool wrote;
	char peer[64];			/* the peer's address, for the verdict */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *mode_name(unsigned int m)
{
	return m == KATLS_MODE_VERIFY_PEER ? "verify" : m == KATLS_MODE_ATTEST_SELF ? "attest" :
	       m == KATLS_MODE_MUTUAL ? "mutual" : "?";
}

static void hex(char *out, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
	out[2 * len] = '\0';
}

/*
 * Evidence with this request's workload identity (session.h gather hook).
 * Concurrent workers' requests share quotes through the source's batcher.
 */
static int gather(void *arg, const struct katls_evidence_request *rq, struct katls_buf *out,
		  char *err, size_t err_len)
{
	struct katls_evidence_request r = *rq;
	struct work *w = arg;
	char crc_hex[17];
	double t0 = now_ms();
	int ret;

	if (!katlsd.src) {
		snprintf(err, err_len, "no Evidence source (TPM or AK unavailable at start)");
		return -ENODEV;
	}
	r.workload = &w->wl;
	r.stats = &w->ev;
	ret = katls_evidence_gather(katlsd.src, &r, out, err, err_len);
	w->t_gather_ms = now_ms() - t0;
	hex(crc_hex, rq->crc, rq->crc_len < 8 ? rq->crc_len : 8);
	katlsd_log(LOG_DEBUG, "%s: Evidence for crc %s…: %zu bytes in %.1f ms", w->tag, crc_hex,
		   out->len, w->t_gather_ms);
	return ret;
}

/*
 * Transport over the kTLS socket that also times the exchange: the time
 * blocked in reads is the peer's (and the network's) share, the rest of the
 * exchange is this end's own work (Evidence gathering, EA, verification).
 */
static ssize_t tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct work *w = arg;
	double t = now_ms();
	ssize_t ret = katls_ktls_read(&w->fd, buf, len);

	if (w->wrote)
		w->turns++;
	w->wrote = false;
	w->t_last_ms = now_ms();
	w->t_wait_ms += w->t_last_ms - t;
	return ret;
}

static int tr_write(void *arg, const uint8_t *buf, size_t len)
{
	struct work *w = arg;

	w->wrote = true;
	return katls_ktls_write(&w->fd, buf, len);
}

static void workload_of(struct work *w)
{
	const struct katls_accepted *a = &w->a;

	w->wl.pid = a->pid;
	w->wl.uid = a->uid;
	w->wl.cgroup_id = a->cgroup_id;
	snprintf(w->wl.exe_path, sizeof(w->wl.exe_path), "%s", a->exe_path);
	if (a->exe_digest_len && a->exe_digest_len <= sizeof(w->wl.exe_digest)) {
		memcpy(w->wl.exe_digest, a->exe_digest, a->exe_digest_len);
		w->wl.exe_digest_len = a->exe_digest_len;
		w->wl.exe_digest_alg = a->exe_digest_algo;
	} else {
		/* the record needs a digest: mark "unknown" with a zero SHA-256 */
		memset(w->wl.exe_digest, 0, 32);
		w->wl.exe_digest_len = 32;
		w->wl.exe_digest_alg = 4;
	}
}

/*
 * The gate rule that covers this request's connection, and its policy's name
 * in @policy (empty: the rule names none).  False without a gate or a rule.
 */
static bool operator_rule(struct work *w, struct katls_gate_sock_rule *rule,
			  char policy[KATLS_POLICY_NAME_LEN])
{
	struct katls_gate *g;
	int ret = -ENOENT;

	policy[0] = '\0';
	pthread_mutex_lock(&katlsd.gate_lock);
	g = katlsd_gate_locked(w->cfg->gate_pin_dir);
	if (g) {
		ret = katls_gate_socket_rule(g, w->a.fd, rule);
		if (ret)
			katlsd_log(LOG_WARNING, "%s: gate rule lookup: %s", w->tag,
				   katls_gate_errmsg());
		else if (rule->required && rule->policy_id &&
			 katls_gate_policy_name(g, rule->policy_id, policy))
			policy[0] = '\0';
	}
	pthread_mutex_unlock(&katlsd.gate_lock);
	return !ret && rule->required;
}

/* @policy_id: KATLS_GATE_POLICY_KEEP keeps the socket's (the rule's) policy id. */
static void gate_set(struct work *w, enum katls_gate_state st, uint32_t policy_id,
		     uint32_t max_age_s)
{
	struct katls_gate *g;
	int ret;

	pthread_mutex_lock(&katlsd.gate_lock);
	g = katlsd_gate_locked(w->cfg->gate_pin_dir);
	if (g) {
		ret = katls_gate_set_state(g, w->a.fd, st, policy_id, st == KATLS_GATE_ATTESTED &&
					   max_age_s ? katls_gate_now_ns() +
					   (uint64_t)max_age_s * 1000000000ull : 0);
		if (ret)
			katlsd_log(LOG_WARNING, "%s: gate state %s: %s", w->tag,
				   katls_gate_state_name(st), strerror(-ret));
	}
	pthread_mutex_unlock(&katlsd.gate_lock);
}

static int done(struct work *w, int status, unsigned int reason, const uint8_t *digest,
		uint64_t expiry)
{
	int ret;

	pthread_mutex_lock(&katlsd.ctl_lock);
	ret = katls_nl_request_done(katlsd.ctl, w->a.id, status, reason, digest, expiry);
	if (ret)
		katlsd_log(LOG_WARNING, "%s: REQUEST_DONE: %s (%s)", w->tag, strerror(-ret),
			   katls_nl_errmsg(katlsd.ctl));
	pthread_mutex_unlock(&katlsd.ctl_lock);
	return ret;
}

/* errno for the application and the module, from a session's outcome. */
static int status_of(int ret, enum katls_reason reason)
{
	if (!ret)
		return 0;
	switch (ret) {
	case -EACCES:
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -EPROTO:
		return ret;
	default:
		return reason == KATLS_R_OK || reason == KATLS_R_INTERNAL ? -EPROTO : -EACCES;
	}
}

static void log_summary(struct work *w, const struct katls_verify_summary *s)
{
	char pcr[65] = "", dig[129] = "", quote[64] = "quote of its own";

	if (s->has_pcr10)
		hex(pcr, s->pcr10, 32);
	if (s->workload_digest_len)
		hex(dig, s->workload_digest, s->workload_digest_len);
	if (s->batch_size)
		snprintf(quote, sizeof(quote), "quote batch %u (leaf %u)", s->batch_size,
			 s->batch_index);
	katlsd_log(LOG_INFO, "%s: peer Evidence: subject \"%s\" ak sha256:%.16s… pcr10 %s "
		   "ima %u/%u entries, kernel %s, workload %s sha256:%s, %s", w->tag,
		   s->peer_subject, s->ak_fpr, s->has_pcr10 ? pcr : "-", s->ima_covered,
		   s->ima_records, s->has_kernel ? s->kernel_release : "-",
		   s->has_workload ? s->workload_exe : "-", *dig ? dig : "-", quote);
}

static void run(struct work *w)
{
	const struct katls_accepted *a = &w->a;
	bool client = a->role == KATLS_ROLE_CLIENT;
	const struct katls_policy *pol = NULL;
	struct katls_gate_sock_rule rule;
	char rule_policy[KATLS_POLICY_NAME_LEN];
	const char *policy = a->policy;
	bool ruled;
	struct katls_session_result r;
	struct katls_verify_params vp = { 0 };
	struct katls_session_params p = { 0 };
	struct katls_exporter ex;
	struct timeval tv, old_rcv, old_snd;
	int one = 1, old_nodelay = 0;
	socklen_t nl = sizeof(old_nodelay);
	socklen_t tl = sizeof(tv);
	uint8_t digest[SHA256_DIGEST_LENGTH], *dig = NULL;
	uint32_t timeout = a->timeout_ms ? a->timeout_ms : KATLS_TIMEOUT_DEFAULT_MS, io_ms;
	uint32_t max_age = 0;
	double t_hs0 = 0;		/* when the TLS handshake started */
	uint64_t expiry = 0;
	double t0 = now_ms(), t_hs = 0, t_ktls = 0, t_x = 0;
	char err[512] = "";
	SSL *ssl = NULL;
	int ret, status, flags, fd = a->fd;
	X509 *peer;

	memset(&r, 0, sizeof(r));
	ruled = operator_rule(w, &rule, rule_policy);
	katlsd_log(LOG_INFO, "%s: pid %u uid %u exe %s policy '%s' server name '%s'%s%s%s", w->tag,
		   a->pid, a->uid, *a->exe_path ? a->exe_path : "?", a->policy, a->server_name,
		   ruled ? "; operator rule requires policy '" : "", ruled ? rule_policy : "",
		   ruled ? "'" : "");
	gate_set(w, KATLS_GATE_PENDING, ruled ? rule.policy_id : KATLS_GATE_POLICY_KEEP, 0);

	if (a->transparent && !(ruled && rule.attest)) {
		/* katls.ko took it for an attest rule that no longer covers it: fail closed */
		ret = -EACCES;
		r.reason = KATLS_R_POLICY;
		snprintf(r.msg, sizeof(r.msg), "transparent request, but no attest rule covers "
			 "this connection (any more)");
		goto out;
	}
	if (ruled) {
		ret = -EACCES;
		r.reason = KATLS_R_POLICY;
		/* an attest rule's role decides the mode (katls.ko passed it on) */
		if (a->mode == KATLS_MODE_ATTEST_SELF && !a->transparent) {
			snprintf(r.msg, sizeof(r.msg), "an operator rule requires the peer to be "
				 "verified%s%s%s; the application asked only to attest itself",
				 *rule_policy ? " under policy '" : "", rule_policy,
				 *rule_policy ? "'" : "");
			goto out;
		}
		if (*rule_policy && *a->policy && strcmp(a->policy, rule_policy)) {
			snprintf(r.msg, sizeof(r.msg), "the application asked for policy '%s'; an "
				 "operator rule requires policy '%s' for this connection",
				 a->policy, rule_policy);
			goto out;
		}
		if (*rule_policy)
			policy = rule_policy;
	}
	if (a->mode != KATLS_MODE_ATTEST_SELF) {
		pol = katlsd_config_policy(w->cfg, policy);
		if (!pol) {
			r.reason = KATLS_R_POLICY;
			snprintf(r.msg, sizeof(r.msg), "no policy named '%s'%s", policy,
				 w->cfg->policies ? "" : " (katlsd has no policies configured)");
			ret = -EACCES;
			goto out;
		}
	}
	/* the daemon stops its I/O a little before the module's timeout */
	io_ms = timeout > 2000 ? timeout - (timeout / 10 > 500 ? timeout / 10 : 500) : timeout;
	tv.tv_sec = io_ms / 1000;
	tv.tv_usec = (io_ms % 1000) * 1000;
	/*
	 * A transparent request's socket is the program's, which knows nothing
	 * of us: its O_NONBLOCK stays; katls.ko makes our calls blocking.
	 */
	flags = a->transparent ? -1 : fcntl(fd, F_GETFL);
	getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &old_rcv, &tl);
	tl = sizeof(tv);
	getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &old_snd, &tl);
	if (flags >= 0 && (flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/*
	 * The handshake and the katls/1 exchange are small messages written back
	 * to back: without TCP_NODELAY, Nagle holds each second one for the peer's
	 * delayed ACK (~40 ms a turn).  The application's setting comes back after.
	 */
	getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &old_nodelay, &nl);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	ret = katls_tls_ssl_new(&ssl, client ? w->cfg->client_ctx : w->cfg->server_ctx, fd,
				client ? a->server_name : NULL);
	if (!ret)
		ret = katls_ktls_quickack_reads(ssl);	/* no tail loss probe at the peer */
	if (ret) {
		r.reason = KATLS_R_INTERNAL;
		snprintf(r.msg, sizeof(r.msg), "SSL_new: %s", strerror(-ret));
		goto restore;
	}
	t_hs0 = now_ms();
	ret = katls_tls_handshake(ssl, err, sizeof(err));
	t_hs = now_ms() - t0;
	if (ret) {
		long vr = SSL_get_verify_result(ssl);

		snprintf(r.msg, sizeof(r.msg), "%s", err);
		if (vr != X509_V_OK) {
			r.reason = vr == X509_V_ERR_HOSTNAME_MISMATCH ? KATLS_R_PKI_NAME :
				   KATLS_R_PKI_CHAIN;
			ret = -EACCES;
		} else {
			r.reason = ret == -ETIMEDOUT ? KATLS_R_TIMEOUT : KATLS_R_PROTOCOL;
		}
		goto restore;
	}
	ret = katls_exporter_from_ssl(&ex, ssl);
	if (!ret)
		ret = katls_ktls_install(ssl, fd, client);
	t_ktls = now_ms() - t0;
	if (ret) {
		r.reason = KATLS_R_INTERNAL;
		snprintf(r.msg, sizeof(r.msg), "kTLS handover (%s): %s",
			 katls_ktls_cipher_name(ssl), strerror(-ret));
		ret = -EPROTO;
		goto restore;
	}
	vp.policy = pol;
	vp.peer_name = client && *a->server_name ? a->server_name : NULL;
	p.role = a->role;
	p.mode = a->mode;
	p.tr.read = tr_read;
	p.tr.write = tr_write;
	p.tr.arg = w;
	w->fd = fd;
	p.ex = &ex;
	p.leaf = w->cfg->leaf;
	p.chain = w->cfg->chain;
	p.key = w->cfg->key;
	p.gather = gather;
	p.gather_arg = w;
	p.quote_timeout_ms = io_ms;
	p.no_batch = !w->cfg->batch.enabled;
	p.verify = pol ? &vp : NULL;
	ret = katls_session_run(&p, &r);
	t_x = now_ms() - t0 - t_ktls;
	if (r.verified_peer)
		log_summary(w, &r.peer.sum);
	if (!ret) {
		max_age = r.verified_peer ? r.peer.sum.max_age_s : r.peer_max_age_s;
		if (r.verified_peer && r.peer_max_age_s &&
		    (!max_age || r.peer_max_age_s < max_age))
			max_age = r.peer_max_age_s;
		if (ruled && rule.max_age_s && (!max_age || rule.max_age_s < max_age))
			max_age = rule.max_age_s;
	}
restore:
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &old_nodelay, sizeof(old_nodelay));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &old_rcv, sizeof(old_rcv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &old_snd, sizeof(old_snd));
	if (flags >= 0 && (flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags);
out:
	status = status_of(ret, r.reason);
	/*
	 * Peer identity: SHA-256 of the DER of the certificate it was verified
	 * under, the Exported Authenticator's leaf; else of its TLS handshake
	 * certificate, when it showed one.
	 */
	peer = ssl && !r.verified_peer ? SSL_get1_peer_certificate(ssl) : NULL;
	if (r.verified_peer && !status) {
		memcpy(digest, r.peer.sum.peer_sha256, sizeof(digest));
		dig = digest;
	} else if (peer) {
		unsigned char *der = NULL;
		int len = i2d_X509(peer, &der);

		if (len > 0 && SHA256(der, (size_t)len, digest))
			dig = digest;
		OPENSSL_free(der);
		X509_free(peer);
	}
	if (!status && max_age)
		expiry = (uint64_t)time(NULL) + max_age;
	gate_set(w, status ? KATLS_GATE_FAILED : KATLS_GATE_ATTESTED, KATLS_GATE_POLICY_KEEP,
		 max_age);
	if (done(w, status, status ? (r.reason ? r.reason : KATLS_R_INTERNAL) : 0, dig,
		 expiry) && !status) {
		/* the module failed it (no kTLS both ways: EPROTO) or had dropped it */
		status = -EPROTO;
		r.reason = KATLS_R_INTERNAL;
		snprintf(r.msg, sizeof(r.msg), "katls.ko did not take the verdict");
	}
	__atomic_add_fetch(status ? &katlsd.refused : &katlsd.accepted, 1, __ATOMIC_RELAXED);
	{
		struct katlsd_verdict v = {
			.a = a, .peer_addr = *w->peer ? w->peer : NULL, .status = status,
			.reason = r.reason, .msg = r.msg,
			.policy = pol ? pol->name : NULL, .ruled = ruled,
			.cipher = t_x > 0 ? katls_ktls_cipher_name(ssl) : NULL,
			.peer_verified = r.verified_peer, .self_attested = r.attested,
			.peer = r.verified_peer ? &r.peer.sum : NULL, .peer_cert_sha256 = dig,
			.max_age_s = max_age, .ms_total = now_ms() - t0,
			.ms_handshake = t_hs0 ? t_hs - (t_hs0 - t0) : -1,
			.ms_ktls = t_ktls > 0 ? t_ktls - t_hs : -1,
			.ms_evidence = w->t_gather_ms > 0 ? w->t_gather_ms : -1,
			.ms_quote = w->ev.quote_ms > 0 ? w->ev.quote_ms : -1,
			.ms_verify = r.verified_peer ? r.verify_ms : -1,
			.ms_exchange = t_x > 0 ? t_x : -1, .ms_peer = t_x > 0 ? w->t_wait_ms : -1,
			.round_trips = w->turns, .quote_batch = w->ev.batch_size,
			.quote_leaf = w->ev.batch_index, .ms_quote_queued = w->ev.wait_ms,
		};

		katlsd_verdict(&v);
	}
	katls_session_result_cleanup(&r);
	if (ssl) {
		katls_tls_ssl_wipe_secrets(ssl);
		SSL_free(ssl);	/* no SSL_shutdown: the records belong to kTLS now */
	}
	ERR_clear_error();
	OPENSSL_cleanse(digest, sizeof(digest));
}

static void *worker(void *arg)
{
	struct work *w = arg;
	uint64_t one = 1;

	run(w);
	close(w->a.fd);
	katlsd_config_put(w->cfg);
	OPENSSL_cleanse(w, sizeof(*w));
	free(w);
	OPENSSL_thread_stop();
	pthread_mutex_lock(&katlsd.lock);
	katlsd.workers--;
	pthread_cond_broadcast(&katlsd.idle);
	pthread_mutex_unlock(&katlsd.lock);
	if (write(katlsd.wake_fd, &one, sizeof(one)) < 0)
		return NULL;	/* the eventfd cannot overflow in practice */
	return NULL;
}

int katlsd_worker_start(const struct katls_accepted *a)
{
	struct work *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!w)
		return -ENOMEM;
	w->a = *a;
	w->cfg = katlsd_config_get();
	snprintf(w->tag, sizeof(w->tag), "req %u %s/%s", a->id,
		 a->role == KATLS_ROLE_CLIENT ? "client" : "server", mode_name(a->mode));
	workload_of(w);
	katlsd_peer_addr(a->fd, w->peer, sizeof(w->peer));
	pthread_mutex_lock(&katlsd.lock);
	katlsd.workers++;
	pthread_mutex_unlock(&katlsd.lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1 << 20);
	ret = -pthread_create(&t, &attr, worker, w);
	pthread_attr_destroy(&attr);
	if (ret) {
		pthread_mutex_lock(&katlsd.lock);
		katlsd.workers--;
		pthread_mutex_unlock(&katlsd.lock);
		katlsd_config_put(w->cfg);
		free(w);
	}
	return ret;
}
