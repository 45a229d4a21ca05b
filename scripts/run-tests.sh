#!/bin/bash
# run-tests.sh SUITE TEST...
# Runs each test (an executable or a .sh script: unit binaries, host scripts, or
# tests/vm/*.sh, which run inside the VM through scripts/vm.sh), prints one line
# per test and a closing "SUITE: N passed, N failed" line.  Logs go to
# build/test-logs/SUITE/.  Adds the counts to $KATLS_TALLY if that is set.
set -u
suite=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
logdir=$top/build/test-logs/$suite
mkdir -p "$logdir"
pass=0 fail=0 failed=()
for t in "$@"; do
	name=$(basename "$t" .sh)
	log=$logdir/$name.log
	start=$(date +%s)
	case "$suite:$t" in
	vm:*)	cmd=("$top/scripts/vm.sh" run "$t") ;;
	*)	cmd=("$t") ;;
	esac
	if "${cmd[@]}" >"$log" 2>&1; then
		pass=$((pass + 1)); res=PASS
	else
		fail=$((fail + 1)); res=FAIL; failed+=("$name")
	fi
	printf '  %-4s %-40s %4ss\n' "$res" "$suite/$name" "$(( $(date +%s) - start ))"
	if [ "$res" = FAIL ]; then
		echo "  ---- last lines of $log ----"
		tail -n 40 "$log" | sed 's/^/  | /'
	fi
done
echo "$suite: $pass passed, $fail failed"
[ -n "${KATLS_TALLY:-}" ] && echo "$pass $fail" >>"$KATLS_TALLY"
[ "$fail" -eq 0 ]
