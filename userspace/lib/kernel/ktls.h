/* SPDX-License-Identifier: MIT */
/*
 * kTLS handover from OpenSSL (DESIGN.md §7): after a TLS 1.3 handshake made
 * with katls_tls_ctx_new() (no tickets, no read-ahead, so no record follows
 * the handshake before the handover), derive key and IV of each direction
 * from the captured application traffic secrets with HKDF-Expand-Label
 * ("key", "iv", suite hash), install TCP_ULP "tls" and TLS_TX/TLS_RX with
 * record sequence 0, and wipe every copy of the keys.
 *
 * Suites: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 * TLS_CHACHA20_POLY1305_SHA256.  Exporters stay available from the SSL after
 * the handover; the SSL must not be used for records any more.
 *
 * The transport callbacks carry the katls/1 exchange over the kTLS socket
 * (read/write on the fd); a non-data record (alert) ends the stream.
 */
#ifndef KATLS_KTLS_H
#define KATLS_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/**
 * katls_ktls_install() - move the session keys of @ssl into the kernel
 * @ssl: handshake done, secrets captured (tls.h)
 * @fd:  the TCP socket of @ssl
 * @client: true if we are the TLS client (TX = client secret)
 *
 * The captured secrets of @ssl are wiped on return, whatever the result.
 * Return: 0; -ENOENT (secrets not captured), -EOPNOTSUPP (suite not
 * supported by kTLS), -ENOPROTOOPT (no "tls" ULP), or the setsockopt -errno.
 */
int katls_ktls_install(SSL *ssl, int fd, bool client);

/* Short name of the negotiated suite's kTLS cipher ("aes-128-gcm", ...). */
const char *katls_ktls_cipher_name(SSL *ssl);

/*
 * The handshake and the katls/1 exchange are lockstep: each side waits for
 * the other's answer.  Delaying an ACK there saves nothing, and a peer whose
 * one segment in flight waits for it longer than its probe timeout (2 RTT +
 * 200 ms: our answer may wait for a TPM quote or a busy CPU) sends a tail
 * loss probe, a retransmission.  So whoever holds a socket for the exchange
 * acknowledges at once: TCP_QUICKACK (sends a pending delayed ACK now; not
 * sticky, so set before every read).  katls_ktls_quickack_reads() does so
 * for the reads of @ssl's handshake; katls_ktls_read() always.
 */
void katls_ktls_quickack(int fd);
int katls_ktls_quickack_reads(SSL *ssl);

/*
 * Transport callbacks over a kTLS socket; @arg points to the int fd.
 * read: bytes (> 0), 0 at EOF, -ETIMEDOUT (SO_RCVTIMEO), -EPROTO (a
 * non-application record, e.g. an alert), other -errno.
 */
ssize_t katls_ktls_read(void *arg, uint8_t *buf, size_t len);
int katls_ktls_write(void *arg, const uint8_t *buf, size_t len);

#endif /* KATLS_KTLS_H */
