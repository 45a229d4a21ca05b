// SPDX-License-Identifier: MIT
/* katls verify: re-verify a saved exchange (--save-evidence) offline. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "appraisal/verify.h"
#include "attest.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls verify --dir DIR [--dir DIR ...] --policy FILE [--policy-name N]\n"
		"                    [--name NAME] [--json]\n\n"
		"Re-verify an exchange saved by 'katls connect/serve --save-evidence DIR'\n"
		"against a policy: the authenticator (CertificateVerify, Finished), PKI chain\n"
		"and name, aik binding, binder, quote, AK pin (ak_names/ak_pins) and\n"
		"qualifiedSigner, PCRs, IMA (boot_aggregate, replay, allowlist), kernel rules\n"
		"(advisory data) and workload rules (exe verified in the quoted IMA log).\n"
		"The TLS binding itself is taken from the saved session-secrets (exporter\n"
		"outputs), not re-derived.  peer-ak.unverified.pem in DIR is the peer's claim,\n"
		"never a pin.  Several --dir are verified in order under the one policy: an\n"
		"exchange whose IMA log starts after a prefix (incremental IMA) verifies\n"
		"after the exchange that covered that prefix.\n\n"
		"  --name NAME   expected peer name (default: the one saved)\n"
		"  --json        machine-readable verdict\n\n"
		"Exit status: 0 every exchange accepted, 1 failure, 2 usage, 4 one refused.\n");
}

int verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "policy", required_argument, NULL, 'P' },
		{ "policy-name", required_argument, NULL, 'N' },
		{ "name", required_argument, NULL, 'n' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *dirs[16], *policy = NULL, *policy_name = NULL;
	struct katls_verify_params vp = { 0 };
	struct katls_policy_set *set = NULL;
	size_t num_dirs = 0;
	bool json = false;
	int c, code = KATLS_EXIT_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (num_dirs == sizeof(dirs) / sizeof(dirs[0])) {
				fprintf(stderr, "katls verify: at most 16 --dir\n");
				return KATLS_EXIT_USAGE;
			}
			dirs[num_dirs++] = optarg;
			break;
		case 'P': policy = optarg; break;
		case 'N': policy_name = optarg; break;
		case 'n': vp.peer_name = optarg; break;
		case 'j': json = true; break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc || !num_dirs || !policy) {
		fprintf(stderr, "katls verify: --dir and --policy are required\n");
		return KATLS_EXIT_USAGE;
	}
	if (katls_cli_policy_load(policy, policy_name, &set, &vp.policy))
		return KATLS_EXIT_FAIL;
	for (size_t i = 0; i < num_dirs; i++) {
		struct katls_verify_result v;
		int ret = katls_verify_dir(dirs[i], &vp, &v);

		katls_cli_print_verify(json, ret, &v);
		if (ret && code != KATLS_EXIT_FAIL)
			code = v.reason == KATLS_R_INTERNAL ? KATLS_EXIT_FAIL : KATLS_EXIT_REFUSED;
		katls_verify_result_cleanup(&v);
	}
	katls_policy_set_free(set);
	return code;
}
