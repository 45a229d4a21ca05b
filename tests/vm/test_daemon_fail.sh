#!/bin/bash
# katlsd failure matrix and R3 (PROTOCOL.md §6), with the BPF gate loaded:
# every refusal gives the application the documented errno and reason code
# (KATLS_SO_STATUS), the socket is shut down afterwards and its gate state
# is FAILED (never ATTESTED); policy violations (IMA allowlist naming the
# binary, PCR, AK not pinned, name mismatch), a peer that speaks plain TLS,
# no daemon, the daemon killed mid-exchange, timeout.  R3 is checked from the
# receiving application: nothing it reads before or instead of the verdicts,
# and a REQUIRE-rule connection that never asks for attestation moves no byte.
# Every server is waited for by its own listening socket (wait_port PORT PID)
# and every state change by polling for it, never by a fixed sleep.
. "$(dirname "$0")/lib.sh"
need jq; need openssl; need python3
. "$top/tests/vm/daemon_lib.sh"
probe=$tools/daemon_probe
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
# Every loopback connection the client makes to 7500-7540 needs attestation.  The
# rules name no policy, so the client's choice (-P) stands and the matrix below
# can pick the policy that fails; a rule that names one fixes it
# (tests/vm/test_daemon_rule.sh).  The server ends are held by katlsd's PENDING.
for p in $(seq 7500 7540); do
	$katls policy add 127.0.0.1 port $p --direction out >/dev/null 2>&1 || { echo "FAIL - rule $p"; exit 1; }
done
start_katlsd
check "katlsd uses the gate" grep -q "BPF gate .*enforcing" "$kd_log"

port=7500
# refuse NAME ERRNO REASON "SERVER ARGS" "CLIENT ARGS": probe pair, the client must fail
refuse() {
	local name=$1 want_e=$2 want_r=$3 out
	port=$((port + 1))
	$probe serve $port $4 >"$work/ps.out" 2>&1 &
	local sp=$!
	wait_port $port $sp
	out=$(eval "\$probe connect 127.0.0.1 $port $5" 2>&1) || true
	wait $sp 2>/dev/null || true
	echo "    client: $out"; echo "    server: $(tail -n1 "$work/ps.out")"
	check "$name: client gets $want_e, reason $want_r" \
		grep -q "result=$want_e reason=$want_r " <<<"$out"
	check "$name: client socket shut down, gate FAILED" \
		grep -Eq "gate=failed .*after=write:(EPIPE|ENOTCONN|EACCES),read:(EOF|ENOTCONN|EACCES)" <<<"$out"
	check "$name: server never got application data, never ATTESTED" \
		bash -c "! grep -Eq 'result=ok|gate=attested|first=[^-]' '$work/ps.out'"
}

# ---- the happy path first (R3 from the receiving side, both ends attest)
port=$((port + 1))
$probe serve $port -m mutual -e >"$work/ps.out" 2>&1 &
sp=$!; wait_port $port $sp
out=$($probe connect 127.0.0.1 $port -m mutual -n server.test -e 2>&1) || true
wait $sp || true
echo "    client: $out"; echo "    server: $(tail -n1 "$work/ps.out")"
check "R3: mutual ok, gate ATTESTED on both ends" \
	[ "$(grep -c "result=ok .*gate=attested" <<<"$out$(echo; cat "$work/ps.out")")" = 2 ]
check "R3: the server's first application bytes are the client's (no katls frame)" \
	grep -Eq "first=(EARLY)*APP-DATA-$port " "$work/ps.out"
check "R3: app I/O while attestation ran moved no byte (early=0 both ends)" \
	[ "$(grep -c 'early=0 ' <<<"$out$(echo; cat "$work/ps.out")")" = 2 ]
check "R3: the gate denied those early attempts" \
	[ "$($katls gate stats --json | jq '.denied_send + .denied_recv + .denied_file_write + .denied_file_read')" -gt 0 ]

# ---- IMA allowlist: list what ran so far, reload; then run an unlisted binary
evil=$KATLS_OUT/unlisted-$RANDOM
cp /bin/true "$evil"; echo >>"$evil"
make_allowlist "$work/allow.json"
n=$(grep -c reloaded "$kd_log" || true)
kill -HUP "$kd_pid"
for _ in $(seq 300); do [ "$(grep -c reloaded "$kd_log")" -gt "$n" ] && break; sleep 0.1; done
check "katlsd reloaded the new allowlist" [ "$(grep -c reloaded "$kd_log")" -gt "$n" ]
port=$((port + 1))
$probe serve $port -m attest >"$work/ps.out" 2>&1 &
sp=$!; wait_port $port $sp
out=$($probe connect 127.0.0.1 $port -P allow -n server.test 2>&1) || true; wait $sp || true
echo "    client: $out"; echo "    server: $(tail -n1 "$work/ps.out")"
check "allowlist of what ran: accepted" grep -q "result=ok" <<<"$out"
"$evil" || true
refuse "IMA allowlist" EACCES 19 "-m attest" "-P allow -n server.test"
check "the daemon's reason names the unlisted binary" \
	grep -q "result=refused reason=ima-allowlist errno=EACCES .* msg=\".*$evil" "$kd_log"
rm -f "$evil"

refuse "PCR reference value" EACCES 17 "-m attest" "-P pcr -n server.test"
refuse "AK not pinned" EACCES 14 "-m attest" "-P akpin -n server.test"
refuse "server name mismatch (handshake)" EACCES 10 "-m attest" "-n elsewhere.test"
refuse "peer name not in the policy" EACCES 10 "-m attest" "-P wrongname -n server.test"
refuse "mutual: the client's Evidence fails the server's policy" EACCES 23 \
	"-m mutual -P pcr" "-m mutual -n server.test"
refuse "unknown policy name" EACCES 27 "-m attest" "-P nosuchpolicy -n server.test"

# ---- a peer that speaks plain TLS without katls
# Outside the REQUIRE rules (7500-7540), or the gate would stop the peer's own
# handshake.  Its stdin is a pipe that stays open: on EOF (stdin /dev/null)
# s_server would start its handshake read at once, and whatever ended that
# read could close the connection before the client even asked to attest
# (ENOTCONN).  It answers the handshake, then sends a line that is no katls
# frame.
pport=7590
mkfifo "$work/ss.in"
exec 8<>"$work/ss.in"
echo "plain TLS, no katls here" >&8
openssl s_server -quiet -accept $pport -cert "$work/host.pem" -key "$work/host.key" \
	-tls1_3 -naccept 1 <"$work/ss.in" >"$work/ss.out" 2>&1 &
sp=$!; wait_port $pport $sp
out=$($probe connect 127.0.0.1 $pport -n server.test -t 8000 2>&1) || true
kill $sp 2>/dev/null || true; wait $sp 2>/dev/null || true; exec 8>&-
echo "    client: $out"
check "plain TLS peer: EPROTO, reason protocol (26)" grep -q "result=EPROTO reason=26 " <<<"$out"
check "plain TLS peer: socket shut down, gate FAILED" grep -Eq "gate=failed .*after=write:(EPIPE|EACCES)" <<<"$out"
check "plain TLS peer: TLS completed, katls/1 refused it ('does not speak katls/1')" \
	grep -q "role=client mode=verify result=refused reason=protocol errno=EPROTO .* msg=\"peer does not speak katls/1" "$kd_log"

# ---- timeout: the peer accepts TCP and never answers
silent() { python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); c,_=s.accept(); time.sleep(30)' "$1" & }
port=$((port + 1)); silent $port; sp=$!; wait_port $port $sp
out=$($probe connect 127.0.0.1 $port -n server.test -t 3000 2>&1) || true; kill $sp 2>/dev/null || true
echo "    client: $out"
check "timeout: ETIMEDOUT, reason timeout (24)" grep -q "result=ETIMEDOUT reason=24 " <<<"$out"
check "timeout: socket shut down, gate not ATTESTED" grep -Eq "after=write:(EPIPE|EACCES)" <<<"$out"

# ---- the daemon killed mid-exchange
port=$((port + 1)); silent $port; sp=$!; wait_port $port $sp
$probe connect 127.0.0.1 $port -n server.test -t 20000 >"$work/pc.out" 2>&1 &
pc=$!
# katlsd has accepted the request (its worker runs the handshake with the
# silent peer) when the module counts it accepted.
for _ in $(seq 300); do [ "$(kstat .requests.accepted)" = 1 ] && break; sleep 0.1; done
check "katlsd holds the request" [ "$(kstat .requests.accepted)" = 1 ]
kill -9 "$kd_pid"; wait "$kd_pid" 2>/dev/null || true; kd_pid=""
wait $pc || true; kill $sp 2>/dev/null || true
echo "    client: $(cat "$work/pc.out")"
check "daemon killed: ECONNABORTED at once" grep -q "result=ECONNABORTED " "$work/pc.out"
check "daemon killed: socket shut down, gate PENDING or FAILED (closed)" \
	grep -Eq "gate=(pending|failed|required) .*after=write:(EPIPE|EACCES)" "$work/pc.out"

# ---- no daemon
port=$((port + 1)); silent $port; sp=$!; wait_port $port $sp
out=$($probe connect 127.0.0.1 $port -n server.test 2>&1) || true; kill $sp 2>/dev/null || true
echo "    client: $out"
check "no daemon: ECONNREFUSED" grep -q "result=ECONNREFUSED " <<<"$out"

# ---- a REQUIRE-rule connection that never asks for attestation moves no byte
port=$((port + 1))
python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); c,_=s.accept(); c.settimeout(2)
try: d=c.recv(100)
except Exception as e: d=b"<%s>" % type(e).__name__.encode()
print("received:", d)' $port >"$work/rx.out" 2>&1 &
sp=$!; wait_port $port $sp
python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try: s.send(b"SECRET"); print("sent")
except OSError as e: print("send:", e.errno)' $port >"$work/tx.out" 2>&1
wait $sp || true
echo "    sender: $(cat "$work/tx.out")   receiver: $(cat "$work/rx.out")"
check "REQUIRE without attestation: send fails with EACCES" grep -q "send: 13" "$work/tx.out"
check "REQUIRE without attestation: the receiver got nothing" \
	bash -c "! grep -q SECRET '$work/rx.out'"

check "no request left in the module" [ "$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0 ]
echo "---- katlsd log"; cat "$kd_log"
done_testing
