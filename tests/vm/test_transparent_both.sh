#!/bin/bash
# Transparent attestation, both ends unmodified (issue 14 items 2 and 4):
# attest rules for the outgoing and the accepted end of the same connections
# (loopback: one katlsd serves both ends, as two hosts' katlsd would), mutual
# role: a python3 http.server and busybox nc -l, with no katls code, accept
# connections of busybox nc and python3; each end is taken by katls.ko
# (connect, and accept's sock_graft), attested and handed kTLS.  Checked: the
# exchange succeeds, both ends' verdicts are transparent and name their
# program, kTLS counters move for both ends, no plaintext on the wire.
. "$(dirname "$0")/lib.sh"
need jq; need openssl; need /usr/bin/python3; need busybox
. "$top/tests/vm/daemon_lib.sh"
. "$top/tests/vm/transp_lib.sh"
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
for p in 7801 7802; do
	$katls policy add 127.0.0.1 port $p attest --role mutual --policy vm >/dev/null ||
		{ echo "FAIL - rule $p"; exit 1; }
done
start_katlsd
verdicts() { grep "event=verdict" "$kd_log" | grep "transparent=true" | tail -n "$1"; }

# 1. python3 http.server <- busybox nc (an HTTP/1.0 request by hand)
mkdir -p "$work/www"; echo "HELLO-FROM-HTTP-SERVER" >"$work/www/index.html"
(cd "$work/www" && exec $py -m http.server --bind 127.0.0.1 7801) >"$work/http.log" 2>&1 &
hp=$!
wait_port 7801 $hp
tx0=$(tls_stat TlsTxSw); rx0=$(tls_stat TlsRxSw)
sniff 7801 "$work/wire1"
out=$(printf 'GET /index.html HTTP/1.0\r\n\r\n' | timeout 90 busybox nc 127.0.0.1 7801 2>&1) || true
unsniff
kill $hp 2>/dev/null || true; wait $hp 2>/dev/null || true
echo "    nc got: $(head -c 200 <<<"$out" | tr '\r\n' '  ')"
check "http.server answered busybox nc (200, the page)" \
	bash -c "grep -q 'HTTP/1.0 200' <<<'$out' && grep -q HELLO-FROM-HTTP-SERVER <<<'$out'"
check "kTLS counters moved for both ends (TlsTxSw/TlsRxSw +2: one socket each)" \
	[ $(( $(tls_stat TlsTxSw) - tx0 )) -eq 2 -a $(( $(tls_stat TlsRxSw) - rx0 )) -eq 2 ]
check "no plaintext on the wire" \
	bash -c "[ -s '$work/wire1' ] && ! grep -aq 'GET /index\|HTTP/1\|HELLO-FROM' '$work/wire1'"
v=$(verdicts 2); echo "$v" | sed 's/^/    /'
pyd=$(sha256sum "$(readlink -f $py)" | cut -c1-64)
bb=$(sha256sum "$(readlink -f /bin/busybox)" | cut -c1-64)
check "server end: accepted, mutual, names python3 and its digest" \
	bash -c "grep 'role=server' <<<'$v' | grep -q 'mode=mutual result=accepted.*exe_digest=sha256:$pyd'"
check "client end: accepted, mutual, names busybox and its digest" \
	bash -c "grep 'role=client' <<<'$v' | grep -q 'mode=mutual result=accepted.*exe_digest=sha256:$bb'"
check "each end verified the other's workload" \
	[ "$(grep -c 'peer_exe_digest=' <<<"$v")" = 2 ]

# 2. busybox nc -l <- python3
printf '#!/bin/sh\nread l; echo "ECHO:$l"\n' >"$work/echo.sh"; chmod +x "$work/echo.sh"
busybox nc -l -p 7802 -e "$work/echo.sh" >"$work/ncl.log" 2>&1 &
np=$!
wait_port 7802 $np
sniff 7802 "$work/wire2"
out=$(timeout 90 $py -c '
import socket
s = socket.create_connection(("127.0.0.1", 7802))
s.sendall(b"PING-7802\n")
print(s.recv(100).decode().strip())' 2>&1) || true
unsniff
kill $np 2>/dev/null || true; wait $np 2>/dev/null || true
echo "    python3 got: $out"
check "busybox nc -l (with a shell) answered python3" [ "$out" = "ECHO:PING-7802" ]
check "no plaintext on the wire (nc -l)" \
	bash -c "[ -s '$work/wire2' ] && ! grep -aq 'PING-7802\|ECHO:' '$work/wire2'"
v=$(verdicts 2)
check "both ends of the second connection attested" [ "$(grep -c 'result=accepted' <<<"$v")" = 2 ]
stop_katlsd
done_testing
