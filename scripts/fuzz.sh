#!/bin/bash
# fuzz.sh SECONDS FUZZER...
# Runs each libFuzzer target for SECONDS on its corpus (tests/fuzz/corpus/<name>,
# copied to a scratch dir so the tree is not modified).  A crash fails the run
# and leaves the reproducer in build/fuzz/crashes/.
set -u
secs=$1; shift
top=$(cd "$(dirname "$0")/.." && pwd)
crashes=$top/build/fuzz/crashes
mkdir -p "$crashes"
rc=0 pass=0 fail=0
for f in "$@"; do
	name=$(basename "$f")
	work=$(mktemp -d)
	[ -d "$top/tests/fuzz/corpus/$name" ] && cp -r "$top/tests/fuzz/corpus/$name/." "$work/"
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$crashes/$name-" -print_final_stats=1 "$work" \
		>"$top/build/fuzz/$name.log" 2>&1; then
		pass=$((pass + 1))
		printf '  PASS %-40s %s\n' "fuzz/$name" \
			"$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$top/build/fuzz/$name.log" | grep -o '[0-9]*$') execs"
	else
		printf '  FAIL %-40s see build/fuzz/%s.log\n' "fuzz/$name" "$name"
		tail -n 30 "$top/build/fuzz/$name.log" | sed 's/^/  | /'
		rc=1 fail=$((fail + 1))
	fi
	rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
[ -n "${KATLS_TALLY:-}" ] && echo "$pass $fail" >>"$KATLS_TALLY"
exit $rc
