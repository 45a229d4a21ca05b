#!/bin/bash
# Quote batching in the kernel path (docs/wire.md "Quote batching"): katlsd
# batches the quotes of its workers.  The guest's TPM (swtpm as tpm-tis) is
# reached through tests/host/tpm_delay, the latency proxy FOR TESTS, so that
# every TPM2_Quote takes QUOTE_MS and concurrent requests queue behind it:
#   1. eight setsockopt clients against a setsockopt server, both through one
#      katlsd: every connection attested, the TPM made fewer quotes than there
#      were connections, verifiers saw shared quotes;
#   2. userspace and kernel modes interoperate with batching on and off on
#      either side (katls connect against katlsd's attester, setsockopt
#      clients against katls serve, katlsd's quote_batch.enabled switched off
#      and on with SIGHUP);
#   3. the TPM fails mid-batch: every request of that batch is refused with
#      the TPM's reason and both ends' sockets stay closed (gate FAILED,
#      socket shut down), then the TPM works again.
# A long quote (QUOTE_MS) gives the concurrent requests time to queue under
# TCG; assertions accept any split of them into batches.
# Asserts outcomes, never timings.
. "$(dirname "$0")/lib.sh"
need jq; need openssl
. "$top/tests/vm/daemon_lib.sh"
QUOTE_MS=3000
probe=$tools/daemon_probe
daemon_setup

# the TPM behind the latency proxy, for katlsd and katls serve alike
$build/tests/host/tpm_delay --device /dev/tpmrm0 --quote-ms $QUOTE_MS --port-file "$work/px.port" \
	--log "$work/px.log" --fail-file "$work/tpm-fails" >"$work/px.err" 2>&1 &
px_pid=$!
wait_file "$work/px.port" 50 && [ -s "$work/px.port" ] ||
	{ echo "FAIL - tpm_delay did not start"; cat "$work/px.err"; exit 1; }
px_tcti="swtpm:host=127.0.0.1,port=$(cat "$work/px.port")"
stop_proxy() { [ -n "$px_pid" ] || return 0; kill "$px_pid" 2>/dev/null || true; wait "$px_pid" 2>/dev/null || true; px_pid=""; }
trap 'stop_proxy; cleanup_daemon' EXIT
quotes() { grep -Ec '^quote [0-9]+ (delayed|failed)' "$work/px.log" || true; }
jq --arg t "$px_tcti" '.tpm.tcti = $t' "$work/katlsd.json" >"$work/k.tmp" && mv "$work/k.tmp" "$work/katlsd.json"
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
# Every loopback connection a client makes to 7700-7720 needs attestation (the
# rule names no policy: the client's default stands); the server ends are held
# PENDING by katlsd while their requests run.
for p in $(seq 7700 7720); do
	$katls policy add 127.0.0.1 port $p --direction out >/dev/null ||
		{ echo "FAIL - rule $p"; exit 1; }
done
start_katlsd

# set_batching on|off: katlsd.json quote_batch.enabled, reloaded with SIGHUP
set_batching() {
	local n
	jq --argjson e "$([ "$1" = on ] && echo true || echo false)" '.quote_batch.enabled = $e' \
		"$work/katlsd.json" >"$work/k.tmp" && mv "$work/k.tmp" "$work/katlsd.json"
	n=$(grep -c reloaded "$kd_log" || true)
	kill -HUP "$kd_pid"
	for _ in $(seq 50); do [ "$(grep -c reloaded "$kd_log")" -gt "$n" ] && break; sleep 0.1; done
}

# ---- 1. katlsd batches across its workers ---------------------------------
port=7600
start_server -p $port -n 8 -m attest
q0=$(quotes)
pids=()
for i in $(seq 8); do
	$cli -t 60000 -n server.test 127.0.0.1 $port "ping-$i" >"$work/cli$i.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
wait "$srv_pid" 2>/dev/null || true
q=$(($(quotes) - q0))
n=$(grep -l "reply: echo: ping-" "$work"/cli?.out | wc -l || true)
check "8 concurrent attested connections through katlsd: all 8 echoed ($n)" [ "$n" = 8 ]
check "the TPM made fewer quotes than connections ($q for 8)" [ "$q" -lt 8 ]
check "katlsd's attester shared quotes between workers" \
	grep -Eq "event=verdict req=[0-9]+ role=server mode=attest result=accepted .* quote_batch=[2-8] quote_leaf=[0-7] " "$kd_log"
check "katlsd's verifiers proved their own leaf in shared quotes" \
	grep -q "client/verify: peer Evidence: .*quote batch [2-8] (leaf" "$kd_log"

# ---- 2. interop, batching on and off on either side --------------------------
# connect_n N PORT ARGS...: N concurrent katls connect --json, outputs $work/kc*.json
connect_n() {
	local n=$1 port=$2 i pids=()
	shift 2
	rm -f "$work"/kc*.json
	for i in $(seq "$n"); do
		$katls connect 127.0.0.1:$port --ca "$work/ca.pem" --name server.test --timeout 60 \
			--policy "$work/policies.json" --policy-name vm --json "$@" \
			>"$work/kc$i.json" 2>"$work/kc$i.err" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || true; done
}
accepted() { grep -l '"result": *"accepted"' "$work"/kc*.json 2>/dev/null | wc -l || true; }
shared() { grep -l '"quote_batch"' "$work"/kc*.json 2>/dev/null | wc -l || true; }

# kernel attester (katlsd), userspace verifier (katls connect)
for kd in on off; do
	set_batching $kd
	for uv in on off; do
		port=$((port + 1))
		start_server -p $port -n 4 -m attest
		if [ $uv = on ]; then connect_n 4 $port; else connect_n 4 $port --no-batch; fi
		wait "$srv_pid" 2>/dev/null || true
		check "katlsd attests (batching $kd), katls connect verifies (batching $uv): 4/4" \
			[ "$(accepted)" = 4 ]
		if [ $kd = on ] && [ $uv = on ]; then
			check "... and shares quotes" [ "$(shared)" -ge 2 ]
		else
			check "... with a quote of its own each" [ "$(shared)" = 0 ]
		fi
	done
done
set_batching on

# userspace attester (katls serve), kernel verifier (katlsd)
for us in on off; do
	for kd in on off; do
		set_batching $kd
		port=$((port + 1))
		args=(); [ $us = off ] && args=(--no-batch)
		$katls serve --port $port --cert "$work/host.pem" --key "$work/host.key" \
			--tcti "$px_tcti" --timeout 60 "${args[@]}" >"$work/serve.log" 2>&1 &
		spid=$!
		for _ in $(seq 100); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
		mark=$(wc -l <"$kd_log")
		pids=()
		for i in 1 2 3 4; do
			$cli -t 60000 -n server.test 127.0.0.1 $port "ping-$i" >"$work/cli$i.out" 2>&1 &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || true; done
		kill $spid 2>/dev/null || true
		wait $spid 2>/dev/null || true
		n=$(grep -l "reply: ping-" "$work"/cli[1-4].out | wc -l || true)
		check "katls serve attests (batching $us), katlsd verifies (batching $kd): 4/4 ($n)" \
			[ "$n" = 4 ]
		b=$(tail -n +"$((mark + 1))" "$kd_log" | grep -c "client/verify: peer Evidence: .*quote batch" || true)
		if [ $us = on ] && [ $kd = on ]; then
			check "... and katlsd's verifiers saw shared quotes ($b)" [ "$b" -ge 2 ]
		else
			check "... with a quote of its own each" [ "$b" = 0 ]
		fi
	done
done
set_batching on

# ---- 3. the TPM fails mid-batch -----------------------------------------------
# A blocker pair's quote is in flight when the TPM starts failing (its own
# outcome is not asserted: katls_tpm_quote retries a quote during which IMA
# moved PCR 10, and that retry meets the failing TPM); the five pairs that
# queue behind it share the next quote, which fails: each of the five
# attesters is refused with the TPM's reason, each verifier sees the
# refusal, and all ten sockets are shut down with their gate FAILED.  Then
# the TPM works again.
probe_pair() {	# probe_pair PORT TAG: a daemon_probe server (attests) and client
	local sp
	$probe serve $1 -m attest -t 60000 >"$work/ps$2.out" 2>&1 &
	sp=$!
	echo "$sp" >"$work/ps$2.pid"
	for _ in $(seq 50); do grep -q listening "$work/ps$2.out" && break; sleep 0.1; done
	$probe connect 127.0.0.1 $1 -n server.test -t 60000 >"$work/pc$2.out" 2>&1 || true
	wait "$sp" || true
}
n=$(($(grep -c '^quote [0-9]* started' "$work/px.log" || true) + 1))
probe_pair 7700 0 &
first=$!
for _ in $(seq 200); do grep -q "^quote $n started" "$work/px.log" && break; sleep 0.1; done
touch "$work/tpm-fails"
pids=()
for i in 1 2 3 4 5; do probe_pair $((7700 + i)) $i & pids+=($!); done
wait $first || true
for p in "${pids[@]}"; do wait "$p" || true; done
sed 's/^/    /' "$work"/pc?.out "$work"/ps?.out
check "mid-batch: all five attesters refused, socket shut down, gate FAILED" \
	[ "$(grep -lE 'result=E[A-Z]+ .*gate=failed .*after=write:(EPIPE|ENOTCONN|EACCES)' "$work"/ps[1-5].out | wc -l)" = 5 ]
check "mid-batch: all five verifiers refused (ea-empty), socket shut down, gate FAILED" \
	[ "$(grep -lE 'result=EACCES reason=8 .*gate=failed .*after=write:(EPIPE|ENOTCONN|EACCES)' "$work"/pc[1-5].out | wc -l)" = 5 ]
# refused_by_tpm TAG: katlsd refused the server probe TAG's request for its quote's failure
refused_by_tpm() {
	local req
	req=$(grep -o "req [0-9]* server/attest: pid $(cat "$work/ps$1.pid") " "$kd_log" | cut -d' ' -f2)
	[ -n "$req" ] && grep -Eq "event=verdict req=$req role=server mode=attest result=refused .*msg=\"cannot attest: TPM quote for a batch of [0-9]+ requests? failed: TPM2_Quote: Input/output error\"" "$kd_log"
}
n=0
for i in 1 2 3 4 5; do refused_by_tpm $i && n=$((n + 1)); done
check "mid-batch: katlsd names the failed quote of its batch for each of the five ($n)" [ "$n" = 5 ]
check "mid-batch: ... they queued behind the quote in flight and shared the failed one" \
	grep -Eq "role=server mode=attest result=refused .*TPM quote for a batch of [2-5] requests failed" "$kd_log"
check "mid-batch: no application byte reached any of them" \
	bash -c "! grep -q 'first=[^-]' $work/ps[1-5].out $work/pc[1-5].out"
rm -f "$work/tpm-fails"
probe_pair 7710 9
check "mid-batch: the TPM works again afterwards" grep -q "result=ok .*gate=attested" "$work/pc9.out"

check "no request left in the module" [ "$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0 ]
stop_katlsd
stop_proxy
echo "---- tpm_delay log"; cat "$work/px.log"
echo "---- katlsd log"; cat "$kd_log"
done_testing
