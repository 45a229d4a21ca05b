#!/bin/bash
# End to end on the real thing: katls serve / katls connect inside the VM with
# the guest's TPM (/dev/tpmrm0), the kernel's own IMA list (read through
# katls.ko's IMA_GET) and the module's kernel state in the Evidence.
. "$(dirname "$0")/lib.sh"
. "$top/tests/host/pki.sh"
need openssl; need jq; need tpm2_pcrread
export KATLS_TCTI=device:/dev/tpmrm0 TPM2TOOLS_TCTI=device:/dev/tpmrm0
work=$(mktemp -d)
spid=""
trap '[ -n "$spid" ] && kill $spid 2>/dev/null; rm -rf "$work"' EXIT

pki_ca "$work" ca && pki_leaf "$work" ca server server.test || { bad "test PKI"; exit 1; }
check "katls provision creates the AK" $katls provision --out "$work/ak.pem"
taint=$(cat /proc/sys/kernel/tainted)
# policy FILE ALLOWED_TAINT: IMA replay against the quoted PCR 10 (no
# allowlist: the guest's list is whatever it booted with) and kernel rules.
policy() {
	cat >"$1" <<JSON
{ "name": "vm", "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["ak.pem"], "ima": { "required": true },
  "kernel": { "allow_taint_mask": $2, "require_tpm": true }, "max_age_s": 60 }
JSON
}
policy "$work/ok.json" "$taint"
policy "$work/strict.json" 0

# run_pair POLICY: one serve --once + one connect; connect's JSON in $work/out.json
run_pair() {
	local port=$((20000 + RANDOM % 20000)) rc=0
	$katls serve --once --addr 127.0.0.1 --port $port --cert "$work/server.pem" \
		--key "$work/server.key" --policy "$work/ok.json" >"$work/serve.log" 2>&1 &
	spid=$!
	for _ in $(seq 100); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
	$katls connect 127.0.0.1:$port --ca "$work/ca.pem" --name server.test \
		--policy "$1" --json >"$work/out.json" 2>"$work/connect.err" || rc=$?
	wait $spid 2>/dev/null; spid=""
	return $rc
}

rc=0; run_pair "$work/ok.json" || rc=$?
cat "$work/out.json" "$work/connect.err"
check "connect accepts the guest's Evidence (exit $rc)" [ "$rc" = 0 ]
check "result is accepted" [ "$(jq -r .result "$work/out.json")" = accepted ]
covered=$(jq -r '.evidence.ima.covered // 0' "$work/out.json")
count=$($katls status --json --pcrs none | jq .ima.count)
check "Evidence covers the kernel's IMA list ($covered of $count entries)" \
	[ "$covered" -gt 20 -a "$covered" -le "$count" ]
check "Evidence names this kernel" \
	[ "$(jq -r .evidence.kernel_release "$work/out.json")" = "$(uname -r)" ]

# The kernel record is appraised: this kernel is tainted (out-of-tree module).
rc=0; run_pair "$work/strict.json" || rc=$?
check "a policy allowing no taint refuses (exit $rc = 4)" [ "$rc" = 4 ]
check "reason is kernel-state" [ "$(jq -r .reason "$work/out.json")" = kernel-state ]
done_testing
