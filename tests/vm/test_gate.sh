#!/bin/bash
# The BPF gate on the Debian 6.1 kernel, where BPF-LSM runs: the programs load
# and prove themselves; a rule makes loopback connections REQUIRED; the app's
# I/O then fails with EACCES through every path (write, writev, send, sendto,
# sendmsg, sendmmsg, sendfile, splice in; read, readv, recv, recvfrom, recvmsg,
# recvmmsg, splice out, TCP_ZEROCOPY_RECEIVE), also when issued before the
# connection is established (SYN_SENT, TCP Fast Open); only the registered daemon may
# move data on a PENDING socket (all its threads; not a forked child, not after
# execve); ATTESTED flows; expiry flips to EXPIRED and fails with EKEYEXPIRED;
# exempt rules and non-matching connections are untouched; unknown states fail
# closed; a reload keeps pinned state; counters and events report each denial;
# unload restores normal traffic.
# Usage (inside the VM, see scripts/vm.sh): test_gate.sh [BUILD_DIR]
. "$(dirname "$0")/lib.sh"
B=${1:-${KATLS_BUILD:-$top/build}}
katls=$B/katls
gio=$B/tests/vm/gate_io
need jq
for f in "$katls" "$gio"; do
	[ -x "$f" ] || { echo "FAIL - $f not built (make)"; exit 1; }
done
trap '$katls gate unload >/dev/null 2>&1 || true' EXIT
stat_of() { $katls gate stats --json | jq ".$1"; }

check "bpf is an active LSM" grep -qw bpf /sys/kernel/security/lsm
check "bpffs at /sys/fs/bpf" test "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs

# ---- load: enforcing, proven by the loader's self-test
check "gate load (self-test included)" $katls gate load
check "status: enforcing, exit 0" $katls gate status
check "status --json: 7 LSM programs (sock_graft: attest rules) and sockops" \
	[ "$($katls gate status --json | jq -c '[.enforcing, .lsm_programs, .sockops]')" = '[true,7,true]' ]
check "the self-test left no trace in the counters" [ "$(stat_of denied_send)" = 0 ]

check "rule: out 127.0.0.1:7101 require, policy prod" \
	$katls policy add 127.0.0.1 port 7101 --direction out --policy prod
check "rule: in any:7102 require, policy web" $katls policy add any port 7102 --direction in --policy web
check "rule: out ::1:7103 require" $katls policy add ::1 port 7103 --direction out --policy prod
check "rule: out 127.0.0.1:7104 require, max age 2s" \
	$katls policy add 127.0.0.1 port 7104 --direction out --policy short --max-age 2
check "rule: out 127.0.0.0/8:7105 require" $katls policy add 127.0.0.0/8 port 7105 --direction out
check "rule: out 127.0.0.5:7105 exempt" $katls policy add 127.0.0.5 port 7105 exempt --direction out

# ---- REQUIRED: every path refused, from every thread and child
check "REQUIRED: every I/O path fails with EACCES (process, thread, child)" \
	$gio --port 7101 expect-state=required expect-policy=1 expect-peer=none \
	io=EACCES io-thread=EACCES io-child=EACCES
check "REQUIRED over IPv6" $gio --addr ::1 --port 7103 expect-state=required io=EACCES
check "REQUIRED via an IPv4-mapped peer" \
	$gio --addr ::ffff:127.0.0.1 --port 7101 expect-state=required io=EACCES
check "REQUIRED on an accepted socket (in rule): the server app is refused" \
	$gio --addr ::1 --port 7102 --side server expect-state=required expect-peer=none io=EACCES

# ---- before establishment: connect() marks at once (TFO too); sockops confirms or clears
check "SYN_SENT: marked at connect(); a blocking send/recv issued before establishment is refused" \
	$gio --pair no --port 7101 syn-sent=EACCES
check "TCP Fast Open: data for the SYN is refused" $gio --pair no --port 7101 tfo=EACCES
check "TCP Fast Open to a non-matching destination flows" $gio --pair no --port 7198 tfo=ok
check "a refused connect's mark clears when the socket connects elsewhere" \
	$gio --pair no --port 7101 refused-then=7197

# ---- PENDING: only the daemon moves data
check "PENDING: the app is refused, the registered daemon is not" \
	$gio --port 7101 state=pending io=EACCES exempt io=ok io-thread=ok
check "PENDING: a forked child of the daemon is not the daemon" \
	$gio --port 7101 state=pending exempt io-child=EACCES
check "PENDING: execve drops the exemption" \
	$gio --port 7101 state=pending exempt io=ok exec expect-exempt=no io=EACCES
check "PENDING: unregistering drops the exemption" \
	$gio --port 7101 state=pending exempt unexempt io=EACCES
check "the daemon gets no more than an app on REQUIRED, FAILED, EXPIRED" \
	$gio --port 7101 exempt io=EACCES state=failed io=EACCES state=expired io=EKEYEXPIRED

# ---- ATTESTED flows; expiry; FAILED
check "ATTESTED flows, then the verdict expires: EXPIRED and EKEYEXPIRED" \
	$gio --port 7101 state=attested:2500 io=ok sleep=2700 io=EKEYEXPIRED expect-state=expired
check "ATTESTED without expiry flows" $gio --port 7101 state=attested io=ok sleep=500 io=ok
check "the rule's max age (2 s) caps a verdict without expiry" \
	$gio --port 7104 state=attested io=ok sleep=2300 io=EKEYEXPIRED expect-state=expired
check "FAILED refuses with EACCES" $gio --port 7101 state=failed io=EACCES
check "re-attestation: EXPIRED -> PENDING -> ATTESTED flows again" \
	$gio --port 7101 state=attested:100 sleep=200 send=EKEYEXPIRED state=pending send=EACCES \
	state=attested send=ok
check "fail closed: an unknown state value is refused" $gio --port 7101 raw-state=77 io=EACCES

# ---- untouched connections
check "exempt carve-out: untouched, all paths flow" \
	$gio --addr 127.0.0.5 --port 7105 expect-state=none io=ok
check "the same broad rule marks a non-exempt peer" \
	$gio --addr 127.0.0.6 --port 7105 expect-state=required send=EACCES
check "a non-matching connection is untouched" $gio --port 7199 expect-state=none io=ok
check "an out rule leaves the accepted end alone" \
	$gio --port 7101 --side server expect-state=none expect-peer=required

# ---- counters and events: each denial, with its op, errno, policy and caller
$katls gate events --backlog --timeout 0 >/dev/null	# drain
s0=$($katls gate stats --json)
out=$($gio --port 7101 send=EACCES send=EACCES send=EACCES state=attested:100 sleep=200 \
	send=EKEYEXPIRED) || bad "denials for counting: $out"
s1=$($katls gate stats --json)
delta() { echo $(( $(jq ".$1" <<<"$s1") - $(jq ".$1" <<<"$s0") )); }
check "counters: denied_send +4 ($(delta denied_send))" [ "$(delta denied_send)" = 4 ]
check "counters: denied_expired +1" [ "$(delta denied_expired)" = 1 ]
check "counters: expired +1" [ "$(delta expired)" = 1 ]
check "counters: marked_required +1" [ "$(delta marked_required)" = 1 ]
check "counters: no other denial counted" \
	[ "$(( $(delta denied_recv) + $(delta denied_file_write) + $(delta denied_file_read) + $(delta denied_zerocopy) ))" = 0 ]
ev=$($katls gate events --backlog --json --timeout 0)
check "events: exactly 4 ($(wc -l <<<"$ev"))" [ "$(wc -l <<<"$ev")" = 4 ]
check "events: 3 x send EACCES in state required, policy prod, comm gate_io" \
	[ "$(jq -c 'select(.error == "EACCES") | [.op, .state, .policy, .comm, .errno]' <<<"$ev" | sort | uniq -c | tr -s ' ')" \
	  = ' 3 ["send","required","prod","gate_io",13]' ]
check "events: then send EKEYEXPIRED in state expired" \
	[ "$(tail -n1 <<<"$ev" | jq -c '[.op, .error, .state, .errno]')" = '["send","EKEYEXPIRED","expired",127]' ]
check "events: addresses and port" \
	[ "$(head -n1 <<<"$ev" | jq -r '.remote')" = "127.0.0.1:7101" ]
check "events: non-zero socket cookie and pid" [ "$(head -n1 <<<"$ev" | jq '.cookie > 0 and .pid > 0')" = true ]
check "stats text lists every counter" [ "$($katls gate stats | wc -l)" = 17 ]

# Live: a reader started first sees a denial made after it.
evf=$KATLS_OUT/gate-events.$$
$katls gate events --json --count 2 --timeout 60 >"$evf" &
reader=$!
sleep 1
$gio --port 7101 send=EACCES io-child=EACCES >/dev/null || bad "live denials"
rc=0; wait $reader || rc=$?
check "live events: the reader got its 2 events and exited 0 (rc $rc)" [ "$rc" = 0 ]
check "live events: text mode too" \
	bash -c "$gio --port 7101 send=EACCES >/dev/null; $katls gate events --backlog --timeout 0 | grep -q 'send 127.0.0.1:[0-9]* -> 127.0.0.1:7101 denied EACCES (state required, policy prod)'"
rm -f "$evf"

# ---- reload keeps pinned state (a daemon or CLI restart does not open the gate)
check "reload: a socket keeps its state across 'gate load', the new programs enforce" \
	$gio --port 7101 state=attested io=ok run="$katls gate load" expect-state=attested io=ok \
	state=required io=EACCES
check "reload kept the rules" [ "$($katls policy list --json | jq length)" = 7 ]
check "reload: still enforcing" $katls gate status

# ---- --no-lsm is reported as not enforcing (test/diagnostic mode)
check "unload" $katls gate unload
check "load --no-lsm" $katls gate load --no-lsm
set +e; $katls gate status >/dev/null; rc=$?; set -e
check "status under --no-lsm: exit 6, NOT ENFORCING" [ "$rc" = 6 ]
check "reload with LSM over --no-lsm" $katls gate load
check "unload dropped the rules: the connection is not marked" $gio --port 7101 expect-state=none
check "rule again" $katls policy add 127.0.0.1 port 7101 --direction out

# ---- unload restores normal traffic
check "unload restores traffic on a socket that was refused" \
	$gio --port 7101 io=EACCES run="$katls gate unload" io=ok
check "unloaded: status exit 5" bash -c "$katls gate status >/dev/null 2>&1; [ \$? = 5 ]"
check "unloaded: no pins" test ! -e /sys/fs/bpf/katls
done_testing
