// SPDX-License-Identifier: MIT
/* Names of the stable reason codes (katls.h). */
#include "katls.h"

static const char *const names[__KATLS_R_MAX] = {
	[KATLS_R_OK]			= "ok",
	[KATLS_R_FRAMING]		= "framing",
	[KATLS_R_EA_MALFORMED]		= "ea-malformed",
	[KATLS_R_EA_CRC]		= "ea-crc",
	[KATLS_R_EA_EXTENSION]		= "ea-extension",
	[KATLS_R_EA_SIGALG]		= "ea-sigalg",
	[KATLS_R_EA_SIGNATURE]		= "ea-signature",
	[KATLS_R_EA_FINISHED]		= "ea-finished",
	[KATLS_R_EA_EMPTY]		= "ea-empty",
	[KATLS_R_PKI_CHAIN]		= "pki-chain",
	[KATLS_R_PKI_NAME]		= "pki-name",
	[KATLS_R_BINDER]		= "binder",
	[KATLS_R_EVIDENCE_MALFORMED]	= "evidence-malformed",
	[KATLS_R_QUOTE_STRUCTURE]	= "quote-structure",
	[KATLS_R_AK_UNTRUSTED]		= "ak-untrusted",
	[KATLS_R_QUOTE_SIGNATURE]	= "quote-signature",
	[KATLS_R_PCR_DIGEST]		= "pcr-digest",
	[KATLS_R_PCR_VALUE]		= "pcr-value",
	[KATLS_R_IMA_REPLAY]		= "ima-replay",
	[KATLS_R_IMA_ALLOWLIST]		= "ima-allowlist",
	[KATLS_R_KERNEL_STATE]		= "kernel-state",
	[KATLS_R_WORKLOAD]		= "workload",
	[KATLS_R_AIK_BINDING]		= "aik-binding",
	[KATLS_R_PEER_REFUSED]		= "peer-refused",
	[KATLS_R_TIMEOUT]		= "timeout",
	[KATLS_R_INTERNAL]		= "internal",
	[KATLS_R_PROTOCOL]		= "protocol",
	[KATLS_R_POLICY]		= "policy",
	[KATLS_R_BATCH_SIZE]		= "batch-size",
	[KATLS_R_BATCH_INDEX]		= "batch-index",
	[KATLS_R_BATCH_PATH]		= "batch-path",
	[KATLS_R_BATCH_LEAF]		= "batch-leaf",
	[KATLS_R_BATCH_INCLUSION]	= "batch-inclusion",
	[KATLS_R_BATCH_ROOT]		= "batch-root",
};

const char *katls_reason_name(unsigned int reason)
{
	if (reason < __KATLS_R_MAX && names[reason])
		return names[reason];
	return "unknown";
}
