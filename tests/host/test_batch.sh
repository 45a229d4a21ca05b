#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test_batch.sh: quote batching (docs/wire.md "Quote batching") in the
# userspace mode, katls serve against concurrent verifiers (attest_load,
# katls connect), with a real TPM (swtpm) behind tests/host/tpm_delay, the
# latency proxy for tests: every TPM2_Quote takes QUOTE_MS, so requests that
# arrive while one is in flight queue for the next.  Asserts outcomes, never
# timings: that verifiers accepted, which quote batches they saw, how many
# quotes the TPM made, and each failure's reason.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
KATLS_BUILD=${KATLS_BUILD:-$top/build}
KATLS=$KATLS_BUILD/katls
QUOTE_MS=1500

. "$here/swtpm.sh"
. "$here/pki.sh"
. "$here/attest_lib.sh"
. "$here/batch_lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/katls-batch.XXXXXX")
cleanup() {
	serve_kill_all
	batch_cleanup
	rm -rf "$work"
}
trap cleanup EXIT

for tool in openssl tpm2_pcrextend swtpm; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed" >&2; exit 1; }
done
for b in katls tests/host/tpm_delay tests/host/attest_load; do
	[ -x "$KATLS_BUILD/$b" ] || { echo "FAIL: $KATLS_BUILD/$b not built" >&2; exit 1; }
done
batch_setup "$work" "$QUOTE_MS" || { echo "FAIL: set-up (PKI, swtpm, tpm_delay, AK)" >&2; exit 1; }

show() { sed 's/^/    /' "$work/load.out" "$work/load.err" >&2; sed 's/^/    serve: /' "$BS_LOG" >&2; }

# want NAME COND...: the condition holds, else FAIL with the outputs
want() {
	local name=$1
	shift
	if "$@"; then echo "ok: $name"; else fail "$name"; show; fi
}

# ---- 1. natural batching: 8 verifiers at once, one quote in flight ---------
# The first request finds the TPM idle and goes straight to it (with those
# that arrived with it); the ones that arrive during that quote share the
# next one.
scenario_batching() {
	local q0
	batch_serve || { fail "batching: serve"; return; }
	q0=$(batch_quotes)
	batch_load -c 8 -n 8
	want "batching: all 8 verified with their own binder" \
		[ "$LOAD_RC" = 0 -a "$(load_field ok)" = 8 ]
	want "batching: some verifiers saw a shared quote (batched=$(load_field batched))" \
		[ "$(load_field batched)" -ge 2 ]
	want "batching: fewer quotes than connections ($(($(batch_quotes) - q0)) for 8)" \
		[ $(($(batch_quotes) - q0)) -lt 8 ]
	batch_serve_stop
}

# ---- 2. batching on and off on either side --------------------------------
# serve --no-batch quotes every request alone; a verifier with --no-batch does
# not offer batching, so the server quotes its request alone.  Every
# combination verifies; quotes are shared only when both ends want it.
scenario_interop() {
	local s c q0 q want_q
	for s in on off; do
		for c in on off; do
			if [ $s = on ]; then batch_serve; else batch_serve --no-batch; fi ||
				{ fail "interop: serve"; return; }
			q0=$(batch_quotes)
			if [ $c = on ]; then batch_load -c 4 -n 4; else batch_load -c 4 -n 4 --no-batch; fi
			q=$(($(batch_quotes) - q0))
			want "interop: serve batching $s, verifier batching $c: 4/4 verified" \
				[ "$LOAD_RC" = 0 -a "$(load_field ok)" = 4 ]
			if [ $s = on ] && [ $c = on ]; then
				want "interop: both on: shared quotes ($q quotes for 4)" \
					[ "$(load_field batched)" -ge 2 -a "$q" -lt 4 ]
			else
				want "interop: $s/$c: a quote of its own each (no batch record, $q quotes)" \
					[ "$(load_field batched)" = 0 -a "$q" = 4 ]
			fi
			batch_serve_stop
		done
	done
}

# ---- 3. katls connect shows the batch; a saved batched exchange re-verifies --
scenario_connect() {
	local i pids=()
	batch_serve || { fail "connect: serve"; return; }
	for i in 1 2 3 4; do
		"$KATLS" connect "127.0.0.1:$BS_PORT" --ca "$work/ca.pem" --name server.test \
			--policy "$work/p.json" --json --save-evidence "$work/saved$i" \
			>"$work/c$i.json" 2>"$work/c$i.err" &
		pids+=($!)
	done
	for i in 1 2 3 4; do wait "${pids[$((i - 1))]}" || fail "connect $i: exit $?"; done
	want "connect: every katls connect accepted" \
		[ "$(grep -l '"result": *"accepted"' "$work"/c?.json | wc -l)" = 4 ]
	i=$(grep -l '"quote_batch"' "$work"/c?.json | head -n1 | sed 's/.*c\([0-9]\)\.json/\1/')
	want "connect: a verdict names its quote batch (size, index)" \
		grep -q '"size": *[2-9]' "$work/c${i:-0}.json"
	"$KATLS" verify --dir "$work/saved${i:-0}" --policy "$work/p.json" --json \
		>"$work/v.json" 2>&1
	want "connect: the saved batched exchange re-verifies offline" \
		grep -q '"result": *"accepted"' "$work/v.json"
	want "connect: ... and is still a quote batch" grep -q '"quote_batch"' "$work/v.json"
	batch_serve_stop
}

# ---- 4. the TPM fails mid-batch ---------------------------------------------
# One request's quote is in flight; the TPM then fails; the six requests
# queued behind it are one batch, whose quote fails: each of them is refused
# (an empty authenticator: the server attests to nothing) with the TPM's
# reason in the server's log, none is accepted.  The TPM works again after.
scenario_tpm_failure() {
	local n
	batch_serve || { fail "failure: serve"; return; }
	n=$(($(grep -c '^quote [0-9]* started' "$work/proxy.log") + 1))
	"$KATLS_BUILD/tests/host/attest_load" connect "127.0.0.1:$BS_PORT" --ca "$work/ca.pem" \
		--policy "$work/p.json" --name server.test -c 1 >"$work/first.out" 2>&1 &
	local first=$!
	batch_wait_quote_started "$n" || { fail "failure: first quote did not start"; return; }
	touch "$work/tpm-fails"
	batch_load -c 6 -n 6
	wait "$first"
	want "failure: the request quoted before the failure is accepted" \
		grep -q "ok=1 failed=0" "$work/first.out"
	want "failure: all six requests of the failed batch refused" \
		[ "$LOAD_RC" = 1 -a "$(load_field ok)" = 0 -a "$(load_field failed)" = 6 ]
	want "failure: each refused as an empty authenticator (the server would not attest)" \
		grep -q "failure reason=ea-empty count=6" "$work/load.out"
	want "failure: the server names the TPM failure and the batch" \
		[ "$(grep -c 'cannot attest: TPM quote for a batch of [0-9]* requests failed: TPM2_Quote: Input/output error' "$BS_LOG")" = 6 ]
	want "failure: the TPM answered that quote with a failure" \
		grep -q "^quote $((n + 1)) failed" "$work/proxy.log"
	rm -f "$work/tpm-fails"
	batch_load -c 1
	want "failure: the TPM works again for the next request" [ "$LOAD_RC" = 0 ]
	batch_serve_stop
}

# ---- 4b. the TPM is lost mid-quote -----------------------------------------
# A quote is never answered: the proxy closes the attester's TPM connection,
# as a chip whose command timed out leaves the TCTI with an I/O failure and
# ESAPI in its error state.  That request is refused; the attester reconnects
# and the next request, to the same long-lived server, is accepted.
scenario_tpm_lost() {
	batch_serve || { fail "lost: serve"; return; }
	touch "$work/tpm-drops"
	batch_load -c 1
	want "lost: the request whose quote was dropped is refused" \
		[ "$LOAD_RC" = 1 -a "$(load_field failed)" = 1 ]
	want "lost: the proxy dropped that quote" grep -q "^quote [0-9]* dropped" "$work/proxy.log"
	rm -f "$work/tpm-drops"
	batch_load -c 2 -n 2
	want "lost: the same server attests again after reconnecting to the TPM" \
		[ "$LOAD_RC" = 0 -a "$(load_field ok)" = 2 ]
	batch_serve_stop
}

# ---- 5. nothing waits forever ---------------------------------------------
# The server waits at most its --timeout (1 s) for a quote that takes 1.5 s:
# the request whose quote is in flight and the one queued behind it both give
# up and are refused; the server stays up for the next.
scenario_timeouts() {
	batch_serve --timeout 1 || { fail "timeouts: serve"; return; }
	batch_load -c 2 -n 2 --timeout 10
	want "timeouts: both requests refused" [ "$(load_field failed)" = 2 ]
	want "timeouts: the server gave up waiting for the TPM" \
		[ "$(grep -c 'cannot attest: no TPM quote within 1000 ms' "$BS_LOG")" = 2 ]
	kill -0 "$BS_PID" 2>/dev/null
	want "timeouts: the server is still running" [ $? = 0 ]
	batch_serve_stop
}

# ---- 6. a broken batch proof travels as a refusal with its reason ----------
# Test hooks of the attester (katls(8)): batch-sibling flips a bit of a
# sibling hash in the proof; binder makes the TPM quote another value, which
# in a batch is a root the proof does not lead to.
scenario_flaws() {
	local hook
	KATLS_TEST_CORRUPT=batch-sibling batch_serve || { fail "flaws: serve"; return; }
	batch_load -c 4 -n 4
	want "flaws: batch-sibling: the shared quotes refused (failed=$(load_field failed))" \
		[ "$(load_field failed)" -ge 2 ]
	want "flaws: batch-sibling: ... each as batch-inclusion, quotes of their own accepted" \
		grep -q "failure reason=batch-inclusion count=$(load_field failed)\$" "$work/load.out"
	want "flaws: batch-sibling: ... no accepted connection had a shared quote" \
		[ "$(load_field batched)" = 0 ]
	batch_serve_stop
	KATLS_TEST_CORRUPT=binder batch_serve || { fail "flaws: serve"; return; }
	batch_load -c 4 -n 4
	want "flaws: binder: nothing accepted" [ "$(load_field ok)" = 0 ]
	want "flaws: binder: shared quotes refused as batch-root, others as binder" \
		[ "$(grep -Ec 'failure reason=(batch-root|binder) ' "$work/load.out")" -ge 1 ] &&
		! grep -q "failure reason=" <(grep -Ev 'reason=(batch-root|binder) ' "$work/load.out")
	want "flaws: binder: some refused as batch-root" grep -q "failure reason=batch-root" \
		"$work/load.out"
	batch_serve_stop
}

scenario_batching
scenario_interop
scenario_connect
scenario_tpm_failure
scenario_tpm_lost
scenario_timeouts
scenario_flaws

[ -n "${KEEP:-}" ] && trap - EXIT
if [ "$FAILURES" -gt 0 ]; then
	echo "test_batch: $FAILURES failure(s)" >&2
	exit 1
fi
echo "test_batch: all scenarios passed"
