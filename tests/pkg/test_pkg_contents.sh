#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_pkg_contents.sh: the packages in build/pkg (make package) hold the
# expected files (dpkg -c) and nothing that belongs elsewhere, with the
# expected relationships (dpkg-deb -f).  Expected lists: exact, per package,
# documentation and debhelper-generated files aside.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${KATLS_PKG_DIR:-$top/build/pkg}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
FAILURES=0
fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)

declare -A want
want[katls]="/etc/katls/katlsd.json /lib/systemd/system/katlsd.service /usr/bin/katls
/usr/sbin/katlsd /usr/share/man/man5/katlsd.json.5.gz /usr/share/man/man8/katls.8.gz
/usr/share/man/man8/katlsd.8.gz /usr/share/lintian/overrides/katls"
want[katls-dkms]="/usr/src/katls-$ver/dkms.conf /usr/src/katls-$ver/Kbuild
/usr/src/katls-$ver/include/uapi/linux/katls.h /usr/src/katls-$ver/kmod/Kbuild
/usr/src/katls-$ver/bpf/katls_gate.h /usr/src/katls-$ver/scripts/kmod_btf.sh
$(cd "$top" && ls kmod/*.c kmod/*.h | grep -v '\.mod\.c$' | sed "s|^|/usr/src/katls-$ver/|")"
want[libkatls1]="/usr/lib/$ma/libkatls.so.1"
want[libkatls-dev]="/usr/include/katls/katls.h /usr/include/katls/reason.h
/usr/include/linux/katls.h /usr/lib/$ma/libkatls.so /usr/lib/$ma/pkgconfig/katls.pc
/usr/share/doc/libkatls-dev/examples/client.c /usr/share/doc/libkatls-dev/examples/server.c"

for p in katls katls-dkms libkatls1 libkatls-dev; do
	deb=$(ls "$dir/${p}_${ver}_"*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { fail "no $dir/${p}_${ver}_*.deb (make package)"; continue; }
	dpkg -c "$deb" | awk '{ print substr($6, 2) }' | grep -v '/$' |
		grep -v "^/usr/share/doc/$p/\(changelog.gz\|copyright\|.*\.md\.gz\)$" | sort >"$dir/$p.files"
	tr ' ' '\n' <<<"${want[$p]}" | grep . | sort >"$dir/$p.want"
	if diff -u "$dir/$p.want" "$dir/$p.files" >"$dir/$p.diff"; then
		echo "ok: $p: $(wc -l <"$dir/$p.files") files as expected ($(( $(stat -c %s "$deb") / 1024 )) KiB)"
	else
		fail "$p: dpkg -c differs from the expected list (- missing, + unexpected):"
		sed 's/^/    /' "$dir/$p.diff" >&2
	fi
	rm -f "$dir/$p.want" "$dir/$p.diff"
done
deb() { ls "$dir/${1}_${ver}_"*.deb 2>/dev/null | head -n1; }
[ -n "$(deb katls)" ] && [ -n "$(deb katls-dkms)" ] && [ -n "$(deb libkatls1)" ] &&
	[ -n "$(deb libkatls-dev)" ] || { echo "test_pkg_contents: packages missing" >&2; exit 1; }
dpkg-deb -f "$(deb katls-dkms)" Depends | grep -qw dkms || fail "katls-dkms does not depend on dkms"
dpkg-deb -f "$(deb katls)" Depends | grep -qw libssl3 || fail "katls: no shlibs dependency on libssl3"
dpkg-deb -f "$(deb libkatls-dev)" Depends | grep -q "libkatls1 (= $ver)" ||
	fail "libkatls-dev does not depend on libkatls1 (= $ver)"
dpkg-deb --ctrl-tarfile "$(deb libkatls1)" | tar -tf - | grep -q symbols ||
	fail "libkatls1 has no symbols file"
dpkg-deb --ctrl-tarfile "$(deb katls)" | tar -xOf - ./conffiles | grep -qx /etc/katls/katlsd.json ||
	fail "katls: /etc/katls/katlsd.json is not a conffile"
# the unit points at the packaged daemon, never /usr/local
dpkg-deb --fsys-tarfile "$(deb katls)" | tar -xOf - ./lib/systemd/system/katlsd.service |
	grep -q '^ExecStart=/usr/sbin/katlsd ' || fail "katlsd.service does not run /usr/sbin/katlsd"
dpkg-deb --fsys-tarfile "$(deb katls)" | tar -xOf - ./lib/systemd/system/katlsd.service |
	grep -q /usr/local && fail "katlsd.service mentions /usr/local"
# the shared library's SONAME and exports, as packaged
tmp=$(mktemp -d); dpkg-deb -x "$(deb libkatls1)" "$tmp"
readelf -d "$tmp/usr/lib/$ma/libkatls.so.1" | grep -q 'Library soname: \[libkatls.so.1\]' ||
	fail "packaged libkatls.so.1 has another SONAME"
n=$(nm -D --defined-only "$tmp/usr/lib/$ma/libkatls.so.1" | grep -vc ' A ')
[ "$n" = "$(grep -c '^[[:space:]]*katls_[a-z0-9_]*;' "$top/userspace/lib/libkatls.map")" ] ||
	fail "packaged libkatls.so.1 exports $n symbols, the version script lists another number"
rm -rf "$tmp"
[ "$FAILURES" = 0 ] || { echo "test_pkg_contents: $FAILURES failure(s)" >&2; exit 1; }
echo "test_pkg_contents: all passed"
