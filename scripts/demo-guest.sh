#!/bin/bash
# The `make demo` guest script: runs inside the VM (scripts/vm.sh) with katls.ko
# loaded, a swtpm TPM and IMA.
top=$(cd "$(dirname "$0")/.." && pwd)
katls=$top/build/katls
banner() { printf '\n==== %s\n' "$*"; }

banner "katls status (human-readable)"
$katls status --pcrs 0-10
banner "katls status --json"
$katls status --json --pcrs 10
banner "an unprivileged user sees the public fields only"
setpriv --reuid=65534 --regid=65534 --clear-groups $katls status
