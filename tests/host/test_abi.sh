#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_abi.sh: libkatls.so.1 exports exactly its public API, and a
# third-party program finds it with pkg-config alone.
#
#  1. the dynamic symbols of build/libkatls.so.1 (nm -D --defined-only) are
#     exactly the globals of userspace/lib/libkatls.map, all in version
#     KATLS_1, and exactly the functions include/katls/*.h declares
#     KATLS_PUBLIC; the SONAME is libkatls.so.1
#  2. `make install-user DESTDIR=stage PREFIX=/usr` stages an install; with
#     PKG_CONFIG_SYSROOT_DIR/PKG_CONFIG_PATH on it, tests/host/abi/katls_user.c
#     builds with `pkg-config --cflags --libs katls` only and loads the staged
#     library (not the build tree's)
#  3. that program, against `katls serve` and a fresh swtpm: loads a policy,
#     verifies the server in userspace mode (echo, exchange saved), re-verifies
#     the saved exchange (accepted; refused with ak-untrusted under a policy
#     pinning another AK), and reports a policy that does not load
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
KATLS_BUILD=${KATLS_BUILD:-$top/build}
KATLS=$KATLS_BUILD/katls
SO=$KATLS_BUILD/libkatls.so.1
MAP=$top/userspace/lib/libkatls.map

. "$here/swtpm.sh"
. "$here/pki.sh"
. "$here/attest_lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/katls-abi.XXXXXX")
cleanup() {
	serve_kill_all
	swtpm_stop_all
	rm -rf "$work"
}
trap cleanup EXIT

for tool in nm readelf pkg-config cc openssl tpm2_pcrextend swtpm; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed" >&2; exit 1; }
done
for f in "$SO" "$KATLS"; do
	[ -e "$f" ] || { echo "FAIL: $f not built (make)" >&2; exit 1; }
done

# ---- 1. exported symbols ----------------------------------------------------
sed -n '/global:/,/local:/p' "$MAP" | grep -o '^[[:space:]]*katls_[a-z0-9_]*;' |
	tr -d ' \t;' | sort >"$work/map"
[ -s "$work/map" ] || fail "no globals found in $MAP"
nm -D --defined-only "$SO" >"$work/nm" || fail "nm -D $SO"
# every defined dynamic symbol but the version node itself
awk '$2 != "A" { print $3 }' "$work/nm" | sed 's/@.*//' | sort >"$work/exported"
if ! diff -u "$work/map" "$work/exported" >"$work/diff"; then
	fail "exported symbols differ from $MAP (- missing, + extra):"
	sed 's/^/    /' "$work/diff" >&2
else
	echo "ok: exports = version script ($(wc -l <"$work/map") symbols)"
fi
unversioned=$(awk '$2 != "A" && $3 !~ /@@KATLS_1$/' "$work/nm")
[ -z "$unversioned" ] && echo "ok: every export is in version KATLS_1" ||
	fail "exports outside KATLS_1: $unversioned"
grep -hv '^#' "$top"/include/katls/*.h | tr '\n' ' ' | grep -o 'KATLS_PUBLIC [^;(]*(' |
	sed 's/($//; s/.*[ *]//' | sort >"$work/declared"
if ! diff -u "$work/map" "$work/declared" >"$work/diff2"; then
	fail "KATLS_PUBLIC declarations in include/katls/ differ from $MAP:"
	sed 's/^/    /' "$work/diff2" >&2
else
	echo "ok: include/katls/ declares exactly the exported functions"
fi
soname=$(readelf -d "$SO" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libkatls.so.1 ] && echo "ok: SONAME $soname" || fail "SONAME '$soname'"

# ---- 2. staged install, pkg-config only --------------------------------------
stage=$work/stage
libdir=/usr/lib/$(gcc -print-multiarch)
make -s -C "$top" BUILD="$KATLS_BUILD" install-user DESTDIR="$stage" PREFIX=/usr \
	LIBDIR="$libdir" UNITDIR=/usr/lib/systemd/system >"$work/install.log" 2>&1 ||
	{ fail "make install-user:"; tail -n 20 "$work/install.log" >&2; exit 1; }
for f in "$libdir/libkatls.so.1" "$libdir/libkatls.so" "$libdir/pkgconfig/katls.pc" \
	 /usr/include/katls/katls.h /usr/include/katls/reason.h /usr/include/linux/katls.h; do
	[ -e "$stage$f" ] || fail "staged install lacks $f"
done
export PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$stage$libdir/pkgconfig
export PKG_CONFIG_LIBDIR=$stage$libdir/pkgconfig
flags=$(pkg-config --cflags --libs katls) || { fail "pkg-config katls"; exit 1; }
echo "ok: pkg-config --cflags --libs katls: $flags"
case " $flags " in *"$top"*) fail "pkg-config flags point into the source tree" ;; esac
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -o "$work/katls_user" "$here/abi/katls_user.c" $flags \
	2>"$work/cc.err" || { fail "third-party build:"; cat "$work/cc.err" >&2; exit 1; }
export LD_LIBRARY_PATH=$stage$libdir
resolved=$(ldd "$work/katls_user" | sed -n 's/.*libkatls.so.1 => \([^ ]*\).*/\1/p')
[ "$resolved" = "$stage$libdir/libkatls.so.1" ] && echo "ok: loads the staged libkatls.so.1" ||
	fail "katls_user loads libkatls.so.1 from '$resolved'"

# ---- 3. run it ---------------------------------------------------------------------
pki_ca "$work" ca && pki_leaf "$work" ca server server.test ||
	{ fail "test PKI"; exit 1; }
openssl ecparam -name prime256v1 -genkey -noout -out "$work/other-ak.key" 2>/dev/null &&
	openssl ec -in "$work/other-ak.key" -pubout -out "$work/other-ak.pem" 2>/dev/null ||
	{ fail "other AK"; exit 1; }
swtpm_start || { fail "swtpm"; exit 1; }
"$KATLS" provision --out "$work/ak.pem" >/dev/null 2>"$work/provision.err" ||
	{ fail "provision: $(cat "$work/provision.err")"; exit 1; }
ima_true_setup "$work" || { fail "IMA log"; exit 1; }
for pin in ak other-ak; do
	cat >"$work/$pin.json" <<JSON
{ "name": "abi-$pin", "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["$pin.pem"], "ima": { "runtime_policy": "runtime.json" }, "max_age_s": 300 }
JSON
done

run() { RC=0; "$work/katls_user" "$@" >"$work/out" 2>&1 || RC=$?; }
want() {	# NAME RC LINE
	if [ "$RC" = "$2" ] && grep -q -- "$3" "$work/out"; then
		echo "ok: $1"
	else
		fail "$1: exit $RC, want $2 and '$3':"
		sed 's/^/    /' "$work/out" >&2
	fi
}
run policy "$work/ak.json"
want "katls_policies_load" 0 "policy 0: abi-ak"
echo '{ "name": "bad", "trust_anchors": ["missing.pem"] }' >"$work/bad.json"
run policy "$work/bad.json"
want "katls_policies_load reports a bad policy" 1 "missing.pem"

serve_start --cert "$work/server.pem" --key "$work/server.key" --ima-log "$work/ima.log" ||
	{ fail "katls serve"; exit 1; }
run connect 127.0.0.1 "$SERVE_PORT" "$work/ca.pem" "$work/ak.json" server.test "$work/saved"
want "userspace mode: verified, data echoed" 0 "result=ok"
grep -q "echo: hello from a third-party program" "$work/out" || fail "no echo: $(cat "$work/out")"
serve_wait
[ "$SERVE_RC" = 0 ] || { fail "katls serve exit $SERVE_RC"; sed 's/^/    serve: /' "$SERVE_LOG" >&2; }

run verify "$work/ak.json" "$work/saved"
want "saved Evidence re-verifies" 0 "result=ok"
run verify "$work/other-ak.json" "$work/saved"
want "saved Evidence, AK not pinned: refused" 4 "result=EACCES reason=ak-untrusted"

serve_start --cert "$work/server.pem" --key "$work/server.key" --ima-log "$work/ima.log" ||
	{ fail "katls serve"; exit 1; }
run connect 127.0.0.1 "$SERVE_PORT" "$work/ca.pem" "$work/other-ak.json" server.test "$work/saved2"
want "userspace mode: AK not pinned: refused" 4 "result=EACCES reason=ak-untrusted"
serve_wait

[ "$FAILURES" = 0 ] || { echo "test_abi: $FAILURES failure(s)" >&2; exit 1; }
echo "test_abi: all passed"
