/* SPDX-License-Identifier: MIT */
/*
 * The detached IMA log (docs/wire.md, "Detached IMA log").  A TLS extension
 * holds at most 65535 bytes, so Evidence carried in cmw_attestation cannot
 * hold the IMA log of a host with more than a few hundred measurements.  A
 * verifier whose request carries the empty extension KATLS_EXT_IMA_DETACHED
 * (ea.h) accepts the log outside the authenticator instead:
 *
 *   attester → verifier:  0xF2 frame (log bytes) ... 0xF2 frame (log bytes)
 *                         Certificate  CertificateVerify  Finished
 *
 * The frames carry binary_runtime_measurements bytes, split anywhere (a
 * frame body is 1..KATLS_FRAME_MAX_DEFAULT bytes); their concatenation is
 * the log.  The Evidence in the Certificate has an "ima-digest" record
 * (cmw.h) in place of "ima": the log's length and SHA-256.  The
 * authenticator's signature covers that record, and the quote covers the
 * log through PCR 10 as before, so the log is the attester's and this
 * session's just as when it was inline.  An empty log is sent as no frame.
 *
 * A verifier refuses IMA frames it did not ask for, frames before Evidence
 * without "ima-digest", and a log whose length or digest is not the one
 * the Evidence names (KATLS_R_EVIDENCE_MALFORMED).  No global state.
 */
#ifndef KATLS_IMA_DETACH_H
#define KATLS_IMA_DETACH_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "wire/cmw.h"
#include "wire/frame.h"

#define KATLS_IMA_FRAME_CHUNK	(128u * 1024)	/* log bytes per frame we send */

/**
 * katls_ima_detach() - the attester's side: move the "ima" record of the
 * CMW Evidence @cmw into IMA log frames appended to @frames, and put its
 * "ima-digest" in its place.
 * Return: 1 detached (@cmw re-encoded), 0 nothing to detach (no IMA log;
 * @cmw unchanged), -EMSGSIZE (log over KATLS_IMA_DETACHED_MAX), -EBADMSG
 * (@cmw does not decode) or -ENOMEM.
 */
int katls_ima_detach(struct katls_buf *cmw, struct katls_buf *frames);

/**
 * katls_ima_split() - the verifier's side: split an answer as
 * katls_frame_read_authenticator() collected it into the log its leading
 * IMA frames carry (appended to @log) and the authenticator after them.
 * @num_frames: how many IMA frames there were.
 * Return: 0 and the authenticator's offset in @answer, or -EBADMSG
 * (a frame runs past the end or is empty), -EMSGSIZE or -ENOMEM.
 */
int katls_ima_split(const uint8_t *answer, size_t len, struct katls_buf *log,
		    size_t *num_frames, size_t *auth_off);

/**
 * katls_ima_attach() - put the detached @log into decoded Evidence @ev,
 * whose "ima-digest" must name exactly it.
 * Return: 0; -EBADMSG when @ev has no "ima-digest" or it names another
 * length or digest; -ENOMEM.
 */
int katls_ima_attach(struct katls_evidence *ev, const uint8_t *log, size_t len);

#endif /* KATLS_IMA_DETACH_H */
