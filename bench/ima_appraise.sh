#!/bin/bash
# ima_appraise.sh [BUILD_DIR] [ENTRIES]
#
# Side-by-side IMA verification benchmark: one synthetic SHA-1-file IMA log
# (binary_runtime_measurements format, what evmctl reads) of ENTRIES ima-ng
# records (default 100000) is verified by
#   - katls (bench_ima --log: parse, recompute SHA-1 template digests, replay
#     the SHA-256 PCR 10 bank until it matches, appraise every entry against a
#     Keylime runtime policy), and
#   - evmctl ima_measurement --pcrs sha256,FILE (Debian ima-evm-utils: parse,
#     recompute, replay to the PCR values in FILE; no allowlist),
# each the median CPU time (user+sys) of 5 runs, and prints katls/evmctl.
# The evmctl run doubles as a cross-check: it must accept the log that
# ima_synth wrote, replayed to the PCR value that katls computed.
# A benchmark, not a test: it prints ratios and fails only if a tool fails.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
n=${2:-100000}
synth=$build/tests/host/ima_synth
bench=$build/bench/bench_ima
for b in "$synth" "$bench"; do
	[ -x "$b" ] || { echo "ima_appraise: $b missing (make userspace)" >&2; exit 1; }
done
command -v evmctl >/dev/null || { echo "ima_appraise: evmctl missing (ima-evm-utils)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$synth" --sha1 --out "$tmp/log" --count "$n" \
	--boot-aggregate 0000000000000000000000000000000000000000000000000000000000000000 \
	--allowlist "$tmp/policy.json" >"$tmp/digests"
"$bench" --log "$tmp/log" --digest-size 20 --runtime-policy "$tmp/policy.json" >"$tmp/katls.out"
katls_ms=$(sed -n 's/.*verify (parse+recompute+replay+allowlist): \([0-9.]*\) ms.*/\1/p' "$tmp/katls.out")
pcr10=$(sed -n 's/^pcr10 //p' "$tmp/katls.out")

# evmctl reads the PCR values from a file, one "PCR-NN: <hex>" line per PCR.
for i in $(seq 0 23); do
	v=0000000000000000000000000000000000000000000000000000000000000000
	[ "$i" = 10 ] && v=$pcr10
	printf 'PCR-%02d: %s\n' "$i" "$v"
done >"$tmp/pcrs"

cpu_ms() {	# CPU time of one command, in ms
	local TIMEFORMAT='%3U %3S' t
	t=$( { time "$@" >/dev/null 2>&1; } 2>&1 ) || return 1
	awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.1f\n", (a[1] + a[2]) * 1000 }'
}

runs=()
for r in 1 2 3 4 5; do
	runs+=("$(cpu_ms evmctl ima_measurement --pcrs "sha256,$tmp/pcrs" "$tmp/log")") || {
		echo "ima_appraise: evmctl rejected the log (cross-check FAILED)" >&2
		exit 1
	}
done
evm_ms=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p)

# The cross-check must also fail when the PCR value is wrong.
sed -i '/^PCR-10: /{s/0$/X/;s/[1-9a-f]$/0/;s/X$/1/}' "$tmp/pcrs"
if evmctl ima_measurement --pcrs "sha256,$tmp/pcrs" "$tmp/log" >/dev/null 2>&1; then
	echo "ima_appraise: evmctl accepted a wrong PCR 10: cross-check is void" >&2
	exit 1
fi

cat "$tmp/katls.out"
echo "ima_appraise: $n entries, SHA-1 log replayed into the SHA-256 bank"
echo "  katls  (with allowlist): $katls_ms ms CPU"
echo "  evmctl (no allowlist):   $evm_ms ms CPU (includes process start and file read)"
awk -v k="$katls_ms" -v e="$evm_ms" 'BEGIN { printf "  ratio katls/evmctl: %.3f\n", k / e }'
echo "  cross-check: evmctl accepts the katls PCR 10 $pcr10"
