#!/bin/bash
# run-tests.sh SUITE TEST...
# Runs each test (an executable or a .sh script: unit binaries, host scripts, or
# tests/vm/*.sh, which run inside the VM through scripts/vm.sh), prints one line
# per test and a closing "SUITE: N passed, N failed" line.  Logs go to
# build/test-logs/SUITE/.  Adds the counts to $KATLS_TALLY if that is set.
# VM tests listed together on a line of tests/vm/boots share one boot
# (tests/vm/run_several.sh); each still gets its own line here.
set -u
suite=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
logdir=$top/build/test-logs/$suite
mkdir -p "$logdir"
pass=0 fail=0 failed=()

report() {	# report NAME RES SECONDS LOG
	if [ "$2" = PASS ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); failed+=("$1")
	fi
	printf '  %-4s %-40s %4ss\n' "$2" "$suite/$1" "$3"
	if [ "$2" = FAIL ]; then
		echo "  ---- last lines of $4 ----"
		tail -n 40 "$4" | sed 's/^/  | /'
	fi
}

run_alone() {
	local t=$1 name log start cmd res=PASS
	name=$(basename "$t" .sh)
	log=$logdir/$name.log
	start=$(date +%s)
	case "$suite" in
	vm)	cmd=("$top/scripts/vm.sh" run "$t") ;;
	*)	cmd=("$t") ;;
	esac
	"${cmd[@]}" >"$log" 2>&1 || res=FAIL
	report "$name" $res $(( $(date +%s) - start )) "$log"
}

# run_boot TEST...: VM tests in one boot; each one's result from run_several's lines
run_boot() {
	local t name log res secs
	log=$logdir/boot-$(basename "$1" .sh).log
	KATLS_VM_TIMEOUT=$((600 * $#)) "$top/scripts/vm.sh" run tests/vm/run_several.sh \
		"${@#"$top"/}" >"$log" 2>&1
	for t in "$@"; do
		name=$(basename "$t" .sh)
		# this test's own part of the boot's log, for a failure report
		sed -n "\#^=== RUN ${t#"$top"/}\$#,\#^=== \(PASS\|FAIL\) ${t#"$top"/} #p" "$log" \
			>"$logdir/$name.log"
		read -r res secs < <(sed -n "s#^=== \(PASS\|FAIL\) ${t#"$top"/} \([0-9]*\)\$#\1 \2#p" "$log")
		if [ -z "${res:-}" ]; then	# never ran, or the boot ended in it
			res=FAIL secs=0
			{ echo "(did not finish: the boot's log, $log, ends:)"; tail -n 30 "$log"; } \
				>>"$logdir/$name.log"
		fi
		report "$name" "$res" "$secs" "$logdir/$name.log"
		res=
	done
}

if [ "$suite" != vm ] || [ ! -f "$top/tests/vm/boots" ]; then
	for t in "$@"; do run_alone "$t"; done
else
	declare -A wanted=()
	for t in "$@"; do wanted[$(basename "$t")]=$t; done
	while read -r line; do
		group=()
		for b in $line; do
			[ -n "${wanted[$b]:-}" ] && group+=("${wanted[$b]}") && unset "wanted[$b]"
		done
		[ ${#group[@]} -gt 1 ] && run_boot "${group[@]}"
		[ ${#group[@]} -eq 1 ] && run_alone "${group[0]}"
	done < <(grep -v '^#' "$top/tests/vm/boots")
	for t in "$@"; do [ -n "${wanted[$(basename "$t")]:-}" ] && run_alone "$t"; done
fi
echo "$suite: $pass passed, $fail failed"
[ -n "${KATLS_TALLY:-}" ] && echo "$pass $fail" >>"$KATLS_TALLY"
[ "$fail" -eq 0 ]
