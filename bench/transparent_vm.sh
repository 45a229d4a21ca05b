#!/bin/bash
# transparent_vm.sh [BUILD_DIR] - what attest rules cost, measured in one VM
# boot (docs/transparent.md):
#  1. an attested connection of an unmodified client (tests/vm/epoll_client
#     under an attest rule) against the setsockopt client (daemon_probe
#     connect under a require rule), each against the katls-aware example
#     server, connect to reply, median of ROUNDS, and their ratio;
#  2. unruled sockets: loopback connect + 64-byte echo + close, 300 per round
#     in one python3 process, with the gate loaded with attest support and
#     without it (--no-attest), alternating rounds: the ratio shows what
#     attest support costs a socket no rule covers;
#  3. TcpRetransSegs over all of it.
# TCG makes absolute times slow and noisy; the ratios are what to read.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-${KATLS_BUILD:-$top/build}}
ROUNDS=${ROUNDS:-7}
if [ -z "${KATLS_OUT:-}" ]; then
	KATLS_VM_APPEND="clocksource=tsc tsc=reliable ${KATLS_VM_APPEND:-}" \
		exec "$top/scripts/vm.sh" run bench/transparent_vm.sh "$B"
fi
# In the guest (as tests/vm/*.sh: lib.sh gives $katls, $tools, daemon_lib.sh katlsd).
set -- "--build=$B"
. "$top/tests/vm/lib.sh"
. "$top/tests/vm/daemon_lib.sh"
probe=$tools/daemon_probe
py=/usr/bin/python3
# (after a test that removed it, in the same boot)
[ -d /sys/module/katls ] || insmod "$top/kmod/katls.ko"
echo "transparent_vm.sh: QEMU/TCG guest, $(uname -r), $(nproc) vCPUs, $ROUNDS rounds"
daemon_setup >/dev/null
rt0=$(nstat -az TcpRetransSegs | awk '/TcpRetransSegs/ {print $2}')

unruled() {	# one round: ms for 300 connect/echo/close on loopback, no rule
	$py - <<'PY'
import socket, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 7999)); srv.listen(64)
def serve():
    while True:
        c, _ = srv.accept()
        d = c.recv(64)
        if not d: c.close(); break
        c.sendall(d); c.close()
threading.Thread(target=serve, daemon=True).start()
t = time.monotonic()
for i in range(300):
    s = socket.create_connection(("127.0.0.1", 7999)); s.sendall(b"x" * 64); s.recv(64); s.close()
print("%.1f" % ((time.monotonic() - t) * 1e3))
PY
}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
: >"$work/u_att"; : >"$work/u_plain"
for r in $(seq "$ROUNDS"); do
	$katls gate load >/dev/null; unruled >>"$work/u_att"; $katls gate unload >/dev/null
	$katls gate load --no-attest >/dev/null; unruled >>"$work/u_plain"; $katls gate unload >/dev/null
done
ua=$(med <"$work/u_att"); up=$(med <"$work/u_plain")
echo "unruled sockets, 300 connect+echo+close (ms, median): attest gate $ua, plain gate $up, ratio $(echo "scale=3; $ua / $up" | bc)"
echo "  rounds: attest $(tr '\n' ' ' <"$work/u_att")| plain $(tr '\n' ' ' <"$work/u_plain")"

$katls gate load >/dev/null
$katls policy add 127.0.0.1 port 7901 attest --direction out --policy vm >/dev/null 2>&1
$katls policy add 127.0.0.1 port 7905 --direction out --policy vm >/dev/null 2>&1
start_katlsd
serve() {
	: >"$work/ps.out"; $probe serve "$1" -m attest >"$work/ps.out" 2>&1 & sp=$!
	for _ in $(seq 100); do grep -q listening "$work/ps.out" && return 0; sleep 0.1; done
	echo "probe server did not start" >&2; exit 1
}
lat() { local s e; s=$(date +%s%N); "$@" >"$work/lat.out" 2>&1 || true; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
: >"$work/l_t"; : >"$work/l_s"; bad=0
for r in $(seq "$ROUNDS"); do
	serve 7901; lat $tools/epoll_client 127.0.0.1 7901 X >>"$work/l_t"; wait $sp || true
	grep -q 'first_write=ok' "$work/lat.out" || bad=$((bad + 1))
	serve 7905; lat $probe connect 127.0.0.1 7905 -n server.test >>"$work/l_s"; wait $sp || true
	grep -q 'result=ok' "$work/lat.out" || bad=$((bad + 1))
done
stop_katlsd
lt=$(med <"$work/l_t"); ls=$(med <"$work/l_s")
echo "attested connection, connect to reply (ms, median): unmodified/attest rule $lt, setsockopt $ls, ratio $(echo "scale=2; $lt / $ls" | bc) ($bad failed)"
echo "  rounds: unmodified $(tr '\n' ' ' <"$work/l_t")| setsockopt $(tr '\n' ' ' <"$work/l_s")"
rt1=$(nstat -az TcpRetransSegs | awk '/TcpRetransSegs/ {print $2}')
echo "TcpRetransSegs: $rt0 -> $rt1"
