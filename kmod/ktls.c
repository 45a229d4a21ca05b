// SPDX-License-Identifier: GPL-2.0
/*
 * Does a socket carry kernel TLS in both directions?  The daemon claims so in
 * REQUEST_DONE; the module checks before it tells the application the socket
 * is attested.  Read under the socket lock, which TCP_ULP and TLS_TX/TLS_RX
 * also take, so the ULP data cannot change or go away underneath.
 */
#include <net/inet_connection_sock.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tls.h>

#include "ktls.h"

static bool conf_is_crypto(unsigned int conf)
{
	return conf == TLS_SW || conf == TLS_HW;
}

/**
 * katls_ktls_active - true if @sk has ULP "tls" with TX and RX crypto set
 * @sk: a TCP socket the caller keeps alive
 *
 * Context: process context; takes the socket lock.
 */
bool katls_ktls_active(struct sock *sk)
{
	const struct tcp_ulp_ops *ulp;
	struct tls_context *ctx;
	bool ok = false;

	lock_sock(sk);
	ulp = inet_csk(sk)->icsk_ulp_ops;
	if (ulp && !strcmp(ulp->name, "tls")) {
		ctx = tls_get_ctx(sk);
		ok = ctx && conf_is_crypto(ctx->tx_conf) && conf_is_crypto(ctx->rx_conf);
	}
	release_sock(sk);
	return ok;
}
