#!/bin/bash
# package.sh: build the Debian packages (katls, katls-dkms, libkatls1,
# libkatls-dev) with dpkg-buildpackage -b -us -uc out of a copy of the tree,
# so the source tree stays clean (dpkg-buildpackage writes into the parent
# directory and debian/), then run lintian on them.  Results in build/pkg/:
# the .deb files, the .changes/.buildinfo, build.log and lintian.log.
# Exit status: 0 built and lintian clean (apart from the overrides in
# debian/*.lintian-overrides), 1 otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/pkg
for t in dpkg-buildpackage dh lintian dh_dkms fakeroot; do
	command -v $t >/dev/null || { echo "package.sh: $t not found: run scripts/deps.sh" >&2; exit 1; }
done
ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
rm -rf "$out"
mkdir -p "$out/src"
src=$out/src/katls-$ver
# What git tracks plus new files not ignored: never build/ or kmod objects.
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	cpio -0 -pdm --quiet "$src")
start=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "package.sh: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
fi
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
rm -rf "$out/src"
echo "package.sh: built in $(( $(date +%s) - start ))s:"
for d in "$out"/*.deb; do
	printf '  %-40s %6d KiB\n' "$(basename "$d")" $(( $(stat -c %s "$d") / 1024 ))
done
# lintian: any error, warning or info not overridden fails (pedantic and
# experimental tags are reported but do not fail).
changes=$(ls "$out"/*.changes)
# (--show-overrides would count the overridden tags as failures: run twice)
lintian --fail-on error,warning,info --display-info "$changes" >"$out/lintian.log" 2>&1 &&
	rc=0 || rc=$?
if [ $rc != 0 ]; then
	cat "$out/lintian.log" >&2
	echo "package.sh: lintian is not clean (log: $out/lintian.log)" >&2
	exit 1
fi
lintian --display-info --show-overrides "$changes" >"$out/lintian-overrides.log" 2>&1 || true
echo "package.sh: lintian clean; $(grep -c '^O: ' "$out/lintian-overrides.log" || true) tags overridden (debian/*.lintian-overrides, listed in $out/lintian-overrides.log)"
