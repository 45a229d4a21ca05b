# Sourced by tests/vm/test_*.sh (they run as root inside the VM, see scripts/vm.sh).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
katls=$top/build/katls
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
need() { command -v "$1" >/dev/null || { echo "FAIL - prerequisite missing: $1"; exit 1; }; }
done_testing() { echo "$fails failure(s)"; [ "$fails" -eq 0 ]; }
# tpm2_pcrread sha256:N -> lowercase hex of PCR N
pcrread() { tpm2_pcrread "sha256:$1" | awk -F'0x' '/:/ && $2 != "" {print tolower($2)}'; }
