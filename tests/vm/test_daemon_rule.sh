#!/bin/bash
# The operator's rule decides what opens the gate, not the application (issue 10
# item 1): under a require rule naming a policy, katlsd verifies the peer under
# that policy whatever the application asks for; an application that asks only
# to attest itself, or names another (laxer) policy, is refused and its socket
# never becomes ATTESTED; the rule's max age caps the verdict.
. "$(dirname "$0")/lib.sh"
need jq; need openssl
. "$top/tests/vm/daemon_lib.sh"
probe=$tools/daemon_probe
daemon_setup
$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
# 7601-7605: the rule names 'akpin' (pins another AK: the server cannot pass it)
# 7611-7613: the rule names 'vm' (the server passes it), max age 30 s
for p in 7601 7602 7603 7604 7605; do
	$katls policy add 127.0.0.1 port $p --direction out --policy akpin >/dev/null || { echo "FAIL - rule $p"; exit 1; }
done
for p in 7611 7612 7613; do
	$katls policy add 127.0.0.1 port $p --direction out --policy vm --max-age 30 >/dev/null || { echo "FAIL - rule $p"; exit 1; }
done
start_katlsd
check "katlsd uses the gate" grep -q "BPF gate .*enforcing" "$kd_log"

# pair PORT "SERVER ARGS" "CLIENT ARGS": one probe pair; $out (client), $sout (server)
pair() {
	$probe serve "$1" $2 >"$work/ps.out" 2>&1 &
	local sp=$!
	for _ in $(seq 100); do grep -q listening "$work/ps.out" && break; sleep 0.1; done
	out=$(eval "\$probe connect 127.0.0.1 $1 $3" 2>&1) || true
	wait $sp 2>/dev/null || true
	sout=$(tail -n1 "$work/ps.out")
	echo "    client: $out"; echo "    server: $sout"
}
refused() {
	check "$1: client refused (EACCES, reason $2), gate FAILED" \
		grep -Eq "result=EACCES reason=$2 .*gate=failed" <<<"$out"
	check "$1: the server never got application data" \
		bash -c "! grep -Eq 'first=[^-]' <<<'$sout'"
}

pair 7601 "-m verify" "-m attest -n server.test"
refused "ATTEST_SELF under a require rule (the peer is never verified)" 27
check "katlsd says why" grep -q "operator rule requires the peer to be verified under policy 'akpin'" "$kd_log"

pair 7602 "-m attest" "-P vm -n server.test"
refused "a laxer policy the application names ('vm' where the rule says 'akpin')" 27
check "katlsd names both policies" \
	grep -q "application asked for policy 'vm'; an operator rule requires policy 'akpin'" "$kd_log"

pair 7603 "-m attest" "-n server.test"
refused "no policy named by the application: the rule's 'akpin' is applied" 14

pair 7604 "-m attest" "-P akpin -n server.test"
refused "the rule's own policy, named by the application" 14

pair 7605 "-m mutual" "-m mutual -P vm -n server.test"
refused "mutual with a laxer policy" 27

# The rule's policy accepts: the connection is attested, its verdict capped by the rule.
pair 7611 "-m attest" "-n server.test"
check "the rule's policy 'vm' accepts (application named none)" grep -q "result=ok .*gate=attested" <<<"$out"
check "... verified under the rule's policy" grep -q "operator rule requires policy 'vm'" "$kd_log"
pair 7612 "-m attest" "-P vm -n server.test"
check "the application may name the rule's policy" grep -q "result=ok .*gate=attested" <<<"$out"
check "the rule's max age (30 s) caps the verdict katlsd records (policy says 600 s)" \
	grep -Eq "event=verdict req=[0-9]+ role=client mode=verify result=accepted .* max_age_s=30 " "$kd_log"

# Without a rule the application's request stands (ATTEST_SELF allowed).
pair 7690 "-m verify" "-m attest -n server.test"
check "no rule: ATTEST_SELF is the application's choice" grep -q "result=ok" <<<"$out"
stop_katlsd
done_testing
