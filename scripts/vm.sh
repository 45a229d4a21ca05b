#!/bin/bash
# vm.sh — run katls guest tests in a QEMU VM with a real TPM (swtpm) and IMA.
#
#   scripts/vm.sh run SCRIPT [ARG...]   boot a fresh VM, run SCRIPT (a path inside
#                                       the project tree) as root, exit with its status
#   scripts/vm.sh all                   run every tests/vm/test_*.sh, one boot each
#                                       (make vm-test groups them: tests/vm/boots)
#
# The guest boots Debian's linux-image-amd64 (the newest /boot/vmlinuz-*, or
# KATLS_VM_KERNEL=<version>) under TCG, with a busybox initramfs that loads the
# virtio/9p modules, mounts the host root read-only over virtio-9p, puts tmpfs on
# /tmp and /run and switch_roots into it.  scripts/vm-guest.sh then mounts the
# pseudo filesystems, loads tls.ko and the freshly built kmod/katls.ko and runs
# SCRIPT from the project tree, which is shared separately and appears at
# /run/katls-src in the guest.  A fresh swtpm per boot is the guest's TPM (tpm-tis: /dev/tpm0,
# /dev/tpmrm0); IMA runs with ima_policy=tcb ima_hash=sha256.  Results come back
# over a second, writable 9p share: the script's output, its exit status, dmesg.
#
# Knobs: KATLS_VM_TIMEOUT (seconds, default 600), KATLS_VM_KVM=1 (use KVM; it did
# not boot on the build machines, TCG is the default), KATLS_VM_MEM (MiB, 1536),
# KATLS_VM_SMP (2), KATLS_VM_KEEP=1 (keep the temp dir), KATLS_VM_NOMOD=1 (do not
# load katls.ko), KATLS_VM_APPEND (extra kernel command line),
# KATLS_VM_TPMSTATE (a swtpm state directory to start the TPM from, copied:
# e.g. with an AK provisioned on the host), KATLS_VM_NET=listen:PORT|connect:PORT
# with KATLS_VM_IP=A.B.C.D (a virtio NIC, eth0 = A.B.C.D/24 in the guest, on a
# QEMU socket link to the VM that listens on 127.0.0.1:PORT: two guests, two
# hosts; tests/twohost/).
# Inside the guest: $KATLS_OUT is a writable directory that comes back to the
# host; its path on the host is printed at the end when KATLS_VM_KEEP=1.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "vm.sh: $*" >&2; exit 2; }

kver=${KATLS_VM_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -n1)}
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-*: install linux-image-amd64 (scripts/deps.sh)"
[ -d "/lib/modules/$kver/kernel" ] || die "no /lib/modules/$kver: install linux-image-amd64 (scripts/deps.sh)"
for t in qemu-system-x86_64 swtpm busybox cpio; do
	command -v $t >/dev/null || [ -x /bin/$t ] || die "$t not found: run scripts/deps.sh"
done

# ---- initramfs (cached; rebuilt when this script or the kernel changes) --------
initramfs() {
	local out=$top/build/vm/initramfs-$kver.cpio.gz
	if [ -s "$out" ] && [ "$out" -nt "$0" ] && [ "$out" -nt "/boot/vmlinuz-$kver" ]; then
		echo "$out"; return
	fi
	local d; d=$(mktemp -d)
	mkdir -p "$d"/{bin,dev,proc,sys,newroot,mods} "$top/build/vm"
	cp /bin/busybox "$d/bin/busybox"
	for a in sh mount mkdir insmod switch_root cat echo sleep poweroff; do
		ln -s busybox "$d/bin/$a"
	done
	# The order matters: each module needs the ones before it.
	local m
	for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
		 virtio_pci 9pnet 9pnet_virtio netfs fscache 9p; do
		local f; f=$(find "/lib/modules/$kver/kernel" -name "$m.ko" | head -n1)
		[ -n "$f" ] || die "module $m.ko not found for $kver"
		cp "$f" "$d/mods/"
		echo "$m" >>"$d/mods/order"
	done
	cat >"$d/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko || echo "initramfs: insmod $m failed"; done
fail() { echo "initramfs: $*"; echo 1 >/proc/sys/kernel/sysrq; echo o >/proc/sysrq-trigger; sleep 10; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 katls_root /newroot || fail "cannot mount the 9p root"
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/katls-out /newroot/run/katls-src
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 katls_out /newroot/run/katls-out || fail "cannot mount the result share"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 katls_src /newroot/run/katls-src || fail "cannot mount the project share"
dir=/run/katls-src
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /bin/bash "$dir/scripts/vm-guest.sh"
INIT
	chmod +x "$d/init"
	(cd "$d" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$d"
	echo "$out"
}

run_one() {
	local script=$1; shift
	case "$script" in /*) ;; *) script=$top/$script ;; esac
	[ -f "$script" ] || die "no such guest script: $script"
	case "$script" in "$top"/*) ;; *) die "guest script must live in the project tree ($top)" ;; esac
	[ -n "${KATLS_VM_NOMOD:-}" ] || [ -f "$top/kmod/katls.ko" ] || die "kmod/katls.ko not built: run make"

	local img; img=$(initramfs)
	tmp=$(mktemp -d /tmp/katls-vm.XXXXXX)
	local qemu_rc=0
	swtpm_pid=""
	cleanup() {
		[ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null && wait "$swtpm_pid" 2>/dev/null
		if [ -n "${KATLS_VM_KEEP:-}" ]; then echo "vm.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
	}
	trap cleanup EXIT INT TERM

	mkdir -p "$tmp/tpm" "$tmp/out"
	# The project tree is its own share, mounted at /run/katls-src in the
	# guest: it may live under /tmp, which the guest covers with a tmpfs.
	echo /run/katls-src >"$tmp/out/topdir"
	{
		printf '%q ' "${script#"$top"/}" "$@"; echo
	} >"$tmp/out/cmd"
	{
		echo "KATLS_VM_NOMOD=${KATLS_VM_NOMOD:-}"
		echo "KATLS_VM_KERNEL=$kver"
		echo "KATLS_VM_IP=${KATLS_VM_IP:-}"
	} >"$tmp/out/env"
	[ -z "${KATLS_VM_TPMSTATE:-}" ] || cp -a "$KATLS_VM_TPMSTATE/." "$tmp/tpm/" ||
		die "cannot copy the TPM state $KATLS_VM_TPMSTATE"
	local net=()
	if [ -n "${KATLS_VM_NET:-}" ]; then
		[[ "$KATLS_VM_NET" =~ ^(listen|connect):[0-9]+$ ]] && [ -n "${KATLS_VM_IP:-}" ] ||
			die "KATLS_VM_NET=listen:PORT|connect:PORT, with KATLS_VM_IP"
		net=(-netdev "socket,id=n0,${KATLS_VM_NET%%:*}=127.0.0.1:${KATLS_VM_NET#*:}"
		     -device "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:$(printf %02x "${KATLS_VM_IP##*.}")")
	fi

	# A fresh TPM per boot: a reused state dir can be in DA lockout (DESIGN.md §9).
	swtpm socket --tpm2 --tpmstate dir="$tmp/tpm" \
		--ctrl type=unixio,path="$tmp/swtpm.sock" \
		--log file="$tmp/swtpm.log",level=1 --terminate &
	swtpm_pid=$!
	local i
	for i in $(seq 50); do [ -S "$tmp/swtpm.sock" ] && break; sleep 0.1; done
	[ -S "$tmp/swtpm.sock" ] || die "swtpm did not start: $(cat "$tmp/swtpm.log" 2>/dev/null)"

	local accel=(-accel tcg,thread=multi -cpu max)
	[ "${KATLS_VM_KVM:-0}" = 1 ] && accel=(-accel kvm -cpu host)
	local append="console=ttyS0 panic=-1 oops=panic rdinit=/init loglevel=4"
	append+=" ima_policy=tcb ima_hash=sha256 ${KATLS_VM_APPEND:-}"

	timeout -k 10 "${KATLS_VM_TIMEOUT:-600}" qemu-system-x86_64 \
		-nodefaults -nographic -no-reboot "${accel[@]}" \
		-m "${KATLS_VM_MEM:-1536}" -smp "${KATLS_VM_SMP:-2}" \
		-kernel "/boot/vmlinuz-$kver" -initrd "$img" -append "$append" \
		-chardev file,id=con,path="$tmp/console.log" -serial chardev:con \
		-virtfs local,path=/,mount_tag=katls_root,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$tmp/out",mount_tag=katls_out,security_model=none \
		-virtfs local,path="$top",mount_tag=katls_src,security_model=none,readonly=on,multidevs=remap \
		-chardev socket,id=chrtpm,path="$tmp/swtpm.sock" \
		-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
		-device virtio-rng-pci "${net[@]}" \
		</dev/null >"$tmp/qemu.log" 2>&1 || qemu_rc=$?

	[ -f "$tmp/out/log" ] && cat "$tmp/out/log"
	local status
	status=$(cat "$tmp/out/status" 2>/dev/null || true)
	if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		echo "vm.sh: TIMEOUT after ${KATLS_VM_TIMEOUT:-600}s running $script" >&2
		status=""
	fi
	if [ -z "$status" ]; then
		echo "vm.sh: the guest did not report a result (qemu exit $qemu_rc); console:" >&2
		tail -n 60 "$tmp/console.log" >&2 || true
		cat "$tmp/qemu.log" >&2 || true
		return 1
	fi
	if [ "$status" != 0 ]; then
		echo "vm.sh: $script failed with status $status; kernel log tail:" >&2
		tail -n 40 "$tmp/out/dmesg" 2>/dev/null >&2 || tail -n 40 "$tmp/console.log" >&2
	fi
	return "$status"
}

case "${1:-}" in
run)	shift; [ $# -ge 1 ] || die "usage: vm.sh run SCRIPT [ARG...]"; run_one "$@" ;;
all)	exec "$top/scripts/run-tests.sh" vm "$top"/tests/vm/test_*.sh ;;
*)	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
