// SPDX-License-Identifier: MIT
/*
 * katls enroll: AK enrollment with the EK as four file-in/file-out steps
 * (request, challenge, activate, verify) plus list/check of the enrollment
 * store.  The protocol and the formats are enroll.h and docs/enroll.md.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "attest.h"
#include "cli.h"
#include "evidence/enroll.h"
#include "evidence/tpm.h"
#include "util/json.h"

#define MAX_CA_PATHS	16

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: katls enroll COMMAND [OPTIONS]\n\n"
		"Prove that the attestation key (AK) is resident in the TPM of an endorsement\n"
		"key (EK) certified by a TPM manufacturer, and record it (docs/enroll.md).\n\n"
		"On the attested machine:\n"
		"  request  --out DIR [--tcti T] [--handle H] [--ek WHICH]\n"
		"           write the EK certificate, EK public, AK public and AK Name\n"
		"  activate --in DIR --out DIR [--tcti T] [--handle H] [--ek WHICH]\n"
		"           TPM2_ActivateCredential of a challenge: write the secret\n"
		"On the registrar:\n"
		"  challenge --ek-ca PATH... --in DIR --out DIR [--state DIR]\n"
		"           check a request and make a credential only that TPM can activate\n"
		"  verify   --in DIR --store FILE [--state DIR] [--label NAME] [--max-age S]\n"
		"           check the secret and add the AK to the enrollment store\n"
		"  list     --store FILE          print the enrolled AKs\n"
		"  check    --store FILE (--ak-public FILE | --name HEX)\n"
		"           exit 0 if the AK is enrolled, 4 if not\n\n"
		"  --ek WHICH   auto (default), rsa, ecc or an NV index such as 0x01c00002\n"
		"  --handle H   the AK's persistent handle (default 0x81010002)\n"
		"  --ek-ca PATH manufacturer CA certificate(s): PEM/DER file or directory;\n"
		"               repeatable; every certificate given is a trust anchor\n"
		"  --state DIR  the registrar's pending challenges (default %s)\n"
		"  --max-age S  seconds a challenge stays valid (default %d)\n\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 4 refused (a check failed).\n",
		KATLS_ENROLL_STATE_DEFAULT, KATLS_ENROLL_MAX_AGE_DEFAULT);
}

/* Options every step parses; each step says which it needs. */
struct opts {
	const char *tcti, *in, *out, *state, *store, *label, *ak_public, *name;
	const char *ca[MAX_CA_PATHS];
	size_t num_ca;
	uint32_t handle, ek, max_age;
};

static int parse_ek(const char *s, uint32_t *out)
{
	if (!strcmp(s, "auto"))
		*out = KATLS_EK_AUTO;
	else if (!strcmp(s, "rsa"))
		*out = KATLS_EK_RSA;
	else if (!strcmp(s, "ecc"))
		*out = KATLS_EK_ECC;
	else if (katls_cli_parse_u32(s, out) || (*out & 0xffff0000u) != 0x01c00000u)
		return -EINVAL;
	return 0;
}

static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "tcti", required_argument, NULL, 'T' }, { "handle", required_argument, NULL, 'H' },
		{ "ek", required_argument, NULL, 'e' }, { "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' }, { "state", required_argument, NULL, 's' },
		{ "store", required_argument, NULL, 'S' }, { "label", required_argument, NULL, 'l' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "ek-ca", required_argument, NULL, 'C' },
		{ "ak-public", required_argument, NULL, 'a' }, { "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->handle = KATLS_AK_HANDLE_DEFAULT;
	o->max_age = KATLS_ENROLL_MAX_AGE_DEFAULT;
	o->state = getenv("KATLS_ENROLL_STATE");
	if (!o->state || !*o->state)
		o->state = KATLS_ENROLL_STATE_DEFAULT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'T': o->tcti = optarg; break;
		case 'i': o->in = optarg; break;
		case 'o': o->out = optarg; break;
		case 's': o->state = optarg; break;
		case 'S': o->store = optarg; break;
		case 'l': o->label = optarg; break;
		case 'a': o->ak_public = optarg; break;
		case 'n': o->name = optarg; break;
		case 'H':
			if (katls_cli_parse_u32(optarg, &o->handle) || o->handle < 0x81000000u ||
			    o->handle > 0x817fffffu) {
				fprintf(stderr, "katls enroll %s: --handle must be 0x81000000-"
					"0x817fffff\n", cmd);
				return KATLS_EXIT_USAGE;
			}
			break;
		case 'e':
			if (parse_ek(optarg, &o->ek)) {
				fprintf(stderr, "katls enroll %s: --ek takes auto, rsa, ecc or an NV "
					"index 0x01c0xxxx\n", cmd);
				return KATLS_EXIT_USAGE;
			}
			break;
		case 'm':
			if (katls_cli_parse_u32(optarg, &o->max_age)) {
				fprintf(stderr, "katls enroll %s: --max-age takes seconds\n", cmd);
				return KATLS_EXIT_USAGE;
			}
			break;
		case 'C':
			if (o->num_ca == MAX_CA_PATHS) {
				fprintf(stderr, "katls enroll %s: at most %d --ek-ca\n", cmd,
					MAX_CA_PATHS);
				return KATLS_EXIT_USAGE;
			}
			o->ca[o->num_ca++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return KATLS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "katls enroll %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return KATLS_EXIT_USAGE;
	}
	return 0;
}

/* The options a step cannot do without. */
static int need(const char *cmd, const char *what, const void *val)
{
	if (val)
		return 0;
	fprintf(stderr, "katls enroll %s: %s is required (see katls enroll --help)\n", cmd, what);
	return KATLS_EXIT_USAGE;
}

/* Exit status for a library error: checks that failed are refusals. */
static int refused(const char *cmd, int ret, const char *err)
{
	if (ret == -EACCES || ret == -EBADMSG) {
		fprintf(stderr, "katls enroll %s: refused: %s\n", cmd, err);
		return KATLS_EXIT_REFUSED;
	}
	fprintf(stderr, "katls enroll %s: %s\n", cmd, *err ? err : strerror(-ret));
	return KATLS_EXIT_FAIL;
}

static void print_name(FILE *f, const char *prefix, const uint8_t *name, size_t len)
{
	fputs(prefix, f);
	katls_hex(f, name, len);
	fputc('\n', f);
}

static int ak_name_of(const struct katls_buf *pub, uint8_t *name, size_t *len, bool *is_ak)
{
	struct katls_tpm_public tp;
	int ret = katls_quote_public_parse(pub->data, pub->len, &tp);

	if (!ret)
		ret = katls_quote_public_name(&tp, name, len);
	*is_ak = !ret && katls_quote_is_ak(&tp);
	return ret;
}

static int write_ak_pem(const char *dir, const struct katls_buf *pub)
{
	struct katls_tpm_public tp;
	char path[4096];
	EVP_PKEY *pk = NULL;
	FILE *f;
	int ok;

	if (katls_quote_public_parse(pub->data, pub->len, &tp) || katls_quote_public_pkey(&tp, &pk))
		return 0;	/* not an RSA/ECC key the registrar would accept anyway */
	snprintf(path, sizeof(path), "%s/ak.pem", dir);
	f = fopen(path, "w");
	ok = f && PEM_write_PUBKEY(f, pk) == 1;
	if (f && fclose(f))
		ok = 0;
	EVP_PKEY_free(pk);
	return ok ? 0 : -EIO;
}

/* ---- attester ------------------------------------------------------------------- */

static int cmd_request(int argc, char **argv)
{
	struct katls_enroll_request req = { 0 };
	struct katls_tpm_ek ek = { 0 };
	struct katls_tpm *tpm = NULL;
	char err[512] = "";
	bool is_ak = false;
	struct opts o;
	int ret, code = parse_opts("request", argc, argv, &o);

	if (code)
		return code < 0 ? KATLS_EXIT_OK : code;
	code = need("request", "--out DIR", o.out);
	if (code)
		return code;
	code = KATLS_EXIT_FAIL;
	ret = katls_tpm_open(o.tcti, &tpm);
	if (ret) {
		katls_err("cannot open the TPM", ret, o.tcti);
		return KATLS_EXIT_FAIL;
	}
	ret = katls_tpm_ak_public(tpm, o.handle, &req.ak_public, NULL);
	if (ret) {
		fprintf(stderr, "katls enroll request: no AK at handle 0x%08x%s\n", o.handle,
			ret == -ENOENT ? " (run katls provision)" : "");
		goto out;
	}
	if (ak_name_of(&req.ak_public, req.ak_name, &req.ak_name_len, &is_ak)) {
		fprintf(stderr, "katls enroll request: the object at 0x%08x is not an RSA or ECC "
			"key\n", o.handle);
		goto out;
	}
	if (!is_ak)
		fprintf(stderr, "katls enroll request: warning: the object at 0x%08x is not a "
			"restricted fixedTPM signing key; a registrar will refuse it\n", o.handle);
	ret = katls_tpm_ek_load(tpm, o.ek, &ek);
	if (ret) {
		katls_err("EK", ret, NULL);
		goto out;
	}
	req.ek_nv_index = ek.cert_index;
	if (katls_put_bytes(&req.ek_cert, ek.cert.data, ek.cert.len) ||
	    katls_put_bytes(&req.ek_public, ek.public.data, ek.public.len))
		goto out;
	ret = katls_enroll_request_write(o.out, &req, err, sizeof(err));
	if (!ret)
		ret = write_ak_pem(o.out, &req.ak_public);
	if (ret) {
		fprintf(stderr, "katls enroll request: %s\n", *err ? err : strerror(-ret));
		goto out;
	}
	print_name(stdout, "ak-name: ", req.ak_name, req.ak_name_len);
	printf("ek-certificate: NV 0x%08x (%zu bytes)\n", ek.cert_index, ek.cert.len);
	if (ek.handle)
		printf("ek: persistent 0x%08x\n", ek.handle);
	else
		printf("ek: derived from the default template\n");
	code = KATLS_EXIT_OK;
out:
	katls_tpm_ek_cleanup(&ek);
	katls_enroll_request_cleanup(&req);
	katls_tpm_close(tpm);
	ERR_clear_error();
	return code;
}

static int cmd_activate(int argc, char **argv)
{
	struct katls_enroll_challenge ch;
	struct katls_enroll_response resp = { 0 };
	struct katls_buf pub = KATLS_BUF_INIT;
	struct katls_tpm *tpm = NULL;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t name_len = 0;
	char err[512] = "";
	bool is_ak;
	struct opts o;
	int ret, code = parse_opts("activate", argc, argv, &o);

	if (code)
		return code < 0 ? KATLS_EXIT_OK : code;
	code = need("activate", "--in DIR", o.in) ?: need("activate", "--out DIR", o.out);
	if (code)
		return code;
	ret = katls_enroll_challenge_read(o.in, &ch, err, sizeof(err));
	if (ret)
		return refused("activate", ret, err);
	code = KATLS_EXIT_FAIL;
	ret = katls_tpm_open(o.tcti, &tpm);
	if (ret) {
		katls_err("cannot open the TPM", ret, o.tcti);
		goto out;
	}
	ret = katls_tpm_ak_public(tpm, o.handle, &pub, NULL);
	if (!ret)
		ret = ak_name_of(&pub, name, &name_len, &is_ak);
	if (ret) {
		fprintf(stderr, "katls enroll activate: no usable AK at handle 0x%08x%s\n",
			o.handle, ret == -ENOENT ? " (run katls provision)" : "");
		goto out;
	}
	/* Saves a TPM round trip and says clearly what is wrong; the TPM checks anyway. */
	if (name_len != ch.ak_name_len || memcmp(name, ch.ak_name, name_len)) {
		fprintf(stderr, "katls enroll activate: refused: the challenge is for another AK "
			"(its ak.name differs from the Name of the AK at 0x%08x)\n", o.handle);
		print_name(stderr, "  challenge: ", ch.ak_name, ch.ak_name_len);
		print_name(stderr, "  this AK:   ", name, name_len);
		code = KATLS_EXIT_REFUSED;
		goto out;
	}
	ret = katls_tpm_activate_credential(tpm, o.handle, o.ek ? o.ek : ch.ek_nv_index,
					    &ch.cred, resp.secret, &resp.secret_len);
	if (ret) {
		if (ret == -EBADMSG)
			fprintf(stderr, "katls enroll activate: refused: the TPM did not release "
				"the credential (see above)\n");
		else
			fprintf(stderr, "katls enroll activate: TPM2_ActivateCredential failed: %s\n",
				strerror(-ret));
		code = ret == -EBADMSG ? KATLS_EXIT_REFUSED : KATLS_EXIT_FAIL;
		goto out;
	}
	memcpy(resp.id, ch.id, sizeof(resp.id));
	ret = katls_enroll_response_write(o.out, &resp, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "katls enroll activate: %s\n", err);
		goto out;
	}
	printf("activated challenge %s\n", ch.id);
	code = KATLS_EXIT_OK;
out:
	OPENSSL_cleanse(&resp, sizeof(resp));
	OPENSSL_cleanse(&ch, sizeof(ch));
	katls_buf_cleanup(&pub);
	katls_tpm_close(tpm);
	ERR_clear_error();
	return code;
}

/* ---- registrar ------------------------------------------------------------------------- */

static int cmd_challenge(int argc, char **argv)
{
	struct katls_enroll_request req;
	struct katls_enroll_challenge ch;
	struct katls_enroll_ca *ca = NULL;
	char err[512] = "";
	struct opts o;
	int ret, code = parse_opts("challenge", argc, argv, &o);

	if (code)
		return code < 0 ? KATLS_EXIT_OK : code;
	code = need("challenge", "--ek-ca PATH", o.num_ca ? o.ca[0] : NULL) ?:
	       need("challenge", "--in DIR", o.in) ?: need("challenge", "--out DIR", o.out);
	if (code)
		return code;
	ret = katls_enroll_ca_load(o.ca, o.num_ca, &ca, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "katls enroll challenge: EK CAs: %s\n", err);
		return KATLS_EXIT_FAIL;
	}
	ret = katls_enroll_request_read(o.in, &req, err, sizeof(err));
	if (!ret)
		ret = katls_enroll_challenge_new(o.state, &req, ca, &ch, err, sizeof(err));
	if (!ret)
		ret = katls_enroll_challenge_write(o.out, &ch, err, sizeof(err));
	if (ret) {
		code = refused("challenge", ret, err);
	} else {
		printf("challenge %s\n", ch.id);
		print_name(stdout, "ak-name: ", ch.ak_name, ch.ak_name_len);
		code = KATLS_EXIT_OK;
	}
	OPENSSL_cleanse(&ch, sizeof(ch));
	katls_enroll_request_cleanup(&req);
	katls_enroll_ca_free(ca);
	ERR_clear_error();
	return code;
}

static void print_record(FILE *f, const struct katls_enroll_record *r)
{
	char when[21];

	katls_enroll_time_format(r->enrolled_at, when);
	print_name(f, "ak-name: ", r->ak_name, r->ak_name_len);
	fprintf(f, "  label: %s\n  enrolled: %s\n", r->label ? r->label : "-", when);
	fprintf(f, "  ek-certificate: sha256:");
	katls_hex(f, r->ek_cert_sha256, sizeof(r->ek_cert_sha256));
	fprintf(f, "\n  ek-issuer: %s\n  ek-serial: %s\n", r->ek_cert_issuer,
		r->ek_cert_serial ? r->ek_cert_serial : "-");
}

static int cmd_verify(int argc, char **argv)
{
	struct katls_enroll_response resp;
	struct katls_enroll_record rec;
	char err[512] = "";
	struct opts o;
	int ret, code = parse_opts("verify", argc, argv, &o);

	if (code)
		return code < 0 ? KATLS_EXIT_OK : code;
	code = need("verify", "--in DIR", o.in) ?: need("verify", "--store FILE", o.store);
	if (code)
		return code;
	ret = katls_enroll_response_read(o.in, &resp, err, sizeof(err));
	if (!ret)
		ret = katls_enroll_verify(o.state, &resp, o.max_age, o.store, o.label, &rec, err,
					  sizeof(err));
	OPENSSL_cleanse(&resp, sizeof(resp));
	if (ret)
		return refused("verify", ret, err);
	printf("enrolled\n");
	print_record(stdout, &rec);
	katls_enroll_record_cleanup(&rec);
	return KATLS_EXIT_OK;
}

static int load_store(const char *cmd, const char *path, struct katls_enroll_store **s)
{
	char err[512] = "";
	int ret = katls_enroll_store_load(path, s, err, sizeof(err));

	if (ret)
		fprintf(stderr, "katls enroll %s: %s\n", cmd, err);
	return ret;
}

static int cmd_list(int argc, char **argv)
{
	struct katls_enroll_store *s = NULL;
	struct opts o;
	int code = parse_opts("list", argc, argv, &o);

	if (code)
		return code < 0 ? KATLS_EXIT_OK : code;
	code = need("list", "--store FILE", o.store);
	if (code)
		return code;
	if (load_store("list", o.store, &s))
		return KATLS_EXIT_FAIL;
	for (size_t i = 0; i < katls_enroll_store_count(s); i++)
		print_record(stdout, katls_enroll_store_get(s, i));
	printf("%zu enrolled AK(s)\n", katls_enroll_store_count(s));
	katls_enroll_store_free(s);
	return KATLS_EXIT_OK;
}

static int unhex_arg(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (!n || n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		const char *digits = "0123456789abcdef", *hi, *lo;

		if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
			return -EINVAL;
		hi = strchr(digits, tolower((unsigned char)s[i]));
		lo = strchr(digits, tolower((unsigned char)s[i + 1]));
		out[i / 2] = (uint8_t)((hi - digits) << 4 | (lo - digits));
	}
	*len = n / 2;
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	const struct katls_enroll_record *r = NULL;
	struct katls_enroll_store *s = NULL;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t len = 0;
	char *pub = NULL;
	struct opts o;
	int code = parse_opts("check", argc, argv, &o);

	if (code)
		return code < 0 ? KATLS_EXIT_OK : code;
	code = need("check", "--store FILE", o.store);
	if (!code && !o.ak_public == !o.name) {
		fprintf(stderr, "katls enroll check: give one of --ak-public FILE, --name HEX\n");
		code = KATLS_EXIT_USAGE;
	}
	if (!code && o.name && unhex_arg(o.name, name, sizeof(name), &len)) {
		fprintf(stderr, "katls enroll check: --name takes a TPM Name in hex\n");
		code = KATLS_EXIT_USAGE;
	}
	if (!code && o.ak_public && katls_read_file(o.ak_public, &pub, &len)) {
		fprintf(stderr, "katls enroll check: cannot read %s\n", o.ak_public);
		code = KATLS_EXIT_FAIL;
	}
	if (code)
		return code;
	if (load_store("check", o.store, &s)) {
		free(pub);
		return KATLS_EXIT_FAIL;
	}
	r = pub ? katls_enroll_store_find_public(s, (const uint8_t *)pub, len) :
	    katls_enroll_store_find(s, name, len);
	if (r) {
		printf("enrolled\n");
		print_record(stdout, r);
		code = KATLS_EXIT_OK;
	} else {
		printf("not enrolled\n");
		code = KATLS_EXIT_REFUSED;
	}
	free(pub);
	katls_enroll_store_free(s);
	return code;
}

int enroll_main(int argc, char **argv)
{
	static const struct katls_subcmd sub[] = {
		{ "request", cmd_request, NULL },
		{ "challenge", cmd_challenge, NULL },
		{ "activate", cmd_activate, NULL },
		{ "verify", cmd_verify, NULL },
		{ "list", cmd_list, NULL },
		{ "check", cmd_check, NULL },
	};

	return katls_dispatch("enroll", sub, sizeof(sub) / sizeof(sub[0]), usage, argc, argv);
}
