#!/bin/bash
# The BPF gate on the build machine's own kernel, which refuses BPF-LSM programs
# but runs sockops and cgroup programs (DESIGN.md §9): the loader's one-line
# refusal and fail-closed default, --no-lsm mode, rule maps and policy names,
# sockops marking (read back by socket fd from the socket-storage map), setting
# state by fd, the daemon's pidfd registration, the CLI's rule management, bad
# input, map-full conditions without partial rules, reload and unload.
# Enforcement itself (the LSM programs) is tested in the VM: tests/vm/test_gate.sh.
# Runs as root.  Usage: test_gate_host.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-${KATLS_BUILD:-$top/build}}
katls=$B/katls
gio=$B/tests/vm/gate_io
pin=/sys/fs/bpf/katls
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# expect_rc RC WHAT CMD...: CMD exits RC and says one line on stderr; the line is in $err.
expect_rc() {
	local want=$1 what=$2 rc=0; shift 2
	err=$("$@" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" = "$want" ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && [ -n "$err" ]; then
		ok "$what (exit $rc: $err)"
	else
		bad "$what: want exit $want and one line, got exit $rc: $err"
	fi
}
need() { command -v "$1" >/dev/null || { echo "FAIL - prerequisite missing: $1"; exit 1; }; }
need jq
[ "$(id -u)" = 0 ] || { echo "FAIL - must run as root (BPF)"; exit 1; }
for f in "$katls" "$gio"; do
	[ -x "$f" ] || { echo "FAIL - $f not built (make)"; exit 1; }
done

# The gate's cgroup programs go on a cgroup of this test's own, so that other
# programs on the machine (which connect to loopback too) neither meet its
# rules nor move its counters.
cg2=$(findmnt -n -t cgroup2 -o TARGET | head -n1)
[ -n "$cg2" ] || { echo "FAIL - prerequisite missing: a cgroup v2 mount"; exit 1; }
cg=$cg2/katls-test-gate-$$
mkdir "$cg" && echo $$ >"$cg/cgroup.procs" || { echo "FAIL - cannot make and enter $cg"; exit 1; }

mounted_bpffs=""
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf || { echo "FAIL - cannot mount bpffs on /sys/fs/bpf"; exit 1; }
	mounted_bpffs=1
fi
cleanup() {
	$katls gate unload >/dev/null 2>&1 || true
	[ -n "$mounted_bpffs" ] && umount /sys/fs/bpf 2>/dev/null || true
	echo $$ >"$cg2/cgroup.procs" 2>/dev/null && rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT
$katls gate unload >/dev/null 2>&1 || true	# a previous run that died

rules() { $katls policy list --json | jq length; }
stat_of() { $katls gate stats --json | jq ".$1"; }

# ---- the loader on a kernel that refuses BPF-LSM: one line, nothing left behind
expect_rc 6 "load without --no-lsm fails closed" $katls gate load
grep -q "refuses BPF-LSM" <<<"$err" || bad "the line names the refusal: $err"
check "a refused load leaves no pins" test ! -e $pin
expect_rc 5 "status: not loaded" $katls gate status
expect_rc 5 "policy list before load: not loaded" $katls policy list
expect_rc 5 "policy add before load: not loaded" $katls policy add 10.0.0.0/8

# ---- --no-lsm: rules and marking only, reported as NOT enforcing
check "load --no-lsm" $katls gate load --no-lsm --cgroup $cg
set +e; st=$($katls gate status); rc=$?; set -e
check "status says NOT ENFORCING, exit 6 (rc $rc)" [ "$rc" = 6 ]
grep -q "NOT ENFORCING" <<<"$st" || bad "status text: $st"
js=$($katls gate status --json || true)
check "status --json: sockops attached, not enforcing" \
	[ "$(jq -c '[.loaded, .enforcing, .sockops, .lsm_programs]' <<<"$js")" = '[true,false,true,0]' ]
check "pins: maps and the sockops link" test -e $pin/katls_sk_state -a -e $pin/katls_rules \
	-a -e $pin/link_katls_sockops -a ! -e $pin/link_katls_socket_sendmsg

# ---- rules through the CLI
check "add out rule with policy and max age" \
	$katls policy add 127.0.0.1 port 7201 require --policy prod --max-age 1h --direction out
check "add in rule (listening port)" $katls policy add any port 7202 --direction in --policy web
check "add v6 rule" $katls policy add ::1/128 port 7203 --direction out --policy prod
check "add broad require" $katls policy add 127.0.0.0/8 port 7204 --direction out
check "add exempt carve-out" $katls policy add 127.0.0.5 port 7204 exempt --direction out
check "add exact-port exempt under an any-port require" \
	$katls policy add 127.0.0.0/8 --direction out --policy catchall
check "exempt the exact port 7205" $katls policy add 127.0.0.0/8 port 7205 exempt --direction out
check "rule count is 8 (any = v4 + v6)" [ "$(rules)" = 8 ]
l=$($katls policy list --json)
check "list shows the policy name and max age" \
	[ "$(jq -c '.[] | select(.port == 7201) | [.direction, .prefix, .action, .policy, .max_age_s]' <<<"$l")" \
	  = '["out","127.0.0.1/32","require","prod",3600]' ]
check "policy names map to small ids (prod reused)" \
	[ "$(jq -c '[.[] | select(.policy == "prod") | .policy_id] | unique' <<<"$l")" = '[1]' ]
check "text list has a header and 8 rows" [ "$($katls policy list | wc -l)" = 9 ]

# ---- sockops marking, read back by fd from the socket-storage map
e0=$(stat_of established); m0=$(stat_of marked_required); x0=$(stat_of matched_exempt)
check "out rule marks the client REQUIRED with its policy, not the accepted end" \
	$gio --port 7201 expect-state=required expect-policy=1 expect-peer=none
check "in rule (any) marks the accepted socket, not the client" \
	$gio --addr ::1 --port 7202 --side server expect-state=required expect-policy=2 expect-peer=none
check "IPv6 rule marks ::1" $gio --addr ::1 --port 7203 expect-state=required
check "IPv4-mapped peer on a v6 socket matches the IPv4 rule" \
	$gio --addr ::ffff:127.0.0.1 --port 7201 expect-state=required
check "broad require marks 127.0.0.6" $gio --addr 127.0.0.6 --port 7204 expect-state=required
check "exempt /32 carve-out is untouched" $gio --addr 127.0.0.5 --port 7204 expect-state=none
check "exact-port exempt beats the any-port require" $gio --port 7205 expect-state=none
check "any-port require applies to another port" $gio --port 7206 expect-state=required expect-policy=3
check "a non-matching connection is untouched" $gio --addr ::1 --port 7207 expect-state=none
check "counters: established grew by at least 18" [ $(( $(stat_of established) - e0 )) -ge 18 ]
check "counters: 6 marked REQUIRED" [ $(( $(stat_of marked_required) - m0 )) = 6 ]
check "counters: 2 matched exempt" [ $(( $(stat_of matched_exempt) - x0 )) = 2 ]

# ---- the daemon's path: state by fd, pidfd registration
check "set state by fd: pending, attested, failed, none" \
	$gio --port 7201 state=pending expect-state=pending state=attested:60000 \
	expect-state=attested state=failed expect-state=failed state=none expect-state=none
# (dropping it at execve is an LSM hook: tested in the VM)
check "daemon registration through a pidfd" \
	$gio --port 7201 exempt expect-exempt=yes unexempt expect-exempt=no
expect_rc 2 "gate_io rejects an unknown state" $gio --port 7201 state=bogus

# ---- bad input: clear one-line errors, exit 2, no rule added
n=$(rules)
for cidr in 10.0.0.0/33 10.0.0/8 10.0.0.1/8 300.1.1.1 2001:db8::/129 abc "" 10.0.0.0/ \
	    10.0.0.0/-1 10.0.0.0/8x 10.0.0.0//8 "10.0.0.0/ 8" 2001:db8::1/32; do
	expect_rc 2 "malformed prefix '$cidr'" $katls policy add "$cidr"
done
for port in 0 65536 http -1 12a 99999999999 ""; do
	expect_rc 2 "bad port '$port'" $katls policy add 10.0.0.0/8 port "$port"
done
expect_rc 2 "port given twice" $katls policy add 10.0.0.0/8 port 1 --port 2
for name in "" "a b" ../x -lead "$(printf 'n%.0s' $(seq 48))" "x;y" "é"; do
	expect_rc 2 "bad policy name '$name'" $katls policy add 10.0.0.0/8 --policy "$name"
done
for age in -5 1y 99999999999 s 10x ""; do
	expect_rc 2 "bad max age '$age'" $katls policy add 10.0.0.0/8 --max-age "$age"
done
expect_rc 2 "bad direction" $katls policy add 10.0.0.0/8 --direction sideways
expect_rc 2 "exempt with a policy" $katls policy add 10.0.0.0/8 exempt --policy x
expect_rc 2 "no prefix" $katls policy add
expect_rc 2 "trailing junk" $katls policy add 10.0.0.0/8 port 443 please
expect_rc 2 "unknown gate command" $katls gate bogus
check "no rule was added by bad input" [ "$(rules)" = "$n" ]
check "max age with a unit" $katls policy add 10.9.0.0/16 --max-age 7d --direction out
check "7d is 604800 s" [ "$($katls policy list --json | jq '.[] | select(.prefix == "10.9.0.0/16") | .max_age_s')" = 604800 ]

# ---- duplicates and partial rules
expect_rc 1 "duplicate rule: exists" $katls policy add 127.0.0.1 port 7201 --direction out
check "--replace overwrites" $katls policy add 127.0.0.1 port 7201 --direction out --policy prod --max-age 60 --replace
check "replaced max age is 60" [ "$($katls policy list --json | jq '.[] | select(.port == 7201) | .max_age_s')" = 60 ]
check "add out half of a future both-rule" $katls policy add 10.7.0.0/16 port 9 --direction out
# A broader 'in' rule: an LPM lookup of 'in 10.7.0.0/16 port 9' finds it, which
# must not be mistaken for the exact rule.
check "add a broader in rule 10.0.0.0/8 port 9" $katls policy add 10.0.0.0/8 port 9 --direction in
n=$(rules)
expect_rc 1 "both directions where 'out' exists: refused" $katls policy add 10.7.0.0/16 port 9 --policy newname
check "no partial rule: the 'in' half was rolled back" [ "$(rules)" = "$n" ]
check "no partial rule: no stray policy name" \
	bash -c "! $katls policy list --json | jq -e '.[] | select(.policy == \"newname\")' >/dev/null"
expect_rc 1 "del of a missing rule" $katls policy del 10.8.0.0/16
expect_rc 1 "del both where only 'out' exists (and a broader 'in'): refused" \
	$katls policy del 10.7.0.0/16 port 9
check "... and nothing was deleted" [ "$(rules)" = "$n" ]
check "del the out rule" $katls policy del 10.7.0.0/16 port 9 --direction out
check "rule count dropped by one" [ "$(rules)" = $((n - 1)) ]

# ---- reload keeps pinned state; a marked socket stays marked across it
check "reload keeps a socket's state and the rules" \
	$gio --port 7201 state=pending run="$katls gate load --no-lsm --cgroup $cg 2>/dev/null" expect-state=pending
check "rules survive the reload" [ "$(rules)" = $((n - 1)) ]
check "sockops still marks after the reload" $gio --port 7201 expect-state=required

# ---- map full: clear error, no partial rule
check "fill the rule table to one free slot" $gio fill-rules=full
n=$(rules)
expect_rc 1 "a 2-entry rule into 1 free slot: table full" $katls policy add 10.250.0.0/16 port 5
grep -q "table is full" <<<"$err" || bad "message names the full table: $err"
check "no partial rule when the table is full ($n rules)" [ "$(rules)" = "$n" ]
check "a 1-entry rule still fits" $katls policy add 10.250.0.0/16 port 5 --direction out
expect_rc 1 "now completely full" $katls policy add 10.251.0.0/16 port 5 --direction out
check "fill the policy name table" $gio fill-policies
expect_rc 1 "policy names full: clear error" $katls policy add 10.252.0.0/16 --policy onemore --direction in
grep -q "name table is full" <<<"$err" || bad "message names the full table: $err"

# ---- unload
check "unload" $katls gate unload
check "unload removed the pins" test ! -e $pin
expect_rc 5 "status after unload: not loaded" $katls gate status
expect_rc 5 "unload twice: not loaded" $katls gate unload

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
