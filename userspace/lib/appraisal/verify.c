// SPDX-License-Identifier: MIT
/*
 * The katls verifier (see verify.h).  Each step is one function that either
 * passes or fills the result's reason and message; katls_verify_evidence()
 * only calls them in DESIGN.md §6 order.  Everything a step needs from the
 * policy was compiled when it was loaded (policy.h): no step opens a file.
 * Parsed certificates, accepted chains and AK keys come from the policy's
 * verify_cache (pure functions of their bytes).  Exporter outputs (binder,
 * nonce) are wiped before return.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_tpm2_types.h>

#include "appraisal/ima.h"
#include "appraisal/ima_cache.h"
#include "appraisal/ima_resume.h"
#include "appraisal/verify.h"
#include "appraisal/verify_cache.h"
#include "evidence/batch_proof.h"
#include "evidence/quote.h"
#include "util/algs.h"
#include "util/spki.h"
#include "wire/cmw.h"
#include "wire/ima_detach.h"

__attribute__((format(printf, 3, 4)))
static int refuse(struct katls_verify_result *out, enum katls_reason reason,
		  const char *fmt, ...)
{
	va_list ap;

	out->reason = reason;
	va_start(ap, fmt);
	vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return reason == KATLS_R_INTERNAL ? -EIO : -EACCES;
}

/* ---- D1: PKI chain and peer name ----------------------------------------- */

static int check_chain(const struct katls_verify_params *p, enum katls_role sender,
		       X509 *leaf, STACK_OF(X509) *chain, struct katls_verify_result *out)
{
	struct katls_verify_cache *cache = p->policy->verify_cache;
	X509_STORE *store = p->policy->trust_store;	/* compiled when loaded */
	int purpose = sender == KATLS_ROLE_SERVER ? X509_PURPOSE_SSL_SERVER :
		      X509_PURPOSE_SSL_CLIENT;
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	int ret = 0, vr;

	if (!store)
		return refuse(out, KATLS_R_POLICY, "policy '%s' has no trust anchors",
			      p->policy->name);
	if (cache && katls_verify_cache_chain_ok(cache, leaf, chain, purpose))
		return 0;	/* this exact chain was accepted, and is still valid */
	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (!untrusted || !ctx) {
		ret = refuse(out, KATLS_R_INTERNAL, "out of memory building the X.509 chain");
		goto out;
	}
	for (int i = 1; chain && i < sk_X509_num(chain); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
			ret = refuse(out, KATLS_R_INTERNAL, "out of memory");
			goto out;
		}
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
		ret = refuse(out, KATLS_R_INTERNAL, "X509_STORE_CTX_init failed");
		goto out;
	}
	X509_STORE_CTX_set_purpose(ctx, purpose);
	if (X509_verify_cert(ctx) != 1) {
		vr = X509_STORE_CTX_get_error(ctx);
		ret = refuse(out, KATLS_R_PKI_CHAIN,
			     "PKI: authenticator certificate '%s' does not chain to a trust anchor "
			     "of policy '%s': %s", out->sum.peer_subject, p->policy->name,
			     X509_verify_cert_error_string(vr));
	} else if (cache) {
		katls_verify_cache_chain_add(cache, leaf, chain, purpose, ctx);
	}
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	return ret;
}

static bool names(X509 *leaf, const char *name)
{
	unsigned char ip[16];

	if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
		return X509_check_ip_asc(leaf, name, 0) == 1;
	return X509_check_host(leaf, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

static int check_name(const struct katls_verify_params *p, X509 *leaf,
		      struct katls_verify_result *out)
{
	const struct katls_policy *pol = p->policy;
	bool ok = false;

	if (p->peer_name && *p->peer_name && !names(leaf, p->peer_name))
		return refuse(out, KATLS_R_PKI_NAME,
			      "PKI: authenticator certificate '%s' does not name '%s'",
			      out->sum.peer_subject, p->peer_name);
	if (!pol->num_peer_names)
		return 0;
	for (size_t i = 0; i < pol->num_peer_names && !ok; i++)
		ok = names(leaf, pol->peer_names[i]);
	if (!ok)
		return refuse(out, KATLS_R_PKI_NAME,
			      "PKI: authenticator certificate '%s' names none of the peer_names "
			      "of policy '%s' (first: %s)", out->sum.peer_subject, pol->name,
			      pol->peer_names[0]);
	return 0;
}

/* ---- D2: AK pins ---------------------------------------------------------- */

static void ak_fingerprint(const uint8_t *spki, size_t len, char out[65])
{
	uint8_t md[32];

	out[0] = '\0';
	if (EVP_Digest(spki, len, md, NULL, katls_md(KATLS_IMA_SHA256), NULL) == 1)
		katls_ima_format_hex(out, 65, md, sizeof(md));
}

/* ---- quote ---------------------------------------------------------------- */

struct appraisal {
	struct katls_evidence ev;
	struct katls_pcrs pcrs;
	struct katls_attest at;		/* the quote, parsed (points into ev.quote) */
	EVP_PKEY *ak;
	uint8_t *ak_spki;		/* its DER SubjectPublicKeyInfo */
	size_t ak_spki_len;
	struct katls_tpm_name ak_name;	/* Name of the ak record's TPMT_PUBLIC */
	uint8_t nonce[KATLS_QUOTE_NONCE_MAX];
	size_t nonce_len;
	bool ima_replayed;		/* ima_in describes a log the quote covers ... */
	struct katls_ima_verify_in ima_in;	/* (the part replayed) */
	struct katls_ima_verify_out ima_res;
	uint64_t ima_covered;		/* ... up to this many entries from entry 0 */
	struct katls_ima_resume resume;	/* incremental IMA (ima_resume.h) */
	bool workload_again;		/* the workload needs the whole log */
};

static int check_aik(const struct katls_exporter *ex, X509 *leaf, struct appraisal *a,
		     struct katls_verify_result *out)
{
	uint8_t h[EVP_MAX_MD_SIZE], *spki;
	unsigned int h_len = 0;
	size_t spki_len;
	int ok;

	/* AIK_pub_hash = H(SPKI_DER(leaf key)) (binder.h), the SPKI as the leaf holds it */
	if (katls_spki_der_x509(leaf, &spki, &spki_len))
		return refuse(out, KATLS_R_INTERNAL, "cannot encode the leaf public key");
	ok = EVP_Digest(spki, spki_len, h, &h_len, ex->md, NULL) == 1;
	OPENSSL_free(spki);
	if (!ok)
		return refuse(out, KATLS_R_INTERNAL, "cannot hash the leaf public key");
	if (a->ev.aik.len != h_len || CRYPTO_memcmp(a->ev.aik.data, h, h_len))
		return refuse(out, KATLS_R_AIK_BINDING,
			      "Evidence is not bound to the authenticator key: aik record differs "
			      "from H(SPKI) of '%s'", out->sum.peer_subject);
	return 0;
}

/*
 * Quote batching (docs/wire.md): the quote covers a batch of sessions and
 * the batch record proves this session's binder under its extraData.  Only
 * a verifier that offered batching in its request accepts one.  On success
 * a->nonce becomes the proven extraData, which check_quote() then expects.
 */
static int check_batch(const struct katls_ea_request *req, const uint8_t *binder,
		       size_t binder_len, struct appraisal *a, struct katls_verify_result *out)
{
	struct katls_batch_proof proof;
	katls_merkle_hash leaf;
	enum katls_reason reason;
	char msg[300];
	int ret;

	if (katls_batch_proof_parse(a->ev.batch.data, a->ev.batch.len, &proof))
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED, "batch record malformed");
	if (!katls_ea_request_offers(req, KATLS_EXT_QUOTE_BATCH))
		return refuse(out, KATLS_R_BATCH_SIZE, "quote covers a batch of %u sessions, but "
			      "our request did not offer quote batching", proof.size);
	if (katls_batch_leaf(binder, binder_len, leaf))
		return refuse(out, KATLS_R_INTERNAL, "cannot compute the batch leaf");
	ret = katls_batch_proof_verify(&proof, leaf, KATLS_BATCH_MAX, a->at.extra,
				       a->at.extra_len, &reason, msg, sizeof(msg));
	if (ret)
		return refuse(out, reason, "quote batch: %s", msg);
	out->sum.batch_size = proof.size;
	out->sum.batch_index = proof.index;
	memcpy(a->nonce, proof.root, sizeof(proof.root));
	a->nonce_len = sizeof(proof.root);
	return 0;
}

static int check_binder(const struct katls_verify_params *p, const struct katls_exporter *ex,
			const struct katls_ea_request *req, X509 *leaf, struct appraisal *a,
			struct katls_verify_result *out)
{
	uint8_t binder[EVP_MAX_MD_SIZE];
	size_t binder_len = sizeof(binder);
	int ret;

	ret = katls_binder_compute(ex, X509_get0_pubkey(leaf), req->crc, req->crc_len,
				   p->binder_label, binder, &binder_len);
	if (!ret)
		ret = katls_quote_nonce(binder, binder_len, a->nonce, &a->nonce_len);
	if (ret) {
		OPENSSL_cleanse(binder, sizeof(binder));
		return refuse(out, KATLS_R_INTERNAL, "cannot compute the binder: %s",
			      strerror(-ret));
	}
	if (katls_quote_attest_parse(a->ev.quote.data, a->ev.quote.len, &a->at))
		ret = refuse(out, KATLS_R_QUOTE_STRUCTURE,
			     "quote is not a well-formed TPMS_ATTEST of type quote");
	else if (a->ev.batch.len)
		ret = check_batch(req, binder, binder_len, a, out);
	else if (a->at.extra_len != a->nonce_len ||
		 CRYPTO_memcmp(a->at.extra, a->nonce, a->nonce_len))
		ret = refuse(out, KATLS_R_BINDER,
			     "quote does not carry this session's binder (Evidence replayed, "
			     "relayed or generated for another request)");
	OPENSSL_cleanse(binder, sizeof(binder));
	return ret;
}

static int pkey_of_public(const uint8_t *in, size_t len, EVP_PKEY **out)
{
	struct katls_tpm_public pub;

	return katls_quote_public_parse(in, len, &pub) ?: katls_quote_public_pkey(&pub, out);
}

/* The AK's public key, built from the ak record (once per distinct record). */
static int ak_pkey(const struct katls_policy *pol, struct appraisal *a)
{
	if (pol->verify_cache)
		return katls_verify_cache_ak(pol->verify_cache, a->ev.ak.data, a->ev.ak.len,
					     pkey_of_public, &a->ak);
	return pkey_of_public(a->ev.ak.data, a->ev.ak.len, &a->ak);
}

/* Is the AK pinned by its PEM public key (ak_pins)?  0 yes, 1 no, else refused. */
static int pem_pinned(const struct katls_policy *pol, struct appraisal *a,
		      struct katls_verify_result *out)
{
	enum katls_reason reason;
	int ret = katls_quote_spki_pinned(a->ak_spki, a->ak_spki_len, pol->ak_pin_spki,
					  pol->num_ak_pins, &reason, NULL, 0);

	if (ret == -EACCES)
		return 1;
	return ret ? refuse(out, KATLS_R_INTERNAL, "cannot compare the AK public key") : 0;
}

/*
 * D2: the AK must be pinned.  An ak_names pin is the TPM Name, a hash of the
 * whole TPMT_PUBLIC: it fixes the attributes (restricted, fixedTPM, sign)
 * the verifier just read from the attester's bytes.  An ak_pins pin fixes the
 * key only; the attributes are then bound to the quote by the qualifiedSigner
 * check of check_quote() alone (docs/policy.md, "AK pins").
 */
static int check_ak(const struct katls_verify_params *p, struct appraisal *a,
		    struct katls_verify_result *out)
{
	const struct katls_policy *pol = p->policy;
	struct katls_tpm_public pub;
	enum katls_reason reason;
	int ret;

	if (katls_quote_public_parse(a->ev.ak.data, a->ev.ak.len, &pub) ||
	    !katls_quote_is_ak(&pub) || ak_pkey(pol, a))
		return refuse(out, KATLS_R_QUOTE_STRUCTURE,
			      "ak record is not a restricted TPM signing key");
	if (katls_quote_public_name(&pub, a->ak_name.name, &a->ak_name.len) ||
	    katls_quote_public_spki(&pub, &a->ak_spki, &a->ak_spki_len))
		return refuse(out, KATLS_R_INTERNAL, "cannot compute the AK's TPM Name or SPKI");
	ak_fingerprint(a->ak_spki, a->ak_spki_len, out->sum.ak_fpr);
	katls_ima_format_hex(out->sum.ak_name, sizeof(out->sum.ak_name), a->ak_name.name,
			     a->ak_name.len);
	/* Enrollment asked for: only an AK proven resident with a certified EK will do. */
	if (pol->ak_enrollment_path) {
		if (!pol->ak_enrollment ||
		    !katls_enroll_store_find_public(pol->ak_enrollment, a->ev.ak.data, a->ev.ak.len))
			return refuse(out, KATLS_R_AK_UNTRUSTED, "AK %s is not enrolled: policy '%s' "
				      "requires enrollment with the EK and %s has no record of it",
				      out->sum.ak_name, pol->name, pol->ak_enrollment_path);
		out->sum.ak_pinned_by = "ak_enrollment";
		return 0;
	}
	if (!pol->num_ak_names && !pol->num_ak_pins)
		return refuse(out, KATLS_R_AK_UNTRUSTED, "AK %s is not pinned: policy '%s' pins "
			      "no AK (ak_names or ak_pins)", out->sum.ak_name, pol->name);
	if (!katls_quote_ak_name_pinned(a->ak_name.name, a->ak_name.len, pol->ak_names,
					pol->num_ak_names, &reason, NULL, 0)) {
		out->sum.ak_pinned_by = "ak_names";
		return 0;
	}
	ret = pol->num_ak_pins ? pem_pinned(pol, a, out) : 1;
	if (!ret)
		out->sum.ak_pinned_by = "ak_pins";
	if (ret != 1)
		return ret;
	return refuse(out, KATLS_R_AK_UNTRUSTED, "AK %s (key sha256:%s) is not pinned by "
		      "policy '%s': neither its Name is in ak_names nor its key in ak_pins",
		      out->sum.ak_name, out->sum.ak_fpr, pol->name);
}

static int check_quote(struct appraisal *a, struct katls_verify_result *out)
{
	struct katls_quote_expect exp = {
		.nonce = a->nonce, .nonce_len = a->nonce_len,
		.pcr_mask = a->pcrs.mask, .pcrs = &a->pcrs,
	};
	enum katls_reason reason = KATLS_R_INTERNAL;
	char msg[400] = "";

	/*
	 * The signature, then the signer: a genuine TPM writes the signing key's
	 * qualified name into every quote, so an ak record whose TPMT_PUBLIC is
	 * not the signing key's (other attributes or parameters for the same
	 * public key) does not match it.
	 */
	if (!katls_quote_verify(a->ev.quote.data, a->ev.quote.len, a->ev.quote_sig.data,
				a->ev.quote_sig.len, a->ak, &exp, &reason, msg, sizeof(msg)) &&
	    !katls_quote_check_signer(&a->at, a->ak_name.name, a->ak_name.len, NULL, 0,
				      &reason, msg, sizeof(msg)))
		return 0;
	if (reason == KATLS_R_OK)
		reason = KATLS_R_INTERNAL;
	return refuse(out, reason, "TPM quote: %s", *msg ? msg : katls_reason_name(reason));
}

static int check_pcr_refs(const struct katls_policy *pol, struct appraisal *a,
			  struct katls_verify_result *out)
{
	uint32_t want = pol->pcr_mask[KATLS_IMA_SHA256];
	char hex[2 * 32 + 1];

	for (unsigned int b = 0; b < KATLS_IMA_NUM_HASHES; b++)
		if (b != KATLS_IMA_SHA256 && pol->pcr_mask[b])
			return refuse(out, KATLS_R_PCR_VALUE, "policy '%s' has %s reference PCRs; "
				      "Evidence quotes the sha256 bank only", pol->name,
				      katls_ima_hash_name(b));
	for (unsigned int i = 0; i < KATLS_PCR_COUNT; i++) {
		if (!(want & (1u << i)))
			continue;
		if (!(a->pcrs.mask & (1u << i)))
			return refuse(out, KATLS_R_PCR_VALUE, "PCR %u (sha256) is not quoted", i);
		if (memcmp(a->pcrs.digest[i], pol->pcrs[KATLS_IMA_SHA256][i], 32))
			return refuse(out, KATLS_R_PCR_VALUE,
				      "PCR %u (sha256) is %s, policy expects another value", i,
				      katls_ima_format_hex(hex, sizeof(hex), a->pcrs.digest[i], 32));
	}
	return 0;
}

/* ---- IMA, kernel, workload ------------------------------------------------ */

#define BOOT_PCRS	0x3ffu		/* PCRs 0-9: what boot_aggregate covers */
#define IMA_PCRS	(BOOT_PCRS | 1u << KATLS_IMA_PCR)

/* The IMA log cannot be decided from the cache: ask for the whole log. */
__attribute__((format(printf, 4, 5)))
static int again(const struct katls_policy *pol, struct appraisal *a,
		 struct katls_verify_result *out, const char *fmt, ...)
{
	char msg[sizeof(out->msg)];
	va_list ap;

	if (pol->ima_cache)
		katls_ima_cache_drop(pol->ima_cache, a->ak_name.name, a->ak_name.len);
	out->ima_retry_full = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return refuse(out, KATLS_R_IMA_REPLAY, "%s", msg);
}

/* The IMA log as sent: its records, their digest size, the quote, the policy. */
static int ima_input(const struct katls_policy *pol, struct appraisal *a,
		     struct katls_verify_result *out)
{
	struct katls_ima_verify_in *in = &a->ima_in;
	int ret;

	memset(in, 0, sizeof(*in));
	in->log = a->ev.ima.data;
	in->log_len = a->ev.ima.len;
	/*
	 * The Evidence does not say which securityfs file (which D) the log was
	 * copied from; a wrong guess cannot pass, since replay recomputes every
	 * template digest and must reach the quoted PCR 10.  An empty log has
	 * no boot_aggregate and is refused by katls_ima_verify() (a tail may be
	 * empty: no entry since the prefix).
	 */
	ret = a->ev.ima.len ? katls_ima_detect_digest_size(a->ev.ima.data, a->ev.ima.len) : 32;
	if (ret < 0)
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED,
			      "the IMA log's first record does not parse");
	in->digest_size = (size_t)ret;
	in->bank = KATLS_IMA_SHA256;
	in->pcr_index = KATLS_IMA_PCR;
	in->quoted_pcr = a->pcrs.digest[KATLS_IMA_PCR];
	in->policy = pol->ima.runtime_policy;
	in->flags = pol->ima.allow_violations ? KATLS_IMA_ALLOW_VIOLATIONS : 0;
	return 0;
}

/*
 * With an "ima" section the log is tied to the quote at both ends: entry 0,
 * boot_aggregate, must be the hash of the quoted PCRs 0-9 (the measured
 * boot), and the replay must reach the quoted PCR 10.  The quote must cover
 * all eleven; the pcrs record carries exactly the quoted values (checked by
 * katls_quote_verify()).  Nothing the attester leaves out skips a check.
 * Incremental IMA (ima_resume.h) replays only what the verifier has not
 * verified before, from a prefix it holds for this AK: entry 0 is then
 * the prefix's, still checked against the quoted PCRs 0-9.
 */
static int check_ima(const struct katls_verify_params *p, struct appraisal *a,
		     struct katls_verify_result *out)
{
	const struct katls_policy *pol = p->policy;
	uint8_t boot[10 * KATLS_PCR_DIGEST_LEN], agg[KATLS_PCR_DIGEST_LEN];
	struct katls_ima_verify_out *res = &a->ima_res;
	struct katls_ima_verify_in *in = &a->ima_in;
	char why[sizeof(out->msg)];
	int ret;

	if (!pol->ima.present)
		return 0;
	if (!a->ev.has_ima)
		return pol->ima.required ?
		       refuse(out, KATLS_R_IMA_REPLAY, "Evidence carries no IMA log; policy '%s' "
			      "requires one", pol->name) : 0;
	if ((a->pcrs.mask & IMA_PCRS) != IMA_PCRS)
		return refuse(out, KATLS_R_IMA_REPLAY, "IMA: the quote covers sha256 PCRs 0x%06x, "
			      "not all of PCRs 0-9 (the boot_aggregate) and %u (the log)",
			      a->pcrs.mask, KATLS_IMA_PCR);
	ret = ima_input(pol, a, out);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < 10; i++)
		memcpy(boot + i * KATLS_PCR_DIGEST_LEN, a->pcrs.digest[i], KATLS_PCR_DIGEST_LEN);
	if (katls_ima_boot_aggregate(KATLS_IMA_SHA256, boot, 10, agg))
		return refuse(out, KATLS_R_INTERNAL, "cannot hash the quoted PCRs 0-9");
	ret = katls_ima_resume_plan(&a->resume, in, a->ev.ima_start, p->ima_prefix,
				    pol->ima_cache, &a->ak_name, agg, why, sizeof(why));
	if (ret == KATLS_IMA_RESUME_AGAIN)
		return again(pol, a, out, "%s", why);
	if (ret)
		return refuse(out, KATLS_R_IMA_REPLAY, "%s", why);
	ret = katls_ima_verify(in, res);
	out->sum.has_ima = true;
	out->sum.ima_records = (uint32_t)(in->start_index + res->num_records);
	out->sum.ima_covered = (uint32_t)(in->start_index + res->num_covered);
	if (!ret) {
		a->ima_replayed = true;
		a->ima_covered = in->start_index + res->num_covered;
		return 0;
	}
	/* a tail that does not extend the prefix: a reboot, or a lie; the whole log decides */
	if (a->resume.kind == KATLS_IMA_TAIL && res->reason == KATLS_R_IMA_REPLAY)
		return again(pol, a, out, "IMA: the %u entries from entry %llu do not extend the "
			     "verified prefix to the quoted PCR 10: %s", res->num_records,
			     (unsigned long long)in->start_index, res->msg);
	if (ret == -EACCES || ret == -EBADMSG || ret == -EOPNOTSUPP)
		return refuse(out, res->reason ? res->reason : KATLS_R_EVIDENCE_MALFORMED,
			      "%s", res->msg);
	return refuse(out, KATLS_R_INTERNAL, "IMA verification failed: %s", res->msg);
}

static int check_kernel(const struct katls_policy *pol, struct appraisal *a,
			struct katls_verify_result *out)
{
	struct katls_cmw_kernel k;

	if (!a->ev.kernel.len) {
		if (pol->kernel.present)
			return refuse(out, KATLS_R_KERNEL_STATE, "Evidence carries no kernel state "
				      "(katls.ko not loaded on the attester); policy '%s' has kernel "
				      "rules", pol->name);
		return 0;
	}
	if (katls_cmw_kernel_decode(a->ev.kernel.data, a->ev.kernel.len, &k))
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED, "kernel record malformed");
	out->sum.has_kernel = true;
	snprintf(out->sum.kernel_release, sizeof(out->sum.kernel_release), "%s", k.release);
	if (!pol->kernel.present)
		return 0;
	if (k.taint & ~pol->kernel.allow_taint_mask)
		return refuse(out, KATLS_R_KERNEL_STATE, "kernel %s is tainted (0x%llx, allowed "
			      "0x%llx)", k.release, (unsigned long long)k.taint,
			      (unsigned long long)pol->kernel.allow_taint_mask);
	if (k.lockdown < pol->kernel.min_lockdown)
		return refuse(out, KATLS_R_KERNEL_STATE, "kernel lockdown level %u is below the "
			      "policy's minimum %u", k.lockdown, pol->kernel.min_lockdown);
	if (pol->kernel.require_tpm && !k.tpm)
		return refuse(out, KATLS_R_KERNEL_STATE, "kernel reports no TPM");
	return 0;
}

/*
 * The workload record is the attester's claim.  Its exe path and digest are
 * verified only when the replayed (quoted) IMA log measures that path with
 * that digest; an unknown (all-zero) digest is never verified.  pid, uid
 * and cgroup cannot be checked against anything the TPM covers: advisory.
 * Return: true if verified, else false with the reason in @why.
 */
static bool workload_in_ima(struct appraisal *a, const struct katls_cmw_workload *w,
			    uint32_t *index, char *why, size_t why_len)
{
	int alg = katls_ima_hash_from_kernel_algo(w->exe_digest_alg), ret;

	if (katls_ima_digest_is_zero(w->exe_digest, w->exe_digest_len)) {
		snprintf(why, why_len, "its exe digest is unknown (all zero)");
		return false;
	}
	if (alg < 0 || katls_ima_hash_size((unsigned int)alg) != w->exe_digest_len) {
		snprintf(why, why_len, "its exe digest algorithm %u is not sha1/sha256/sha384/"
			 "sha512 of the right size", w->exe_digest_alg);
		return false;
	}
	if (w->exe_path[0] != '/') {
		snprintf(why, why_len, "its exe path is not absolute");
		return false;
	}
	if (!a->ima_replayed) {
		snprintf(why, why_len, "no IMA log was replayed to the quote (policy without "
			 "\"ima\", or Evidence without a log)");
		return false;
	}
	ret = katls_ima_resume_workload(&a->resume, a->ima_covered, w->exe_path,
					(unsigned int)alg, w->exe_digest, w->exe_digest_len, index);
	if (!ret)
		return true;
	if (ret == KATLS_IMA_RESUME_AGAIN)
		snprintf(why, why_len, "not measured in the IMA entries from %llu, and this "
			 "verifier's prefix of the log was never searched for it",
			 (unsigned long long)a->resume.whole.start_index);
	else
		snprintf(why, why_len, ret == -ENOENT ?
			 "no IMA measurement of that path with that digest among the %llu entries "
			 "the quote covers" : "the IMA log could not be searched (%llu entries "
			 "covered)", (unsigned long long)a->ima_covered);
	a->workload_again = ret == KATLS_IMA_RESUME_AGAIN;
	return false;
}

static bool digest_allowed(const struct katls_policy *pol, const struct katls_cmw_workload *w)
{
	int alg = katls_ima_hash_from_kernel_algo(w->exe_digest_alg);

	for (size_t i = 0; i < pol->workload.num_exe_digests; i++) {
		const struct katls_policy_digest *d = &pol->workload.exe_digests[i];

		if (alg >= 0 && d->alg == (unsigned int)alg && d->len == w->exe_digest_len &&
		    !memcmp(d->digest, w->exe_digest, d->len))
			return true;
	}
	return false;
}

static bool path_allowed(const struct katls_policy *pol, const struct katls_cmw_workload *w)
{
	for (size_t i = 0; i < pol->workload.num_exe_paths; i++)
		if (!strcmp(pol->workload.exe_paths[i], w->exe_path))
			return true;
	return false;
}

static void workload_summary(struct katls_verify_summary *sum, const struct katls_cmw_workload *w)
{
	sum->has_workload = true;
	snprintf(sum->workload_exe, sizeof(sum->workload_exe), "%s", w->exe_path);
	if (w->exe_digest_len <= sizeof(sum->workload_digest)) {
		memcpy(sum->workload_digest, w->exe_digest, w->exe_digest_len);
		sum->workload_digest_len = w->exe_digest_len;
	}
	sum->workload_digest_alg = w->exe_digest_alg;
	sum->workload_pid = w->pid;
	sum->workload_uid = w->uid;
	sum->workload_cgroup_id = w->cgroup_id;
}

static int check_workload(const struct katls_policy *pol, struct appraisal *a,
			  struct katls_verify_result *out)
{
	bool rules = pol->workload.num_exe_paths || pol->workload.num_exe_digests;
	struct katls_verify_summary *sum = &out->sum;
	struct katls_cmw_workload *w;
	int ret = 0;

	if (!a->ev.workload.len)
		return rules ? refuse(out, KATLS_R_WORKLOAD, "Evidence names no workload; policy "
				      "'%s' has workload rules", pol->name) : 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return refuse(out, KATLS_R_INTERNAL, "out of memory");
	if (katls_cmw_workload_decode(a->ev.workload.data, a->ev.workload.len, w)) {
		ret = refuse(out, KATLS_R_EVIDENCE_MALFORMED, "workload record malformed");
		goto out;
	}
	workload_summary(sum, w);
	sum->workload_verified = workload_in_ima(a, w, &sum->workload_ima_index,
						 sum->workload_unverified,
						 sizeof(sum->workload_unverified));
	if (a->workload_again) {
		ret = again(pol, a, out, "workload %s: %s", w->exe_path,
			    sum->workload_unverified);
		goto out;
	}
	if (!rules)
		goto out;
	if (!sum->workload_verified)
		ret = refuse(out, KATLS_R_WORKLOAD, "workload %s is unverified: %s; policy '%s' "
			     "has workload rules", w->exe_path, sum->workload_unverified, pol->name);
	else if (pol->workload.num_exe_paths && !path_allowed(pol, w))
		ret = refuse(out, KATLS_R_WORKLOAD, "workload %s is not an allowed exe path",
			     w->exe_path);
	else if (pol->workload.num_exe_digests && !digest_allowed(pol, w))
		ret = refuse(out, KATLS_R_WORKLOAD, "workload %s: exe digest not allowed",
			     w->exe_path);
out:
	free(w);
	return ret;
}

/* Accepted: the covered IMA prefix is this verifier's to resume from next time. */
static void remember_ima(const struct katls_verify_params *p, struct appraisal *a)
{
	uint8_t tag[32];
	bool has_tag = katls_ima_cache_tag(p->peer_id, p->peer_id_len, p->peer_name, tag);

	if (a->ima_replayed && p->policy->ima_cache)
		katls_ima_resume_commit(&a->resume, p->policy->ima_cache, &a->ak_name,
					has_tag ? tag : NULL, &a->ima_in, &a->ima_res);
}

/* ---- coordinators --------------------------------------------------------- */

/*
 * The IMA log sent detached (ima_detach.h), @log: NULL when no IMA frame
 * came.  Only an answer to a request that offered it, and only exactly the
 * log the Evidence's "ima-digest" names.
 */
static int attach_ima(const struct katls_ea_request *req, const struct katls_buf *log,
		      struct appraisal *a, struct katls_verify_result *out)
{
	int ret;

	if (!a->ev.ima_digest.len)
		return log ? refuse(out, KATLS_R_EVIDENCE_MALFORMED, "IMA log frames came with "
				    "Evidence that names no detached log") : 0;
	if (!katls_ea_request_offers(req, KATLS_EXT_IMA_DETACHED))
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED, "Evidence names a detached IMA "
			      "log, which the request did not offer");
	ret = katls_ima_attach(&a->ev, log ? log->data : NULL, log ? log->len : 0);
	if (ret == -EBADMSG)
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED, "the detached IMA log (%zu bytes) "
			      "is not the one the Evidence's ima-digest names",
			      log ? log->len : 0);
	return ret ? refuse(out, KATLS_R_INTERNAL, "cannot attach the IMA log: %s",
			    strerror(-ret)) : 0;
}

static int appraise(const struct katls_verify_params *p, const struct katls_exporter *ex,
		    enum katls_role sender, const struct katls_ea_request *req, X509 *leaf,
		    STACK_OF(X509) *chain, const uint8_t *cmw, size_t cmw_len,
		    const struct katls_buf *log, struct katls_verify_result *out)
{
	struct appraisal a;
	int ret;

	memset(&a, 0, sizeof(a));
	if (!p || !p->policy || !ex || !req || !leaf)
		return refuse(out, KATLS_R_INTERNAL, "katls_verify_evidence: bad arguments");
	out->sum.max_age_s = p->policy->max_age_s;
	X509_NAME_oneline(X509_get_subject_name(leaf), out->sum.peer_subject,
			  sizeof(out->sum.peer_subject));
	X509_digest(leaf, katls_md(KATLS_IMA_SHA256), out->sum.peer_sha256, NULL);
	ret = check_chain(p, sender, leaf, chain, out);
	if (!ret)
		ret = check_name(p, leaf, out);
	if (ret)
		return ret;
	if (!cmw)
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED,
			      "authenticator carries no cmw_attestation Evidence");
	if (katls_cmw_decode(cmw, cmw_len, &a.ev))
		return refuse(out, KATLS_R_EVIDENCE_MALFORMED,
			      "Evidence is not a well-formed katls/1 CMW collection");
	ret = attach_ima(req, log, &a, out);
	if (!ret && katls_cmw_pcrs_decode(a.ev.pcrs.data, a.ev.pcrs.len, &a.pcrs))
		ret = refuse(out, KATLS_R_EVIDENCE_MALFORMED, "pcrs record malformed");
	if (!ret && (a.pcrs.mask & (1u << KATLS_IMA_PCR))) {
		out->sum.has_pcr10 = true;
		memcpy(out->sum.pcr10, a.pcrs.digest[KATLS_IMA_PCR], 32);
	}
	if (!ret)
		ret = check_aik(ex, leaf, &a, out);
	if (!ret)
		ret = check_binder(p, ex, req, leaf, &a, out);
	if (!ret)
		ret = check_ak(p, &a, out);
	if (!ret)
		ret = check_quote(&a, out);
	if (!ret)
		ret = check_pcr_refs(p->policy, &a, out);
	if (!ret)
		ret = check_ima(p, &a, out);
	if (!ret)
		ret = check_kernel(p->policy, &a, out);
	if (!ret)
		ret = check_workload(p->policy, &a, out);
	if (!ret) {
		out->reason = KATLS_R_OK;
		snprintf(out->msg, sizeof(out->msg), "accepted '%s' under policy '%s'",
			 out->sum.peer_subject, p->policy->name);
		remember_ima(p, &a);
	}
	katls_ima_resume_cleanup(&a.resume);
	OPENSSL_cleanse(a.nonce, sizeof(a.nonce));
	EVP_PKEY_free(a.ak);
	OPENSSL_free(a.ak_spki);
	katls_cmw_cleanup(&a.ev);
	return ret;
}

int katls_verify_evidence(const struct katls_verify_params *p,
			  const struct katls_exporter *ex, enum katls_role sender,
			  const struct katls_ea_request *req, X509 *leaf,
			  STACK_OF(X509) *chain, const uint8_t *cmw, size_t cmw_len,
			  struct katls_verify_result *out)
{
	return appraise(p, ex, sender, req, leaf, chain, cmw, cmw_len, NULL, out);
}

static X509 *cached_x509(void *cache, const uint8_t *der, size_t len)
{
	return katls_verify_cache_x509(cache, der, len);
}

int katls_verify_authenticator(const struct katls_verify_params *p,
			       const struct katls_exporter *ex, enum katls_role sender,
			       const struct katls_ea_request *req,
			       struct katls_ea_crc_set *used,
			       const uint8_t *auth, size_t auth_len,
			       struct katls_verify_result *out)
{
	struct katls_ea_x509_parser parser = { NULL, NULL };
	struct katls_buf log = KATLS_BUF_INIT;
	struct katls_ea_result ea;
	enum katls_reason reason;
	size_t frames, off;
	int ret;

	memset(out, 0, sizeof(*out));
	if (p && p->policy && p->policy->verify_cache) {
		parser.parse = cached_x509;
		parser.arg = p->policy->verify_cache;
	}
	ret = katls_ima_split(auth, auth_len, &log, &frames, &off);
	if (!ret && frames && !katls_ea_request_offers(req, KATLS_EXT_IMA_DETACHED))
		ret = refuse(out, KATLS_R_FRAMING, "peer sent IMA log frames, which the request "
			     "did not offer");
	else if (ret)
		ret = refuse(out, ret == -ENOMEM ? KATLS_R_INTERNAL : KATLS_R_FRAMING,
			     "malformed IMA log frames before the authenticator: %s",
			     strerror(-ret));
	if (ret) {
		katls_buf_cleanup(&log);
		return ret;
	}
	ret = katls_ea_authenticator_validate_with(&ea, &reason, ex, sender, req, used,
						   auth + off, auth_len - off,
						   parser.parse ? &parser : NULL);
	if (ret) {
		katls_buf_cleanup(&log);
		if (reason == KATLS_R_OK)
			reason = ret == -EBADMSG ? KATLS_R_EA_MALFORMED : KATLS_R_INTERNAL;
		return refuse(out, reason, "%s", reason == KATLS_R_EA_EMPTY ?
			      "peer refused to attest (empty authenticator)" :
			      reason == KATLS_R_EA_MALFORMED ?
			      "authenticator is malformed" :
			      reason == KATLS_R_EA_CRC ?
			      "authenticator answers an unknown or already used request" :
			      reason == KATLS_R_EA_EXTENSION ?
			      "authenticator carries an extension the request did not offer" :
			      reason == KATLS_R_EA_SIGALG ?
			      "authenticator uses a signature scheme not offered or not TLS 1.3" :
			      reason == KATLS_R_EA_SIGNATURE ?
			      "authenticator CertificateVerify does not verify (other TLS "
			      "connection?)" :
			      reason == KATLS_R_EA_FINISHED ?
			      "authenticator Finished does not verify (other TLS connection?)" :
			      "authenticator validation failed");
	}
	out->sum.sigalg = ea.sigalg;
	if (ea.cmw) {
		out->cmw = malloc(ea.cmw_len);
		if (out->cmw) {
			memcpy(out->cmw, ea.cmw, ea.cmw_len);
			out->cmw_len = ea.cmw_len;
		}
	}
	ret = appraise(p, ex, sender, req, ea.leaf, ea.chain, ea.cmw, ea.cmw_len,
		       frames ? &log : NULL, out);
	katls_ea_result_cleanup(&ea);
	katls_buf_cleanup(&log);
	return ret;
}

void katls_verify_result_cleanup(struct katls_verify_result *res)
{
	if (!res)
		return;
	free(res->cmw);
	res->cmw = NULL;
	res->cmw_len = 0;
}
