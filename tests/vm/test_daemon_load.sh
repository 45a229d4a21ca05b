#!/bin/bash
# 50 concurrent attested connections through one katlsd (both ends on this
# host: 100 requests at once, TPM quotes shared by the requests that queue
# behind the one in flight, docs/wire.md "Quote batching"): every one succeeds with
# its own authenticator request (distinct crc, hence its own binder: the
# verifier checks each quote against its own session's binder, so Evidence
# cannot cross connections), and afterwards katlsd holds no extra fd, the
# module no request and no socket state, the gate no stale entry.
. "$(dirname "$0")/lib.sh"
need jq; need openssl
. "$top/tests/vm/daemon_lib.sh"
N=${KATLS_LOAD_N:-50}
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
start_katlsd
fds0=$(ls /proc/$kd_pid/fd | wc -l)
start_server -p 7600 -n $N -m attest
t0=$(date +%s%N)
rc=0; $tools/daemon_load 127.0.0.1 7600 $N server.test >"$work/load.out" 2>&1 || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cat "$work/load.out"
check "$N concurrent attested connections all succeed (exit $rc, $ms ms)" \
	grep -q "^ok $N/$N" "$work/load.out"
wait "$srv_pid" 2>/dev/null || true
check "$N server-side Evidence gathers, each for a distinct crc" \
	[ "$(grep -o 'Evidence for crc [0-9a-f]*' "$kd_log" | sort -u | wc -l)" = $N ]
check "$((2 * N)) requests attested" [ "$(grep -c 'event=verdict .* result=accepted ' "$kd_log")" = $((2 * N)) ]
sleep 1
check "no request left in the module" [ "$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0 ]
check "no socket keeps katls state" [ "$(kstat .requests.sockets)" = 0 ]
fds1=$(ls /proc/$kd_pid/fd | wc -l)
check "katlsd fds back to $fds0 (now $fds1)" [ "$fds1" = "$fds0" ]
check "katlsd threads back to 3 (main, events, quote batcher): $(ls /proc/$kd_pid/task | wc -l)" \
	[ "$(ls /proc/$kd_pid/task | wc -l)" = 3 ]
echo "    quotes shared: $(grep -Ec 'role=server mode=attest result=accepted .* quote_batch=([2-9]|[1-9][0-9])' "$kd_log" || true) of $N server-side requests"
stop_katlsd
grep -v ': pid \|Evidence for\|peer Evidence\|event=verdict' "$kd_log" | head -20
done_testing
