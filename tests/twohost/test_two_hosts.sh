#!/bin/bash
# SPDX-License-Identifier: MIT
# Two hosts, both ends unmodified (issue 14 item 4: a mesh without sidecars):
# two VMs, each with its own TPM (swtpm), katls.ko, katlsd and attest rules,
# linked by a virtual NIC (hosts.sh).  A python3 http.server on 10.9.0.1 serves
# busybox nc on 10.9.0.2; each host's katls.ko takes its end, the two katlsd
# attest mutually over the link, each with its own TPM quote, each pinning the
# other's AK.  What each host checks: tests/twohost/guest.sh.  Runs on the
# build machine as root.
set -u
. "$(dirname "$0")/hosts.sh"
twohost_prepare || exit 1
twohost_boot tests/twohost/guest.sh || { echo "test_two_hosts: FAILED" >&2; exit 1; }
echo "test_two_hosts: both hosts passed"
