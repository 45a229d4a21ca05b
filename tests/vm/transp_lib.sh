# Shared by the tests/vm/test_transparent*.sh (attest rules, docs/transparent.md);
# source it after lib.sh and daemon_lib.sh.  It checks that katls.ko serves
# the kfunc (BTF and registration), and on a failure the EXIT trap shows the
# kernel's and katlsd's last lines.
py=/usr/bin/python3
show_kernel() {
	dmesg | grep -E 'katls|BUG|WARNING|Call Trace|refcount|general protection' | tail -n 15 |
		sed 's/^/    dmesg: /'
}
trap 'rc=$?; set +e; cleanup_daemon; [ "$fails" = 0 ] || { show_kernel; tail -n 30 "$kd_log" | sed "s/^/    katlsd: /"; }; exit $rc' EXIT
[ -e /sys/kernel/btf/katls ] ||
	{ echo "FAIL - katls.ko has no BTF (/sys/kernel/btf/katls): built without pahole?"; exit 1; }
dmesg | grep -q 'kfunc katls_kf_attest registered' ||
	{ echo "FAIL - katls.ko did not register its kfunc:"; dmesg | grep katls | tail -5; exit 1; }

# wait_file_grep PATTERN FILE: until FILE has PATTERN (30 s)
wait_file_grep() {
	for _ in $(seq 300); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
# sniff PORT FILE: capture the loopback traffic of PORT into FILE until unsniff
sniff() {
	: >"$2"; $py "$top/tests/vm/wire_sniff.py" lo "$1" "$2" >"$2.st" 2>&1 & sniff_pid=$!
	wait_file_grep sniffing "$2.st" || { echo "FAIL - wire_sniff did not start"; cat "$2.st"; exit 1; }
}
unsniff() { sleep 0.3; kill "$sniff_pid" 2>/dev/null || true; wait "$sniff_pid" 2>/dev/null || true; }
