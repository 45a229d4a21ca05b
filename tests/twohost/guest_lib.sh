# SPDX-License-Identifier: MIT
# One of the two hosts of hosts.sh, in its VM (sourced by tests/twohost/guest.sh
# and bench/mesh_vm.sh after tests/vm/lib.sh and daemon_lib.sh):
#   twohost_guest ROLE PORT   ROLE server is host a (10.9.0.1), client host b
#                             (10.9.0.2): this host's TLS identity and AK from
#                             the host script, the other host's AK pinned in
#                             policy "mesh", katlsd started, the gate loaded
#                             and a mutual attest rule for PORT on the other
#                             host's connections (in on a, out on b)
# Sets me, peer, peer_ip.  katlsd's TPM is the guest's chip, or TWOHOST_TCTI.
twohost_guest() {
	local role=$1 port=$2 shared=$top/build/twohost dir
	if [ "$role" = server ]; then me=a peer=b peer_ip=10.9.0.2 dir=in; else me=b peer=a peer_ip=10.9.0.1 dir=out; fi
	load_tls_crypto
	cp "$shared/ca.pem" "$work/"
	cp "$shared/host$me.pem" "$work/host.pem"
	cp "$shared/host$me.key" "$work/host.key"
	cp "$shared/ak-$peer.pem" "$work/peer-ak.pem"
	$katls provision --out "$work/ak.pem" >/dev/null || { echo "FAIL - katls provision"; exit 1; }
	check "this host's AK is the one the host script provisioned (the peer pins it)" \
		cmp -s "$work/ak.pem" "$shared/ak-$me.pem"
	cat >"$work/policies.json" <<JSON
{ "policies": { "mesh": { "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
  "ak_pins": ["peer-ak.pem"], "ima": { "required": true },
  "kernel": { "require_tpm": true, "allow_taint_mask": $(cat /proc/sys/kernel/tainted) },
  "max_age_s": 600 } } }
JSON
	cat >"$work/katlsd.json" <<JSON
{ "certificate": "host.pem", "key": "host.key", "ca": "ca.pem",
  "policies": "policies.json", "default_policy": "mesh",
  "tpm": { "tcti": "${TWOHOST_TCTI:-device:/dev/tpmrm0}" } }
JSON
	$katls gate load >/dev/null || { echo "FAIL - katls gate load"; exit 1; }
	$katls policy add "$peer_ip" port "$port" attest --role mutual --direction $dir \
		--policy mesh >/dev/null || { echo "FAIL - attest rule"; exit 1; }
	start_katlsd
}
