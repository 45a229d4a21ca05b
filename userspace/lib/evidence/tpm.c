// SPDX-License-Identifier: MIT
/*
 * TPM access through tpm2-tss ESAPI; see tpm.h for the AK design.
 *
 * Every TSS2 failure is translated here, at the boundary, into -errno plus
 * one stderr line naming the failing call and Tss2_RC_Decode()'s text.
 * ESYS_TR objects made for persistent handles and NV indices are closed
 * (not flushed) before each function returns; transient objects (a freshly
 * created primary, an EK derived from its template, a policy session) are
 * flushed before the function that made them returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "evidence/credential.h"
#include "evidence/enroll.h"
#include "evidence/quote.h"
#include "evidence/tpm.h"

#define QUOTE_TRIES		5
#define OWNER_PERSISTENT_FIRST	0x81000000u
#define OWNER_PERSISTENT_LAST	0x817fffffu

struct katls_tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	char *conf;			/* the TCTI string, to reconnect */
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

static void disconnect(struct katls_tpm *tpm)
{
	if (tpm->esys)
		Esys_Finalize(&tpm->esys);
	if (tpm->tcti)
		Tss2_TctiLdr_Finalize(&tpm->tcti);
}

static int connect_tpm(struct katls_tpm *tpm)
{
	TSS2_RC rc = Tss2_TctiLdr_Initialize(tpm->conf, &tpm->tcti);

	if (rc) {
		fprintf(stderr, "katls: Tss2_TctiLdr_Initialize(%s): %s\n", tpm->conf,
			Tss2_RC_Decode(rc));
		return rc_errno(rc);
	}
	rc = Esys_Initialize(&tpm->esys, tpm->tcti, NULL);
	if (rc)
		return tss_err("Esys_Initialize", rc);
	if (is_simulator(tpm->conf)) {
		rc = Esys_Startup(tpm->esys, TPM2_SU_CLEAR);
		if (rc && rc != TPM2_RC_INITIALIZE)
			return tss_err("Esys_Startup", rc);
	}
	return 0;
}

int katls_tpm_open(const char *tcti, struct katls_tpm **out)
{
	struct katls_tpm *tpm;
	int ret;

	*out = NULL;
	tpm = calloc(1, sizeof(*tpm));
	if (!tpm)
		return -ENOMEM;
	tpm->conf = strdup(tcti ? tcti : tcti_from_env());
	ret = tpm->conf ? connect_tpm(tpm) : -ENOMEM;
	if (ret) {
		katls_tpm_close(tpm);
		return ret;
	}
	*out = tpm;
	return 0;
}

/*
 * After a failed command: a TCTI that lost the TPM (a device read that timed
 * out, a simulator connection that closed) leaves the ESAPI context in its
 * internal-error state, where every later call fails ("called in bad
 * sequence") -- a long-lived attester would never quote again.  So start
 * over with a new connection; transient objects go with the old one, the AK
 * is persistent.
 */
static void reconnect(struct katls_tpm *tpm)
{
	int ret;

	disconnect(tpm);
	ret = connect_tpm(tpm);
	if (ret) {
		fprintf(stderr, "katls: reconnecting to the TPM (%s): %s\n", tpm->conf,
			strerror(-ret));
		disconnect(tpm);
	}
}

void katls_tpm_close(struct katls_tpm *tpm)
{
	if (!tpm)
		return;
	disconnect(tpm);
	free(tpm->conf);
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

/* A primary under @hierarchy (ESYS_TR_RH_*) from @tmpl; the caller flushes *out. */
static int create_primary(struct katls_tpm *tpm, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl,
			  ESYS_TR *out, TPM2B_PUBLIC **out_pub)
{
	static const TPM2B_SENSITIVE_CREATE sensitive;	/* empty auth, no data */
	static const TPM2B_DATA outside;
	static const TPML_PCR_SELECTION creation_pcrs;
	TSS2_RC rc;

	rc = Esys_CreatePrimary(tpm->esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sensitive, tmpl, &outside, &creation_pcrs,
				out, out_pub, NULL, NULL, NULL);
	if (!rc)
		return 0;
	if ((rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HIERARCHY ||
	    (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_BAD_AUTH ||
	    (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_AUTH_FAIL)
		fprintf(stderr, "katls: the %s hierarchy must be enabled and have an empty "
			"authorization value\n", hierarchy == ESYS_TR_RH_ENDORSEMENT ?
			"endorsement" : "owner");
	return tss_err("Esys_CreatePrimary", rc);
}

static int create_ak(struct katls_tpm *tpm, uint32_t handle, struct katls_buf *pub)
{
	ESYS_TR obj = ESYS_TR_NONE, persisted = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret;

	ret = create_primary(tpm, ESYS_TR_RH_ENDORSEMENT, &ak_template, &obj, NULL);
	if (ret)
		return ret;
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
	if (!tpm->esys)
		reconnect(tpm);		/* the last one failed */
	if (!tpm->esys)
		return -EIO;
	ret = open_handle(tpm, handle, &ak);
	if (!ret) {
		for (int i = 0; i < QUOTE_TRIES; i++) {
			ret = quote_once(tpm, ak, &qd, pcr_mask, out_attest, out_sig, out_pcrs);
			if (ret != -EAGAIN)
				break;
		}
		Esys_TR_Close(tpm->esys, &ak);
	}
	if (ret == -EAGAIN)
		fprintf(stderr, "katls: Esys_Quote: PCRs changed during %d attempts\n",
			QUOTE_TRIES);
	else if (ret)
		reconnect(tpm);		/* this quote failed; the next one may not */
	return ret;
}

/* ---- hierarchy of a primary ------------------------------------------------------- */

/* Is @qn the qualified Name of a primary of @hierarchy whose Name is @name? */
static bool qualified_by(const TPM2B_NAME *qn, const TPM2B_NAME *name, uint32_t hierarchy)
{
	uint8_t want[KATLS_TPM_NAME_MAX];
	size_t n = 0;

	return !katls_enroll_primary_qualified_name(hierarchy, name->name, name->size, want, &n) &&
	       qn->size == n && !memcmp(qn->name, want, n);
}

int katls_tpm_object_hierarchy(struct katls_tpm *tpm, uint32_t handle,
			       enum katls_tpm_hierarchy *out)
{
	TPM2B_NAME *name = NULL, *qn = NULL;
	ESYS_TR tr;
	TSS2_RC rc;
	int ret;

	*out = KATLS_TPM_HIERARCHY_OTHER;
	if (handle >> 24 != TPM2_HT_PERSISTENT)
		return -EINVAL;
	ret = open_handle(tpm, handle, &tr);
	if (ret)
		return ret;
	rc = Esys_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
			     &name, &qn);
	Esys_TR_Close(tpm->esys, &tr);
	if (rc)
		return tss_err("Esys_ReadPublic", rc);
	if (qualified_by(qn, name, TPM2_RH_OWNER))
		*out = KATLS_TPM_HIERARCHY_OWNER;
	else if (qualified_by(qn, name, TPM2_RH_ENDORSEMENT))
		*out = KATLS_TPM_HIERARCHY_ENDORSEMENT;
	else if (qualified_by(qn, name, TPM2_RH_PLATFORM))
		*out = KATLS_TPM_HIERARCHY_PLATFORM;
	Esys_Free(name);
	Esys_Free(qn);
	return 0;
}

/* ---- EK certificate ------------------------------------------------------------------ */

#define EK_CERT_MAX		4096	/* larger than any EK certificate seen */
#define NV_CHUNK_DEFAULT	512
#define EK_PERSISTENT_FIRST	0x81010000u
#define EK_PERSISTENT_LAST	0x8101ffffu

/* Low range first (RSA 2048, ECC P-256), then the high range of profile 2.x. */
static const struct {
	uint32_t index;
	bool rsa;
} ek_indices[] = {
	{ KATLS_EK_NV_RSA2048, true }, { KATLS_EK_NV_ECC_P256, false },
	{ 0x01c00012u, true },	/* RSA 2048 */
	{ 0x01c00014u, false },	/* ECC NIST P-256 */
	{ 0x01c00016u, false },	/* ECC NIST P-384 */
	{ 0x01c00018u, false },	/* ECC NIST P-521 */
	{ 0x01c0001cu, true },	/* RSA 3072 */
	{ 0x01c0001eu, true },	/* RSA 4096 */
};

static int nv_buffer_max(struct katls_tpm *tpm)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	int n = NV_CHUNK_DEFAULT;

	if (Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, &more, &cap))
		return n;
	if (cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX &&
	    cap->data.tpmProperties.tpmProperty[0].value >= 64)
		n = (int)cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	return n > 1024 ? 1024 : n;
}

/* The whole contents of NV index @index, read with its own or the owner's auth. */
static int nv_read(struct katls_tpm *tpm, uint32_t index, struct katls_buf *out)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	ESYS_TR tr, auth;
	uint16_t size, chunk = (uint16_t)nv_buffer_max(tpm);
	TSS2_RC rc;
	int ret = 0;

	rc = Esys_TR_FromTPMPublic(tpm->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &tr);
	if (rc)
		return tss_err("Esys_TR_FromTPMPublic", rc);
	rc = Esys_NV_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
				NULL);
	if (rc) {
		Esys_TR_Close(tpm->esys, &tr);
		return tss_err("Esys_NV_ReadPublic", rc);
	}
	size = pub->nvPublic.dataSize;
	auth = pub->nvPublic.attributes & TPMA_NV_AUTHREAD ? tr :
	       pub->nvPublic.attributes & TPMA_NV_OWNERREAD ? ESYS_TR_RH_OWNER : ESYS_TR_NONE;
	Esys_Free(pub);
	if (auth == ESYS_TR_NONE || size > EK_CERT_MAX) {
		fprintf(stderr, "katls: NV index 0x%08x: %s\n", index, auth == ESYS_TR_NONE ?
			"readable neither with its own nor with owner authorization" :
			"larger than any EK certificate");
		ret = -EPERM;
	}
	out->len = 0;
	for (uint16_t off = 0; !ret && off < size;) {
		TPM2B_MAX_NV_BUFFER *data = NULL;
		uint16_t n = size - off < chunk ? size - off : chunk;

		rc = Esys_NV_Read(tpm->esys, auth, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  ESYS_TR_NONE, n, off, &data);
		if (rc) {
			ret = tss_err("Esys_NV_Read", rc);
			break;
		}
		ret = data->size == n ? katls_put_bytes(out, data->buffer, n) : -EPROTO;
		Esys_Free(data);
		off += n;
	}
	Esys_TR_Close(tpm->esys, &tr);
	return ret;
}

/*
 * Trims @raw to the DER certificate it starts with.  Some TPMs pad the NV
 * index after the certificate: only zero bytes may follow it.
 */
static int der_certificate(struct katls_buf *raw, uint32_t index, EVP_PKEY **out_key)
{
	const unsigned char *p = raw->data;
	X509 *x = d2i_X509(NULL, &p, (long)raw->len);
	size_t used = x ? (size_t)(p - raw->data) : 0;
	int ret = x ? 0 : -EBADMSG;

	ERR_clear_error();
	for (size_t i = used; !ret && i < raw->len; i++)
		if (raw->data[i])
			ret = -EBADMSG;
	if (!ret && !(*out_key = X509_get_pubkey(x)))
		ret = -EBADMSG;
	if (ret)
		fprintf(stderr, "katls: NV index 0x%08x does not hold a DER X.509 certificate\n",
			index);
	else
		raw->len = used;
	X509_free(x);
	return ret;
}

/* The NV index of the EK certificate @which selects, or -ENOENT. */
static int ek_cert_index(struct katls_tpm *tpm, uint32_t which, uint32_t *index)
{
	int ret;

	if (which > KATLS_EK_ECC) {
		ret = handle_present(tpm, which);
		if (ret > 0)
			*index = which;
		return ret > 0 ? 0 : ret ? ret : -ENOENT;
	}
	for (size_t i = 0; i < sizeof(ek_indices) / sizeof(ek_indices[0]); i++) {
		if ((which == KATLS_EK_RSA && !ek_indices[i].rsa) ||
		    (which == KATLS_EK_ECC && ek_indices[i].rsa))
			continue;
		ret = handle_present(tpm, ek_indices[i].index);
		if (ret < 0)
			return ret;
		if (ret) {
			*index = ek_indices[i].index;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- the EK key ----------------------------------------------------------------------- */

/* 1 if @pub is an EK whose key is @cert_key (and copies it to @out), else 0. */
static int ek_matches(const TPMT_PUBLIC *pub, EVP_PKEY *cert_key, struct katls_buf *out)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	struct katls_ek_public ek;
	EVP_PKEY *pk = NULL;
	size_t off = 0;
	int eq;

	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) ||
	    katls_ek_public_parse(buf, off, &ek, NULL, 0) ||
	    katls_quote_public_pkey(&ek.pub, &pk))
		return 0;
	eq = EVP_PKEY_eq(pk, cert_key) == 1;
	EVP_PKEY_free(pk);
	ERR_clear_error();
	if (!eq)
		return 0;
	out->len = 0;
	return katls_put_bytes(out, buf, off) ? -ENOMEM : 1;
}

/* A persistent EK in the endorsement-key range whose key is @cert_key. */
static int ek_persistent(struct katls_tpm *tpm, EVP_PKEY *cert_key, struct katls_tpm_ek *ek,
			 ESYS_TR *out)
{
	uint32_t next = EK_PERSISTENT_FIRST;
	TPMI_YES_NO more = TPM2_YES;
	int ret = 0;

	while (more && !ret) {
		TPMS_CAPABILITY_DATA *cap = NULL;
		TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE,
						ESYS_TR_NONE, TPM2_CAP_HANDLES, next, 32, &more,
						&cap);

		if (rc)
			return tss_err("Esys_GetCapability", rc);
		for (uint32_t i = 0; !ret && i < cap->data.handles.count; i++) {
			uint32_t h = cap->data.handles.handle[i];
			TPM2B_PUBLIC *pub = NULL;
			ESYS_TR tr;

			next = h + 1;
			if (h > EK_PERSISTENT_LAST) {
				more = TPM2_NO;
				break;
			}
			if (Esys_TR_FromTPMPublic(tpm->esys, h, ESYS_TR_NONE, ESYS_TR_NONE,
						  ESYS_TR_NONE, &tr))
				continue;
			if (!Esys_ReadPublic(tpm->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
					     ESYS_TR_NONE, &pub, NULL, NULL))
				ret = ek_matches(&pub->publicArea, cert_key, &ek->public);
			Esys_Free(pub);
			if (ret == 1) {
				ek->handle = h;
				*out = tr;
			} else {
				Esys_TR_Close(tpm->esys, &tr);
			}
		}
		if (!cap->data.handles.count)
			more = TPM2_NO;
		Esys_Free(cap);
	}
	return ret;
}

/* EK Credential Profile templates L-1 and L-2: PolicySecret(TPM_RH_ENDORSEMENT). */
#define EK_POLICY_A_SHA256 {						\
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,	\
	0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,	\
	0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa }
#define EK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |		\
		  TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |	\
		  TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

static const TPM2B_PUBLIC ek_template_rsa = {
	.publicArea = {
		.type = TPM2_ALG_RSA,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = EK_ATTRS,
		.authPolicy = { .size = 32, .buffer = EK_POLICY_A_SHA256 },
		.parameters.rsaDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme = { .scheme = TPM2_ALG_NULL },
			.keyBits = 2048,
			.exponent = 0,
		},
		.unique.rsa = { .size = 256 },		/* 256 zero bytes */
	},
};

static const TPM2B_PUBLIC ek_template_ecc = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = EK_ATTRS,
		.authPolicy = { .size = 32, .buffer = EK_POLICY_A_SHA256 },
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme = { .scheme = TPM2_ALG_NULL },
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = { .scheme = TPM2_ALG_NULL },
		},
		.unique.ecc = { .x = { .size = 32 }, .y = { .size = 32 } },
	},
};

/* The EK derived from the low-range template of @index; the caller flushes *out. */
static int ek_derived(struct katls_tpm *tpm, uint32_t index, EVP_PKEY *cert_key,
		      struct katls_tpm_ek *ek, ESYS_TR *out)
{
	const TPM2B_PUBLIC *tmpl = index == KATLS_EK_NV_RSA2048 ? &ek_template_rsa :
				   index == KATLS_EK_NV_ECC_P256 ? &ek_template_ecc : NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR tr = ESYS_TR_NONE;
	int ret;

	if (!tmpl)
		return 0;
	ret = create_primary(tpm, ESYS_TR_RH_ENDORSEMENT, tmpl, &tr, &pub);
	if (ret)
		return ret;
	ret = ek_matches(&pub->publicArea, cert_key, &ek->public);
	Esys_Free(pub);
	if (ret == 1)
		*out = tr;
	else
		Esys_FlushContext(tpm->esys, tr);
	return ret;
}

/* Loads the certificate and finds its key; *tr is the EK (flush if !ek->handle). */
static int ek_open(struct katls_tpm *tpm, uint32_t which, struct katls_tpm_ek *ek, ESYS_TR *tr)
{
	EVP_PKEY *cert_key = NULL;
	int ret;

	memset(ek, 0, sizeof(*ek));
	*tr = ESYS_TR_NONE;
	ret = ek_cert_index(tpm, which, &ek->cert_index);
	if (ret == -ENOENT) {
		if (which > KATLS_EK_ECC)
			fprintf(stderr, "katls: no EK certificate at NV index 0x%08x\n", which);
		else
			fprintf(stderr, "katls: no %sEK certificate in the TPM's NV (indices "
				"0x01c00002, 0x01c0000a, 0x01c00012-0x01c0001e)\n",
				which == KATLS_EK_RSA ? "RSA " : which == KATLS_EK_ECC ? "ECC " : "");
	}
	if (!ret)
		ret = nv_read(tpm, ek->cert_index, &ek->cert);
	if (!ret)
		ret = der_certificate(&ek->cert, ek->cert_index, &cert_key);
	if (!ret)
		ret = ek_persistent(tpm, cert_key, ek, tr);
	if (!ret)
		ret = ek_derived(tpm, ek->cert_index, cert_key, ek, tr);
	if (!ret) {
		fprintf(stderr, "katls: no EK in this TPM has the public key of the certificate "
			"at NV 0x%08x (neither a persistent key in 0x%08x-0x%08x nor the default "
			"template's primary)\n", ek->cert_index, EK_PERSISTENT_FIRST,
			EK_PERSISTENT_LAST);
		ret = -ENOENT;
	}
	EVP_PKEY_free(cert_key);
	return ret < 0 ? ret : 0;
}

static void ek_close(struct katls_tpm *tpm, const struct katls_tpm_ek *ek, ESYS_TR *tr)
{
	if (*tr == ESYS_TR_NONE)
		return;
	if (ek->handle)
		Esys_TR_Close(tpm->esys, tr);
	else
		Esys_FlushContext(tpm->esys, *tr);
	*tr = ESYS_TR_NONE;
}

int katls_tpm_ek_load(struct katls_tpm *tpm, uint32_t which, struct katls_tpm_ek *out)
{
	ESYS_TR tr;
	int ret = ek_open(tpm, which, out, &tr);

	ek_close(tpm, out, &tr);
	return ret;
}

void katls_tpm_ek_cleanup(struct katls_tpm_ek *ek)
{
	if (!ek)
		return;
	katls_buf_cleanup(&ek->cert);
	katls_buf_cleanup(&ek->public);
	ek->cert_index = ek->handle = 0;
}

/* ---- credential activation ------------------------------------------------------------- */

/* A policy session satisfying PolicySecret(TPM_RH_ENDORSEMENT) with empty auth. */
static int ek_policy_session(struct katls_tpm *tpm, uint16_t name_alg, ESYS_TR *out)
{
	static const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	TSS2_RC rc;

	rc = Esys_StartAuthSession(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
				   name_alg, out);
	if (rc)
		return tss_err("Esys_StartAuthSession", rc);
	rc = Esys_PolicySecret(tpm->esys, ESYS_TR_RH_ENDORSEMENT, *out, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout, &ticket);
	Esys_Free(timeout);
	Esys_Free(ticket);
	if (rc) {
		Esys_FlushContext(tpm->esys, *out);
		*out = ESYS_TR_NONE;
		return tss_err("Esys_PolicySecret(TPM_RH_ENDORSEMENT)", rc);
	}
	return 0;
}

/* Does the TPM still run commands (GetRandom is refused in failure mode)? */
static bool tpm_alive(struct katls_tpm *tpm)
{
	TPM2B_DIGEST *r = NULL;
	TSS2_RC rc = Esys_GetRandom(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 1, &r);

	Esys_Free(r);
	return !rc;
}

static int activate_err(struct katls_tpm *tpm, TSS2_RC rc)
{
	TSS2_RC base = rc & TPM2_RC_FMT1 ? rc & (TPM2_RC_FMT1 | 0x3f) : rc & 0xfff;
	int ret = tss_err("Esys_ActivateCredential", rc);

	/*
	 * libtpms (swtpm) answers TPM_RC_FAILURE, not TPM_RC_VALUE, when RSA-OAEP
	 * decryption of the seed fails, and stays operational.  A TPM really in
	 * failure mode refuses the next command too.
	 */
	if (base == TPM2_RC_FAILURE && tpm_alive(tpm)) {
		fprintf(stderr, "katls: (the TPM is not in failure mode: it could not decrypt the "
			"seed with its EK)\n");
		base = TPM2_RC_VALUE;
	}
	switch (base) {
	case TPM2_RC_INTEGRITY:
	case TPM2_RC_VALUE:
	case TPM2_RC_ECC_POINT:
	case TPM2_RC_SIZE:
		fprintf(stderr, "katls: the TPM refuses the credential: it was made for another "
			"AK Name or another EK, or it was altered\n");
		return -EBADMSG;
	case TPM2_RC_POLICY_FAIL:
		fprintf(stderr, "katls: the EK's authPolicy is not PolicySecret(TPM_RH_ENDORSEMENT) "
			"(a template katls does not support)\n");
		return ret;
	default:
		return ret;
	}
}

int katls_tpm_activate_credential(struct katls_tpm *tpm, uint32_t ak_handle, uint32_t which,
				  const struct katls_credential *cred, uint8_t *out,
				  size_t *out_len)
{
	TPM2B_ID_OBJECT blob = { .size = (UINT16)cred->blob_len };
	TPM2B_ENCRYPTED_SECRET secret = { .size = (UINT16)cred->secret_len };
	ESYS_TR ek_tr = ESYS_TR_NONE, ak_tr = ESYS_TR_NONE, session = ESYS_TR_NONE;
	TPM2B_DIGEST *info = NULL;
	struct katls_ek_public ekp;
	struct katls_tpm_ek ek = { 0 };
	TSS2_RC rc;
	int ret;

	if (!cred->blob_len || cred->blob_len > sizeof(blob.credential) ||
	    !cred->secret_len || cred->secret_len > sizeof(secret.secret))
		return -EINVAL;
	memcpy(blob.credential, cred->blob, cred->blob_len);
	memcpy(secret.secret, cred->secret, cred->secret_len);
	/*
	 * EK first: its search opens and closes ESYS_TRs of the persistent
	 * handles around the AK's, and ESYS shares one TR per TPM handle.
	 */
	ret = ek_open(tpm, which, &ek, &ek_tr);
	if (!ret) {
		ret = open_handle(tpm, ak_handle, &ak_tr);
		if (ret == -ENOENT)
			fprintf(stderr, "katls: no AK at handle 0x%08x (run katls provision)\n",
				ak_handle);
	}
	if (!ret)
		ret = katls_ek_public_parse(ek.public.data, ek.public.len, &ekp, NULL, 0);
	/* High-range EKs have userWithAuth and an empty auth value; low-range need the policy. */
	if (!ret && !(ekp.pub.attrs & TPMA_OBJECT_USERWITHAUTH))
		ret = ek_policy_session(tpm, ekp.pub.name_alg, &session);
	if (!ret) {
		rc = Esys_ActivateCredential(tpm->esys, ak_tr, ek_tr, ESYS_TR_PASSWORD,
					     session == ESYS_TR_NONE ? ESYS_TR_PASSWORD : session,
					     ESYS_TR_NONE, &blob, &secret, &info);
		ret = rc ? activate_err(tpm, rc) : 0;
	}
	if (!ret && (!info->size || info->size > KATLS_CRED_DIGEST_MAX))
		ret = -EPROTO;
	if (!ret) {
		memcpy(out, info->buffer, info->size);
		*out_len = info->size;
	}
	if (info) {
		OPENSSL_cleanse(info, sizeof(*info));
		Esys_Free(info);
	}
	if (session != ESYS_TR_NONE)
		Esys_FlushContext(tpm->esys, session);
	if (ak_tr != ESYS_TR_NONE)
		Esys_TR_Close(tpm->esys, &ak_tr);
	ek_close(tpm, &ek, &ek_tr);
	katls_tpm_ek_cleanup(&ek);
	OPENSSL_cleanse(&blob, sizeof(blob));
	OPENSSL_cleanse(&secret, sizeof(secret));
	return ret;
}
