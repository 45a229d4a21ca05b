#!/bin/bash
# Attacking transparent attestation (ATTACKS.md, issue 14): an unprivileged
# program (uid 65534) on a socket katls.ko holds for an attest rule tries
# every way to move a byte or to read katlsd's handshake bytes before the
# verdict (tests/vm/transp_attack.c): peek, recv, splice out, sendfile in,
# MSG_ZEROCOPY, TCP_ZEROCOPY_RECEIVE, its own TCP_ULP/SOL_TLS, listen,
# disconnect, a forked child's write.  None may move a byte or reveal one;
# then the connection is attested and the server's first bytes are exactly
# the program's.  The same program's I/O through io_uring (inline and
# IOSQE_ASYNC), submitted before the verdict.
. "$(dirname "$0")/lib.sh"
need jq; need openssl; need setpriv
. "$top/tests/vm/daemon_lib.sh"
. "$top/tests/vm/transp_lib.sh"
probe=$tools/daemon_probe
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
$katls policy add 127.0.0.1 port 7951 attest --direction out --policy vm >/dev/null
start_katlsd
$probe serve 7951 -m attest >"$work/ps.out" 2>&1 &
sp=$!
for _ in $(seq 100); do grep -q listening "$work/ps.out" && break; sleep 0.1; done
out=$(timeout 90 setpriv --reuid=65534 --regid=65534 --clear-groups $tools/transp_attack 127.0.0.1 7951 2>&1) || true
wait $sp 2>/dev/null || true
sout=$(tail -n1 "$work/ps.out")
echo "    attacker: $out"; echo "    server: $sout"
get() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }
check "MSG_PEEK before the verdict: EAGAIN, no handshake byte seen" [ "$(get peek)" = EAGAIN ]
check "recv before the verdict: EAGAIN" [ "$(get recv)" = EAGAIN ]
check "splice out of the socket: EAGAIN" [ "$(get splice)" = EAGAIN ]
check "sendfile into the socket: EAGAIN" [ "$(get sendfile)" = EAGAIN ]
check "MSG_ZEROCOPY send: EAGAIN" [ "$(get zerocopy_send)" = EAGAIN ]
check "TCP_ZEROCOPY_RECEIVE: EACCES (the gate)" [ "$(get zc_receive)" = EACCES ]
check "its own TCP_ULP tls: EBUSY" [ "$(get ulp)" = EBUSY ]
check "its own SOL_TLS: EBUSY" [ "$(get tls_opt)" = EBUSY ]
check "listen() on the held socket: EINVAL" [ "$(get listen)" = EINVAL ]
check "connect(AF_UNSPEC): refused (EISCONN, or EACCES by the gate)" \
	bash -c "[ '$(get disconnect)' = EISCONN -o '$(get disconnect)' = EACCES ]"
check "a forked child's write: EAGAIN" [ "$(get fork_write)" = EAGAIN ]
check "then the program's blocking write waits for the verdict and passes" \
	grep -q "| write=ok reply=ACK" <<<"$out"
check "the server's first bytes are exactly the program's (nothing early, nothing of katls)" \
	grep -q "result=ok .*first=APP-DATA-7951 " <<<"$sout"

# the program's I/O through io_uring, submitted while katls.ko holds the socket:
# a RECV (it must not see katlsd's handshake) and the SEND; inline (EAGAIN, then
# io_uring polls the socket: nothing is ready until the verdict) and with
# IOSQE_ASYNC (an io-wq thread of the program blocks in the wrapper)
for mode in uring uring-async; do
	port=$([ $mode = uring ] && echo 7952 || echo 7953)
	$katls policy add 127.0.0.1 port $port attest --direction out --policy vm >/dev/null
	: >"$work/ps.out"
	$probe serve $port -m attest >"$work/ps.out" 2>&1 & sp=$!
	wait_file_grep listening "$work/ps.out" || { echo "FAIL - probe server did not start"; exit 1; }
	out=$(timeout 90 setpriv --reuid=65534 --regid=65534 --clear-groups \
		$tools/transp_attack 127.0.0.1 $port $mode 2>&1) || true
	wait $sp 2>/dev/null || true
	sout=$(tail -n1 "$work/ps.out")
	echo "    attacker ($mode): ${out#*| }"; echo "    server: $sout"
	check "$mode: nothing completes before the verdict" grep -q "uring_early=none " <<<"$out"
	check "$mode: the SEND completes after the verdict" grep -q "uring_send=ok " <<<"$out"
	check "$mode: the RECV gets the server's reply, nothing of katls" \
		grep -q "uring_reply=ACK " <<<"$out"
	check "$mode: the server's first bytes are exactly the program's" \
		grep -q "result=ok .*first=APP-DATA-$port " <<<"$sout"
done
stop_katlsd
done_testing
