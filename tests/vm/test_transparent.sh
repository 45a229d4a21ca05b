#!/bin/bash
# Transparent attestation (issue 14, docs/transparent.md), outbound: unmodified
# programs -- busybox nc (statically linked) and Debian's python3 (dynamically
# linked), no katls code in them -- connect under an attest rule to a
# katls-aware server.  katls.ko takes the socket at connect() (the gate's
# kfunc), katlsd attests it; the program's first write waits for the verdict.
# Checked: the bytes arrive, and only after the verdict (the server's first
# read is exactly the program's bytes); kTLS counters move; no plaintext on
# the wire (a packet capture on lo); katlsd's verdict names the program's exe
# and its digest (sha256sum); refusal (the server fails the policy) gives the
# program EACCES and the server no byte; a peer without katls (plain nc -l)
# gives a refusal within the timeout, never a hang; a shutdown(SHUT_WR) before
# the verdict is held back until it; the same over IPv6.
. "$(dirname "$0")/lib.sh"
need jq; need openssl; need /usr/bin/python3; need busybox
. "$top/tests/vm/daemon_lib.sh"
. "$top/tests/vm/transp_lib.sh"
probe=$tools/daemon_probe
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
check "the gate serves attest rules" bash -c "$katls gate status | grep -q 'attest *served by katls.ko'"
for p in 7701 7702 7704; do
	$katls policy add 127.0.0.1 port $p attest --direction out --policy vm >/dev/null ||
		{ echo "FAIL - rule $p"; exit 1; }
done
$katls policy add 127.0.0.1 port 7703 --attest --direction out --policy akpin >/dev/null ||
	{ echo "FAIL - rule 7703"; exit 1; }
check "policy list shows the attest rules" bash -c "$katls policy list | grep -q '7701 *attest *vm'"
start_katlsd
check "katlsd uses the gate" grep -q "BPF gate .*enforcing" "$kd_log"

serve() {	# serve PORT: the katls-aware server (attests itself), $sp
	: >"$work/ps.out"
	$probe serve "$1" -m attest >"$work/ps.out" 2>&1 &
	sp=$!
	for _ in $(seq 100); do grep -q listening "$work/ps.out" && return 0; sleep 0.1; done
	echo "FAIL - probe server did not start"; exit 1
}
served() { wait $sp 2>/dev/null || true; sout=$(tail -n1 "$work/ps.out"); echo "    server: $sout"; }
verdict() { grep "event=verdict" "$kd_log" | grep "role=client" | tail -n1; }

# 1. busybox nc, statically linked
tx0=$(tls_stat TlsTxSw); rx0=$(tls_stat TlsRxSw)
serve 7701
sniff 7701 "$work/wire1"
out=$(echo -n APP-DATA-7701 | timeout 60 busybox nc 127.0.0.1 7701 2>&1) || true
served; unsniff
echo "    nc: $out"
check "busybox nc: the server got exactly the program's bytes, after the verdict" \
	grep -q "result=ok .*first=APP-DATA-7701 " <<<"$sout"
check "busybox nc: it read the server's reply" [ "$out" = ACK ]
check "kTLS counters moved (TlsTxSw, TlsRxSw +2: both ends)" \
	[ $(( $(tls_stat TlsTxSw) - tx0 )) -ge 2 -a $(( $(tls_stat TlsRxSw) - rx0 )) -ge 2 ]
check "the wire carried bytes" [ -s "$work/wire1" ]
check "no plaintext on the wire" bash -c "! grep -aq 'APP-DATA\|ACK' '$work/wire1'"
v=$(verdict); echo "    $v"
check "katlsd's verdict: transparent, accepted" grep -q "result=accepted.* transparent=true" <<<"$v"
bb=$(sha256sum "$(readlink -f /bin/busybox)" | cut -c1-64)
check "the verdict names busybox and its digest" \
	bash -c "grep -q 'exe_digest=sha256:$bb' <<<'$v' && grep -q 'exe=/usr/bin/busybox\|exe=/bin/busybox' <<<'$v'"

# 2. python3, dynamically linked (socket.create_connection, sendall, recv)
serve 7702
sniff 7702 "$work/wire2"
out=$(timeout 60 $py -c '
import socket
s = socket.create_connection(("127.0.0.1", 7702))
s.sendall(b"APP-DATA-7702")
print(s.recv(100).decode())' 2>&1) || true
served; unsniff
echo "    python3: $out"
check "python3: the server got exactly its bytes" grep -q "result=ok .*first=APP-DATA-7702 " <<<"$sout"
check "python3: it read the reply" [ "$out" = ACK ]
check "no plaintext on the wire (python3)" bash -c "[ -s '$work/wire2' ] && ! grep -aq 'APP-DATA\|ACK' '$work/wire2'"
v=$(verdict)
pyd=$(sha256sum "$(readlink -f $py)" | cut -c1-64)
check "the verdict names python3 and its digest" grep -q "exe_digest=sha256:$pyd" <<<"$v"

# 3. refusal: the rule's policy pins another AK: the server fails it
serve 7703
out=$(timeout 60 $py -c '
import socket, errno
s = socket.create_connection(("127.0.0.1", 7703))
try:
    s.sendall(b"APP-DATA-7703"); print("SENT")
except OSError as e:
    print(errno.errorcode[e.errno])
try:
    print("READ", s.recv(100))
except OSError as e:
    print(errno.errorcode[e.errno])' 2>&1) || true
served
echo "    python3: $(echo $out)"
check "refused: the program's write fails with EACCES" [ "$(head -n1 <<<"$out")" = EACCES ]
check "refused: and so does its read" [ "$(sed -n 2p <<<"$out")" = EACCES ]
check "refused: the server received no application byte" bash -c "! grep -q 'APP-DATA' <<<'$sout'"
check "katlsd's verdict: refused" bash -c "verdict() { grep event=verdict '$kd_log' | grep role=client | tail -n1; }; verdict | grep -q 'result=refused.*transparent=true'"

# 4. peers without katls: a clear refusal within the timeout, never a hang.
# 7704: plain busybox nc -l, which gets the ClientHello and hangs up (EPROTO);
# 7705: a peer that accepts and never says a word (ETIMEDOUT at the timeout).
echo 5000 >/sys/module/katls/parameters/max_timeout_ms
$katls policy add 127.0.0.1 port 7705 attest --direction out --policy vm >/dev/null
plain_peer() {	# plain_peer PORT EXPECTED...: python3 client against a plain listener
	local port=$1; shift
	if [ "$port" = 7705 ]; then
		sleep 30 | busybox nc -l -p $port >"$work/plain$port.out" 2>&1 &
	else
		busybox nc -l -p $port >"$work/plain$port.out" 2>&1 </dev/null &
	fi
	np=$!
	wait_port $port
	t0=$(date +%s)
	out=$(timeout 60 $py -c '
import socket, errno, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    s.sendall(b"APP-DATA-PLAIN"); print("SENT")
except OSError as e:
    print(errno.errorcode[e.errno])' $port 2>&1) || true
	t=$(( $(date +%s) - t0 ))
	pkill -P $np 2>/dev/null || true; kill $np 2>/dev/null || true; wait $np 2>/dev/null || true
	echo "    python3 -> plain peer :$port: $out after ${t}s"
	check "no katls at the peer (:$port): refused with $* ($out), no hang (${t}s <= 20s)" \
		bash -c "grep -qxE '$(echo "$@" | tr ' ' '|')' <<<'$out' && [ $t -le 20 ]"
	check "no katls at the peer (:$port): no application byte reached it" \
		bash -c "! grep -aq APP-DATA '$work/plain$port.out'"
}
plain_peer 7704 EPROTO
plain_peer 7705 ETIMEDOUT
echo 60000 >/sys/module/katls/parameters/max_timeout_ms

# 5. shutdown(SHUT_WR) before the verdict (a client that only reads): held back
# until the verdict, not a FIN in the middle of katlsd's handshake
$katls policy add 127.0.0.1 port 7706 attest --direction out --policy vm >/dev/null
serve 7706
out=$(timeout 60 $py -c '
import socket, errno
s = socket.create_connection(("127.0.0.1", 7706))
s.shutdown(socket.SHUT_WR)
try:
    print(s.recv(100).decode() or "EOF")
except OSError as e:
    print(errno.errorcode[e.errno])' 2>&1) || true
served
echo "    python3 (shutdown first): $out"
check "shutdown before the verdict: attested all the same, the reply arrives" [ "$out" = ACK ]
check "shutdown before the verdict: the server sees the attested connection, then EOF" \
	grep -q "result=ok .*first=- " <<<"$sout"

# 6. IPv6: an attest rule for ::1, python3 over AF_INET6
$katls policy add ::1 port 7707 attest --direction out --policy vm >/dev/null
: >"$work/ps.out"
$probe serve 7707 -6 -m attest >"$work/ps.out" 2>&1 & sp=$!
wait_file_grep listening "$work/ps.out" || { echo "FAIL - probe server (v6) did not start"; exit 1; }
tx0=$(tls_stat TlsTxSw)
out=$(timeout 60 $py -c '
import socket
s = socket.create_connection(("::1", 7707))
s.sendall(b"APP-DATA-7707")
print(s.recv(100).decode())' 2>&1) || true
served
echo "    python3 over ::1: $out"
check "IPv6: the server got exactly the program's bytes, after the verdict" \
	grep -q "result=ok .*first=APP-DATA-7707 " <<<"$sout"
tx1=$(tls_stat TlsTxSw)
check "IPv6: the program read the reply through kTLS" \
	bash -c "[ '$out' = ACK ] && [ $((tx1 - tx0)) -ge 2 ]"
check "IPv6: katlsd's verdict is transparent" \
	bash -c "grep event=verdict '$kd_log' | grep role=client | tail -n1 | grep -q 'result=accepted.* transparent=true'"

check "gate stats count the transparent sockets" bash -c "$katls gate stats | grep -q marked_required"
stop_katlsd
$katls gate unload >/dev/null
for _ in $(seq 150); do [ "$(kstat .requests.sockets)" = 0 ] && break; sleep 0.1; done
check "no katls socket or request left once the programs are gone" \
	[ "$(kstat .requests.sockets),$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0,0 ]
done_testing
