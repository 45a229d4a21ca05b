#!/bin/bash
# check.sh — run every test suite (called by `make check` after the builds)
# and close with one tally line: "check: N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export KATLS_TALLY
KATLS_TALLY=$(mktemp)
trap 'rm -f "$KATLS_TALLY"' EXIT
rc=0
shopt -s nullglob
# Test binaries are named after their sources (build/ also holds .o and .d).
bins() { for s in $2/$3*.c; do n=${s##*/}; echo "$1/$2/${n%.c}"; done; }

echo "== unit tests"
scripts/run-tests.sh unit $(bins build tests/unit test_) || rc=1
echo "== unit tests under ASan+UBSan"
scripts/run-tests.sh unit-asan $(bins build/asan tests/unit test_) || rc=1
echo "== fuzz smoke (10 s per target; 'make fuzz' runs longer)"
scripts/fuzz.sh 10 $(bins build/fuzz tests/fuzz fuzz_) || rc=1
echo "== host integration"
scripts/run-tests.sh host tests/host/test_*.sh || rc=1
echo "== VM (Debian kernel under QEMU, swtpm TPM, IMA)"
scripts/run-tests.sh vm tests/vm/test_*.sh || rc=1
echo "== two VMs on a virtual link (two hosts)"
scripts/run-tests.sh twohost tests/twohost/test_*.sh || rc=1

awk '{p += $1; f += $2} END {printf "check: %d passed, %d failed\n", p, f}' "$KATLS_TALLY"
exit $rc
