#!/bin/bash
# SPDX-License-Identifier: MIT
#
# batch_serve.sh [BUILD_DIR] - quote batching (docs/wire.md "Quote batching")
# on the build machine, all figures from one run: katls serve attests with a
# TPM whose quotes take BENCH_QUOTE_MS (a fresh swtpm behind
# tests/host/tpm_delay, the latency proxy for benches and tests: a real chip
# signs in ~200 ms), verified by BENCH_CONC concurrent clients
# (tests/host/attest_load: TLS 1.3 + katls/1, each verifying the Evidence
# with its own binder under an IMA/AK/PKI policy).
#   1. the TPM alone: BENCH_QUOTES back-to-back quotes, its quotes/s
#   then BENCH_CONC concurrent clients, each column its own katls serve:
#   "floor"      batching on, swtpm without the added latency: what the
#                CPUs alone cost (handshakes, Evidence, verification)
#   "burst"      batching on: BENCH_CONC attested connects at once
#   "linger"     the same with --batch-linger BENCH_LINGER_MS
#   "sustained"  batching on: each client connects BENCH_ROUNDS times
#   "off"        serve --no-batch: BENCH_CONC attested connects at once
# For each: connections/s, the quotes the TPM made and their rate,
# connections/s over the TPM's quotes/s (the gain), p50 connect latency over
# one quote's latency, CPU per connection on each side, the batch sizes the
# verifiers saw, and how many connections were verified.  Clients and server
# share this machine's CPUs (and whatever else runs on it).
# Knobs: BENCH_QUOTE_MS (200), BENCH_CONC (100), BENCH_ROUNDS (5),
# BENCH_QUOTES (10), BENCH_LINGER_MS (50).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
KATLS_BUILD=${1:-${KATLS_BUILD:-$top/build}}
case $KATLS_BUILD in /*) ;; *) KATLS_BUILD=$top/$KATLS_BUILD ;; esac
KATLS=$KATLS_BUILD/katls
QMS=${BENCH_QUOTE_MS:-200} CONC=${BENCH_CONC:-100} ROUNDS=${BENCH_ROUNDS:-5}
NQ=${BENCH_QUOTES:-10} LINGER=${BENCH_LINGER_MS:-50}

. "$top/tests/host/swtpm.sh"
. "$top/tests/host/pki.sh"
. "$top/tests/host/attest_lib.sh"
. "$top/tests/host/batch_lib.sh"

for b in katls tests/host/tpm_delay tests/host/attest_load; do
	[ -x "$KATLS_BUILD/$b" ] || { echo "batch_serve.sh: $KATLS_BUILD/$b not built (make)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/katls-bench-batch.XXXXXX")
trap 'batch_cleanup; rm -rf "$work"' EXIT
batch_setup "$work" "$QMS" || { echo "batch_serve.sh: set-up failed" >&2; exit 1; }

echo "where: $(uname -r), $(nproc) CPUs (load average $(cut -d' ' -f1-3 /proc/loadavg)), swtpm" \
	"behind tpm_delay (TPM2_Quote +$QMS ms), katls serve and $CONC client threads on this host"

# 1. the TPM alone
"$KATLS_BUILD/tests/host/attest_load" quote-rate "$NQ" >"$work/rate.out" || exit 1
tpm_qps=$(grep -o 'quotes_per_s=[^ ]*' "$work/rate.out" | cut -d= -f2)
tpm_p50=$(grep -o 'p50_ms=[^ ]*' "$work/rate.out" | cut -d= -f2)

# The floor's TPM: the same swtpm through a second proxy that adds nothing
# (it counts the quotes).
"$KATLS_BUILD/tests/host/tpm_delay" --upstream "127.0.0.1:$SWTPM_PORT" --log "$work/floor.log" \
	--port-file "$work/floor.port" 2>/dev/null &
floor_px=$!
trap 'kill $floor_px 2>/dev/null; batch_cleanup; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/floor.port" ] && break; sleep 0.1; done
floor_quotes() { grep -Ec '^quote [0-9]+ (delayed|failed)' "$work/floor.log"; }

# run NAME SERVE_ARGS LOAD_ARGS [QUOTE_COUNTER]: one column; figures in $work/NAME.*
run() {
	local name=$1 count=${4:-batch_quotes} q0 ticks
	batch_serve $2 || exit 1
	q0=$($count)
	batch_load $3
	ticks=$(awk '{ print $14 + $15 }' "/proc/$BS_PID/stat")
	cp "$work/load.out" "$work/$name.load"
	echo $(($($count) - q0)) >"$work/$name.quotes"
	echo "$((ticks * 1000 / $(getconf CLK_TCK)))" >"$work/$name.server_cpu"
	batch_serve_stop
	[ "$LOAD_RC" = 0 ] || echo "  ($name: $(load_field failed) connections failed:" \
		"$(grep -o 'reason=[^ ]* count=[0-9]*' "$work/load.out" | tr '\n' ' '))"
}
run floor "--tcti swtpm:host=127.0.0.1,port=$(cat "$work/floor.port")" "-c $CONC -n $CONC" \
	floor_quotes
run burst "" "-c $CONC -n $CONC"
run linger "--batch-linger $LINGER" "-c $CONC -n $CONC"
run sustained "" "-c $CONC -n $((CONC * ROUNDS))"
run off "--no-batch" "-c $CONC -n $CONC"
phases="floor burst linger sustained off"

# field PHASE KEY: KEY= of the phase's load: lines
field() { grep -o "\b$2=[^ ]*" "$work/$1.load" | head -n1 | cut -d= -f2; }
calc() { awk "BEGIN { d = $1; print d }" 2>/dev/null || echo nan; }

echo
echo "== the TPM: $NQ quotes back to back (katls_tpm_quote: PCR read, TPM2_Quote, PCR read)"
printf '  %-44s %9.1f ms\n' "quote latency p50" "$tpm_p50"
printf '  %-44s %9.2f /s\n' "quotes per second" "$tpm_qps"
echo
printf '== attested connects, %s concurrent clients (floor: TPM without the added %s ms)\n' \
	"$CONC" "$QMS"
printf '  %-26s %11s %11s %11s %11s %11s\n' "" floor burst "linger $LINGER" sustained off
row() {	# LABEL FORMAT EXPR: one value per phase ($p)
	local label=$1 fmt=$2 p v
	printf '  %-26s' "$label"
	for p in $phases; do
		v=$(eval "$3")
		# shellcheck disable=SC2059
		printf " %11s" "$(printf "$fmt" "$v")"
	done
	echo
}
row "connections" '%s' 'field $p connections'
row "verified, own binder" '%s' 'field $p own_binder'
row "wall time (ms)" '%.0f' 'field $p wall_ms'
row "connections / s" '%.1f' 'field $p conn_per_s'
row "TPM quotes" '%s' 'cat $work/$p.quotes'
row "TPM quotes / s" '%.2f' 'calc "$(cat $work/$p.quotes) * 1000 / $(field $p wall_ms)"'
row "connections per quote" '%.1f' 'calc "$(field $p ok) / $(cat $work/$p.quotes)"'
row "conn/s / TPM's quotes/s" '%.1fx' 'calc "$(field $p conn_per_s) / $tpm_qps"'
row "p50 connect (ms)" '%.0f' 'field $p p50_ms'
row "p50 / quote latency" '%.2fx' 'calc "$(field $p p50_ms) / $tpm_p50"'
row "p50 - floor p50 (ms)" '%.0f' 'calc "$(field $p p50_ms) - $(field floor p50_ms)"'
row "p90 (ms)" '%.0f' 'field $p p90_ms'
row "p99 (ms)" '%.0f' 'field $p p99_ms'
row "CPU/connection, server ms" '%.2f' 'calc "$(cat $work/$p.server_cpu) / $(field $p connections)"'
row "CPU/connection, client ms" '%.2f' 'calc "$(field $p client_cpu_ms) / $(field $p connections)"'
echo
echo "== quote batch sizes the verifiers saw (burst, linger, sustained)"
cat "$work/burst.load" "$work/linger.load" "$work/sustained.load" |
	awk '/^load: batch size=/ { split($3, s, "="); split($4, c, "="); n[s[2]] += c[2] }
	     END { for (k in n) printf "  %5d sessions per quote: %6d connections, %5d quotes\n",
			k, n[k], (n[k] + k - 1) / k }' | sort -n -k1
