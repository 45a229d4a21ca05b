#!/bin/bash
# Attacks on katls.ko itself (issue 10 items 2, 3, 7; docs ATTACKS.md "A
# kernel interface"), each run as the least privileged user that could try it:
#  1. module_put() in the socket destructor is a sibling call (jmp) in the
#     katls.ko under test: no module text runs after the reference is gone.
#  2. the daemon is one netlink socket: a CAP_NET_ADMIN-only process (a CNI
#     plugin) cannot register, accept, or forge DONE(id, 0) on a request
#     whose socket already carries kTLS, neither while katlsd runs nor while
#     it restarts; with daemon_exe pinned, another CAP_SYS_ADMIN program
#     cannot register either.
#  3. uid 65534 cannot join the events group; in a user+network namespace of
#     its own it may join but receives nothing (no IMA count leaks).
#  4. limits: per-uid and per-cgroup (EAGAIN) and global (ENOBUFS) bounds on open requests,
#     counted in STATE_GET, the refused socket untouched; max_timeout_ms clamps.
#  5. clones (last: it unloads the module): uid 65534 listens on a socket whose
#     attestation failed (refused: EINVAL) and on one whose attestation is
#     pending (allowed; 1,000 children accepted); rmmod with the children
#     open succeeds, closing them afterwards does not oops, and TCP socket and
#     memory accounting return to the baseline.
. "$(dirname "$0")/lib.sh"
need jq; need objdump; need setpriv; need unshare; need openssl; need sysctl; need python3
. "$top/tests/vm/daemon_lib.sh"
load_tls_crypto
probe=$tools/kmod_attack
ac=$tools/attest_client
ko=$top/kmod/katls.ko
params=/sys/module/katls/parameters
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
# root with CAP_NET_ADMIN and nothing else (bounding set): a CNI plugin
netadmin() { setpriv --bounding-set=-all,+net_admin --inh-caps=-all "$@"; }
# a world-readable directory for files the unprivileged attackers wait for
pub=$(mktemp -d); chmod 755 "$pub"
fake_pid=""
# start_fake [--ktls-hold]: the probe as a daemon that never completes ($fake_log)
start_fake() {
	fake_log=$work/fake-$RANDOM.log
	rm -f "$work/fake.ready"
	$probe daemon "$@" --ready "$work/fake.ready" >"$fake_log" 2>&1 &
	fake_pid=$!
	wait_file "$work/fake.ready" 100 || { echo "FAIL - fake daemon did not start:"; cat "$fake_log"; exit 1; }
}
stop_fake() { [ -n "$fake_pid" ] || return 0; kill "$fake_pid"; wait "$fake_pid" || true; fake_pid=""; }
# wait_grep PATTERN FILE [TENTHS]: until FILE has a line matching PATTERN
wait_grep() {
	local i; for i in $(seq "${3:-300}"); do grep -Eq "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
	echo "  (no '$1' in $2 after $(( ${3:-300} / 10 )) s:)"; sed 's/^/    /' "$2"; return 1
}
# fresh_exec: run a binary never run before (IMA measures it: a new record)
fresh_exec() {
	local b=$KATLS_OUT/fresh-$RANDOM$RANDOM
	cp /bin/true "$b"; echo "$RANDOM$RANDOM" >>"$b"; chmod +x "$b"; "$b"; rm -f "$b"
}

# ---- 1. module_put is a sibling call ------------------------------------------
# (awk reads everything: an early exit would kill objdump with SIGPIPE)
dis=$(objdump -dr "$ko" | awk '/^[0-9a-f]+ <katls_sk_destruct>:/ {p = 1} p && /^$/ {p = 0} p')
read -r jmps calls <<<"$(awk '/R_X86_64_PLT32[ \t]+module_put/ { if (prev ~ /\tjmp/) j++; else c++ }
	!/R_X86_64/ { prev = $0 } END { print j + 0, c + 0 }' <<<"$dis")"
echo "  katls_sk_destruct: $jmps jmp / $calls other reference(s) to module_put"
check "katls_sk_destruct found in $ko" [ -n "$dis" ]
check "module_put is only ever a sibling call (jmp) in katls_sk_destruct" \
	[ "$jmps" -ge 1 -a "$calls" = 0 ]

# ---- 2. the daemon is one netlink socket ----------------------------------------
caps=$(netadmin awk '/^CapEff/ {print $2}' /proc/self/status)
check "netadmin() has CAP_NET_ADMIN only (CapEff $caps)" [ "$caps" = 0000000000001000 ]
check "defaults: 1024 requests, 64 per uid, 256 per cgroup, 60000 ms, no daemon_exe" \
	[ "$(cat $params/max_requests),$(cat $params/max_requests_per_uid),$(cat $params/max_requests_per_cgroup),$(cat $params/max_timeout_ms),$(cat $params/daemon_exe)" = "1024,64,256,60000," ]
check "CAP_NET_ADMIN only, no daemon: REGISTER/ACCEPT/DONE/IMA_GET/events EPERM" \
	netadmin $tools/reqprobe netadmin

# A daemon that accepted a request and installed kTLS but has not verified
# yet (katlsd between its kTLS handover and its verdict): DONE(id, 0) from
# anyone else would be accepted by the kTLS check.  It must be refused.
start_fake --ktls-hold
$probe attest --timeout 8000 --expect ETIMEDOUT --deadline 30000 >"$work/ac.out" 2>&1 & acpid=$!
wait_grep "held id=[0-9]+ .*ktls=ok" "$fake_log"
id=$(sed -n 's/^held id=\([0-9]*\) .*/\1/p' "$fake_log" | head -n1)
check "CAP_NET_ADMIN forging DONE($id, 0) on a kTLS socket: EPERM" netadmin $probe nl -e EPERM done "$id"
check "CAP_NET_ADMIN taking request $id: EPERM" netadmin $probe nl -e EPERM accept "$id"
check "root, from a socket that is not the daemon's, DONE($id, 0): EPERM" $probe nl -e EPERM done "$id"
check "... the application was not told 'attested': it timed out (ETIMEDOUT)" wait $acpid
cat "$work/ac.out"
stop_fake

# katlsd runs, stops, restarts: nobody else gets in.
daemon_setup
start_katlsd
check "katlsd registered" [ "$(kstat .requests.daemon)" = true ]
check "while katlsd runs: CAP_NET_ADMIN cannot register, accept or complete" \
	netadmin $tools/reqprobe netadmin
check "while katlsd runs: another root process cannot register (EBUSY)" $probe nl -e EBUSY register
stop_katlsd
check "katlsd stopped: no daemon" [ "$(kstat .requests.daemon)" = false ]
check "restart window: CAP_NET_ADMIN cannot register (EPERM)" netadmin $probe nl -e EPERM register
check "restart window: nobody squatted, KATLS_SO_ATTEST gets ECONNREFUSED" \
	$ac run --expect ECONNREFUSED
start_katlsd
check "katlsd registers again after the window" [ "$(kstat .requests.daemon)" = true ]
stop_katlsd
# The operator pins the executable: another CAP_SYS_ADMIN program cannot register.
echo "$katlsd" >$params/daemon_exe
check "daemon_exe=$katlsd: another root program cannot register (EPERM)" $probe nl -e EPERM register
grep -q "daemon_exe" <<<"$($probe nl -e EPERM register)" || bad "the EPERM's extack names daemon_exe"
start_katlsd
check "daemon_exe=$katlsd: katlsd itself registers" [ "$(kstat .requests.daemon)" = true ]
stop_katlsd
echo >$params/daemon_exe
check "daemon_exe cleared: root may register again" $probe nl register

# ---- 3. the events group ----------------------------------------------------------
touch "$pub/now"
check "uid 65534 cannot join the events group (EPERM)" \
	grep -q "^join=EPERM events=0" <<<"$(nobody $probe ev-listen "$pub/now")"
[ -w /proc/sys/kernel/unprivileged_userns_clone ] && sysctl -qw kernel.unprivileged_userns_clone=1
sysctl -qw user.max_user_namespaces=1000
nobody unshare -Urn true || { echo "FAIL - prerequisite missing: unprivileged user namespaces"; exit 1; }
rm -f "$pub/evdone"
nobody unshare -Urn $probe ev-listen "$pub/evdone" >"$work/evl.out" 2>&1 & evl=$!
wait_grep "^(joined|join=)" "$work/evl.out"
echo "  uid 65534 in its own user+net namespace: $(head -n1 "$work/evl.out")"
$probe ev-watch 2 >"$work/evw.out" 2>&1 & evw=$!
wait_grep "^joined" "$work/evw.out"
# Each measurement moves the generation: STATE_CHANGED (with the IMA count).
# Once root has the second one, the first has reached every namespace.
fresh_exec; wait_grep "^state_changed 1 " "$work/evw.out" 200
fresh_exec; wait_grep "^state_changed 2 " "$work/evw.out" 200
check "root in the initial netns heard 2 STATE_CHANGED events" wait $evw
touch "$pub/evdone"
wait $evl || true
sed 's/^/    /' "$work/evw.out" "$work/evl.out"
check "uid 65534 in its own user+net namespace received no event (no IMA count)" \
	grep -q "^events=0$" "$work/evl.out"

# ---- 4. limits ---------------------------------------------------------------------
echo 4 >$params/max_requests_per_uid
echo 6 >$params/max_requests
start_fake
l0=$(kstat .requests.limited)
rm -f "$pub"/rel*
nobody $probe hold --hold 4 --extra 2 --expect-extra EAGAIN --release "$pub/rel1" \
	>"$work/h1.out" 2>&1 & h1=$!
wait_grep "^pending=" "$work/h1.out"
check "uid 65534: 4 requests open, the 5th and 6th get EAGAIN at once, sockets untouched" \
	grep -q "^pending=4 extra=EAGAIN,EAGAIN$" "$work/h1.out"
check "4 requests queued" [ "$(kstat .requests.queued)" = 4 ]
$probe hold --hold 2 --extra 1 --expect-extra ENOBUFS --release "$pub/rel2" >"$work/h2.out" 2>&1 & h2=$!
wait_grep "^pending=" "$work/h2.out"
check "root (CAP_SYS_RESOURCE: no per-uid limit) opens 2 more, then max_requests: ENOBUFS" \
	grep -q "^pending=2 extra=ENOBUFS$" "$work/h2.out"
touch "$pub/rel3"
check "uid 65533 while 6 are open: ENOBUFS, socket untouched" \
	setpriv --reuid=65533 --regid=65533 --clear-groups --inh-caps=-all \
	$probe hold --hold 0 --extra 1 --expect-extra ENOBUFS --release "$pub/rel3"
l1=$(kstat .requests.limited)
check "STATE_GET counts the 4 refusals (limited $l0 -> $l1)" [ "$l1" = $((l0 + 4)) ]
check "the kernel log names the per-uid limit" \
	bash -c "dmesg | grep -q 'max_requests_per_uid): refused with EAGAIN'"
touch "$pub/rel1" "$pub/rel2"
check "uid 65534's held requests end with EINTR" wait $h1
check "root's held requests end with EINTR" wait $h2
check "no request left" [ "$(kstat .requests.queued),$(kstat .requests.accepted)" = 0,0 ]
stop_fake
echo 64 >$params/max_requests_per_uid
echo 1024 >$params/max_requests

# per cgroup: two uids in one cgroup share its bound (a container cannot spread
# its requests over many uids); a request from another cgroup is not affected
cg=/sys/fs/cgroup
check "cgroup v2 at $cg" [ -e $cg/cgroup.procs ]
mkdir -p $cg/katls-a $cg/katls-b
echo 3 >$params/max_requests_per_cgroup
in_cg() {	# in_cg CGROUP UID CMD...: CMD as UID (no capabilities) in CGROUP
	local g=$1 u=$2; shift 2
	bash -c 'echo $$ >"$0/cgroup.procs" && exec setpriv --reuid="$1" --regid="$1" \
		--clear-groups --inh-caps=-all "${@:2}"' "$cg/$g" "$u" "$@"
}
start_fake
l0=$(kstat .requests.limited)
rm -f "$pub"/rel*
in_cg katls-a 65534 $probe hold --hold 2 --extra 0 --release "$pub/rel1" >"$work/g1.out" 2>&1 &
g1=$!
wait_grep "^pending=" "$work/g1.out"
in_cg katls-a 65533 $probe hold --hold 1 --extra 1 --expect-extra EAGAIN --release "$pub/rel2" \
	>"$work/g2.out" 2>&1 & g2=$!
wait_grep "^pending=" "$work/g2.out"
check "cgroup katls-a: uid 65534 holds 2, uid 65533 one more, its next gets EAGAIN (3 per cgroup)" \
	grep -q "^pending=1 extra=EAGAIN$" "$work/g2.out"
touch "$pub/rel3"
check "uid 65533 in cgroup katls-b meanwhile: not limited by katls-a's requests" \
	in_cg katls-b 65533 $probe hold --hold 1 --extra 0 --release "$pub/rel3"
check "the kernel log names the per-cgroup limit" \
	bash -c "dmesg | grep -q 'max_requests_per_cgroup): refused with EAGAIN'"
touch "$pub/rel1" "$pub/rel2"
r1=0; wait $g1 || r1=$?; r2=0; wait $g2 || r2=$?
check "the held requests end with EINTR ($r1, $r2)" [ "$r1,$r2" = 0,0 ]
check "STATE_GET counts the refusal" [ "$(kstat .requests.limited)" = $((l0 + 1)) ]
stop_fake
echo 256 >$params/max_requests_per_cgroup
rmdir $cg/katls-a $cg/katls-b
check "max_timeout_ms refuses 999 and 600001" \
	bash -c "! echo 999 >$params/max_timeout_ms && ! echo 600001 >$params/max_timeout_ms"
echo 1500 >$params/max_timeout_ms
start_fake --ktls-hold
out=$(nobody $probe attest --timeout 600000 --expect ETIMEDOUT --deadline 15000) || true
echo "  $out"
check "uid 65534 asks for 600 s, max_timeout_ms 1500: ETIMEDOUT, FAILED" \
	grep -q "^attest=ETIMEDOUT state=3 " <<<"$out"
ms=$(sed -n 's/.* ms=\([0-9]*\)$/\1/p' <<<"$out")
check "... after about 1.5 s ($ms ms)" [ "${ms:-0}" -ge 1400 -a "${ms:-0}" -lt 10000 ]
check "... and the daemon was told timeout=1500" grep -q "^held id=[0-9]* timeout=1500 " "$fake_log"
stop_fake
echo 60000 >$params/max_timeout_ms

# ---- 5. clones: listen() on managed sockets, 1,000 children, rmmod ---------------
sockstat() { awk '/^TCP:/ {print $3, $5, $7, $9, $11}' /proc/net/sockstat; }
read -r inuse0 orphan0 tw0 alloc0 mem0 <<<"$(sockstat)"
echo "  baseline TCP: inuse $inuse0 orphan $orphan0 tw $tw0 alloc $alloc0 mem $mem0 pages"
start_fake
mkfifo "$pub/ctl1" "$pub/ctl2"
nobody $probe listen-after-fail 1000 <"$pub/ctl1" >"$work/l1.out" 2>&1 & l1=$!
exec 7>"$pub/ctl1"
wait_grep "^children [0-9]+ open" "$work/l1.out" 600
head -n1 "$work/l1.out"
check "failed attestation, then listen(): EINVAL (ULP katls, no children)" \
	grep -q "^attest=ETIMEDOUT disconnect=ok listen=EINVAL ulp=katls children=0$" "$work/l1.out"
echo close >&7; exec 7>&-
check "listen-after-fail probe" wait $l1
out=$(nobody $probe listen-after-fail 0 v6 </dev/null) || true
head -n1 <<<"  $out"
check "IPv6: failed attestation, then listen(): EINVAL (ULP katls)" \
	grep -q "^attest=ETIMEDOUT disconnect=ok listen=EINVAL ulp=katls children=0$" <<<"$out"
check "an application cannot put the katls ULP on its own socket (EPERM)" nobody python3 -c '
import errno, socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept()
try: c.setsockopt(socket.IPPROTO_TCP, 31, b"katls")
except OSError as e: raise SystemExit(0 if e.errno == errno.EPERM else 1)
raise SystemExit(1)'

nobody $probe listen-while-pending 1000 <"$pub/ctl2" >"$work/l2.out" 2>&1 & l2=$!
exec 7>"$pub/ctl2"
wait_grep "^children [0-9]+ open" "$work/l2.out" 1200
head -n1 "$work/l2.out"
check "listen() while pending: 1000 children; then EINTR, listen() again EINVAL, ULP katls, FAILED" \
	grep -q "^attest=EINTR disconnect=ok listen=ok children=1000 relisten=EINVAL ulp=katls state=3$" "$work/l2.out"
read -r inuse1 orphan1 tw1 alloc1 mem1 <<<"$(sockstat)"
echo "  with the children open: inuse $inuse1 alloc $alloc1 mem $mem1 pages"
for _ in $(seq 100); do [ "$(cat /sys/module/katls/refcnt)" = 0 ] && break; sleep 0.1; done
check "module refcount 0 once the managed sockets are closed (children hold none)" \
	[ "$(cat /sys/module/katls/refcnt)" = 0 ]
check "rmmod katls with 1000 children open (and a daemon registered)" rmmod katls
echo close >&7; exec 7>&-
check "1000 children closed after rmmod" wait $l2
tail -n1 "$work/l2.out"
stop_fake
for _ in $(seq 200); do
	read -r inuse2 orphan2 tw2 alloc2 mem2 <<<"$(sockstat)"
	[ "$inuse2" -le "$inuse0" ] && [ "$alloc2" -le "$alloc0" ] && [ "$mem2" -le $((mem0 + 512)) ] && break
	sleep 0.1
done
echo "  after: inuse $inuse2 orphan $orphan2 tw $tw2 alloc $alloc2 mem $mem2 pages"
check "TCP sockets back to the baseline (inuse $inuse2 <= $inuse0, alloc $alloc2 <= $alloc0)" \
	[ "$inuse2" -le "$inuse0" -a "$alloc2" -le "$alloc0" ]
# per-CPU reserves let the global counter differ by up to 256 pages per CPU
check "TCP memory back to the baseline ($mem2 <= $mem0 + 512 pages; it peaked at $mem1)" \
	[ "$mem2" -le $((mem0 + 512)) ]
check "no socket ran the katls destructor without state" \
	bash -c "! dmesg | grep -q 'destructor on a socket without katls state'"
check "insmod katls.ko again" insmod "$ko"
check "and the module works" [ "$(kstat .requests.daemon)" = false ]
check "rmmod katls" rmmod katls
done_testing
