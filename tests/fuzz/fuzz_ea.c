// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the RFC 9261 parsers in ea.c.  The first input byte
 * selects what the rest is:
 *   0  an authenticator request; if it parses, an authenticator built for it
 *      with a fixed P-256 identity must validate (oracle), and its empty
 *      authenticator must be reported as KATLS_R_EA_EMPTY;
 *   1  a server authenticator validated against FUZZ_REQ (below) under the
 *      RFC 8448 exporter secret;
 *   2  the same with the client's labels and the draft (header-less) request
 *      transcript.
 * The seed corpus (tests/fuzz/corpus/fuzz_ea) holds valid inputs for each.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "wire/ea.h"

/* FUZZ_REQ: ClientCertificateRequest, crc "katls fuzz crc ...", default schemes. */
static const uint8_t fuzz_crc[32] = "katls fuzz certificate_request!";
static const uint8_t ems[32] = {
	0xfe, 0x22, 0xf8, 0x81, 0x17, 0x6e, 0xda, 0x18, 0xeb, 0x8f, 0x44, 0x52,
	0x9e, 0x67, 0x92, 0xc5, 0x0c, 0x9a, 0x3f, 0x89, 0x45, 0x2f, 0x68, 0xd8,
	0xae, 0x31, 0x1b, 0x43, 0x09, 0xd3, 0xcf, 0x50,
};
static const char key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgP8T5mhAIH3yqS0It\n"
	"pnt8iHgXzSys9xQnrVVJBKnegTahRANCAATWlKLE3I92povZcPf9K5FrBkOnpHvK\n"
	"GOt0S/SjxSISZb/hU2XVDfdSl1YjiLB4Llc77M7OXTY+fRyzyY7srA+X\n"
	"-----END PRIVATE KEY-----\n";

static struct katls_exporter ex;
static struct katls_exporter_secret store;
static struct katls_ea_request fuzz_req;
static EVP_PKEY *key;
static X509 *cert;

static X509 *self_signed(EVP_PKEY *k)
{
	X509 *x = X509_new();

	if (!x || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) ||
	    !X509_set_pubkey(x, k) || !X509_sign(x, k, EVP_sha256()))
		abort();
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct katls_ea_request_params p = {
		.type = KATLS_HS_CLIENT_CERTIFICATE_REQUEST,
		.crc = fuzz_crc, .crc_len = sizeof(fuzz_crc),
	};
	BIO *bio = BIO_new_mem_buf(key_pem, -1);

	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key)
		abort();
	cert = self_signed(key);
	if (katls_exporter_from_secret(&ex, &store, EVP_sha256(), ems, sizeof(ems)) ||
	    katls_ea_request_build(&fuzz_req, &p))
		abort();
	return 0;
}

/* Whatever parses as a request can be answered, and the answer validates. */
static void request_oracle(struct katls_ea_request *req)
{
	static const uint8_t cmw[] = { 0x82, 0x01, 0x02 };
	struct katls_ea_identity id = { .leaf = cert, .key = key };
	struct katls_buf b = KATLS_BUF_INIT;
	struct katls_ea_crc_set used;
	struct katls_ea_result res;
	enum katls_reason reason;
	int ret;

	if (req->wants_cmw) {
		id.cmw = cmw;
		id.cmw_len = sizeof(cmw);
	}
	katls_ea_crc_set_init(&used);
	ret = katls_ea_authenticator_build(&b, &ex, KATLS_ROLE_CLIENT, req, &id);
	if (ret == -EOPNOTSUPP) {
		if (katls_ea_request_has_sigalg(req, KATLS_SIG_ECDSA_P256_SHA256))
			abort();
	} else if (ret ||
		   katls_ea_authenticator_validate(&res, &reason, &ex, KATLS_ROLE_CLIENT,
						   req, &used, b.data, b.len) ||
		   res.sigalg != KATLS_SIG_ECDSA_P256_SHA256 ||
		   (req->wants_cmw && res.cmw_len != sizeof(cmw))) {
		abort();
	} else {
		katls_ea_result_cleanup(&res);
	}
	b.len = 0;
	katls_ea_crc_set_cleanup(&used);
	if (katls_ea_empty_build(&b, &ex, KATLS_ROLE_SERVER, req) ||
	    katls_ea_authenticator_validate(&res, &reason, &ex, KATLS_ROLE_SERVER,
					    req, &used, b.data, b.len) != -EACCES ||
	    reason != KATLS_R_EA_EMPTY)
		abort();
	katls_ea_crc_set_cleanup(&used);
	katls_buf_cleanup(&b);
}

static void validate(const uint8_t *data, size_t size, enum katls_role role,
		     unsigned int flags)
{
	struct katls_ea_crc_set used;
	struct katls_ea_result res;
	enum katls_reason reason;
	int ret;

	fuzz_req.flags = flags;
	katls_ea_crc_set_init(&used);
	ret = katls_ea_authenticator_validate(&res, &reason, &ex, role, &fuzz_req,
					      &used, data, size);
	if ((ret == 0) != (reason == KATLS_R_OK))
		abort();
	if (!ret && (!res.leaf || sk_X509_num(res.chain) < 1))
		abort();
	/* the crc is consumed exactly when the request was answered */
	if (katls_ea_crc_set_contains(&used, fuzz_crc, sizeof(fuzz_crc)) !=
	    (!ret || reason == KATLS_R_EA_EMPTY))
		abort();
	katls_ea_result_cleanup(&res);
	katls_ea_crc_set_cleanup(&used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct katls_ea_request req;

	if (!size)
		return 0;
	switch (data[0]) {
	case 0:
		if (!katls_ea_request_parse(&req, data + 1, size - 1, 0)) {
			request_oracle(&req);
			katls_ea_request_cleanup(&req);
		}
		break;
	case 1:
		validate(data + 1, size - 1, KATLS_ROLE_SERVER, 0);
		break;
	case 2:
		validate(data + 1, size - 1, KATLS_ROLE_CLIENT,
			 KATLS_EA_REQ_DRAFT_TRANSCRIPT);
		break;
	default:
		break;
	}
	return 0;
}
