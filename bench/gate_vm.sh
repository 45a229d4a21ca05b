#!/bin/bash
# gate_vm.sh [BUILD_DIR] - run bench_gate inside the test VM (Debian 6.1 kernel,
# where BPF-LSM runs), so that the gate's cost is measured with its LSM programs
# attached.  On the host it boots the VM (scripts/vm.sh) and runs itself there.
# TCG emulation makes absolute figures slow; the ratios are what to read.
# KATLS_BENCH_BASELINE=DIR (the build dir of another checkout, e.g. the previous
# release, on a path the guest sees through the host root): its bench_gate runs
# first in the same boot, so "before" and "after" come from one boot.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-${KATLS_BUILD:-$top/build}}
if [ -z "${KATLS_OUT:-}" ]; then
	[ -x "$B/bench/bench_gate" ] || { echo "gate_vm.sh: $B/bench/bench_gate not built (make)" >&2; exit 1; }
	# TCG's TSC is marked unstable and the guest falls back to the HPET, whose
	# every read is an emulated MMIO access of microseconds: it would dominate
	# what is measured (the gate reads the boot clock for expiry).  Real hosts
	# read the TSC; so does the guest with these options.
	# One vCPU: sender and receiver share it, so whatever the gate costs in CPU
	# shows in the throughput, and the other vCPU's emulation does not add noise.
	base=${KATLS_BENCH_BASELINE:-}
	if [ -n "$base" ]; then
		base=$(cd "$base" && pwd)
		[ -x "$base/bench/bench_gate" ] || { echo "gate_vm.sh: $base/bench/bench_gate not built" >&2; exit 1; }
	fi
	KATLS_VM_SMP=${KATLS_VM_SMP:-1} KATLS_VM_NOMOD=1 \
	KATLS_VM_APPEND="clocksource=tsc tsc=reliable ${KATLS_VM_APPEND:-}" \
		exec "$top/scripts/vm.sh" run bench/gate_vm.sh "$B" "$base"
fi
# In the guest.
where="QEMU/TCG guest, $(uname -r), $(nproc) vCPUs"
if [ -n "${2:-}" ]; then
	echo "==== baseline: $2"
	KATLS_BENCH_WHERE="$where, baseline build" "$2/bench/bench_gate"
	echo "==== this tree"
fi
KATLS_BENCH_WHERE="$where" exec "$B/bench/bench_gate"
