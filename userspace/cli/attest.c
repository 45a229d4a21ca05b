// SPDX-License-Identifier: MIT
/* Helpers shared by katls serve, connect and verify. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest.h"
#include "cli.h"
#include "evidence/evidence.h"
#include "wire/tls.h"

int katls_cli_identity_load(struct katls_cli_identity *id, const char *cert, const char *key)
{
	BIO *bio;
	X509 *x;

	memset(id, 0, sizeof(*id));
	bio = BIO_new_file(cert, "r");
	id->leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!id->leaf) {
		BIO_free(bio);
		ERR_clear_error();
		fprintf(stderr, "katls: cannot read certificate %s\n", cert);
		return -EINVAL;
	}
	id->chain = sk_X509_new_null();
	while (id->chain && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		sk_X509_push(id->chain, x);
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_file(key, "r");
	id->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!id->key) {
		fprintf(stderr, "katls: cannot read private key %s\n", key);
		katls_cli_identity_cleanup(id);
		return -EINVAL;
	}
	if (X509_check_private_key(id->leaf, id->key) != 1) {
		ERR_clear_error();
		fprintf(stderr, "katls: key %s does not match certificate %s\n", key, cert);
		katls_cli_identity_cleanup(id);
		return -EINVAL;
	}
	return 0;
}

void katls_cli_identity_cleanup(struct katls_cli_identity *id)
{
	X509_free(id->leaf);
	sk_X509_pop_free(id->chain, X509_free);
	EVP_PKEY_free(id->key);
	memset(id, 0, sizeof(*id));
}

int katls_cli_policy_load(const char *file, const char *name, struct katls_policy_set **set,
			  const struct katls_policy **pol)
{
	char err[512];
	int ret = katls_policy_load(file, set, err, sizeof(err));

	if (ret) {
		fprintf(stderr, "katls: policy: %s\n", *err ? err : strerror(-ret));
		return ret;
	}
	if (!(*set)->num_policies) {
		fprintf(stderr, "katls: policy %s defines no policy\n", file);
		return -EINVAL;
	}
	*pol = name ? katls_policy_set_find(*set, name) : &(*set)->policies[0];
	if (!*pol) {
		fprintf(stderr, "katls: policy %s has no policy named '%s'\n", file, name);
		return -ENOENT;
	}
	return 0;
}

int katls_cli_mode_parse(const char *s, enum katls_mode *mode)
{
	if (!strcmp(s, "attest"))
		*mode = KATLS_MODE_ATTEST_SELF;
	else if (!strcmp(s, "verify"))
		*mode = KATLS_MODE_VERIFY_PEER;
	else if (!strcmp(s, "mutual"))
		*mode = KATLS_MODE_MUTUAL;
	else
		return -EINVAL;
	return 0;
}

const char *katls_cli_mode_name(enum katls_mode mode)
{
	switch (mode) {
	case KATLS_MODE_ATTEST_SELF:
		return "attest";
	case KATLS_MODE_VERIFY_PEER:
		return "verify";
	case KATLS_MODE_MUTUAL:
		return "mutual";
	default:
		return "?";
	}
}

int katls_cli_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX || *s == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int katls_cli_attest_opt(struct katls_cli_attest_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'c': o->cert = arg; break;
	case 'k': o->key = arg; break;
	case 'C': o->ca = arg; break;
	case 'P': o->policy = arg; break;
	case 'N': o->policy_name = arg; break;
	case 'T': o->tcti = arg; break;
	case 'I': o->ima_log = arg; break;
	case 'S': o->ciphers = arg; break;
	case 's': o->save_dir = arg; break;
	case 'j': o->json = true; break;
	case 'B': o->no_batch = true; break;
	case 'X':
		if (katls_cli_parse_u32(arg, &o->batch_max) || !o->batch_max ||
		    o->batch_max > KATLS_BATCH_MAX) {
			fprintf(stderr, "%s: --batch-max must be 1..%u\n", o->cmd, KATLS_BATCH_MAX);
			return -EINVAL;
		}
		break;
	case 'L':
		if (katls_cli_parse_u32(arg, &o->batch_linger) ||
		    o->batch_linger > KATLS_QUOTE_LINGER_MAX_MS) {
			fprintf(stderr, "%s: --batch-linger must be 0..%u (ms)\n", o->cmd,
				KATLS_QUOTE_LINGER_MAX_MS);
			return -EINVAL;
		}
		break;
	case 'm':
		if (katls_cli_mode_parse(arg, &o->mode)) {
			fprintf(stderr, "%s: --mode must be %s\n", o->cmd, o->modes);
			return -EINVAL;
		}
		break;
	case 'H':
	case 'D':
	case 't':
		if (katls_cli_parse_u32(arg, c == 'H' ? &o->ak_handle : c == 'D' ?
					&o->ima_digest_size : &o->timeout)) {
			fprintf(stderr, "%s: bad number '%s'\n", o->cmd, arg);
			return -EINVAL;
		}
		break;
	case 'h':
		o->usage(stdout);
		exit(KATLS_EXIT_OK);
	default:
		return 0;
	}
	return 1;
}

int katls_cli_attest_getopt(struct katls_cli_attest_opts *o, int argc, char **argv,
			    const struct option *opts,
			    int (*local)(void *arg, int c, const char *val), void *arg)
{
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		ret = katls_cli_attest_opt(o, c, optarg);
		if (ret < 0)
			return ret;
		if (!ret && local(arg, c, optarg)) {
			o->usage(stderr);
			return -EINVAL;
		}
	}
	return 0;
}

int katls_cli_attest_setup(struct katls_cli_attest *a, const struct katls_cli_attest_opts *o,
			   enum katls_role role)
{
	struct katls_tls_config tc = { .role = role };
	struct katls_evidence_config ec = { 0 };
	char err[512];

	if (o->policy && katls_cli_policy_load(o->policy, o->policy_name, &a->set,
					       &a->vp.policy))
		return -EINVAL;
	if (o->cert && katls_cli_identity_load(&a->id, o->cert, o->key))
		return -EINVAL;
	tc.cert_file = o->cert;
	tc.key_file = o->key;
	tc.ca_file = o->ca;	/* server: optional, verifies TLS client certificates */
	tc.ciphersuites = o->ciphers;
	if (katls_tls_ctx_new(&a->ctx, &tc, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", o->cmd, err);
		return -EINVAL;
	}
	if (o->mode != KATLS_MODE_VERIFY_PEER) {
		ec.tcti = o->tcti;
		ec.ak_handle = o->ak_handle;
		ec.ima_log = o->ima_log;
		ec.ima_digest_size = o->ima_digest_size;
		ec.batch.max = o->no_batch ? 1 : o->batch_max;
		ec.batch.linger_ms = o->batch_linger;
		ec.test_corrupt = getenv("KATLS_TEST_CORRUPT");
		if (katls_evidence_source_new(&a->src, &ec, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", o->cmd, err);
			return -EINVAL;
		}
	}
	return 0;
}

void katls_cli_attest_cleanup(struct katls_cli_attest *a)
{
	SSL_CTX_free(a->ctx);
	katls_evidence_source_free(a->src);
	katls_cli_identity_cleanup(&a->id);
	katls_policy_set_free(a->set);
	memset(a, 0, sizeof(*a));
}

void katls_cli_attest_params(struct katls_session_params *p, const struct katls_cli_attest *a,
			     const struct katls_cli_attest_opts *o)
{
	p->mode = o->mode;
	p->leaf = a->id.leaf;
	p->chain = a->id.chain;
	p->key = a->id.key;
	p->src = a->src;
	p->verify = &a->vp;
	p->save_dir = o->save_dir;
	p->no_batch = o->no_batch;
	p->quote_timeout_ms = o->timeout * 1000;
}

int katls_cli_set_timeout(int fd, unsigned int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

int katls_cli_set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ? -errno : 0;
}

int katls_cli_session(SSL *ssl, struct katls_session_params *p, struct katls_session_result *r)
{
	struct katls_exporter ex;
	int ret = katls_exporter_from_ssl(&ex, ssl);

	if (ret) {
		memset(r, 0, sizeof(*r));
		r->reason = KATLS_R_INTERNAL;
		snprintf(r->msg, sizeof(r->msg), "no TLS 1.3 exporter: %s", strerror(-ret));
		return ret;
	}
	p->ex = &ex;
	p->tr.read = katls_tls_read;
	p->tr.write = katls_tls_write;
	p->tr.arg = ssl;
	ret = katls_session_run(p, r);
	p->ex = NULL;
	return ret;
}

int katls_cli_exit_code(int ret, const struct katls_session_result *r)
{
	if (!ret && r->reason == KATLS_R_OK)
		return KATLS_EXIT_OK;
	if (r->reason == KATLS_R_INTERNAL || r->reason == KATLS_R_OK)
		return KATLS_EXIT_FAIL;
	return KATLS_EXIT_REFUSED;
}

/* "sha256:<hex>" of the workload's exe digest ("alg<N>:<hex>" for another). */
static void workload_digest_str(char *out, size_t len, const struct katls_verify_summary *s)
{
	int alg = katls_ima_hash_from_kernel_algo(s->workload_digest_alg);
	char hex[2 * sizeof(s->workload_digest) + 1];

	katls_hex_str(hex, s->workload_digest, s->workload_digest_len);
	if (alg >= 0)
		snprintf(out, len, "%s:%s", katls_ima_hash_name((unsigned int)alg), hex);
	else
		snprintf(out, len, "alg%u:%s", s->workload_digest_alg, hex);
}

/*
 * The workload's exe path and digest are verified against the quoted IMA
 * log (or marked unverified); pid, uid and cgroup are its own claims.
 */
static json_object *workload_json(const struct katls_verify_summary *s)
{
	json_object *o = json_object_new_object();
	char dig[160];

	workload_digest_str(dig, sizeof(dig), s);
	json_object_object_add(o, "exe", json_object_new_string(s->workload_exe));
	json_object_object_add(o, "exe_digest", json_object_new_string(dig));
	json_object_object_add(o, "verified", json_object_new_boolean(s->workload_verified));
	if (s->workload_verified)
		json_object_object_add(o, "ima_entry", json_object_new_int64(s->workload_ima_index));
	else
		json_object_object_add(o, "unverified", json_object_new_string(
			s->workload_unverified));
	json_object_object_add(o, "pid", json_object_new_int64(s->workload_pid));
	json_object_object_add(o, "uid", json_object_new_int64(s->workload_uid));
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(s->workload_cgroup_id));
	return o;
}

/* The fields that are the attester's own claims, covered by no TPM quote. */
static json_object *advisory_json(const struct katls_verify_summary *s)
{
	json_object *a = json_object_new_array();

	if (s->has_kernel)
		json_object_array_add(a, json_object_new_string("kernel"));
	if (s->has_workload) {
		if (!s->workload_verified)
			json_object_array_add(a, json_object_new_string("workload.exe"));
		json_object_array_add(a, json_object_new_string("workload.pid"));
		json_object_array_add(a, json_object_new_string("workload.uid"));
		json_object_array_add(a, json_object_new_string("workload.cgroup_id"));
	}
	return a;
}

static json_object *summary_json(const struct katls_verify_summary *s)
{
	json_object *o = json_object_new_object();
	char hex[65];

	json_object_object_add(o, "subject", json_object_new_string(s->peer_subject));
	if (s->sigalg) {
		snprintf(hex, sizeof(hex), "0x%04x", s->sigalg);
		json_object_object_add(o, "signature_scheme", json_object_new_string(hex));
	}
	if (*s->ak_fpr)
		json_object_object_add(o, "ak_sha256", json_object_new_string(s->ak_fpr));
	if (*s->ak_name)
		json_object_object_add(o, "ak_name", json_object_new_string(s->ak_name));
	if (s->ak_pinned_by)
		json_object_object_add(o, "ak_pinned_by", json_object_new_string(s->ak_pinned_by));
	if (s->has_pcr10) {
		katls_hex_str(hex, s->pcr10, 32);
		json_object_object_add(o, "pcr10", json_object_new_string(hex));
	}
	if (s->has_ima) {
		json_object *ima = json_object_new_object();

		json_object_object_add(ima, "records", json_object_new_int64(s->ima_records));
		json_object_object_add(ima, "covered", json_object_new_int64(s->ima_covered));
		json_object_object_add(o, "ima", ima);
	}
	if (s->has_kernel)
		json_object_object_add(o, "kernel_release",
				       json_object_new_string(s->kernel_release));
	if (s->has_workload) {
		json_object_object_add(o, "workload_exe", json_object_new_string(s->workload_exe));
		json_object_object_add(o, "workload", workload_json(s));
	}
	if (s->has_kernel || s->has_workload)
		json_object_object_add(o, "advisory", advisory_json(s));
	if (s->batch_size) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "size", json_object_new_int64(s->batch_size));
		json_object_object_add(b, "index", json_object_new_int64(s->batch_index));
		json_object_object_add(o, "quote_batch", b);
	}
	return o;
}

static void print_summary_text(const struct katls_verify_summary *s)
{
	char dig[160];

	printf("  peer       %s\n", s->peer_subject);
	if (*s->ak_name)
		printf("  ak         %s%s%s\n", s->ak_name, s->ak_pinned_by ? ", pinned by " : "",
		       s->ak_pinned_by ? s->ak_pinned_by : "");
	if (*s->ak_fpr)
		printf("  ak key     sha256:%s\n", s->ak_fpr);
	if (s->batch_size)
		printf("  quote      shared by a batch of %u sessions (this one: leaf %u), "
		       "proven for this session's binder\n", s->batch_size, s->batch_index);
	if (s->has_pcr10) {
		printf("  pcr 10     sha256:");
		katls_hex(stdout, s->pcr10, 32);
		printf("\n");
	}
	if (s->has_ima)
		printf("  ima        %u entries covered by the quote (%u in the log)\n",
		       s->ima_covered, s->ima_records);
	if (s->has_kernel)
		printf("  kernel     %s (advisory: self-reported, not covered by the TPM)\n",
		       s->kernel_release);
	if (s->has_workload) {
		workload_digest_str(dig, sizeof(dig), s);
		if (s->workload_verified)
			printf("  workload   %s %s, verified: IMA entry %u, covered by the quote\n",
			       s->workload_exe, dig, s->workload_ima_index);
		else
			printf("  workload   %s %s, UNVERIFIED: %s\n", s->workload_exe, dig,
			       s->workload_unverified);
		printf("             pid %u uid %u cgroup %llu (advisory: self-reported)\n",
		       s->workload_pid, s->workload_uid,
		       (unsigned long long)s->workload_cgroup_id);
	}
}

static void json_print(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

void katls_cli_print_result(const char *what, bool json, enum katls_mode mode, int ret,
			    const struct katls_session_result *r)
{
	int code = katls_cli_exit_code(ret, r);
	const char *result = code == KATLS_EXIT_OK ? "accepted" :
			     code == KATLS_EXIT_REFUSED ? "refused" : "error";

	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "peer", json_object_new_string(what));
		json_object_object_add(o, "mode", json_object_new_string(katls_cli_mode_name(mode)));
		json_object_object_add(o, "result", json_object_new_string(result));
		json_object_object_add(o, "reason", json_object_new_string(
			katls_reason_name(r->reason)));
		json_object_object_add(o, "reason_code", json_object_new_int(r->reason));
		json_object_object_add(o, "message", json_object_new_string(r->msg));
		json_object_object_add(o, "peer_verified", json_object_new_boolean(
			r->verified_peer && r->peer.reason == KATLS_R_OK));
		json_object_object_add(o, "attested", json_object_new_boolean(r->attested));
		if (r->verified_peer) {
			json_object_object_add(o, "evidence", summary_json(&r->peer.sum));
			if (r->peer.reason == KATLS_R_OK)
				json_object_object_add(o, "max_age_s", json_object_new_int64(
					r->peer.sum.max_age_s));
		}
		json_print(o);
		return;
	}
	if (code == KATLS_EXIT_OK) {
		printf("%s: attestation accepted (mode %s)\n", what, katls_cli_mode_name(mode));
		if (r->verified_peer)
			print_summary_text(&r->peer.sum);
		if (r->attested)
			printf("  our Evidence was accepted by the peer\n");
	} else {
		printf("%s: attestation %s: %s: %s\n", what, result, katls_reason_name(r->reason),
		       r->msg);
		if (r->verified_peer && *r->peer.sum.peer_subject)
			print_summary_text(&r->peer.sum);
	}
	fflush(stdout);
}

void katls_cli_print_verify(bool json, int ret, const struct katls_verify_result *v)
{
	const char *result = !ret ? "accepted" : v->reason == KATLS_R_INTERNAL ? "error" :
			     "refused";

	if (json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "result", json_object_new_string(result));
		json_object_object_add(o, "reason", json_object_new_string(
			katls_reason_name(v->reason)));
		json_object_object_add(o, "reason_code", json_object_new_int(v->reason));
		json_object_object_add(o, "message", json_object_new_string(v->msg));
		json_object_object_add(o, "evidence", summary_json(&v->sum));
		json_print(o);
		return;
	}
	if (!ret)
		printf("saved exchange: attestation accepted\n");
	else
		printf("saved exchange: attestation %s: %s: %s\n", result,
		       katls_reason_name(v->reason), v->msg);
	if (*v->sum.peer_subject)
		print_summary_text(&v->sum);
}
