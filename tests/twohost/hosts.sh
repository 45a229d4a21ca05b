# SPDX-License-Identifier: MIT
# Two hosts on the build machine (sourced by tests/twohost/test_*.sh and
# bench/mesh_vm.sh): two VMs, each with its own swtpm, linked by a virtual
# NIC (scripts/vm.sh KATLS_VM_NET), host a 10.9.0.1, host b 10.9.0.2.
#   twohost_prepare        the test PKI and each host's AK under $twohost_dir
#   twohost_boot SCRIPT    boot both with SCRIPT (a path under the tree), host a
#                          with argument "server", host b with "client"; print
#                          both consoles; 0 if both guests passed
# The guests find the same files under the project share (guest_lib.sh).
twohost_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
twohost_dir=$twohost_top/build/twohost
. "$twohost_top/tests/host/swtpm.sh"
. "$twohost_top/tests/host/pki.sh"
twohost_logs=$(mktemp -d "${TMPDIR:-/tmp}/katls-twohost.XXXXXX")
twohost_pids=()
twohost_cleanup() {
	local p
	for p in "${twohost_pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	swtpm_stop_all
	rm -rf "$twohost_logs"
}
trap twohost_cleanup EXIT

twohost_prepare() {
	local katls=$twohost_top/build/katls h
	[ -x "$katls" ] || { echo "FAIL: $katls not built" >&2; return 1; }
	command -v ss >/dev/null || { echo "FAIL: ss (iproute2) not installed" >&2; return 1; }
	rm -rf "$twohost_dir" && mkdir -p "$twohost_dir" || return 1
	pki_ca "$twohost_dir" ca && pki_leaf "$twohost_dir" ca hosta server.test client.test &&
		pki_leaf "$twohost_dir" ca hostb server.test client.test ||
		{ echo "FAIL: test PKI" >&2; return 1; }
	# Each host's TPM, with its AK provisioned here so that the other host can
	# pin it (as an operator would from 'katls provision' or EK enrollment);
	# the guest's own 'katls provision' finds the same key at the same handle.
	for h in a b; do
		mkdir -p "$twohost_dir/tpm-$h"
		swtpm_start "$twohost_dir/tpm-$h" &&
			"$katls" provision --out "$twohost_dir/ak-$h.pem" >/dev/null &&
			swtpm_stop "$twohost_dir/tpm-$h" || { echo "FAIL: AK of host $h" >&2; return 1; }
	done
}

twohost_boot() {
	local script=$1 port pa pb ra=0 rb=0 vm=$twohost_top/scripts/vm.sh
	# the link: host a's QEMU listens on a free port, host b's connects to it
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	KATLS_VM_TPMSTATE=$twohost_dir/tpm-a KATLS_VM_NET=listen:$port KATLS_VM_IP=10.9.0.1 \
		"$vm" run "$script" server >"$twohost_logs/a.log" 2>&1 &
	pa=$!; twohost_pids+=("$pa")
	for _ in $(seq 300); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
	ss -Hltn "sport = :$port" | grep -q . ||
		{ echo "FAIL: host a's VM does not listen" >&2; cat "$twohost_logs/a.log"; return 1; }
	KATLS_VM_TPMSTATE=$twohost_dir/tpm-b KATLS_VM_NET=connect:$port KATLS_VM_IP=10.9.0.2 \
		"$vm" run "$script" client >"$twohost_logs/b.log" 2>&1 &
	pb=$!; twohost_pids+=("$pb")
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	twohost_pids=()
	echo "== host a (10.9.0.1), exit $ra"; sed 's/^/  /' "$twohost_logs/a.log"
	echo "== host b (10.9.0.2), exit $rb"; sed 's/^/  /' "$twohost_logs/b.log"
	[ "$ra" = 0 ] && [ "$rb" = 0 ]
}
