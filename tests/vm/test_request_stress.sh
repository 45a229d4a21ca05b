#!/bin/bash
# KATLS_SO_ATTEST under load: 1,000 sequential and 100 concurrent attested
# sockets through the test responder; afterwards the daemon's fd count is back
# to its start and no request or socket object remains.  rmmod while requests
# are in flight fails as busy, and succeeds once they timed out and the
# sockets are gone.  Reports the per-socket kernel memory.
. "$(dirname "$0")/lib.sh"
need jq
load_tls_crypto
ac=$tools/attest_client

mem=$(dmesg | grep -o 'katls: per-socket state.*' | tail -n1)
echo "  $mem"
sock_bytes=$(sed -n 's/.*per-socket state [0-9]* bytes (slab \([0-9]*\)).*/\1/p' <<<"$mem")
check "per-socket kernel memory ($sock_bytes bytes) <= 256" [ -n "$sock_bytes" ] && [ "$sock_bytes" -le 256 ]

start_responder ok --count 1100
t0=$(date +%s)
check "1000 sequential attestations" $ac run --count 1000
t1=$(date +%s)
check "100 concurrent attestations" $ac run --count 100 --threads 100
t2=$(date +%s)
echo "  sequential: $((t1 - t0)) s, concurrent: $((t2 - t1)) s"
check "responder served 1100 requests, fd count back to its start" wait $resp_pid
tail -n1 "$resp_log"
check "the daemon was woken by REQUEST_READY events" grep -Eq "request\(s\), [1-9][0-9]* REQUEST_READY" "$resp_log"
for i in $(seq 50); do [ "$(kstat .requests.sockets)" = 0 ] && break; sleep 0.1; done
st=$($katls status --json --pcrs none)
check "no request or socket objects left ($(jq -c .requests <<<"$st"))" \
	[ "$(jq '.requests.queued + .requests.accepted + .requests.sockets' <<<"$st")" = 0 ]
check "module refcount back to 0" [ "$(cat /sys/module/katls/refcnt)" = 0 ]

# rmmod with requests in flight
start_responder hold
$ac run --count 5 --threads 5 --timeout 4000 --expect ETIMEDOUT & cpid=$!
for i in $(seq 100); do [ "$(kstat .requests.accepted)" = 5 ] && break; sleep 0.1; done
check "5 requests in flight" [ "$(kstat .requests.accepted)" = 5 ]
set +e; out=$(rmmod katls 2>&1); rc=$?; set -e
check "rmmod while requests are in flight fails as busy ($out)" [ "$rc" != 0 ]
grep -qi "in use\|busy" <<<"$out" || bad "rmmod message names the busy module"
check "module still loaded" grep -q '^katls ' /proc/modules
check "every waiter woke with ETIMEDOUT" wait $cpid
stop_responder
for i in $(seq 50); do [ "$(kstat .requests.sockets)" = 0 ] && break; sleep 0.1; done
check "sockets released after the daemon closed its fds" [ "$(kstat .requests.sockets)" = 0 ]
check "rmmod after the requests completed" rmmod katls
done_testing
