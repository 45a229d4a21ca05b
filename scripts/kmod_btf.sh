#!/bin/bash
# Give katls.ko its BTF and resolve the BTF id of its kfunc (issue 14,
# docs/transparent.md).  Kbuild would do the first with pahole only when the
# kernel build dir has a vmlinux (Debian's headers package has none), and the
# second with resolve_btfids, which the headers package does not ship either.
# So: pahole -J against the target kernel's BTF (its /sys/kernel/btf/vmlinux
# when we run on it, else extracted from /boot/vmlinuz-<release>), then write
# the id of katls_kf_attest into the .katls_kfunc_ids section
# (kmod/transparent.c).  Without pahole the module still builds and loads,
# without attest rules, and this script says so.
#   usage: scripts/kmod_btf.sh KO KDIR OUTDIR
set -euo pipefail
ko=$1 kdir=$2 out=$3
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
for t in pahole bpftool python3 objcopy; do
	if ! command -v $t >/dev/null; then
		echo "warning: $t missing: $ko has no kfunc BTF, attest rules unavailable" >&2
		exit 0
	fi
done
mkdir -p "$out"
base=$out/vmlinux-$rel.btf
if [ ! -s "$base" ]; then
	if [ "$(uname -r)" = "$rel" ] && [ -r /sys/kernel/btf/vmlinux ]; then
		cp /sys/kernel/btf/vmlinux "$base"
	elif [ -r "/boot/vmlinuz-$rel" ]; then
		python3 - "/boot/vmlinuz-$rel" "$base.elf" <<'PY'
import sys, lzma, gzip, zlib
d = open(sys.argv[1], 'rb').read()
for magic, fn in ((b'\xfd7zXZ\x00', lambda b: lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(b)),
                  (b'\x1f\x8b\x08', lambda b: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b))):
    i = d.find(magic)
    while i >= 0:
        try:
            out = fn(d[i:])
            if out[:4] == b'\x7fELF':
                open(sys.argv[2], 'wb').write(out)
                sys.exit(0)
        except Exception:
            pass
        i = d.find(magic, i + 1)
sys.exit("no vmlinux ELF found in " + sys.argv[1])
PY
		objcopy -O binary --only-section=.BTF "$base.elf" "$base"
		rm -f "$base.elf"
	else
		echo "error: no BTF for kernel $rel (/boot/vmlinuz-$rel missing)" >&2
		exit 1
	fi
fi
objcopy --remove-section=.BTF "$ko" 2>/dev/null || true
LLVM_OBJCOPY=objcopy pahole -J --btf_gen_floats -j --lang_exclude=rust --btf_base "$base" "$ko"
id=$(bpftool -B "$base" btf dump file "$ko" | sed -n "s/^\[\([0-9]*\)\] FUNC 'katls_kf_attest' .*/\1/p")
[ -n "$id" ] || { echo "error: no BTF FUNC katls_kf_attest in $ko" >&2; exit 1; }
python3 -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<IIII", 1, 0, int(sys.argv[2]), 0))' \
	"$out/kfunc_ids.bin" "$id"
objcopy --update-section .katls_kfunc_ids="$out/kfunc_ids.bin" "$ko"
echo "  BTF     $ko (kernel $rel, kfunc katls_kf_attest = BTF id $id)"
