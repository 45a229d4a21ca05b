#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_pkg_vm.sh: one VM boot (scripts/vm.sh, KATLS_VM_NOMOD=1: the build
# tree's katls.ko is NOT loaded) that installs the packages of build/pkg with
# dpkg, loads the katls.ko DKMS built from katls-dkms, runs the demo scenario
# from installed paths only and purges the packages: tests/pkg/pkg_guest.sh.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${KATLS_PKG_DIR:-$top/build/pkg}
case $dir in "$top"/*) ;; *) echo "FAIL: $dir must be inside $top (the guest sees only the tree)" >&2; exit 1 ;; esac
ls "$dir"/katls_*.deb "$dir"/katls-dkms_*.deb "$dir"/libkatls1_*.deb "$dir"/libkatls-dev_*.deb \
	>/dev/null 2>&1 || { echo "FAIL: packages missing in $dir (make package)" >&2; exit 1; }
# DKMS compiles katls.ko inside the TCG guest: allow for it (its output,
# timed, shows how far it got if the boot times out)
KATLS_VM_NOMOD=1 KATLS_VM_TIMEOUT=${KATLS_VM_TIMEOUT:-2400} \
	exec "$top/scripts/vm.sh" run tests/pkg/pkg_guest.sh "${dir#"$top"/}"
