# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# tests/host/attest_lib.sh: helpers for test_attest.sh (sourced).
#
#   free_port                       print a free TCP port on 127.0.0.1
#   ima_add LOG PATH FILEDIGEST [ALG]
#                                   append an ima-ng record (d-ng ALG:FILEDIGEST,
#                                   ALG default sha256; SHA-256 template digest,
#                                   D = 32) to LOG and extend that digest into
#                                   the current swtpm's PCR 10
#   ima_boot LOG                    ima_add the boot_aggregate of a fresh swtpm
#                                   (SHA-256 of its ten all-zero PCRs 0-9)
#   serve_start ARGS...             start "katls serve --once" in the background
#                                   on a free port (SERVE_PORT, SERVE_PID,
#                                   SERVE_LOG); waits until it listens
#   serve_wait                      wait for it, its exit code in SERVE_RC
#   serve_kill_all                  kill every server started (trap)
#   json_field FILE KEY             top-level string/number field of a JSON file
#   fail MSG                        print and count a failure

_attest_pids=()

free_port() {
	local p _
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % 30000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# Little-endian u32 as \x escapes for printf.
_le32() {
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
		$((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}

_hex_esc() { sed 's/../\\x&/g' <<<"$1"; }

ima_add() {
	local log=$1 path=$2 fdig=$3 alg=${4:-sha256} tmp dng_len n_len td tdig
	tmp=$(mktemp)
	# template data: u32 len | "<alg>:" NUL digest | u32 len | path NUL
	dng_len=$((${#alg} + 2 + ${#fdig} / 2))
	n_len=$((${#path} + 1))
	# shellcheck disable=SC2059
	printf "$(_le32 $dng_len)$alg:\\x00$(_hex_esc "$fdig")$(_le32 $n_len)%s\\x00" \
		"$path" >"$tmp"
	td=$(stat -c %s "$tmp")
	tdig=$(openssl dgst -sha256 -r "$tmp" | cut -d' ' -f1)
	# shellcheck disable=SC2059
	{ printf "$(_le32 10)$(_hex_esc "$tdig")$(_le32 6)ima-ng$(_le32 "$td")"; cat "$tmp"; } >>"$log"
	rm -f "$tmp"
	tpm2_pcrextend "10:sha256=$tdig" >/dev/null
}

ima_boot() {
	ima_add "$1" boot_aggregate "$(head -c 320 /dev/zero | sha256sum | cut -d' ' -f1)"
}

serve_start() {
	local _ try
	# A port found free can be taken before the server binds it: retry.
	for try in 1 2 3 4 5; do
		SERVE_PORT=$(free_port) || return 1
		SERVE_LOG=$(mktemp "${TMPDIR:-/tmp}/katls-serve.XXXXXX")
		"$KATLS" serve --once --port "$SERVE_PORT" "$@" >"$SERVE_LOG" 2>&1 &
		SERVE_PID=$!
		_attest_pids+=("$SERVE_PID")
		for _ in $(seq 50); do
			grep -q "listening on" "$SERVE_LOG" && return 0
			kill -0 "$SERVE_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q "Address already in use" "$SERVE_LOG" || break
	done
	echo "katls serve did not start:" >&2
	cat "$SERVE_LOG" >&2
	return 1
}

# shellcheck disable=SC2034  # SERVE_RC is read by the sourcing test
serve_wait() {
	SERVE_RC=0
	wait "$SERVE_PID" || SERVE_RC=$?
}

serve_kill_all() {
	local p
	for p in "${_attest_pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	_attest_pids=()
}

json_field() {
	sed -n "s/^  \"$2\": *\"\\{0,1\\}\\([^\",]*\\).*/\\1/p" "$1" | head -n1
}

FAILURES=0
fail() {
	echo "FAIL: $*" >&2
	FAILURES=$((FAILURES + 1))
}

# ima_true_setup DIR: DIR/ima.log (boot_aggregate, then /usr/bin/true) and
# DIR/runtime.json, a runtime policy that allows exactly that binary
ima_true_setup() {
	local sum
	sum=$(sha256sum /bin/true | cut -d' ' -f1)
	: >"$1/ima.log"
	ima_boot "$1/ima.log" && ima_add "$1/ima.log" /usr/bin/true "$sum" || return 1
	cat >"$1/runtime.json" <<JSON
{"meta": {"version": 1}, "release": 0,
 "digests": {"/usr/bin/true": ["$sum"]},
 "excludes": [], "keyrings": {},
 "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null},
 "ima-buf": {}, "verification-keys": ""}
JSON
}
