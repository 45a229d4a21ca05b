#!/bin/bash
# STATE_GET against the TPM and IMA of the guest: PCRs equal tpm2_pcrread, the
# IMA count equals the ASCII list, generation moves on a new measurement, the
# permission model holds, malformed requests get -EINVAL with extack, and the
# module unloads cleanly.
. "$(dirname "$0")/lib.sh"
need jq; need tpm2_pcrread; need setpriv

check "katls.ko is loaded" grep -q '^katls ' /proc/modules
ascii=/sys/kernel/security/integrity/ima/ascii_runtime_measurements

# Warm up: the first run of each tool is itself measured and extends PCR 10.
$katls status --json >/dev/null; pcrread 0 >/dev/null; wc -l <$ascii >/dev/null; jq -n 1 >/dev/null

# PCRs 0-10 against tpm2_pcrread; retry while IMA is still measuring.
for try in 1 2 3 4 5; do
	st=$($katls status --json --pcrs 0-10)
	mism=""
	for i in $(seq 0 10); do
		[ "$(jq -r ".pcrs.sha256[\"$i\"]" <<<"$st")" = "$(pcrread $i)" ] || mism+=" $i"
	done
	st2=$($katls status --json --pcrs none)
	[ -z "$mism" ] && [ "$(jq .generation <<<"$st")" = "$(jq .generation <<<"$st2")" ] && break
done
check "PCRs 0-10 equal tpm2_pcrread (mismatch:${mism:- none})" [ -z "$mism" ]
check "PCR 0 is not all zeros (firmware measured)" \
	[ "$(jq -r '.pcrs.sha256["0"]' <<<"$st")" != "$(printf '0%.0s' $(seq 64))" ]

# IMA count against the list.
for try in 1 2 3 4 5; do
	c1=$($katls status --json --pcrs none | jq .ima.count)
	lines=$(wc -l <$ascii)
	c2=$($katls status --json --pcrs none | jq .ima.count)
	[ "$c1" = "$c2" ] && [ "$c1" = "$lines" ] && break
done
check "IMA count ($c1) equals ascii_runtime_measurements lines ($lines)" [ "$c1" = "$lines" ]
check "tpm_present is true" [ "$(jq .tpm_present <<<"$st")" = true ]
check "kernel_release is uname -r" [ "$(jq -r .kernel_release <<<"$st")" = "$(uname -r)" ]
check "boot_id is /proc/sys/kernel/random/boot_id" \
	[ "$(jq -r .boot_id <<<"$st")" = "$(cat /proc/sys/kernel/random/boot_id)" ]
check "taint equals /proc/sys/kernel/tainted" [ "$(jq .taint <<<"$st")" = "$(cat /proc/sys/kernel/tainted)" ]
lockdown=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/security/lockdown)
check "lockdown is '$lockdown'" [ "$(jq -r .lockdown <<<"$st")" = "$lockdown" ]

# A binary never run before is measured: count and generation must move.
g1=$($katls status --json --pcrs none | jq .generation)
n1=$($katls status --json --pcrs none | jq .ima.count)
bin=$KATLS_OUT/fresh-$RANDOM$RANDOM
cp /bin/true "$bin"; echo "$RANDOM$RANDOM" >>"$bin"; chmod +x "$bin"; "$bin"
g2=$($katls status --json --pcrs none | jq .generation)
n2=$($katls status --json --pcrs none | jq .ima.count)
check "new binary is in the IMA list" grep -q "$bin" $ascii
check "IMA count grew ($n1 -> $n2)" [ "$n2" -gt "$n1" ]
check "generation moved ($g1 -> $g2)" [ "$g2" -gt "$g1" ]
g3=$($katls status --json --pcrs none | jq .generation)
check "generation stable without new measurements ($g2 = $g3)" [ "$g3" = "$g2" ]

# Permission model: unprivileged callers get public fields only.
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
u=$(nobody $katls status --json)
check "unprivileged: kernel_release present" [ "$(jq -r .kernel_release <<<"$u")" = "$(uname -r)" ]
check "unprivileged: no IMA counters" [ "$(jq 'has("ima")' <<<"$u")" = false ]
check "unprivileged: no PCRs" [ "$(jq 'has("pcrs")' <<<"$u")" = false ]
if err=$(nobody $katls status --pcrs 0 2>&1); then
	bad "unprivileged PCR read must fail"
else
	check "unprivileged PCR read: EPERM with reason ($err)" \
		grep -q "Operation not permitted.*requires CAP_SYS_ADMIN" <<<"$err"
fi

# Malformed requests.
check "malformed requests rejected with extack" $tools/nlprobe

# Unload.
check "rmmod katls" rmmod katls
set +e; out=$($katls status 2>&1); rc=$?; set -e
check "without the module: exit 3 and one clear line ($out)" \
	[ "$rc" = 3 -a "$(wc -l <<<"$out")" = 1 ]
grep -q "not loaded" <<<"$out" || bad "message names the missing module"
done_testing
