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
 * The AK is a primary key in the owner hierarchy, created from a fixed
 * template (restricted ECDSA-P256-SHA256 signing, fixedTPM, fixedParent,
 * sensitiveDataOrigin, userWithAuth, noDA, empty auth) and made persistent
 * with EvictControl.  A primary needs no parent key to be created or
 * reloaded, and the same template on the same TPM always derives the same
 * key until the owner seed changes (TPM2_Clear).  noDA keeps the AK usable
 * when a TPM sits in dictionary-attack lockout (swtpm after an unclean stop).
 * The owner hierarchy auth must be empty to provision.
 */
#ifndef KATLS_TPM_H
#define KATLS_TPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "buf.h"
#include "quote.h"

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

#endif /* KATLS_TPM_H */
