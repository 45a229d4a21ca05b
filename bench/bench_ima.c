// SPDX-License-Identifier: MIT
/*
 * bench_ima - time IMA verification: parse + template-digest recomputation +
 * PCR 10 replay-until-match + allowlist appraisal.
 *
 *   bench_ima [ENTRIES]
 *	a synthetic ima-ng log (SHA-256 file, SHA-256 bank, default 100,000
 *	entries) against a matching Keylime runtime policy;
 *   bench_ima --log FILE --digest-size D [--runtime-policy JSON]
 *	an existing binary log (used by bench/ima_appraise.sh).
 *
 * Prints the median CPU time of 5 runs, entries/s and the time per 100,000
 * entries (target: <= 100 ms on one core), the runtime policy load time
 * (target: <= 50 ms for 100k digests) beside json-c's tree of the same
 * document, and "pcr10 <hex>": the SHA-256 PCR 10 the log replays to.  Not a
 * test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "appraisal/ima.h"
#include "appraisal/policy.h"
#include "katls.h"
#include "util/buf.h"

#define RUNS 5

/* CPU time of this thread: what "on one core" means on a shared machine. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int put_str(struct katls_buf *b, const char *s)
{
	return katls_put_bytes(b, s, strlen(s));
}

/* Log of @n entries plus the matching runtime policy JSON. */
static int build(size_t n, struct katls_buf *log, struct katls_buf *json)
{
	char path[64], hex[65], line[160];
	uint8_t d[32];
	int ret = put_str(json, "{\"meta\": {\"version\": 1}, \"digests\": {");

	for (size_t i = 0; i < n && !ret; i++) {
		struct katls_ima_entry e = { .pcr = 10, .tpl = KATLS_IMA_TPL_NG,
					     .hash_name = "sha256", .file_digest = d,
					     .file_digest_len = 32, .path = path };

		snprintf(path, sizeof(path), i ? "/usr/lib/x86_64-linux-gnu/synth%zu.so" :
			 "boot_aggregate", i);
		if (!EVP_Digest(path, strlen(path), d, NULL, EVP_sha256(), NULL))
			return -ENOMEM;
		ret = katls_ima_record_encode(log, &e, 32);
		snprintf(line, sizeof(line), "%s\"%s\": [\"%s\"]", i ? ", " : "", path,
			 katls_ima_format_hex(hex, sizeof(hex), d, 32));
		ret = ret ?: put_str(json, line);
	}
	return ret ?: put_str(json, "}, \"excludes\": [\"/tmp/.*\"]}");
}

static int read_all(const char *path, struct katls_buf *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;
	int ret = f ? 0 : -errno;

	while (!ret && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ret = katls_put_bytes(out, buf, n);
	if (f && ferror(f))
		ret = -EIO;
	if (f)
		fclose(f);
	return ret;
}

/* Median CPU time of RUNS verifications of @in against its final PCR 10. */
static int time_verify(struct katls_ima_verify_in *in, double *median, uint8_t *pcr10,
		       uint32_t *entries)
{
	struct katls_ima_verify_out out;
	const struct katls_runtime_policy *rp = in->policy;
	double t[RUNS];

	in->policy = NULL;
	in->quoted_pcr = NULL;
	if (katls_ima_verify(in, &out))		/* the final PCR 10 plays the quote */
		goto fail;
	memcpy(pcr10, out.pcr, 32);
	*entries = out.num_records;
	in->quoted_pcr = pcr10;
	in->policy = rp;
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ms();
		int ret = katls_ima_verify(in, &out);

		t[r] = now_ms() - t0;
		if (ret || out.num_covered != *entries)
			goto fail;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	*median = t[RUNS / 2];
	return 0;
fail:
	fprintf(stderr, "bench_ima: verification failed: %s\n", out.msg);
	return -EACCES;
}

/* Median CPU time of RUNS loads of the runtime policy (the last one is kept). */
static int load_policy(const struct katls_buf *json, const char *file,
		       struct katls_runtime_policy **rp, double *ms)
{
	double t[RUNS];
	char err[512];
	int ret = 0;

	for (int r = 0; r < RUNS && !ret; r++) {
		double t0 = now_ms();

		katls_runtime_policy_free(*rp);
		*rp = NULL;
		ret = file ? katls_runtime_policy_load(file, rp, err, sizeof(err)) :
		      katls_runtime_policy_parse((const char *)json->data, json->len, rp, err,
						 sizeof(err));
		t[r] = now_ms() - t0;
	}
	if (ret) {
		fprintf(stderr, "bench_ima: %s\n", err);
		return ret;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	*ms = t[RUNS / 2];
	return 0;
}

/*
 * The json-c tree of the same document, built and freed: the first step of
 * the parser this one replaced (issue 12), so a lower bound of what loading
 * cost before, measured in this run.
 */
static double jsonc_tree_ms(const struct katls_buf *json)
{
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		struct json_tokener *tok = json_tokener_new();
		double t0 = now_ms();
		struct json_object *obj;

		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		obj = json_tokener_parse_ex(tok, (const char *)json->data, (int)json->len);
		json_object_put(obj);
		t[r] = now_ms() - t0;
		json_tokener_free(tok);
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

static void report(size_t log_len, uint32_t n, double med, double load, double tree,
		   const uint8_t *pcr10)
{
	char hex[65];

	printf("bench_ima: %u entries, %zu bytes of log, median CPU time of %d runs\n", n,
	       log_len, RUNS);
	printf("  verify (parse+recompute+replay+allowlist): %.1f ms, %.0f entries/s, "
	       "%.1f ms per 100k entries (target <= 100 ms)\n",
	       med, n / (med / 1e3), med * 100000.0 / n);
	if (load >= 0)
		printf("  runtime policy JSON load: %.1f ms (target <= 50 ms)\n", load);
	if (tree >= 0)
		printf("  json-c tree of the same JSON, the old parser's first step: %.1f ms "
		       "(%.1fx the whole load now)\n", tree, tree / load);
	printf("pcr10 %s\n", katls_ima_format_hex(hex, sizeof(hex), pcr10, 32));
}

int main(int argc, char **argv)
{
	struct katls_buf log = KATLS_BUF_INIT, json = KATLS_BUF_INIT;
	struct katls_ima_verify_in in = { .digest_size = 32, .bank = KATLS_IMA_SHA256,
					  .pcr_index = KATLS_IMA_PCR };
	const char *file = NULL, *rp_file = NULL;
	struct katls_runtime_policy *rp = NULL;
	double med, load = -1, tree = -1;
	uint8_t pcr10[32];
	uint32_t n = 0;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--log") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--digest-size") && i + 1 < argc)
			in.digest_size = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runtime-policy") && i + 1 < argc)
			rp_file = argv[++i];
		else if (!file && argv[i][0] != '-')
			n = (uint32_t)strtoul(argv[i], NULL, 10);
		else {
			fprintf(stderr, "usage: bench_ima [ENTRIES] | --log FILE --digest-size D "
				"[--runtime-policy JSON]\n");
			return 2;
		}
	}
	ret = file ? read_all(file, &log) : build(n ? n : 100000, &log, &json);
	if (!ret && rp_file)
		ret = read_all(rp_file, &json);
	if (!ret && (rp_file || !file))
		ret = load_policy(&json, rp_file, &rp, &load);
	if (!ret && json.len)
		tree = jsonc_tree_ms(&json);
	if (!ret) {
		in.log = log.data;
		in.log_len = log.len;
		in.policy = rp;
		ret = time_verify(&in, &med, pcr10, &n);
	}
	if (!ret)
		report(log.len, n, med, load, tree, pcr10);
	katls_runtime_policy_free(rp);
	katls_buf_cleanup(&log);
	katls_buf_cleanup(&json);
	return ret ? 1 : 0;
}
