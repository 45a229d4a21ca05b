#!/bin/bash
# The gate tried as an attacker would (issue 11, ../shared/docs/ATTACKS.md): every
# way a connection comes to exist, every address form, every failure of the
# gate's own machinery.  Each attack runs unprivileged (uid 65534) where it
# needs no privilege, and the verdict is on the bytes the peer received
# (tests/vm/gate_attack.c).  Usage (in the VM, see scripts/vm.sh): test_gate_attack.sh
. "$(dirname "$0")/lib.sh"
ga=$tools/gate_attack
gio=$tools/gate_io
need jq
for f in "$katls" "$ga" "$gio"; do
	[ -x "$f" ] || { echo "FAIL - $f not built (make)"; exit 1; }
done
trap '$katls gate unload >/dev/null 2>&1 || true' EXIT
stat_of() { $katls gate stats --json | jq ".$1"; }
attack() { local what=$1; shift; local out; if out=$("$ga" "$@" 2>&1); then ok "$what"; else bad "$what"; fi; sed 's/^/	/' <<<"$out"; }

check "gate load" $katls gate load
check "MPTCP is enabled in this kernel" [ "$(sysctl -n net.mptcp.enabled)" = 1 ]
check "rules: out 127.0.0.1:7201,7203,7204,7206,7207 and ::1:7206, in any:7202,7205" bash -c "
	for p in 7201 7203 7204 7206 7207; do $katls policy add 127.0.0.1 port \$p --direction out --policy prod || exit 1; done
	$katls policy add ::1 port 7206 --direction out --policy prod &&
	$katls policy add any port 7202 --direction in --policy prod &&
	$katls policy add any port 7205 --direction in --policy prod"

# 1. MPTCP: the application's socket is not the TCP subflow sockops sees.
attack "MPTCP client to a ruled destination: refused, no byte reaches the peer" mptcp-out 127.0.0.1 7201
attack "MPTCP listener under an in rule: the accepted socket is refused both ways" mptcp-in 127.0.0.1 7202

# 2. Simultaneous open / self-connect completes through SYN_RECV (PASSIVE_ESTABLISHED).
attack "self-connect to a ruled address:port: refused" self-connect 127.0.0.1 7203

# 3. Socket storage that cannot be allocated must fail closed.
m0=$(stat_of mark_failed); n0=$(stat_of denied_nostate)
attack "option memory filled with TCP_MD5SIG keys before connect: refused" md5-fill 127.0.0.1 7204
check "mark_failed counted the storage failure" [ "$(stat_of mark_failed)" -gt "$m0" ]
check "denied_nostate: the refusals came from the stateless path" [ "$(stat_of denied_nostate)" -gt "$n0" ]
n0=$(stat_of denied_nostate)
attack "listener with a filter too big for its children's option memory: accepted side refused" \
	--uid 0 filter-fill 127.0.0.1 7205
check "denied_nostate: the accepted side had no storage" [ "$(stat_of denied_nostate)" -gt "$n0" ]

# 4. The unspecified address reaches loopback.
attack "connect(0.0.0.0:P) under a 127.0.0.1:P rule: a send() in SYN_SENT is refused" unspec 127.0.0.1 7206
attack "connect([::]:P) under a ::1:P rule: a send() in SYN_SENT is refused" unspec ::1 7206

# 5. A verdict belongs to a connection, not to a socket.
attack "an ATTESTED socket cannot be reconnected to another ruled destination" reconnect 127.0.0.1 7201 7207
attack "a writer blocked on an unruled connection cannot ride a reconnect to a ruled one" \
	--tries 20 race-reconnect 127.0.0.1 7299 7207

# 6. Connections that exist before the gate or the rule.
check "a connection made before the gate is loaded is refused once a rule covers it" \
	bash -c "$katls gate unload && $gio --gate later --port 7211 io=ok \
	run='$katls gate load >/dev/null && $katls policy add 127.0.0.1 port 7211 --direction out' \
	open-gate io=EACCES expect-state=required expect-peer=none"
check "a connection made before its rule is refused once the rule is added" \
	$gio --port 7212 io=ok expect-state=none \
	run="$katls policy add 127.0.0.1 port 7212 --direction out" io=EACCES expect-state=required
check "... also on the accepted side (in rule)" \
	$gio --side server --port 7213 io=ok \
	run="$katls policy add any port 7213 --direction in" io=EACCES expect-state=required
check "... and flows again once the rule is deleted (it was never attested)" \
	$gio --port 7212 io=EACCES run="$katls policy del 127.0.0.1 port 7212 --direction out" \
	io=ok expect-state=none
out=$($gio --port 7219 io=ok run="$katls policy add 127.0.0.1 port 7219 --direction out 2>$KATLS_OUT/add.err" io=EACCES 2>&1) || bad "count: $out"
check "policy add says how many live connections it covers: $(grep established $KATLS_OUT/add.err)" \
	grep -q "1 established connection is covered" $KATLS_OUT/add.err
check "a state katlsd wrote is not undone by a rule change (ATTESTED stays)" \
	$gio --port 7201 state=attested io=ok run="$katls policy add 127.0.0.9 port 7201 --direction out" io=ok

# 7. Rules that would silently never match.
check "an IPv4-mapped prefix is taken as IPv4" $katls policy add ::ffff:127.0.0.1 port 7214 --direction out
check "... listed as 127.0.0.1" bash -c "$katls policy list --json | jq -e '.[] | select(.port == 7214 and .prefix == \"127.0.0.1/32\")' >/dev/null"
check "... and it covers an IPv4 client" $gio --port 7214 expect-state=required
check "... and an IPv4-mapped client" $gio --addr ::ffff:127.0.0.1 --listen :: --port 7214 expect-state=required
check "'loopback' covers 127.0.0.2" bash -c "$katls policy add loopback port 7215 --direction out && $gio --addr 127.0.0.2 --port 7215 expect-state=required"
check "'loopback' covers ::1" $gio --addr ::1 --port 7215 expect-state=required
check "'any' port P in: an IPv4 client of a dual-stack listener is covered" \
	bash -c "$katls policy add any port 7216 --direction in && $gio --side server --addr 127.0.0.1 --listen :: --port 7216 expect-state=required"
check "'any' port P in: an IPv6 client of the same listener is covered" \
	$gio --side server --addr ::1 --listen :: --port 7216 expect-state=required
check "0.0.0.0/0 says it covers IPv4 only" bash -c "$katls policy add 0.0.0.0/0 port 7217 --direction out 2>&1 | grep -q 'IPv4 peers only'"
set +e; $katls policy add ::ffff:10.0.0.0/90 port 7218 >/dev/null 2>&1; rc=$?; set -e
check "a mapped prefix shorter than /96 is refused (exit 2)" [ "$rc" = 2 ]

done_testing
