#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_dkms.sh: the real dkms builds and installs katls.ko from the DKMS
# source tree (scripts/dkms-src.sh, what katls-dkms ships in /usr/src) for
# every kernel whose headers are installed here (Debian's linux-headers-amd64),
# the installed module's vermagic names that kernel, and `dkms remove` leaves
# nothing behind.  Loading the DKMS-built module is tests/pkg/test_pkg_vm.sh's
# job (this machine's own kernel loads no modules).  Runs as root; changes
# /usr/src, /var/lib/dkms and /lib/modules/*/updates/dkms only for its run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ver=0.0.0~dkmstest
src=/usr/src/katls-$ver
FAILURES=0
fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }

command -v dkms >/dev/null || { echo "FAIL: dkms not installed (scripts/deps.sh)" >&2; exit 1; }
command -v modinfo >/dev/null || { echo "FAIL: modinfo not installed (kmod)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: must run as root" >&2; exit 1; }
kernels=()
for b in /lib/modules/*/build; do
	[ -e "$b/Makefile" ] && kernels+=("$(basename "$(dirname "$b")")")
done
[ ${#kernels[@]} -gt 0 ] ||
	{ echo "FAIL: no kernel headers in /lib/modules/*/build (linux-headers-amd64)" >&2; exit 1; }
if dkms status katls 2>/dev/null | grep -q .; then
	echo "FAIL: katls is already in the DKMS tree: $(dkms status katls)" >&2
	exit 1
fi

# dkms makes a module-signing key pair on first use; leave the host as found
mok_before=$(ls /var/lib/dkms/mok.key /var/lib/dkms/mok.pub 2>/dev/null)
cleanup() {
	dkms remove katls/$ver --all >/dev/null 2>&1
	rm -rf "$src"
	[ -n "$mok_before" ] || rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub
}
trap cleanup EXIT

"$top/scripts/dkms-src.sh" "$src" "$ver" || { echo "FAIL: dkms-src.sh" >&2; exit 1; }
dkms add katls/$ver >"${TMPDIR:-/tmp}/katls-dkms.log" 2>&1 || { fail "dkms add"; cat "${TMPDIR:-/tmp}/katls-dkms.log" >&2; exit 1; }
echo "ok: dkms add katls/$ver"
for k in "${kernels[@]}"; do
	start=$(date +%s)
	if ! dkms build katls/$ver -k "$k" >"${TMPDIR:-/tmp}/katls-dkms.log" 2>&1; then
		fail "dkms build for $k:"
		tail -n 30 "${TMPDIR:-/tmp}/katls-dkms.log" >&2
		cat "/var/lib/dkms/katls/$ver/build/make.log" >&2 2>/dev/null
		continue
	fi
	echo "ok: dkms build for $k ($(( $(date +%s) - start ))s)"
	dkms install katls/$ver -k "$k" >"${TMPDIR:-/tmp}/katls-dkms.log" 2>&1 ||
		{ fail "dkms install for $k:"; tail -n 20 "${TMPDIR:-/tmp}/katls-dkms.log" >&2; continue; }
	ko=$(find "/lib/modules/$k/updates/dkms" -name 'katls.ko*' 2>/dev/null | head -n1)
	[ -n "$ko" ] || { fail "$k: no katls.ko under /lib/modules/$k/updates/dkms"; continue; }
	vermagic=$(modinfo -F vermagic "$ko")
	case "$vermagic" in
	"$k "*) echo "ok: $ko vermagic '$vermagic'" ;;
	*) fail "$ko: vermagic '$vermagic' does not name $k" ;;
	esac
	[ "$(modinfo -F name "$ko")" = katls ] || fail "$ko: module name is not katls"
	# the BTF step ran (dkms.conf): the module has BTF and its kfunc's id, so
	# attest rules work with it (docs/transparent.md)
	ids=${TMPDIR:-/tmp}/katls-kfunc-ids.$$
	if objcopy -O binary --only-section=.katls_kfunc_ids "$ko" "$ids" 2>/dev/null &&
		[ "$(od -An -tu4 -j8 -N4 "$ids" | tr -d ' ')" -gt 0 ] 2>/dev/null &&
		readelf -S "$ko" | grep -q ' \.BTF '; then
		echo "ok: $ko has BTF and kfunc katls_kf_attest's id ($(od -An -tu4 -j8 -N4 "$ids" | tr -d ' '))"
	else
		fail "$ko: no BTF or no kfunc id: attest rules would be unavailable"
	fi
	rm -f "$ids"
	# depmod ran: modprobe would find it
	grep -q "updates/dkms/katls.ko" "/lib/modules/$k/modules.dep" ||
		fail "$k: modules.dep does not list the DKMS katls.ko"
	dkms status katls/$ver -k "$k" | grep -q 'installed' ||
		fail "$k: dkms status does not say installed: $(dkms status katls/$ver -k "$k")"
done

dkms remove katls/$ver --all >"${TMPDIR:-/tmp}/katls-dkms.log" 2>&1 || fail "dkms remove --all"
rm -f "${TMPDIR:-/tmp}/katls-dkms.log"
[ -z "$(dkms status katls 2>/dev/null)" ] || fail "dkms status still lists katls"
[ ! -e /var/lib/dkms/katls ] || fail "/var/lib/dkms/katls left behind"
for k in "${kernels[@]}"; do
	[ -z "$(find "/lib/modules/$k/updates/dkms" -name 'katls.ko*' 2>/dev/null)" ] ||
		fail "$k: katls.ko left in updates/dkms"
	grep -q "katls.ko" "/lib/modules/$k/modules.dep" && fail "$k: modules.dep still lists katls.ko"
done
[ "$FAILURES" = 0 ] && echo "ok: dkms remove --all left nothing" || { echo "test_dkms: $FAILURES failure(s)" >&2; exit 1; }
echo "test_dkms: all passed (kernels: ${kernels[*]})"
