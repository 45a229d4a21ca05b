// SPDX-License-Identifier: MIT
/*
 * bench_verify: full EA + Evidence verification per second on one core, on an
 * exchange saved by `katls connect --save-evidence` (a real swtpm quote and a
 * faithful IMA log; bench/verify_saved.sh makes one).  Each round does what a
 * verifier does for a live connection — RFC 9261 validation, PKI chain and
 * name, CMW decode, binder, AK pin, quote signature, PCR digest, IMA replay
 * and allowlist — except deriving the exporter values, which are read from
 * the saved directory.
 *
 *   bench_verify DIR POLICY.json [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "policy.h"
#include "verify.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct katls_verify_params p = { 0 };
	struct katls_policy_set *set;
	double secs, t0, t;
	unsigned long n = 0;
	char err[256];

	if (argc < 3) {
		/* make bench runs every binary bare: say where the real run is */
		printf("bench_verify: needs a saved exchange: see bench/verify_saved.sh\n");
		return 0;
	}
	secs = argc > 3 ? atof(argv[3]) : 3.0;
	if (katls_policy_load(argv[2], &set, err, sizeof(err))) {
		fprintf(stderr, "bench_verify: %s\n", err);
		return 1;
	}
	p.policy = &set->policies[0];
	t0 = now();
	do {
		struct katls_verify_result r;
		int ret = katls_verify_dir(argv[1], &p, &r);

		if (ret) {
			fprintf(stderr, "bench_verify: verification failed: %s\n", r.msg);
			katls_verify_result_cleanup(&r);
			return 1;
		}
		katls_verify_result_cleanup(&r);
		n++;
		t = now() - t0;
	} while (t < secs);
	printf("EA + Evidence verification: %.0f /s per core (%.2f ms each)\n", n / t, 1e3 * t / n);
	katls_policy_set_free(set);
	return 0;
}
