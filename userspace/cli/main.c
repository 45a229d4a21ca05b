// SPDX-License-Identifier: MIT
/* katls: command-line front end to katls.ko and libkatls. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int help_main(int argc, char **argv);

static const struct katls_subcmd commands[] = {
	{ "status", status_main, "show the module's measured-state snapshot" },
	{ "ima", ima_main, "dump the binary IMA measurement list from the module" },
	{ "provision", provision_main, "create or reuse the TPM attestation key" },
	{ "enroll", enroll_main, "enroll the AK with the EK (credential activation)" },
	{ "serve", serve_main, "TLS 1.3 server that attests itself (userspace mode)" },
	{ "connect", connect_main, "connect and verify the server's attestation" },
	{ "verify", verify_main, "re-verify a saved attestation exchange offline" },
	{ "gate", gate_main, "load, unload and observe the BPF gate" },
	{ "policy", policy_main, "manage the gate's rules (which connections need attestation)" },
	{ "help", help_main, "show this help" },
};

static int help_main(int argc, char **argv)
{
	printf("Usage: katls COMMAND [OPTIONS]\n\n"
	       "Kernel-assisted attested TLS.  Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-10s %s\n", commands[i].name, commands[i].summary);
	printf("\n'katls COMMAND --help' describes a command.  See katls(8).\n");
	return KATLS_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		help_main(0, NULL);
		return KATLS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return help_main(0, NULL);
	if (!strcmp(argv[1], "--version")) {
		printf("katls %s\n", KATLS_VERSION);
		return KATLS_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "katls: unknown command '%s' (try 'katls help')\n", argv[1]);
	return KATLS_EXIT_USAGE;
}
