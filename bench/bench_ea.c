// SPDX-License-Identifier: MIT
/*
 * bench_ea: Exported Authenticator build and validation per second on one
 * core (P-256 leaf, SHA-256 suite, 4 KiB of CMW), and TPM quote verification
 * per second on the swtpm ECDSA vector.  Prints rates, not pass/fail;
 * bench/quote_vs_checkquote.sh compares the last figure with tpm2_checkquote.
 *
 *   bench_ea [SECONDS-PER-PHASE] [VECTOR-DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "evidence/quote.h"
#include "wire/ea.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"bench", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, key, EVP_sha256());
	return x;
}

static int read_file(const char *dir, const char *name, uint8_t **out, size_t *len)
{
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "bench_ea: cannot read %s\n", path);
		return -1;
	}
	*out = malloc(n ? n : 1);
	*len = fread(*out, 1, n, f);
	fclose(f);
	return *len == (size_t)n ? 0 : -1;
}

static int bench_ea(double secs)
{
	static const uint8_t secret[32] = { 1, 2, 3 };
	struct katls_exporter_secret store;
	struct katls_ea_identity id = { 0 };
	struct katls_exporter ex;
	uint8_t cmw[4096] = { 0xa1 };
	EVP_PKEY *key = EVP_EC_gen("P-256");
	double t0, t_build = 0, t_valid = 0;
	unsigned long n = 0;

	if (!key || katls_exporter_from_secret(&ex, &store, EVP_sha256(), secret, sizeof(secret)))
		return -1;
	id.leaf = self_signed(key);
	id.key = key;
	id.cmw = cmw;
	id.cmw_len = sizeof(cmw);
	while (t_build + t_valid < 2 * secs) {
		struct katls_ea_request_params rp = { .type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST };
		struct katls_buf auth = KATLS_BUF_INIT;
		struct katls_ea_crc_set used;
		struct katls_ea_request req;
		struct katls_ea_result res;
		enum katls_reason reason;

		katls_ea_crc_set_init(&used);
		if (katls_ea_request_build(&req, &rp))
			return -1;
		t0 = now();
		if (katls_ea_authenticator_build(&auth, &ex, KATLS_ROLE_SERVER, &req, &id))
			return -1;
		t_build += now() - t0;
		t0 = now();
		if (katls_ea_authenticator_validate(&res, &reason, &ex, KATLS_ROLE_SERVER, &req,
						    &used, auth.data, auth.len))
			return fprintf(stderr, "bench_ea: validation failed (%u)\n", reason), -1;
		t_valid += now() - t0;
		katls_ea_result_cleanup(&res);
		katls_buf_cleanup(&auth);
		katls_ea_request_cleanup(&req);
		katls_ea_crc_set_cleanup(&used);
		n++;
	}
	printf("ea build (P-256, 4 KiB CMW):  %8.0f /s per core\n", n / t_build);
	printf("ea validate:                  %8.0f /s per core\n", n / t_valid);
	katls_exporter_secret_cleanup(&store);
	X509_free(id.leaf);
	EVP_PKEY_free(key);
	return 0;
}

static int bench_quote(double secs, const char *dir)
{
	static const uint8_t nonce[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	static const unsigned int pcr_idx[] = { 0, 2, 4, 7, 11, 12 };
	uint8_t *attest, *sig, *pcrbin;
	size_t attest_len, sig_len, pcr_len;
	struct katls_pcrs pcrs = { 0 };
	struct katls_quote_expect exp;
	enum katls_reason reason;
	unsigned long n = 0;
	EVP_PKEY *ak;
	double t0;
	FILE *f;
	char path[512];

	if (read_file(dir, "ecdsa-quote.bin", &attest, &attest_len) ||
	    read_file(dir, "ecdsa-quote-sig.bin", &sig, &sig_len) ||
	    read_file(dir, "ecdsa-pcrs.bin", &pcrbin, &pcr_len) || pcr_len != 6 * 32)
		return -1;
	for (unsigned int i = 0; i < 6; i++) {
		pcrs.mask |= 1u << pcr_idx[i];
		memcpy(pcrs.digest[pcr_idx[i]], pcrbin + 32 * i, 32);
	}
	snprintf(path, sizeof(path), "%s/ecdsa-ak.pem", dir);
	f = fopen(path, "r");
	ak = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!ak)
		return fprintf(stderr, "bench_ea: cannot load %s\n", path), -1;
	exp = (struct katls_quote_expect){ nonce, sizeof(nonce), pcrs.mask, &pcrs };
	t0 = now();
	while (now() - t0 < secs) {
		if (katls_quote_verify(attest, attest_len, sig, sig_len, ak, &exp, &reason, NULL, 0))
			return fprintf(stderr, "bench_ea: quote does not verify (%u)\n", reason), -1;
		n++;
	}
	printf("quote verify (ECDSA P-256):   %8.0f /s per core\n", n / (now() - t0));
	EVP_PKEY_free(ak);
	free(attest);
	free(sig);
	free(pcrbin);
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	const char *dir = argc > 2 ? argv[2] : "tests/vectors/tpm";

	if (bench_ea(secs) || bench_quote(secs, dir))
		return 1;
	return 0;
}
