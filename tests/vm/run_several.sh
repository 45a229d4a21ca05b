#!/bin/bash
# run_several.sh TEST... : run several guest tests in one VM boot (a boot costs
# ~25 s of TCG time, 18 boots were a third of `make check`), each in its own
# bash and as if in a boot of its own: a fresh katls.ko (module parameters and
# counters as loaded), no gate, no katlsd left from the test before.  Prints
# "=== PASS|FAIL TEST SECONDS" per test (scripts/run-tests.sh reads them);
# exits non-zero if any failed.
top=$(cd "$(dirname "$0")/../.." && pwd)
failed=""
fresh_module() {
	pkill -x katlsd 2>/dev/null && sleep 0.5
	"$top/build/katls" gate unload >/dev/null 2>&1 || true
	if [ -d /sys/module/katls ] && ! rmmod katls 2>/dev/null; then
		echo "=== note: katls.ko still in use after the test before; the next one shares it"
		return
	fi
	insmod "$top/kmod/katls.ko" || echo "=== note: insmod katls.ko failed"
}
for t in "$@"; do
	fresh_module
	echo "=== RUN $t"
	start=$(date +%s)
	if bash "$top/$t"; then res=PASS; else res=FAIL; failed="$failed $t"; fi
	echo "=== $res $t $(( $(date +%s) - start ))"
done
"$top/build/katls" gate unload >/dev/null 2>&1 || true
[ -z "$failed" ] || { echo "=== FAILED:$failed"; exit 1; }
echo "=== all passed"
