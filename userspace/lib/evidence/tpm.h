/* SPDX-License-Identifier: MIT */
/*
 * TPM access through tpm2-tss ESAPI: open a TPM by TCTI string, provision
 * the persistent attestation key (AK), quote PCRs with it, read PCRs.
 *
 * One struct katls_tpm is one ESAPI context; it is not thread-safe, so a
 * process keeps one and serializes its use (DESIGN.md §6).  All outputs are
 * in wire form (marshalled TPM structures) ready for the CMW Evidence and for
 * katls_quote_verify().
 *
 * The AK is a primary key in the endorsement hierarchy, created from a fixed
 * template (restricted ECDSA-P256-SHA256 signing, fixedTPM, fixedParent,
 * sensitiveDataOrigin, userWithAuth, noDA, empty auth) and made persistent
 * with EvictControl.  A primary needs no parent key to be created or
 * reloaded, and the same template on the same TPM always derives the same
 * key until the endorsement seed changes (TPM2_ChangeEPS, which also
 * replaces the EK and voids its certificate).  TPM2_Clear evicts the
 * persistent copy but does not change the key: katls provision re-creates
 * the same AK, so its enrollment with the EK (enroll.h) outlives an owner
 * change.  Keys of the endorsement hierarchy also quote their clock's
 * reset/restart counters and the firmware version in clear.  noDA keeps the
 * AK usable when a TPM sits in dictionary-attack lockout (swtpm after an
 * unclean stop).  Provisioning needs empty endorsement and owner hierarchy
 * auth (CreatePrimary, EvictControl).  An AK an older katls made in the
 * owner hierarchy is kept until --force replaces it.
 *
 * Enrollment (docs/enroll.md): the EK certificate is read from its NV index
 * (TCG EK Credential Profile), the EK is the persistent endorsement key
 * whose public key equals the certificate's, else the primary derived from
 * the default template L-1 (RSA 2048) / L-2 (ECC P-256), and
 * TPM2_ActivateCredential proves that the AK sits in the same TPM.
 */
#ifndef KATLS_TPM_H
#define KATLS_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "evidence/credential.h"
#include "evidence/quote.h"
#include "util/buf.h"

#define KATLS_AK_HANDLE_DEFAULT	0x81010002u
#define KATLS_TCTI_DEFAULT	"device:/dev/tpmrm0"

struct katls_tpm;

/**
 * katls_tpm_open() - connect to a TPM.
 * @tcti: TCTI as tpm2-tools take it ("device:/dev/tpmrm0",
 *        "swtpm:host=127.0.0.1,port=2321", "mssim:..."), or NULL for
 *        $TPM2TOOLS_TCTI, else $KATLS_TCTI, else KATLS_TCTI_DEFAULT.
 * @out: the new context.
 *
 * Sends TPM2_Startup(CLEAR) to simulators (swtpm, mssim), accepting
 * TPM_RC_INITIALIZE (already started).
 * Return: 0 or -errno (one line on stderr names the failing call).
 */
int katls_tpm_open(const char *tcti, struct katls_tpm **out);

/** katls_tpm_close() - disconnect and free; NULL-safe. */
void katls_tpm_close(struct katls_tpm *tpm);

/**
 * katls_tpm_provision_ak() - make sure a persistent AK exists at @handle.
 * @handle: owner persistent handle (0x81000000..0x817fffff), e.g.
 *          KATLS_AK_HANDLE_DEFAULT.
 * @force: replace whatever @handle holds.
 * @out_pub: optional, receives the AK public key.
 *
 * Reuses the key at @handle if it is a restricted ECDSA-P256-SHA256 signing
 * key; otherwise (nothing there, or @force) creates the AK (see the top of
 * this file) and persists it.
 * Return: 0; -EEXIST if @handle holds another kind of object and !@force;
 * -EINVAL for a bad handle; other -errno from the TPM.
 */
int katls_tpm_provision_ak(struct katls_tpm *tpm, uint32_t handle, bool force,
			   EVP_PKEY **out_pub);

/**
 * katls_tpm_ak_public() - public area of the key at @handle.
 * @out_public: optional, replaced by the marshalled TPMT_PUBLIC.
 * @out_pkey: optional, receives the public key.
 * Return: 0, -ENOENT (nothing at @handle) or -errno.
 */
int katls_tpm_ak_public(struct katls_tpm *tpm, uint32_t handle,
			struct katls_buf *out_public, EVP_PKEY **out_pkey);

/**
 * katls_tpm_quote() - TPM2_Quote of SHA-256 PCRs with the AK at @handle.
 * @nonce, @nonce_len: qualifyingData, 1..32 bytes: pass the output of
 *        katls_quote_nonce() (which hashes longer binders to 32 bytes).
 * @pcr_mask: bit i quotes PCR i (0..23), non-zero.
 * @out_attest: replaced by the TPMS_ATTEST bytes (TPM2B_ATTEST contents).
 * @out_sig: replaced by the marshalled TPMT_SIGNATURE.
 * @out_pcrs: the PCR values the quote covers.
 *
 * The PCRs are read right before and right after the quote; the quote is
 * retried (a few times) unless both reads agree and hash to its pcrDigest, so
 * the values returned are exactly the quoted ones even while IMA extends.
 * Return: 0; -EMSGSIZE for a nonce longer than 32 bytes; -EAGAIN if the PCRs
 * kept moving; other -errno.
 */
int katls_tpm_quote(struct katls_tpm *tpm, uint32_t handle,
		    const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
		    struct katls_buf *out_attest, struct katls_buf *out_sig,
		    struct katls_pcrs *out_pcrs);

/**
 * katls_tpm_pcr_read() - read SHA-256 PCRs of @pcr_mask into @out.
 * Return: 0, -EINVAL (empty mask or PCR > 23), -ENODEV (no SHA-256 bank) or
 * -errno.
 */
int katls_tpm_pcr_read(struct katls_tpm *tpm, uint32_t pcr_mask, struct katls_pcrs *out);

/* Hierarchy of a primary object, from its qualified Name. */
enum katls_tpm_hierarchy {
	KATLS_TPM_HIERARCHY_OTHER = 0,	/* not a primary (e.g. a child of the EK) */
	KATLS_TPM_HIERARCHY_OWNER,
	KATLS_TPM_HIERARCHY_ENDORSEMENT,
	KATLS_TPM_HIERARCHY_PLATFORM,
};

/**
 * katls_tpm_object_hierarchy() - which hierarchy the primary at @handle
 * belongs to: its qualified Name (TPM2_ReadPublic) equals
 * nameAlg || H(hierarchy handle || Name) for exactly one of them.
 * Return: 0, -ENOENT, -EINVAL (not persistent) or -errno.
 */
int katls_tpm_object_hierarchy(struct katls_tpm *tpm, uint32_t handle,
			       enum katls_tpm_hierarchy *out);

/* EK certificate NV indices (TCG EK Credential Profile 2.x, §2.2.1.5). */
#define KATLS_EK_NV_RSA2048	0x01c00002u	/* low range, template L-1 */
#define KATLS_EK_NV_ECC_P256	0x01c0000au	/* low range, template L-2 */

/* Which EK katls_tpm_ek_load() takes, besides an NV index. */
#define KATLS_EK_AUTO		0u	/* the first certificate found (RSA first) */
#define KATLS_EK_RSA		1u	/* the first RSA EK certificate */
#define KATLS_EK_ECC		2u	/* the first ECC EK certificate */

struct katls_tpm_ek {
	uint32_t cert_index;		/* NV index the certificate came from */
	uint32_t handle;		/* persistent handle, 0 = derived from the template */
	struct katls_buf cert;		/* the certificate, DER (NV padding removed) */
	struct katls_buf public;	/* TPMT_PUBLIC of the key it certifies */
};

/**
 * katls_tpm_ek_load() - the EK certificate and the EK it certifies.
 * @which: KATLS_EK_AUTO, KATLS_EK_RSA, KATLS_EK_ECC or an NV index
 *         (0x01c00002, 0x01c0000a, 0x01c00012..0x01c0001e).
 *
 * Reads the certificate, then looks for the key: a persistent object in
 * 0x81010000..0x8101ffff that is a restricted decryption key with the
 * certificate's public key, else (RSA 2048 / ECC P-256 low-range indices)
 * the primary derived from template L-1 / L-2 under the endorsement
 * hierarchy.  A certificate whose key is neither is an error: katls does
 * not trust an EK public it cannot match to the certificate.
 * Return: 0; -ENOENT (no certificate at the index(es), or no matching key);
 * -EBADMSG (the NV index does not hold a DER certificate); -errno.
 * Call katls_tpm_ek_cleanup() after (also on failure).
 */
int katls_tpm_ek_load(struct katls_tpm *tpm, uint32_t which, struct katls_tpm_ek *out);

/** katls_tpm_ek_cleanup() - free what katls_tpm_ek_load() filled in. */
void katls_tpm_ek_cleanup(struct katls_tpm_ek *ek);

/**
 * katls_tpm_activate_credential() - TPM2_ActivateCredential with the key at
 * @ak_handle (the object the credential names) and the EK @which (as for
 * katls_tpm_ek_load()).  The EK is authorized by its policy,
 * PolicySecret(TPM_RH_ENDORSEMENT) with empty endorsement auth, or by its
 * empty auth value when it has userWithAuth (high-range templates).
 * @out: receives the credential, KATLS_CRED_DIGEST_MAX bytes of room.
 * Return: 0; -EBADMSG when the TPM refuses the credential itself (made for
 * another Name or another EK, or altered: TPM_RC_INTEGRITY, _VALUE,
 * _ECC_POINT, _SIZE); -EACCES (authorization); -ENOENT; other -errno.
 */
int katls_tpm_activate_credential(struct katls_tpm *tpm, uint32_t ak_handle, uint32_t which,
				  const struct katls_credential *cred, uint8_t *out,
				  size_t *out_len);

#endif /* KATLS_TPM_H */
