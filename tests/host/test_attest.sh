#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_attest.sh: katls serve + katls connect over loopback with a real TPM
# (a fresh swtpm per scenario), a test PKI and a synthetic IMA log whose
# SHA-256 template digests are extended into the swtpm's PCR 10.  Every
# scenario asserts the exit code AND the reason name in --json output.
# Runs as root on the build machine; KATLS_BUILD selects the build tree.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
KATLS_BUILD=${KATLS_BUILD:-$top/build}
KATLS=$KATLS_BUILD/katls

. "$here/swtpm.sh"
. "$here/pki.sh"
. "$here/attest_lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/katls-attest.XXXXXX")
cleanup() {
	serve_kill_all
	swtpm_stop_all
	rm -rf "$work"
}
trap cleanup EXIT

for tool in openssl tpm2_pcrextend swtpm; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed" >&2; exit 1; }
done
[ -x "$KATLS" ] || { echo "FAIL: $KATLS not built" >&2; exit 1; }

pki_ca "$work" ca && pki_ca "$work" rogue &&
	pki_leaf "$work" ca server server.test &&
	pki_leaf "$work" ca client client.test &&
	pki_leaf "$work" rogue imposter server.test || { echo "FAIL: test PKI" >&2; exit 1; }
openssl ecparam -name prime256v1 -genkey -noout -out "$work/other-ak.key" 2>/dev/null &&
	openssl ec -in "$work/other-ak.key" -pubout -out "$work/other-ak.pem" 2>/dev/null ||
	{ echo "FAIL: other AK" >&2; exit 1; }

D_TRUE=$(sha256sum /bin/true | cut -d' ' -f1)
D_SH=$(printf 'katls test /bin/sh' | sha256sum | cut -d' ' -f1)
D_EVIL=$(printf 'evil' | sha256sum | cut -d' ' -f1)
cat >"$work/runtime.json" <<JSON
{"meta": {"version": 1}, "release": 0,
 "digests": {"/usr/bin/true": ["$D_TRUE"], "/bin/sh": ["$D_SH"]},
 "excludes": ["/tmp/.*"], "keyrings": {},
 "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null},
 "ima-buf": {}, "verification-keys": ""}
JSON

# policy FILE [trust_anchor] [peer_name] [ak_pin]
# ak_pin: a PEM file for ak_pins (default ak.pem), or name:<hex> for ak_names
policy() {
	local pin=${4:-ak.pem}
	case $pin in
	name:*) pin="\"ak_names\": [\"${pin#name:}\"]" ;;
	*) pin="\"ak_pins\": [\"$pin\"]" ;;
	esac
	cat >"$1" <<JSON
{ "name": "test",
  "trust_anchors": ["${2:-ca.pem}"],
  "peer_names": ["${3:-server.test}"],
  $pin,
  "ima": { "runtime_policy": "runtime.json" },
  "max_age_s": 300 }
JSON
}

# Fresh TPM and AK (ak.pem, ak.name), and an empty IMA log.
fresh_tpm() {
	swtpm_stop_all
	swtpm_start || return 1
	"$KATLS" provision --out "$work/ak.pem" --name "$work/ak.name" >/dev/null \
		2>"$work/provision.err" || { cat "$work/provision.err" >&2; return 1; }
	: >"$work/ima.log"
}

# fresh_tpm and an IMA log: boot_aggregate, three allowed entries, all
# extended into PCR 10.
setup() {
	fresh_tpm && ima_boot "$work/ima.log" &&
		ima_add "$work/ima.log" /usr/bin/true "$D_TRUE" &&
		ima_add "$work/ima.log" /bin/sh "$D_SH" &&
		ima_add "$work/ima.log" /tmp/scratch "$D_EVIL"
}

server_args=(--cert "$work/server.pem" --key "$work/server.key" --ima-log "$work/ima.log")

# expect NAME WANT_RC WANT_REASON OUT [MSG_SUBSTRING]
expect() {
	local name=$1 want_rc=$2 want=$3 out=$4 sub=${5:-} got
	got=$(json_field "$out" reason)
	if [ "$RC" != "$want_rc" ] || [ "$got" != "$want" ]; then
		fail "$name: exit $RC reason '$got', want exit $want_rc reason '$want'"
		sed 's/^/    /' "$out" >&2
		[ -n "${SERVE_LOG:-}" ] && sed 's/^/    serve: /' "$SERVE_LOG" >&2
		return 1
	fi
	if [ -n "$sub" ] && ! grep -q -- "$sub" "$out"; then
		fail "$name: message does not mention '$sub'"
		sed 's/^/    /' "$out" >&2
		return 1
	fi
	echo "ok: $name ($want)"
}

# connect_json OUT ARGS...: katls connect --json, exit code in RC
connect_json() {
	local out=$1
	shift
	RC=0
	"$KATLS" connect "127.0.0.1:$SERVE_PORT" --ca "$work/ca.pem" --name server.test \
		--json "$@" >"$out" 2>"$out.err" || RC=$?
}

# ---- 1. accept; application data; saved exchange re-verifies offline ------
scenario_accept() {
	setup || { fail "accept: setup"; return; }
	policy "$work/p.json"
	serve_start "${server_args[@]}" || { fail "accept: serve"; return; }
	SSLKEYLOGFILE=$work/keylog connect_json "$work/out" --policy "$work/p.json" \
		--send "hello katls" --save-evidence "$work/saved"
	expect accept 0 ok "$work/out" || return
	grep -q '^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]\{64\} [0-9a-f]\{64,96\}$' "$work/keylog" ||
		fail "accept: SSLKEYLOGFILE has no CLIENT_TRAFFIC_SECRET_0 line"
	grep -q '"pcr10"' "$work/out" || fail "accept: no PCR 10 in the summary"
	grep -q '"covered": *4' "$work/out" || fail "accept: IMA entries covered != 4"
	grep -q '"ak_pinned_by": *"ak_pins"' "$work/out" || fail "accept: summary lacks ak_pinned_by"
	grep -q "\"ak_name\": *\"$(cat "$work/ak.name")\"" "$work/out" ||
		fail "accept: summary's ak_name is not the provisioned AK Name"
	grep -q 'hello katls' "$work/out.err" || fail "accept: application data not echoed"
	serve_wait
	[ "$SERVE_RC" = 0 ] || fail "accept: serve exit $SERVE_RC"
	[ "$(stat -c %a "$work/saved/session-secrets/hc.bin")" = 600 ] ||
		fail "accept: saved session secrets are not 0600"
	# the peer's AK is saved as what it is: a claim, not a pin
	[ -f "$work/saved/peer-ak.unverified.pem" ] && [ ! -e "$work/saved/ak.pem" ] ||
		fail "accept: saved AK is not peer-ak.unverified.pem (or ak.pem exists)"
	cmp -s "$work/saved/peer-ak.unverified.pem" "$work/ak.pem" ||
		fail "accept: peer-ak.unverified.pem is not the peer's AK"
	grep -q 'do NOT pin it' "$work/saved/README" || fail "accept: README does not warn"
	RC=0
	"$KATLS" verify --dir "$work/saved" --policy "$work/p.json" --json >"$work/v" 2>&1 || RC=$?
	expect "verify --dir" 0 ok "$work/v"
	policy "$work/p2.json" ca.pem server.test other-ak.pem
	RC=0
	"$KATLS" verify --dir "$work/saved" --policy "$work/p2.json" --json >"$work/v" 2>&1 || RC=$?
	expect "verify --dir, AK not pinned" 4 ak-untrusted "$work/v"
	# a tampered saved authenticator (last Finished byte flipped) must not verify
	local f=$work/saved/authenticator.bin size last
	size=$(stat -c %s "$f")
	last=$(tail -c 1 "$f" | od -An -tu1 | tr -d ' ')
	# shellcheck disable=SC2059
	printf "$(printf '\\x%02x' $((last ^ 1)))" |
		dd of="$f" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
	RC=0
	"$KATLS" verify --dir "$work/saved" --policy "$work/p.json" --json >"$work/v" 2>&1 || RC=$?
	expect "verify --dir, tampered Finished" 4 ea-finished "$work/v"
}

# ---- 2. refusals -----------------------------------------------------------
# refuse NAME REASON [MSG] -- connect args: policy from $work/p.json
refuse() {
	local name=$1 reason=$2 sub=${3:-}
	serve_start "${server_args[@]}" || { fail "$name: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json" "${extra_connect[@]}"
	expect "$name" 4 "$reason" "$work/out" "$sub"
	serve_wait
	if [ "$reason" != pki-name ] || [ "${#extra_connect[@]}" = 0 ]; then
		[ "$SERVE_RC" = 4 ] || fail "$name: serve exit $SERVE_RC, want 4 (peer refused)"
	fi
	extra_connect=()
}
extra_connect=()

scenario_allowlist() {
	setup && ima_add "$work/ima.log" /usr/local/bin/evil "$D_EVIL" ||
		{ fail "allowlist: setup"; return; }
	policy "$work/p.json"
	refuse "IMA entry outside the allowlist" ima-allowlist /usr/local/bin/evil
}

scenario_ak() {
	setup || { fail "ak: setup"; return; }
	policy "$work/p.json" ca.pem server.test other-ak.pem
	refuse "AK not pinned" ak-untrusted
}

scenario_name() {
	setup || { fail "name: setup"; return; }
	policy "$work/p.json" ca.pem other.test
	refuse "authenticator names another peer (policy)" pki-name
	policy "$work/p.json"
	extra_connect=(--name wrong.test)
	refuse "wrong server name (handshake)" pki-name
}

scenario_chain() {
	setup || { fail "chain: setup"; return; }
	policy "$work/p.json" rogue.pem
	refuse "untrusted chain (policy anchors)" pki-chain
	policy "$work/p.json"
	server_args=(--cert "$work/imposter.pem" --key "$work/imposter.key" --ima-log "$work/ima.log")
	serve_start "${server_args[@]}" || { fail "chain: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json"
	expect "untrusted chain (handshake)" 4 pki-chain "$work/out"
	serve_kill_all
	server_args=(--cert "$work/server.pem" --key "$work/server.key" --ima-log "$work/ima.log")
}

scenario_replay() {
	setup || { fail "replay: setup"; return; }
	tpm2_pcrextend "10:sha256=$(printf x | sha256sum | cut -d' ' -f1)" >/dev/null
	policy "$work/p.json"
	refuse "PCR 10 does not match the log" ima-replay
}

scenario_quote_sig() {
	setup || { fail "quote-sig: setup"; return; }
	policy "$work/p.json"
	export KATLS_TEST_CORRUPT=quote-sig
	refuse "bad quote signature (test hook)" quote-signature
	unset KATLS_TEST_CORRUPT
}

scenario_mutual() {
	setup || { fail "mutual: setup"; return; }
	policy "$work/p.json"
	policy "$work/pc.json" ca.pem client.test
	serve_start "${server_args[@]}" --mode mutual --policy "$work/pc.json" --json ||
		{ fail "mutual: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json" --mode mutual \
		--cert "$work/client.pem" --key "$work/client.key" --ima-log "$work/ima.log"
	expect mutual 0 ok "$work/out" || return
	grep -q '"attested": *true' "$work/out" || fail "mutual: client not attested"
	serve_wait
	[ "$SERVE_RC" = 0 ] || fail "mutual: serve exit $SERVE_RC"
	grep -q '"peer_verified": *true' "$SERVE_LOG" || fail "mutual: server did not verify"
	grep -q 'CN=client.test' "$SERVE_LOG" || fail "mutual: server did not see the client"
}

scenario_protocol() {
	local port pid
	port=$(free_port)
	openssl s_server -quiet -tls1_3 -accept "$port" -cert "$work/server.pem" \
		-key "$work/server.key" -www >/dev/null 2>&1 &
	pid=$!
	_attest_pids+=("$pid")
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
	policy "$work/p.json"
	RC=0
	"$KATLS" connect "127.0.0.1:$port" --ca "$work/ca.pem" --name server.test --json \
		--policy "$work/p.json" --timeout 3 >"$work/out" 2>&1 || RC=$?
	SERVE_LOG=
	expect "peer does not speak katls/1" 4 protocol "$work/out"
	kill "$pid" 2>/dev/null
}

# ---- incremental IMA: the next connection asks for the new entries only ----
scenario_incremental() {
	local d
	setup || { fail "incremental: setup"; return; }
	policy "$work/p.json"
	serve_start "${server_args[@]}" || { fail "incremental: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json" --save-evidence "$work/inc1"
	expect "incremental: first connection, whole log" 0 ok "$work/out" || return
	serve_wait
	ima_add "$work/ima.log" /usr/bin/true "$D_TRUE" && ima_add "$work/ima.log" /bin/sh "$D_SH" ||
		{ fail "incremental: log"; return; }
	serve_start "${server_args[@]}" || { fail "incremental: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json" --resume-from "$work/inc1" \
		--save-evidence "$work/inc2"
	expect "incremental: resumed, the 2 new entries" 0 ok "$work/out" || return
	grep -q '"covered": *6' "$work/out" || fail "incremental: IMA entries covered != 6"
	grep -q 'resuming from .*inc1: 4 IMA log entries verified' "$work/out.err" ||
		fail "incremental: --resume-from did not verify the first exchange"
	serve_wait
	# inc2 carries a tail: alone it names a prefix this verifier does not hold
	RC=0
	"$KATLS" verify --dir "$work/inc2" --policy "$work/p.json" --json >"$work/v" 2>&1 || RC=$?
	expect "incremental: saved tail without its prefix" 4 ima-replay "$work/v" \
		"after a prefix this verifier does not hold"
	RC=0
	"$KATLS" verify --dir "$work/inc1" --dir "$work/inc2" --policy "$work/p.json" \
		>"$work/v" 2>&1 || RC=$?
	[ "$RC" = 0 ] || { fail "incremental: verify --dir inc1 --dir inc2: exit $RC"; cat "$work/v" >&2; }
	# a reboot (same TPM and AK, PCRs reset) into another log of 8 entries: the
	# server still sends a tail from entry 6, the client asks again, the whole
	# log is accepted
	d=$SWTPM_STATE
	swtpm_stop "$d" && swtpm_start "$d" || { fail "incremental: reboot"; return; }
	: >"$work/ima.log"
	ima_boot "$work/ima.log" || { fail "incremental: log"; return; }
	for _ in 1 2 3 4 5 6 7; do
		ima_add "$work/ima.log" /bin/sh "$D_SH" || { fail "incremental: log"; return; }
	done
	serve_start "${server_args[@]}" || { fail "incremental: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json" --resume-from "$work/inc2" \
		--save-evidence "$work/inc3"
	expect "incremental: after a reboot, the whole log on a second request" 0 ok "$work/out" ||
		return
	grep -q '"covered": *8' "$work/out" || fail "incremental: IMA entries covered != 8"
	serve_wait
	RC=0
	"$KATLS" verify --dir "$work/inc3" --policy "$work/p.json" --json >"$work/v" 2>&1 || RC=$?
	expect "incremental: the exchange kept is the whole log" 0 ok "$work/v"
}

scenario_accept
scenario_incremental
scenario_text() {
	setup || { fail "text: setup"; return; }
	policy "$work/p.json"
	ima_add "$work/ima.log" /usr/local/bin/evil "$D_EVIL"
	serve_start "${server_args[@]}" || { fail "text: serve"; return; }
	RC=0
	"$KATLS" connect "127.0.0.1:$SERVE_PORT" --ca "$work/ca.pem" --name server.test \
		--policy "$work/p.json" >"$work/out" 2>&1 || RC=$?
	cat "$work/out"
	[ "$RC" = 4 ] && grep -q 'attestation refused: ima-allowlist: .*/usr/local/bin/evil' "$work/out" ||
		fail "text: exit $RC, no one-line refusal naming the path"
	serve_wait
}
# ---- boot_aggregate: entry 0 must hash the quoted PCRs 0-9 --------------------
# (a fresh swtpm's PCRs 0-9 are all zero)
boot_log() {
	swtpm_stop_all
	swtpm_start && "$KATLS" provision --out "$work/ak.pem" >/dev/null 2>&1 &&
		: >"$work/ima.log" && ima_add "$work/ima.log" boot_aggregate "$1" &&
		ima_add "$work/ima.log" /usr/bin/true "$D_TRUE"
}
scenario_boot_aggregate() {
	local good bad
	good=$(head -c 320 /dev/zero | sha256sum | cut -d' ' -f1)
	bad=$(printf 'another boot' | sha256sum | cut -d' ' -f1)
	boot_log "$good" || { fail "boot_aggregate: setup"; return; }
	policy "$work/p.json"
	serve_start "${server_args[@]}" || { fail "boot_aggregate: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json"
	expect "boot_aggregate equals the hash of the quoted PCRs 0-9" 0 ok "$work/out"
	serve_wait
	boot_log "$bad" || { fail "boot_aggregate: setup"; return; }
	refuse "boot_aggregate of another boot" ima-replay "does not match the quoted boot PCRs"
}

# ---- the log's tie to the boot cannot be left out ---------------------------
scenario_boot_tie() {
	fresh_tpm && ima_add "$work/ima.log" /usr/bin/true "$D_TRUE" ||
		{ fail "boot tie: setup"; return; }
	policy "$work/p.json"
	refuse "entry 0 is not boot_aggregate" ima-replay "entry 0 (/usr/bin/true) is not boot_aggregate"
	# ima_hash=sha1: a 20-byte boot_aggregate over the SHA-1 bank nobody quoted
	fresh_tpm && ima_add "$work/ima.log" boot_aggregate \
		"$(head -c 160 /dev/zero | sha1sum | cut -d' ' -f1)" sha1 &&
		ima_add "$work/ima.log" /usr/bin/true "$D_TRUE" ||
		{ fail "boot tie: setup"; return; }
	refuse "SHA-1 boot_aggregate" ima-replay "is a sha1 digest of 20 bytes"
	# an empty log, PCR 10 at its reset value
	fresh_tpm || { fail "boot tie: setup"; return; }
	refuse "empty IMA log" ima-replay "the quote covers none of the 0 log entries"
}

# ---- AK Names: ak_names pins the whole public area ---------------------------
scenario_ak_names() {
	local name
	setup || { fail "ak names: setup"; return; }
	name=$(cat "$work/ak.name")
	policy "$work/p.json" ca.pem server.test "name:$name"
	serve_start "${server_args[@]}" || { fail "ak names: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json"
	expect "AK pinned by its TPM Name (katls provision --name)" 0 ok "$work/out" &&
		{ grep -q '"ak_pinned_by": *"ak_names"' "$work/out" ||
		  fail "ak names: summary does not say ak_names"; }
	serve_wait
	policy "$work/p.json" ca.pem server.test "name:000b$(printf x | sha256sum | cut -d' ' -f1)"
	refuse "another AK Name" ak-untrusted "neither its Name is in ak_names"
	# the attester claims other attributes for its AK (same key, real quote)
	export KATLS_TEST_CORRUPT=ak-attrs
	policy "$work/p.json" ca.pem server.test "name:$name"
	refuse "AK attributes altered, ak_names pin" ak-untrusted "is not pinned"
	policy "$work/p.json"
	refuse "AK attributes altered, PEM pin: qualifiedSigner differs" quote-signature \
		"is not the qualified name of the AK"
	unset KATLS_TEST_CORRUPT
}
scenario_text
scenario_allowlist
scenario_ak
scenario_name
scenario_chain
scenario_replay
scenario_quote_sig
scenario_mutual
scenario_protocol
scenario_boot_aggregate
scenario_boot_tie
scenario_ak_names

# ---- a log too big for the cmw_attestation extension (64 KiB) -----------------
# 3,000 entries (~280 KB): the log travels detached, in IMA log frames ahead
# of the authenticator, named by the Evidence's ima-digest (docs/wire.md).
# Before, the server failed with "cannot send authenticator".
scenario_large_log() {
	local f=$work/big-saved/authenticator.bin
	fresh_tpm && "$KATLS_BUILD/tests/host/ima_synth" --out "$work/ima.log" --count 3000 \
		--allowlist "$work/runtime-big.json" >"$work/big.d" &&
		sed 's/^/10:sha256=/' "$work/big.d" | xargs -n 500 tpm2_pcrextend >/dev/null ||
		{ fail "large log: setup"; return; }
	[ "$(stat -c %s "$work/ima.log")" -gt 200000 ] || { fail "large log: log too small"; return; }
	policy "$work/p.json"
	sed -i 's/runtime\.json/runtime-big.json/' "$work/p.json"
	serve_start "${server_args[@]}" || { fail "large log: serve"; return; }
	connect_json "$work/out" --policy "$work/p.json" --send "after a big log" \
		--save-evidence "$work/big-saved"
	expect "large log: 3,001 entries, detached" 0 ok "$work/out" || return
	grep -q '"covered": *3001' "$work/out" || fail "large log: IMA entries covered != 3001"
	grep -q 'after a big log' "$work/out.err" || fail "large log: application data not echoed"
	serve_wait
	[ "$SERVE_RC" = 0 ] || fail "large log: serve exit $SERVE_RC"
	# the saved answer holds the frames: it re-verifies, and not once changed
	[ "$(head -c 1 "$f" | od -An -tx1 | tr -d ' ')" = f2 ] ||
		fail "large log: saved authenticator.bin does not start with an IMA log frame"
	RC=0
	"$KATLS" verify --dir "$work/big-saved" --policy "$work/p.json" --json >"$work/v" 2>&1 ||
		RC=$?
	expect "large log: verify --dir" 0 ok "$work/v"
	printf 'X' | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null
	RC=0
	"$KATLS" verify --dir "$work/big-saved" --policy "$work/p.json" --json >"$work/v" 2>&1 ||
		RC=$?
	expect "large log: a byte of the saved log changed" 4 evidence-malformed "$work/v" \
		"ima-digest"
}
scenario_large_log

if [ "$FAILURES" -ne 0 ]; then
	echo "test_attest: $FAILURES failure(s)" >&2
	exit 1
fi
echo "test_attest: all scenarios passed"
