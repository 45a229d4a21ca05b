# shellcheck shell=bash
# Sourced by tests/vm/test_daemon*.sh (after lib.sh): a test PKI, the AK, a
# policy set and a katlsd configuration in $work, and katlsd control.
#   daemon_setup          PKI (host.pem: SAN server.test), AK, policies, config
#   start_katlsd [ARGS]   katlsd in the background ($kd_pid, log $kd_log)
#   stop_katlsd           SIGTERM and wait
#   srv/cli               the example server and client
. "$top/tests/host/pki.sh"
export KATLS_TCTI=device:/dev/tpmrm0 TPM2TOOLS_TCTI=device:/dev/tpmrm0
katlsd=$build/katlsd
srv=$build/examples/server
cli=$build/examples/client
work=$(mktemp -d)
kd_pid=""
kd_log=$work/katlsd.log
cleanup_daemon() {
	# (an EXIT trap under set -e: a job that already ended must not change the test's status)
	if [ -n "$kd_pid" ]; then kill "$kd_pid" 2>/dev/null || true; fi
	jobs -p | xargs -r kill 2>/dev/null || true
	$katls gate unload >/dev/null 2>&1 || true; return 0
}
trap cleanup_daemon EXIT

# policy_json NAME EXTRA: one policy object for the policy set
policy_json() {
	cat <<JSON
"$1": { "trust_anchors": ["ca.pem"], "peer_names": ["server.test"],
        "ak_pins": ["ak.pem"], "ima": { "required": true ${3:-} },
        "kernel": { "allow_taint_mask": $taint, "require_tpm": true },
        "max_age_s": 600 ${2:-} }
JSON
}

daemon_setup() {
	load_tls_crypto
	modprobe -a chacha20poly1305 chacha20_x86_64 poly1305_x86_64 2>/dev/null || \
		modprobe -a chacha20poly1305 2>/dev/null || true
	pki_ca "$work" ca && pki_leaf "$work" ca host server.test client.test &&
		pki_ca "$work" other && pki_leaf "$work" other stranger server.test ||
		{ echo "FAIL - test PKI"; exit 1; }
	$katls provision --out "$work/ak.pem" >/dev/null || { echo "FAIL - katls provision"; exit 1; }
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/k2.pem" 2>/dev/null
	openssl pkey -in "$work/k2.pem" -pubout -out "$work/otherak.pem" 2>/dev/null
	taint=$(cat /proc/sys/kernel/tainted)
	{
		echo '{ "policies": {'
		policy_json vm ''
		echo ','
		policy_json pcr '' '' | sed 's/"max_age_s": 600/"max_age_s": 600, "pcrs": { "sha256": { "10": "'"$(printf '0%.0s' $(seq 64))"'" } }/'
		echo ','
		policy_json akpin '' | sed 's/"ak.pem"/"otherak.pem"/'
		echo ','
		policy_json wrongname '' | sed 's/"server.test"/"elsewhere.test"/'
		echo ','
		policy_json allow '' ', "runtime_policy": "allow.json"'
		echo '} }'
	} >"$work/policies.json"
	make_allowlist "$work/allow.json"
	cat >"$work/katlsd.json" <<JSON
{ "certificate": "host.pem", "key": "host.key", "ca": "ca.pem",
  "policies": "policies.json", "default_policy": "vm",
  "tpm": { "tcti": "device:/dev/tpmrm0" } }
JSON
}

# make_allowlist FILE: a Keylime runtime policy listing every file measured so far
make_allowlist() {
	local f=/sys/kernel/security/ima/ascii_runtime_measurements
	[ -r $f ] || f=/sys/kernel/security/integrity/ima/ascii_runtime_measurements
	awk '$3 == "ima-sig" || $3 == "ima-ng" { split($4, d, ":"); print d[2], $5 }' $f |
		jq -R -s 'split("\n") | map(select(length > 0) | split(" ")) |
			reduce .[] as $e ({}; .[$e[1]] += [$e[0]]) |
			{ "meta": { "version": 1 }, "release": 0, "digests": .,
			  "excludes": [], "keyrings": {}, "ima": { "ignored_keyrings": [],
			  "log_hash_alg": "sha1", "dm_policy": null }, "ima-buf": {},
			  "verification-keys": "" }' >"$1"
}

start_katlsd() {
	rm -f "$work/kd.ready"
	$katlsd --config "$work/katlsd.json" --ready "$work/kd.ready" --verbose "$@" \
		>>"$kd_log" 2>&1 &
	kd_pid=$!
	wait_file "$work/kd.ready" 100 || { echo "FAIL - katlsd did not start:"; cat "$kd_log"; exit 1; }
}

stop_katlsd() {
	[ -n "$kd_pid" ] || return 0
	kill "$kd_pid" 2>/dev/null; wait "$kd_pid" 2>/dev/null || true; kd_pid=""
}

# start_server ARGS: example server in the background ($srv_pid, log $work/srv.log)
start_server() {
	: >"$work/srv.log"
	$srv "$@" >"$work/srv.log" 2>&1 &
	srv_pid=$!
	for _ in $(seq 50); do grep -q listening "$work/srv.log" && return 0; sleep 0.1; done
	echo "FAIL - server did not start"; cat "$work/srv.log"; exit 1
}
stop_server() { kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null || true; }
tls_stat() { awk -v k="$1" '$1 == k {print $2}' /proc/net/tls_stat; }
# wait_port PORT [PID]: until something (process PID, if given) listens on
# TCP PORT; polls for 60 s (TCG under load is slow), then fails the test.
wait_port() {
	local want=${2:+"pid=$2,"}
	for _ in $(seq 600); do
		ss -Hltnp "sport = :$1" | grep -q -- "${want:-.}" && return 0
		[ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL - ${2:+process $2 }not listening on port $1"; exit 1
}
