#!/bin/bash
# Quote verification: katls (in process) against tpm2_checkquote (one process
# per quote, as scripts use it) on the same swtpm ECDSA quote.  Prints the ratio.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
v=$top/tests/vectors/tpm
n=${QUOTE_RUNS:-200}
katls=$("$build/bench/bench_ea" 1 "$v" | awk '/quote verify/ {print $(NF-3)}')
start=$(date +%s%N)
for _ in $(seq "$n"); do
	tpm2_checkquote -u "$v/ecdsa-ak.pem" -m "$v/ecdsa-quote.bin" -s "$v/ecdsa-quote-sig.bin" \
		-q 00112233445566778899aabbccddeeff -f "$v/ecdsa-pcrs.bin" \
		-l sha256:0,2,4,7,11,12 >/dev/null
done
ns=$(( $(date +%s%N) - start ))
awk -v k="$katls" -v n="$n" -v ns="$ns" 'BEGIN {
	c = n / (ns / 1e9);
	printf "quote verify: katls %.0f /s, tpm2_checkquote %.0f /s (process per quote): katls/checkquote = %.1fx\n", k, c, k / c }'
