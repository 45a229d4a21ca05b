// SPDX-License-Identifier: MIT
/* katls verify: re-verify a saved exchange (--save-evidence) offline. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "attest.h"
#include "cli.h"
#include "verify.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls verify --dir DIR --policy FILE [--policy-name N] [--name NAME] [--json]\n\n"
		"Re-verify an exchange saved by 'katls connect/serve --save-evidence DIR'\n"
		"against a policy: the authenticator (CertificateVerify, Finished), PKI chain\n"
		"and name, aik binding, binder, quote, AK pin (ak_names/ak_pins) and\n"
		"qualifiedSigner, PCRs, IMA (boot_aggregate, replay, allowlist), kernel rules\n"
		"(advisory data) and workload rules (exe verified in the quoted IMA log).\n"
		"The TLS binding itself is taken from the saved session-secrets (exporter\n"
		"outputs), not re-derived.  peer-ak.unverified.pem in DIR is the peer's claim,\n"
		"never a pin.\n\n"
		"  --name NAME   expected peer name (default: the one saved)\n"
		"  --json        machine-readable verdict\n\n"
		"Exit status: 0 accepted, 1 failure, 2 usage, 4 refused.\n");
}

int verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "policy", required_argument, NULL, 'P' },
		{ "policy-name", required_argument, NULL, 'N' },
		{ "name", required_argument, NULL, 'n' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *dir = NULL, *policy = NULL, *policy_name = NULL;
	struct katls_verify_params vp = { 0 };
	struct katls_policy_set *set = NULL;
	struct katls_verify_result v;
	bool json = false;
	int c, ret, code;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'P': policy = optarg; break;
		case 'N': policy_name = optarg; break;
		case 'n': vp.peer_name = optarg; break;
		case 'j': json = true; break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc || !dir || !policy) {
		fprintf(stderr, "katls verify: --dir and --policy are required\n");
		return KATLS_EXIT_USAGE;
	}
	if (katls_cli_policy_load(policy, policy_name, &set, &vp.policy))
		return KATLS_EXIT_FAIL;
	ret = katls_verify_dir(dir, &vp, &v);
	katls_cli_print_verify(json, ret, &v);
	code = !ret ? KATLS_EXIT_OK : v.reason == KATLS_R_INTERNAL ? KATLS_EXIT_FAIL :
	       KATLS_EXIT_REFUSED;
	katls_verify_result_cleanup(&v);
	katls_policy_set_free(set);
	return code;
}
