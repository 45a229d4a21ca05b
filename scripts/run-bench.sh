#!/bin/bash
# run-bench.sh BENCH... - run every benchmark binary given (make bench passes
# build/bench/*), then every bench/*.sh wrapper (those that must run in the VM),
# printing their output under a header each.  Benchmarks report figures, they
# do not pass or fail; the exit status is non-zero only if one could not run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
rc=0
for b in "$@" "$top"/bench/*.sh; do
	[ -e "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || { st=$?; echo "run-bench: $(basename "$b") exited $st"; rc=1; }
	echo
done
exit $rc
