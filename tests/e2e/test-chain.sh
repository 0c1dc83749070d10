#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# test-chain.sh: the whole vtc chain with real guests (issue 6), suite e2e. Brings up, with
# tests/e2e/chain.sh, a CA, the registrar, a swtpm as the host's hardware TPM, vtc-hostd on it
# (installed into / with the hook before libvirtd starts), the verifier and a webhook
# receiver, then boots the test guest (qemu/guest/build-guest with vtc-agent) under libvirt as
# a protected VM and checks:
#   1. the guest's agent enrolls: the registrar accepted its vTPM EK certificate because it
#      chains to the vTPM CA key inside the host's (swtpm) TPM: host_id is hostd's id;
#   2. the tenant adds the VM (vtc vm add, a runtime policy made from the guest image) and the
#      verifier reports it `trusted` through the host (placement "channel");
#   3. stopping the VM: the vTPM log records VTPM_STOP, the verifier says `unreachable` (never
#      trusted on old evidence); starting it again: VTPM_START, and the chain (same VM entry)
#      is `trusted` again after the new boot;
#   4. a script the policy does not allow, run in the guest, turns the VM `failed` with reason
#      guest_ima_policy naming it, within two rounds; the signed revocation event reaches the
#      webhook and its signature verifies with GET /v1/revocation-key;
#   5. a second protected VM defined on a copy of the first one's (sealed) vTPM state cannot
#      start;
#   6. with sealing off (two unprotected VMs, the second on a copy of the first's vTPM state),
#      both start, and the verifier fails the first with reason vtpm_clone naming the other.
# Everything is removed at the end and / is checked to be as before.
#
# Root only; skips (77) when something is missing, or when another test keeps libvirtd, a
# vtc-hostd or a vtc install on the machine for longer than $CHAIN_WAIT s (default 600),
# unless VTC_TEST_REQUIRE_ALL is set. Binaries from the environment meson sets (VTC_HOSTD, ...).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
CHAIN_LIB="$here/chain.sh"
CHAIN_SAY_PREFIX="# "
# shellcheck source=tests/e2e/chain.sh
. "$CHAIN_LIB"

failed=0
fail() {
	echo "FAIL: $*" >&2
	failed=1
}
skip() {
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		echo "FAIL: $* (VTC_TEST_REQUIRE_ALL is set)" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ $rc != 0 ] && [ $rc != 77 ] && [ -n "${CHAIN_DIR:-}" ] && [ -d "$CHAIN_DIR/logs" ]; then
		for f in hostd.err verifier.err registrar.err; do
			echo "--- $f (last 30 lines)" >&2
			tail -n 30 "$CHAIN_DIR/logs/$f" >&2 2>/dev/null || true
		done
		for d in "$CHAIN_DIR"/vm/*/; do
			[ -f "$d/console.log" ] || continue
			echo "--- console of $(basename "$d") (vtc lines)" >&2
			cat "$d/console.old" "$d/console.log" 2>/dev/null | grep -a 'vtc-' | tail -n 30 >&2 || true
		done
	fi
	chain_teardown || rc=1
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

chain_init
missing=$(chain_missing | tr '\n' ',' | sed 's/,$//; s/,/, /g')
[ -z "$missing" ] || skip "needs $missing"
chain_wait_machine_free || skip "the machine stays busy: $CHAIN_BUSY"

# ---- the chain ------------------------------------------------------------------------------
chain_ca
chain_hwtpm
chain_registrar
chain_install
chain_hostd
chain_libvirt
chain_guest_image
chain_policy
chain_webhook
chain_verifier
vtpm_log="$CHAIN_DIR/hostd/vtpm.log"
interval_s=$((${CHAIN_INTERVAL_MS:-2000} / 1000))

# log_has UUID TYPE [AFTER_LINE]: the vTPM log has an entry TYPE for UUID after line AFTER_LINE
log_has() {
	tail -n "+$((${3:-0} + 1))" "$vtpm_log" 2>/dev/null |
		grep -q "\"type\":\"$2\".*\"uuid\":\"$1\""
}
wait_log() { # UUID TYPE AFTER_LINE SECONDS
	i=0
	while ! log_has "$1" "$2" "$3"; do
		i=$((i + 1))
		[ $i -lt $(($4 * 5)) ] || return 1
		sleep 0.2
	done
}
log_lines() {
	wc -l <"$vtpm_log"
}

# ---- 1. the protected VM boots and its agent enrolls ----------------------------------------
chain_vm_define a protect
uuid_a=$(chain_vm_uuid a)
chain_vm_start a || chain_die "virsh start of VM a: $CHAIN_START_ERROR"
wait_log "$uuid_a" VTPM_START 0 30 || fail "the vTPM log has no VTPM_START of VM a"
chain_vm_wait_ready a
agent=""
i=0
while [ $i -lt 60 ]; do
	if agent=$(chain_registrar_get "/v1/agents/$uuid_a") &&
		[ "$(chain_json_get "$agent" id)" = "$uuid_a" ]; then
		break
	fi
	agent=""
	sleep 1
	i=$((i + 1))
done
if [ -z "$agent" ]; then
	fail "the registrar does not know VM a's agent after 60 s"
else
	host_id=$(chain_json_get "$agent" host_id)
	if [ "$host_id" = "$CHAIN_HOST_ID" ]; then
		chain_say "check 1: the agent enrolled; the registrar says its vTPM was made by host '$host_id'"
	else
		fail "the agent's host_id is '$host_id', want '$CHAIN_HOST_ID'"
	fi
	# the vTPM EK certificate: issued by hostd's vTPM CA, naming the VM
	chain_json_get "$agent" ek_cert | base64 -d >"$CHAIN_DIR/ek-a.der" 2>/dev/null || true
	ek_text=$(openssl x509 -inform DER -in "$CHAIN_DIR/ek-a.der" -noout -issuer -subject 2>&1) ||
		ek_text=""
	echo "$ek_text" | grep -q "vtc vTPM CA $CHAIN_HOST_ID" ||
		fail "the vTPM EK certificate's issuer is not hostd's vTPM CA: $ek_text"
	chain_say "  vTPM EK certificate: $(echo "$ek_text" | tr '\n' ';')"
fi

# ---- 2. trusted over the full chain ---------------------------------------------------------
chain_vm_add a
if chain_vm_wait_state a trusted 120; then
	placement=$(chain_json_get "$CHAIN_STATUS" placement)
	hid=$(chain_json_get "$CHAIN_STATUS" host_id)
	mode=$(chain_json_get "$CHAIN_STATUS" mode)
	[ "$placement" = channel ] || fail "placement is '$placement', want channel"
	[ "$mode" = host ] || fail "mode is '$mode', want host"
	[ "$hid" = "$CHAIN_HOST_ID" ] || fail "the verifier's host_id is '$hid'"
	chain_say "check 2: VM a is trusted (placement $placement, host $hid, mode $mode)"
else
	fail "VM a is not trusted within 120 s: $CHAIN_STATUS"
fi
# a few more rounds pass
sleep $((interval_s * 2))
chain_vm_wait_state a trusted 1 || fail "VM a did not stay trusted: $CHAIN_STATUS"

# ---- 3. stop and start: the vTPM log records it, trusted again after the new boot -----------
if [ $failed = 0 ]; then
	n=$(log_lines)
	chain_vm_stop a
	if wait_log "$uuid_a" VTPM_STOP "$n" 30; then
		chain_say "check 3: VM a stopped: the vTPM log records VTPM_STOP"
	else
		fail "no VTPM_STOP of VM a in the vTPM log"
	fi
	chain_vm_wait_state a unreachable 60 ||
		fail "VM a is not unreachable after its stop: $CHAIN_STATUS"
	chain_say "  the verifier says $(chain_json_get "$CHAIN_STATUS" state)" \
		"($(chain_json_get "$CHAIN_STATUS" reason))"
	n=$(log_lines)
	t_start=$(date +%s)
	chain_vm_start a || chain_die "virsh start of VM a (again): $CHAIN_START_ERROR"
	wait_log "$uuid_a" VTPM_START "$n" 30 || fail "no new VTPM_START of VM a"
	chain_vm_wait_ready a
	if chain_vm_wait_state a trusted 120; then
		last=$(chain_json_get "$CHAIN_STATUS" last_success)
		[ "$last" -ge "$t_start" ] 2>/dev/null ||
			fail "the trusted verdict ($last) predates the new boot ($t_start)"
		chain_say "check 3: after the new boot VM a is trusted again (same VM entry)"
	else
		fail "VM a (the same verifier entry) is not trusted again after its restart:" \
			"$(chain_json_get "$CHAIN_STATUS" state) $(chain_json_get "$CHAIN_STATUS" reason):" \
			"$(chain_json_get "$CHAIN_STATUS" message)"
		# So that the tamper check still runs: a fresh start for VM a's identity. An admin
		# deletes the agent at the registrar, the agent restarts and enrolls again (with the
		# TLS key it has now), and the tenant deletes and re-adds the VM.
		chain_vm_rm a || fail "vtc vm rm of VM a"
		curl -sS --max-time 20 --cacert "$VTC_CA" --cert "$VTC_CERT" --key "$VTC_KEY" \
			-X DELETE "$CHAIN_REGISTRAR_URL/v1/agents/$uuid_a" >/dev/null ||
			fail "DELETE /v1/agents/$uuid_a at the registrar"
		chain_vm_run a 'killall vtc-agent' >/dev/null || true
		i=0
		until [ "$(chain_json_get "$(chain_registrar_get "/v1/agents/$uuid_a" 2>/dev/null)" state)" = active ]; do
			i=$((i + 1))
			[ $i -lt 60 ] || break
			sleep 1
		done
		chain_vm_add a
		if chain_vm_wait_state a trusted 120; then
			chain_say "check 3 (fallback): VM a, enrolled again and re-added, is trusted after its new boot"
		else
			fail "VM a, re-enrolled and re-added after its restart, is not trusted: $CHAIN_STATUS"
		fi
	fi
fi

# ---- 4. an executable the policy does not allow ---------------------------------------------
if [ "$(chain_json_get "$(chain_vm_json a)" state)" = trusted ]; then
	events0=$(ls "$CHAIN_DIR"/webhook/ | grep -c '^event-' || true)
	out=$(chain_vm_run a "printf '#!/bin/sh\necho tampered\n' >/root/tamper.sh && chmod 755 /root/tamper.sh && /root/tamper.sh") ||
		fail "could not run /root/tamper.sh in the guest"
	[ "$out" = tampered ] || fail "the tamper script said '$out'"
	# counted from when the script has run (the command port's round trip is no round)
	rounds0=$(chain_json_get "$(chain_vm_json a)" counters rounds)
	t0=$(date +%s)
	chain_vm_wait_state a failed $((interval_s * 4 + 30)) || true
	state=$(chain_json_get "$CHAIN_STATUS" state)
	reason=$(chain_json_get "$CHAIN_STATUS" reason)
	message=$(chain_json_get "$CHAIN_STATUS" message)
	rounds1=$(chain_json_get "$CHAIN_STATUS" counters rounds)
	if [ "$state" != failed ]; then
		fail "VM a is $state after running /root/tamper.sh: $CHAIN_STATUS"
	else
		[ "$reason" = guest_ima_policy ] || fail "reason '$reason', want guest_ima_policy"
		echo "$message" | grep -q '/root/tamper.sh' || fail "the message does not name /root/tamper.sh: $message"
		# the round in flight when the script ran may predate it: at most two rounds
		[ $((rounds1 - rounds0)) -le 2 ] ||
			fail "failed after $((rounds1 - rounds0)) rounds (want at most 2)"
		chain_say "check 4: VM a failed after $((rounds1 - rounds0)) round(s)," \
			"$(($(date +%s) - t0)) s: $reason: $message"
	fi
	ev=""
	i=0
	while [ $i -lt 100 ]; do
		ev=$(ls "$CHAIN_DIR"/webhook/event-*.json 2>/dev/null | sed -n "$((events0 + 1))p") || ev=""
		[ -z "$ev" ] || break
		sleep 0.2
		i=$((i + 1))
	done
	if [ -z "$ev" ]; then
		fail "no revocation event reached the webhook within 20 s"
	else
		body=$(cat "$ev")
		[ "$(chain_json_get "$body" event vm)" = "$uuid_a" ] || fail "the event names another VM: $body"
		[ "$(chain_json_get "$body" event reason)" = guest_ima_policy ] ||
			fail "the event's reason is not guest_ima_policy: $body"
		if chain_webhook_verify "$ev"; then
			chain_say "check 4: the revocation event reached the webhook; its signature verifies" \
				"with the verifier's /v1/revocation-key"
		else
			fail "the revocation event's signature does not verify: $body"
		fi
	fi
else
	fail "VM a is not trusted before the tamper check (skipped)"
fi
chain_vm_stop a

# ---- 5. a copy of a protected VM's sealed vTPM state does not start --------------------------
chain_vm_define c protect
uuid_c=$(chain_vm_uuid c)
cp -a "$CHAIN_SWTPM_DIR/$uuid_a" "$CHAIN_SWTPM_DIR/$uuid_c"
if chain_vm_start c; then
	fail "VM c, on a copy of VM a's sealed vTPM state, started"
	chain_vm_stop c
else
	echo "$CHAIN_START_ERROR" | tr 'A-Z' 'a-z' | grep -q tpm ||
		fail "VM c did not start, but not for its TPM: $CHAIN_START_ERROR"
	chain_say "check 5: VM c on a copy of VM a's sealed vTPM state does not start:" \
		"$(echo "$CHAIN_START_ERROR" | tr '\n' ' ' | cut -c1-200)"
fi

# ---- 6. unsealed: the clone starts, and the verifier names it -------------------------------
chain_vm_define b1 plain
chain_vm_define b2 plain
uuid_b1=$(chain_vm_uuid b1)
uuid_b2=$(chain_vm_uuid b2)
# the first start manufactures b1's vTPM (certified by hostd); then a copy for b2
chain_vm_start b1 || chain_die "virsh start of VM b1: $CHAIN_START_ERROR"
chain_vm_stop b1
cp -a "$CHAIN_SWTPM_DIR/$uuid_b1" "$CHAIN_SWTPM_DIR/$uuid_b2"
n=$(log_lines)
chain_vm_start b1 || chain_die "virsh start of VM b1 (again): $CHAIN_START_ERROR"
if chain_vm_start b2; then
	chain_say "check 6: VM b2 on a copy of VM b1's unsealed vTPM state starts"
else
	fail "VM b2 (unsealed clone) did not start: $CHAIN_START_ERROR"
fi
wait_log "$uuid_b2" VTPM_START "$n" 30 || fail "no VTPM_START of VM b2"
ek1=$(grep "\"type\":\"VTPM_START\".*\"uuid\":\"$uuid_b1\"" "$vtpm_log" | tail -n 1 |
	sed -n 's/.*"ek_sha256":"\([0-9a-f]*\)".*/\1/p')
ek2=$(grep "\"type\":\"VTPM_START\".*\"uuid\":\"$uuid_b2\"" "$vtpm_log" | tail -n 1 |
	sed -n 's/.*"ek_sha256":"\([0-9a-f]*\)".*/\1/p')
if [ -n "$ek1" ] && [ "$ek1" = "$ek2" ]; then
	chain_say "  the vTPM log: b1 and b2 started with the same EK (sha256 $(echo "$ek1" | cut -c1-16)...)"
else
	fail "the vTPM log does not show the same EK for b1 ($ek1) and b2 ($ek2)"
fi
chain_vm_wait_ready b1
chain_vm_add b1
chain_vm_wait_state b1 failed 120 || true
state=$(chain_json_get "$CHAIN_STATUS" state)
reason=$(chain_json_get "$CHAIN_STATUS" reason)
message=$(chain_json_get "$CHAIN_STATUS" message)
if [ "$state" = failed ] && [ "$reason" = vtpm_clone ]; then
	if echo "$message" | grep -qiE "$uuid_b2|$(chain_vm_name b2)"; then
		chain_say "check 6: the clone is detected and named: $reason: $message"
	else
		fail "vtpm_clone, but the message does not name VM b2 ($uuid_b2): $message"
	fi
else
	fail "VM b1 with a running clone is '$state' ($reason), want failed/vtpm_clone: $CHAIN_STATUS"
fi

[ $failed = 0 ] || exit 1
chain_say "PASS: the chain end to end (enrollment, trusted, restart, tamper + webhook, sealed clone, unsealed clone)"
