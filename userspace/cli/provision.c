// SPDX-License-Identifier: MIT
/* katls provision: create or reuse the TPM attestation key and print it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest.h"
#include "cli.h"
#include "tpm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls provision [--tcti T] [--handle H] [--force] [--out ak.pem]\n\n"
		"Create (or reuse) the persistent restricted ECDSA P-256 attestation key at\n"
		"HANDLE (default 0x81010002) and print its public key (PEM) for verifiers\n"
		"to pin in their policy's ak_pins.\n\n"
		"  --tcti T      TPM (default $TPM2TOOLS_TCTI, $KATLS_TCTI, device:/dev/tpmrm0)\n"
		"  --handle H    persistent handle 0x81000000-0x817fffff\n"
		"  --force       replace whatever the handle holds\n"
		"  --out FILE    also write the PEM to FILE\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage.\n");
}

int provision_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 'T' }, { "handle", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'f' }, { "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *tcti = NULL, *out = NULL;
	uint32_t handle = KATLS_AK_HANDLE_DEFAULT;
	struct katls_tpm *tpm = NULL;
	EVP_PKEY *ak = NULL;
	bool force = false;
	FILE *f;
	int c, ret, code = KATLS_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'T': tcti = optarg; break;
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 'H':
			if (katls_cli_parse_u32(optarg, &handle) || handle < 0x81000000u ||
			    handle > 0x817fffffu) {
				fprintf(stderr, "katls provision: --handle must be 0x81000000-0x817fffff\n");
				return KATLS_EXIT_USAGE;
			}
			break;
		default:
			return katls_usage(usage, c);
		}
	}
	if (optind != argc)
		return katls_usage(usage, '?');
	ret = katls_tpm_open(tcti, &tpm);
	if (ret) {
		katls_err("cannot open the TPM", ret, tcti);
		return KATLS_EXIT_FAIL;
	}
	ret = katls_tpm_provision_ak(tpm, handle, force, &ak);
	if (ret == -EEXIST) {
		fprintf(stderr, "katls provision: handle 0x%08x holds another object; use --force "
			"to replace it\n", handle);
		goto out;
	}
	if (ret) {
		katls_err("AK provisioning", ret, NULL);
		goto out;
	}
	if (out) {
		f = fopen(out, "w");
		if (!f || PEM_write_PUBKEY(f, ak) != 1) {
			fprintf(stderr, "katls provision: cannot write %s: %s\n", out, strerror(errno));
			if (f)
				fclose(f);
			goto out;
		}
		if (fclose(f)) {
			fprintf(stderr, "katls provision: cannot write %s: %s\n", out, strerror(errno));
			goto out;
		}
	}
	if (PEM_write_PUBKEY(stdout, ak) != 1)
		goto out;
	fprintf(stderr, "katls provision: AK at handle 0x%08x ready\n", handle);
	code = KATLS_EXIT_OK;
out:
	EVP_PKEY_free(ak);
	katls_tpm_close(tpm);
	ERR_clear_error();
	return code;
}
