#!/bin/bash
# EA + Evidence verification rate on a real exchange: a fresh swtpm, a test
# PKI, a synthetic IMA log of $IMA_ENTRIES entries extended into PCR 10 with
# its allowlist; katls serve + katls connect --save-evidence, then
# bench_verify on the saved exchange.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
KATLS=$build/katls
n=${IMA_ENTRIES:-200}
. "$top/tests/host/swtpm.sh"
. "$top/tests/host/pki.sh"
. "$top/tests/host/attest_lib.sh"
work=$(mktemp -d)
trap 'serve_kill_all; swtpm_stop_all; rm -rf "$work"' EXIT

swtpm_start
pki_ca "$work" ca && pki_leaf "$work" ca server server.test
"$KATLS" provision --out "$work/ak.pem" >/dev/null
"$build/tests/host/ima_synth" --out "$work/ima.log" --count "$n" \
	--allowlist "$work/runtime.json" >"$work/digests"
while read -r d; do tpm2_pcrextend "10:sha256=$d"; done <"$work/digests"
cat >"$work/p.json" <<JSON
{ "name": "bench", "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["ak.pem"], "ima": { "runtime_policy": "runtime.json" } }
JSON
serve_start --cert "$work/server.pem" --key "$work/server.key" --ima-log "$work/ima.log"
"$KATLS" connect "127.0.0.1:$SERVE_PORT" --ca "$work/ca.pem" --name server.test \
	--policy "$work/p.json" --save-evidence "$work/saved" >/dev/null
serve_wait
echo "IMA log: $n entries (+ nothing else); quote: swtpm ECDSA P-256"
"$build/bench/bench_verify" "$work/saved" "$work/p.json" 3
