#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Host test: libkatls TPM access and quote verification against a fresh
# swtpm over the socket TCTI, cross-checked with tpm2-tools.
#   AK provisioning, reuse, survival across restarts (orderly and kill -9),
#   --force, refusal to overwrite a foreign object; PCR reads against
#   tpm2_pcrread; quotes verified by katls_quote_verify AND tpm2_checkquote;
#   wrong nonce / tampered PCRs / wrong selection fail in both.
# Needs: swtpm, swtpm_ioctl, tpm2-tools, openssl, perl, and the tool
# $KATLS_BUILD/tests/host/tpm_tool (KATLS_BUILD defaults to build).
# Exit status: number of failed checks (0 = pass); a missing dependency fails.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
tool=${KATLS_TPM_TOOL:-$top/${KATLS_BUILD:-build}/tests/host/tpm_tool}
. "$top/tests/host/swtpm.sh"

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}
# expect DESC CMD...: CMD must succeed.
expect() {
	local desc=$1
	shift
	if "$@" >"$work/out" 2>&1; then pass "$desc"; else
		fail "$desc: '$*' exited $?"; sed 's/^/  | /' "$work/out" >&2
	fi
}
# refuse DESC CMD...: CMD must fail.
refuse() {
	local desc=$1
	shift
	if "$@" >"$work/out" 2>&1; then
		fail "$desc: '$*' succeeded"; sed 's/^/  | /' "$work/out" >&2
	else pass "$desc"; fi
}
same_file() {
	cmp -s "$2" "$3" && pass "$1" || fail "$1: $2 and $3 differ"
}
unhex() {
	perl -e 'print pack("H*", $ARGV[0])' "$1"
}
randhex() {
	openssl rand -hex "$1"
}

for cmd in swtpm swtpm_ioctl tpm2_pcrextend tpm2_pcrread tpm2_checkquote tpm2_readpublic \
	tpm2_createprimary tpm2_evictcontrol tpm2_flushcontext tpm2_changeauth openssl perl; do
	command -v "$cmd" >/dev/null || fail "missing dependency: $cmd"
done
[ -x "$tool" ] || fail "missing $tool (build it: make ${KATLS_BUILD:-build}/tests/host/tpm_tool)"
[ "$failures" -eq 0 ] || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/katls-test-tpm.XXXXXX")
trap 'swtpm_stop_all; rm -rf "$work"' EXIT

# ---- published vectors (tests/vectors/tpm): katls and tpm2_checkquote agree --------
vec=$top/tests/vectors/tpm
# vector NAME PREFIX NONCE MASK PCRLIST AKPEM
vector() {
	local d=$work/vec-$1
	mkdir -p "$d"
	cp "$vec/$2-quote.bin" "$d/attest"
	cp "$vec/$2-quote-sig.bin" "$d/sig"
	cp "$vec/$2-pcrs.bin" "$d/pcrs"
	expect "$1: katls verifies" "$tool" verify "$3" "$4" "$d" "$6"
	expect "$1: tpm2_checkquote verifies" tpm2_checkquote -u "$6" -m "$d/attest" \
		-s "$d/sig" -q "$3" -f "$d/pcrs" -g sha256 -l "sha256:$5"
	refuse "$1: katls rejects another nonce" "$tool" verify "${3%??}00" "$4" "$d" "$6"
	refuse "$1: tpm2_checkquote rejects another nonce" tpm2_checkquote -u "$6" \
		-m "$d/attest" -s "$d/sig" -q "${3%??}00" -g sha256
}
openssl x509 -in "$vec/cmc-ak-cert.pem" -pubkey -noout >"$work/cmc-ak.pem" ||
	fail "openssl x509 -pubkey of the cmc AK certificate"
vector cmc cmc db6c3c042fa12645 0x12 1,4 "$work/cmc-ak.pem"
vector ecdsa ecdsa 00112233445566778899aabbccddeeff 0x1895 0,2,4,7,11,12 "$vec/ecdsa-ak.pem"
swtpm_start || { echo "FAIL: cannot start swtpm" >&2; exit 1; }
state=$SWTPM_STATE
ak=0x81010002

# ---- provisioning -------------------------------------------------------------
expect "provision AK at $ak" "$tool" provision $ak "$work/ak.tpmt" "$work/ak.pem"
tpm2_readpublic -c $ak >"$work/readpublic" 2>&1 || fail "tpm2_readpublic $ak"
grep -q "^name: $("$tool" name "$work/ak.tpmt")\$" "$work/readpublic" &&
	pass "katls TPM Name equals tpm2_readpublic's" || fail "TPM Name differs from tpm2_readpublic"
for attr in fixedtpm sensitivedataorigin noda restricted sign; do
	grep -q "value:.*\b$attr\b" "$work/readpublic" || fail "AK lacks attribute $attr"
done
grep -q "ecdsa" "$work/readpublic" && grep -q "NIST_P256\|nistp256\|0x3" "$work/readpublic" &&
	pass "AK is ECDSA P-256" || fail "AK is not ECDSA P-256"
expect "second provision reuses the AK" "$tool" provision $ak "$work/ak2.tpmt" "$work/ak2.pem"
same_file "reused AK has the same public key" "$work/ak.pem" "$work/ak2.pem"
# Reuse touches no owner-authorized command: it works with an owner password,
# re-creation does not (and says which call failed).
expect "set an owner password" tpm2_changeauth -c o katls-owner
expect "provision reuses the AK without owner auth" "$tool" provision $ak "$work/ak2.tpmt" \
	"$work/ak2.pem"
refuse "provision -f needs owner auth" "$tool" provision -f $ak "$work/ak2.tpmt" "$work/ak2.pem"
grep -q "katls: Esys_EvictControl: tpm:.*authorization" "$work/out" ||
	fail "provision -f without owner auth: no error line naming Esys_EvictControl: $(cat "$work/out")"
expect "AK still there" "$tool" public $ak "$work/ak2.tpmt" "$work/ak2.pem"
expect "clear the owner password" tpm2_changeauth -c o -p katls-owner

# ---- PCR reads ------------------------------------------------------------------
d10=$(randhex 32)
expect "tpm2_pcrextend PCR 10" tpm2_pcrextend "10:sha256=$d10"
want10=$( (unhex "$(printf '0%.0s' $(seq 64))"; unhex "$d10") | openssl dgst -sha256 -r | cut -c1-64)
got10=$("$tool" pcrread 0x400 | awk '$1 == 10 { print $2 }')
[ "$got10" = "$want10" ] && pass "katls PCR 10 = SHA-256(0^32 || digest)" ||
	fail "katls PCR 10 $got10, expected $want10"
tpm2_pcrread -o "$work/pcrread.bin" sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 >/dev/null 2>&1 ||
	fail "tpm2_pcrread"
"$tool" pcrread 0xffffff | awk '{ print $2 }' | tr -d '\n' >"$work/katls-pcrs.hex"
[ "$(cat "$work/katls-pcrs.hex")" = "$(od -An -v -tx1 "$work/pcrread.bin" | tr -d ' \n')" ] &&
	pass "katls reads all 24 PCRs like tpm2_pcrread" || fail "24-PCR read differs from tpm2_pcrread"

# ---- quote, verify, cross-check -------------------------------------------------------
# quote_check NAME MASK PCRLIST: quote with a fresh nonce, verify both ways.
# tpm2-tools 5.4's tpm2_checkquote -f -l drops the 8th digest of every 8 raw
# PCR values, so with more than 7 PCRs it checks signature and nonce only
# (the values are compared with tpm2_pcrread's separately).
quote_check() {
	local name=$1 mask=$2 list=$3 nonce pcrargs=()
	nonce=$(randhex 32)
	mkdir -p "$work/$name"
	echo "$nonce" >"$work/$name/nonce"
	expect "$name: quote mask $mask" "$tool" quote $ak "$nonce" "$mask" "$work/$name"
	expect "$name: katls verifies" "$tool" verify "$nonce" "$mask" "$work/$name" "$work/ak.pem"
	[ "$(tr -cd , <<<"$list" | wc -c)" -lt 7 ] &&
		pcrargs=(-f "$work/$name/pcrs" -l "sha256:$list")
	expect "$name: tpm2_checkquote verifies" tpm2_checkquote -u "$work/ak.pem" \
		-m "$work/$name/attest" -s "$work/$name/sig" -q "$nonce" -g sha256 "${pcrargs[@]}"
}
quote_check q1 0x401 0,10
q=$work/q1
nonce=$(cat "$q/nonce")
bad=$(randhex 32)
refuse "wrong nonce: katls rejects" "$tool" verify "$bad" 0x401 "$q" "$work/ak.pem"
grep -q "^binder:" "$work/out" || fail "wrong nonce: reason is not binder: $(cat "$work/out")"
refuse "wrong nonce: tpm2_checkquote rejects" tpm2_checkquote -u "$work/ak.pem" -m "$q/attest" \
	-s "$q/sig" -q "$bad" -f "$q/pcrs" -g sha256 -l sha256:0,10
refuse "selection differs: katls rejects" "$tool" verify "$nonce" 0x400 "$q" "$work/ak.pem" 0x401
grep -q "^quote-structure:" "$work/out" || fail "selection: reason is not quote-structure"
cp -r "$q" "$work/tampered"
printf '\x01' | dd of="$work/tampered/pcrs" bs=1 seek=40 conv=notrunc 2>/dev/null
refuse "tampered PCR value: katls rejects" "$tool" verify "$nonce" 0x401 "$work/tampered" "$work/ak.pem"
grep -q "^pcr-digest:" "$work/out" || fail "tampered PCR: reason is not pcr-digest"
refuse "tampered PCR value: tpm2_checkquote rejects" tpm2_checkquote -u "$work/ak.pem" \
	-m "$work/tampered/attest" -s "$work/tampered/sig" -q "$nonce" -f "$work/tampered/pcrs" \
	-g sha256 -l sha256:0,10
cp "$q/pcrs" "$work/tampered/pcrs"
printf '\x01' | dd of="$work/tampered/attest" bs=1 seek=60 conv=notrunc 2>/dev/null
refuse "tampered attest: katls rejects" "$tool" verify "$nonce" 0x401 "$work/tampered" "$work/ak.pem"
refuse "tampered attest: tpm2_checkquote rejects" tpm2_checkquote -u "$work/ak.pem" \
	-m "$work/tampered/attest" -s "$work/tampered/sig" -q "$nonce" -g sha256

quote_check seven 0x40003f 0,1,2,3,4,5,22
quote_check all24 0xffffff 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23
cmp -s "$work/all24/pcrs" "$work/pcrread.bin" && pass "quoted PCR values = tpm2_pcrread's" ||
	fail "quoted PCR values differ from tpm2_pcrread"
refuse "33-byte qualifying data is refused" "$tool" quote $ak "$(randhex 33)" 0x400 "$work/q1"
grep -q "too long" "$work/out" || fail "33-byte nonce: not EMSGSIZE: $(cat "$work/out")"
binder=$(randhex 48)
want=$(unhex "$binder" | openssl dgst -sha256 -r | cut -c1-64)
[ "$("$tool" nonce "$binder")" = "$want" ] && pass "48-byte binder -> SHA-256 nonce" ||
	fail "katls_quote_nonce of a 48-byte binder is not its SHA-256"

# ---- restarts ----------------------------------------------------------------------
swtpm_stop
swtpm_start "$state" || { echo "FAIL: cannot restart swtpm on $state" >&2; exit 1; }
expect "AK readable after an orderly restart" "$tool" public $ak "$work/ak3.tpmt" "$work/ak3.pem"
same_file "AK survives an orderly restart" "$work/ak.pem" "$work/ak3.pem"
quote_check after-restart 0x400 10
for i in 1 2 3 4; do		# unclean stops count as dictionary-attack failures
	swtpm_kill
	swtpm_start "$state" || { echo "FAIL: cannot restart swtpm after kill -9" >&2; exit 1; }
done
quote_check after-kill 0x400 10

# ---- force and foreign objects -----------------------------------------------------
expect "provision --force" "$tool" provision -f $ak "$work/ak4.tpmt" "$work/ak4.pem"
same_file "forced AK is the same primary (same template, same seed)" "$work/ak.pem" "$work/ak4.pem"
expect "create a storage key" tpm2_createprimary -C o -G rsa2048 -c "$work/srk.ctx"
expect "persist it at 0x81010003" tpm2_evictcontrol -C o -c "$work/srk.ctx" 0x81010003
# No resource manager on a raw swtpm: free the transient slots tpm2-tools left.
expect "flush transient objects" tpm2_flushcontext -t
refuse "provision refuses to replace a foreign object" "$tool" provision 0x81010003 \
	"$work/x.tpmt" "$work/x.pem"
grep -q "refusing to replace" "$work/out" || fail "foreign object: message missing"
expect "provision -f replaces it" "$tool" provision -f 0x81010003 "$work/x.tpmt" "$work/x.pem"
same_file "the AK at 0x81010003 is the katls AK" "$work/ak.pem" "$work/x.pem"
refuse "handle outside the owner persistent range" "$tool" provision 0x81800000 \
	"$work/x.tpmt" "$work/x.pem"

# ---- no TPM ----------------------------------------------------------------------------
port=$SWTPM_PORT
swtpm_stop
TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port" refuse "no TPM listening: quote fails" \
	"$tool" quote $ak "$nonce" 0x400 "$work/q1"
grep -q "katls: Tss2_TctiLdr_Initialize\|katls: Esys_" "$work/out" ||
	fail "no TPM: no error line naming the TSS call: $(cat "$work/out")"

echo "test_tpm: $failures failure(s)"
[ "$failures" -eq 0 ]
