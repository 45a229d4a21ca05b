// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the TPM structure parsers of quote.c (TPMS_ATTEST,
 * TPMT_SIGNATURE, TPMT_PUBLIC -> EVP_PKEY and Name), katls_quote_verify()
 * and the qualifiedSigner check on a split of the input (two length bytes,
 * TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC of the AK).
 * Seeds: tests/fuzz/corpus/fuzz_quote/ (PROTOCOL.md §4 vectors).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/quote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_all(const uint8_t *data, size_t size)
{
	struct katls_attest a;
	struct katls_tpm_sig s;
	struct katls_tpm_public pub;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t name_len;
	EVP_PKEY *pk = NULL;

	if (!katls_quote_attest_parse(data, size, &a) &&
	    (a.extra_len > 64 || a.pcr_digest_len > 64 || a.sel.count > KATLS_PCR_BANKS_MAX))
		abort();
	if (!katls_quote_sig_parse(data, size, &s) && s.alg != 0x0018 && !s.sig_len)
		abort();
	if (katls_quote_public_parse(data, size, &pub))
		return;
	(void)katls_quote_is_ak(&pub);
	(void)katls_quote_public_name(&pub, name, &name_len);
	if (!katls_quote_public_pkey(&pub, &pk))
		EVP_PKEY_free(pk);
}

/* Verifies the split input against the AK found in it, if any. */
static void verify_split(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
					   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	static const uint8_t pcr11[32] = {
		0xcf, 0x2b, 0x0d, 0xb7, 0x51, 0x4f, 0x32, 0x0c, 0x31, 0x51, 0x30, 0x27, 0x5a, 0x96,
		0x0f, 0x6e, 0x6e, 0xd8, 0x07, 0x44, 0xc7, 0x54, 0xc6, 0x87, 0x06, 0x9d, 0x7a, 0x9f,
		0x55, 0xd7, 0x04, 0xf0 };
	struct katls_pcrs pcrs = { .mask = 0x001895 };	/* the ECDSA vector's PCRs */
	struct katls_quote_expect exp = { nonce, sizeof(nonce), 0x001895, &pcrs };
	struct katls_tpm_public pub;
	struct katls_attest a;
	enum katls_reason reason;
	uint8_t name[KATLS_TPM_NAME_MAX];
	size_t name_len, alen, slen;
	EVP_PKEY *pk = NULL;
	char msg[256];

	memcpy(pcrs.digest[11], pcr11, sizeof(pcr11));
	/* layout: attest_len | sig_len | attest | sig | public */
	if (size < 2 || (size_t)data[0] + data[1] > size - 2)
		return;
	alen = data[0];
	slen = data[1];
	if (katls_quote_public_parse(data + 2 + alen + slen, size - 2 - alen - slen, &pub) ||
	    katls_quote_public_pkey(&pub, &pk))
		return;
	if (katls_quote_verify(data + 2, alen, data + 2 + alen, slen, pk, &exp, &reason,
			       msg, sizeof(msg)) == 0 && reason != KATLS_R_OK)
		abort();
	EVP_PKEY_free(pk);
	if (!katls_quote_attest_parse(data + 2, alen, &a) &&
	    !katls_quote_public_name(&pub, name, &name_len) &&
	    !katls_quote_check_signer(&a, name, name_len, NULL, 0, &reason, msg, sizeof(msg)) &&
	    (reason != KATLS_R_OK || a.signer_len != name_len))
		abort();	/* a match is a qualified name of exactly the Name's size */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_all(data, size);
	verify_split(data, size);
	return 0;
}
