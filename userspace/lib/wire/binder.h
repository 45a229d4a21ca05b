/* SPDX-License-Identifier: MIT */
/*
 * The expat binding of PROTOCOL.md §2.2: the binder ties an authenticator's
 * Evidence to its leaf (AIK) key and to the TLS connection it travels on.
 */
#ifndef KATLS_BINDER_H
#define KATLS_BINDER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "wire/exporter.h"

/* ---- expat binding (PROTOCOL.md §2.2) ------------------------------------ */

#define KATLS_BINDER_LABEL	"Attestation"

int katls_binder_compute(const struct katls_exporter *ex, EVP_PKEY *leaf_key,
			 const uint8_t *crc, size_t crc_len, const char *label,
			 uint8_t *out, size_t *out_len);
int katls_aik_hash(const EVP_MD *md, EVP_PKEY *key, uint8_t *out,
		   size_t *out_len);

#endif /* KATLS_BINDER_H */
