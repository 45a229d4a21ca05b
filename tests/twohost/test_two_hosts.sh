#!/bin/bash
# SPDX-License-Identifier: MIT
# Two hosts, both ends unmodified (issue 14 item 4: a mesh without sidecars):
# two VMs, each with its own TPM (swtpm), katls.ko, katlsd and attest rules,
# linked by a virtual NIC (scripts/vm.sh KATLS_VM_NET).  A python3 http.server
# on 10.9.0.1 serves busybox nc on 10.9.0.2; each host's katls.ko takes its
# end, the two katlsd attest mutually over the link, each with its own TPM
# quote, each pinning the other's AK.  What each host checks:
# tests/twohost/guest.sh.  Runs on the build machine as root.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
KATLS=$top/build/katls
. "$top/tests/host/swtpm.sh"
. "$top/tests/host/pki.sh"
shared=$top/build/twohost	# the guests see it under the project share
logs=$(mktemp -d "${TMPDIR:-/tmp}/katls-twohost.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	swtpm_stop_all
	rm -rf "$logs"
}
trap cleanup EXIT
[ -x "$KATLS" ] || { echo "FAIL: $KATLS not built" >&2; exit 1; }
command -v ss >/dev/null || { echo "FAIL: ss (iproute2) not installed" >&2; exit 1; }

rm -rf "$shared" && mkdir -p "$shared" || exit 1
pki_ca "$shared" ca && pki_leaf "$shared" ca hosta server.test client.test &&
	pki_leaf "$shared" ca hostb server.test client.test || { echo "FAIL: test PKI" >&2; exit 1; }
# Each host's TPM, with its AK provisioned here so that the other host can pin
# it (as an operator would from 'katls provision' or EK enrollment); the guest's
# own 'katls provision' finds the same key at the same handle.
for h in a b; do
	mkdir -p "$shared/tpm-$h"
	swtpm_start "$shared/tpm-$h" && "$KATLS" provision --out "$shared/ak-$h.pem" >/dev/null &&
		swtpm_stop "$shared/tpm-$h" || { echo "FAIL: AK of host $h" >&2; exit 1; }
done

# the link: host a's QEMU listens on a free port, host b's connects to it
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KATLS_VM_TPMSTATE=$shared/tpm-a KATLS_VM_NET=listen:$port KATLS_VM_IP=10.9.0.1 \
	"$top/scripts/vm.sh" run tests/twohost/guest.sh server >"$logs/a.log" 2>&1 &
pa=$!; pids+=("$pa")
for _ in $(seq 300); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
ss -Hltn "sport = :$port" | grep -q . || { echo "FAIL: host a's VM does not listen" >&2; cat "$logs/a.log"; exit 1; }
KATLS_VM_TPMSTATE=$shared/tpm-b KATLS_VM_NET=connect:$port KATLS_VM_IP=10.9.0.2 \
	"$top/scripts/vm.sh" run tests/twohost/guest.sh client >"$logs/b.log" 2>&1 &
pb=$!; pids+=("$pb")
ra=0; wait "$pa" || ra=$?
rb=0; wait "$pb" || rb=$?
pids=()
echo "== host a (10.9.0.1, python3 http.server), exit $ra"; sed 's/^/  /' "$logs/a.log"
echo "== host b (10.9.0.2, busybox nc), exit $rb"; sed 's/^/  /' "$logs/b.log"
[ "$ra" = 0 ] && [ "$rb" = 0 ] || { echo "test_two_hosts: FAILED" >&2; exit 1; }
echo "test_two_hosts: both hosts passed"
