// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the AK enrollment parsers.  Byte 0 selects:
 *   0  enrollment store JSON (katls_enroll_store_parse), then lookups of
 *      every record by Name and by public area, and of the input itself
 *   1  the registrar's pending-challenge JSON (katls_enroll_pending_parse)
 *   2  the tpm2-tools credential file (katls_credential_decode), then
 *      unwrap under a fixed EK and seed
 *   3  an EK public area (katls_ek_public_parse), then wrap/unwrap a
 *      credential under it with a fixed seed
 * Every rejection must explain itself (non-empty error text).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "evidence/credential.h"
#include "evidence/enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* TCG template L-2 (ECC P-256 EK) with a valid point. */
static const uint8_t ek_l2[] = {
	0x00, 0x23, 0x00, 0x0b, 0x00, 0x03, 0x00, 0xb2, 0x00, 0x20, 0x83, 0x71, 0x97, 0x67,
	0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52,
	0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
	0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10, 0x00, 0x03, 0x00, 0x10, 0x00, 0x20,
	0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
	0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45,
	0xd8, 0x98, 0xc2, 0x96, 0x00, 0x20, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b,
	0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
	0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};
static const uint8_t seed[32] = { 1, 2, 3, 4 };
static const uint8_t name[34] = { 0x00, 0x0b, 5, 6, 7 };

static void store(const char *json, size_t len)
{
	struct katls_enroll_store *s = NULL;
	char err[512] = "";

	if (katls_enroll_store_parse(json, len, &s, err, sizeof(err))) {
		if (!err[0])
			__builtin_trap();
		return;
	}
	for (size_t i = 0; i < katls_enroll_store_count(s); i++) {
		const struct katls_enroll_record *r = katls_enroll_store_get(s, i);

		if (katls_enroll_store_find(s, r->ak_name, r->ak_name_len) != r ||
		    katls_enroll_store_find_public(s, r->ak_public, r->ak_public_len) != r)
			__builtin_trap();
	}
	katls_enroll_store_find(s, (const uint8_t *)json, len < 66 ? len : 66);
	katls_enroll_store_find_public(s, (const uint8_t *)json, len);
	katls_enroll_store_free(s);
}

static void pending(const char *json, size_t len)
{
	struct katls_enroll_record rec;
	uint8_t secret[KATLS_CRED_DIGEST_MAX];
	char id[KATLS_ENROLL_ID_HEX], err[512] = "";
	size_t secret_len = 0;
	int64_t created;

	if (katls_enroll_pending_parse(json, len, id, &created, secret, &secret_len, &rec, err,
				       sizeof(err))) {
		if (!err[0])
			__builtin_trap();
		return;
	}
	if (strlen(id) != KATLS_ENROLL_ID_HEX - 1 || !secret_len)
		__builtin_trap();
	katls_enroll_record_cleanup(&rec);
}

static void credential_file(const uint8_t *in, size_t len)
{
	struct katls_credential c;
	struct katls_ek_public ek;
	uint8_t cred[KATLS_CRED_DIGEST_MAX];
	size_t n;

	if (katls_credential_decode(in, len, &c))
		return;
	if (katls_ek_public_parse(ek_l2, sizeof(ek_l2), &ek, NULL, 0))
		__builtin_trap();
	katls_credential_unwrap(&ek, seed, sizeof(seed), name, sizeof(name), c.blob, c.blob_len,
				cred, &n);
}

static void ek_public(const uint8_t *in, size_t len)
{
	uint8_t blob[KATLS_CRED_BLOB_MAX], cred[KATLS_CRED_DIGEST_MAX];
	struct katls_ek_public ek;
	size_t blob_len = 0, n = 0;
	char err[256] = "";

	if (katls_ek_public_parse(in, len, &ek, err, sizeof(err))) {
		if (!err[0])
			__builtin_trap();
		return;
	}
	if (katls_credential_wrap(&ek, seed, sizeof(seed), name, sizeof(name), seed, 16, blob,
				  &blob_len) ||
	    katls_credential_unwrap(&ek, seed, sizeof(seed), name, sizeof(name), blob, blob_len,
				    cred, &n) || n != 16 || memcmp(cred, seed, 16))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] & 3) {
	case 0:
		store((const char *)data + 1, size - 1);
		break;
	case 1:
		pending((const char *)data + 1, size - 1);
		break;
	case 2:
		credential_file(data + 1, size - 1);
		break;
	default:
		ek_public(data + 1, size - 1);
		break;
	}
	return 0;
}
