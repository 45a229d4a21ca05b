#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Host test: AK enrollment with the EK (docs/enroll.md, PROTOCOL.md §6 D2)
# on swtpms manufactured by swtpm_setup with EK certificates from local test
# CAs made here (everything under one temporary directory).
#   katls provision: AK Name/public area (= tpm2_readpublic's), endorsement
#   hierarchy (qualified Name); enroll request: EK certificate and EK public
#   (= tpm2_nvread / tpm2_readpublic); the full round trip request ->
#   challenge -> activate -> verify -> store, with the RSA and the ECC EK;
#   software MakeCredential cross-checked both ways with tpm2-tools
#   (tpm2_activatecredential of katls' credential, katls activation of
#   tpm2_makecredential's, offline and made by another TPM);
#   an EK that is not persistent (derived from template L-1);
#   refusals, each with its message: EK certificate from another CA, EK
#   certificate of another key, AK without restricted / fixedTPM, ak.name
#   that is not the Name of ak.pub, a credential for another AK Name, a
#   credential for another TPM's EK, a replayed / old / expired challenge,
#   tampered credential and response, an AK not in the store.
# Needs: swtpm, swtpm_setup, swtpm_localca, swtpm_ioctl, tpm2-tools, openssl,
# jq, and $KATLS_BUILD/katls (KATLS_BUILD defaults to build).
# Exit status: number of failed checks (0 = pass); a missing dependency fails.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
K=${KATLS:-$top/${KATLS_BUILD:-build}/katls}
. "$top/tests/host/swtpm.sh"

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}
pass() {
	echo "ok: $*"
}
show() {
	sed 's/^/  | /' "$work/out" >&2
}
# expect DESC CMD...: CMD must succeed.
expect() {
	local desc=$1
	shift
	if "$@" >"$work/out" 2>&1; then pass "$desc"; else
		fail "$desc: '$*' exited $?"; show
	fi
}
# refuse DESC PATTERN CMD...: CMD must exit 4 (refused) and say PATTERN.
refuse() {
	local desc=$1 pattern=$2 rc
	shift 2
	"$@" >"$work/out" 2>&1
	rc=$?
	if [ "$rc" -ne 4 ]; then
		fail "$desc: '$*' exited $rc, expected 4 (refused)"; show
	elif ! grep -Eq -- "$pattern" "$work/out"; then
		fail "$desc: refused, but without saying /$pattern/"; show
	else
		pass "$desc"
	fi
}
same() {
	cmp -s "$2" "$3" && pass "$1" || fail "$1: $2 and $3 differ"
}
flip() {	# flip FILE OFFSET: xor one byte with 0x01
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

for cmd in swtpm swtpm_setup swtpm_localca swtpm_ioctl tpm2_readpublic tpm2_nvread \
	tpm2_createprimary tpm2_create tpm2_load tpm2_evictcontrol tpm2_flushcontext \
	tpm2_getcap tpm2_startauthsession tpm2_policysecret tpm2_activatecredential \
	tpm2_makecredential openssl jq xxd; do
	command -v "$cmd" >/dev/null || fail "missing dependency: $cmd"
done
[ -x "$K" ] || fail "missing $K (build it: make)"
[ "$failures" -eq 0 ] || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/katls-test-enroll.XXXXXX")
trap 'swtpm_stop_all; rm -rf "$work"' EXIT
cd "$work" || exit 1
state=$work/registrar-state
store=$work/enrolled.json
export KATLS_ENROLL_STATE=$state

# ---- two manufacturer CAs, two TPMs certified by CA A ------------------------------
mkca() {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 3650 \
		-subj "/O=katls test/CN=$2" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1 ||
		{ echo "FAIL: openssl req ($1)" >&2; exit 1; }
}
mkca ca-a "TPM manufacturer A"
mkca ca-b "TPM manufacturer B"
swtpm_create_ek_certs ca-a.key ca-a.pem && swtpm_start "$SWTPM_STATE" ||
	{ echo "FAIL: cannot manufacture/start TPM 1" >&2; exit 1; }
T1=$TPM2TOOLS_TCTI
swtpm_create_ek_certs ca-a.key ca-a.pem && swtpm_start "$SWTPM_STATE" ||
	{ echo "FAIL: cannot manufacture/start TPM 2" >&2; exit 1; }
T2=$TPM2TOOLS_TCTI
export TPM2TOOLS_TCTI=$T1 KATLS_TCTI=$T1	# TPM 1 unless said otherwise
AK=0x81010002

# ---- provisioning: Name, public area, hierarchy -------------------------------------
expect "provision the AK on TPM 1" "$K" provision --out ak1.pem --public ak1.pub --name ak1.name
grep -q "^name: $(cat ak1.name)\$" "$work/out" && grep -q "^public: $(xxd -p -c 4096 ak1.pub)\$" \
	"$work/out" && grep -q -- "-----BEGIN PUBLIC KEY-----" "$work/out" &&
	pass "provision prints the PEM, the Name and the public area" ||
	{ fail "provision output lacks PEM/name/public"; show; }
tpm2_readpublic -c $AK >readpublic 2>&1 || fail "tpm2_readpublic $AK"
[ "$(awk '$1 == "name:" { print $2 }' readpublic)" = "$(cat ak1.name)" ] &&
	pass "AK Name = tpm2_readpublic's" || fail "AK Name differs from tpm2_readpublic's"
qn=000b$( (printf '\x40\x00\x00\x0b'; xxd -r -p ak1.name) | openssl dgst -sha256 -r | cut -c1-64)
[ "$(awk '$1 == "qualified" { print $3 }' readpublic)" = "$qn" ] &&
	pass "AK is a primary of the endorsement hierarchy (qualified Name)" ||
	fail "AK qualified Name is not H(TPM_RH_ENDORSEMENT || Name)"
for attr in fixedtpm fixedparent sensitivedataorigin userwithauth restricted sign; do
	grep -q "value:.*\b$attr\b" readpublic || fail "AK lacks attribute $attr"
done
expect "provision the AK on TPM 2" "$K" provision --tcti "$T2" --public ak2.pub --name ak2.name

# ---- request ------------------------------------------------------------------------
expect "request on TPM 1" "$K" enroll request --out r1
for f in ek-cert.der ek.pub ak.pub ak.name ek-nv-index ak.pem; do
	[ -s "r1/$f" ] || fail "request lacks $f"
done
[ "$(cat r1/ek-nv-index)" = 0x01c00002 ] && pass "request took the RSA EK certificate" ||
	fail "ek-nv-index is $(cat r1/ek-nv-index)"
tpm2_nvread -C o 0x01c00002 2>/dev/null | openssl x509 -inform der -outform der >nv-cert.der &&
	same "ek-cert.der = the certificate tpm2_nvread reads" r1/ek-cert.der nv-cert.der
tpm2_readpublic -c 0x81010001 -o ek1.tss >/dev/null 2>&1 && tail -c +3 ek1.tss >ek1.tpmt &&
	same "ek.pub = tpm2_readpublic of the persistent EK" r1/ek.pub ek1.tpmt
same "ak.pub = provision's public area" r1/ak.pub ak1.pub
same "ak.name = provision's Name" r1/ak.name ak1.name
expect "request on TPM 2" "$K" enroll request --tcti "$T2" --out r2

# ---- the round trip -----------------------------------------------------------------------
expect "challenge (CA A)" "$K" enroll challenge --ek-ca ca-a.pem --in r1 --out c1
[ "$(stat -c %a "$state")" = 700 ] && [ "$(stat -c %a "$state/$(cat c1/challenge-id).json")" = 600 ] &&
	pass "pending challenge kept 0600 in a 0700 state dir" || fail "state permissions"
expect "activate on TPM 1" "$K" enroll activate --in c1 --out a1
[ "$(stat -c %a a1/secret)" = 600 ] && pass "recovered secret written 0600" || fail "secret mode"
expect "verify: enrolled" "$K" enroll verify --in a1 --store "$store" --label tpm1.test
grep -q "label: tpm1.test" "$work/out" || fail "verify does not show the label"
expect "store lookup by ak.pub: TPM 1's AK is enrolled" "$K" enroll check --store "$store" \
	--ak-public r1/ak.pub
expect "store lookup by Name" "$K" enroll check --store "$store" --name "$(cat ak1.name)"
[ "$(jq -r '.enrollments[0].ak_name' "$store")" = "$(cat ak1.name)" ] &&
	[ "$(jq -r '.enrollments[0].ek_cert_sha256' "$store")" = \
	  "$(openssl dgst -sha256 -r r1/ek-cert.der | cut -c1-64)" ] &&
	[ "$(jq -r '.enrollments[0].ek_cert_issuer' "$store")" = "CN=TPM manufacturer A,O=katls test" ] &&
	pass "store record: AK Name, EK certificate fingerprint and issuer" ||
	{ fail "store record content"; cat "$store" >&2; }
expect "list the store" "$K" enroll list --store "$store"
grep -q "1 enrolled AK" "$work/out" || fail "list: $(cat "$work/out")"

# ---- with the ECC EK (P-384, high range, ECDH secret sharing) ----------------------------
expect "request with the ECC EK" "$K" enroll request --ek ecc --out r1e
[ "$(cat r1e/ek-nv-index)" = 0x01c00016 ] || fail "ECC EK index $(cat r1e/ek-nv-index)"
expect "challenge to the ECC EK" "$K" enroll challenge --ek-ca ca-a.pem --in r1e --out c1e
expect "activate with the ECC EK" "$K" enroll activate --in c1e --out a1e
expect "verify (ECC EK)" "$K" enroll verify --in a1e --store "$store" --label tpm1.test
[ "$(jq '.enrollments | length' "$store")" = 1 ] &&
	pass "re-enrolling the same AK replaces its record" || fail "duplicate record"

# ---- MakeCredential cross-checks with tpm2-tools ------------------------------------------------
# katls' credential, activated by tpm2_activatecredential (EK policy session)
expect "challenge for the cross-check" "$K" enroll challenge --ek-ca ca-a.pem --in r1 --out cx
want=$(jq -r .secret "$state/$(cat cx/challenge-id).json")
tpm2_startauthsession --policy-session -S sess.ctx >/dev/null 2>&1 &&
	tpm2_policysecret -S sess.ctx -c e >/dev/null 2>&1 &&
	tpm2_activatecredential -c $AK -C 0x81010001 -i cx/credential.tpm2 -o tools.secret \
		-P session:sess.ctx >/dev/null 2>"$work/out" ||
	{ fail "tpm2_activatecredential of katls' credential"; show; }
tpm2_flushcontext sess.ctx >/dev/null 2>&1
[ "$(xxd -p -c 64 tools.secret 2>/dev/null)" = "$want" ] &&
	pass "tpm2_activatecredential recovers katls' secret" || fail "tpm2-tools recovered another secret"
expect "katls activates the same credential" "$K" enroll activate --in cx --out ax
same "katls and tpm2-tools recover the same secret" ax/secret tools.secret
# tpm2_makecredential's credentials, activated by katls: offline (-T none) and by TPM 2
head -c 32 /dev/urandom >made.secret
for how in none tpm2; do
	mkdir -p "m-$how"
	tcti=none
	[ $how = tpm2 ] && tcti=$T2
	if tpm2_makecredential -T "$tcti" -u ek1.tss -s made.secret -n "$(cat ak1.name)" \
		-o "m-$how/credential.tpm2" >/dev/null 2>"$work/out"; then
		openssl rand -hex 16 >"m-$how/challenge-id"
		cp ak1.name "m-$how/ak.name"
		expect "katls activates tpm2_makecredential -T $how's credential" \
			"$K" enroll activate --in "m-$how" --out "am-$how"
		same "... and recovers its secret" "am-$how/secret" made.secret
	else
		fail "tpm2_makecredential -T $how"; show
	fi
done
tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1
TPM2TOOLS_TCTI=$T2 tpm2_flushcontext -t >/dev/null 2>&1

# ---- refusals -------------------------------------------------------------------------------
# EK certificate from another manufacturer CA
refuse "EK certificate from another CA" "does not chain to the given EK CA" \
	"$K" enroll challenge --ek-ca ca-b.pem --in r1 --out cn
mkdir cadir && cp ca-b.pem cadir/b.pem && cp ca-a.pem cadir/a.crt
expect "a CA directory holding the right CA among others" "$K" enroll challenge \
	--ek-ca cadir --in r1 --out cdir
# EK certificate whose key is not the TPM's EK (TPM 2's certificate, TPM 1's EK)
cp -r r1 rmix && cp r2/ek-cert.der rmix/ek-cert.der
refuse "EK certificate of another key than ek.pub" "certifies another key" \
	"$K" enroll challenge --ek-ca ca-a.pem --in rmix --out cn
# AK without restricted; AK without fixedTPM (made with tpm2-tools)
tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -c nr.ctx \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign' >/dev/null 2>&1 &&
	tpm2_evictcontrol -C o -c nr.ctx 0x81010010 >/dev/null 2>&1 || fail "make a non-restricted key"
tpm2_flushcontext -t >/dev/null 2>&1
# (a raw swtpm has 3 object slots and no resource manager: flush after each tool)
tpm2_createprimary -C o -c srk.ctx >/dev/null 2>&1 && tpm2_flushcontext -t &&
	tpm2_create -C srk.ctx -G ecc256:ecdsa-sha256:null -u nf.pub -r nf.priv \
		-a 'restricted|sign|sensitivedataorigin|userwithauth' >/dev/null 2>&1 &&
	tpm2_flushcontext -t && tpm2_load -C srk.ctx -u nf.pub -r nf.priv -c nf.ctx \
		>/dev/null 2>&1 && tpm2_evictcontrol -C o -c nf.ctx 0x81010011 >/dev/null 2>&1 ||
	fail "make a non-fixedTPM key"
tpm2_flushcontext -t >/dev/null 2>&1
expect "request with the non-restricted key" "$K" enroll request --handle 0x81010010 --out rnr
grep -q "warning: .*not a restricted fixedTPM signing key" "$work/out" ||
	fail "request does not warn about the non-restricted key"
refuse "AK without restricted" "lacks restricted" \
	"$K" enroll challenge --ek-ca ca-a.pem --in rnr --out cn
expect "request with the non-fixedTPM key" "$K" enroll request --handle 0x81010011 --out rnf
refuse "AK without fixedTPM" "lacks fixedTPM" \
	"$K" enroll challenge --ek-ca ca-a.pem --in rnf --out cn
# ak.name that is not the Name of ak.pub: the registrar computes the Name itself
cp -r r1 rname && cp ak2.name rname/ak.name
refuse "ak.name of another AK" "ak.name is not the Name of ak.pub" \
	"$K" enroll challenge --ek-ca ca-a.pem --in rname --out cn
# a credential made for another AK Name (a second, genuine AK of TPM 1)
tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -c ak3.ctx \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda' \
	>/dev/null 2>&1 && tpm2_evictcontrol -C o -c ak3.ctx 0x81010012 >/dev/null 2>&1 ||
	fail "make a second AK"
tpm2_flushcontext -t >/dev/null 2>&1
expect "request for the second AK" "$K" enroll request --handle 0x81010012 --out r3
expect "challenge for the second AK" "$K" enroll challenge --ek-ca ca-a.pem --in r3 --out c3
refuse "activation of a credential for another AK Name: refused before the TPM" \
	"the challenge is for another AK" "$K" enroll activate --in c3 --out a3
cp ak1.name c3/ak.name		# the name file lies; the TPM is not fooled
refuse "... and by the TPM when ak.name lies" "TPM refuses the credential" \
	"$K" enroll activate --in c3 --out a3
mkdir a3 && head -c 32 /dev/urandom >a3/secret && cp c3/challenge-id a3/
refuse "a made-up secret for that challenge" "secret does not match" \
	"$K" enroll verify --in a3 --store "$store"
# a credential for another TPM's EK (TPM 2's EK, TPM 1's AK: the registrar cannot tell)
cp -r r1 rek2 && cp r2/ek-cert.der r2/ek.pub r2/ek-nv-index rek2/
expect "challenge for TPM 1's AK under TPM 2's EK" "$K" enroll challenge --ek-ca ca-a.pem \
	--in rek2 --out c5
refuse "TPM 1 cannot activate a credential for TPM 2's EK" "TPM refuses the credential" \
	"$K" enroll activate --in c5 --out a5
refuse "TPM 2 refuses it too (its AK has another Name)" "the challenge is for another AK" \
	"$K" enroll activate --tcti "$T2" --in c5 --out a5
mkdir a5 && head -c 32 /dev/urandom >a5/secret && cp c5/challenge-id a5/
refuse "... and a made-up secret is refused" "secret does not match" \
	"$K" enroll verify --in a5 --store "$store"
# replayed, old and expired challenges
refuse "a replayed response (challenge already answered)" "no pending challenge" \
	"$K" enroll verify --in a1 --store "$store"
expect "a new challenge" "$K" enroll challenge --ek-ca ca-a.pem --in r1 --out c6
mkdir a6 && cp a1/secret a6/ && cp c6/challenge-id a6/
refuse "an old secret for a new challenge" "secret does not match" \
	"$K" enroll verify --in a6 --store "$store"
expect "activate the new challenge" "$K" enroll activate --in c6 --out a6b
refuse "... which was consumed by the wrong answer" "no pending challenge" \
	"$K" enroll verify --in a6b --store "$store"
expect "a challenge to let expire" "$K" enroll challenge --ek-ca ca-a.pem --in r1 --out c7
expect "activate it" "$K" enroll activate --in c7 --out a7
sleep 2
refuse "an expired challenge" "expired: issued [0-9]+ s ago, valid for 1 s" \
	"$K" enroll verify --in a7 --store "$store" --max-age 1
# tampered credential and response
expect "a challenge to tamper with" "$K" enroll challenge --ek-ca ca-a.pem --in r1 --out c8
cp -r c8 c8b && flip c8b/credential.tpm2 14	# in the outer HMAC
refuse "tampered credential blob" "TPM refuses the credential" \
	"$K" enroll activate --in c8b --out a8
cp -r c8 c8s && flip c8s/credential.tpm2 $(($(stat -c %s c8/credential.tpm2) - 1))
refuse "tampered encrypted seed" "TPM refuses the credential" \
	"$K" enroll activate --in c8s --out a8
cp -r c8 c8t && truncate -s -1 c8t/credential.tpm2
refuse "truncated credential file" "not a credential file" \
	"$K" enroll activate --in c8t --out a8
expect "activate the untampered credential" "$K" enroll activate --in c8 --out a8
flip a8/secret 0
refuse "tampered response secret" "secret does not match" \
	"$K" enroll verify --in a8 --store "$store"
# the store: an AK that is not in it, and a store that was edited
refuse "store lookup: TPM 2's AK is not enrolled" "not enrolled" \
	"$K" enroll check --store "$store" --ak-public r2/ak.pub
refuse "store lookup: the second AK of TPM 1 is not enrolled" "not enrolled" \
	"$K" enroll check --store "$store" --ak-public r3/ak.pub
jq --arg n "$(cat ak2.name)" '.enrollments[0].ak_name = $n' "$store" >edited.json
"$K" enroll check --store edited.json --ak-public r2/ak.pub >"$work/out" 2>&1
[ $? -eq 1 ] && grep -q "ak_name is not the Name of ak_public" "$work/out" &&
	pass "an edited store (ak_name swapped) does not load" || { fail "edited store"; show; }
expect "the genuine store still lists TPM 1's AK" "$K" enroll check --store "$store" \
	--ak-public r1/ak.pub

# ---- an EK that is not persistent: derived from the default template (TPM 2) --------------------
TPM2TOOLS_TCTI=$T2 tpm2_evictcontrol -C o -c 0x81010001 >/dev/null 2>&1 ||
	fail "evict TPM 2's persistent RSA EK"
expect "request on TPM 2 without a persistent EK" "$K" enroll request --tcti "$T2" --out r2d
grep -q "derived from the default template" "$work/out" || fail "request did not derive the EK"
same "the derived EK (template L-1) is the certified one" r2d/ek.pub r2/ek.pub
expect "challenge (TPM 2)" "$K" enroll challenge --ek-ca ca-a.pem --in r2d --out c2d
expect "activate with the derived EK" "$K" enroll activate --tcti "$T2" --in c2d --out a2d
expect "verify (TPM 2)" "$K" enroll verify --in a2d --store "$store" --label tpm2.test
expect "TPM 2's AK is enrolled now" "$K" enroll check --store "$store" --ak-public r2/ak.pub
[ "$(jq '.enrollments | length' "$store")" = 2 ] && pass "the store holds both AKs" ||
	fail "store: $(jq -c '[.enrollments[].label]' "$store")"

# ---- hygiene ----------------------------------------------------------------------------------------
for t in "$T1" "$T2"; do
	[ -z "$(TPM2TOOLS_TCTI=$t tpm2_getcap handles-transient 2>/dev/null)" ] ||
		fail "transient objects left in the TPM at $t"
done
"$K" enroll challenge --in r1 --out cn >"$work/out" 2>&1
[ $? -eq 2 ] && pass "challenge without --ek-ca is a usage error" || fail "no --ek-ca: exit $?"

echo "test_enroll: $failures failure(s)"
[ "$failures" -eq 0 ]
