/* SPDX-License-Identifier: MIT */
/*
 * Incremental IMA on the wire (docs/wire.md, "Incremental IMA"): the request
 * extension katls_ima_prefix by which a verifier says "I hold a verified
 * prefix of N entries of your log, with running SHA-256 PCR 10 value V, for
 * AK Name X", and the attester's answer to it: Evidence whose "ima" record
 * holds only the entries from N ("ima-start" = N).
 *
 *   struct {
 *       opaque ak_name<2..255>;     TPM Name: nameAlg || digest
 *       uint64 num_entries;         N >= 1
 *       uint16 pcr_bank;            TPM_ALG_ID of pcr10: 0x000B (SHA-256)
 *       opaque pcr10<1..255>;       PCR 10 after entries 0..N-1 (32 bytes)
 *   } KatlsImaPrefix;               extension_data of type 0xFF01
 *
 * A peer that does not know the extension ignores it (RFC 8446 §4.2:
 * unknown extensions in a CertificateRequest are ignored) and sends its
 * whole log; one that cannot use it does the same.  The verifier never
 * accepts a tail it did not ask for.
 */
#ifndef KATLS_IMA_PREFIX_H
#define KATLS_IMA_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appraisal/ima_cache.h"
#include "evidence/quote.h"
#include "util/buf.h"
#include "wire/ea.h"

/* Private codepoint, next to cmw_attestation's (PROTOCOL.md §8). */
#define KATLS_EXT_IMA_PREFIX	0xFF01

struct katls_ima_hint {
	struct katls_tpm_name ak;
	uint64_t num_entries;
	uint8_t pcr10[32];
};

/** katls_ima_hint_of() - the hint naming cached prefix @p. */
void katls_ima_hint_of(const struct katls_ima_prefix *p, struct katls_ima_hint *out);
/** katls_ima_hint_names() - does @h name exactly prefix @p? */
bool katls_ima_hint_names(const struct katls_ima_hint *h, const struct katls_ima_prefix *p);

/** katls_ima_hint_encode() - append the whole extension (type, length, data). 0/-errno. */
int katls_ima_hint_encode(const struct katls_ima_hint *h, struct katls_buf *out);
/**
 * katls_ima_hint_parse() - strict parse of an extension_data.
 * Return: 0, or -EBADMSG (anything else than the struct above, a Name katls
 * does not accept, N = 0, another bank, a PCR value of another size).
 */
int katls_ima_hint_parse(const uint8_t *data, size_t len, struct katls_ima_hint *out);
/** katls_ima_hint_of_request() - the hint of @req: 0, -ENOENT (none), -EBADMSG. */
int katls_ima_hint_of_request(const struct katls_ea_request *req, struct katls_ima_hint *out);

/**
 * katls_ima_hint_answer() - the attester's side: if @req carries a hint
 * for this attester's AK (the "ak" record of @cmw) and its log has at least
 * N entries, rewrite the CMW Evidence @cmw so that "ima" holds the entries
 * from N and "ima-start" is N.  Anything else (no hint, a malformed one,
 * another AK, N beyond the log, no log) leaves the whole log.  The
 * attester does not check PCR 10 at N: a verifier whose prefix the log does
 * not extend asks again without a hint (session.c).
 * Return: 1 trimmed, 0 left whole, -ENOMEM.
 */
int katls_ima_hint_answer(const struct katls_ea_request *req, struct katls_buf *cmw);

#endif /* KATLS_IMA_PREFIX_H */
