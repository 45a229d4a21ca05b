#!/bin/sh
# dkms-src.sh DEST VERSION: make DEST a DKMS source tree for katls.ko
# (what /usr/src/katls-VERSION holds): dkms.conf with VERSION filled in,
# the top-level Kbuild, kmod/ sources, the UAPI header, the gate's shared
# header and the BTF step (scripts/kmod_btf.sh).  Nothing built.
set -eu
[ $# = 2 ] || { echo "usage: dkms-src.sh DEST VERSION" >&2; exit 2; }
dest=$1 ver=$2
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dest/kmod" "$dest/include/uapi/linux" "$dest/bpf" "$dest/scripts"
sed "s/#MODULE_VERSION#/$ver/" "$top/dkms.conf" >"$dest/dkms.conf"
cp "$top/Kbuild" "$dest/Kbuild"
# the module's sources only: not kbuild's generated katls.mod.c
for f in "$top/kmod/Kbuild" "$top"/kmod/*.c "$top"/kmod/*.h; do
	case $f in *.mod.c) continue ;; esac
	cp "$f" "$dest/kmod/"
done
cp "$top/include/uapi/linux/katls.h" "$dest/include/uapi/linux/"
cp "$top/bpf/katls_gate.h" "$dest/bpf/"
cp "$top/scripts/kmod_btf.sh" "$dest/scripts/"
