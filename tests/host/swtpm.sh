# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# tests/host/swtpm.sh: sourceable helper that gives a host test its own swtpm
# (TPM 2.0 simulator) over a socket TCTI.  Source it from bash:
#
#   . "$(dirname "$0")/swtpm.sh"
#   swtpm_start || exit 1        # fresh state dir, free port
#   ...                          # TPM2TOOLS_TCTI and KATLS_TCTI point at it
#   swtpm_stop                   # orderly shutdown; the state dir is kept
#   swtpm_kill                   # power loss (SIGKILL, no TPM2_Shutdown)
#   swtpm_start "$SWTPM_STATE"   # same TPM again (a "reboot")
#
#   swtpm_create_ek_certs CA.key CA.pem [OPTIONS]   # a manufactured TPM:
#   swtpm_start "$SWTPM_STATE"   # RSA and ECC EKs with certificates in NV
#
# After swtpm_start: SWTPM_PORT (command port; control port = +1), SWTPM_STATE
# (state dir), SWTPM_PID, and exported TPM2TOOLS_TCTI = KATLS_TCTI =
# "swtpm:host=127.0.0.1,port=$SWTPM_PORT".  Several instances may run at once
# (e.g. client and server TPMs): the variables describe the latest one, save
# them before starting another; swtpm_stop takes an optional state dir.
#
# Cleanup: swtpm_stop_all stops every instance and deletes the state dirs
# swtpm_start created.  swtpm_start installs "trap swtpm_stop_all EXIT" unless
# the caller already has an EXIT trap; such a caller must call swtpm_stop_all
# from its own trap.  A missing swtpm binary makes swtpm_start fail (return 1)
# with a message: tests must treat that as a failure, not a skip.
#
# swtpm_create_ek_certs makes a fresh state dir (removed by swtpm_stop_all)
# and runs swtpm_setup on it: RSA 2048 and ECC EKs persisted at 0x81010001 /
# 0x81010016, their certificates (signed by CA.key, issuer CA.pem, through
# swtpm_localca) in NV 0x01c00002 / 0x01c00016, and a platform certificate
# in NV 0x01c08000.  It sets SWTPM_STATE; start the TPM with swtpm_start
# "$SWTPM_STATE".  Extra OPTIONS go to swtpm_setup (e.g. --rsa-keysize 3072).
# All CA configuration lives under the state dir: nothing in /etc or $HOME.
#
# Stops are orderly (TPM2_Shutdown, then swtpm's control-channel shutdown):
# a TPM killed without TPM2_Shutdown counts a dictionary-attack failure on
# the next start and eventually locks out DA-protected keys.

_swtpm_created=()		# state dirs made by swtpm_start
declare -A _swtpm_pid_of	# state dir -> pid
declare -A _swtpm_port_of	# state dir -> command port

_swtpm_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits up to ~5 s for pid to accept connections on port.
_swtpm_wait_listen() {
	local pid=$1 port=$2 i
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 1
		_swtpm_port_busy "$port" && return 0
		sleep 0.1
	done
	return 1
}

swtpm_start() {
	local dir=${1:-} port pid try
	if ! command -v swtpm >/dev/null || ! command -v swtpm_ioctl >/dev/null; then
		echo "swtpm.sh: swtpm or swtpm_ioctl not found (apt-get install swtpm swtpm-tools)" >&2
		return 1
	fi
	if [ -z "$dir" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/katls-swtpm.XXXXXX") || return 1
		_swtpm_created+=("$dir")
	fi
	if [ -n "${_swtpm_pid_of[$dir]:-}" ]; then
		echo "swtpm.sh: an swtpm already runs on $dir" >&2
		return 1
	fi
	[ -z "$(trap -p EXIT)" ] && trap swtpm_stop_all EXIT
	for try in $(seq 20); do
		port=$((20000 + (RANDOM % 20000) * 2))
		_swtpm_port_busy "$port" && continue
		_swtpm_port_busy "$((port + 1))" && continue
		swtpm socket --tpm2 --tpmstate dir="$dir" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port="$((port + 1))",bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--log file="$dir/swtpm.log" >>"$dir/swtpm.out" 2>&1 &
		pid=$!
		if _swtpm_wait_listen "$pid" "$port"; then
			_swtpm_pid_of[$dir]=$pid
			_swtpm_port_of[$dir]=$port
			SWTPM_PORT=$port SWTPM_STATE=$dir SWTPM_PID=$pid
			export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
			export KATLS_TCTI=$TPM2TOOLS_TCTI
			return 0
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "swtpm.sh: swtpm did not start (state $dir); its output:" >&2
	tail -n 20 "$dir/swtpm.out" >&2 2>/dev/null
	return 1
}

swtpm_create_ek_certs() {
	local key=$1 cert=$2 dir cfg
	shift 2
	if ! command -v swtpm_setup >/dev/null || ! command -v swtpm_localca >/dev/null; then
		echo "swtpm.sh: swtpm_setup or swtpm_localca not found (apt-get install swtpm-tools)" >&2
		return 1
	fi
	key=$(realpath "$key") && cert=$(realpath "$cert") || return 1
	dir=$(mktemp -d "${TMPDIR:-/tmp}/katls-swtpm.XXXXXX") || return 1
	_swtpm_created+=("$dir")
	cfg=$dir/localca
	mkdir "$cfg" || return 1
	printf %d $((RANDOM * 32768 + RANDOM + 1)) >"$cfg/certserial"	# distinct serials per TPM
	cat >"$cfg/swtpm-localca.conf" <<-EOF
		statedir = $cfg
		signingkey = $key
		issuercert = $cert
		certserial = $cfg/certserial
	EOF
	cat >"$cfg/swtpm-localca.options" <<-EOF
		--platform-manufacturer katls-test
		--platform-version 2.1
		--platform-model swtpm
	EOF
	cat >"$cfg/swtpm_setup.conf" <<-EOF
		create_certs_tool = $(command -v swtpm_localca)
		create_certs_tool_config = $cfg/swtpm-localca.conf
		create_certs_tool_options = $cfg/swtpm-localca.options
		active_pcr_banks = sha256
	EOF
	if ! swtpm_setup --tpm2 --tpmstate "$dir" --create-ek-cert --create-platform-cert \
		--config "$cfg/swtpm_setup.conf" --logfile "$cfg/swtpm_setup.log" "$@" \
		>"$cfg/swtpm_setup.out" 2>&1; then
		echo "swtpm.sh: swtpm_setup failed (state $dir); its output:" >&2
		tail -n 20 "$cfg/swtpm_setup.out" "$cfg/swtpm_setup.log" >&2
		return 1
	fi
	SWTPM_STATE=$dir
}

# swtpm_stop [STATE_DIR]: orderly stop of one instance (default: the latest).
swtpm_stop() {
	local dir=${1:-${SWTPM_STATE:-}} pid port i
	pid=${_swtpm_pid_of[$dir]:-}
	port=${_swtpm_port_of[$dir]:-}
	[ -n "$pid" ] || return 0
	TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port" tpm2_shutdown -c >/dev/null 2>&1
	swtpm_ioctl --tcp "127.0.0.1:$((port + 1))" -s >/dev/null 2>&1
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "swtpm.sh: swtpm $pid did not shut down, killing it" >&2
		kill "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	unset "_swtpm_pid_of[$dir]" "_swtpm_port_of[$dir]"
	return 0
}

# swtpm_kill [STATE_DIR]: SIGKILL one instance, as a power loss would.
swtpm_kill() {
	local dir=${1:-${SWTPM_STATE:-}} pid
	pid=${_swtpm_pid_of[$dir]:-}
	[ -n "$pid" ] || return 0
	{ kill -9 "$pid"; wait "$pid"; } 2>/dev/null
	unset "_swtpm_pid_of[$dir]" "_swtpm_port_of[$dir]"
	return 0
}

swtpm_stop_all() {
	local dir
	for dir in "${!_swtpm_pid_of[@]}"; do
		swtpm_stop "$dir"
	done
	for dir in "${_swtpm_created[@]}"; do
		rm -rf "$dir"
	done
	_swtpm_created=()
}
