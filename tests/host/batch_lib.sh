# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# tests/host/batch_lib.sh: quote batching on the build machine (sourced by
# tests/host/test_batch.sh and bench/batch_serve.sh, after swtpm.sh, pki.sh
# and attest_lib.sh).  The TPM is a fresh swtpm behind tests/host/tpm_delay,
# the latency proxy FOR TESTS AND BENCHES, so that its quotes take as long as
# a real chip's.
#
#   batch_setup DIR QUOTE_MS   test PKI (server.test), swtpm, tpm_delay with
#                              TPM2_Quote at QUOTE_MS ms (KATLS_TCTI and
#                              TPM2TOOLS_TCTI point at the proxy), the AK,
#                              an IMA log extended into PCR 10, policy
#                              DIR/p.json (AK pinned by its TPM Name, IMA
#                              allowlist DIR/runtime.json)
#   batch_serve ARGS...        katls serve (concurrent connections, server
#                              attests) on a free port in the background:
#                              BS_PORT, BS_PID, BS_LOG
#   batch_serve_stop           stop it
#   batch_load ARGS...         attest_load connect against it (CA, policy,
#                              name given); its output in DIR/load.out, exit
#                              status in LOAD_RC
#   load_field KEY             KEY= from the first "load:" line of DIR/load.out
#   batch_quotes               TPM2_Quote commands the proxy has answered
#   batch_wait_quote_started N until the proxy has begun its quote N
#   batch_proxy_stop           stop the proxy (batch_cleanup does it too)
#   batch_cleanup              stop everything started here

_bl_dir=""
BS_PID=""
PX_PID=""

batch_setup() {
	local dir=$1 ms=$2 _
	_bl_dir=$dir
	pki_ca "$dir" ca && pki_leaf "$dir" ca server server.test || return 1
	swtpm_start || return 1
	: >"$dir/proxy.log"
	rm -f "$dir/proxy.port"
	"$KATLS_BUILD/tests/host/tpm_delay" --upstream "127.0.0.1:$SWTPM_PORT" --quote-ms "$ms" \
		--port-file "$dir/proxy.port" --log "$dir/proxy.log" --fail-file "$dir/tpm-fails" \
		--drop-file "$dir/tpm-drops" 2>"$dir/proxy.err" &
	PX_PID=$!
	for _ in $(seq 50); do [ -s "$dir/proxy.port" ] && break; sleep 0.1; done
	[ -s "$dir/proxy.port" ] || { cat "$dir/proxy.err" >&2; return 1; }
	export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$(cat "$dir/proxy.port")"
	export KATLS_TCTI=$TPM2TOOLS_TCTI
	"$KATLS" provision --out "$dir/ak.pem" --name "$dir/ak.name" >/dev/null \
		2>"$dir/provision.err" ||
		{ cat "$dir/provision.err" >&2; return 1; }
	ima_true_setup "$dir" || return 1
	cat >"$dir/p.json" <<JSON
{ "name": "batch", "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_names": ["$(cat "$dir/ak.name")"], "ima": { "runtime_policy": "runtime.json" },
  "max_age_s": 300 }
JSON
}

batch_serve() {
	local _ try
	# A port found free can be taken before the server binds it: retry.
	for try in 1 2 3 4 5; do
		BS_PORT=$(free_port) || return 1
		BS_LOG=$_bl_dir/serve.$BS_PORT.log
		"$KATLS" serve --port "$BS_PORT" --cert "$_bl_dir/server.pem" \
			--key "$_bl_dir/server.key" --ima-log "$_bl_dir/ima.log" --timeout 60 "$@" \
			>"$BS_LOG" 2>&1 &
		BS_PID=$!
		for _ in $(seq 50); do
			grep -q "listening on" "$BS_LOG" && return 0
			kill -0 "$BS_PID" 2>/dev/null || break
			sleep 0.1
		done
		wait "$BS_PID" 2>/dev/null
		BS_PID=""
		grep -q "Address already in use" "$BS_LOG" || break
	done
	cat "$BS_LOG" >&2
	return 1
}

batch_serve_stop() {
	[ -n "$BS_PID" ] || return 0
	kill "$BS_PID" 2>/dev/null
	wait "$BS_PID" 2>/dev/null
	BS_PID=""
}

batch_load() {
	LOAD_RC=0
	"$KATLS_BUILD/tests/host/attest_load" connect "127.0.0.1:$BS_PORT" --ca "$_bl_dir/ca.pem" \
		--policy "$_bl_dir/p.json" --name server.test "$@" >"$_bl_dir/load.out" \
		2>"$_bl_dir/load.err" || LOAD_RC=$?
}

load_field() {
	grep -o "\b$1=[^ ]*" "$_bl_dir/load.out" | head -n1 | cut -d= -f2
}

batch_quotes() {
	grep -Ec '^quote [0-9]+ (delayed|failed)' "$_bl_dir/proxy.log"
}

# batch_wait_quote_started N: until the proxy has begun quote N (10 s)
batch_wait_quote_started() {
	local _
	for _ in $(seq 100); do
		grep -q "^quote $1 started" "$_bl_dir/proxy.log" && return 0
		sleep 0.1
	done
	return 1
}

batch_proxy_stop() {
	[ -n "$PX_PID" ] || return 0
	kill "$PX_PID" 2>/dev/null
	wait "$PX_PID" 2>/dev/null
	PX_PID=""
}

batch_cleanup() {
	batch_serve_stop
	batch_proxy_stop
	swtpm_stop_all
}
