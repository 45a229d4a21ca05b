// SPDX-License-Identifier: MIT
/*
 * TPM quote parsing and verification against the published vectors of
 * PROTOCOL.md §4 (Fraunhofer-AISEC/cmc RSASSA quote, swtpm ECDSA P-256 quote)
 * and against hand-made forgeries: flipped bytes, swapped selection, wrong
 * magic/type, truncation at every offset, oversized length fields.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "evidence/quote.h"
#include "katls.h"

/* ---- vectors (PROTOCOL.md §4) ---------------------------------------------- */

/* Fraunhofer-AISEC/cmc attestationreport/tpm_test.go */
static const char cmc_quote_hex[] =
	"ff54434780180022000b518b2cf29ba4f1c5ae463aec4159a9b7e7d6ec3b7632eac14119b73d3bb39e9300"
	"08db6c3c042fa12645000000004c1efc09d977f45ed5c84b9501262219245c49af3000000001000b031200"
	"00002083a306865290be1f8912c44dc520f1b9271b9ecd23b2bbf3a41c9586c69464b2";
static const char cmc_sig_hex[] =
	"0014000b0100b03c414fd7ae091f3c0b1bf2917f4e947ce951f36f00107c5ea088c30a4bc20164a9e2a167"
	"1209863299b5df0649a93cb50c76b01365f2bdfd8299c4118dd48d7952c9f92957dd3cd78f5935972aa478"
	"099a725d57f2ce42e600e0c2cfd537cd8fa708a82c4deaf02959a1fb0a998c8018f598db51217affb8e37a"
	"45ae0d07b0ea9e68d8ec5fbb9f9027105ba2bccd0e33decc30cbf8335065efeb124c5c0869fbed3e45378a"
	"c580a2ce099470d893685263339291a586fefff0ccee2b811e627509e027d4eb697d490d7d55819dd8233e"
	"35d404762f274c0eea8b057e79148aac79834984d47926acb57c1e8e0c1a404d113c7fe39e0a7d6a49ec90"
	"e8d07378";
static const char cmc_invalid_sig_hex[] =
	"0014000b0100740e077a77ff6ac21754d036f751f5f8ec5ec59448aab05bb5fd2b5d81df58bde3550d855e"
	"cf16cd25e36b5688122cfaac1a86ab94954b81d49a1b7fc7648ad26b8b808ce846fe7fd49355d2461d0499"
	"04e97aa687749d55510f09b7c8610b95b6d557ebdaa25a19bfa1663f236419a1a8d974dd05b14de7f28fbc"
	"e0a54c3ac428a9cf7f0752cc290580ff8d63e33050c0f53582ae24fe4d30792da71d5ef93581e3371147ed"
	"4732a0c0c0461489b1b64b1f28dd5153dbc674f04a21e279833433eabec1642cd386fdca6e52b583b2c914"
	"ebcd3c7a334214dc5e7c02880b033e321cb261ed6044785e70599d269511f83a20ee45034f0803d623763d"
	"461ce763";
static const char cmc_pcr1_hex[] = "5f96aec0a6b390185495c35bc76dceb9fa6addb4e59b6fc1b3e1992eeb08a5c6";
static const char cmc_pcr4_hex[] = "d3f67dbed9bce9d391a3567edad08971339e4dbabadd5b7eaf082860296e5e72";
static const char cmc_bad_pcr1_hex[] = "2a814d03d22568e2d669595dd8be199fd7b3df2acb8caae38e24e92605e15c80";
static const char cmc_pcr_digest_hex[] =
	"83a306865290be1f8912c44dc520f1b9271b9ecd23b2bbf3a41c9586c69464b2";
static const uint8_t cmc_nonce[] = { 0xdb, 0x6c, 0x3c, 0x04, 0x2f, 0xa1, 0x26, 0x45 };
static const uint8_t cmc_bad_nonce[] = { 0x6d, 0xb4, 0x8f, 0x3e, 0x33, 0xc9, 0x79, 0x2a };
#define CMC_MASK ((1u << 1) | (1u << 4))
static const char cmc_ak_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIDGjCCAr+gAwIBAgIBATAKBggqhkjOPQQDAjBhMQswCQYDVQQGEwJERTESMBAG\n"
	"A1UEBxMJVGVzdCBDaXR5MRUwEwYDVQQKEwxUZXN0IENvbXBhbnkxEDAOBgNVBAsT\n"
	"B1Jvb3QgQ0ExFTATBgNVBAMTDFRlc3QgUm9vdCBDQTAeFw0yMjExMDcwODUxNDla\n"
	"Fw0yNzEwMTIwODUxNDlaMIGdMQswCQYDVQQGEwJERTELMAkGA1UECBMCQlkxDzAN\n"
	"BgNVBAcTBk11bmljaDEWMBQGA1UECRMNdGVzdHN0cmVldCAxNTEOMAwGA1UEERMF\n"
	"ODU3NDgxGjAYBgNVBAoTEVRlc3QgT3JnYW5pemF0aW9uMQ8wDQYDVQQLEwZkZXZp\n"
	"Y2UxGzAZBgNVBAMTEmRlLnRlc3QuYWsuZGV2aWNlMDCCASIwDQYJKoZIhvcNAQEB\n"
	"BQADggEPADCCAQoCggEBALMxAElQ+xiBcNrfpPNd6ksmoftvdIAwBHaXJXta0JcN\n"
	"28aveILx2gWuAlhpB90h0IngWpETUckxmAJ/KvTtsOH1lhRQeWwXLmFciXc2lKD3\n"
	"Nk//dtp6LVd7WaJzx8MtNMlsrYgG9tpjGggISTQyFACQYnmapbqvf8OS0UP93vUT\n"
	"eAnCKBRDAOKT3FjpUl6y66buAnU1u1I9N7XBUem6nQSlw9KymrgXSG0Hvbpe7f6c\n"
	"WmNJC2dJOdxxpN523Fq9I9iMIOi+K2DXfsw2ShxtIj0NEWx+/gKNhsdVln5EnYar\n"
	"Sef7N12tHTSZnl6oTWtnTGMaSmOfa1bkEpXguM9xV9cCAwEAAaNgMF4wDgYDVR0P\n"
	"AQH/BAQDAgeAMAwGA1UdEwEB/wQCMAAwHQYDVR0OBBYEFNKgV/REoVQpy8eJ/cOR\n"
	"XsE58bLRMB8GA1UdIwQYMBaAFD+Fycu3JAX3sNTSRMvABDRDeOICMAoGCCqGSM49\n"
	"BAMCA0kAMEYCIQDIC7CTHr1RYwUIvmd+lfZme2g1lUmuLWlWRzpEhP1K5AIhAMnp\n"
	"Fhf+1eNqcZkg2ISsZ5GefN/A/5xvbQXPj06hHwZq\n"
	"-----END CERTIFICATE-----\n";

/* ECDSA P-256 swtpm vector */
static const char ec_quote_hex[] =
	"ff54434780180022000bb9df3193fe4f66ac5a3ee8f8552e454d20bbae633354bcff12b65d581f9d38c700"
	"1000112233445566778899aabbccddeeff000000000000041f000000010000000001202401250012000000"
	"000001000b03951800002094d0f020a3c4d09b8b88e69e7a093a38ec0ff9715cfdc70285d99d236c52990a";
static const char ec_r_hex[] = "0408dac9c80e649049e75fc74d6e1634fa4922066ce488b49b5110e7125b172b";
static const char ec_s_hex[] = "124fd1dc171546bde98f4409ad002fa7ccad75a65374ea7ee96381de337b34f0";
static const char ec_x_hex[] = "f533789fb86ad512ca3e930df08cd16396d14c30c79c46a88839b574a3dfb327";
static const char ec_y_hex[] = "1b3db55b2abdc884e40898e95dfffd2c7e8554526d4e1f651779bab1f81300cb";
static const char ec_pcr11_hex[] = "cf2b0db7514f320c315130275a960f6e6ed80744c754c687069d7a9f55d704f0";
static const uint8_t ec_nonce[] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
#define EC_MASK 0x001895u	/* PCRs 0,2,4,7,11,12 = 951800 */
#define EC_SEL_OFF 92		/* offset of pcrSelect[0] of the first bank */

/*
 * A TPMT_PUBLIC for the ECDSA vector's AK (restricted|sign|noDA|fixedTPM|
 * fixedParent|sensitiveDataOrigin|userWithAuth, ECDSA-SHA256, P-256); its
 * Name was computed independently (Python hashlib).
 */
static const char ec_pub_hex[] =
	"0023000b00050072000000100018000b000300100020"
	"f533789fb86ad512ca3e930df08cd16396d14c30c79c46a88839b574a3dfb327"
	"0020"
	"1b3db55b2abdc884e40898e95dfffd2c7e8554526d4e1f651779bab1f81300cb";
static const char ec_pub_name_hex[] =
	"000bcbd557368831bc5dabc063855a784c7805894084f6266e45411ea9fb06e1a4ba";

/*
 * katls provision's AK on a fresh swtpm 0.7 (an owner-hierarchy primary), as
 * tpm2_readpublic prints it: TPMT_PUBLIC, Name and qualified name; and
 * `tpm2_quote -c 0x81010002 -l sha256:0,10 -q 0011` with it (PCRs 0 and 10
 * all zero).  The quote's qualifiedSigner is the qualified name
 * 000b || SHA-256(40000001 || Name), not the Name.
 */
static const char sw_pub_hex[] =
	"0023000b00050472000000100018000b000300100020"
	"fdb409f4485a12b33dffe9f181322a8ada5828bd6ae02e863316aefe3dd403bc0020"
	"022f86d98421632c9c1607e75ede10c83086063f607da3d93b7d92903c2ea246";
static const char sw_name_hex[] =
	"000ba508eb3d0aab405cd86a5b38912983fde2b43df2c6ad262d61b838a2f68dab1c";
static const char sw_qname_hex[] =
	"000b62dbe6e2d073e570466394e96a1cfe81f1d45269e98bfbfe10226cb90a064b46";
static const char sw_quote_hex[] =
	"ff54434780180022000b62dbe6e2d073e570466394e96a1cfe81f1d45269e98bfbfe10226cb90a064b46"
	"0002001100000000000000a9fa2b31ebe81ad02c0154a1e651e0aa16cf00000001000b030104000020"
	"f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b";
static const char sw_sig_hex[] =
	"0018000b0020025ba41621868ace516f110f37bcdb6d0960bd964da326688f955b960c62d305"
	"0020550f1cc48bdccb483ac47c258ef19bb535715ad1f49958262972264715d37577";
static const uint8_t sw_nonce[] = { 0x00, 0x11 };
#define SW_MASK 0x401u

/* ---- helpers ------------------------------------------------------------------ */

struct bytes {
	uint8_t b[1024];
	size_t len;
};

static void unhex(const char *hex, struct bytes *out)
{
	size_t n = strlen(hex);

	assert_true(n % 2 == 0 && n / 2 <= sizeof(out->b));
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out->b[i] = (uint8_t)v;
	}
	out->len = n / 2;
}

static void set_pcr(struct katls_pcrs *p, unsigned int i, const char *hex)
{
	struct bytes d;

	unhex(hex, &d);
	assert_int_equal(d.len, KATLS_PCR_DIGEST_LEN);
	memcpy(p->digest[i], d.b, d.len);
	p->mask |= 1u << i;
}

static void cmc_pcrs(struct katls_pcrs *p)
{
	memset(p, 0, sizeof(*p));
	set_pcr(p, 1, cmc_pcr1_hex);
	set_pcr(p, 4, cmc_pcr4_hex);
}

static void ec_pcrs(struct katls_pcrs *p)
{
	memset(p, 0, sizeof(*p));
	p->mask = EC_MASK;		/* all zero ... */
	set_pcr(p, 11, ec_pcr11_hex);	/* ... but PCR 11 */
}

static void ec_sig(struct bytes *sig)
{
	struct bytes r, s;

	unhex(ec_r_hex, &r);
	unhex(ec_s_hex, &s);
	memcpy(sig->b, "\x00\x18\x00\x0b\x00\x20", 6);
	memcpy(sig->b + 6, r.b, 32);
	memcpy(sig->b + 38, "\x00\x20", 2);
	memcpy(sig->b + 40, s.b, 32);
	sig->len = 72;
}

static EVP_PKEY *ec_ak(void)
{
	struct bytes pub;
	struct katls_tpm_public tp;
	EVP_PKEY *pk = NULL;

	unhex(ec_pub_hex, &pub);
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_int_equal(katls_quote_public_pkey(&tp, &pk), 0);
	return pk;
}

static EVP_PKEY *cmc_ak(void)
{
	BIO *bio = BIO_new_mem_buf(cmc_ak_pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	EVP_PKEY *pk;

	assert_non_null(x);
	pk = X509_get_pubkey(x);
	assert_non_null(pk);
	X509_free(x);
	BIO_free(bio);
	return pk;
}

struct result {
	int ret;
	enum katls_reason reason;
	char msg[160];
};

static struct result verify(const struct bytes *q, const struct bytes *sig, EVP_PKEY *ak,
			    const uint8_t *nonce, size_t nonce_len, uint32_t mask,
			    const struct katls_pcrs *pcrs)
{
	struct katls_quote_expect exp = { nonce, nonce_len, mask, pcrs };
	struct result r = { .reason = __KATLS_R_MAX };

	r.ret = katls_quote_verify(q->b, q->len, sig->b, sig->len, ak, &exp,
				   &r.reason, r.msg, sizeof(r.msg));
	return r;
}

static struct result verify_ec(const struct bytes *q, const struct bytes *sig)
{
	struct katls_pcrs p;
	EVP_PKEY *ak = ec_ak();
	struct result r;

	ec_pcrs(&p);
	r = verify(q, sig, ak, ec_nonce, sizeof(ec_nonce), EC_MASK, &p);
	EVP_PKEY_free(ak);
	return r;
}

/* ---- published vectors -------------------------------------------------------- */

static void test_cmc_rsassa_quote_verifies(void **state)
{
	struct bytes q, s;
	struct katls_pcrs p;
	EVP_PKEY *ak = cmc_ak();
	struct result r;

	unhex(cmc_quote_hex, &q);
	unhex(cmc_sig_hex, &s);
	cmc_pcrs(&p);
	r = verify(&q, &s, ak, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.reason, KATLS_R_OK);

	r = verify(&q, &s, ak, cmc_bad_nonce, sizeof(cmc_bad_nonce), CMC_MASK, &p);
	assert_int_equal(r.ret, -EACCES);
	assert_int_equal(r.reason, KATLS_R_BINDER);
	/* A prefix of the right nonce is not the nonce. */
	r = verify(&q, &s, ak, cmc_nonce, sizeof(cmc_nonce) - 1, CMC_MASK, &p);
	assert_int_equal(r.reason, KATLS_R_BINDER);

	unhex(cmc_invalid_sig_hex, &s);
	r = verify(&q, &s, ak, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.ret, -EACCES);
	assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
	EVP_PKEY_free(ak);
}

static void test_cmc_pcr_digest(void **state)
{
	struct bytes q, s, want;
	struct katls_pcrs p;
	uint8_t d[64];
	size_t n = 0;
	EVP_PKEY *ak = cmc_ak();
	struct result r;

	cmc_pcrs(&p);
	unhex(cmc_pcr_digest_hex, &want);
	assert_int_equal(katls_quote_pcr_digest(TPM2_ALG_SHA256, CMC_MASK, &p, d, &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(d, want.b, 32);
	assert_int_equal(katls_quote_pcr_digest(TPM2_ALG_SHA256, CMC_MASK | 1, &p, d, &n), -ENOENT);

	/* cmc's invalidHashChain PCR 1 */
	unhex(cmc_quote_hex, &q);
	unhex(cmc_sig_hex, &s);
	set_pcr(&p, 1, cmc_bad_pcr1_hex);
	r = verify(&q, &s, ak, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.ret, -EACCES);
	assert_int_equal(r.reason, KATLS_R_PCR_DIGEST);

	/* Values for an unquoted PCR must not ride along. */
	cmc_pcrs(&p);
	p.mask |= 1u << 10;
	r = verify(&q, &s, ak, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.reason, KATLS_R_PCR_DIGEST);
	/* Missing value for a quoted PCR. */
	p.mask = 1u << 1;
	r = verify(&q, &s, ak, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.reason, KATLS_R_PCR_DIGEST);
	EVP_PKEY_free(ak);
}

static void test_cmc_attest_fields(void **state)
{
	struct bytes q;
	struct katls_attest a;

	unhex(cmc_quote_hex, &q);
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), 0);
	assert_int_equal(a.magic, 0xff544347);
	assert_int_equal(a.type, 0x8018);
	assert_int_equal(a.signer_len, 34);
	assert_memory_equal(a.extra, cmc_nonce, sizeof(cmc_nonce));
	assert_int_equal(a.extra_len, 8);
	assert_int_equal(a.sel.count, 1);
	assert_int_equal(a.sel.bank[0].hash, TPM2_ALG_SHA256);
	assert_int_equal(a.sel.bank[0].size, 3);
	assert_memory_equal(a.sel.bank[0].select, "\x12\x00\x00", 3);
	assert_int_equal(a.pcr_digest_len, 32);
	assert_int_equal(a.pcr_digest[0], 0x83);
}

static void test_ecdsa_vector_verifies(void **state)
{
	struct bytes q, s;
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	r = verify_ec(&q, &s);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.reason, KATLS_R_OK);
	assert_string_equal(r.msg, "quote verified");
}

static void test_ecdsa_any_flipped_byte_fails(void **state)
{
	struct bytes q, s;
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	for (size_t i = 0; i < q.len; i++) {
		q.b[i] ^= 0x01;
		r = verify_ec(&q, &s);
		assert_int_not_equal(r.ret, 0);
		assert_true(r.reason == KATLS_R_QUOTE_STRUCTURE || r.reason == KATLS_R_BINDER ||
			    r.reason == KATLS_R_QUOTE_SIGNATURE);
		q.b[i] ^= 0x01;
	}
	/* every byte of r (6..37) and s (40..71) */
	for (size_t i = 6; i < s.len; i++) {
		if (i == 38 || i == 39)
			continue;
		s.b[i] ^= 0x80;
		r = verify_ec(&q, &s);
		assert_int_equal(r.ret, -EACCES);
		assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
		s.b[i] ^= 0x80;
	}
	r = verify_ec(&q, &s);
	assert_int_equal(r.ret, 0);
}

static void test_swapped_selection_rejected(void **state)
{
	struct bytes q, s;
	struct katls_pcrs p;
	EVP_PKEY *ak = ec_ak();
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	/* Genuine quote over 0,2,4,7,11,12 presented as a quote over PCR 10 ... */
	memset(&p, 0, sizeof(p));
	p.mask = 1u << 10;
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), 1u << 10, &p);
	assert_int_equal(r.ret, -EACCES);
	assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	/* ... or over a superset / subset of its selection. */
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), EC_MASK | 1u << 10, &p);
	assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), EC_MASK & ~1u, &p);
	assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	/* Selection bytes swapped in the quote to match a claim: signature breaks. */
	q.b[EC_SEL_OFF] = 0x18;
	q.b[EC_SEL_OFF + 1] = 0x95;
	ec_pcrs(&p);
	p.mask = 0x9518;
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), 0x9518, &p);
	assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
	/* Second bank (sha1) is structure, before any signature work. */
	unhex(ec_quote_hex, &q);
	memmove(q.b + EC_SEL_OFF + 3 + 6, q.b + EC_SEL_OFF + 3, q.len - EC_SEL_OFF - 3);
	memcpy(q.b + EC_SEL_OFF + 3, "\x00\x04\x03\x00\x04\x00", 6);
	q.b[EC_SEL_OFF - 4] = 2;	/* count */
	q.len += 6;
	ec_pcrs(&p);
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), EC_MASK, &p);
	assert_int_equal(r.ret, -EACCES);
	assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	EVP_PKEY_free(ak);
}

static void test_wrong_magic_and_type_rejected(void **state)
{
	struct bytes q, s;
	struct katls_attest a;
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	q.b[3] = 0x48;
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), -EBADMSG);
	r = verify_ec(&q, &s);
	assert_int_equal(r.ret, -EBADMSG);
	assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	assert_non_null(strstr(r.msg, "magic"));

	unhex(ec_quote_hex, &q);
	q.b[5] = 0x17;		/* TPM_ST_ATTEST_CERTIFY */
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), -EBADMSG);
	r = verify_ec(&q, &s);
	assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	assert_non_null(strstr(r.msg, "not a quote"));
}

static void test_attest_truncation_and_trailing(void **state)
{
	struct bytes q, s;
	struct katls_attest a;
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	for (size_t n = 0; n < q.len; n++) {
		struct bytes t = q;

		t.len = n;
		assert_int_equal(katls_quote_attest_parse(t.b, t.len, &a), -EBADMSG);
		r = verify_ec(&t, &s);
		assert_int_equal(r.ret, -EBADMSG);
		assert_int_equal(r.reason, KATLS_R_QUOTE_STRUCTURE);
	}
	q.b[q.len++] = 0;
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), -EBADMSG);
}

static void test_attest_size_fields(void **state)
{
	struct bytes q;
	struct katls_attest a;

	unhex(ec_quote_hex, &q);
	q.b[6] = 0xff;				/* qualifiedSigner size beyond input */
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), -EBADMSG);
	/* extraData of 64 bytes (the TPM maximum) parses, 65 does not. */
	for (size_t n = 64; n <= 65; n++) {
		struct bytes big;

		unhex(ec_quote_hex, &q);
		memcpy(big.b, q.b, 42);
		big.b[42] = 0;
		big.b[43] = (uint8_t)n;
		memset(big.b + 44, 0x5a, n);
		memcpy(big.b + 44 + n, q.b + 60, q.len - 60);
		big.len = q.len - 16 + n;
		assert_int_equal(katls_quote_attest_parse(big.b, big.len, &a),
				 n == 64 ? 0 : -EBADMSG);
	}
	/* qualifiedSigner of 67 bytes (> sizeof(TPMU_NAME)) */
	{
		struct bytes big;

		unhex(ec_quote_hex, &q);
		memcpy(big.b, q.b, 6);
		big.b[6] = 0;
		big.b[7] = 67;
		memset(big.b + 8, 0, 67);
		memcpy(big.b + 8 + 67, q.b + 42, q.len - 42);
		big.len = q.len - 34 + 67;
		assert_int_equal(katls_quote_attest_parse(big.b, big.len, &a), -EBADMSG);
		big.b[7] = 66;
		memmove(big.b + 8 + 66, big.b + 8 + 67, big.len - 8 - 67);
		big.len--;
		assert_int_equal(katls_quote_attest_parse(big.b, big.len, &a), 0);
	}
	unhex(ec_quote_hex, &q);
	q.b[EC_SEL_OFF - 4] = 17;		/* more banks than a TPM has */
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), -EBADMSG);
	/* sizeofSelect 4 (TPM2_PCR_SELECT_MAX) parses, 5 does not. */
	for (uint8_t n = 4; n <= 5; n++) {
		struct bytes big;

		unhex(ec_quote_hex, &q);
		memcpy(big.b, q.b, EC_SEL_OFF);
		big.b[EC_SEL_OFF - 1] = n;
		memset(big.b + EC_SEL_OFF, 0, n);
		memcpy(big.b + EC_SEL_OFF + n, q.b + EC_SEL_OFF + 3, q.len - EC_SEL_OFF - 3);
		big.len = q.len - 3 + n;
		assert_int_equal(katls_quote_attest_parse(big.b, big.len, &a), n == 4 ? 0 : -EBADMSG);
	}
	unhex(ec_quote_hex, &q);
	q.b[EC_SEL_OFF - 16] = 2;		/* clockInfo.safe not YES/NO */
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), -EBADMSG);
}

/* ---- TPMT_SIGNATURE ----------------------------------------------------------- */

static void test_sig_parse(void **state)
{
	struct bytes s;
	struct katls_tpm_sig ts;

	ec_sig(&s);
	assert_int_equal(katls_quote_sig_parse(s.b, s.len, &ts), 0);
	assert_int_equal(ts.alg, TPM2_ALG_ECDSA);
	assert_int_equal(ts.hash, TPM2_ALG_SHA256);
	assert_int_equal(ts.r_len, 32);
	assert_int_equal(ts.s_len, 32);
	for (size_t n = 0; n < s.len; n++)
		assert_int_equal(katls_quote_sig_parse(s.b, n, &ts), -EBADMSG);
	s.b[s.len++] = 0;
	assert_int_equal(katls_quote_sig_parse(s.b, s.len, &ts), -EBADMSG);

	unhex(cmc_sig_hex, &s);
	assert_int_equal(katls_quote_sig_parse(s.b, s.len, &ts), 0);
	assert_int_equal(ts.alg, TPM2_ALG_RSASSA);
	assert_int_equal(ts.sig_len, 256);
	s.b[1] = 0x1c;				/* ECSCHNORR */
	assert_int_equal(katls_quote_sig_parse(s.b, s.len, &ts), -EOPNOTSUPP);
	memcpy(s.b, "\x00\x14\x00\x0b\x02\x01", 6);	/* 513-byte RSA signature */
	assert_int_equal(katls_quote_sig_parse(s.b, s.len, &ts), -EBADMSG);
	memcpy(s.b, "\x00\x18\x00\x0b\x00\x00\x00\x00", 8);	/* empty r, s */
	assert_int_equal(katls_quote_sig_parse(s.b, 8, &ts), -EBADMSG);
	/* r of 128 bytes (TPM2_MAX_ECC_KEY_BYTES) parses, 129 does not. */
	memset(s.b, 0x01, sizeof(s.b));
	memcpy(s.b, "\x00\x18\x00\x0b\x00\x80", 6);
	memcpy(s.b + 6 + 128, "\x00\x01", 2);
	assert_int_equal(katls_quote_sig_parse(s.b, 6 + 128 + 3, &ts), 0);
	memcpy(s.b, "\x00\x18\x00\x0b\x00\x81", 6);
	memcpy(s.b + 6 + 129, "\x00\x01", 2);
	assert_int_equal(katls_quote_sig_parse(s.b, 6 + 129 + 3, &ts), -EBADMSG);
}

static void test_sig_policy(void **state)
{
	struct bytes q, s;
	struct katls_pcrs p;
	EVP_PKEY *rsa = cmc_ak();
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	s.b[3] = 0x04;				/* SHA-1 */
	r = verify_ec(&q, &s);
	assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
	assert_non_null(strstr(r.msg, "hash"));
	/* An ECDSA signature against an RSA AK. */
	ec_sig(&s);
	ec_pcrs(&p);
	r = verify(&q, &s, rsa, ec_nonce, sizeof(ec_nonce), EC_MASK, &p);
	assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
	assert_non_null(strstr(r.msg, "AK type"));
	/* An unparseable signature */
	s.len = 3;
	r = verify_ec(&q, &s);
	assert_int_equal(r.ret, -EBADMSG);
	assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
	EVP_PKEY_free(rsa);
}

/* RSAPSS with the TPM's maximum salt, signed here with a fresh key. */
static void test_rsapss(void **state)
{
	struct bytes q, s;
	struct katls_pcrs p;
	EVP_PKEY *key = EVP_RSA_gen(2048);
	EVP_PKEY_CTX *ctx;
	uint8_t dgst[32];
	size_t sig_len = 256;
	struct result r;

	assert_non_null(key);
	unhex(cmc_quote_hex, &q);
	cmc_pcrs(&p);
	assert_true(EVP_Digest(q.b, q.len, dgst, NULL, EVP_sha256(), NULL));
	ctx = EVP_PKEY_CTX_new(key, NULL);
	assert_true(EVP_PKEY_sign_init(ctx) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_MAX) > 0);
	assert_true(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0);
	assert_true(EVP_PKEY_sign(ctx, s.b + 6, &sig_len, dgst, sizeof(dgst)) > 0);
	EVP_PKEY_CTX_free(ctx);
	memcpy(s.b, "\x00\x16\x00\x0b\x01\x00", 6);
	s.len = 6 + sig_len;
	r = verify(&q, &s, key, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.ret, 0);
	/* The same bytes claimed as PKCS#1 v1.5 do not verify. */
	s.b[1] = 0x14;
	r = verify(&q, &s, key, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.reason, KATLS_R_QUOTE_SIGNATURE);
	EVP_PKEY_free(key);
}

/* ---- TPMT_PUBLIC ---------------------------------------------------------------- */

static void test_public_ecc(void **state)
{
	struct bytes pub, name, x, y;
	struct katls_tpm_public tp;
	uint8_t n[KATLS_TPM_NAME_MAX];
	size_t n_len = 0;
	EVP_PKEY *pk = NULL;
	uint8_t point[65];
	size_t point_len = 0;

	unhex(ec_pub_hex, &pub);
	unhex(ec_pub_name_hex, &name);
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_int_equal(tp.type, TPM2_ALG_ECC);
	assert_int_equal(tp.curve, TPM2_ECC_NIST_P256);
	assert_int_equal(tp.scheme, TPM2_ALG_ECDSA);
	assert_int_equal(tp.scheme_hash, TPM2_ALG_SHA256);
	assert_true(katls_quote_is_ak(&tp));
	assert_int_equal(katls_quote_public_name(&tp, n, &n_len), 0);
	assert_int_equal(n_len, name.len);
	assert_memory_equal(n, name.b, name.len);
	/* a SHA-1 nameAlg makes a SHA-1 Name: not an AK katls accepts */
	pub.b[3] = 0x04;
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_false(katls_quote_is_ak(&tp));
	pub.b[3] = 0x0b;
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);

	assert_int_equal(katls_quote_public_pkey(&tp, &pk), 0);
	assert_true(EVP_PKEY_get_octet_string_param(pk, "encoded-pub-key", point,
						    sizeof(point), &point_len));
	unhex(ec_x_hex, &x);
	unhex(ec_y_hex, &y);
	assert_int_equal(point_len, 65);
	assert_memory_equal(point + 1, x.b, 32);
	assert_memory_equal(point + 33, y.b, 32);
	EVP_PKEY_free(pk);

	/* A point off the curve is refused. */
	pub.b[pub.len - 1] ^= 1;
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_int_equal(katls_quote_public_pkey(&tp, &pk), -EBADMSG);
	assert_null(pk);
}

static void test_public_strictness(void **state)
{
	struct bytes pub;
	struct katls_tpm_public tp;

	unhex(ec_pub_hex, &pub);
	for (size_t n = 0; n < pub.len; n++)
		assert_int_equal(katls_quote_public_parse(pub.b, n, &tp), -EBADMSG);
	pub.b[pub.len++] = 0;
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), -EBADMSG);

	unhex(ec_pub_hex, &pub);
	pub.b[1] = 0x08;			/* KEYEDHASH */
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), -EOPNOTSUPP);
	unhex(ec_pub_hex, &pub);
	pub.b[20] = 0x81;			/* x size 0x8120 */
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), -EBADMSG);

	/* Not an AK: decrypt set, restricted clear, no scheme. */
	unhex(ec_pub_hex, &pub);
	pub.b[5] |= 0x02;
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_false(katls_quote_is_ak(&tp));
	unhex(ec_pub_hex, &pub);
	pub.b[5] &= ~0x01;
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_false(katls_quote_is_ak(&tp));
}

/* The cmc AK's modulus as a TPMT_PUBLIC verifies the cmc quote. */
static void test_public_rsa(void **state)
{
	static const char head[] = "0001000b00050072000000100014000b080000000000" "0100";
	EVP_PKEY *cert_key = cmc_ak(), *pk = NULL;
	struct katls_tpm_public tp;
	struct bytes pub, q, s;
	struct katls_pcrs p;
	BIGNUM *n = NULL;
	struct result r;

	unhex(head, &pub);
	assert_true(EVP_PKEY_get_bn_param(cert_key, "n", &n));
	assert_int_equal(BN_bn2binpad(n, pub.b + pub.len, 256), 256);
	pub.len += 256;
	BN_free(n);
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_int_equal(tp.key_bits, 2048);
	assert_true(katls_quote_is_ak(&tp));
	assert_int_equal(katls_quote_public_pkey(&tp, &pk), 0);
	assert_true(EVP_PKEY_eq(pk, cert_key) == 1);

	unhex(cmc_quote_hex, &q);
	unhex(cmc_sig_hex, &s);
	cmc_pcrs(&p);
	r = verify(&q, &s, pk, cmc_nonce, sizeof(cmc_nonce), CMC_MASK, &p);
	assert_int_equal(r.ret, 0);

	pub.b[16] = 0x07;			/* keyBits 0x0700 != modulus size */
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	EVP_PKEY_free(pk);
	pk = NULL;
	assert_int_equal(katls_quote_public_pkey(&tp, &pk), -EBADMSG);
	EVP_PKEY_free(cert_key);
}

/* ---- nonce and pinning ------------------------------------------------------------ */

static void test_nonce(void **state)
{
	static const char sha256_0_47[] =
		"4dbdc2b2b62cb00749785bc84202236dbc3777d74660611b8e58812f0cfde6c3";
	uint8_t binder[48], out[KATLS_QUOTE_NONCE_MAX];
	size_t n = 0;
	struct bytes want;

	for (size_t i = 0; i < sizeof(binder); i++)
		binder[i] = (uint8_t)i;
	assert_int_equal(katls_quote_nonce(binder, 32, out, &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(out, binder, 32);
	assert_int_equal(katls_quote_nonce(binder, 8, out, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(katls_quote_nonce(binder, 48, out, &n), 0);
	unhex(sha256_0_47, &want);
	assert_int_equal(n, 32);
	assert_memory_equal(out, want.b, 32);
	assert_int_equal(katls_quote_nonce(binder, 0, out, &n), -EINVAL);
}

static void test_ak_pinned(void **state)
{
	EVP_PKEY *ec = ec_ak(), *rsa = cmc_ak();
	unsigned char *ec_der = NULL, *rsa_der = NULL;
	int ec_len = i2d_PUBKEY(ec, &ec_der), rsa_len = i2d_PUBKEY(rsa, &rsa_der);
	struct katls_spki pins[2] = { { rsa_der, (size_t)rsa_len }, { ec_der, (size_t)ec_len } };
	enum katls_reason reason = __KATLS_R_MAX;
	char msg[128];

	assert_true(ec_len > 0 && rsa_len > 0);
	assert_int_equal(katls_quote_ak_pinned(ec, pins, 2, &reason, msg, sizeof(msg)), 0);
	assert_int_equal(reason, KATLS_R_OK);
	assert_int_equal(katls_quote_ak_pinned(ec, pins, 1, &reason, msg, sizeof(msg)), -EACCES);
	assert_int_equal(reason, KATLS_R_AK_UNTRUSTED);
	assert_int_equal(katls_quote_ak_pinned(rsa, pins + 1, 1, &reason, NULL, 0), -EACCES);
	assert_int_equal(katls_quote_ak_pinned(rsa, NULL, 0, &reason, NULL, 0), -EACCES);
	/* Another P-256 key: same SPKI length, different bytes. */
	{
		EVP_PKEY *other = EVP_EC_gen("P-256");
		unsigned char *o_der = NULL;
		int o_len = i2d_PUBKEY(other, &o_der);
		struct katls_spki pin = { o_der, (size_t)o_len };

		assert_int_equal(o_len, ec_len);
		assert_int_equal(katls_quote_ak_pinned(ec, &pin, 1, &reason, NULL, 0), -EACCES);
		assert_int_equal(reason, KATLS_R_AK_UNTRUSTED);
		assert_int_equal(katls_quote_ak_pinned(other, &pin, 1, &reason, NULL, 0), 0);
		OPENSSL_free(o_der);
		EVP_PKEY_free(other);
	}
	OPENSSL_free(ec_der);
	OPENSSL_free(rsa_der);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/*
 * The swtpm vector end to end: the quote verifies with the key of its
 * TPMT_PUBLIC, whose Name is the one tpm2_readpublic printed, and its
 * qualifiedSigner is that key's qualified name as an owner primary.
 */
static void test_swtpm_qualified_signer(void **state)
{
	struct bytes pub, name, qname, q, sig;
	struct katls_tpm_public tp;
	struct katls_attest a;
	struct katls_pcrs pcrs = { .mask = SW_MASK };	/* PCRs 0 and 10: zero */
	uint8_t n[KATLS_TPM_NAME_MAX], qn[KATLS_TPM_NAME_MAX];
	static const uint8_t owner[4] = { 0x40, 0x00, 0x00, 0x01 };
	static const uint8_t endorsement[4] = { 0x40, 0x00, 0x00, 0x0b };
	size_t n_len = 0, qn_len = 0;
	enum katls_reason reason = __KATLS_R_MAX;
	EVP_PKEY *pk = NULL;
	struct result r;
	char msg[256];

	unhex(sw_pub_hex, &pub);
	unhex(sw_name_hex, &name);
	unhex(sw_qname_hex, &qname);
	unhex(sw_quote_hex, &q);
	unhex(sw_sig_hex, &sig);
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_true(katls_quote_is_ak(&tp));
	assert_int_equal(katls_quote_public_pkey(&tp, &pk), 0);
	assert_int_equal(katls_quote_public_name(&tp, n, &n_len), 0);
	assert_int_equal(n_len, name.len);
	assert_memory_equal(n, name.b, name.len);
	assert_int_equal(katls_quote_qualified_name(owner, 4, n, n_len, qn, &qn_len), 0);
	assert_int_equal(qn_len, qname.len);
	assert_memory_equal(qn, qname.b, qname.len);

	r = verify(&q, &sig, pk, sw_nonce, sizeof(sw_nonce), SW_MASK, &pcrs);
	assert_int_equal(r.ret, 0);
	assert_int_equal(katls_quote_attest_parse(q.b, q.len, &a), 0);
	assert_int_equal(a.signer_len, qname.len);
	assert_memory_equal(a.signer, qname.b, qname.len);
	assert_int_equal(katls_quote_check_signer(&a, n, n_len, NULL, 0, &reason, msg,
						  sizeof(msg)), 0);
	assert_int_equal(reason, KATLS_R_OK);
	assert_int_equal(katls_quote_check_signer(&a, n, n_len, owner, 4, &reason, NULL, 0), 0);
	/* the same key under another parent is another signer */
	assert_int_equal(katls_quote_check_signer(&a, n, n_len, endorsement, 4, &reason, msg,
						  sizeof(msg)), -EACCES);
	assert_int_equal(reason, KATLS_R_QUOTE_SIGNATURE);
	assert_non_null(strstr(msg, "under the given parent"));
	/* a TPMT_PUBLIC with other attributes for the same key: another Name */
	pub.b[7] ^= 0x04;		/* noDA */
	assert_int_equal(katls_quote_public_parse(pub.b, pub.len, &tp), 0);
	assert_true(katls_quote_is_ak(&tp));
	assert_int_equal(katls_quote_public_name(&tp, n, &n_len), 0);
	assert_int_equal(katls_quote_check_signer(&a, n, n_len, NULL, 0, &reason, msg,
						  sizeof(msg)), -EACCES);
	assert_int_equal(reason, KATLS_R_QUOTE_SIGNATURE);
	assert_non_null(strstr(msg, "quote qualifiedSigner 000b62dbe6e2"));
	assert_non_null(strstr(msg, "is not the qualified name of the AK 000b"));
	EVP_PKEY_free(pk);
}

/* qualifiedSigner: exact comparison, every hierarchy, never the plain Name. */
static void test_check_signer(void **state)
{
	struct bytes name;
	struct katls_attest a = { 0 };
	uint8_t qn[KATLS_TPM_NAME_MAX];
	size_t qn_len = 0;
	enum katls_reason reason = __KATLS_R_MAX;
	static const uint8_t hier[3][4] = {
		{ 0x40, 0x00, 0x00, 0x01 }, { 0x40, 0x00, 0x00, 0x0b }, { 0x40, 0x00, 0x00, 0x0c },
	};
	static const uint8_t null_h[4] = { 0x40, 0x00, 0x00, 0x07 };

	unhex(sw_name_hex, &name);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(katls_quote_qualified_name(hier[i], 4, name.b, name.len, qn,
							    &qn_len), 0);
		a.signer = qn;
		a.signer_len = qn_len;
		assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason,
							  NULL, 0), 0);
		/* one byte off, or one byte short */
		qn[qn_len - 1] ^= 1;
		assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason,
							  NULL, 0), -EACCES);
		qn[qn_len - 1] ^= 1;
		a.signer_len = qn_len - 1;
		assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason,
							  NULL, 0), -EACCES);
	}
	/* the null hierarchy is not a candidate: a persistent AK is never there */
	assert_int_equal(katls_quote_qualified_name(null_h, 4, name.b, name.len, qn, &qn_len), 0);
	a.signer_len = qn_len;
	assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason, NULL,
						  0), -EACCES);
	/* the plain Name is not a qualified name */
	a.signer = name.b;
	a.signer_len = name.len;
	assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason, NULL,
						  0), -EACCES);
	assert_int_equal(reason, KATLS_R_QUOTE_SIGNATURE);
	/* a child key: the parent's qualified name is given */
	assert_int_equal(katls_quote_qualified_name(qn, qn_len, name.b, name.len, qn, &qn_len),
			 0);
	a.signer = qn;
	assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason, NULL,
						  0), -EACCES);
	/* an empty qualifiedSigner (anonymous scheme) */
	a.signer_len = 0;
	assert_int_equal(katls_quote_check_signer(&a, name.b, name.len, NULL, 0, &reason, NULL,
						  0), -EACCES);
	/* bad requests */
	assert_int_equal(katls_quote_check_signer(NULL, name.b, name.len, NULL, 0, &reason, NULL,
						  0), -EINVAL);
	assert_int_equal(reason, KATLS_R_INTERNAL);
	assert_int_equal(katls_quote_check_signer(&a, name.b, name.len - 1, NULL, 0, &reason,
						  NULL, 0), -EINVAL);
	assert_int_equal(katls_quote_qualified_name(NULL, 0, name.b, name.len, qn, &qn_len),
			 -EINVAL);
}

static void test_name_check_and_pins(void **state)
{
	struct bytes name;
	struct katls_tpm_name pins[2] = { 0 };
	enum katls_reason reason = __KATLS_R_MAX;
	uint8_t sha1_name[22] = { 0x00, 0x04 }, sha384_name[50] = { 0x00, 0x0c };

	unhex(sw_name_hex, &name);
	assert_int_equal(katls_quote_name_check(name.b, name.len), 0);
	assert_int_equal(katls_quote_name_check(name.b, name.len - 1), -EINVAL);
	assert_int_equal(katls_quote_name_check(sha1_name, sizeof(sha1_name)), -EINVAL);
	assert_int_equal(katls_quote_name_check(sha384_name, sizeof(sha384_name)), 0);
	assert_int_equal(katls_quote_name_check(sha384_name, 34), -EINVAL);
	assert_int_equal(katls_quote_name_check(NULL, 0), -EINVAL);

	pins[1].len = name.len;
	memcpy(pins[1].name, name.b, name.len);
	pins[0] = pins[1];
	pins[0].name[5] ^= 1;
	assert_int_equal(katls_quote_ak_name_pinned(name.b, name.len, pins, 2, &reason, NULL, 0),
			 0);
	assert_int_equal(reason, KATLS_R_OK);
	assert_int_equal(katls_quote_ak_name_pinned(name.b, name.len, pins, 1, &reason, NULL, 0),
			 -EACCES);
	assert_int_equal(reason, KATLS_R_AK_UNTRUSTED);
	assert_int_equal(katls_quote_ak_name_pinned(name.b, name.len - 1, pins + 1, 1, &reason,
						    NULL, 0), -EACCES);
	assert_int_equal(katls_quote_ak_name_pinned(name.b, name.len, NULL, 0, &reason, NULL, 0),
			 -EACCES);
}

static void test_invalid_requests(void **state)
{
	struct bytes q, s;
	struct katls_pcrs p;
	EVP_PKEY *ak = ec_ak();
	struct result r;

	unhex(ec_quote_hex, &q);
	ec_sig(&s);
	ec_pcrs(&p);
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), 0, &p);
	assert_int_equal(r.ret, -EINVAL);
	assert_int_equal(r.reason, KATLS_R_INTERNAL);
	r = verify(&q, &s, ak, ec_nonce, sizeof(ec_nonce), 1u << 24, &p);
	assert_int_equal(r.ret, -EINVAL);
	r = verify(&q, &s, ak, NULL, 0, EC_MASK, &p);
	assert_int_equal(r.ret, -EINVAL);
	EVP_PKEY_free(ak);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmc_rsassa_quote_verifies),
		cmocka_unit_test(test_cmc_pcr_digest),
		cmocka_unit_test(test_cmc_attest_fields),
		cmocka_unit_test(test_ecdsa_vector_verifies),
		cmocka_unit_test(test_ecdsa_any_flipped_byte_fails),
		cmocka_unit_test(test_swapped_selection_rejected),
		cmocka_unit_test(test_wrong_magic_and_type_rejected),
		cmocka_unit_test(test_attest_truncation_and_trailing),
		cmocka_unit_test(test_attest_size_fields),
		cmocka_unit_test(test_sig_parse),
		cmocka_unit_test(test_sig_policy),
		cmocka_unit_test(test_rsapss),
		cmocka_unit_test(test_public_ecc),
		cmocka_unit_test(test_public_strictness),
		cmocka_unit_test(test_public_rsa),
		cmocka_unit_test(test_nonce),
		cmocka_unit_test(test_ak_pinned),
		cmocka_unit_test(test_swtpm_qualified_signer),
		cmocka_unit_test(test_check_signer),
		cmocka_unit_test(test_name_check_and_pins),
		cmocka_unit_test(test_invalid_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
