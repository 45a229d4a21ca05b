/* SPDX-License-Identifier: MIT */
/*
 * katls/1 framing (DESIGN.md §5): every message after the TLS 1.3 handshake
 * is `u8 type | u24 length | body`, like a TLS handshake message, carried as
 * TLS application data.  RFC 9261 requests and authenticator messages travel
 * as they are; katls adds katls_hello (0xF0) and katls_verdict (0xF1).
 *
 * The frame reader pulls bytes through a read callback and never asks for a
 * byte beyond the end of the current message, so application data that
 * follows the exchange on the same (kTLS) socket stays in the socket.  A
 * reader belongs to one connection and one thread.
 */
#ifndef KATLS_FRAME_H
#define KATLS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

#define KATLS_FRAME_HELLO		0xF0
#define KATLS_FRAME_VERDICT		0xF1
#define KATLS_FRAME_IMA_LOG		0xF2	/* a piece of a detached IMA log */
#define KATLS_FRAME_HDR_LEN		4
#define KATLS_FRAME_MAX_DEFAULT		(256 * 1024)	/* body bytes */
/* A detached IMA log (ima_detach.h): at most this many bytes of records. */
#define KATLS_IMA_DETACHED_MAX		(64u << 20)
/*
 * A whole answer as katls_frame_read_authenticator() collects it: the IMA log
 * frames (bodies and headers) and the authenticator's three frames.
 */
#define KATLS_ANSWER_MAX	(KATLS_IMA_DETACHED_MAX + KATLS_IMA_DETACHED_MAX / 1024 + \
				 3u * (KATLS_FRAME_MAX_DEFAULT + KATLS_FRAME_HDR_LEN))

#define KATLS_PROTO_VERSION		1
#define KATLS_HELLO_WILL_ATTEST			0x01
#define KATLS_HELLO_WANTS_PEER_ATTESTATION	0x02
#define KATLS_HELLO_FLAGS_ALL	(KATLS_HELLO_WILL_ATTEST | \
				 KATLS_HELLO_WANTS_PEER_ATTESTATION)

#define KATLS_VERDICT_TEXT_MAX		1024		/* bytes of UTF-8 */

/*
 * Reads up to len bytes into buf.  Returns the number read (> 0), 0 at the
 * end of the stream, or -errno (-EAGAIN: nothing available now, call
 * katls_frame_next() again later; -EINTR is retried).
 */
typedef ssize_t (*katls_frame_read_fn)(void *arg, uint8_t *buf, size_t len);

struct katls_frame_reader {
	katls_frame_read_fn read;
	void *arg;
	size_t max_body;
	struct katls_buf buf;		/* the message being assembled */
	struct katls_cursor mem;	/* source of katls_frame_reader_init_mem() */
	bool delivered;			/* buf holds a message already returned */
	bool again;			/* return buf's message once more */
	int error;			/* sticky framing error */
};

/* One message; pointers are valid until the next call on the reader. */
struct katls_frame {
	uint8_t type;
	const uint8_t *msg;		/* whole message, header included */
	size_t msg_len;
	const uint8_t *body;
	size_t body_len;
};

struct katls_hello {
	uint8_t version;
	uint8_t flags;			/* KATLS_HELLO_* */
};

struct katls_verdict {
	uint8_t result;			/* 0 accepted, else enum katls_reason */
	uint32_t max_age_s;
	size_t text_len;
	char text[KATLS_VERDICT_TEXT_MAX + 1];	/* NUL-terminated */
};

bool katls_frame_type_known(uint8_t type);
void katls_frame_reader_init(struct katls_frame_reader *r,
			     katls_frame_read_fn read, void *arg,
			     size_t max_body);
void katls_frame_reader_init_mem(struct katls_frame_reader *r,
				 const uint8_t *data, size_t len,
				 size_t max_body);
void katls_frame_reader_cleanup(struct katls_frame_reader *r);
int katls_frame_next(struct katls_frame_reader *r, struct katls_frame *out);
int katls_frame_read_authenticator(struct katls_frame_reader *r,
				   struct katls_buf *out);

int katls_hello_build(struct katls_buf *out, uint8_t flags);
int katls_hello_parse(struct katls_hello *out, const uint8_t *msg,
		      size_t msg_len);
int katls_verdict_build(struct katls_buf *out, uint8_t result,
			uint32_t max_age_s, const char *text);
int katls_verdict_parse(struct katls_verdict *out, const uint8_t *msg,
			size_t msg_len);

#endif /* KATLS_FRAME_H */
