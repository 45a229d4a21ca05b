#!/bin/bash
# connect_vm.sh [BUILD_DIR] - issue 6's benchmarks, all in one VM boot so that
# the ratios compare like with like:
#   1. attested connect (connect + setsockopt(KATLS_SO_ATTEST) on both ends,
#      server attests, client verifies, one katlsd) against plain TLS 1.3 +
#      kTLS handover in process, p50/p99, katlsd's timing breakdown, and the
#      floor: loopback round trip + TPM quote + the verifier's CPU for a known
#      attester (bench_connect);
#   2. kTLS against OpenSSL's userspace record layer, AES-128-GCM, 16 KiB
#      writes over loopback (ktls_throughput).
# On the host it boots the VM (scripts/vm.sh) and runs itself there, with the
# katlsd set-up of tests/vm/daemon_lib.sh.  TCG emulation makes absolute
# figures slow; read the ratios.  Knobs: BENCH_N (connections, 50),
# BENCH_WARM (5), BENCH_QUOTES (20), BENCH_MIB (32), KATLS_VM_SMP (1).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-${KATLS_BUILD:-$top/build}}
case $B in /*) ;; *) B=$top/$B ;; esac
if [ -z "${KATLS_OUT:-}" ]; then
	for f in bench/bench_connect bench/ktls_throughput katlsd katls examples/server; do
		[ -x "$B/$f" ] || { echo "connect_vm.sh: $B/$f not built (make)" >&2; exit 1; }
	done
	# The TSC as clock source (see bench/gate_vm.sh: the HPET is an emulated
	# MMIO read per clock_gettime).  One vCPU: both ends, katlsd and the TPM
	# emulator's client side share it, as the gate benchmark does.
	KATLS_VM_SMP=${KATLS_VM_SMP:-1} KATLS_VM_TIMEOUT=${KATLS_VM_TIMEOUT:-420} \
	KATLS_VM_APPEND="clocksource=tsc tsc=reliable ${KATLS_VM_APPEND:-}" \
		exec "$top/scripts/vm.sh" run bench/connect_vm.sh "$B"
fi

# ---- in the guest: PKI, AK, policies and katlsd as the VM tests set them up
set -- "--build=$B"
. "$top/tests/vm/lib.sh"
need jq; need openssl
. "$top/tests/vm/daemon_lib.sh"
daemon_setup
start_katlsd
echo "where: QEMU/TCG guest, $(uname -r), $(nproc) vCPU(s), clocksource" \
	"$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), swtpm"

# Saved exchanges for the verification floor: katls connect against a
# setsockopt server (attested through katlsd), saving what it verified; the
# second connection resumes from the first (incremental IMA), as katlsd's
# client does for every connection after its first to a server.
port=7499 resume=
for save in saved saved-tail; do
	start_server -p $port -n 1 -m attest
	$katls connect 127.0.0.1:$port --ca "$work/ca.pem" --name server.test \
		--policy "$work/policies.json" --policy-name vm --save-evidence "$work/$save" \
		${resume:+--resume-from "$resume"} >"$work/conn.out" 2>&1 ||
		{ echo "connect_vm.sh: katls connect failed:"; cat "$work/conn.out"; exit 1; }
	wait "$srv_pid" 2>/dev/null || true
	resume=$work/saved port=$((port - 1))
done

echo
echo "== attested connect vs plain TLS 1.3 + kTLS"
"$build/bench/bench_connect" --dir "$work" --log "$kd_log" -n "${BENCH_N:-50}" \
	-w "${BENCH_WARM:-5}" -q "${BENCH_QUOTES:-20}"
stop_katlsd
grep 'role=client mode=verify result=accepted' "$kd_log" | tail -n1 | sed 's/^/  last katlsd line: /' || true
echo
echo "== kTLS vs OpenSSL userspace record layer"
"$build/bench/ktls_throughput" --dir "$work" -m "${BENCH_MIB:-32}"
echo "  (kernel gcm(aes): $(awk '$1 == "name" && $3 == "gcm(aes)" { f = 1; next }
	f && $1 == "driver" { print $3; exit }' /proc/crypto); CPU flags:" \
	"$(grep -m1 -ow -e aes -e pclmulqdq -e avx2 /proc/cpuinfo | sort -u | tr '\n' ' '))"
