#!/bin/bash
# IMA_GET: `katls ima dump` is byte-identical to binary_runtime_measurements up
# to the snapshot count, --start skips records, a dump racing new measurements
# is flagged and restarted; STATE_CHANGED follows a new measurement.
. "$(dirname "$0")/lib.sh"
need cmp
bin=/sys/kernel/security/integrity/ima/binary_runtime_measurements
d=$KATLS_OUT

# A binary never run before: IMA measures it on first exec.
fresh() { local f=$d/fresh-$RANDOM$RANDOM; cp /bin/true "$f"; echo "$RANDOM$RANDOM" >>"$f"; chmod +x "$f"; echo "$f"; }

# The list must span several netlink messages (~32 KiB each): files root
# reads are measured (ima_policy=tcb), so read 500 new ones.
mkdir -p $d/many
for i in $(seq 500); do echo "$i $RANDOM$RANDOM" >$d/many/f$i; done
cat $d/many/* >/dev/null
# Warm up: the tools' own first runs are measured.
$katls ima dump >/dev/null 2>&1 || true; cmp /dev/null /dev/null; head -c0 $bin; stat -c %s /dev/null >/dev/null
for try in 1 2 3; do
	$katls ima dump --output $d/dump.bin 2>$d/dump.err && rc=0 || rc=$?
	size=$(stat -c %s $d/dump.bin)
	head -c "$size" $bin >$d/ref.bin
	cmp -s $d/dump.bin $d/ref.bin && break
done
cat $d/dump.err
check "katls ima dump exits 0" [ "$rc" = 0 ]
check "dump ($size bytes) is byte-identical to the list prefix" cmp $d/dump.bin $d/ref.bin
check "the dump spans several messages ($size bytes)" [ "$size" -gt 65536 ]
count=$(sed -n 's/.*records 0\.\.\([0-9]*\).*/\1/p' $d/dump.err)
ascii=$(wc -l </sys/kernel/security/integrity/ima/ascii_runtime_measurements)
check "snapshot count ($count) <= list length ($ascii)" [ "$count" -le "$ascii" -a "$count" -gt 0 ]

# --start N: the same bytes minus the first N records (a suffix of the full dump).
for try in 1 2 3; do
	$katls ima dump --output $d/full.bin 2>/dev/null
	$katls ima dump --start 5 --output $d/part.bin 2>$d/part.err
	fs=$(stat -c %s $d/full.bin); ps=$(stat -c %s $d/part.bin)
	tail -c "$ps" $d/full.bin | cmp -s - $d/part.bin && break
done
check "--start 5 is a suffix of the full dump ($ps of $fs bytes)" \
	bash -c "tail -c $ps $d/full.bin | cmp - $d/part.bin && [ $ps -lt $fs ]"
n=$(sed -n 's/.*records 0\.\.\([0-9]*\).*/\1/p' $d/dump.err)
set +e; out=$($katls ima dump --start 99999999 2>&1 >/dev/null); rc=$?; set -e
check "--start beyond the list fails (rc $rc: $out)" [ "$rc" = 1 ]
grep -q "out of range" <<<"$out" || bad "--start beyond the list: ERANGE named"

# A dump that races a new measurement is detected; the restart is consistent.
check "racing dump flagged, restarted dump consistent" $tools/imarace dump "$(fresh)" $d/race.bin
rs=$(stat -c %s $d/race.bin)
check "restarted dump ($rs bytes) is byte-identical to the list prefix" \
	bash -c "head -c $rs $bin | cmp - $d/race.bin"

# STATE_CHANGED
check "STATE_CHANGED after a new measurement" $tools/imarace events "$(fresh)"

# Unprivileged
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
set +e; out=$(nobody $katls ima dump 2>&1 >/dev/null); rc=$?; set -e
check "unprivileged ima dump refused (rc $rc: $out)" grep -q "not permitted" <<<"$out"
check "rmmod katls" rmmod katls
done_testing
