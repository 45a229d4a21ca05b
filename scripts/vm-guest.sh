#!/bin/bash
# PID 1 inside the katls test VM (see vm.sh).  Sets the guest up, runs the
# requested script, reports its status and dmesg through /run/katls-out, and
# powers off whatever happens.
out=/run/katls-out
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp KATLS_OUT=$out
top=$(cat $out/topdir)
set -a; . $out/env; set +a

finish() {
	dmesg >$out/dmesg 2>/dev/null
	sync
	/bin/busybox poweroff -f
	sleep 30
}
trap finish EXIT

{
	mount -t securityfs securityfs /sys/kernel/security
	mount -t bpf bpf /sys/fs/bpf
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
	mount -t debugfs debugfs /sys/kernel/debug
	mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
	ip link set lo up
	hostname katls-vm
	if [ -n "${KATLS_VM_IP:-}" ]; then	# a NIC to another guest (vm.sh KATLS_VM_NET)
		modprobe virtio_net && ip addr add "$KATLS_VM_IP/24" dev eth0 && ip link set eth0 up
		hostname "katls-vm-${KATLS_VM_IP##*.}"
	fi
	modprobe tls
	if [ -z "$KATLS_VM_NOMOD" ]; then
		insmod $top/kmod/katls.ko || echo "vm-guest: insmod katls.ko failed"
	fi
} >$out/setup.log 2>&1

cd "$top"
eval "set -- $(cat $out/cmd)"
start=$(date +%s%N)
bash "$@" >$out/log 2>&1
status=$?
if dmesg | grep -E 'BUG:|WARNING:|Oops|general protection|KASAN|kmemleak|refcount_t' >$out/bad 2>/dev/null; then
	{ echo "vm-guest: the kernel log reports a problem:"; cat $out/bad; } >>$out/log
	[ $status = 0 ] && status=99
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'vm-guest: %s exited %s after %d.%03ds\n' "$1" $status $((ms / 1000)) $((ms % 1000)) >>$out/log
echo $status >$out/status
