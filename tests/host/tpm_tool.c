// SPDX-License-Identifier: MIT
/*
 * tpm_tool: drives libkatls' TPM and quote code from tests/host/test_tpm.sh.
 * The TPM is the one named by $TPM2TOOLS_TCTI / $KATLS_TCTI (katls_tpm_open).
 *
 *   tpm_tool provision [-f] HANDLE PUB.tpmt AK.pem   create or reuse the AK
 *   tpm_tool public HANDLE PUB.tpmt AK.pem           read the AK public
 *   tpm_tool name PUB.tpmt                           print the TPM Name (hex)
 *   tpm_tool quote HANDLE NONCEHEX MASK DIR          DIR/{attest,sig,pcrs}
 *   tpm_tool verify NONCEHEX MASK DIR AK.pem [PCRMASK]
 *                      katls_quote_verify; DIR/pcrs holds PCRMASK's values
 *                      (default MASK)
 *   tpm_tool pcrread MASK                            "index hex" lines
 *   tpm_tool nonce BINDERHEX                         katls_quote_nonce (hex)
 *
 * DIR/pcrs holds the quoted PCR values concatenated in ascending order, the
 * format of tpm2_pcrread -o and tpm2_checkquote -f.  Exit status: 0 success,
 * 1 verification failure (reason and message on stdout), 2 other errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "evidence/quote.h"
#include "evidence/tpm.h"
#include "katls.h"
#include "util/buf.h"

#define FILE_MAX (1u << 20)

static int die(const char *what, int err)
{
	fprintf(stderr, "tpm_tool: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 2;
}

static int read_file(const char *path, struct katls_buf *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t chunk[4096];
	size_t n;
	int ret = 0;

	if (!f)
		return -errno;
	while (!ret && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ret = out->len + n > FILE_MAX ? -EFBIG : katls_put_bytes(out, chunk, n);
	if (!ret && ferror(f))
		ret = -EIO;
	fclose(f);
	return ret;
}

static int write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;
	int ret = 0;

	if (dir)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else
		snprintf(path, sizeof(path), "%s", name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (len && fwrite(p, 1, len, f) != len)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -EIO;
	return ret;
}

static int unhex(const char *hex, uint8_t *out, size_t max, size_t *out_len)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	*out_len = n / 2;
	return 0;
}

static void print_hex(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int write_pem(const char *path, EVP_PKEY *pk)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = PEM_write_PUBKEY(f, pk);
	return fclose(f) || !ok ? -EIO : 0;
}

static int read_pem(const char *path, EVP_PKEY **pk)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	*pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return *pk ? 0 : -EINVAL;
}

static int cmd_public(int argc, char **argv, bool provision)
{
	bool force = argc > 0 && !strcmp(argv[0], "-f");
	struct katls_buf pub = KATLS_BUF_INIT;
	struct katls_tpm *tpm = NULL;
	EVP_PKEY *pk = NULL;
	uint32_t handle;
	int ret;

	argc -= force;
	argv += force;
	if (argc != 3)
		return die("usage: provision|public [-f] HANDLE PUB.tpmt AK.pem", EINVAL);
	handle = (uint32_t)strtoul(argv[0], NULL, 0);
	ret = katls_tpm_open(NULL, &tpm);
	if (!ret && provision)
		ret = katls_tpm_provision_ak(tpm, handle, force, NULL);
	if (!ret)
		ret = katls_tpm_ak_public(tpm, handle, &pub, &pk);
	if (!ret)
		ret = write_file(NULL, argv[1], pub.data, pub.len);
	if (!ret)
		ret = write_pem(argv[2], pk);
	EVP_PKEY_free(pk);
	katls_buf_cleanup(&pub);
	katls_tpm_close(tpm);
	return ret ? die(provision ? "provision" : "public", ret) : 0;
}

static int cmd_name(int argc, char **argv)
{
	struct katls_buf pub = KATLS_BUF_INIT;
	struct katls_tpm_public tp;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t len = 0;
	int ret;

	if (argc != 1)
		return die("usage: name PUB.tpmt", EINVAL);
	ret = read_file(argv[0], &pub);
	if (!ret)
		ret = katls_quote_public_parse(pub.data, pub.len, &tp);
	if (!ret)
		ret = katls_quote_public_name(&tp, name, &len);
	if (!ret)
		print_hex(name, len);
	katls_buf_cleanup(&pub);
	return ret ? die("name", ret) : 0;
}

static int write_pcrs(const char *dir, const struct katls_pcrs *pcrs, uint32_t mask)
{
	uint8_t all[KATLS_PCR_COUNT * KATLS_PCR_DIGEST_LEN];
	size_t n = 0;

	for (unsigned int i = 0; i < KATLS_PCR_COUNT; i++) {
		if (mask >> i & 1) {
			memcpy(all + n, pcrs->digest[i], KATLS_PCR_DIGEST_LEN);
			n += KATLS_PCR_DIGEST_LEN;
		}
	}
	return write_file(dir, "pcrs", all, n);
}

static int cmd_quote(int argc, char **argv)
{
	struct katls_buf attest = KATLS_BUF_INIT, sig = KATLS_BUF_INIT;
	struct katls_tpm *tpm = NULL;
	struct katls_pcrs pcrs;
	uint8_t nonce[64];
	size_t nonce_len = 0;
	uint32_t handle, mask;
	int ret;

	if (argc != 4)
		return die("usage: quote HANDLE NONCEHEX MASK DIR", EINVAL);
	handle = (uint32_t)strtoul(argv[0], NULL, 0);
	mask = (uint32_t)strtoul(argv[2], NULL, 0);
	ret = unhex(argv[1], nonce, sizeof(nonce), &nonce_len);
	if (!ret)
		ret = katls_tpm_open(NULL, &tpm);
	if (!ret)
		ret = katls_tpm_quote(tpm, handle, nonce, nonce_len, mask, &attest, &sig, &pcrs);
	if (!ret)
		ret = write_file(argv[3], "attest", attest.data, attest.len);
	if (!ret)
		ret = write_file(argv[3], "sig", sig.data, sig.len);
	if (!ret)
		ret = write_pcrs(argv[3], &pcrs, mask);
	katls_buf_cleanup(&attest);
	katls_buf_cleanup(&sig);
	katls_tpm_close(tpm);
	return ret ? die("quote", ret) : 0;
}

/* Reads DIR/pcrs back into a struct katls_pcrs for mask. */
static int read_pcrs(const char *dir, uint32_t mask, struct katls_pcrs *pcrs)
{
	struct katls_buf raw = KATLS_BUF_INIT;
	char path[4096];
	size_t off = 0;
	int ret;

	memset(pcrs, 0, sizeof(*pcrs));
	snprintf(path, sizeof(path), "%s/pcrs", dir);
	ret = read_file(path, &raw);
	for (unsigned int i = 0; !ret && i < KATLS_PCR_COUNT; i++) {
		if (!(mask >> i & 1))
			continue;
		if (off + KATLS_PCR_DIGEST_LEN > raw.len) {
			ret = -EBADMSG;
			break;
		}
		memcpy(pcrs->digest[i], raw.data + off, KATLS_PCR_DIGEST_LEN);
		pcrs->mask |= 1u << i;
		off += KATLS_PCR_DIGEST_LEN;
	}
	if (!ret && off != raw.len)
		ret = -EBADMSG;
	katls_buf_cleanup(&raw);
	return ret;
}

static int cmd_verify(int argc, char **argv)
{
	struct katls_buf attest = KATLS_BUF_INIT, sig = KATLS_BUF_INIT;
	struct katls_pcrs pcrs;
	struct katls_quote_expect exp = { .pcrs = &pcrs };
	enum katls_reason reason = KATLS_R_INTERNAL;
	char path[4096], msg[256] = "";
	uint8_t nonce[64];
	EVP_PKEY *ak = NULL;
	uint32_t file_mask;
	int ret;

	if (argc != 4 && argc != 5)
		return die("usage: verify NONCEHEX MASK DIR AK.pem [PCRMASK]", EINVAL);
	exp.nonce = nonce;
	exp.pcr_mask = (uint32_t)strtoul(argv[1], NULL, 0);
	file_mask = argc == 5 ? (uint32_t)strtoul(argv[4], NULL, 0) : exp.pcr_mask;
	ret = unhex(argv[0], nonce, sizeof(nonce), &exp.nonce_len);
	snprintf(path, sizeof(path), "%s/attest", argv[2]);
	if (!ret)
		ret = read_file(path, &attest);
	snprintf(path, sizeof(path), "%s/sig", argv[2]);
	if (!ret)
		ret = read_file(path, &sig);
	if (!ret)
		ret = read_pcrs(argv[2], file_mask, &pcrs);
	if (!ret)
		ret = read_pem(argv[3], &ak);
	if (ret) {
		katls_buf_cleanup(&attest);
		katls_buf_cleanup(&sig);
		return die("verify inputs", ret);
	}
	ret = katls_quote_verify(attest.data, attest.len, sig.data, sig.len, ak, &exp,
				 &reason, msg, sizeof(msg));
	printf("%s: %s\n", katls_reason_name(reason), msg);
	EVP_PKEY_free(ak);
	katls_buf_cleanup(&attest);
	katls_buf_cleanup(&sig);
	if (!ret)
		return 0;
	return ret == -EACCES || ret == -EBADMSG ? 1 : 2;
}

static int cmd_pcrread(int argc, char **argv)
{
	struct katls_tpm *tpm = NULL;
	struct katls_pcrs pcrs;
	uint32_t mask;
	int ret;

	if (argc != 1)
		return die("usage: pcrread MASK", EINVAL);
	mask = (uint32_t)strtoul(argv[0], NULL, 0);
	ret = katls_tpm_open(NULL, &tpm);
	if (!ret)
		ret = katls_tpm_pcr_read(tpm, mask, &pcrs);
	katls_tpm_close(tpm);
	if (ret)
		return die("pcrread", ret);
	for (unsigned int i = 0; i < KATLS_PCR_COUNT; i++) {
		if (pcrs.mask >> i & 1) {
			printf("%u ", i);
			print_hex(pcrs.digest[i], KATLS_PCR_DIGEST_LEN);
		}
	}
	return 0;
}

static int cmd_nonce(int argc, char **argv)
{
	uint8_t binder[256], out[KATLS_QUOTE_NONCE_MAX];
	size_t len = 0, n = 0;
	int ret;

	if (argc != 1)
		return die("usage: nonce BINDERHEX", EINVAL);
	ret = unhex(argv[0], binder, sizeof(binder), &len);
	if (!ret)
		ret = katls_quote_nonce(binder, len, out, &n);
	if (ret)
		return die("nonce", ret);
	print_hex(out, n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return die("usage: tpm_tool provision|public|name|quote|verify|pcrread|nonce ...",
			   EINVAL);
	if (!strcmp(argv[1], "provision"))
		return cmd_public(argc - 2, argv + 2, true);
	if (!strcmp(argv[1], "public"))
		return cmd_public(argc - 2, argv + 2, false);
	if (!strcmp(argv[1], "name"))
		return cmd_name(argc - 2, argv + 2);
	if (!strcmp(argv[1], "quote"))
		return cmd_quote(argc - 2, argv + 2);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 2, argv + 2);
	if (!strcmp(argv[1], "pcrread"))
		return cmd_pcrread(argc - 2, argv + 2);
	if (!strcmp(argv[1], "nonce"))
		return cmd_nonce(argc - 2, argv + 2);
	return die(argv[1], EINVAL);
}
