/* SPDX-License-Identifier: MIT */
/*
 * katlsd internals: configuration (config.c), logging and the event loop
 * (main.c), request workers (worker.c).  See docs/man/katlsd.8.
 */
#ifndef KATLSD_H
#define KATLSD_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "appraisal/policy.h"
#include "evidence/evidence.h"
#include "kernel/gate.h"
#include "kernel/nl.h"

#define KATLSD_CONFIG_DEFAULT	"/etc/katls/katlsd.json"
#define KATLSD_MAX_WORKERS_DEFAULT	128
#define KATLSD_LOG_LINE_MAX	8192	/* one log line, prefix included */

/*
 * One loaded configuration.  Immutable once published; SIGHUP publishes a
 * new one and each worker keeps the one it started with (reference count).
 */
struct katlsd_config {
	int refs;			/* under katlsd.lock */
	char *path;
	char *cert_file, *key_file, *ca_file, *ciphersuites;
	char *policy_file, *default_policy;
	/* "metrics" (metrics_server.c): neither listen nor unix_path, no endpoint */
	struct {
		char *listen;			/* "127.0.0.1:9466" as written */
		struct sockaddr_storage addr;	/* ... parsed */
		socklen_t addr_len;
		bool allow_remote;		/* a non-loopback listen address is allowed */
		char *unix_path;
		unsigned int unix_mode;		/* of the socket file */
	} metrics;
	char *tcti, *ima_log;
	uint32_t ak_handle, ima_digest_size;
	unsigned int max_workers;
	char *gate_pin_dir;
	bool gate_required;
	/*
	 * Quote batching (katlsd.json(5) "quote_batch"): enabled is read per
	 * request (attest: share quotes; verify: offer the peer to); max,
	 * linger_ms and queue shape the batcher made at start.
	 */
	struct {
		bool enabled;
		unsigned int max, linger_ms, queue;
	} batch;
	/* derived */
	struct katls_policy_set *policies;	/* NULL: no policy file (attest only) */
	SSL_CTX *client_ctx, *server_ctx;
	X509 *leaf;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

/**
 * katlsd_config_load() - read, check and prepare @path
 * @err: one line naming the key and the problem.
 * Return: 0 and *@out (refs = 1), or -errno.
 */
int katlsd_config_load(const char *path, struct katlsd_config **out, char *err, size_t err_len);
void katlsd_config_free(struct katlsd_config *cfg);
/* The policy named @name ("" = the default), or NULL. */
const struct katls_policy *katlsd_config_policy(const struct katlsd_config *cfg,
						const char *name);

/* The daemon's shared state (main.c). */
struct katlsd {
	pthread_mutex_t lock;		/* cfg, workers, gate, src, ctl */
	pthread_cond_t idle;		/* a worker finished */
	struct katlsd_config *cfg;
	unsigned int workers;		/* running */
	struct katls_nl *ctl;		/* registered handle: ACCEPT and DONE */
	pthread_mutex_t ctl_lock;
	struct katls_evidence_source *src;	/* one TPM context (serialized inside) */
	pthread_mutex_t gate_lock;	/* struct katls_gate is single-threaded */
	struct katls_gate *gate;	/* NULL: not loaded (enforcement off) */
	bool gate_warned;
	int wake_fd;			/* eventfd: a worker finished, or an event */
	uint64_t requests, accepted, refused;
};

extern struct katlsd katlsd;

__attribute__((format(printf, 2, 3)))
void katlsd_log(int prio, const char *fmt, ...);

/* Takes/drops a reference on the current configuration. */
struct katlsd_config *katlsd_config_get(void);
void katlsd_config_put(struct katlsd_config *cfg);

/* The gate, opened on demand (exempting this process); NULL if not loaded.
 * Call with gate_lock held. */
struct katls_gate *katlsd_gate_locked(const char *pin_dir);

/* An accepted request, handed to a worker thread (owns a->fd). */
int katlsd_worker_start(const struct katls_accepted *a);

#endif /* KATLSD_H */
