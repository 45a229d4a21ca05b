// SPDX-License-Identifier: MIT
/*
 * The katls verifier (see verify.h).  Each step is one function that either
 * passes or fills the result's reason and message; katls_verify_evidence()
 * only calls them in DESIGN.md §6 order.  Exporter outputs (binder, nonce)
 * are wiped before return.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_tpm2_types.h>

#include "batch_proof.h"
#include "cmw.h"
#include "evidence.h"
#include "ima.h"
#include "quote.h"
#include "verify.h"

#define AUTH_MAX	(KATLS_CMW_MAX + (1u << 20))

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
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ret = 0, vr;

	if (!untrusted || !store || !ctx) {
		ret = refuse(out, KATLS_R_INTERNAL, "out of memory building the X.509 store");
		goto out;
	}
	if (!p->policy->num_trust_anchors) {
		ret = refuse(out, KATLS_R_POLICY, "policy '%s' has no trust anchors",
			     p->policy->name);
		goto out;
	}
	for (size_t i = 0; i < p->policy->num_trust_anchors; i++)
		if (X509_STORE_load_file(store, p->policy->trust_anchors[i]) != 1) {
			ret = refuse(out, KATLS_R_POLICY, "cannot load trust anchor %s",
				     p->policy->trust_anchors[i]);
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
	X509_STORE_CTX_set_purpose(ctx, sender == KATLS_ROLE_SERVER ?
				   X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(ctx) != 1) {
		vr = X509_STORE_CTX_get_error(ctx);
		ret = refuse(out, KATLS_R_PKI_CHAIN,
			     "PKI: authenticator certificate '%s' does not chain to a trust anchor "
			     "of policy '%s': %s", out->sum.peer_subject, p->policy->name,
			     X509_verify_cert_error_string(vr));
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
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

static int load_pins(const struct katls_policy *pol, struct katls_spki **out, size_t *num,
		     struct katls_verify_result *res)
{
	struct katls_spki *pins = calloc(pol->num_ak_pins + 1, sizeof(*pins));

	*out = pins;
	*num = 0;
	if (!pins)
		return refuse(res, KATLS_R_INTERNAL, "out of memory");
	for (size_t i = 0; i < pol->num_ak_pins; i++) {
		const struct katls_policy_ak *ak = &pol->ak_pins[i];
		BIO *bio = ak->pem ? BIO_new_mem_buf(ak->pem, -1) : BIO_new_file(ak->path, "r");
		EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		unsigned char *der = NULL;
		int len = key ? i2d_PUBKEY(key, &der) : -1;

		EVP_PKEY_free(key);
		BIO_free(bio);
		if (len <= 0)
			return refuse(res, KATLS_R_POLICY, "policy '%s': cannot read AK pin %s",
				      pol->name, ak->path ? ak->path : "(inline PEM)");
		pins[i].der = der;
		pins[i].len = (size_t)len;
		(*num)++;
	}
	return 0;
}

static void free_pins(struct katls_spki *pins, size_t num)
{
	for (size_t i = 0; i < num; i++)
		OPENSSL_free((void *)pins[i].der);
	free(pins);
}

static void ak_fingerprint(EVP_PKEY *ak, char out[65])
{
	unsigned char *der = NULL, md[32];
	int len = i2d_PUBKEY(ak, &der);

	out[0] = '\0';
	if (len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1)
		katls_ima_format_hex(out, 65, md, sizeof(md));
	OPENSSL_free(der);
}

/* ---- quote ---------------------------------------------------------------- */

struct appraisal {
	struct katls_evidence ev;
	struct katls_pcrs pcrs;
	struct katls_attest at;		/* the quote, parsed (points into ev.quote) */
	EVP_PKEY *ak;
	struct katls_tpm_name ak_name;	/* Name of the ak record's TPMT_PUBLIC */
	uint8_t nonce[KATLS_QUOTE_NONCE_MAX];
	size_t nonce_len;
	bool ima_replayed;		/* ima_in describes a log the quote covers ... */
	struct katls_ima_verify_in ima_in;
	uint32_t ima_covered;		/* ... up to this many entries */
};

static int check_aik(const struct katls_exporter *ex, X509 *leaf, struct appraisal *a,
		     struct katls_verify_result *out)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t h_len = sizeof(h);

	if (katls_aik_hash(ex->md, X509_get0_pubkey(leaf), h, &h_len))
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

/* Is the AK pinned by its PEM public key (ak_pins)?  0 yes, 1 no, else refused. */
static int pem_pinned(const struct katls_policy *pol, struct appraisal *a,
		      struct katls_verify_result *out)
{
	struct katls_spki *pins = NULL;
	enum katls_reason reason;
	size_t num = 0;
	int ret;

	ret = load_pins(pol, &pins, &num, out);
	if (!ret) {
		ret = katls_quote_ak_pinned(a->ak, pins, num, &reason, NULL, 0);
		if (ret == -EACCES)
			ret = 1;
		else if (ret)
			ret = refuse(out, KATLS_R_INTERNAL, "cannot encode the AK public key");
	}
	free_pins(pins, num);
	return ret;
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
	    !katls_quote_is_ak(&pub) || katls_quote_public_pkey(&pub, &a->ak))
		return refuse(out, KATLS_R_QUOTE_STRUCTURE,
			      "ak record is not a restricted TPM signing key");
	if (katls_quote_public_name(&pub, a->ak_name.name, &a->ak_name.len))
		return refuse(out, KATLS_R_INTERNAL, "cannot compute the AK's TPM Name");
	ak_fingerprint(a->ak, out->sum.ak_fpr);
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

/*
 * With an "ima" section the log is tied to the quote at both ends: entry 0,
 * boot_aggregate, must be the hash of the quoted PCRs 0-9 (the measured
 * boot), and the replay must reach the quoted PCR 10.  The quote must cover
 * all eleven; the pcrs record carries exactly the quoted values (checked by
 * katls_quote_verify()).  Nothing the attester leaves out skips a check.
 */
static int check_ima(const struct katls_policy *pol, struct appraisal *a,
		     struct katls_verify_result *out)
{
	uint8_t boot[10 * KATLS_PCR_DIGEST_LEN], agg[KATLS_PCR_DIGEST_LEN];
	struct katls_ima_verify_in *in = &a->ima_in;
	struct katls_ima_verify_out res;
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
	if (a->ev.ima_start)
		return refuse(out, KATLS_R_IMA_REPLAY, "IMA log starts at entry %llu; this "
			      "verifier replays whole logs only",
			      (unsigned long long)a->ev.ima_start);
	memset(in, 0, sizeof(*in));
	in->log = a->ev.ima.data;
	in->log_len = a->ev.ima.len;
	/*
	 * The Evidence does not say which securityfs file (which D) the log was
	 * copied from; a wrong guess cannot pass, since replay recomputes every
	 * template digest and must reach the quoted PCR 10.  An empty log has
	 * no boot_aggregate and is refused by katls_ima_verify().
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
	for (unsigned int i = 0; i < 10; i++)
		memcpy(boot + i * KATLS_PCR_DIGEST_LEN, a->pcrs.digest[i], KATLS_PCR_DIGEST_LEN);
	if (katls_ima_boot_aggregate(KATLS_IMA_SHA256, boot, 10, agg))
		return refuse(out, KATLS_R_INTERNAL, "cannot hash the quoted PCRs 0-9");
	in->boot_aggregate = agg;
	in->boot_aggregate_len = sizeof(agg);
	memset(&res, 0, sizeof(res));
	ret = katls_ima_verify(in, &res);
	in->boot_aggregate = NULL;	/* agg is about to go out of scope */
	out->sum.has_ima = true;
	out->sum.ima_records = res.num_records;
	out->sum.ima_covered = res.num_covered;
	if (!ret) {
		a->ima_replayed = true;
		a->ima_covered = res.num_covered;
		return 0;
	}
	if (ret == -EACCES || ret == -EBADMSG || ret == -EOPNOTSUPP)
		return refuse(out, res.reason ? res.reason : KATLS_R_EVIDENCE_MALFORMED,
			      "%s", res.msg);
	return refuse(out, KATLS_R_INTERNAL, "IMA verification failed: %s", res.msg);
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
static bool workload_in_ima(const struct appraisal *a, const struct katls_cmw_workload *w,
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
	ret = katls_ima_find_measurement(&a->ima_in, a->ima_covered, w->exe_path,
					 (unsigned int)alg, w->exe_digest, w->exe_digest_len,
					 index);
	if (!ret)
		return true;
	snprintf(why, why_len, ret == -ENOENT ?
		 "no IMA measurement of that path with that digest among the %u entries the "
		 "quote covers" : "the IMA log could not be searched (%u entries covered)",
		 a->ima_covered);
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

/* ---- coordinators --------------------------------------------------------- */

int katls_verify_evidence(const struct katls_verify_params *p,
			  const struct katls_exporter *ex, enum katls_role sender,
			  const struct katls_ea_request *req, X509 *leaf,
			  STACK_OF(X509) *chain, const uint8_t *cmw, size_t cmw_len,
			  struct katls_verify_result *out)
{
	struct appraisal a;
	int ret;

	memset(&a, 0, sizeof(a));
	if (!p || !p->policy || !ex || !req || !leaf)
		return refuse(out, KATLS_R_INTERNAL, "katls_verify_evidence: bad arguments");
	out->sum.max_age_s = p->policy->max_age_s;
	X509_NAME_oneline(X509_get_subject_name(leaf), out->sum.peer_subject,
			  sizeof(out->sum.peer_subject));
	X509_digest(leaf, EVP_sha256(), out->sum.peer_sha256, NULL);
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
	if (katls_cmw_pcrs_decode(a.ev.pcrs.data, a.ev.pcrs.len, &a.pcrs))
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
		ret = check_ima(p->policy, &a, out);
	if (!ret)
		ret = check_kernel(p->policy, &a, out);
	if (!ret)
		ret = check_workload(p->policy, &a, out);
	if (!ret) {
		out->reason = KATLS_R_OK;
		snprintf(out->msg, sizeof(out->msg), "accepted '%s' under policy '%s'",
			 out->sum.peer_subject, p->policy->name);
	}
	OPENSSL_cleanse(a.nonce, sizeof(a.nonce));
	EVP_PKEY_free(a.ak);
	katls_cmw_cleanup(&a.ev);
	return ret;
}

int katls_verify_authenticator(const struct katls_verify_params *p,
			       const struct katls_exporter *ex, enum katls_role sender,
			       const struct katls_ea_request *req,
			       struct katls_ea_crc_set *used,
			       const uint8_t *auth, size_t auth_len,
			       struct katls_verify_result *out)
{
	struct katls_ea_result ea;
	enum katls_reason reason;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = katls_ea_authenticator_validate(&ea, &reason, ex, sender, req, used, auth,
					      auth_len);
	if (ret) {
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
	ret = katls_verify_evidence(p, ex, sender, req, ea.leaf, ea.chain, ea.cmw, ea.cmw_len,
				    out);
	katls_ea_result_cleanup(&ea);
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

/* ---- saved exchanges (katls verify --dir) --------------------------------- */

static const char *const hc_label[] = {
	[KATLS_ROLE_CLIENT] = "EXPORTER-client authenticator handshake context",
	[KATLS_ROLE_SERVER] = "EXPORTER-server authenticator handshake context",
};
static const char *const fk_label[] = {
	[KATLS_ROLE_CLIENT] = "EXPORTER-client authenticator finished key",
	[KATLS_ROLE_SERVER] = "EXPORTER-server authenticator finished key",
};

static const char saved_readme[] =
	"katls saved attestation exchange (katls serve/connect --save-evidence)\n"
	"\n"
	"request.bin        the authenticator request we sent (RFC 9261, as on the wire)\n"
	"authenticator.bin  the peer's authenticator (Certificate||CertificateVerify||Finished)\n"
	"cmw.cbor           the CMW Evidence from the leaf's cmw_attestation extension\n"
	"peer-ak.unverified.pem\n"
	"                   the attestation key the PEER CLAIMS in its Evidence (public),\n"
	"                   for inspection.  It is unverified: do NOT pin it.  Pinning a\n"
	"                   key a peer sent is trust on first use: it makes whoever answered\n"
	"                   this connection the trusted attester.  Get AK pins (ak_names)\n"
	"                   from 'katls provision' on the attester, or from EK enrollment.\n"
	"meta               suite hash, sender role, expected peer name, binder label\n"
	"session-secrets/   SESSION SECRETS of the TLS connection: exporter outputs the\n"
	"                   verifier used (hc.bin = authenticator handshake context,\n"
	"                   fk.bin = finished MAC key, attestation.bin =\n"
	"                   TLS-Exporter(binder label, crc, 32)).  Anyone holding them can\n"
	"                   forge authenticators for that connection: keep this directory\n"
	"                   private (files are 0600) and delete it when done.\n"
	"\n"
	"'katls verify --dir DIR --policy FILE' re-checks everything except the TLS binding\n"
	"itself, which it takes from the saved session-secrets values.\n";

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	int fd, ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (const uint8_t *p = data; len; ) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return chmod(path, 0700) ? -errno : 0;
}

/* The peer's claimed AK, named so that nobody mistakes it for a trust pin. */
#define SAVED_PEER_AK	"peer-ak.unverified.pem"

static int save_ak(const char *dir, const uint8_t *cmw, size_t cmw_len)
{
	struct katls_evidence ev;
	struct katls_tpm_public pub;
	EVP_PKEY *ak = NULL;
	char *pem = NULL;
	BIO *bio;
	long n;
	int ret = 0;

	memset(&ev, 0, sizeof(ev));
	if (!cmw || katls_cmw_decode(cmw, cmw_len, &ev))
		return 0;	/* nothing to extract: the verdict says why */
	if (!katls_quote_public_parse(ev.ak.data, ev.ak.len, &pub) &&
	    !katls_quote_public_pkey(&pub, &ak) && (bio = BIO_new(BIO_s_mem()))) {
		if (PEM_write_bio_PUBKEY(bio, ak) == 1 && (n = BIO_get_mem_data(bio, &pem)) > 0)
			ret = write_file(dir, SAVED_PEER_AK, pem, (size_t)n);
		BIO_free(bio);
	}
	EVP_PKEY_free(ak);
	katls_cmw_cleanup(&ev);
	return ret;
}

int katls_verify_save(const char *dir, const struct katls_exporter *ex,
		      enum katls_role sender, const struct katls_ea_request *req,
		      const uint8_t *auth, size_t auth_len, const uint8_t *cmw,
		      size_t cmw_len, const char *peer_name, const char *binder_label)
{
	uint8_t hc[EVP_MAX_MD_SIZE], fk[EVP_MAX_MD_SIZE], att[32];
	size_t n = (size_t)EVP_MD_get_size(ex->md);
	char sub[4096], meta[1024];
	int ret;

	if (sender != KATLS_ROLE_CLIENT && sender != KATLS_ROLE_SERVER)
		return -EINVAL;
	if (!binder_label)
		binder_label = KATLS_BINDER_LABEL;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/session-secrets", dir) >= sizeof(sub))
		return -ENAMETOOLONG;
	ret = mkdir_private(dir);
	if (!ret)
		ret = mkdir_private(sub);
	if (!ret)
		ret = katls_exporter_export(ex, hc_label[sender], NULL, 0, hc, n);
	if (!ret)
		ret = katls_exporter_export(ex, fk_label[sender], NULL, 0, fk, n);
	if (!ret)
		ret = katls_exporter_export(ex, binder_label, req->crc, req->crc_len, att,
					    sizeof(att));
	if (!ret)
		ret = write_file(sub, "hc.bin", hc, n);
	if (!ret)
		ret = write_file(sub, "fk.bin", fk, n);
	if (!ret)
		ret = write_file(sub, "attestation.bin", att, sizeof(att));
	OPENSSL_cleanse(hc, sizeof(hc));
	OPENSSL_cleanse(fk, sizeof(fk));
	OPENSSL_cleanse(att, sizeof(att));
	if (!ret)
		ret = write_file(dir, "request.bin", req->raw.data, req->raw.len);
	if (!ret)
		ret = write_file(dir, "authenticator.bin", auth, auth_len);
	if (!ret && cmw)
		ret = write_file(dir, "cmw.cbor", cmw, cmw_len);
	if (!ret)
		ret = save_ak(dir, cmw, cmw_len);
	if (!ret) {
		snprintf(meta, sizeof(meta), "hash %s\nsender %s\npeer-name %s\nbinder-label %s\n",
			 EVP_MD_get0_name(ex->md), sender == KATLS_ROLE_SERVER ? "server" : "client",
			 peer_name && *peer_name ? peer_name : "-", binder_label);
		ret = write_file(dir, "meta", meta, strlen(meta));
	}
	if (!ret)
		ret = write_file(dir, "README", saved_readme, sizeof(saved_readme) - 1);
	return ret;
}

/* An exporter that answers only the three values the live verifier used. */
struct saved_exporter {
	enum katls_role sender;
	const char *binder_label;
	struct katls_buf hc, fk, att;
	const struct katls_ea_request *req;
};

static int saved_export(void *arg, const char *label, const uint8_t *ctx, size_t ctx_len,
			uint8_t *out, size_t out_len)
{
	struct saved_exporter *s = arg;
	const struct katls_buf *b = NULL;

	if (!strcmp(label, hc_label[s->sender]) && !ctx_len)
		b = &s->hc;
	else if (!strcmp(label, fk_label[s->sender]) && !ctx_len)
		b = &s->fk;
	else if (!strcmp(label, s->binder_label) && ctx_len == s->req->crc_len &&
		 !memcmp(ctx, s->req->crc, ctx_len))
		b = &s->att;
	if (!b || b->len != out_len)
		return -ENOENT;
	memcpy(out, b->data, out_len);
	return 0;
}

static int read_in(const char *dir, const char *name, struct katls_buf *out)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return katls_file_read(path, AUTH_MAX, out);
}

static int parse_meta(char *meta, const EVP_MD **md, enum katls_role *sender,
		      char *peer, size_t peer_len, char *label, size_t label_len)
{
	char *save = NULL;

	*md = NULL;
	*sender = 0;
	for (char *l = strtok_r(meta, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(l, ' ');

		if (!v)
			return -EBADMSG;
		*v++ = '\0';
		if (!strcmp(l, "hash"))
			*md = EVP_get_digestbyname(v);
		else if (!strcmp(l, "sender"))
			*sender = !strcmp(v, "server") ? KATLS_ROLE_SERVER :
				  !strcmp(v, "client") ? KATLS_ROLE_CLIENT : 0;
		else if (!strcmp(l, "peer-name"))
			snprintf(peer, peer_len, "%s", strcmp(v, "-") ? v : "");
		else if (!strcmp(l, "binder-label"))
			snprintf(label, label_len, "%s", v);
		else
			return -EBADMSG;
	}
	return *md && *sender && *label ? 0 : -EBADMSG;
}

int katls_verify_dir(const char *dir, const struct katls_verify_params *p,
		     struct katls_verify_result *out)
{
	struct katls_buf meta = KATLS_BUF_INIT, reqb = KATLS_BUF_INIT, auth = KATLS_BUF_INIT;
	struct saved_exporter se = { 0 };
	struct katls_verify_params vp = *p;
	struct katls_ea_request req = { 0 };
	struct katls_ea_crc_set used;
	struct katls_exporter ex;
	char peer[256] = "", label[128] = "";
	const char *what;
	const EVP_MD *md;
	int ret;

	memset(out, 0, sizeof(*out));
	katls_ea_crc_set_init(&used);
	what = "meta";
	ret = read_in(dir, "meta", &meta);
	if (!ret)
		ret = katls_put_u8(&meta, 0);
	if (!ret)
		ret = parse_meta((char *)meta.data, &md, &se.sender, peer, sizeof(peer), label,
				 sizeof(label));
	if (!ret && (what = "request.bin", 1))
		ret = read_in(dir, "request.bin", &reqb);
	if (!ret)
		ret = katls_ea_request_parse(&req, reqb.data, reqb.len, 0);
	if (!ret && (what = "authenticator.bin", 1))
		ret = read_in(dir, "authenticator.bin", &auth);
	if (!ret && (what = "session-secrets/hc.bin", 1))
		ret = read_in(dir, "session-secrets/hc.bin", &se.hc);
	if (!ret && (what = "session-secrets/fk.bin", 1))
		ret = read_in(dir, "session-secrets/fk.bin", &se.fk);
	if (!ret && (what = "session-secrets/attestation.bin", 1))
		ret = read_in(dir, "session-secrets/attestation.bin", &se.att);
	if (ret) {
		snprintf(out->msg, sizeof(out->msg), "%s/%s: %s", dir, what, strerror(-ret));
		out->reason = KATLS_R_INTERNAL;
		goto out;
	}
	se.binder_label = label;
	se.req = &req;
	ex.md = md;
	ex.export = saved_export;
	ex.arg = &se;
	if (!vp.peer_name && *peer)
		vp.peer_name = peer;
	vp.binder_label = label;
	ret = katls_verify_authenticator(&vp, &ex, se.sender, &req, &used, auth.data, auth.len,
					 out);
out:
	katls_ea_crc_set_cleanup(&used);
	katls_ea_request_cleanup(&req);
	katls_buf_cleanup(&meta);
	katls_buf_cleanup(&reqb);
	katls_buf_cleanup(&auth);
	katls_buf_cleanup(&se.hc);
	katls_buf_cleanup(&se.fk);
	katls_buf_cleanup(&se.att);
	return ret;
}
