#!/bin/bash
# Transparent attestation under stress (issue 14 item 3): an epoll event loop
# (level-triggered) is woken exactly when its socket is usable; 100 concurrent
# connections of unmodified programs (busybox nc -> python3 threaded server,
# attest rules both ways) all attested, nothing left behind, no retransmit;
# katlsd killed mid-handshake: the waiting program gets ECONNABORTED, the peer
# no byte; rmmod with an attest socket pending fails (busy) and succeeds once
# it is gone.  Prints the latency of an unmodified client against the
# setsockopt client in the same boot (bench figures for docs/transparent.md).
. "$(dirname "$0")/lib.sh"
need jq; need openssl; need /usr/bin/python3; need busybox; need nstat
. "$top/tests/vm/daemon_lib.sh"
. "$top/tests/vm/transp_lib.sh"
probe=$tools/daemon_probe
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
$katls policy add 127.0.0.1 port 7901 attest --direction out --policy vm >/dev/null
$katls policy add 127.0.0.1 port 7902 attest --policy vm >/dev/null	# both directions
$katls policy add 127.0.0.1 port 7903 attest --direction out --policy vm >/dev/null
$katls policy add 127.0.0.1 port 7904 attest --direction out --policy vm >/dev/null
$katls policy add 127.0.0.1 port 7905 --direction out --policy vm >/dev/null	# require: setsockopt client
# TCP retransmissions (and what caused them) between phases
rt() { nstat -az TcpRetransSegs TcpExtTCPSynRetrans TcpExtTCPLossProbes TcpExtTCPTimeouts |
	awk '/^Tcp/ {printf "%s=%s ", $1, $2}'; }
rtn() { nstat -az TcpRetransSegs | awk '/TcpRetransSegs/ {print $2}'; }
retrans() {	# retrans PHASE: print this phase's retransmissions, remember them
	local n; n=$(rtn); echo "    tcp after $1: $(rt)"; eval "rt_$1=$((n - rt_last))"; rt_last=$n
}
rt_last=$(rtn)
# drops are judged over this test's own traffic (the boot may have run other
# tests) outside the 100-connection burst, whose 200 handshakes at once starve a
# TCG guest enough for an RTO without any drop; its counters are printed
cnt() { nstat -az "$1" | awk -v k="$1" '$1 == k {print $2}'; }
drops() { echo "$(cnt TcpExtTCPTimeouts) $(cnt TcpExtTCPSynRetrans) $(cnt TcpRetransSegs) $(cnt TcpExtTCPLossProbes)"; }
read -r to0 sy0 rs0 lp0 <<<"$(drops)"
start_katlsd
serve() {	# serve PORT: the katls-aware server (attests itself), $sp
	: >"$work/ps.out"
	$probe serve "$1" -m attest >"$work/ps.out" 2>&1 &
	sp=$!
	for _ in $(seq 100); do grep -q listening "$work/ps.out" && return 0; sleep 0.1; done
	echo "FAIL - probe server did not start"; exit 1
}
served() { wait $sp 2>/dev/null || true; sout=$(tail -n1 "$work/ps.out"); }

# 1. a non-blocking connect and a level-triggered epoll loop
serve 7901
out=$(timeout 60 $tools/epoll_client 127.0.0.1 7901 APP-DATA-7901); served
echo "    epoll_client: $out"
check "epoll: one wake-up, when the socket is usable (no spurious EAGAIN)" \
	grep -q "^wakeups=1 spurious=0 first_write=ok " <<<"$out"
check "epoll: the reply came through kTLS" grep -q "reply=ACK" <<<"$out"
check "epoll: the server's first bytes are the program's" grep -q "first=APP-DATA-7901 " <<<"$sout"
retrans epoll

# 2. 100 concurrent connections, unmodified at both ends: 200 requests of one
# uid (root) at once, over the module's default per-uid bound (64)
N=100
echo 256 >/sys/module/katls/parameters/max_requests_per_uid
$py -c '
import socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        d = self.request.recv(100)
        self.request.sendall(b"ECHO:" + d)
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    request_queue_size = 128
S(("127.0.0.1", 7902), H).serve_forever()' >"$work/echo.log" 2>&1 &
ep=$!
wait_port 7902 $ep
v0=$(grep -c 'event=verdict .*result=accepted' "$kd_log" || true)
read -r tob0 syb0 rsb0 lpb0 <<<"$(drops)"
t0=$(date +%s.%N)
for i in $(seq $N); do
	(echo -n "MSG-$i" | timeout 120 busybox nc 127.0.0.1 7902 >"$work/c$i.out" 2>&1) &
done
wait_clients() { local j; for j in $(jobs -p); do [ "$j" = "$ep" ] || [ "$j" = "$kd_pid" ] || wait "$j" 2>/dev/null || true; done; }
wait_clients
t1=$(date +%s.%N)
good=0; for i in $(seq $N); do [ "$(cat "$work/c$i.out")" = "ECHO:MSG-$i" ] && good=$((good + 1)); done
echo "    $good of $N replies right in $(echo "$t1 - $t0" | bc 2>/dev/null || echo ?) s"
check "$N concurrent unmodified connections: every reply right" [ $good = $N ]
v1=$(grep -c 'event=verdict .*result=accepted' "$kd_log" || true)
check "... both ends of each attested ($((2 * N)) verdicts)" [ $((v1 - v0)) = $((2 * N)) ]
retrans concurrent
read -r tob1 syb1 rsb1 lpb1 <<<"$(drops)"
echo "    the burst: RTO $((tob1 - tob0)), SYN retransmissions $((syb1 - syb0)), retransmitted $((rsb1 - rsb0)), tail-loss probes $((lpb1 - lpb0))"
kill $ep 2>/dev/null || true; wait $ep 2>/dev/null || true
for _ in $(seq 200); do [ "$(kstat .requests.sockets)" = 0 ] && break; sleep 0.1; done
check "no katls socket or request left" \
	[ "$(kstat .requests.sockets),$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0,0 ]
echo 64 >/sys/module/katls/parameters/max_requests_per_uid

# silent PORT: a peer that accepts and never answers ($np); blocked CLIENT in the background ($cp)
silent() {
	sleep 120 | busybox nc -l -p "$1" >"$work/silent$1.out" 2>&1 &
	np=$!; wait_port "$1"
	$py -c '
import socket, errno, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    s.sendall(b"APP-DATA-SILENT"); print("SENT")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" >"$work/cl$1.out" 2>&1 &
	cp=$!
	for _ in $(seq 300); do [ "$(kstat .requests.accepted)" = 1 ] && break; sleep 0.1; done
}

# 3. katlsd killed mid-handshake
silent 7903
check "katlsd holds the request (mid-handshake)" [ "$(kstat .requests.accepted)" = 1 ]
kill -9 "$kd_pid"; wait "$kd_pid" 2>/dev/null || true; kd_pid=""
t0=$(date +%s)
for _ in $(seq 100); do kill -0 $cp 2>/dev/null || break; sleep 0.1; done
check "daemon killed: the waiting program is released with ECONNABORTED within 10 s" \
	bash -c "! kill -0 $cp 2>/dev/null && [ \"\$(cat '$work/cl7903.out')\" = ECONNABORTED ]"
pkill -P $np 2>/dev/null || true; kill $np 2>/dev/null || true; wait $np 2>/dev/null || true
check "daemon killed: the peer received no application byte" \
	bash -c "! grep -aq APP-DATA '$work/silent7903.out'"
retrans killed
start_katlsd

# 4. latency: unmodified (epoll_client, attest rule) vs setsockopt (daemon_probe, require rule)
lat() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
: >"$work/lat_t"; : >"$work/lat_s"
tlp_t=0; tlp_s=0
tlp() { nstat -az TcpExtTCPLossProbes | awk '/TCPLossProbes/ {print $2}'; }
for r in 1 2 3 4 5 6; do
	a=$(tlp); serve 7901; lat $tools/epoll_client 127.0.0.1 7901 X >>"$work/lat_t"; served
	b=$(tlp); serve 7905; lat $probe connect 127.0.0.1 7905 -n server.test >>"$work/lat_s"; served
	c=$(tlp); tlp_t=$((tlp_t + b - a)); tlp_s=$((tlp_s + c - b))
done
echo "    tail-loss probes in the latency runs: unmodified client $tlp_t, setsockopt client $tlp_s"
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
mt=$(med "$work/lat_t"); ms=$(med "$work/lat_s")
echo "    latency (connect to reply, median of 6, ms): unmodified/attest rule $mt, setsockopt $ms, ratio $(echo "scale=2; $mt / $ms" | bc 2>/dev/null || echo ?)"
echo "    all: unmodified $(tr '\n' ' ' <"$work/lat_t")| setsockopt $(tr '\n' ' ' <"$work/lat_s")"
retrans latency
# Tail-loss probes (an ACK later than the probe timeout) come and go with the
# host's load, on both client kinds (docs/transparent.md, "Cost").  They are
# reported; what is judged is that nothing is dropped: no retransmission
# timeout, no SYN retransmission (outside the burst, see drops()).
echo "    retransmissions: epoll $rt_epoll, $N concurrent $rt_concurrent, killed daemon $rt_killed, latency runs $rt_latency (all tail-loss probes unless below)"
read -r to1 sy1 rs1 lp1 <<<"$(drops)"
to=$((to1 - to0 - (tob1 - tob0))) sy=$((sy1 - sy0 - (syb1 - syb0)))
rs=$((rs1 - rs0 - (rsb1 - rsb0))) lp=$((lp1 - lp0 - (lpb1 - lpb0)))
check "no packet dropped outside the burst: no RTO ($to), no SYN retransmission ($sy)" \
	[ "$to,$sy" = 0,0 ]
check "retransmissions outside the burst are tail-loss probes only ($rs <= $lp)" [ "$rs" -le "$lp" ]

# 5. rmmod with an attest socket pending: busy, then clean
silent 7904
check "katlsd holds a request (pending attest socket)" [ "$(kstat .requests.accepted)" = 1 ]
$katls gate unload >/dev/null	# the attest gate's programs pin katls.ko by its kfunc
set +e; out=$(rmmod katls 2>&1); rc=$?; set -e
check "rmmod with an attest socket pending fails as busy ($out)" bash -c "[ $rc != 0 ] && grep -qi 'in use\|busy' <<<'$out'"
pkill -P $np 2>/dev/null || true; kill $np 2>/dev/null || true; wait $np 2>/dev/null || true
for _ in $(seq 300); do kill -0 $cp 2>/dev/null || break; sleep 0.1; done
echo "    client: $(cat "$work/cl7904.out")"
check "the pending program was released with an error, no byte sent" \
	bash -c "! kill -0 $cp 2>/dev/null && [ \"\$(cat '$work/cl7904.out')\" != SENT ] && ! grep -aq APP-DATA '$work/silent7904.out'"
stop_katlsd
for _ in $(seq 200); do [ "$(kstat .requests.sockets)" = 0 ] && break; sleep 0.1; done
check "rmmod after the socket is gone" rmmod katls
# leftover "sleep | nc" halves: daemon_lib.sh's cleanup (set -e, jobs -p | xargs kill)
# would fail the test on a job that is already gone
for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
wait 2>/dev/null || true
done_testing
