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
#include "ima.h"
#include "quote.h"
#include "tpm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls provision [--tcti T] [--handle H] [--force] [--out ak.pem]\n"
		"                       [--name-out ak.name]\n\n"
		"Create (or reuse) the persistent restricted ECDSA P-256 attestation key at\n"
		"HANDLE (default 0x81010002), print its public key (PEM) on stdout and its\n"
		"TPM Name on stderr.  Verifiers pin the Name in their policy's ak_names (it\n"
		"covers the key's attributes); ak_pins pins the public key only.\n\n"
		"  --tcti T          TPM (default $TPM2TOOLS_TCTI, $KATLS_TCTI, device:/dev/tpmrm0)\n"
		"  --handle H        persistent handle 0x81000000-0x817fffff\n"
		"  --force           replace whatever the handle holds\n"
		"  --out FILE        also write the PEM to FILE\n"
		"  --name-out FILE   also write the TPM Name (hex, one line) to FILE\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage.\n");
}

/* The hex TPM Name (nameAlg || H(TPMT_PUBLIC)) of the key at @handle. */
static int ak_name_hex(struct katls_tpm *tpm, uint32_t handle, char *out, size_t len)
{
	struct katls_buf pub = KATLS_BUF_INIT;
	struct katls_tpm_public tp;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t name_len = 0;
	int ret;

	ret = katls_tpm_ak_public(tpm, handle, &pub, NULL);
	if (!ret)
		ret = katls_quote_public_parse(pub.data, pub.len, &tp);
	if (!ret)
		ret = katls_quote_public_name(&tp, name, &name_len);
	if (!ret)
		katls_ima_format_hex(out, len, name, name_len);
	katls_buf_cleanup(&pub);
	return ret;
}

/* Writes @path with @put(f, @arg); 0, or -1 with a message naming @what. */
static int write_text(const char *path, const char *what, int (*put)(FILE *f, const void *arg),
		      const void *arg)
{
	FILE *f = fopen(path, "w");

	if (!f || put(f, arg) < 0) {
		fprintf(stderr, "katls provision: cannot write %s %s: %s\n", what, path,
			strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if (fclose(f)) {
		fprintf(stderr, "katls provision: cannot write %s %s: %s\n", what, path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int put_pem(FILE *f, const void *ak)
{
	return PEM_write_PUBKEY(f, (EVP_PKEY *)ak) == 1 ? 0 : -1;
}

static int put_line(FILE *f, const void *s)
{
	return fprintf(f, "%s\n", (const char *)s) < 0 ? -1 : 0;
}

int provision_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 'T' }, { "handle", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'f' }, { "out", required_argument, NULL, 'o' },
		{ "name-out", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *tcti = NULL, *out = NULL, *name_out = NULL;
	uint32_t handle = KATLS_AK_HANDLE_DEFAULT;
	struct katls_tpm *tpm = NULL;
	char name[2 * KATLS_TPM_NAME_MAX + 1];
	EVP_PKEY *ak = NULL;
	bool force = false;
	int c, ret, code = KATLS_EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'T': tcti = optarg; break;
		case 'o': out = optarg; break;
		case 'n': name_out = optarg; break;
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
	ret = ak_name_hex(tpm, handle, name, sizeof(name));
	if (ret) {
		katls_err("reading the AK's public area", ret, NULL);
		goto out;
	}
	if (out && write_text(out, "the AK public key to", put_pem, ak))
		goto out;
	if (name_out && write_text(name_out, "the AK Name to", put_line, name))
		goto out;
	if (PEM_write_PUBKEY(stdout, ak) != 1)
		goto out;
	fprintf(stderr, "katls provision: AK at handle 0x%08x ready\n"
		"katls provision: AK Name %s (pin it in a policy's ak_names)\n", handle, name);
	code = KATLS_EXIT_OK;
out:
	EVP_PKEY_free(ak);
	katls_tpm_close(tpm);
	ERR_clear_error();
	return code;
}
