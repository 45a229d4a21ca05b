// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: policy JSON.  Byte 0 even: katls policy / policy set
 * (relative paths resolved against a directory that does not exist, so
 * referenced runtime policies fail to load); odd: Keylime runtime policy.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "appraisal/ima.h"
#include "appraisal/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data + 1;
	char err[512];

	if (!size)
		return 0;
	err[0] = '\0';
	if (data[0] & 1) {
		struct katls_runtime_policy *rp;

		if (!katls_runtime_policy_parse(json, size - 1, &rp, err, sizeof(err))) {
			struct katls_ima_record rec = { .tpl = KATLS_IMA_TPL_NG, .path = "/a",
							.path_len = 2, .path_terminated = true,
							.file_digest = data, .file_digest_len = 1 };

			katls_runtime_policy_check(rp, &rec, NULL);
			katls_runtime_policy_free(rp);
		} else if (!err[0]) {
			__builtin_trap();	/* every rejection explains itself */
		}
	} else {
		struct katls_policy_set *set;

		if (!katls_policy_parse(json, size - 1, "/nonexistent-katls-fuzz", &set, err,
					sizeof(err))) {
			katls_policy_set_find(set, "default");
			katls_policy_set_free(set);
		} else if (!err[0]) {
			__builtin_trap();
		}
	}
	return 0;
}
