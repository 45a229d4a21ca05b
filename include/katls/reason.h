/* SPDX-License-Identifier: MIT */
/*
 * libkatls public API (libkatls.so.1): verification reason codes.
 * Part of the stable ABI (docs/packaging.md): values never change, new ones
 * are only appended.
 */
#ifndef KATLS_REASON_H
#define KATLS_REASON_H

/* Marks a function exported by libkatls.so.1 (the library builds with
 * -fvisibility=hidden; the linker version script lists the same names). */
#if defined(__GNUC__)
#define KATLS_PUBLIC __attribute__((visibility("default")))
#else
#define KATLS_PUBLIC
#endif

/*
 * Stable verification reason codes, in the verifier's order (DESIGN.md §6).
 * Values are part of the wire protocol and the CLI's --json output: never
 * renumber, only append.
 */
enum katls_reason {
	KATLS_R_OK = 0,
	KATLS_R_FRAMING = 1,		/* katls/1 frame malformed or unexpected */
	KATLS_R_EA_MALFORMED = 2,	/* RFC 9261 message does not parse */
	KATLS_R_EA_CRC = 3,		/* unknown or reused certificate_request_context */
	KATLS_R_EA_EXTENSION = 4,	/* extension not offered / cmw outside entry 0 */
	KATLS_R_EA_SIGALG = 5,		/* signature scheme not offered or not TLS 1.3 */
	KATLS_R_EA_SIGNATURE = 6,	/* CertificateVerify does not verify */
	KATLS_R_EA_FINISHED = 7,	/* Finished MAC mismatch */
	KATLS_R_EA_EMPTY = 8,		/* peer sent the empty authenticator (refusal) */
	KATLS_R_PKI_CHAIN = 9,		/* leaf does not chain to a trust anchor */
	KATLS_R_PKI_NAME = 10,		/* leaf does not name the expected peer */
	KATLS_R_BINDER = 11,		/* quote does not carry this session's binder */
	KATLS_R_EVIDENCE_MALFORMED = 12,/* CMW / Evidence records malformed or missing */
	KATLS_R_QUOTE_STRUCTURE = 13,	/* TPMS_ATTEST magic, type or selection wrong */
	KATLS_R_AK_UNTRUSTED = 14,	/* AK not pinned by the policy */
	KATLS_R_QUOTE_SIGNATURE = 15,	/* quote signature does not verify */
	KATLS_R_PCR_DIGEST = 16,	/* PCR values do not hash to the quoted digest */
	KATLS_R_PCR_VALUE = 17,		/* PCR differs from the policy's reference value */
	KATLS_R_IMA_REPLAY = 18,	/* IMA log does not replay to quoted PCR 10 */
	KATLS_R_IMA_ALLOWLIST = 19,	/* IMA entry not in the allowlist */
	KATLS_R_KERNEL_STATE = 20,	/* taint, lockdown or other kernel rule failed */
	KATLS_R_WORKLOAD = 21,		/* workload exe not allowed */
	KATLS_R_AIK_BINDING = 22,	/* Evidence not bound to the EA leaf key */
	KATLS_R_PEER_REFUSED = 23,	/* the peer's verdict rejected our Evidence */
	KATLS_R_TIMEOUT = 24,
	KATLS_R_INTERNAL = 25,
	KATLS_R_PROTOCOL = 26,		/* peer does not speak katls/1 */
	KATLS_R_POLICY = 27,		/* policy missing or unusable */
	/* quote batching (docs/wire.md "Quote batching"), in the verifier's order */
	KATLS_R_BATCH_SIZE = 28,	/* batch size outside 2..KATLS_BATCH_MAX, or not offered */
	KATLS_R_BATCH_INDEX = 29,	/* leaf index not below the batch size */
	KATLS_R_BATCH_PATH = 30,	/* path length not what the index and size need */
	KATLS_R_BATCH_LEAF = 31,	/* the proof's leaf is not this session's binder */
	KATLS_R_BATCH_INCLUSION = 32,	/* leaf + path do not hash to the proof's root */
	KATLS_R_BATCH_ROOT = 33,	/* the proof's root is not the quote's extraData */
	__KATLS_R_MAX
};

/* Short stable identifier of a reason ("ima-allowlist"), never NULL. */
KATLS_PUBLIC const char *katls_reason_name(unsigned int reason);

#endif /* KATLS_REASON_H */
