#!/bin/bash
# One of the two hosts of tests/twohost/test_two_hosts.sh, in its own VM:
#   guest.sh server   10.9.0.1: python3 http.server on :8080, an attest rule
#                     for connections it accepts from 10.9.0.2 (mutual)
#   guest.sh client   10.9.0.2: busybox nc (static) asks 10.9.0.1:8080 for a
#                     page, an attest rule for connections to it (mutual)
# Neither program has katls code: each host's katls.ko takes its end, its
# katlsd attests it with its own TPM and verifies the other host's Evidence
# against the other's AK (provisioned and pinned by the host script).
. "$(dirname "$0")/../vm/lib.sh"
need jq; need busybox; need /usr/bin/python3; need ss
. "$top/tests/vm/daemon_lib.sh"
. "$top/tests/vm/transp_lib.sh"
. "$top/tests/twohost/guest_lib.sh"
role=$1
twohost_guest "$role" 8080
tx0=$(tls_stat TlsTxSw); rx0=$(tls_stat TlsRxSw)
: >"$work/wire"
$py "$top/tests/vm/wire_sniff.py" eth0 8080 "$work/wire" >"$work/wire.st" 2>&1 & sniff_pid=$!
wait_file_grep sniffing "$work/wire.st" || { echo "FAIL - wire_sniff did not start"; exit 1; }
verdict() { grep "event=verdict" "$kd_log" | grep "transparent=true" | tail -n1; }

if [ "$role" = server ]; then
	mkdir -p "$work/www"; echo "HELLO-FROM-HOST-A" >"$work/www/index.html"
	(cd "$work/www" && exec $py -m http.server --bind 10.9.0.1 8080) >"$work/http.log" 2>&1 &
	wait_port 8080 $!
	echo "    serving on 10.9.0.1:8080"
	# until the other host's program has been served (it boots meanwhile)
	for _ in $(seq 2400); do grep -q '"GET / HTTP/1.0" 200' "$work/http.log" && break; sleep 0.1; done
	sleep 1
	check "http.server (python3) served the other host's request" \
		grep -q '"GET / HTTP/1.0" 200' "$work/http.log"
	exe=$(readlink -f $py)
else
	for _ in $(seq 240); do busybox ping -c1 -W1 10.9.0.1 >/dev/null 2>&1 && break; done
	tries=0 out=""
	while [ $tries -lt 30 ] && ! grep -q HELLO-FROM-HOST-A <<<"$out"; do
		tries=$((tries + 1))
		out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 60 busybox nc 10.9.0.1 8080 2>&1) ||
			sleep 2
	done
	echo "    busybox nc got (try $tries): $(head -c 120 <<<"$out" | tr '\r\n' '  ')"
	check "busybox nc (static) got the other host's page" grep -q HELLO-FROM-HOST-A <<<"$out"
	exe=$(readlink -f /bin/busybox)
fi
sleep 0.3; kill $sniff_pid 2>/dev/null || true; wait $sniff_pid 2>/dev/null || true
v=$(verdict); echo "    $v"
d=$(sha256sum "$exe" | cut -c1-64)
check "katlsd: this end attested and verified the other host, mutual, transparent" \
	grep -q "mode=mutual result=accepted.*peer_verified=true" <<<"$v"
check "the verdict names this host's program and its digest" grep -q "exe_digest=sha256:$d" <<<"$v"
check "and the other host's program (verified in its quoted IMA log)" \
	grep -q "peer_exe_digest=sha256:" <<<"$v"
check "kTLS moved the bytes (TlsTxSw and TlsRxSw +1)" \
	[ $(( $(tls_stat TlsTxSw) - tx0 )) -ge 1 -a $(( $(tls_stat TlsRxSw) - rx0 )) -ge 1 ]
check "the wire between the hosts carried bytes, none of them plaintext" \
	bash -c "[ -s '$work/wire' ] && ! grep -aq 'GET /\|HTTP/1\|HELLO-FROM' '$work/wire'"
rt=$(nstat -az TcpRetransSegs TcpExtTCPLossProbes TcpExtTCPTimeouts | awk '/^Tcp/ {printf "%s=%s ", $1, $2}')
echo "    tcp: $rt"
done_testing
