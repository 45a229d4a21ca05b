#!/bin/bash
# run_several.sh TEST... : run several guest tests in one VM boot (VM time is
# scarce), each in its own bash; exits non-zero if any failed, and names them.
top=$(cd "$(dirname "$0")/../.." && pwd)
failed=""
for t in "$@"; do
	echo "=== $t"
	# as the harness left it: a test that removed katls.ko must not decide the next
	[ -d /sys/module/katls ] || insmod "$top/kmod/katls.ko"
	bash "$top/$t" || failed="$failed $t"
	# what a test leaves behind must not decide the next one
	"$top/build/katls" gate unload >/dev/null 2>&1 || true
done
[ -z "$failed" ] || { echo "=== FAILED:$failed"; exit 1; }
echo "=== all passed"
