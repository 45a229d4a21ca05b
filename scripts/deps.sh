#!/bin/sh
# Install every Debian package katls needs to build, test and demo.
# Idempotent and quiet when everything is present.  Run as root (or with sudo).
set -eu

PKGS="
build-essential pkg-config make gcc clang llvm lld
libbpf-dev bpftool libelf-dev zlib1g-dev dwarves
libssl-dev openssl
libtss2-dev tpm2-tools swtpm swtpm-tools
libcbor-dev libnl-3-dev libnl-genl-3-dev libjson-c-dev
libcmocka-dev liburing-dev
qemu-system-x86 busybox-static cpio kmod
linux-image-amd64 linux-headers-amd64
ima-evm-utils iproute2 procps jq util-linux python3
python3-prometheus-client curl
xxd
dkms dh-dkms debhelper lintian fakeroot
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once if they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -1)" ]; then
	$SUDO apt-get update -qq >&2
fi
# linux-image-amd64 and linux-headers-amd64 go in one transaction so their versions match.
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
