// SPDX-License-Identifier: MIT
/*
 * TPM access through tpm2-tss ESAPI; see tpm.h for the AK design.
 *
 * Every TSS2 failure is translated here, at the boundary, into -errno plus
 * one stderr line naming the failing call and Tss2_RC_Decode()'s text.
 * ESYS_TR objects made for persistent handles are closed (not flushed)
 * before each function returns; the only transient object, the freshly
 * created primary, is flushed once it has been persisted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "quote.h"
#include "tpm.h"

#define QUOTE_TRIES		5
#define OWNER_PERSISTENT_FIRST	0x81000000u
#define OWNER_PERSISTENT_LAST	0x817fffffu

struct katls_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static int rc_errno(TSS2_RC rc)
{
	TSS2_RC base;

	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER) {
		base = rc & TPM2_RC_FMT1 ? rc & (TPM2_RC_FMT1 | 0x3f) : rc & 0xfff;
		switch (base) {
		case TPM2_RC_AUTH_FAIL:
		case TPM2_RC_BAD_AUTH:
		case TPM2_RC_LOCKOUT:
			return -EACCES;
		case TPM2_RC_HANDLE:
			return -ENOENT;
		case TPM2_RC_SIZE:
			return -EMSGSIZE;
		case TPM2_RC_NV_SPACE:
		case TPM2_RC_OBJECT_MEMORY:
			return -ENOSPC;
		case TPM2_RC_RETRY:
		case TPM2_RC_YIELDED:
		case TPM2_RC_TESTING:
			return -EAGAIN;
		default:
			return -EIO;
		}
	}
	switch (rc & 0xffff) {
	case TSS2_BASE_RC_MEMORY:
		return -ENOMEM;
	case TSS2_BASE_RC_NO_CONNECTION:
		return -ECONNREFUSED;
	case TSS2_BASE_RC_NOT_IMPLEMENTED:
	case TSS2_BASE_RC_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case TSS2_BASE_RC_BAD_VALUE:
	case TSS2_BASE_RC_BAD_REFERENCE:
		return -EINVAL;
	case TSS2_BASE_RC_TRY_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

static int tss_err(const char *call, TSS2_RC rc)
{
	fprintf(stderr, "katls: %s: %s\n", call, Tss2_RC_Decode(rc));
	return rc_errno(rc);
}

static const char *tcti_from_env(void)
{
	const char *s = getenv("TPM2TOOLS_TCTI");

	if (!s || !*s)
		s = getenv("KATLS_TCTI");
	return s && *s ? s : KATLS_TCTI_DEFAULT;
}

/* swtpm and mssim are raw simulators: nobody has sent TPM2_Startup. */
static bool is_simulator(const char *tcti)
{
	size_t n = strcspn(tcti, ":");

	return memmem(tcti, n, "swtpm", 5) || memmem(tcti, n, "mssim", 5);
}

int katls_tpm_open(const char *tcti, struct katls_tpm **out)
{
	struct katls_tpm *tpm;
	TSS2_RC rc;
	int ret = 0;

	*out = NULL;
	if (!tcti)
		tcti = tcti_from_env();
	tpm = calloc(1, sizeof(*tpm));
	if (!tpm)
		return -ENOMEM;
	rc = Tss2_TctiLdr_Initialize(tcti, &tpm->tcti);
	if (rc) {
		fprintf(stderr, "katls: Tss2_TctiLdr_Initialize(%s): %s\n", tcti,
			Tss2_RC_Decode(rc));
		ret = rc_errno(rc);
		goto fail;
	}
	rc = Esys_Initialize(&tpm->esys, tpm->tcti, NULL);
	if (rc) {
		ret = tss_err("Esys_Initialize", rc);
		goto fail;
	}
	if (is_simulator(tcti)) {
		rc = Esys_Startup(tpm->esys, TPM2_SU_CLEAR);
		if (rc && rc != TPM2_RC_INITIALIZE) {
			ret = tss_err("Esys_Startup", rc);
			goto fail;
		}
	}
	*out = tpm;
	return 0;
fail:
	katls_tpm_close(tpm);
	return ret;
}

void katls_tpm_close(struct katls_tpm *tpm)
{
	if (!tpm)
		return;
	if (tpm->esys)
		Esys_Finalize(&tpm->esys);
	if (tpm->tcti)
		Tss2_TctiLdr_Finalize(&tpm->tcti);
	free(tpm);
}

/* ---- persistent objects ---------------------------------------------------- */

/* 1 if a persistent object sits at handle, 0 if not, or -errno. */
static int handle_present(struct katls_tpm *tpm, uint32_t handle)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;
	int ret;

	rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_HANDLES, handle, 1, &more, &cap);
	if (rc)
		return tss_err("Esys_GetCapability", rc);
	ret = cap->data.handles.count >= 1 && cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return ret;
}

static int open_handle(struct katls_tpm *tpm, uint32_t handle, ESYS_TR *tr)
{
	int ret = handle_present(tpm, handle);
	TSS2_RC rc;

	if (ret <= 0)
		return ret ? ret : -ENOENT;
	rc = Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, tr);
	return rc ? tss_err("Esys_TR_FromTPMPublic", rc) : 0;
}

/* Replaces out with the marshalled TPMT_PUBLIC of tr. */
static int public_bytes(struct katls_tpm *tpm, ESYS_TR tr, struct katls_buf *out)
{
	TPM2B_PUBLIC *pub = NULL;
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Esys_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			     &pub, NULL, NULL);
	if (rc)
		return tss_err("Esys_ReadPublic", rc);
	rc = Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf), &off);
	Esys_Free(pub);
	if (rc)
		return tss_err("Tss2_MU_TPMT_PUBLIC_Marshal", rc);
	out->len = 0;
	return katls_put_bytes(out, buf, off);
}

static int pkey_of(const struct katls_buf *pub, EVP_PKEY **out)
{
	struct katls_tpm_public tp;
	int ret = katls_quote_public_parse(pub->data, pub->len, &tp);

	if (!ret)
		ret = katls_quote_public_pkey(&tp, out);
	if (ret)
		fprintf(stderr, "katls: TPMT_PUBLIC from the TPM: unusable public key (%d)\n", ret);
	return ret;
}

int katls_tpm_ak_public(struct katls_tpm *tpm, uint32_t handle,
			struct katls_buf *out_public, EVP_PKEY **out_pkey)
{
	struct katls_buf tmp = KATLS_BUF_INIT;
	struct katls_buf *pub = out_public ? out_public : &tmp;
	ESYS_TR tr;
	int ret;

	if (out_pkey)
		*out_pkey = NULL;
	if (handle >> 24 != TPM2_HT_PERSISTENT)
		return -EINVAL;
	ret = open_handle(tpm, handle, &tr);
	if (ret)
		return ret;
	ret = public_bytes(tpm, tr, pub);
	Esys_TR_Close(tpm->esys, &tr);
	if (!ret && out_pkey)
		ret = pkey_of(pub, out_pkey);
	katls_buf_cleanup(&tmp);
	return ret;
}

/* The key katls provisions: restricted ECDSA-P256-SHA256 signing. */
static bool is_katls_ak(const struct katls_buf *pub)
{
	struct katls_tpm_public tp;

	return !katls_quote_public_parse(pub->data, pub->len, &tp) && katls_quote_is_ak(&tp) &&
	       tp.type == TPM2_ALG_ECC && tp.curve == TPM2_ECC_NIST_P256 &&
	       tp.scheme == TPM2_ALG_ECDSA && tp.scheme_hash == TPM2_ALG_SHA256;
}

static const TPM2B_PUBLIC ak_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
				    TPMA_OBJECT_SIGN_ENCRYPT,
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_NULL },
			.scheme = {
				.scheme = TPM2_ALG_ECDSA,
				.details.ecdsa.hashAlg = TPM2_ALG_SHA256,
			},
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = { .scheme = TPM2_ALG_NULL },
		},
		/* Label in the primary's derivation input: a katls-only key. */
		.unique.ecc.x = { .size = 8, .buffer = "katls-ak" },
	},
};

static int create_ak(struct katls_tpm *tpm, uint32_t handle, struct katls_buf *pub)
{
	static const TPM2B_SENSITIVE_CREATE sensitive;	/* empty auth, no data */
	static const TPM2B_DATA outside;
	static const TPML_PCR_SELECTION creation_pcrs;
	ESYS_TR obj = ESYS_TR_NONE, persisted = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret;

	rc = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, &ak_template, &outside, &creation_pcrs,
				&obj, NULL, NULL, NULL, NULL);
	if (rc)
		return tss_err("Esys_CreatePrimary", rc);
	rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, handle, &persisted);
	ret = rc ? tss_err("Esys_EvictControl", rc) : public_bytes(tpm, persisted, pub);
	if (persisted != ESYS_TR_NONE)
		Esys_TR_Close(tpm->esys, &persisted);
	rc = Esys_FlushContext(tpm->esys, obj);
	if (rc && !ret)
		ret = tss_err("Esys_FlushContext", rc);
	return ret;
}

static int evict(struct katls_tpm *tpm, uint32_t handle)
{
	ESYS_TR tr, none = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret = open_handle(tpm, handle, &tr);

	if (ret)
		return ret;
	rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, handle, &none);
	/*
	 * ESYS keeps the node of the evicted object; a later FromTPMPublic of
	 * the same handle would reuse it and fail with a Name mismatch.
	 */
	Esys_TR_Close(tpm->esys, &tr);
	return rc ? tss_err("Esys_EvictControl", rc) : 0;
}

/* 0: reuse the AK now in pub; 1: handle is free, create; or -errno. */
static int reuse_or_evict(struct katls_tpm *tpm, uint32_t handle, bool force,
			  struct katls_buf *pub)
{
	int ret = katls_tpm_ak_public(tpm, handle, pub, NULL);

	if (ret == -ENOENT)
		return 1;
	if (ret)
		return ret;
	if (!force && is_katls_ak(pub))
		return 0;
	if (!force) {
		fprintf(stderr, "katls: provision: handle 0x%08x holds an object that is not "
			"a restricted ECDSA P-256 signing key; refusing to replace it\n", handle);
		return -EEXIST;
	}
	ret = evict(tpm, handle);
	return ret ? ret : 1;
}

int katls_tpm_provision_ak(struct katls_tpm *tpm, uint32_t handle, bool force,
			   EVP_PKEY **out_pub)
{
	struct katls_buf pub = KATLS_BUF_INIT;
	int ret;

	if (out_pub)
		*out_pub = NULL;
	if (handle < OWNER_PERSISTENT_FIRST || handle > OWNER_PERSISTENT_LAST)
		return -EINVAL;
	ret = reuse_or_evict(tpm, handle, force, &pub);
	if (ret == 1)
		ret = create_ak(tpm, handle, &pub);
	if (!ret && out_pub)
		ret = pkey_of(&pub, out_pub);
	katls_buf_cleanup(&pub);
	return ret;
}

/* ---- PCRs and quotes -------------------------------------------------------- */

static void selection_of(TPML_PCR_SELECTION *sel, uint32_t mask)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (unsigned int i = 0; i < 3; i++)
		sel->pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
}

/* Copies one PCR_Read answer into out; *done = the PCRs it carried. */
static int store_pcrs(struct katls_pcrs *out, uint32_t want, const TPML_PCR_SELECTION *got,
		      const TPML_DIGEST *vals, uint32_t *done)
{
	uint32_t m = 0, k = 0;

	for (uint32_t i = 0; i < got->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &got->pcrSelections[i];

		if (s->hash != TPM2_ALG_SHA256)
			continue;
		for (unsigned int j = 0; j < s->sizeofSelect && j < 3; j++)
			m |= (uint32_t)s->pcrSelect[j] << (8 * j);
	}
	if (!m) {
		fprintf(stderr, "katls: Esys_PCR_Read: the TPM has no SHA-256 PCR bank\n");
		return -ENODEV;
	}
	if ((m & ~want) || (uint32_t)__builtin_popcount(m) != vals->count) {
		fprintf(stderr, "katls: Esys_PCR_Read: answer does not match the selection\n");
		return -EPROTO;
	}
	for (unsigned int i = 0; i < KATLS_PCR_COUNT; i++) {
		if (!(m >> i & 1))
			continue;
		if (vals->digests[k].size != KATLS_PCR_DIGEST_LEN)
			return -EPROTO;
		memcpy(out->digest[i], vals->digests[k++].buffer, KATLS_PCR_DIGEST_LEN);
	}
	out->mask |= m;
	*done = m;
	return 0;
}

int katls_tpm_pcr_read(struct katls_tpm *tpm, uint32_t pcr_mask, struct katls_pcrs *out)
{
	uint32_t left = pcr_mask;

	if (!pcr_mask || pcr_mask >> KATLS_PCR_COUNT)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	/* A TPM returns at most 8 digests per PCR_Read. */
	while (left) {
		TPML_PCR_SELECTION in, *got = NULL;
		TPML_DIGEST *vals = NULL;
		uint32_t counter, done = 0;
		TSS2_RC rc;
		int ret;

		selection_of(&in, left);
		rc = Esys_PCR_Read(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
				   &counter, &got, &vals);
		if (rc)
			return tss_err("Esys_PCR_Read", rc);
		ret = store_pcrs(out, left, got, vals, &done);
		Esys_Free(got);
		Esys_Free(vals);
		if (ret)
			return ret;
		left &= ~done;
	}
	return 0;
}

static int store_quote(const TPM2B_ATTEST *quoted, const TPMT_SIGNATURE *sig,
		       struct katls_buf *out_attest, struct katls_buf *out_sig)
{
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;
	TSS2_RC rc;

	rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off);
	if (rc)
		return tss_err("Tss2_MU_TPMT_SIGNATURE_Marshal", rc);
	out_attest->len = 0;
	out_sig->len = 0;
	if (katls_put_bytes(out_attest, quoted->attestationData, quoted->size) ||
	    katls_put_bytes(out_sig, buf, off))
		return -ENOMEM;
	return 0;
}

/* 0 if both reads agree and hash to the quote's pcrDigest, else -EAGAIN. */
static int quote_covers(const struct katls_pcrs *before, const struct katls_pcrs *after,
			uint32_t mask, const struct katls_buf *attest, const struct katls_buf *sig)
{
	struct katls_attest a;
	struct katls_tpm_sig s;
	uint8_t d[64];
	size_t n = 0;
	int ret;

	if (memcmp(before, after, sizeof(*after)))
		return -EAGAIN;
	if (katls_quote_attest_parse(attest->data, attest->len, &a) ||
	    katls_quote_sig_parse(sig->data, sig->len, &s)) {
		fprintf(stderr, "katls: Esys_Quote: the TPM returned an unparseable quote\n");
		return -EPROTO;
	}
	ret = katls_quote_pcr_digest(s.hash, mask, after, d, &n);
	if (ret)
		return ret;
	return n == a.pcr_digest_len && !memcmp(d, a.pcr_digest, n) ? 0 : -EAGAIN;
}

static int quote_once(struct katls_tpm *tpm, ESYS_TR ak, const TPM2B_DATA *qd, uint32_t mask,
		      struct katls_buf *out_attest, struct katls_buf *out_sig,
		      struct katls_pcrs *out_pcrs)
{
	static const TPMT_SIG_SCHEME key_scheme = { .scheme = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel;
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	struct katls_pcrs before;
	TSS2_RC rc;
	int ret;

	ret = katls_tpm_pcr_read(tpm, mask, &before);
	if (ret)
		return ret;
	selection_of(&sel, mask);
	rc = Esys_Quote(tpm->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, qd,
			&key_scheme, &sel, &quoted, &sig);
	if (rc)
		return tss_err("Esys_Quote", rc);
	ret = store_quote(quoted, sig, out_attest, out_sig);
	Esys_Free(quoted);
	Esys_Free(sig);
	if (!ret)
		ret = katls_tpm_pcr_read(tpm, mask, out_pcrs);
	if (!ret)
		ret = quote_covers(&before, out_pcrs, mask, out_attest, out_sig);
	return ret;
}

int katls_tpm_quote(struct katls_tpm *tpm, uint32_t handle,
		    const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
		    struct katls_buf *out_attest, struct katls_buf *out_sig,
		    struct katls_pcrs *out_pcrs)
{
	TPM2B_DATA qd = { .size = (UINT16)nonce_len };
	ESYS_TR ak;
	int ret;

	if (!nonce || !nonce_len || !pcr_mask || pcr_mask >> KATLS_PCR_COUNT)
		return -EINVAL;
	if (nonce_len > KATLS_QUOTE_NONCE_MAX)
		return -EMSGSIZE;
	memcpy(qd.buffer, nonce, nonce_len);
	ret = open_handle(tpm, handle, &ak);
	if (ret)
		return ret;
	for (int i = 0; i < QUOTE_TRIES; i++) {
		ret = quote_once(tpm, ak, &qd, pcr_mask, out_attest, out_sig, out_pcrs);
		if (ret != -EAGAIN)
			break;
	}
	Esys_TR_Close(tpm->esys, &ak);
	if (ret == -EAGAIN)
		fprintf(stderr, "katls: Esys_Quote: PCRs changed during %d attempts\n",
			QUOTE_TRIES);
	return ret;
}
