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
m0=$(stat_of mark_failed)
attack "option memory filled with TCP_MD5SIG keys before connect: refused" md5-fill 127.0.0.1 7204
check "mark_failed counted the storage failure" [ "$(stat_of mark_failed)" -gt "$m0" ]
attack "listener with a filter too big for its children's option memory: accepted side refused" \
	--uid 0 filter-fill 127.0.0.1 7205

# 4. The unspecified address reaches loopback.
attack "connect(0.0.0.0:P) under a 127.0.0.1:P rule: a send() in SYN_SENT is refused" unspec 127.0.0.1 7206
attack "connect([::]:P) under a ::1:P rule: a send() in SYN_SENT is refused" unspec ::1 7206

# 5. A verdict belongs to a connection, not to a socket.
attack "an ATTESTED socket cannot be reconnected to another ruled destination" reconnect 127.0.0.1 7201 7207
attack "a writer blocked on an unruled connection cannot ride a reconnect to a ruled one" \
	--tries 20 race-reconnect 127.0.0.1 7299 7207

done_testing
