// SPDX-License-Identifier: MIT
/*
 * bench_verify: verifications per second on one core (CPU time of this
 * thread), on Evidence from a real swtpm (bench/verify_saved.sh makes it).
 *
 *   bench_verify DIR POLICY.json [SECONDS [TAIL_DIR]]
 *	an exchange saved by `katls connect --save-evidence` (200-entry IMA
 *	log): the full verification a relying party does for a connection —
 *	RFC 9261 validation, PKI chain and name, CMW, binder, AK pin, quote
 *	signature, PCR digest, IMA replay and allowlist — except deriving the
 *	exporter values, which are read from DIR once.  Printed: a known
 *	attester (one loaded policy: the steady state of a verifier), first
 *	contact (a policy loaded afresh, untimed, before each verification:
 *	empty caches), and the floor, two ECDSA P-256 verifications (the
 *	quote's and the CertificateVerify's) as this code makes them.  With
 *	TAIL_DIR, an exchange saved by `katls connect --resume-from DIR`, also
 *	a known attester answering with the IMA entries after the prefix DIR
 *	covered (incremental IMA, the protocol's steady state).  With
 *	$KATLS_BENCH_BEFORE (verifications per CPU second of the tree before
 *	issue 12, measured by verify_saved.sh in the same run), the ratios.
 *
 *   bench_verify --ima LOG_PREFIX LOG_FULL NEW_DIGESTS POLICY.json CERT KEY [SECONDS]
 *	incremental IMA on a large log: Evidence gathered from the swtpm of
 *	$KATLS_TCTI (AK at the default handle) with LOG_PREFIX, whose entries
 *	PCR 10 holds; then PCR 10 is extended with NEW_DIGESTS (tpm2_pcrextend)
 *	and LOG_FULL, LOG_PREFIX plus those entries, is attested twice: whole,
 *	and as the tail a verifier holding LOG_PREFIX's prefix asks for.
 *	Printed: Evidence verification (everything after RFC 9261 validation:
 *	a 100k-entry log is too large for an authenticator's cmw_attestation,
 *	whose length is a u16) of the whole log by a verifier that never saw
 *	the attester, of the tail by one that did, their ratio, and the
 *	memory a verifier keeps per attester.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "appraisal/ima_cache.h"
#include "appraisal/policy.h"
#include "appraisal/verify.h"
#include "evidence/evidence.h"
#include "wire/ea.h"
#include "wire/ima_prefix.h"

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_verify: %s: %s\n", what, why);
	exit(1);
}

static struct katls_policy_set *load_policy(const char *file)
{
	struct katls_policy_set *set;
	char err[512];

	if (katls_policy_load(file, &set, err, sizeof(err)))
		die("policy", err);
	return set;
}

/*
 * Verifications of @s per CPU second for @secs: under @set, or (NULL) under
 * @file loaded afresh, untimed, before each.
 */
static double rate_saved(const struct katls_saved *s, struct katls_policy_set *set,
			 const char *file, double secs)
{
	double busy = 0;
	unsigned long n = 0;

	while (busy < secs) {
		struct katls_policy_set *fresh = set ? NULL : load_policy(file);
		struct katls_verify_params p = { .policy = &(set ? set : fresh)->policies[0] };
		struct katls_verify_result r;
		double t0 = cpu_now();
		int ret = katls_saved_verify(s, &p, &r);

		busy += cpu_now() - t0;
		if (ret)
			die("verification failed", r.msg);
		katls_verify_result_cleanup(&r);
		katls_policy_set_free(fresh);
		n++;
	}
	return n / busy;
}

/* Two ECDSA P-256 verifications (SHA-256) per round, as ea.c and quote.c make them. */
static double rate_floor(double secs)
{
	static const uint8_t msg[64] = "katls: the floor of one verification";
	EVP_PKEY *key = EVP_EC_gen("P-256");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sig[80];
	size_t sig_len = sizeof(sig);
	unsigned long n = 0;
	double t0, busy = 0;

	if (!key || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)) != 1)
		die("floor", "cannot sign");
	t0 = cpu_now();
	while (busy < secs) {
		for (int i = 0; i < 2; i++) {
			EVP_MD_CTX *v = EVP_MD_CTX_new();

			if (!v || EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, key) != 1 ||
			    EVP_DigestVerify(v, sig, sig_len, msg, sizeof(msg)) != 1)
				die("floor", "does not verify");
			EVP_MD_CTX_free(v);
		}
		n++;
		busy = cpu_now() - t0;
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return n / busy;
}

/* A known attester's tail: @tail_dir's request names the prefix @dir covered. */
static double rate_tail(const struct katls_saved *s, const char *tail_dir,
			struct katls_policy_set *set, double secs)
{
	struct katls_saved *t;
	char err[512];
	double rate;

	if (katls_saved_load(tail_dir, &t, err, sizeof(err)))
		die("saved tail", err);
	rate_saved(s, set, NULL, 0);		/* the verifier knows the attester */
	rate = rate_saved(t, set, NULL, secs);
	katls_saved_free(t);
	return rate;
}

static int saved_main(const char *dir, const char *policy, double secs, const char *tail_dir)
{
	const char *before_env = getenv("KATLS_BENCH_BEFORE");
	struct katls_policy_set *set = load_policy(policy);
	double warm, cold, floor, tail = 0, before = before_env ? atof(before_env) : 0;
	struct katls_saved *s;
	char err[512];

	if (katls_saved_load(dir, &s, err, sizeof(err)))
		die("saved exchange", err);
	rate_saved(s, set, NULL, 0.2);		/* warm the caches */
	warm = rate_saved(s, set, NULL, secs);
	cold = rate_saved(s, NULL, policy, secs);
	if (tail_dir)
		tail = rate_tail(s, tail_dir, set, secs);
	floor = rate_floor(secs);
	if (before > 0)
		printf("before (%s, its bench_verify, this run):  %7.0f /s per core (%.0f us)\n",
		       getenv("KATLS_BENCH_BEFORE_NAME") ? getenv("KATLS_BENCH_BEFORE_NAME") : "?",
		       before, 1e6 / before);
	printf("after, known attester (steady state):       %7.0f /s per core (%.0f us)",
	       warm, 1e6 / warm);
	if (before > 0)
		printf(": %.1fx before", warm / before);
	printf("\nafter, first contact (empty caches):        %7.0f /s per core (%.0f us)",
	       cold, 1e6 / cold);
	if (before > 0)
		printf(": %.1fx before", cold / before);
	if (tail > 0) {
		printf("\nafter, known attester, incremental IMA:     %7.0f /s per core (%.0f us)",
		       tail, 1e6 / tail);
		if (before > 0)
			printf(": %.1fx before", tail / before);
	}
	printf("\nfloor, 2 ECDSA P-256 verifications:          %7.0f /s per core (%.0f us): "
	       "a known attester takes %.2fx the floor's time\n", floor, 1e6 / floor,
	       floor / (tail > warm ? tail : warm));
	katls_saved_free(s);
	katls_policy_set_free(set);
	return 0;
}

/* ---- --ima: a 100k-entry log, whole and incremental ------------------------ */

struct attester {
	struct katls_evidence_source *src;
	EVP_PKEY *key;
	X509 *leaf;
	struct katls_exporter ex;
	struct katls_exporter_secret secret;
};

static X509 *read_cert(const char *file)
{
	FILE *f = fopen(file, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	if (!x)
		die(file, "not a PEM certificate");
	return x;
}

static EVP_PKEY *read_key(const char *file)
{
	FILE *f = fopen(file, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	if (!k)
		die(file, "not a PEM private key");
	return k;
}

/* Evidence of the attester reading @log, for a request (with @hint, if any). */
static void gather(struct attester *a, const char *log, const struct katls_ima_hint *hint,
		   struct katls_ea_request *req, struct katls_buf *cmw)
{
	struct katls_evidence_config cfg = { .ima_log = log, .ima_digest_size = 32,
					     .no_kernel = true };
	struct katls_ea_request_params rp = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST };
	struct katls_buf ext = KATLS_BUF_INIT;
	char err[512];

	if (hint && katls_ima_hint_encode(hint, &ext))
		die("hint", "cannot encode");
	rp.extra_exts = ext.data;
	rp.extra_exts_len = ext.len;
	if (katls_ea_request_build(req, &rp))
		die("request", "cannot build");
	katls_evidence_source_free(a->src);
	if (katls_evidence_source_new(&a->src, &cfg, err, sizeof(err)) ||
	    katls_evidence_gather(a->src, &(struct katls_evidence_request){
		    .ex = &a->ex, .leaf_key = a->key, .crc = req->crc, .crc_len = req->crc_len },
		    cmw, err, sizeof(err)))
		die("Evidence", err);
	if (hint && katls_ima_hint_answer(req, cmw) != 1)
		die("Evidence", "the attester did not answer with a tail");
	katls_buf_cleanup(&ext);
}

static int verify_ev(struct attester *a, const struct katls_policy *pol,
		     struct katls_ima_prefix *prefix, const struct katls_ea_request *req,
		     const struct katls_buf *cmw, struct katls_verify_result *r)
{
	struct katls_verify_params p = { .policy = pol, .peer_name = "server.test",
					 .ima_prefix = prefix };

	memset(r, 0, sizeof(*r));
	return katls_verify_evidence(&p, &a->ex, KATLS_ROLE_SERVER, req, a->leaf, NULL,
				     cmw->data, cmw->len, r);
}

/*
 * Verifications per CPU second: the whole log by verifiers that never saw
 * the attester (a policy loaded afresh, untimed), or the tail under @set
 * from @prefix.
 */
static double rate_ev(struct attester *a, const char *policy, struct katls_policy_set *set,
		      struct katls_ima_prefix *prefix, const struct katls_ea_request *req,
		      const struct katls_buf *cmw, double secs, uint32_t *covered)
{
	double busy = 0;
	unsigned long n = 0;

	while (busy < secs || n < 3) {
		struct katls_policy_set *use = set ? set : load_policy(policy);
		struct katls_verify_result r;
		double t0 = cpu_now();
		int ret = verify_ev(a, &use->policies[0], prefix, req, cmw, &r);

		busy += cpu_now() - t0;
		if (ret)
			die("verification failed", r.msg);
		*covered = r.sum.ima_covered;
		if (!set)
			katls_policy_set_free(use);
		n++;
	}
	return n / busy;
}

static void extend(const char *digests)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "sed 's/^/10:sha256=/' '%s' | xargs tpm2_pcrextend", digests);
	if (system(cmd))
		die("tpm2_pcrextend", digests);
}

static int ima_main(char **argv, double secs)
{
	const char *log_prefix = argv[0], *log_full = argv[1], *policy = argv[3];
	struct katls_ea_request req_a, req_full, req_tail;
	struct katls_buf ev_a = KATLS_BUF_INIT, ev_full = KATLS_BUF_INIT, ev_tail = KATLS_BUF_INIT;
	struct katls_policy_set *set = load_policy(policy);
	struct katls_ima_prefix *prefix;
	struct katls_verify_result r;
	struct katls_ima_hint hint;
	struct attester a = { 0 };
	uint8_t secret[32], tag[32];
	uint32_t covered_full = 0, covered_tail = 0;
	double full, tail;

	a.leaf = read_cert(argv[4]);
	a.key = read_key(argv[5]);
	if (RAND_bytes(secret, sizeof(secret)) != 1 ||
	    katls_exporter_from_secret(&a.ex, &a.secret, EVP_sha256(), secret, sizeof(secret)))
		die("exporter", "cannot make one");
	/* the verifier meets the attester: the whole prefix log, then cached */
	gather(&a, log_prefix, NULL, &req_a, &ev_a);
	if (verify_ev(&a, &set->policies[0], NULL, &req_a, &ev_a, &r))
		die("prefix verification", r.msg);
	katls_ima_cache_tag(NULL, 0, "server.test", tag);
	prefix = katls_ima_cache_by_peer(set->policies[0].ima_cache, tag);
	if (!prefix)
		die("prefix", "not cached");
	katls_ima_hint_of(prefix, &hint);
	/* new measurements; the attester answers a fresh verifier and the one that knows it */
	extend(argv[2]);
	gather(&a, log_full, NULL, &req_full, &ev_full);
	gather(&a, log_full, &hint, &req_tail, &ev_tail);
	full = rate_ev(&a, policy, NULL, NULL, &req_full, &ev_full, secs, &covered_full);
	tail = rate_ev(&a, policy, set, prefix, &req_tail, &ev_tail, secs, &covered_tail);
	printf("IMA log of %u entries, %llu of them new since the verifier's last attestation\n",
	       covered_full, (unsigned long long)(covered_full - prefix->num_entries));
	printf("  whole log, verifier that never saw the attester: %8.2f ms (%zu bytes of "
	       "Evidence)\n", 1e3 / full, ev_full.len);
	printf("  incremental, tail after its cached prefix:       %8.2f ms (%zu bytes of "
	       "Evidence)\n", 1e3 / tail, ev_tail.len);
	printf("  ratio whole / incremental: %.0fx\n", tail / full);
	printf("  memory the verifier keeps per attester: %zu bytes (cache of %u attesters: "
	       "%zu KiB at most)\n", katls_ima_cache_entry_bytes(),
	       set->policies[0].ima.cache_attesters,
	       katls_ima_cache_entry_bytes() * set->policies[0].ima.cache_attesters / 1024);
	if (covered_tail != covered_full)
		die("incremental", "covers other entries than the whole log");
	katls_ima_prefix_unref(prefix);
	katls_ea_request_cleanup(&req_a);
	katls_ea_request_cleanup(&req_full);
	katls_ea_request_cleanup(&req_tail);
	katls_buf_cleanup(&ev_a);
	katls_buf_cleanup(&ev_full);
	katls_buf_cleanup(&ev_tail);
	katls_evidence_source_free(a.src);
	katls_exporter_secret_cleanup(&a.secret);
	EVP_PKEY_free(a.key);
	X509_free(a.leaf);
	katls_policy_set_free(set);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 8 && !strcmp(argv[1], "--ima"))
		return ima_main(argv + 2, argc > 8 ? atof(argv[8]) : 3.0);
	if (argc < 3) {
		/* make bench runs every binary bare: say where the real run is */
		printf("bench_verify: needs a saved exchange: see bench/verify_saved.sh\n");
		return 0;
	}
	return saved_main(argv[1], argv[2], argc > 3 ? atof(argv[3]) : 3.0,
			  argc > 4 ? argv[4] : NULL);
}
