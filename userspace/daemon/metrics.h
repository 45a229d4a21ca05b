/* SPDX-License-Identifier: MIT */
/*
 * katlsd's metrics and verdict log (docs/man/katlsd.8, METRICS and LOGGING).
 *
 *   metrics.c         the registry (counters and histograms updated with
 *                     relaxed atomics on the request path, no lock), the
 *                     OpenMetrics text formatter, and the verdict record:
 *                     katlsd_verdict() counts a request and logs its one
 *                     key=value line;
 *   metrics_server.c  the endpoint: a thread serving GET /metrics on the
 *                     configured Unix socket and/or loopback TCP port;
 *   logfmt.c          key=value escaping and the journal helpers;
 *   http.c            the request parser (http.h).
 */
#ifndef KATLSD_METRICS_H
#define KATLSD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appraisal/verify.h"
#include "katls.h"
#include "kernel/gate.h"
#include "kernel/nl.h"

struct katlsd_config;

/* ---- the registry ---------------------------------------------------------- */

/* Histogram upper bounds, seconds (OpenMetrics canonical form) and ns. */
#define KATLSD_HIST_BUCKETS	15

enum katlsd_phase {
	KATLSD_PH_HANDSHAKE,	/* TLS 1.3 handshake, whatever its outcome */
	KATLSD_PH_EVIDENCE,	/* gathering this host's Evidence (quote included) */
	KATLSD_PH_QUOTE,	/* the TPM2_Quote alone */
	KATLSD_PH_VERIFY,	/* verifying the peer's authenticator and Evidence */
	__KATLSD_PH_MAX
};

enum katlsd_result {
	KATLSD_ACCEPTED,
	KATLSD_REFUSED,
	__KATLSD_RESULT_MAX
};

/* HTTP statuses the endpoint answers with, counted by katlsd_metrics_http(). */
#define KATLSD_HTTP_CODES	{ 200, 400, 404, 405, 408, 414, 431, 500, 503, 505 }
#define KATLSD_NUM_HTTP_CODES	10

struct katlsd_hist {
	uint64_t bucket[KATLSD_HIST_BUCKETS + 1];	/* per bucket (not cumulative); last: +Inf */
	uint64_t sum_ns;
};

struct katlsd_metrics {
	/* verdicts by reason: [KATLS_R_OK] counts the accepted ones */
	uint64_t verdicts[__KATLS_R_MAX];
	/* completed requests by role (client, server) and mode (verify, attest, mutual) */
	uint64_t requests[2][3];
	struct katlsd_hist request[__KATLSD_RESULT_MAX];
	struct katlsd_hist phase[__KATLSD_PH_MAX];
	uint64_t http[KATLSD_NUM_HTTP_CODES];
	uint64_t start_time;	/* seconds since the epoch */
};

/* katlsd's registry. */
extern struct katlsd_metrics katlsd_metrics;

/* The bucket an observation of @ns falls in: the first bound >= @ns. */
unsigned int katlsd_hist_index(uint64_t ns);
void katlsd_hist_observe(struct katlsd_hist *h, double ms);
/* Counts a response with HTTP @status (unknown statuses are not counted). */
void katlsd_metrics_http(struct katlsd_metrics *m, int status);

/* What a scrape reads from outside the registry (metrics_server.c). */
struct katlsd_metrics_sources {
	const char *version;
	unsigned int workers, max_workers;	/* requests in katlsd's workers; the cap */
	bool have_module;			/* module is valid (STATE_GET answered) */
	struct katls_state module;
	bool gate_loaded;			/* katlsd has the pinned gate open */
	bool have_gate_stats;			/* gate is valid */
	uint64_t gate[__KATLS_CNT_MAX];
};

/**
 * katlsd_metrics_format() - the OpenMetrics text exposition of @m and @src
 *
 * Reads @m with atomic loads, the request counters first, so that a request
 * counted there has all its other counts in the same exposition.  Every
 * family has # TYPE and # HELP, every series of a labelled counter is
 * present from the start (zero), and the text ends with "# EOF\n".
 * Return: the length written into @out, or 0 if @out_len is too small.
 */
size_t katlsd_metrics_format(const struct katlsd_metrics *m,
			     const struct katlsd_metrics_sources *src, char *out, size_t out_len);

/* ---- the verdict ---------------------------------------------------------- */

/* One finished request, as worker.c saw it. */
struct katlsd_verdict {
	const struct katls_accepted *a;	/* id, role, mode, the requesting workload */
	const char *peer_addr;		/* katlsd_peer_addr() of its socket, or NULL */
	int status;			/* 0 or the -errno the application gets */
	unsigned int reason;		/* KATLS_R_*; KATLS_R_OK if accepted */
	const char *msg;		/* why it was refused, or NULL */
	const char *policy;		/* the policy the peer was verified under, or NULL */
	bool ruled;			/* an operator (gate) rule covered the connection */
	const char *cipher;		/* kTLS cipher, or NULL */
	bool peer_verified;		/* we verified the peer's Evidence (accepted or not) */
	bool self_attested;		/* the peer accepted ours */
	const struct katls_verify_summary *peer;	/* when peer_verified, else NULL */
	const uint8_t *peer_cert_sha256;	/* what the module was told, or NULL */
	uint32_t max_age_s;
	/* milliseconds; < 0: the phase did not run */
	double ms_total, ms_handshake, ms_ktls, ms_evidence, ms_quote, ms_verify;
	double ms_exchange, ms_peer;	/* the katls/1 exchange; blocked on the peer */
	unsigned int round_trips;
	/* our quote (when we attested): the batch it shared (1: its own), our leaf, queued ms */
	size_t quote_batch, quote_leaf;
	double ms_quote_queued;
};

/* A verdict with nothing but a refusal (the request never reached a worker). */
#define KATLSD_VERDICT_INIT(a_, status_, reason_, msg_) {				\
	.a = (a_), .status = (status_), .reason = (reason_), .msg = (msg_),	\
	.ms_total = -1, .ms_handshake = -1, .ms_ktls = -1, .ms_evidence = -1,		\
	.ms_quote = -1, .ms_verify = -1, .ms_exchange = -1, .ms_peer = -1 }

/* Counts @v in @m: phases, result by reason, and last its request. */
void katlsd_metrics_record(struct katlsd_metrics *m, const struct katlsd_verdict *v);

/**
 * katlsd_verdict_format() - @v as one key=value line (no newline)
 * Return: its length; a line that would not fit in @out_len ends in
 * " truncated=true" (always within @out_len).
 */
size_t katlsd_verdict_format(const struct katlsd_verdict *v, char *out, size_t out_len);

/* "198.51.100.7:443" or "[2001:db8::1]:443", the peer of socket @fd; NULL if unknown. */
const char *katlsd_peer_addr(int fd, char *out, size_t out_len);

/* Counts @v in katlsd_metrics and logs its line (LOG_INFO accepted, LOG_NOTICE refused). */
void katlsd_verdict(const struct katlsd_verdict *v);

/* ---- logging helpers (logfmt.c) --------------------------------------------- */

/*
 * Appends " key=value" to @out (length *@len, capacity @out_len): the value
 * bare if it is non-empty printable ASCII without space, '"', '=' or '\\',
 * else in double quotes with \" \\ \n \r \t and \xHH for other bytes outside
 * printable ASCII.  False (nothing appended) if it does not fit.
 */
bool katlsd_logfmt(char *out, size_t out_len, size_t *len, const char *key, const char *value);
/* True when standard error is the journal's stream (JOURNAL_STREAM names its device:inode). */
bool katlsd_stderr_is_journal(void);
/* Replaces control characters in @line with '?': one log line stays one line. */
void katlsd_log_sanitize(char *line);

/* ---- the endpoint (metrics_server.c) ------------------------------------------ */

/**
 * katlsd_metrics_start() - open the configured listeners and start serving
 *
 * Nothing to do (0) when @cfg configures no endpoint.  Call once, with the
 * signals katlsd handles blocked (the thread inherits the mask).
 * Return: 0, or -errno with one line in @err.
 */
int katlsd_metrics_start(const struct katlsd_config *cfg, char *err, size_t err_len);
/* Removes the Unix socket katlsd_metrics_start() created (at exit). */
void katlsd_metrics_stop(void);

#endif /* KATLSD_METRICS_H */
