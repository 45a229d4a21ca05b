# Sourced by tests/vm/test_*.sh (they run as root inside the VM, see scripts/vm.sh).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Build outputs: build/ unless the script got --build=DIR (tools and CLI) or
# --cli=PATH (the katls binary) as arguments.
build=$top/build
cli=""
for arg in "$@"; do
	case $arg in
	--build=*) build=${arg#--build=} ;;
	--cli=*) cli=${arg#--cli=} ;;
	esac
done
case $build in /*) ;; *) build=$top/$build ;; esac
katls=${cli:-$build/katls}
tools=$build/tests/vm
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
need() { command -v "$1" >/dev/null || { echo "FAIL - prerequisite missing: $1"; exit 1; }; }
done_testing() { echo "$fails failure(s)"; [ "$fails" -eq 0 ]; }
# tpm2_pcrread sha256:N -> lowercase hex of PCR N
pcrread() { tpm2_pcrread "sha256:$1" | awk -F'0x' '/:/ && $2 != "" {print tolower($2)}'; }
# Loads the AEAD modules kTLS needs (DESIGN.md §9: on-demand loading may not
# find them); a missing one is reported by the test that needs it.
load_tls_crypto() { modprobe -a tls gcm ghash_generic aesni_intel 2>/dev/null || modprobe -a tls gcm ghash_generic; }
# wait_file FILE [TENTHS]: wait for FILE to exist
wait_file() { local i; for i in $(seq "${2:-100}"); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
# katls status --json field
kstat() { $katls status --json --pcrs none | jq -r "$1"; }
# start_responder MODE [ARGS...]: the test daemon in the background ($resp_pid,
# log in $resp_log); waits until it is registered.
start_responder() {
	local mode=$1; shift
	resp_log=$KATLS_OUT/responder-$mode-$RANDOM.log
	rm -f /tmp/resp.ready
	$tools/responder --mode "$mode" --ready /tmp/resp.ready "$@" >"$resp_log" 2>&1 &
	resp_pid=$!
	wait_file /tmp/resp.ready 100 || { echo "FAIL - responder ($mode) did not start:"; cat "$resp_log"; exit 1; }
}
# stop_responder: kill it (if still running) and wait
stop_responder() { kill "$resp_pid" 2>/dev/null || true; wait "$resp_pid" 2>/dev/null || true; }
