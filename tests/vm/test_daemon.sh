#!/bin/bash
# katlsd end to end in the VM: the example client and server (one setsockopt
# each) on one host, one katlsd serving both ends at once: server attests,
# mutual, IPv4 and IPv6, every kTLS cipher suite (config reload with SIGHUP),
# and interop with the userspace mode on the wire (katls connect against a
# setsockopt server, a setsockopt client against katls serve).
. "$(dirname "$0")/lib.sh"
need jq; need openssl
. "$top/tests/vm/daemon_lib.sh"
daemon_setup
start_katlsd

port=7400
# pair NAME "SERVER ARGS" "CLIENT ARGS": one connection ($port is the new
# port in both); client output in $work/cli.out
pair() {
	local name=$1 rc=0
	port=$((port + 1))
	eval "start_server -p $port -n 1 $2"
	eval "\$cli $3" >"$work/cli.out" 2>&1 || rc=$?
	wait "$srv_pid" 2>/dev/null || true
	sed 's/^/    /' "$work/cli.out"
	check "$name: attested, echo received (exit $rc)" \
		grep -q "reply: echo: ping-$port" "$work/cli.out"
}
last_log() { grep "$1" "$kd_log" | tail -n1; }

tx0=$(tls_stat TlsTxSw); rx0=$(tls_stat TlsRxSw)
pair "server attests, client verifies (IPv4)" "-m attest" '-n server.test 127.0.0.1 $port ping-$port'
check "both requests ran in katlsd" [ "$(grep -c 'event=verdict .* result=accepted ' "$kd_log")" -ge 2 ]
host_sha=$(openssl x509 -in "$work/host.pem" -outform DER | sha256sum | cut -c1-16)
check "KATLS_SO_STATUS names the peer: SHA-256 of its certificate ($host_sha)" \
	grep -q "peer sha256:$host_sha" "$work/cli.out"
check "kTLS carried it: TlsTxSw +2, TlsRxSw +2" \
	[ $(($(tls_stat TlsTxSw) - tx0)) -ge 2 -a $(($(tls_stat TlsRxSw) - rx0)) -ge 2 ]
check "the verifier saw the server's workload (exe, digest)" \
	grep -q "peer Evidence: .*workload $srv sha256:$(sha256sum "$srv" | cut -c1-64)" "$kd_log"
pair "mutual (IPv4)" "-m mutual" '-m mutual -n server.test 127.0.0.1 $port ping-$port'
check "mutual: both ends verified their peer" \
	[ "$(grep -c 'result=accepted .* peer_verified=true self_attested=true ' "$kd_log")" -ge 2 ]
pair "client attests, server verifies" "-m verify" '-m attest -n server.test 127.0.0.1 $port ping-$port'
pair "server attests (IPv6)" "-6 -m attest" '-n server.test ::1 $port ping-$port'
pair "mutual (IPv6)" "-6 -m mutual" '-m mutual -n server.test ::1 $port ping-$port'

# ---- every kTLS cipher suite: the config changes, SIGHUP reloads it
for suite in TLS_AES_128_GCM_SHA256:aes-128-gcm TLS_AES_256_GCM_SHA384:aes-256-gcm \
	     TLS_CHACHA20_POLY1305_SHA256:chacha20-poly1305; do
	jq --arg s "${suite%%:*}" '.ciphersuites = $s' "$work/katlsd.json" >"$work/k.tmp" &&
		mv "$work/k.tmp" "$work/katlsd.json"
	n=$(grep -c reloaded "$kd_log" || true)
	kill -HUP "$kd_pid"
	for _ in $(seq 50); do [ "$(grep -c reloaded "$kd_log")" -gt "$n" ] && break; sleep 0.1; done
	pair "suite ${suite%%:*}" "-m mutual" '-m mutual -n server.test 127.0.0.1 $port ping-$port'
	check "suite ${suite%%:*}: kTLS ${suite#*:} on both ends" \
		[ "$(grep -c "result=accepted .* cipher=${suite#*:} " "$kd_log")" -ge 2 ]
done

# ---- interop with the userspace mode (same wire bytes)
port=$((port + 1))
start_server -p $port -n 1 -m attest
rc=0
$katls connect 127.0.0.1:$port --ca "$work/ca.pem" --name server.test \
	--policy "$work/policies.json" --policy-name vm --json >"$work/conn.json" 2>&1 || rc=$?
wait "$srv_pid" 2>/dev/null || true
check "katls connect accepts a setsockopt server (exit $rc)" \
	[ "$(jq -r .result "$work/conn.json" 2>/dev/null)" = accepted ]
check "... whose Evidence names the server's workload" \
	[ "$(jq -r .evidence.workload_exe "$work/conn.json")" = "$srv" ]
port=$((port + 1))
$katls serve --once --port $port --cert "$work/host.pem" --key "$work/host.key" \
	>"$work/serve.log" 2>&1 &
spid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
rc=0; $cli -n server.test 127.0.0.1 $port "ping-$port" >"$work/cli.out" 2>&1 || rc=$?
cat "$work/cli.out" "$work/serve.log" | sed 's/^/    /'
check "a setsockopt client accepts katls serve (exit $rc)" grep -q "reply: ping-$port" "$work/cli.out"
wait $spid 2>/dev/null || true

check "no request left in the module" [ "$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0 ]
stop_katlsd
echo "---- katlsd log"; cat "$kd_log"
done_testing
