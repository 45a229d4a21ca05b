#!/bin/bash
# katlsd's metrics endpoint and verdict log in the VM (katlsd(8) METRICS and
# LOGGING), the BPF gate loaded, metrics on a loopback port and a Unix socket:
# an e2e run of attestations and refusals whose counts are known, then the
# counters must have moved by exactly those numbers (by result and reason, by
# role and mode, every phase histogram's _count, its _sum against the log),
# the gate's denials by path, queue depth and live attested sockets while a
# request and a connection are held; every scrape passes a strict OpenMetrics
# checker and python3-prometheus-client's parser; malformed, oversized,
# binary, wrong-method, wrong-path, silent and surplus scrapers each get
# their clear 4xx/5xx (counted by code) while katlsd goes on attesting; every
# verdict is one key=value line that agrees with the metrics.
. "$(dirname "$0")/lib.sh"
need jq; need openssl; need curl; need python3
. "$top/tests/vm/daemon_lib.sh"
om() { /usr/bin/python3 "$top/tests/vm/om_check.py" "$@"; }
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null ||
	{ echo "FAIL - python3-prometheus-client missing (scripts/deps.sh)"; exit 1; }
probe=$tools/daemon_probe
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
# the one connection that must be denied (gate denials by path)
$katls policy add 127.0.0.1 port 7790 --direction out >/dev/null || { echo "FAIL - rule"; exit 1; }
maddr=127.0.0.1:9466
msock=$work/metrics.sock
jq --arg s "$msock" '.metrics = { "listen": "127.0.0.1:9466", "unix": $s, "unix_mode": "0660" }' \
	"$work/katlsd.json" >"$work/k.tmp" && mv "$work/k.tmp" "$work/katlsd.json"
start_katlsd
check "katlsd serves metrics on both endpoints" \
	grep -q "metrics: serving GET /metrics on $maddr and $msock" "$kd_log"
check "the Unix socket has unix_mode 0660" [ "$(stat -c %a "$msock")" = 660 ]

n200=0	# 200 responses since s0
# scrape FILE [unix]: GET /metrics into FILE: 200, OpenMetrics type, valid syntax
scrape() {
	local f=$1 code
	if [ "${2:-}" = unix ]; then
		code=$(curl -sS --max-time 10 --unix-socket "$msock" -o "$f" -D "$f.h" \
			-w '%{http_code}' http://localhost/metrics)
	else
		code=$(curl -sS --max-time 10 -o "$f" -D "$f.h" -w '%{http_code}' "http://$maddr/metrics")
	fi
	n200=$((n200 + 1))
	[ "$code" = 200 ] || { echo "    scrape: HTTP $code"; return 1; }
	grep -qi '^content-type: application/openmetrics-text; version=1.0.0; charset=utf-8' "$f.h" ||
		{ echo "    scrape: content type: $(grep -i content-type "$f.h")"; return 1; }
	om check "$f" | sed 's/^/    /'
	[ "${PIPESTATUS[0]}" = 0 ]
}
v() { om get "$1" "$2"; }
# d SAMPLE: its value in s1 minus in s0
d() { echo $(( $(v "$work/s1" "$1") - $(v "$work/s0" "$1") )); }
# want_d SAMPLE N: it moved by exactly N
want_d() { local got; got=$(d "$1"); check "$1 moved by $2 (moved $got)" [ "$got" = "$2" ]; }
# poll_metric SAMPLE VALUE: scrape until SAMPLE is VALUE (60 s at most)
poll_metric() {
	for _ in $(seq 120); do
		curl -sS --max-time 10 -o "$work/p" "http://$maddr/metrics" && n200=$((n200 + 1))
		[ "$(v "$work/p" "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

# ---- s0: before any request --------------------------------------------------------
check "scrape over TCP: 200, OpenMetrics, strict syntax" scrape "$work/s0"
n200=0
check "scrape over the Unix socket: 200, OpenMetrics, strict syntax" scrape "$work/u0" unix
check "katlsd_info names the version" grep -q '^katlsd_info{version="[^"]\+"} 1$' "$work/s0"
start=$(v "$work/s0" katlsd_start_time_seconds)
check "katlsd_start_time_seconds is katlsd's start ($start)" \
	[ $(( $(date +%s) - start )) -ge 0 -a $(( $(date +%s) - start )) -lt 300 ]
check "the gate is loaded" [ "$(v "$work/s0" katls_gate_loaded)" = 1 ]
check "no live attested socket yet" [ "$(v "$work/s0" katls_module_attested_sockets)" = 0 ]
check "no worker busy, no request queued" \
	[ "$(v "$work/s0" katlsd_workers),$(v "$work/s0" katls_module_requests_queued)" = 0,0 ]
check "max_workers exported" [ "$(v "$work/s0" katlsd_workers_max)" = 128 ]
curl -sS --max-time 10 -I "http://$maddr/metrics" >"$work/head.out" 2>&1; n200=$((n200 + 1))
check "HEAD: 200 with the type and a length, no body" \
	bash -c "grep -q '^HTTP/1.1 200 OK' '$work/head.out' && grep -qi '^content-length: [1-9]' '$work/head.out'"

# ---- the e2e run: 10 accepted and 6 refused verdicts, known phases ------------------
port=7700
pair() {
	local name=$1 rc=0
	port=$((port + 1))
	eval "start_server -p $port -n 1 $2"
	eval "\$cli $3" >"$work/cli.out" 2>&1 || rc=$?
	wait "$srv_pid" 2>/dev/null || true
	check "$name: attested, echo received (exit $rc)" grep -q "reply: echo: ping-$port" "$work/cli.out"
}
# refuse NAME "CLIENT ARGS": probe pair, the server attests, the client's policy refuses
refuse() {
	local out sp
	port=$((port + 1))
	$probe serve $port -m attest >"$work/ps.out" 2>&1 &
	sp=$!
	wait_port $port $sp
	out=$(eval "\$probe connect 127.0.0.1 $port $2" 2>&1) || true
	wait $sp 2>/dev/null || true
	check "$1: refused ($out)" grep -q "result=EACCES" <<<"$out"
}
silent() { python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); c,_=s.accept(); time.sleep(30)' "$1" & }

pair "1 server attests, client verifies" "-m attest" '-n server.test 127.0.0.1 $port ping-$port'
pair "2 mutual" "-m mutual" '-m mutual -n server.test 127.0.0.1 $port ping-$port'
pair "3 client attests, server verifies" "-m verify" '-m attest -n server.test 127.0.0.1 $port ping-$port'
refuse "4 PCR reference value" "-P pcr -n server.test"
refuse "5 AK not pinned" "-P akpin -n server.test"
# 6: refused before any handshake (one verdict: the silent peer runs no katls)
port=$((port + 1)); silent $port; sp=$!; wait_port $port $sp
out=$($probe connect 127.0.0.1 $port -P nosuchpolicy -n server.test 2>&1) || true
kill $sp 2>/dev/null || true; wait $sp 2>/dev/null || true
check "6 unknown policy: refused ($out)" grep -q "result=EACCES reason=27 " <<<"$out"

# 7: a request held by a silent peer: queue depth while it waits, then a timeout
port=$((port + 1)); silent $port; sp=$!; wait_port $port $sp
$probe connect 127.0.0.1 $port -n server.test -t 6000 >"$work/pc.out" 2>&1 &
pc=$!
check "7 while a request is held: katlsd_workers 1" poll_metric katlsd_workers 1
check "... and katls.ko counts it accepted by katlsd" \
	[ "$(v "$work/p" katls_module_requests_accepted)" = 1 ]
wait $pc || true; kill $sp 2>/dev/null || true; wait $sp 2>/dev/null || true
check "7 the held request timed out ($(cat "$work/pc.out"))" \
	grep -q "result=ETIMEDOUT reason=24 " "$work/pc.out"
check "... and the gauges are back to 0" poll_metric katlsd_workers 0
check "... (module: nothing accepted or queued)" \
	[ "$(v "$work/p" katls_module_requests_accepted),$(v "$work/p" katls_module_requests_queued)" = 0,0 ]

# 8: a connection held open: two live attested sockets (both ends on this host)
port=$((port + 1))
start_server -p $port -n 1 -m attest
mkfifo "$work/hold.in"
exec 8<>"$work/hold.in"
# (8>&-: the client must not hold its own FIFO open for writing)
$tools/hold_client 127.0.0.1 $port server.test <"$work/hold.in" >"$work/hold.out" 2>&1 8>&- &
hc=$!
for _ in $(seq 300); do grep -q attested "$work/hold.out" && break; sleep 0.1; done
check "8 held connection attested" grep -q attested "$work/hold.out"
check "8 while it is open: katls_module_attested_sockets 2" \
	poll_metric katls_module_attested_sockets 2
exec 8>&-
wait $hc || true; wait "$srv_pid" 2>/dev/null || true
check "8 closed: katls_module_attested_sockets back to 0" \
	poll_metric katls_module_attested_sockets 0

# ---- the gate: one denied send on a REQUIRE-rule connection ----------------------------
python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7790)); s.listen(1); c,_=s.accept(); c.settimeout(2)
try: c.recv(100)
except Exception: pass' &
sp=$!; wait_port 7790 $sp
python3 -c 'import socket
s=socket.create_connection(("127.0.0.1", 7790))
try: s.send(b"SECRET"); print("sent")
except OSError as e: print("send:", e.errno)' >"$work/tx.out" 2>&1
wait $sp || true
check "a REQUIRE connection that never attested: send refused (EACCES)" grep -q "send: 13" "$work/tx.out"

# ---- malformed scrapes: each its clear answer, nobody else disturbed --------------------
# raw NAME HEX STATUS [SECS]: send HEX, the answer's status line must be STATUS
raw() {
	om raw "$maddr" "$2" "${4:-8}" >"$work/raw.out" 2>&1
	sed 's/^/    /' "$work/raw.out" | head -12
	check "$1: $3" grep -q "^HTTP/1.1 $3"$'\r$' "$work/raw.out"
}
hex() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
raw "garbage" "$(hex $'GARBAGE\r\n\r\n')" "400 Bad Request"
check "... with a one-line body that says why" \
	grep -q "^katlsd metrics: 400 Bad Request: malformed request line" "$work/raw.out"
raw "a TLS ClientHello (at once, no line end needed)" "160301020001000001fc0303" "400 Bad Request" 3
raw "wrong path" "$(hex $'GET /stats HTTP/1.1\r\nHost: x\r\n\r\n')" "404 Not Found"
raw "wrong method" "$(hex $'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')" \
	"405 Method Not Allowed"
check "... which names the allowed ones" grep -q "^Allow: GET, HEAD" "$work/raw.out"
raw "HTTP/2 preface" "$(hex $'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')" "505 HTTP Version Not Supported"
raw "oversized header section" "$(hex $'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ')$(head -c 5000 /dev/zero | tr '\0' a | xxd -p | tr -d '\n')" \
	"431 Request Header Fields Too Large"
raw "a scraper that sends nothing: 408 after 5 s" "" "408 Request Timeout" 9
check "... within the documented 5 s" grep -Eq '^\[[5-6]\.[0-9]s\]' "$work/raw.out"
# MAX_CLIENTS (8) silent scrapers hold every slot: the ninth is told 503 at once,
# katlsd still attests, the holders get 408 when their 5 s are over
om hold "$maddr" 8 7 >"$work/scr.out" 2>&1 &
hp=$!
for _ in $(seq 50); do grep -q held "$work/scr.out" && break; sleep 0.1; done
raw "a ninth scraper while 8 hold on" "$(hex $'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')" \
	"503 Service Unavailable" 3
pair "9 attestation while the scrapers hold on" "-m attest" '-n server.test 127.0.0.1 $port ping-$port'
# the holders get their 408 (8 of them) before they let go (after 7 s)
wait $hp || true
check "the 8 holders were answered 408 after their 5 s" [ "$(grep -c '^HTTP/1.1 408 ' "$work/scr.out")" = 8 ]
check "katlsd is alive after all that" kill -0 "$kd_pid"

# ---- s1: exactly what the run did -----------------------------------------------------
check "scrape again: 200, strict syntax" scrape "$work/s1"
n200_s1=$((n200 - 1))	# the 200s between s0 and s1, s1 not counted in itself
check "... and over the Unix socket" scrape "$work/u1" unix
for kv in ok=10 pcr-value=1 ak-untrusted=1 peer-refused=2 policy=1 timeout=1; do
	r=${kv%=*}; n=${kv#*=}
	[ "$r" = ok ] && res=accepted || res=refused
	want_d "katlsd_attestations_total{result=\"$res\",reason=\"$r\"}" "$n"
done
total_refused=0
for r in $(grep -o '^katlsd_attestations_total{result="refused",reason="[^"]*"}' "$work/s1" |
	   cut -d'"' -f4); do
	total_refused=$((total_refused + $(d "katlsd_attestations_total{result=\"refused\",reason=\"$r\"}")))
done
check "refusals over all reasons moved by exactly 6 ($total_refused)" [ "$total_refused" = 6 ]
for kv in client,verify=7 server,attest=5 client,mutual=1 server,mutual=1 client,attest=1 \
	  server,verify=1; do
	rm=${kv%=*}
	want_d "katlsd_requests_total{role=\"${rm%,*}\",mode=\"${rm#*,}\"}" "${kv#*=}"
done
want_d 'katlsd_request_duration_seconds_count{result="accepted"}' 10
want_d 'katlsd_request_duration_seconds_count{result="refused"}' 6
want_d katlsd_handshake_duration_seconds_count 15
want_d katlsd_evidence_duration_seconds_count 8
want_d katlsd_quote_duration_seconds_count 8
want_d katlsd_verification_duration_seconds_count 8
# daemon_probe tries one send and one recv after a failed attestation (4, 5, 6
# and 7 on the client, 4 and 5 on the server): 6 of each; and the REQUIRE send
want_d 'katls_gate_denials_total{path="send"}' 7
want_d 'katls_gate_denials_total{path="recv"}' 6
for p in file_write file_read zerocopy connect; do
	want_d "katls_gate_denials_total{path=\"$p\"}" 0
done
check "the gate's own counter agrees" \
	[ "$($katls gate stats --json | jq .denied_send)" = "$(v "$work/s1" 'katls_gate_denials_total{path="send"}')" ]
want_d 'katlsd_metrics_responses_total{code="200"}' $((n200_s1 + 1))	# + s0 itself
want_d 'katlsd_metrics_responses_total{code="400"}' 2
for kv in 404=1 405=1 505=1 431=1 408=9 503=1 414=0 500=0; do
	want_d "katlsd_metrics_responses_total{code=\"${kv%=*}\"}" "${kv#*=}"
done

# ---- the log: one key=value line per verdict, agreeing with the metrics -----------------
nv=$(om logfmt "$kd_log" | tail -n1)
check "16 verdict lines, each key=value from end to end ($nv)" [ "$nv" = 16 ]
for r in ok pcr-value ak-untrusted peer-refused policy timeout; do
	[ "$r" = ok ] && res=accepted || res=refused
	check "log and metrics agree on reason $r" [ "$(grep -c "event=verdict .* reason=$r " "$kd_log")" = \
		"$(v "$work/s1" "katlsd_attestations_total{result=\"$res\",reason=\"$r\"}")" ]
done
for ph in handshake evidence quote verify; do
	case $ph in verify) fam=verification ;; *) fam=$ph ;; esac
	check "log lines with ms_$ph = the $fam histogram's count" \
		[ "$(grep 'event=verdict' "$kd_log" | grep -c " ms_$ph=")" = \
		  "$(v "$work/s1" katlsd_${fam}_duration_seconds_count)" ]
done
# the histogram's _sum against the log's durations (0.1 ms rounding each)
logsum=$(grep -o ' ms_handshake=[0-9.]*' "$kd_log" | cut -d= -f2 | awk '{ s += $1 } END { print s }')
msum=$(v "$work/s1" katlsd_handshake_duration_seconds_sum)
check "handshake _sum ($msum s) is the log's sum ($logsum ms)" \
	awk -v m="$msum" -v l="$logsum" 'BEGIN { d = m * 1000 - l; exit !(d < 2 && d > -2) }'
srv_dig=$(sha256sum "$srv" | cut -c1-64)
check "the server's verdict names its workload: exe and IMA digest" \
	grep -Eq "role=server mode=attest result=accepted .* exe_digest=sha256:$srv_dig( .*)? exe=$srv( |$)" "$kd_log"
check "the client's verdict names the peer, its policy and the peer's workload" \
	grep -Eq "role=client mode=verify result=accepted .* policy=vm .* peer=127\.0\.0\.1:[0-9]+ .* peer_exe=$srv( |$)" "$kd_log"
check "a refusal carries errno, durations and the reason's message" \
	grep -Eq 'reason=pcr-value errno=EACCES .* ms_total=[0-9.]+ .* msg="' "$kd_log"

check "no request left in the module" [ "$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0 ]
stop_katlsd
check "the Unix socket is removed when katlsd stops" [ ! -e "$msock" ]
echo "---- last scrape"; grep -v ' 0$' "$work/s1" | grep -v '^#' | sed 's/^/    /'
echo "---- katlsd log"; cat "$kd_log"
done_testing
