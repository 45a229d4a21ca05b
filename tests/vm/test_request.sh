#!/bin/bash
# KATLS_SO_ATTEST end to end with a test responder playing the daemon: the
# happy path over kTLS (IPv4 and IPv6), the workload identity the daemon gets,
# and the failure matrix: bad sockets and structs, no daemon, verdict
# refused, DONE without kTLS, timeout, signal, second ATTEST, daemon exit,
# malformed and unprivileged netlink requests.
. "$(dirname "$0")/lib.sh"
need jq; need setpriv; need sha256sum
load_tls_crypto
ac=$tools/attest_client
tls_stat() { awk -v k="$1" '$1 == k {print $2}' /proc/net/tls_stat; }

check "katls.ko is loaded" grep -q '^katls ' /proc/modules
check "no daemon registered at load" [ "$(kstat .requests.daemon)" = false ]

# -- unsuitable sockets and malformed structs (no daemon) -----------------
check "socket and struct matrix (v4, v6)" $ac matrix
check "daemon-side ops with bad input" $tools/reqprobe
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
check "unprivileged ACCEPT/DONE/REGISTER/IMA_GET: EPERM" nobody $tools/reqprobe nopriv

# -- no daemon: fails fast ------------------------------------------------
t0=$(date +%s%N)
check "no daemon: ECONNREFUSED, socket left alone" $ac run --expect ECONNREFUSED
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "no daemon fails fast (${ms} ms)" [ "$ms" -lt 2000 ]

# -- happy path ------------------------------------------------------------
tx0=$(tls_stat TlsTxSw); rx0=$(tls_stat TlsRxSw)
start_responder ok
$ac run --count 3 & cpid=$!
check "attest: setsockopt 0, data crosses kTLS both ways (v4)" wait $cpid
check "attest over IPv6" $ac run --v6
check "second ATTEST on an attested socket: EISCONN" $ac again
tx1=$(tls_stat TlsTxSw); rx1=$(tls_stat TlsRxSw)
check "tls_stat counted the kTLS sockets (TlsTxSw $tx0 -> $tx1, TlsRxSw $rx0 -> $rx1)" \
	[ $((tx1 - tx0)) -ge 10 -a $((rx1 - rx0)) -ge 10 ]
line=$(grep "pid=$cpid " "$resp_log" | head -n1)
echo "  responder saw: $line"
check "daemon got the parameters" grep -q "role=1 mode=1 timeout=30000 policy=test-policy server=server.test" <<<"$line"
check "daemon got uid 0 and a cgroup id" grep -Eq "uid=0 cgroup=[1-9]" <<<"$line"
check "daemon got the exe path" grep -q "exe=$ac " <<<"$line"
want=$(sha256sum "$ac" | cut -d' ' -f1)
check "daemon got the exe's IMA sha256 digest" grep -q "algo=4/sha256 digest=$want" <<<"$line"
stop_responder

# -- verdicts and daemon misbehaviour ---------------------------------------
start_responder fail
check "verdict refused: EACCES, status FAILED reason 42, socket shut down" $ac run --expect EACCES
stop_responder
start_responder noktls
check "DONE(0) without kTLS: EPROTO for the app" $ac run --expect EPROTO
check "... and DONE itself returned EPROTO" grep -q "done-without-ktls.*-> -71" "$resp_log"
stop_responder

start_responder hold
check "timeout: ETIMEDOUT, socket shut down" $ac run --timeout 800 --expect ETIMEDOUT
check "signal: EINTR, request cancelled, socket shut down" $ac run --timeout 20000 --alarm 500 --expect EINTR
check "second ATTEST while pending: EALREADY" $ac second --timeout 1500
check "held requests are accepted, not queued" [ "$(kstat .requests.queued)" = 0 ]
stop_responder

start_responder exit
t0=$(date +%s%N)
check "daemon exits mid-request: ECONNABORTED" $ac run --timeout 20000 --expect ECONNABORTED
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "daemon exit noticed at once (${ms} ms)" [ "$ms" -lt 5000 ]
stop_responder
check "no daemon registered after it exited" [ "$(kstat .requests.daemon)" = false ]
check "no daemon again: ECONNREFUSED" $ac run --expect ECONNREFUSED

# -- nothing left behind -----------------------------------------------------
st=$($katls status --json --pcrs none)
check "no request objects left ($(jq -c .requests <<<"$st"))" \
	[ "$(jq '.requests.queued + .requests.accepted + .requests.sockets' <<<"$st")" = 0 ]
check "rmmod katls" rmmod katls
done_testing
