// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: IMA binary measurement lists.  Byte 0 picks the template
 * digest size (20/32/48/64) and the replay bank, byte 1 the flags and whether
 * a quote (the last bank-size bytes) is given, a small runtime policy and a
 * boot_aggregate expectation (all zero) apply; the rest is the log.  Runs the
 * iterator with per-record recomputation/replay, the whole verifier, and a
 * file lookup among the entries it reports covered.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "appraisal/ima.h"
#include "appraisal/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct katls_runtime_policy *policy(void)
{
	static const char json[] =
		"{\"meta\": {\"version\": 1}, \"digests\": {\"/usr/bin/synth0\": "
		"[\"0000000000000000000000000000000000000000000000000000000000000000\"]},"
		" \"excludes\": [\"/tmp/.*\"], \"keyrings\": {\".ima\": [\"00\"]},"
		" \"ima\": {\"ignored_keyrings\": [\".builtin_trusted_keys\"]}}";
	static struct katls_runtime_policy *rp;
	char err[256];

	if (!rp && katls_runtime_policy_parse(json, sizeof(json) - 1, &rp, err, sizeof(err)))
		__builtin_trap();
	return rp;
}

static void walk(const uint8_t *log, size_t len, size_t dsize, unsigned int bank)
{
	struct katls_ima_replay r;
	struct katls_ima_record rec;
	struct katls_ima_iter it;
	uint8_t d[KATLS_IMA_MAX_DIGEST];
	char msg[256];

	if (katls_ima_replay_init(&r, bank, dsize))
		return;
	katls_ima_iter_init(&it, log, len, dsize, 0);
	while (katls_ima_iter_next(&it, &rec, msg, sizeof(msg)) == 1) {
		katls_ima_replay_extend(&r, &rec, msg, sizeof(msg));
		katls_ima_template_digest(&rec, KATLS_IMA_SHA1, d);
		katls_runtime_policy_check(policy(), &rec, NULL);
	}
	katls_ima_replay_cleanup(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 20, 32, 48, 64 };
	static const uint8_t zero[KATLS_IMA_MAX_DIGEST];
	struct katls_ima_verify_in in = { .pcr_index = KATLS_IMA_PCR };
	struct katls_ima_verify_out out;
	size_t bank_size;
	uint32_t index;

	if (size < 2)
		return 0;
	in.digest_size = sizes[data[0] & 3];
	in.bank = (data[0] >> 2) & 3;
	in.flags = data[1] & 3;
	bank_size = katls_ima_hash_size(in.bank);
	in.log = data + 2;
	in.log_len = size - 2;
	if ((data[1] & 4) && in.log_len >= bank_size) {
		in.log_len -= bank_size;
		in.quoted_pcr = in.log + in.log_len;
	}
	if (data[1] & 8)
		in.policy = policy();
	if (data[1] & 16) {
		in.boot_aggregate = zero;
		in.boot_aggregate_len = bank_size;
	}
	walk(in.log, in.log_len, in.digest_size, in.bank);
	if (!katls_ima_verify(&in, &out) &&
	    katls_ima_find_measurement(&in, out.num_covered, "/usr/bin/synth0", KATLS_IMA_SHA256,
				       zero, 32, &index) == -EBADMSG)
		__builtin_trap();	/* the covered entries parsed once already */
	if (strnlen(out.msg, sizeof(out.msg)) == sizeof(out.msg))
		__builtin_trap();	/* messages are always terminated */
	return 0;
}
