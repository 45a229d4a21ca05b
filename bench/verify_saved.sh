#!/bin/bash
# verify_saved.sh [BUILD_DIR]: verifications per second on one core (CPU
# time), on Evidence from a fresh swtpm and a test PKI (bench_verify.c):
#
#  1. a 200-entry IMA log extended into PCR 10, katls serve + katls connect
#     --save-evidence; then on that one saved exchange, in this run:
#       before  bench_verify of commit $KATLS_BENCH_BASELINE (default
#               dde16b2, the tree before issue 12), built from git into
#               BUILD_DIR/bench-baseline-<commit> once, its CPU time measured
#               here (its own figure is wall time)
#       after   a known attester (the whole log again; and, saved by connect
#               --resume-from, the tail incremental IMA asks for) and first
#               contact, beside the floor: two ECDSA P-256 verifications;
#  2. a 100k-entry log on a fresh swtpm: a whole-log verification against an
#     incremental one with 10 new entries, their ratio, and the bytes a
#     verifier keeps per attester.
# Knobs: IMA_ENTRIES (200), IMA_BIG (100000), IMA_NEW (10), SECONDS_EACH (3),
# KATLS_BENCH_BASELINE (a commit, or "none"), KEEP=1 (keep the work directory).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
KATLS=$build/katls
n=${IMA_ENTRIES:-200}
big=${IMA_BIG:-100000}
new=${IMA_NEW:-10}
secs=${SECONDS_EACH:-3}
baseline=${KATLS_BENCH_BASELINE:-dde16b2}
. "$top/tests/host/swtpm.sh"
. "$top/tests/host/pki.sh"
. "$top/tests/host/attest_lib.sh"
work=$(mktemp -d)
resume=
trap 'serve_kill_all; swtpm_stop_all; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# extend DIGESTS: every SHA-256 digest of the file into PCR 10, 1000 a call
extend() {
	sed 's/^/10:sha256=/' "$1" | xargs -n 1000 tpm2_pcrextend >/dev/null
}

# The before figure: the baseline commit's bench_verify, built once.
baseline_bench() {
	local dir=$build/bench-baseline-$baseline
	[ "$baseline" != none ] || return 1
	if [ ! -x "$dir/build/bench/bench_verify" ]; then
		git -C "$top" rev-parse -q --verify "$baseline^{commit}" >/dev/null 2>&1 || return 1
		rm -rf "$dir" && mkdir -p "$dir"
		git -C "$top" archive "$baseline" | tar -x -C "$dir" || return 1
		echo "(building bench_verify of $baseline for the before figure, once)" >&2
		make -C "$dir" -s -j2 build/bench/bench_verify >"$dir.log" 2>&1 ||
			{ tail -n 20 "$dir.log" >&2; return 1; }
	fi
	echo "$dir/build/bench/bench_verify"
}

# cpu_rate BENCH ARGS...: run an old bench_verify, which prints
# "... verification: R /s per core (M ms each)" in wall-clock time, under
# /usr/bin/time, and print its verifications per CPU second
cpu_rate() {
	local out
	out=$(/usr/bin/time -f 'cpu %U %S' "$@" 2>&1)
	awk -v secs="$secs" '
		/verification:/ { for (i = 1; i <= NF; i++) if ($i ~ /^\(/) ms = substr($i, 2) }
		/^cpu / { cpu = $2 + $3 }
		END { if (!ms || !cpu) exit 1; printf "%.0f", secs * 1000 / ms / cpu }' <<<"$out"
}

# ---- 1. a saved exchange, 200 entries ---------------------------------------
swtpm_start
pki_ca "$work" ca && pki_leaf "$work" ca server server.test
"$KATLS" provision --out "$work/ak.pem" >/dev/null 2>"$work/provision.err" ||
	{ cat "$work/provision.err" >&2; exit 1; }
"$build/tests/host/ima_synth" --out "$work/ima.log" --count "$n" \
	--allowlist "$work/runtime.json" >"$work/digests"
extend "$work/digests"
cat >"$work/p.json" <<JSON
{ "name": "bench", "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["ak.pem"], "ima": { "runtime_policy": "runtime.json" } }
JSON
for save in saved saved-tail; do	# the second one names the first one's IMA prefix
	serve_start --cert "$work/server.pem" --key "$work/server.key" --ima-log "$work/ima.log"
	"$KATLS" connect "127.0.0.1:$SERVE_PORT" --ca "$work/ca.pem" --name server.test \
		--policy "$work/p.json" --save-evidence "$work/$save" \
		${resume:+--resume-from "$resume"} >/dev/null 2>&1
	serve_wait
	resume=$work/saved
done
echo "saved exchange: IMA log of $((n + 1)) entries (boot_aggregate + $n); quote: swtpm" \
	"ECDSA P-256; EA leaf ECDSA P-256; CPU time of one thread, $secs s each"
before=
if old=$(baseline_bench) && before=$(cpu_rate "$old" "$work/saved" "$work/p.json"); then
	:
else
	echo "before: not measured (no git checkout with $baseline; set KATLS_BENCH_BASELINE)"
fi
KATLS_BENCH_BEFORE=$before KATLS_BENCH_BEFORE_NAME=$baseline \
	"$build/bench/bench_verify" "$work/saved" "$work/p.json" "$secs" "$work/saved-tail"

# ---- 2. incremental IMA on a large log --------------------------------------
swtpm_stop_all
swtpm_start
"$KATLS" provision --out "$work/ak.pem" >/dev/null 2>"$work/provision.err" ||
	{ cat "$work/provision.err" >&2; exit 1; }
"$build/tests/host/ima_synth" --out "$work/prefix.log" --count $((big - new)) >"$work/prefix.d"
"$build/tests/host/ima_synth" --out "$work/full.log" --count "$big" \
	--allowlist "$work/runtime-big.json" >"$work/full.d"
tail -n "$new" "$work/full.d" >"$work/new.d"
extend "$work/prefix.d"
cat >"$work/pbig.json" <<JSON
{ "name": "bench", "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["ak.pem"], "ima": { "runtime_policy": "runtime-big.json" } }
JSON
echo
"$build/bench/bench_verify" --ima "$work/prefix.log" "$work/full.log" "$work/new.d" \
	"$work/pbig.json" "$work/server.pem" "$work/server.key" "$secs"
