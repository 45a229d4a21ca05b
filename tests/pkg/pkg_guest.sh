#!/bin/bash
# SPDX-License-Identifier: MIT
#
# pkg_guest.sh DEBDIR: runs inside the VM (tests/pkg/test_pkg_vm.sh boots it
# with KATLS_VM_NOMOD=1: no katls.ko from the build tree).  The guest's root is
# the build machine's, read-only: /usr, /etc and /var get a tmpfs overlay so
# dpkg can install for real, and everything vanishes at power-off.
#
#  1. dpkg -i the four packages; katls-dkms's postinst makes DKMS build and
#     install katls.ko for the running kernel; modprobe loads THAT module
#     (path, vermagic, srcversion checked); the unit is installed, not enabled
#  2. third-party programs: the installed examples (libkatls-dev) and
#     tests/host/abi/katls_user.c, built with `pkg-config --cflags --libs
#     katls` only, link /usr/lib/<triplet>/libkatls.so.1
#  3. the demo scenario from installed paths only (PATH has no build tree):
#     katls status, provision, katlsd, the BPF gate and a rule, the example
#     server (attests) and client (verifies) over kTLS, katls_user attesting a
#     socket in kernel mode, a refusal for a binary outside the allowlist,
#     katlsd's metrics endpoint
#  4. dpkg --purge: nothing of the packages is left (files, DKMS tree, module)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
debdir=${1:?usage: pkg_guest.sh DEBDIR [--no-dkms]}
# --no-dkms (debugging the scenario without the long DKMS build): leave
# katls-dkms out and use the katls.ko vm.sh loaded from the build tree
nodkms=${2:-}
case $debdir in /*) ;; *) debdir=$top/$debdir ;; esac
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
die()  { echo "FAIL - $*"; exit 1; }
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
kver=$(uname -r)
multiarch=$(gcc -print-multiarch)
pkgs=(katls katls-dkms libkatls1 libkatls-dev)
[ "$nodkms" = --no-dkms ] && pkgs=(katls libkatls1 libkatls-dev)
debs=()
for p in "${pkgs[@]}"; do
	d=$(ls "$debdir/${p}_"*.deb 2>/dev/null | head -n1)
	[ -n "$d" ] || die "no $debdir/${p}_*.deb (make package)"
	debs+=("$d")
done
for t in dpkg dkms gcc pkg-config modprobe modinfo jq openssl tpm2_pcrread; do
	command -v $t >/dev/null || die "prerequisite missing: $t"
done

# /dev/fd, as udev/systemd make it on a host: dkms (bash <(...)) needs it
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
# ---- writable /usr, /etc, /var (tmpfs overlays over the 9p root) -------------
mkdir -p /run/ovl
mount -t tmpfs -o mode=0755 ovl /run/ovl || die "tmpfs for the overlays"
for d in usr etc var; do
	mkdir -p /run/ovl/$d/up /run/ovl/$d/work
	mount -t overlay overlay -o lowerdir=/$d,upperdir=/run/ovl/$d/up,workdir=/run/ovl/$d/work \
		/$d || die "overlay on /$d"
done
touch /usr/.katls-writable /var/.katls-writable /etc/.katls-writable ||
	die "the overlays are not writable"
rm -f /usr/.katls-writable /var/.katls-writable /etc/.katls-writable

# nothing of katls before (the build machine has no katls installed)
for f in /usr/bin/katls /usr/sbin/katlsd /usr/local/bin/katls /usr/local/sbin/katlsd; do
	[ ! -e "$f" ] || die "$f exists before installation"
done
[ -z "$(find /lib/modules/$kver -name 'katls.ko*' 2>/dev/null)" ] ||
	die "a katls.ko is already installed for $kver"

# ---- 1. install -------------------------------------------------------------------
step "dpkg -i ${debs[*]##*/}"
# man-db's trigger would re-index every manual page of the build machine
# under TCG (minutes); a test-only shortcut, in the overlay.
rm -f /var/lib/man-db/auto-update
t0=$SECONDS
# dpkg's output as it comes, timed: the DKMS build under TCG takes minutes
set -o pipefail
dpkg -i "${debs[@]}" 2>&1 | while IFS= read -r l; do echo "  [$((SECONDS - t0))s] $l"; done ||
	die "dpkg -i"
set +o pipefail
echo "installed in $((SECONDS - t0))s (DKMS build of katls.ko included)"
for p in "${pkgs[@]}"; do
	check "$p installed" bash -c "dpkg-query -W -f='\${Status}' $p | grep -q 'install ok installed'"
done
if [ "$nodkms" != --no-dkms ]; then
check "dkms status: katls installed for $kver" \
	bash -c "dkms status katls -k $kver | grep -q ': installed'"
ko=$(modinfo -n katls 2>/dev/null)
check "modprobe finds the DKMS module ($ko)" \
	bash -c "case '$ko' in /lib/modules/$kver/updates/dkms/katls.ko*) true ;; *) false ;; esac"
check "its vermagic names $kver" bash -c "modinfo -F vermagic katls | grep -q '^$kver '"
modprobe katls || bad "modprobe katls"
# the DKMS file is the only katls.ko for this kernel (none before dpkg -i)
check "katls.ko loaded, and the only katls.ko is DKMS's" \
	bash -c "grep -q '^katls ' /proc/modules && [ \"\$(find /lib/modules/$kver -name 'katls.ko*')\" = '$ko' ]"
fi
check "katls, katlsd on PATH are the installed ones" \
	bash -c '[ "$(command -v katls)" = /usr/bin/katls ] && [ "$(command -v katlsd)" = /usr/sbin/katlsd ]'
check "unit runs /usr/sbin/katlsd" grep -q '^ExecStart=/usr/sbin/katlsd ' /lib/systemd/system/katlsd.service
check "unit not enabled on installation" \
	bash -c '! ls /etc/systemd/system/*.wants/katlsd.service 2>/dev/null | grep -q .'
check "conffile /etc/katls/katlsd.json" bash -c "dpkg-query -W -f='\${Conffiles}' katls | grep -q /etc/katls/katlsd.json"

# ---- 2. third-party programs --------------------------------------------------------
step "third-party programs: pkg-config --cflags --libs katls"
work=$(mktemp -d)
flags=$(pkg-config --cflags --libs katls) || die "pkg-config katls"
echo "pkg-config: $flags"
for src in /usr/share/doc/libkatls-dev/examples/server.c /usr/share/doc/libkatls-dev/examples/client.c \
	   "$top/tests/host/abi/katls_user.c"; do
	[ -f "$src" ] || [ -f "$src.gz" ] || { bad "$src not found"; continue; }
	n=$(basename "$src" .c)
	[ -f "$src" ] || { zcat "$src.gz" >"$work/$n.c"; src=$work/$n.c; }
	# shellcheck disable=SC2086
	check "$n builds with pkg-config only" gcc -Wall -Wextra -Werror -o "$work/$n" "$src" $flags
done
# (the loader may name it through /lib, a link to usr/lib on Debian 12)
so=$(ldd "$work/client" | sed -n 's/.*libkatls.so.1 => \([^ ]*\).*/\1/p')
check "they load the packaged libkatls.so.1 ($so)" \
	test "$(readlink -f "$so")" = "/usr/lib/$multiarch/libkatls.so.1"

# ---- 3. the demo scenario, installed paths only --------------------------------------
step "demo scenario"
case ":$PATH:" in *"$top"*) die "the build tree is on PATH" ;; esac
export KATLS_TCTI=device:/dev/tpmrm0 TPM2TOOLS_TCTI=device:/dev/tpmrm0
modprobe -a tls gcm ghash_generic aesni_intel 2>/dev/null || modprobe -a tls gcm ghash_generic
. "$top/tests/host/pki.sh"
check "katls status" bash -c 'katls status --pcrs none >/tmp/status.out && grep -q . /tmp/status.out'
pki_ca "$work" ca && pki_leaf "$work" ca host server.test || die "test PKI"
katls provision --out "$work/ak.pem" >/dev/null || die "katls provision"
metrics_port=9464
cat >"$work/katlsd.json" <<JSON
{ "certificate": "host.pem", "key": "host.key", "ca": "ca.pem",
  "policies": "policies.json", "default_policy": "prod",
  "metrics": { "listen": "127.0.0.1:$metrics_port" } }
JSON
# run everything the scenario runs, then allow exactly what IMA measured
"$work/server" -h >/dev/null 2>&1; "$work/client" >/dev/null 2>&1; "$work/katls_user" >/dev/null 2>&1
katlsd --help >/dev/null 2>&1; curl --version >/dev/null; sleep 0; wait
# and every other program the rest of the scenario runs, so that IMA measured it
# before the allowlist is made (a first /usr/bin/seq after it was refused)
for c in seq sleep cat grep sed awk jq curl ldd dpkg-deb dpkg-query readlink ls rm; do
	"$(command -v "$c")" --version >/dev/null 2>&1 || true
done
# on the writable 9p share: IMA's tcb policy does not measure files on tmpfs ($work)
unlisted=$KATLS_OUT/not-in-the-allowlist
cp /bin/true "$unlisted"; echo >>"$unlisted"
awk '$3 == "ima-sig" || $3 == "ima-ng" { split($4, d, ":"); print d[2], $5 }' \
	/sys/kernel/security/ima/ascii_runtime_measurements |
	jq -R -s 'split("\n") | map(select(length > 0) | split(" ")) |
		reduce .[] as $e ({}; .[$e[1]] += [$e[0]]) | { "meta": { "version": 1 },
		"digests": ., "excludes": [], "keyrings": {}, "ima-buf": {} }' >"$work/allow.json"
# allow_violations: the DKMS build above (kbuild, pahole) left ToMToU/open-writers
# violations in this boot's IMA log, which katls otherwise refuses (rightly: such an
# entry cannot vouch for the file).  A host reboots after installing a kernel module;
# this guest cannot (its root is a tmpfs overlay that a reboot would discard).
cat >"$work/policies.json" <<JSON
{ "policies": { "prod": { "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["ak.pem"],
  "ima": { "required": true, "runtime_policy": "allow.json", "allow_violations": true },
  "kernel": { "allow_taint_mask": $(cat /proc/sys/kernel/tainted), "require_tpm": true },
  "max_age_s": 600 } } }
JSON
katlsd --check --config "$work/katlsd.json" >/dev/null 2>&1 || bad "katlsd --check"
katlsd --config "$work/katlsd.json" --ready "$work/ready" 2>"$work/katlsd.log" &
kd=$!
for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
[ -e "$work/ready" ] || { cat "$work/katlsd.log"; die "katlsd did not become ready"; }
ok "katlsd (/usr/sbin/katlsd) ready"
# rules for the client direction: an in rule would make katlsd require the
# server end (which only attests itself) to verify its peer too
check "katls gate load + rules" bash -c 'katls gate load >/dev/null &&
	katls policy add 127.0.0.1 port 4433 --policy prod --direction out >/dev/null &&
	katls policy add 127.0.0.1 port 4434 --policy prod --direction out >/dev/null &&
	katls policy add 127.0.0.1 port 4435 --policy prod --direction out >/dev/null'
kill -HUP $kd; sleep 0.5

"$work/server" -p 4433 -n 2 -m attest >"$work/server.out" 2>&1 &
sp=$!
sleep 1
"$work/client" -t 60000 -n server.test 127.0.0.1 4433 "hello, attested world" >"$work/client.out" 2>&1
rc=$?
cat "$work/client.out"
check "example client: attested, reply over kTLS (exit $rc)" \
	bash -c "[ $rc = 0 ] && grep -q 'client: reply: echo: hello, attested world' '$work/client.out'"
"$work/katls_user" attest 127.0.0.1 4433 server.test verify 60000 >"$work/user.out" 2>&1
rc=$?
cat "$work/user.out"
check "third-party program attests a socket (kernel mode, exit $rc)" \
	bash -c "[ $rc = 0 ] && grep -q 'result=ok' '$work/user.out' && grep -q '^reply: echo: hello over kTLS' '$work/user.out'"
wait $sp
check "example server attested both connections" \
	bash -c "[ \$(grep -c 'server: connection attested (kTLS)' '$work/server.out') = 2 ]"

"$unlisted"
"$work/server" -p 4434 -n 1 -m attest >"$work/server2.out" 2>&1 &
sp=$!
sleep 1
"$work/client" -t 60000 -n server.test 127.0.0.1 4434 "secret" >"$work/client2.out" 2>&1
rc=$?
cat "$work/client2.out"
check "refusal: binary outside the allowlist ran (exit $rc = 4, reason ima-allowlist)" \
	bash -c "[ $rc = 4 ] && grep -q '(ima-allowlist)' '$work/client2.out'"
wait $sp
curl -s "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics" || true
check "metrics endpoint: the refusal counted once, acceptances counted" \
	bash -c "grep -q '^katlsd_attestations_total{result=\"refused\",reason=\"ima-allowlist\"} 1\$' '$work/metrics' &&
		grep -Eq '^katlsd_attestations_total\{result=\"accepted\",reason=\"ok\"\} [1-9]' '$work/metrics'"
check "katls status shows katlsd registered" bash -c 'katls status --json --pcrs none | jq -e . >/dev/null'
if [ "$fails" != 0 ]; then
	echo "-- diagnostics: IMA log $(wc -l </sys/kernel/security/ima/ascii_runtime_measurements) entries"
	for f in server.out server2.out katlsd.log; do echo "-- $f"; tail -n 40 "$work/$f"; done
fi

# ---- 4. remove ---------------------------------------------------------------------------
step "dpkg --purge"
kill $kd; wait $kd 2>/dev/null
katls gate unload >/dev/null 2>&1 || true
[ "$nodkms" = --no-dkms ] || rmmod katls || bad "rmmod katls"
for d in "${debs[@]}"; do dpkg-deb -c "$d" | awk '{ print substr($6, 2) }'; done |
	grep -v '/$' | sort -u >"$work/files"
dpkg --purge "${pkgs[@]}" >/tmp/dpkg-r.log 2>&1 || { cat /tmp/dpkg-r.log; bad "dpkg --purge"; }
sed 's/^/  /' /tmp/dpkg-r.log
for p in "${pkgs[@]}"; do
	check "$p gone from dpkg's database" bash -c "! dpkg-query -W -f='\${Status}' $p 2>/dev/null | grep -q installed"
done
left=$(while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done <"$work/files")
check "no packaged file left ($(wc -l <"$work/files") checked)" test -z "$left"
[ -z "$left" ] || echo "$left" | head
check "DKMS tree and /usr/src/katls-* gone" \
	bash -c '[ -z "$(dkms status katls)" ] && [ ! -e /var/lib/dkms/katls ] && ! ls -d /usr/src/katls-* 2>/dev/null'
check "no katls.ko under /lib/modules/$kver" \
	bash -c "[ -z \"\$(find /lib/modules/$kver -name 'katls.ko*')\" ] && ! grep -q katls.ko /lib/modules/$kver/modules.dep"
check "/etc/katls purged" test ! -e /etc/katls
echo "$fails failure(s) (${SECONDS}s)"
[ "$fails" = 0 ]
