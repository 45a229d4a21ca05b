// SPDX-License-Identifier: MIT
/*
 * katls/1 exchange engine (see session.h).  struct sess lives on the stack
 * of katls_session_run(); every message goes through the frame reader, which
 * never reads past the end of a message, so application data that follows
 * on the same transport stays unread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "wire/frame.h"
#include "wire/ima_detach.h"
#include "wire/ima_prefix.h"
#include "wire/session.h"

struct sess {
	const struct katls_session_params *p;
	struct katls_session_result *out;
	struct katls_frame_reader rd;
	/*
	 * What we send, until we next wait for the peer (or start a quote): one
	 * write per flight, so one TLS record and, mostly, one segment.  With
	 * back-to-back small segments in flight (TCP_NODELAY) the sender's tail
	 * loss probe comes after 2 RTT instead of 2 RTT + 200 ms: before the
	 * peer's delayed ACK, a retransmission.
	 */
	struct katls_buf pending;
	int write_err;				/* a flush failed: -errno */
	struct katls_ea_crc_set used;		/* crcs of our requests consumed */
	struct katls_ea_request mine;		/* request we sent */
	struct katls_ea_request theirs;		/* request we answer */
	bool first;				/* no frame received yet */
	bool failed;
	/* incremental IMA (the section below) */
	struct katls_ima_prefix *offered;	/* the prefix our request named */
	bool asked_again;			/* we asked again for the whole log */
	bool sent_tail;				/* we answered with a tail: may be asked again */
	/* our answer to the peer's request (prepare_authenticator()) */
	struct {
		bool ready;			/* built, not sent yet */
		struct katls_buf auth;		/* to send: IMA frames + authenticator */
		enum katls_reason reason;	/* KATLS_R_OK, or the failure after it */
		bool tell;			/* ... to report with a verdict */
		char msg[512];
	} ours;
};

/* incremental IMA, below */
static int ima_offer(struct sess *s, struct katls_buf *ext);
static int ima_answer(struct sess *s, struct katls_buf *cmw);
static int ima_ask_again(struct sess *s);
static int ima_verdict_or_again(struct sess *s);

static bool wants_peer(enum katls_mode m)
{
	return m == KATLS_MODE_VERIFY_PEER || m == KATLS_MODE_MUTUAL;
}

static bool will_attest(enum katls_mode m)
{
	return m == KATLS_MODE_ATTEST_SELF || m == KATLS_MODE_MUTUAL;
}

static enum katls_role peer_role(const struct sess *s)
{
	return s->p->role == KATLS_ROLE_CLIENT ? KATLS_ROLE_SERVER : KATLS_ROLE_CLIENT;
}

static int err_of(enum katls_reason r)
{
	switch (r) {
	case KATLS_R_PROTOCOL:
		return -EPROTO;
	case KATLS_R_TIMEOUT:
		return -ETIMEDOUT;
	case KATLS_R_INTERNAL:
		return -EIO;
	default:
		return -EACCES;
	}
}

/* Queued until the next read (tr_read()) or the end of the exchange. */
static int send_buf(struct sess *s, const struct katls_buf *b)
{
	return s->write_err ?: katls_put_bytes(&s->pending, b->data, b->len);
}

static int flush(struct sess *s)
{
	int ret;

	if (s->write_err || !s->pending.len)
		return s->write_err;
	ret = s->p->tr.write(s->p->tr.arg, s->pending.data, s->pending.len);
	s->pending.len = 0;
	if (ret)
		s->write_err = ret;
	return ret;
}

static int send_verdict(struct sess *s, enum katls_reason r, const char *text)
{
	struct katls_buf b = KATLS_BUF_INIT;
	uint32_t max_age = 0;
	int ret;

	if (r == KATLS_R_OK && s->p->verify && s->p->verify->policy)
		max_age = s->p->verify->policy->max_age_s;
	ret = katls_verdict_build(&b, (uint8_t)r, max_age, text);
	if (!ret)
		ret = send_buf(s, &b);
	katls_buf_cleanup(&b);
	return ret;
}

/* Local failure: record it (first one wins), tell the peer, return -errno. */
__attribute__((format(printf, 4, 5)))
static int fail(struct sess *s, enum katls_reason r, bool tell, const char *fmt, ...)
{
	va_list ap;

	if (!s->failed) {
		s->failed = true;
		s->out->reason = r;
		va_start(ap, fmt);
		vsnprintf(s->out->msg, sizeof(s->out->msg), fmt, ap);
		va_end(ap);
		if (tell)
			send_verdict(s, r, s->out->msg);	/* best effort: we close next */
	}
	return err_of(s->out->reason);
}

static int read_error(struct sess *s, int ret, const char *want)
{
	bool first = s->first;

	if (s->write_err)
		return fail(s, KATLS_R_INTERNAL, false, "cannot send to the peer: %s",
			    strerror(-s->write_err));
	if (ret == -ETIMEDOUT)
		return first ? fail(s, KATLS_R_PROTOCOL, true, "peer sent no katls hello in time "
				    "(does it speak katls/1?)") :
		       fail(s, KATLS_R_TIMEOUT, true, "timed out waiting for the peer's %s", want);
	if (ret == -ENODATA || ret == 0)
		return fail(s, first ? KATLS_R_PROTOCOL : KATLS_R_FRAMING, false,
			    "peer closed the connection before its %s", want);
	if (ret == -EBADMSG || ret == -EMSGSIZE || ret == -EPROTO)
		return fail(s, first ? KATLS_R_PROTOCOL : KATLS_R_FRAMING, true,
			    first ? "peer does not speak katls/1 (first message is not a hello)" :
			    "malformed katls/1 frame where the peer's %s was expected", want);
	return fail(s, KATLS_R_INTERNAL, true, "reading the peer's %s: %s", want,
		    strerror(ret < 0 ? -ret : EIO));
}

/* A verdict where something else was expected: the peer gave up on us. */
static int peer_verdict(struct sess *s, const struct katls_frame *f, bool expected)
{
	struct katls_verdict v;

	if (katls_verdict_parse(&v, f->msg, f->msg_len))
		return fail(s, KATLS_R_FRAMING, true, "malformed verdict from the peer");
	if (v.result == KATLS_R_OK) {
		if (!expected)
			return fail(s, KATLS_R_FRAMING, true, "unexpected verdict from the peer");
		s->out->peer_max_age_s = v.max_age_s;
		return 0;
	}
	return fail(s, KATLS_R_PEER_REFUSED, false, "peer refused our attestation: %s (%s)",
		    katls_reason_name(v.result), v.text);
}

static int next(struct sess *s, struct katls_frame *f, uint8_t want, const char *what)
{
	int ret = katls_frame_next(&s->rd, f);

	if (ret)
		return read_error(s, ret, what);
	if (s->first && f->type != KATLS_FRAME_HELLO)
		return fail(s, KATLS_R_PROTOCOL, true,
			    "peer does not speak katls/1 (first message type 0x%02x)", f->type);
	s->first = false;
	if (f->type == want)
		return 0;
	if (f->type == KATLS_FRAME_VERDICT)
		return peer_verdict(s, f, false);
	return fail(s, KATLS_R_FRAMING, true, "expected the peer's %s, got message type 0x%02x",
		    what, f->type);
}

static int read_hello(struct sess *s, struct katls_hello *h)
{
	struct katls_frame f;
	int ret = next(s, &f, KATLS_FRAME_HELLO, "katls hello");

	if (ret)
		return ret;
	ret = katls_hello_parse(h, f.msg, f.msg_len);
	if (ret == -EPROTONOSUPPORT)
		return fail(s, KATLS_R_PROTOCOL, true, "peer speaks another katls version");
	if (ret)
		return fail(s, KATLS_R_FRAMING, true, "malformed katls hello");
	return 0;
}

static int send_hello(struct sess *s)
{
	struct katls_buf b = KATLS_BUF_INIT;
	uint8_t flags = (will_attest(s->p->mode) ? KATLS_HELLO_WILL_ATTEST : 0) |
			(wants_peer(s->p->mode) ? KATLS_HELLO_WANTS_PEER_ATTESTATION : 0);
	int ret = katls_hello_build(&b, flags);

	if (!ret)
		ret = send_buf(s, &b);
	katls_buf_cleanup(&b);
	return ret ? fail(s, KATLS_R_INTERNAL, false, "cannot send hello: %s", strerror(-ret)) : 0;
}

/*
 * Our request: fresh 32-byte crc (F2), type by role (DESIGN.md §5), and the
 * IMA prefix we hold of the peer's log, if any (ima_offer()).
 */
static int send_request(struct sess *s)
{
	struct katls_ea_request_params rp = {
		.type = s->p->role == KATLS_ROLE_CLIENT ? KATLS_HS_CLIENT_CERTIFICATE_REQUEST :
			KATLS_HS_CERTIFICATE_REQUEST,
		.sigalgs = s->p->sigalgs,
		.num_sigalgs = s->p->num_sigalgs,
		.offer_batch = !s->p->no_batch,
		.offer_ima_detached = true,
	};
	struct katls_buf ext = KATLS_BUF_INIT;
	int ret = ima_offer(s, &ext);

	rp.extra_exts = ext.data;
	rp.extra_exts_len = ext.len;
	katls_ea_request_cleanup(&s->mine);
	if (!ret)
		ret = katls_ea_request_build(&s->mine, &rp);
	if (!ret)
		ret = send_buf(s, &s->mine.raw);
	katls_buf_cleanup(&ext);
	return ret ? fail(s, KATLS_R_INTERNAL, false, "cannot send request: %s", strerror(-ret)) :
	       0;
}

static int read_request(struct sess *s)
{
	uint8_t want = s->p->role == KATLS_ROLE_CLIENT ? KATLS_HS_CERTIFICATE_REQUEST :
		       KATLS_HS_CLIENT_CERTIFICATE_REQUEST;
	struct katls_frame f;
	int ret = next(s, &f, want, "authenticator request");

	if (ret)
		return ret;
	ret = katls_ea_request_parse(&s->theirs, f.msg, f.msg_len, 0);
	if (ret)
		return fail(s, KATLS_R_EA_MALFORMED, true, "malformed authenticator request");
	return 0;
}

/* Answer the peer's request: Evidence + full authenticator, or refusal. */
/* Our answer to the peer's request is ready to send: no failure, or this one. */
static void ours_fail(struct sess *s, enum katls_reason r, bool tell, const char *fmt, ...)
{
	va_list ap;

	s->ours.reason = r;
	s->ours.tell = tell;
	va_start(ap, fmt);
	vsnprintf(s->ours.msg, sizeof(s->ours.msg), fmt, ap);
	va_end(ap);
}

/*
 * Builds our answer to the peer's request (s->theirs) into s->ours: the IMA
 * log frames, if detached, then the authenticator; an empty authenticator if
 * we do not attest or cannot (an authenticated refusal, with the failure to
 * report once it is sent).  Gathering Evidence takes a TPM quote, the long
 * part; the mutual client does it before it reads the server's authenticator
 * (run_client()).  Returns 0, or a failure of the transport.
 */
static int prepare_authenticator(struct sess *s)
{
	const struct katls_session_params *p = s->p;
	struct katls_ea_identity id = { p->leaf, p->chain, p->key, NULL, 0 };
	struct katls_buf cmw = KATLS_BUF_INIT, *auth = &s->ours.auth;
	char err[512] = "";
	int ret = 0;

	katls_buf_cleanup(auth);
	memset(&s->ours, 0, sizeof(s->ours));
	s->ours.ready = true;
	if (!will_attest(p->mode) || !p->leaf || !p->key) {
		ret = katls_ea_empty_build(auth, p->ex, p->role, &s->theirs);
		if (ret)
			ours_fail(s, KATLS_R_INTERNAL, false, "cannot build a refusal: %s",
				  strerror(-ret));
		return 0;
	}
	if ((p->gather || p->src) && s->theirs.wants_cmw) {
		struct katls_evidence_request rq = {
			.ex = p->ex, .leaf_key = p->key,
			.crc = s->theirs.crc, .crc_len = s->theirs.crc_len,
			.timeout_ms = p->quote_timeout_ms,
			/* quote batching: only if both ends want it */
			.batch = !p->no_batch &&
				 katls_ea_request_offers(&s->theirs, KATLS_EXT_QUOTE_BATCH),
		};

		/*
		 * What we queued goes out before the quote, which may take long:
		 * the peer's wait for our hello is not a wait for "does it speak
		 * katls/1?".
		 */
		if (flush(s))
			return fail(s, KATLS_R_INTERNAL, false, "cannot send to the peer: %s",
				    strerror(-s->write_err));
		if (p->gather)
			ret = p->gather(p->gather_arg, &rq, &cmw, err, sizeof(err));
		else
			ret = katls_evidence_gather(p->src, &rq, &cmw, err, sizeof(err));
		if (ret) {
			katls_buf_cleanup(&cmw);
			katls_ea_empty_build(auth, p->ex, p->role, &s->theirs);
			ours_fail(s, KATLS_R_INTERNAL, false, "cannot attest: %s", err);
			return 0;
		}
		ret = ima_answer(s, &cmw);
		if (!ret && katls_ea_request_offers(&s->theirs, KATLS_EXT_IMA_DETACHED))
			ret = katls_ima_detach(&cmw, auth);
		if (ret < 0) {
			katls_buf_cleanup(auth);
			katls_buf_cleanup(&cmw);
			ours_fail(s, KATLS_R_INTERNAL, false, "cannot attest: %s", strerror(-ret));
			return 0;
		}
		id.cmw = cmw.data;
		id.cmw_len = cmw.len;
	}
	ret = katls_ea_authenticator_build(auth, p->ex, p->role, &s->theirs, &id);
	if (ret) {
		katls_buf_cleanup(auth);
		if (ret == -EOPNOTSUPP)
			ours_fail(s, KATLS_R_EA_SIGALG, true, "cannot sign the authenticator: no "
				  "signature scheme the peer offered fits our key");
		else if (ret == -EINVAL && id.cmw_len > UINT16_MAX - 2)
			ours_fail(s, KATLS_R_INTERNAL, true, "cannot send Evidence of %zu bytes: a "
				  "cmw_attestation extension holds at most 65533, and the peer did "
				  "not offer to take the IMA log detached (a katls/1 verifier before "
				  "0xFF03)", id.cmw_len);
		else
			ours_fail(s, KATLS_R_INTERNAL, false, "cannot build the authenticator: %s",
				  strerror(-ret));
	}
	katls_buf_cleanup(&cmw);
	return 0;
}

/* Sends our answer to the peer's request, built now or ahead of time. */
static int send_authenticator(struct sess *s)
{
	int ret = s->ours.ready ? 0 : prepare_authenticator(s);

	if (ret)
		return ret;
	s->ours.ready = false;
	if (s->ours.auth.len)
		ret = send_buf(s, &s->ours.auth);
	katls_buf_cleanup(&s->ours.auth);
	if (s->ours.reason != KATLS_R_OK)
		return fail(s, s->ours.reason, s->ours.tell, "%s", s->ours.msg);
	return ret ? fail(s, KATLS_R_INTERNAL, false, "cannot send authenticator: %s",
			  strerror(-ret)) : 0;
}

static int read_verdict(struct sess *s)
{
	struct katls_frame f;
	int ret;

	if (s->sent_tail)
		return ima_verdict_or_again(s);
	ret = next(s, &f, KATLS_FRAME_VERDICT, "verdict");

	if (!ret)
		ret = peer_verdict(s, &f, true);
	if (!ret)
		s->out->attested = true;
	return ret;
}

/* Read, verify and answer the peer's authenticator with a verdict. */
static int verify_peer(struct sess *s)
{
	const struct katls_session_params *p = s->p;
	struct katls_buf auth = KATLS_BUF_INIT;
	struct katls_verify_params vp;
	struct timespec t0, t1;
	struct katls_frame f;
	int ret;

	ret = katls_frame_read_authenticator(&s->rd, &auth);
	if (ret == -EPROTO) {
		katls_buf_cleanup(&auth);
		ret = katls_frame_next(&s->rd, &f);
		if (ret)
			return read_error(s, ret, "authenticator");
		if (f.type == KATLS_FRAME_VERDICT)
			return peer_verdict(s, &f, false);
		return fail(s, KATLS_R_FRAMING, true, "expected the peer's authenticator, got "
			    "message type 0x%02x", f.type);
	}
	if (ret) {
		katls_buf_cleanup(&auth);
		return read_error(s, ret, "authenticator");
	}
	s->out->verified_peer = true;
	vp = *p->verify;
	vp.ima_prefix = s->offered;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = katls_verify_authenticator(&vp, p->ex, peer_role(s), &s->mine, &s->used,
					 auth.data, auth.len, &s->out->peer);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* both rounds when the verifier asked again for the whole IMA log */
	s->out->verify_ms += (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (ret && s->out->peer.ima_retry_full && !s->asked_again) {
		katls_buf_cleanup(&auth);
		return ima_ask_again(s);
	}
	if (p->save_dir) {
		int r = katls_verify_save(p->save_dir, p->ex, peer_role(s), &s->mine, auth.data,
					  auth.len, s->out->peer.cmw, s->out->peer.cmw_len,
					  p->verify->peer_name, p->verify->binder_label);

		if (r)
			fprintf(stderr, "katls: cannot save the exchange to %s: %s\n",
				p->save_dir, strerror(-r));
	}
	katls_buf_cleanup(&auth);
	if (ret)
		return fail(s, s->out->peer.reason, true, "%s", s->out->peer.msg);
	ret = send_verdict(s, KATLS_R_OK, s->out->peer.msg);
	return ret ? fail(s, KATLS_R_INTERNAL, false, "cannot send verdict: %s",
			  strerror(-ret)) : 0;
}

/* ---- incremental IMA (docs/wire.md, "Incremental IMA") --------------------- */

/*
 * The verifier names, in its request, the prefix of the peer's IMA log it
 * holds (ima_cache.h), chosen by who it expects the peer to be; the attester
 * answers with the entries after it (ima_prefix.h).  When a tail cannot be
 * decided from that prefix (the attester rebooted, or the tail does not
 * replay) the verifier asks once more, without a prefix: a second request
 * where the attester expects the verdict, answered with the whole log.
 */

/* The katls_ima_prefix extension for our request, if we hold a prefix of this peer. */
static int ima_offer(struct sess *s, struct katls_buf *ext)
{
	const struct katls_verify_params *vp = s->p->verify;
	struct katls_ima_hint h;
	uint8_t tag[32];

	katls_ima_prefix_unref(s->offered);
	s->offered = NULL;
	if (s->asked_again || !vp || !vp->policy->ima_cache ||
	    !katls_ima_cache_tag(vp->peer_id, vp->peer_id_len, vp->peer_name, tag))
		return 0;
	s->offered = katls_ima_cache_by_peer(vp->policy->ima_cache, tag);
	if (!s->offered)
		return 0;
	katls_ima_hint_of(s->offered, &h);
	return katls_ima_hint_encode(&h, ext);
}

/* Attester: the entries after the prefix the verifier named, if it names ours. */
static int ima_answer(struct sess *s, struct katls_buf *cmw)
{
	int ret = katls_ima_hint_answer(&s->theirs, cmw);

	if (ret < 0)
		return ret;
	s->sent_tail = ret == 1;
	return 0;
}

/* Verifier: the tail did not decide; ask again, for the whole log, once. */
static int ima_ask_again(struct sess *s)
{
	s->asked_again = true;
	katls_verify_result_cleanup(&s->out->peer);
	memset(&s->out->peer, 0, sizeof(s->out->peer));
	return send_request(s) ?: verify_peer(s);
}

/* Attester after a tail: the verdict, or the verifier asking again (once). */
static int ima_verdict_or_again(struct sess *s)
{
	uint8_t want = s->p->role == KATLS_ROLE_CLIENT ? KATLS_HS_CERTIFICATE_REQUEST :
		       KATLS_HS_CLIENT_CERTIFICATE_REQUEST;
	struct katls_ima_hint h;
	struct katls_frame f;
	int ret;

	s->sent_tail = false;
	ret = katls_frame_next(&s->rd, &f);
	if (ret)
		return read_error(s, ret, "verdict");
	if (f.type != want) {
		if (f.type != KATLS_FRAME_VERDICT)
			return fail(s, KATLS_R_FRAMING, true, "expected the peer's verdict, got "
				    "message type 0x%02x", f.type);
		ret = peer_verdict(s, &f, true);
		if (!ret)
			s->out->attested = true;
		return ret;
	}
	katls_ea_request_cleanup(&s->theirs);
	if (katls_ea_request_parse(&s->theirs, f.msg, f.msg_len, 0))
		return fail(s, KATLS_R_EA_MALFORMED, true, "malformed authenticator request");
	if (katls_ima_hint_of_request(&s->theirs, &h) != -ENOENT)
		return fail(s, KATLS_R_FRAMING, true, "the verifier asked again with an IMA prefix");
	return send_authenticator(s) ?: read_verdict(s);
}

static int run_client(struct sess *s)
{
	struct katls_hello h;
	int ret;

	ret = send_hello(s);
	if (!ret && wants_peer(s->p->mode))
		ret = send_request(s);
	if (!ret)
		ret = read_hello(s, &h);
	if (!ret && (h.flags & KATLS_HELLO_WANTS_PEER_ATTESTATION))
		ret = read_request(s);
	/*
	 * Mutual: the server quotes before its authenticator and sends its
	 * request before that.  We gather our Evidence now, so that the two
	 * quotes overlap, and send it only once the server's has been verified:
	 * a server that fails verification learns nothing, and it may have
	 * cost us a quote only on a connection we chose to make.
	 */
	if (!ret && wants_peer(s->p->mode) && (h.flags & KATLS_HELLO_WANTS_PEER_ATTESTATION))
		ret = prepare_authenticator(s);
	if (!ret && wants_peer(s->p->mode))
		ret = verify_peer(s);
	if (!ret && (h.flags & KATLS_HELLO_WANTS_PEER_ATTESTATION)) {
		ret = send_authenticator(s);
		if (!ret)
			ret = read_verdict(s);
	}
	return ret;
}

static int run_server(struct sess *s)
{
	struct katls_hello h;
	int ret;

	ret = read_hello(s, &h);
	if (!ret && (h.flags & KATLS_HELLO_WANTS_PEER_ATTESTATION))
		ret = read_request(s);
	if (!ret)
		ret = send_hello(s);
	if (!ret && wants_peer(s->p->mode))
		ret = send_request(s);
	if (!ret && (h.flags & KATLS_HELLO_WANTS_PEER_ATTESTATION)) {
		ret = send_authenticator(s);
		if (!ret)
			ret = read_verdict(s);
	}
	if (!ret && wants_peer(s->p->mode))
		ret = verify_peer(s);
	return ret;
}

/* Everything queued goes out before we wait for the peer's answer to it. */
static ssize_t tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct sess *s = arg;
	int ret = flush(s);

	return ret ? ret : s->p->tr.read(s->p->tr.arg, buf, len);
}

int katls_session_run(const struct katls_session_params *p, struct katls_session_result *out)
{
	struct sess s;
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	s.p = p;
	s.out = out;
	s.first = true;
	if (!p || !p->ex || !p->tr.read || !p->tr.write ||
	    (p->role != KATLS_ROLE_CLIENT && p->role != KATLS_ROLE_SERVER) ||
	    (p->mode != KATLS_MODE_VERIFY_PEER && p->mode != KATLS_MODE_ATTEST_SELF &&
	     p->mode != KATLS_MODE_MUTUAL) ||
	    (wants_peer(p->mode) && (!p->verify || !p->verify->policy))) {
		out->reason = KATLS_R_INTERNAL;
		snprintf(out->msg, sizeof(out->msg), "katls_session_run: bad parameters");
		return -EINVAL;
	}
	katls_ea_crc_set_init(&s.used);
	katls_frame_reader_init(&s.rd, tr_read, &s, 0);
	ret = p->role == KATLS_ROLE_CLIENT ? run_client(&s) : run_server(&s);
	/* the last flight: a verdict, or the refusal that fail() queued */
	if (flush(&s) && !ret)
		ret = fail(&s, KATLS_R_INTERNAL, false, "cannot send to the peer: %s",
			   strerror(-s.write_err));
	if (!ret) {
		out->reason = KATLS_R_OK;
		snprintf(out->msg, sizeof(out->msg), "attestation exchange complete");
	}
	katls_frame_reader_cleanup(&s.rd);
	katls_buf_cleanup(&s.pending);
	katls_buf_cleanup(&s.ours.auth);
	katls_ima_prefix_unref(s.offered);
	katls_ea_request_cleanup(&s.mine);
	katls_ea_request_cleanup(&s.theirs);
	katls_ea_crc_set_cleanup(&s.used);
	return ret;
}

void katls_session_result_cleanup(struct katls_session_result *res)
{
	if (res)
		katls_verify_result_cleanup(&res->peer);
}
