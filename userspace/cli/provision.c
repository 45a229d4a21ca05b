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
#include "evidence/quote.h"
#include "evidence/tpm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls provision [--tcti T] [--handle H] [--force] [--out ak.pem]\n"
		"                       [--public ak.pub] [--name ak.name]\n\n"
		"Create (or reuse) the persistent restricted ECDSA P-256 attestation key at\n"
		"HANDLE (default 0x81010002), a primary of the endorsement hierarchy, and print\n"
		"its public key (PEM), then its TPM Name and public area in hex (\"name: ...\",\n"
		"\"public: ...\").  Verifiers pin the Name in their policy's ak_names (it\n"
		"covers the key's attributes; ak_pins pins the public key only) or enroll the\n"
		"AK with the EK with katls enroll (docs/enroll.md).\n\n"
		"  --tcti T      TPM (default $TPM2TOOLS_TCTI, $KATLS_TCTI, device:/dev/tpmrm0)\n"
		"  --handle H    persistent handle 0x81000000-0x817fffff\n"
		"  --force       replace whatever the handle holds\n"
		"  --out FILE    also write the PEM to FILE\n"
		"  --public FILE also write the public area (marshalled TPMT_PUBLIC) to FILE\n"
		"  --name FILE   also write the TPM Name (nameAlg || H(TPMT_PUBLIC), hex) to FILE\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage.\n");
}

static int write_bytes(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "w");
	bool ok = f && fwrite(p, 1, len, f) == len;

	if (f && fclose(f))
		ok = false;
	if (!ok)
		fprintf(stderr, "katls provision: cannot write %s: %s\n", path, strerror(errno));
	return ok ? 0 : -EIO;
}

/* The public area and Name, printed and written where asked. */
static int report_public(struct katls_tpm *tpm, uint32_t handle, const char *pub_file,
			 const char *name_file)
{
	struct katls_buf pub = KATLS_BUF_INIT;
	struct katls_tpm_public tp;
	uint8_t name[KATLS_TPM_NAME_MAX];
	char hex[2 * KATLS_TPM_NAME_MAX + 2];
	enum katls_tpm_hierarchy h;
	size_t len = 0;
	int ret = katls_tpm_ak_public(tpm, handle, &pub, NULL);

	if (!ret)
		ret = katls_quote_public_parse(pub.data, pub.len, &tp) ?:
		      katls_quote_public_name(&tp, name, &len);
	if (ret) {
		katls_err("AK public area", ret, NULL);
		goto out;
	}
	katls_hex_str(hex, name, len);
	printf("name: %s\npublic: ", hex);
	katls_hex(stdout, pub.data, pub.len);
	printf("\n");
	if (pub_file)
		ret = write_bytes(pub_file, pub.data, pub.len);
	if (!ret && name_file) {
		strcat(hex, "\n");
		ret = write_bytes(name_file, hex, strlen(hex));
	}
	if (!ret && !katls_tpm_object_hierarchy(tpm, handle, &h) &&
	    h != KATLS_TPM_HIERARCHY_ENDORSEMENT)
		fprintf(stderr, "katls provision: note: the AK at 0x%08x is not a primary of the "
			"endorsement hierarchy (made by an older katls or another tool); "
			"enrollment works with it, --force re-creates it there (a new key: "
			"re-pin and re-enroll it)\n", handle);
out:
	katls_buf_cleanup(&pub);
	return ret;
}

int provision_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 'T' }, { "handle", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'f' }, { "out", required_argument, NULL, 'o' },
		{ "public", required_argument, NULL, 'p' }, { "name", required_argument, NULL, 'n' },
		{ "name-out", required_argument, NULL, 'n' },	/* older spelling */
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	const char *tcti = NULL, *out = NULL, *pub_file = NULL, *name_file = NULL;
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
		case 'p': pub_file = optarg; break;
		case 'n': name_file = optarg; break;
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
	if (report_public(tpm, handle, pub_file, name_file))
		goto out;
	fprintf(stderr, "katls provision: AK at handle 0x%08x ready\n", handle);
	code = KATLS_EXIT_OK;
out:
	EVP_PKEY_free(ak);
	katls_tpm_close(tpm);
	ERR_clear_error();
	return code;
}
