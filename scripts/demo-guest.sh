#!/bin/bash
# The `make demo` guest script (runs inside the VM, scripts/vm.sh: katls.ko
# loaded, a swtpm TPM, IMA): provision the AK, start katlsd, load the BPF gate
# and a policy, run the example server (attesting) and client (verifying) and
# show the verdict, the Evidence summary and the kTLS counters; then two
# refusals: an unlisted binary ran on the attester (EACCES, the reason names
# it), and a REQUIRE-rule connection that never asks for attestation.  Exits
# non-zero (and says which) when any of the three does not turn out so.
top=$(cd "$(dirname "$0")/.." && pwd)
B=$top/build
katls=$B/katls
banner() { printf '\n==== %s\n' "$*"; }
status=0
failed() { echo "demo: FAILED: $*"; status=1; }
export KATLS_TCTI=device:/dev/tpmrm0 TPM2TOOLS_TCTI=device:/dev/tpmrm0
. "$top/tests/host/pki.sh"
work=$(mktemp -d)
modprobe -a tls gcm ghash_generic aesni_intel 2>/dev/null
trap 'kill $kd 2>/dev/null; $katls gate unload >/dev/null 2>&1' EXIT
# A Keylime runtime policy of everything measured so far.
allowlist() {
	awk '$3 == "ima-sig" || $3 == "ima-ng" { split($4, d, ":"); print d[2], $5 }' \
		/sys/kernel/security/ima/ascii_runtime_measurements |
	jq -R -s 'split("\n") | map(select(length > 0) | split(" ")) |
		reduce .[] as $e ({}; .[$e[1]] += [$e[0]]) | { "meta": { "version": 1 },
		"digests": ., "excludes": [], "keyrings": {}, "ima-buf": {} }' >"$1"
}

banner "katls status"
$katls status --pcrs 10
banner "provision the attestation key (AK) in the TPM"
pki_ca "$work" ca && pki_leaf "$work" ca host server.test || exit 1
$katls provision --out "$work/ak.pem"
cat >"$work/katlsd.json" <<JSON
{ "certificate": "host.pem", "key": "host.key", "ca": "ca.pem",
  "policies": "policies.json", "default_policy": "prod" }
JSON
cat >"$work/policies.json" <<JSON
{ "policies": { "prod": { "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["ak.pem"], "ima": { "required": true, "runtime_policy": "allow.json" },
  "kernel": { "allow_taint_mask": $(cat /proc/sys/kernel/tainted), "require_tpm": true },
  "max_age_s": 600 } } }
JSON
# first run everything the demo will run, then list it: the IMA allowlist
$B/examples/server -h >/dev/null 2>&1; $B/examples/client >/dev/null 2>&1
$B/katlsd --help >/dev/null; sleep 0; cat /dev/null; grep -q . /dev/null; tail -n1 /dev/null
python3 -c 1; ss -h >/dev/null; fold /dev/null; sed -n 1p /dev/null; cp /dev/null "$work/x"; awk 1 /dev/null; seq 1 >/dev/null; jq -n 1 >/dev/null; wait
# The binary of refusal 1, made now: cp reads /bin/true, which IMA measures
# (root reads are in the tcb policy), and that read belongs in the allowlist.
cp /bin/true "$KATLS_OUT/not-in-the-allowlist"; echo >>"$KATLS_OUT/not-in-the-allowlist"
allowlist "$work/allow.json"
echo "policy 'prod': CA, peer name server.test, pinned AK, IMA allowlist of $(jq '.digests | length' "$work/allow.json") files"

banner "start katlsd"
$B/katlsd --config "$work/katlsd.json" --ready "$work/ready" 2>"$work/katlsd.log" &
kd=$!
for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
cat "$work/katlsd.log"
banner "load the BPF gate; rule: connections this host makes to ports 4433-4435 require an attested peer"
# --direction out: the rule is the client's (it verifies the server under policy prod);
# the server end attests itself and verifies no one, so no rule covers the accepted side
$katls gate load && $katls policy add 127.0.0.1 port 4433 --direction out --policy prod &&
	$katls policy add 127.0.0.1 port 4434 --direction out --policy prod &&
	$katls policy add 127.0.0.1 port 4435 --direction out --policy prod && $katls policy list
kill -HUP $kd; sleep 0.5

banner "example server (attests) and client (verifies): one setsockopt each"
$B/examples/server -p 4433 -n 1 -m attest &
sleep 1
rx0=$(awk '$1 == "TlsRxSw" {print $2}' /proc/net/tls_stat)
$B/examples/client -n server.test 127.0.0.1 4433 "hello, attested world" ||
	failed "the attested connection"
wait %2 2>/dev/null
banner "verdict and Evidence summary (katlsd's log)"
grep -E "event=verdict|peer Evidence" "$work/katlsd.log" | sed 's/^katlsd: //' | fold -w 110
banner "kTLS counters (/proc/net/tls_stat)"
cat /proc/net/tls_stat

banner "refusal 1: an unlisted binary runs on the attester"
"$KATLS_OUT/not-in-the-allowlist"
$B/examples/server -p 4434 -n 1 -m attest &
sleep 1
rc=0; $B/examples/client -n server.test 127.0.0.1 4434 "secret" || rc=$?
echo "client exit status $rc"
[ "$rc" != 0 ] || failed "the client talked to an attester that ran an unlisted binary"
wait %3 2>/dev/null
echo "katlsd says:"
grep "role=client mode=verify result=refused" "$work/katlsd.log" | sed 's/^katlsd: //' | fold -w 110
grep -q "role=client mode=verify result=refused reason=ima-allowlist" "$work/katlsd.log" ||
	failed "katlsd did not name the unlisted binary (reason ima-allowlist)"

banner "refusal 2: a connection that matches a REQUIRE rule but never asks for attestation"
out=$(python3 -c 'import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 4435)); s.listen(1)
c = socket.create_connection(("127.0.0.1", 4435)); a, _ = s.accept()
try: c.send(b"plaintext secret"); print("sent?!")
except OSError as e: print("send:", e)
a.settimeout(1)
try: print("server received:", a.recv(100))
except OSError as e: print("server recv:", e)')
echo "$out"
grep -q "^send: .*Permission denied" <<<"$out" || failed "the unattested send was not refused"
$katls gate stats
[ "$status" = 0 ] && echo "demo: ok" || echo "demo: FAILED (above)"
exit "$status"
