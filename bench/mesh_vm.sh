#!/bin/bash
# mesh_vm.sh - attested connections between two hosts: two VMs, each with its
# own swtpm, katls.ko, katlsd and a mutual attest rule for the other
# (tests/twohost/hosts.sh, guest_lib.sh), on a virtual NIC.  Both programs are
# unmodified python3.  Host b (10.9.0.2) connects to host a (10.9.0.1), sends
# 64 bytes, reads them back and closes:
#  1. PLAIN times to an unruled port: the baseline, same boots, same link;
#  2. SEQ times to the attested port, one after another: each is a TLS 1.3
#     handshake, two TPM quotes (one per host) and two verifications; and
#     SEQ times to a port where only the server attests (one quote, one
#     verification): the client quotes while the server does, so mutual
#     costs little more than one-way (wire/session.c, run_client());
#  3. WAVES waves of CONC connections at once to the attested port: quote
#     batching lets a quote serve every request that came while the previous
#     one was in flight (docs/wire.md, "Quote batching").
# Each katlsd reaches its TPM through tests/host/tpm_delay, which adds
# QUOTE_MS (default 200, a real chip's TPM2_Quote; 0: swtpm's own speed) to
# every quote and counts them.  Prints medians, connections per second, the
# ratios to read (attested / plain latency, concurrent / sequential rate) and
# per host the TPM quotes taken for its attestations.  TCG makes absolute
# times slow; the ratios and quote counts are what to read.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KATLS_OUT:-}" ]; then
	. "$top/tests/twohost/hosts.sh"
	twohost_prepare || exit 1
	twohost_boot bench/mesh_vm.sh || { echo "mesh_vm.sh: a host failed" >&2; exit 1; }
	exit 0
fi
# ---- in a guest: bench/mesh_vm.sh server|client ----------------------------------
. "$top/tests/vm/lib.sh"
need /usr/bin/python3; need ss; need busybox
. "$top/tests/vm/daemon_lib.sh"
. "$top/tests/twohost/guest_lib.sh"
py=/usr/bin/python3
role=$1
QUOTE_MS=${QUOTE_MS:-200}
$build/tests/host/tpm_delay --device /dev/tpmrm0 --quote-ms "$QUOTE_MS" \
	--port-file "$work/px.port" --log "$work/px.log" >"$work/px.err" 2>&1 &
px_pid=$!
wait_file "$work/px.port" 50 && [ -s "$work/px.port" ] ||
	{ echo "FAIL - tpm_delay did not start"; cat "$work/px.err"; exit 1; }
trap 'kill $px_pid 2>/dev/null || true; cleanup_daemon' EXIT
TWOHOST_TCTI="swtpm:host=127.0.0.1,port=$(cat "$work/px.port")" twohost_guest "$role" 8080
$katls policy add "$peer_ip" port 8082 attest --role server \
	--direction "$([ "$role" = server ] && echo in || echo out)" --policy mesh >/dev/null ||
	{ echo "FAIL - attest rule (one-way)"; exit 1; }
quotes() {	# this host's attestations (katlsd's verdicts) and TPM quotes (tpm_delay's log)
	local n q
	n=$(grep -c "event=verdict .*result=accepted" "$kd_log" || true)
	q=$(grep -Ec '^quote [0-9]+ (delayed|failed)' "$work/px.log" || true)
	echo "host $me: $n attestations accepted, $q TPM quotes (+$QUOTE_MS ms each)"
}
if [ "$role" = server ]; then
	$py - >"$work/srv.log" 2>&1 <<'PY' &
import os, socket, threading
def handle(c):
    d = c.recv(64)
    if d == b"QUIT":
        os._exit(0)
    c.sendall(d)
    c.close()
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.9.0.1", port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
threading.Thread(target=serve, args=(8081,), daemon=True).start()
threading.Thread(target=serve, args=(8082,), daemon=True).start()
serve(8080)
PY
	sp=$!
	wait_port 8080 $sp; wait_port 8081 $sp; wait_port 8082 $sp
	echo "    serving on 10.9.0.1:8080 (mutual), :8081 (no rule), :8082 (server attests)"
	wait $sp || true	# until the client's QUIT
	quotes
	stop_katlsd
	done_testing
	exit
fi
# host a serves until told to stop, by a success or a failure here
quit_server() {
	$py -c 'import socket; socket.create_connection(("10.9.0.1", 8081), timeout=5).sendall(b"QUIT")' \
		2>/dev/null || true
}
trap 'quit_server; kill $px_pid 2>/dev/null || true; cleanup_daemon' EXIT
for _ in $(seq 240); do busybox ping -c1 -W1 10.9.0.1 >/dev/null 2>&1 && break; done
for _ in $(seq 600); do
	$py -c 'import socket; socket.create_connection(("10.9.0.1", 8081), timeout=2).close()' \
		2>/dev/null && break
	sleep 0.5
done
echo "mesh_vm.sh: two QEMU/TCG guests, $(uname -r), $(nproc) vCPU each"
st=0
PLAIN=${PLAIN:-50} SEQ=${SEQ:-8} CONC=${CONC:-16} WAVES=${WAVES:-2} $py - <<'PY' || st=$?
import os, socket, statistics, sys, threading, time
A = "10.9.0.1"
def one(port, out):
    t = time.monotonic()
    ok = False
    try:
        s = socket.create_connection((A, port), timeout=300)
        s.sendall(b"x" * 64)
        d = b""
        while len(d) < 64:
            r = s.recv(64 - len(d))
            if not r:
                break
            d += r
        s.close()
        ok = d == b"x" * 64
    except OSError as e:
        print("  connection failed: %s" % e)
    out.append(((time.monotonic() - t) * 1e3, ok))
def seq(port, n):
    out = []
    for _ in range(n):
        one(port, out)
    return out
def wave(port, n):
    out = []
    th = [threading.Thread(target=one, args=(port, out)) for _ in range(n)]
    t = time.monotonic()
    for x in th: x.start()
    for x in th: x.join()
    return out, time.monotonic() - t
env = lambda k: int(os.environ[k])
plain = seq(8081, env("PLAIN"))
att = seq(8080, env("SEQ"))
one_way = seq(8082, env("SEQ"))
waves = [wave(8080, env("CONC")) for _ in range(env("WAVES"))]
bad = sum(not ok for _, ok in plain + att + one_way) + sum(not ok for w, _ in waves for _, ok in w)
mp = statistics.median(ms for ms, _ in plain)
ma = statistics.median(ms for ms, _ in att)
mo = statistics.median(ms for ms, _ in one_way)
seq_rate = 1e3 / ma
conc_rate = statistics.median(len(w) / s for w, s in waves)
print("plain TCP, connect+echo+close (ms, median of %d): %.1f" % (len(plain), mp))
print("attested, mutual, one at a time (ms, median of %d): %.0f; attested / plain %.0f"
      % (len(att), ma, ma / mp))
print("  rounds: " + " ".join("%.0f" % ms for ms, _ in att))
print("attested, server only, one at a time (ms, median of %d): %.0f; mutual / server only %.2f"
      % (len(one_way), mo, ma / mo))
print("  rounds: " + " ".join("%.0f" % ms for ms, _ in one_way))
print("attested, %d at once (%d waves): %.2f conn/s; one at a time %.2f conn/s; concurrent / sequential %.1f"
      % (env("CONC"), len(waves), conc_rate, seq_rate, conc_rate / seq_rate))
print("  waves (s): " + " ".join("%.1f" % s for _, s in waves))
print("failed connections: %d" % bad)
sys.exit(1 if bad else 0)
PY
quotes
stop_katlsd
[ "$st" = 0 ] && done_testing
