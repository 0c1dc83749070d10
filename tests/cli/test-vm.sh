#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `vtc vm add|status|list|history|rm` against the real vtc-verifier and vtc-registrar on
# loopback, with certificates made by `vtc ca`: table and --json output, the exit codes, where
# the connection settings come from, and the errors (unknown VM, unreachable server, missing or
# foreign certificate, bad policy). A small HTTPS stand-in (python3) plays a verifier with
# answers the real one only gives after a real attack (a failed VM, paged lists) or never
# (garbage).
set -eu
skip() {
	[ -n "${VTC_TEST_REQUIRE_ALL:-}" ] && { echo "FAIL: $*"; exit 1; }
	echo "$*: skipping"
	exit 77
}
[ -x "${VTC:-}" ] || skip "VTC is not set"
[ -x "${VTC_VERIFIER:-}" ] || skip "VTC_VERIFIER is not built"
[ -x "${VTC_REGISTRAR:-}" ] || skip "VTC_REGISTRAR is not built"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"

# the system's python when there is one (a pyenv shim costs a second per call)
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3

tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in out err; do [ -s "$tmp/$f" ] && sed "s/^/  $f: /" "$tmp/$f"; done
	for f in registrar verifier fake; do
		[ -s "$tmp/$f.log" ] && tail -n 20 "$tmp/$f.log" | sed "s/^/  $f: /"
	done
	exit 1
}
# a clean environment: only what each case sets
unset VTC_VERIFIER_URL VTC_REGISTRAR_URL VTC_CA VTC_CERT VTC_KEY VTC_TIMEOUT VTC_CLIENT_CONFIG \
	2>/dev/null || true
export XDG_CONFIG_HOME="$tmp/xdg"

run() { # run ARGS...: $rc, $tmp/out, $tmp/err
	set +e
	"$VTC" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
}
expect_ok() { [ "$rc" -eq 0 ] || fail "exit $rc, expected 0: $*"; [ ! -s "$tmp/err" ] || fail "stderr on success: $*"; }
expect_fail() { # expect_fail RC STDERR-PATTERN
	[ "$rc" -eq "$1" ] || fail "exit $rc, expected $1 (for '$2')"
	grep -q -- "$2" "$tmp/err" || fail "stderr lacks '$2'"
	[ ! -s "$tmp/out" ] || fail "stdout on failure"
}
out_has() { grep -q -- "$1" "$tmp/out" || fail "stdout lacks '$1'"; }
out_lacks() { ! grep -q -- "$1" "$tmp/out" || fail "stdout has '$1'"; }
json() { # json EXPR: python's value of EXPR over the parsed stdout `j`
	"$PYTHON" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$tmp/out"
}
wait_port() { # wait_port LOG NAME: the port the daemon printed
	i=0
	while ! grep -q "^$2: listening on port" "$1"; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "$2 did not start"
		sleep 0.1
	done
	sed -n "s/^$2: listening on port \([0-9]*\)$/\1/p" "$1"
}

# ---- --help: the workflow, every option, the states, the exit status --------------------
run vm --help
expect_ok "vm --help"
for s in "vtc ca issue" "vtc vm add" "vtc vm status" "vtc vm list" "vtc vm history" "vtc vm rm" \
	registered trusted failed unreachable agent_not_enrolled hostd_unreachable ima_policy \
	"Exit status" VTC_VERIFIER_URL VTC_CA VTC_CERT VTC_KEY client.conf /etc/vtc/client.conf \
	--verifier --ca --cert --key --config --timeout --json; do
	out_has "$s"
done
for cmd in add status list history rm; do
	run vm "$cmd" --help
	expect_ok "vm $cmd --help"
	out_has "Usage:"
	out_has "vtc vm $cmd"
	for s in --verifier --ca --cert --key --config --timeout --json "Exit status" "Example" \
		VTC_VERIFIER_URL client.conf; do
		out_has "$s"
	done
done
run vm add --help
for s in --runtime-policy --boot-policy --host-policy --mode --agent-url "keylime-policy"; do out_has "$s"; done
run vm list --help
for s in --state --long; do out_has "$s"; done
run vm history --help
for s in --limit --before revocation; do out_has "$s"; done
run vm status --help
out_has "1  the VM is failed"
run --help
expect_ok "--help"
for s in "vm " "host " "vtc ca issue tenant" "4 server unreachable" "5 the server refused"; do out_has "$s"; done

# ---- usage errors (exit 2), before any connection -----------------------------------------
run vm
expect_fail 2 "Usage: vtc vm"
run vm frob
expect_fail 2 "unknown command 'frob'"
run vm status
expect_fail 2 "expected the VM's UUID"
run vm status not-a-uuid
expect_fail 2 "'not-a-uuid' is not a UUID"
run vm status 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f extra
expect_fail 2 "unexpected argument 'extra'"
run vm list --frob
expect_fail 2 "Unknown option --frob"
run vm list --state happy
expect_fail 2 "--state must be"
run vm add 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f
expect_fail 2 "--runtime-policy FILE is required"
run vm add 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f -r /dev/null --mode sideways
expect_fail 2 "--mode must be host or direct"
run vm add 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f -r /dev/null --mode direct
expect_fail 2 "needs --agent-url"
run vm add 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f -r /dev/null --agent-url https://x:1
expect_fail 2 "for --mode direct only"
run vm history 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f --limit 0
expect_fail 2 "--limit must be 1 to 1000"
run vm history 6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f --limit 1001
expect_fail 2 "--limit must be 1 to 1000"
# no certificate anywhere
run vm list --ca /dev/null
expect_fail 2 "no client certificate"
run vm list --verifier http://127.0.0.1:1 --cert x.crt
expect_fail 2 "is not https://HOST"
run vm list --cert x.crt --timeout 0 --verifier https://127.0.0.1:1
expect_fail 2 "timeout must be"

# ---- the deployment's TLS: a CA, the daemons' and the tenant's certificates ----------------
"$VTC" ca init --dir "$tmp/tls" >/dev/null || fail "vtc ca init"
for n in registrar verifier tenant; do
	"$VTC" ca issue --dir "$tmp/tls" --san IP:127.0.0.1 "$n" >/dev/null || fail "vtc ca issue $n"
done
"$VTC" ca init --dir "$tmp/other" --cn "another CA" >/dev/null || fail "vtc ca init other"
"$VTC" ca issue --dir "$tmp/other" stranger >/dev/null || fail "vtc ca issue stranger"
T=$tmp/tls

# ---- the real registrar and verifier ------------------------------------------------------
mkdir "$tmp/ek-ca" "$tmp/vstate"
cat >"$tmp/registrar.conf" <<EOF
[server]
address = 127.0.0.1
port = 0
[tls]
cert = $T/registrar.crt
key = $T/registrar.key
client_ca = $T/ca.crt
[database]
path = $tmp/registrar.db
[ek]
trust_store = $tmp/ek-ca
EOF
"$VTC_REGISTRAR" --config "$tmp/registrar.conf" >"$tmp/registrar.out" 2>"$tmp/registrar.log" &
registrar_pid=$!
pids="$pids $registrar_pid"
rport=$(wait_port "$tmp/registrar.out" vtc-registrar)
cat >"$tmp/verifier.conf" <<EOF
[server]
address = 127.0.0.1
port = 0
[tls]
cert = $T/verifier.crt
key = $T/verifier.key
client_ca = $T/ca.crt
ca = $T/ca.crt
[database]
path = $tmp/verifier.db
[state]
dir = $tmp/vstate
[registrar]
url = https://127.0.0.1:$rport
[rounds]
interval_ms = 200
timeout_ms = 5000
backoff_max_ms = 400
flush_ms = 50
EOF
"$VTC_VERIFIER" --config "$tmp/verifier.conf" >"$tmp/verifier.out" 2>"$tmp/verifier.log" &
pids="$pids $!"
vport=$(wait_port "$tmp/verifier.out" vtc-verifier)
V="--verifier https://127.0.0.1:$vport --ca $T/ca.crt --cert $T/tenant.crt --key $T/tenant.key"

u1=6f1c0a2e-1b2c-4d3e-8f40-5a6b7c8d9e0f
u2=0a000000-0000-4000-8000-000000000002
U2=0A000000-0000-4000-8000-000000000002
h64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
printf '{"meta": {"version": 1}, "digests": {"/usr/bin/bash": ["%s"]}, "excludes": []}\n' \
	"$h64" >"$tmp/policy.json"
printf '{"pcrs": {"sha256": {"0": "%s", "7": "%s"}}}\n' "$h64" "$h64" >"$tmp/boot.json"

# ---- empty -------------------------------------------------------------------------------
# shellcheck disable=SC2086
run vm list $V
expect_ok "empty list"
out_has "no VMs are watched"
# shellcheck disable=SC2086
run vm list $V --json
expect_ok "empty list --json"
[ "$(json 'len(j["vms"])')" = 0 ] || fail "empty --json list"

# ---- add ---------------------------------------------------------------------------------
# shellcheck disable=SC2086
run vm add $u1 $V --runtime-policy "$tmp/policy.json" --boot-policy "$tmp/boot.json"
expect_ok "add"
out_has "watching $u1: registered"
out_has "vtc vm status $u1"
# upper case in, lower case out; --json is the server's answer
# shellcheck disable=SC2086
run vm add $U2 $V --json -r "$tmp/policy.json" --host-policy "$tmp/boot.json"
expect_ok "add --json"
[ "$(json 'j["uuid"]')" = "$u2" ] || fail "add --json uuid"
[ "$(json 'j["state"]')" = registered ] || fail "add --json state"
# twice: refused by the server (409 conflict), exit 5
# shellcheck disable=SC2086
run vm add $u1 $V -r "$tmp/policy.json"
expect_fail 5 "verifier: conflict: .*(HTTP 409)"
# a policy file that is missing or not JSON: exit 3, nothing sent
# shellcheck disable=SC2086
run vm add 0a000000-0000-4000-8000-000000000003 $V -r "$tmp/missing.json"
expect_fail 3 "the runtime policy: .*missing.json"
printf 'not json' >"$tmp/bad.json"
# shellcheck disable=SC2086
run vm add 0a000000-0000-4000-8000-000000000003 $V -r "$tmp/policy.json" --boot-policy "$tmp/bad.json"
expect_fail 3 "the boot policy $tmp/bad.json: malformed JSON"
# JSON the verifier's policy parser refuses: exit 5 with invalid_data
printf '{"digests": 7}' >"$tmp/wrong.json"
# shellcheck disable=SC2086
run vm add 0a000000-0000-4000-8000-000000000003 $V -r "$tmp/wrong.json"
expect_fail 5 "verifier: invalid_data: .*(HTTP 400)"
# direct mode with its agent URL
# shellcheck disable=SC2086
run vm add 0a000000-0000-4000-8000-000000000004 $V -r "$tmp/policy.json" --mode direct \
	--agent-url https://127.0.0.1:9
expect_ok "add direct"

# ---- status: the agent never enrolled, so `registered` with agent_not_enrolled ------------
i=0
while :; do
	# shellcheck disable=SC2086
	run vm status $u1 $V --json
	[ "$rc" -eq 0 ] || fail "status --json exit $rc"
	[ "$(json 'j["reason"]')" = agent_not_enrolled ] && break
	i=$((i + 1))
	[ $i -lt 100 ] || fail "no round said agent_not_enrolled"
	sleep 0.1
done
[ "$(json 'j["uuid"]')" = "$u1" ] || fail "status --json uuid"
[ "$(json 'j["state"]')" = registered ] || fail "status --json state"
[ "$(json 'j["mode"]')" = host ] || fail "status --json mode"
[ "$(json 'j["has_boot_policy"]')" = True ] || fail "status --json has_boot_policy"
[ "$(json 'j["has_host_policy"]')" = False ] || fail "status --json has_host_policy"
[ "$(json 'j["last_verdict"]')" = None ] || fail "status --json last_verdict"
# shellcheck disable=SC2086
run vm status $u1 $V
expect_ok "status"
out_has "^VM  *$u1$"
out_has "^State  *registered$"
out_has "^Reason  *agent_not_enrolled$"
out_has "^Mode  *host$"
out_has "^Placement  *-$"
out_has "^Last verdict  *none yet$"
out_has "^Policies  *runtime, boot$"
out_has "^Rounds  *[0-9]* ([0-9]* passed, 0 failed, [0-9]* without evidence)$"
out_has "^Added  *[0-9]*s ago ([0-9-]* [0-9:]*Z)$"
out_has "^Next round  *"
# upper case UUIDs work too
# shellcheck disable=SC2086
run vm status $U2 $V
expect_ok "status upper case"
out_has "^VM  *$u2$"
out_has "^Policies  *runtime, host$"
# shellcheck disable=SC2086
run vm status 0a000000-0000-4000-8000-000000000004 $V
expect_ok "status direct"
out_has "^Mode  *direct (agent https://127.0.0.1:9)$"

# ---- list --------------------------------------------------------------------------------
# shellcheck disable=SC2086
run vm list $V
expect_ok "list"
head -n 1 "$tmp/out" | grep -q "^UUID  *STATE  *REASON  *MODE  *HOST  *SINCE$" || fail "list header"
[ "$(wc -l <"$tmp/out")" -eq 4 ] || fail "list: expected a header and 3 rows"
# UUID order, aligned columns: the STATE column starts at the same offset in every line
sed -n 2p "$tmp/out" | grep -q "^$u2  *registered  *agent_not_enrolled  *host  *-  *[0-9]*s ago$" ||
	fail "list row 1"
sed -n 3p "$tmp/out" | grep -q "^0a000000-0000-4000-8000-000000000004  *registered  .* direct " ||
	fail "list row 2"
sed -n 4p "$tmp/out" | grep -q "^$u1  *registered  *agent_not_enrolled  *host " || fail "list row 3"
[ "$(awk '{ print index($0, "registered") }' "$tmp/out" | sed 1d | sort -u | wc -l)" -eq 1 ] ||
	fail "list columns are not aligned"
[ "$(head -n 1 "$tmp/out" | awk '{ print index($0, "STATE") }')" = \
	"$(sed -n 2p "$tmp/out" | awk '{ print index($0, "registered") }')" ] || fail "header not aligned"
# shellcheck disable=SC2086
run vm list $V --json
expect_ok "list --json"
[ "$(json '[v["uuid"] for v in j["vms"]]')" = \
	"['$u2', '0a000000-0000-4000-8000-000000000004', '$u1']" ] || fail "list --json uuids"
[ "$(json 'j["vms"][2]["state"]')" = registered ] || fail "list --json state"
# shellcheck disable=SC2086
run vm list $V --long
expect_ok "list --long"
head -n 1 "$tmp/out" | grep -q "SINCE  *LAST VERDICT  *PLACEMENT$" || fail "list --long header"
# shellcheck disable=SC2086
run vm list $V --long --json
expect_ok "list --long --json"
[ "$(json 'j["vms"][2]["has_boot_policy"]')" = True ] || fail "list --long --json: full objects"
# shellcheck disable=SC2086
run vm list $V --state trusted
expect_ok "list --state"
out_has "no VMs are trusted"
# shellcheck disable=SC2086
run vm list $V --state failed --json
expect_ok "list --state failed --json"
[ "$(json 'j')" = "{'vms': []}" ] || fail "list --state failed --json"
# (which VMs are registered right now may change under load: the filter's exact query is
# checked with the stand-in below)
# shellcheck disable=SC2086
run vm list $V --state registered --json
expect_ok "list --state registered --json"
[ "$(json 'all(v["state"] == "registered" for v in j["vms"])')" = True ] ||
	fail "list --state registered --json"

# ---- history -----------------------------------------------------------------------------
# shellcheck disable=SC2086
run vm history $u1 $V --json
expect_ok "history --json"
[ "$(json 'j["uuid"]')" = "$u1" ] || fail "history --json uuid"
[ "$(json '[e["kind"] for e in j["events"]][-1]')" = added ] || fail "history: the oldest is added"
# shellcheck disable=SC2086
run vm history $u1 $V
expect_ok "history"
head -n 1 "$tmp/out" | grep -q "^SEQ  *TIME  *AGE  *KIND  *STATE  *RESULT  *REASON  *DETAILS$" ||
	fail "history header"
grep -q "^[0-9][0-9]*  *[0-9-]* [0-9:]*Z  *[0-9]*s ago  *added  *registered " "$tmp/out" ||
	fail "history: no added row"

# ---- the registrar goes away: unreachable with registrar_unreachable, and in the history --
kill "$registrar_pid"
wait "$registrar_pid" 2>/dev/null || true
i=0
while :; do
	# shellcheck disable=SC2086
	run vm status $u1 $V --json
	[ "$rc" -eq 0 ] || fail "status --json exit $rc while unreachable"
	[ "$(json 'j["state"]')" = unreachable ] && break
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the VM did not become unreachable"
	sleep 0.1
done
[ "$(json 'j["reason"]')" = registrar_unreachable ] || fail "unreachable reason"
# shellcheck disable=SC2086
run vm status $u1 $V
expect_ok "status unreachable (exit 0: not failed)"
out_has "^State  *unreachable$"
out_has "^Reason  *registrar_unreachable$"
# the history is written in batches: wait for the change of state to be there
i=0
while :; do
	# shellcheck disable=SC2086
	run vm history $u1 $V --limit 1
	expect_ok "history --limit 1"
	grep -q "  state  *unreachable" "$tmp/out" && break
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the change to unreachable is not in the history"
	sleep 0.1
done
[ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "history --limit 1: header, one row, the next page"
sed -n 2p "$tmp/out" | grep -q "  state  *unreachable  *-  *registrar_unreachable" ||
	fail "history: the newest is the change to unreachable"
out_has "^(older events: --before [0-9]*)$"
before=$(sed -n 's/^(older events: --before \([0-9]*\))$/\1/p' "$tmp/out")
# shellcheck disable=SC2086
run vm history $u1 $V --before "$before" --json
expect_ok "history --before"
[ "$(json 'all(e["seq"] <= '"$before"' for e in j["events"])')" = True ] || fail "--before"

# ---- errors from the real verifier --------------------------------------------------------
unknown=0b000000-0000-4000-8000-0000000000ff
for cmd in status history rm; do
	# shellcheck disable=SC2086
	run vm $cmd $unknown $V
	expect_fail 5 "vtc: verifier: not_found: .*(HTTP 404)"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "one line on stderr for an unknown VM"
done
# a certificate of another CA: the verifier answers 401
# shellcheck disable=SC2086
run vm list --verifier "https://127.0.0.1:$vport" --ca "$T/ca.crt" --cert "$tmp/other/stranger.crt"
expect_fail 5 "verifier: unauthorized: .*(HTTP 401); is --cert a certificate of the deployment's CA"
# a server certificate that does not chain to --ca: no usable answer
# shellcheck disable=SC2086
run vm list --verifier "https://127.0.0.1:$vport" --ca "$tmp/other/ca.crt" --cert "$T/tenant.crt"
expect_fail 4 "cannot reach the verifier at https://127.0.0.1:$vport"
# missing or unreadable files: exit 3
# shellcheck disable=SC2086
run vm list --verifier "https://127.0.0.1:$vport" --ca "$T/ca.crt" --cert "$tmp/missing.crt"
expect_fail 3 "the client certificate (--cert): .*missing.crt"
# shellcheck disable=SC2086
run vm list --verifier "https://127.0.0.1:$vport" --ca "$tmp/missing-ca.crt" --cert "$T/tenant.crt"
expect_fail 3 "the CA (--ca): .*missing-ca.crt"
run vm list --verifier "https://127.0.0.1:$vport" --ca "$T/ca.crt" --cert "$T/tenant.crt" \
	--key "$tmp/other/stranger.key"
expect_fail 3 "the client key (--key) .*stranger.key is not the key of the certificate .*tenant.crt"
# nothing listens: exit 4
# shellcheck disable=SC2086
run vm status $u1 --verifier "https://127.0.0.1:$rport" --ca "$T/ca.crt" --cert "$T/tenant.crt"
expect_fail 4 "cannot reach the verifier at https://127.0.0.1:$rport"

# ---- where the settings come from: option > environment > configuration file --------------
# the key defaults to the certificate's name with .key
run vm list --verifier "https://127.0.0.1:$vport" --ca "$T/ca.crt" --cert "$T/tenant.crt"
expect_ok "the default key"
# the environment alone
VTC_VERIFIER_URL="https://127.0.0.1:$vport" VTC_CA="$T/ca.crt" VTC_CERT="$T/tenant.crt" \
	VTC_KEY="$T/tenant.key" run vm list
expect_ok "environment"
out_has "^$u1 "
# the user's configuration file
mkdir -p "$XDG_CONFIG_HOME/vtc"
cat >"$XDG_CONFIG_HOME/vtc/client.conf" <<EOF
[verifier]
url = https://127.0.0.1:$vport
[tls]
ca = $T/ca.crt
cert = $T/tenant.crt
key = $T/tenant.key
[client]
timeout = 10
EOF
run vm list
expect_ok "user configuration"
out_has "^$u1 "
# the environment wins over the file, the option over both
VTC_VERIFIER_URL="https://127.0.0.1:$rport" run vm list
expect_fail 4 "cannot reach the verifier at https://127.0.0.1:$rport"
VTC_VERIFIER_URL="https://127.0.0.1:$rport" run vm list --verifier "https://127.0.0.1:$vport"
expect_ok "option over environment"
VTC_CERT="$tmp/other/stranger.crt" VTC_KEY="$tmp/other/stranger.key" run vm list
expect_fail 5 "unauthorized"
# --config / VTC_CLIENT_CONFIG name another file, which must exist and be valid
printf '[verifier]\nurl = https://127.0.0.1:%s\n' "$rport" >"$tmp/alt.conf"
run vm list --config "$tmp/alt.conf" --cert "$T/tenant.crt" --ca "$T/ca.crt"
expect_fail 4 "https://127.0.0.1:$rport"
VTC_CLIENT_CONFIG="$tmp/alt.conf" run vm list --cert "$T/tenant.crt" --ca "$T/ca.crt"
expect_fail 4 "https://127.0.0.1:$rport"
run vm list --config "$tmp/missing.conf"
expect_fail 3 "missing.conf does not exist"
printf '[verifier]\nurll = x\n' >"$tmp/typo.conf"
run vm list --config "$tmp/typo.conf"
expect_fail 3 "typo.conf"
rm -rf "$XDG_CONFIG_HOME"

# ---- rm ----------------------------------------------------------------------------------
# shellcheck disable=SC2086
run vm rm $u1 $V
expect_ok "rm"
out_has "^deleted $u1$"
# shellcheck disable=SC2086
run vm rm $U2 $V --json
expect_ok "rm --json"
[ "$(json 'j["deleted"]')" = "$u2" ] || fail "rm --json"
# shellcheck disable=SC2086
run vm status $u1 $V
expect_fail 5 "not_found"
# shellcheck disable=SC2086
run vm history $u1 $V
expect_fail 5 "not_found"
# shellcheck disable=SC2086
run vm list $V --json
[ "$(json '[v["uuid"] for v in j["vms"]]')" = "['0a000000-0000-4000-8000-000000000004']" ] ||
	fail "list after rm"

# ---- a stand-in verifier: a failed VM, paged lists, garbage --------------------------------
cat >"$tmp/fake.py" <<'PY'
import http.server, json, ssl, sys, time

tls, portfile = sys.argv[1], sys.argv[2]
FAILED = "0c000000-0000-4000-8000-000000000001"
NOW = int(time.time())
STATUS = {"uuid": FAILED, "state": "failed", "mode": "host", "agent_url": None,
          "reason": "ima_policy", "message": "#812 /tmp/x sha256:00: digest not in policy\x1b[2J",
          "placement": "channel", "host_id": "host-17",
          "last_verdict": {"time": NOW - 300, "result": "fail", "reason": "ima_policy",
                           "message": "x", "placement": "channel"},
          "created": NOW - 86400 * 3, "updated": NOW - 300, "last_attempt": NOW - 300,
          "last_success": NOW - 3000, "next_round": None, "backoff_ms": 0,
          "counters": {"rounds": 62, "passes": 61, "failures": 1, "unreachable": 0},
          "ima_offset": 81920, "has_boot_policy": True, "has_host_policy": True}
PAGE1 = {"vms": [{"uuid": "0c000000-0000-4000-8000-00000000000%d" % i, "state": "trusted",
                  "mode": "host", "reason": None, "host_id": "h", "updated": 1} for i in (1, 2)],
         "next": "0c000000-0000-4000-8000-000000000002"}
PAGE2 = {"vms": [{"uuid": "0c000000-0000-4000-8000-000000000003", "state": "failed",
                  "mode": "direct", "reason": "nonce_mismatch", "host_id": None, "updated": 1}],
         "next": None}
HISTORY = {"uuid": FAILED, "next": None, "events": [
    {"seq": 17, "time": NOW - 300, "kind": "revocation", "state": "failed",
     "reason": "ima_policy", "message": "digest not in policy",
     "event": {"type": "revocation"}, "signature": "AA==", "delivered": 1, "undelivered": 1},
    {"seq": 16, "time": NOW - 300, "kind": "verdict", "state": "failed", "result": "fail",
     "reason": "ima_policy", "message": "digest not in policy", "placement": "channel"}]}

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def send(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        p = self.path
        if p == "/v1/vms/" + FAILED:
            self.send(200, STATUS)
        elif p == "/v1/vms/" + FAILED + "/history?limit=100":
            self.send(200, HISTORY)
        elif p == "/v1/vms?limit=1000":
            self.send(200, PAGE1)
        elif p == "/v1/vms?limit=1000&after=0c000000-0000-4000-8000-000000000002":
            self.send(200, PAGE2)
        elif p == "/v1/vms?limit=1000&state=failed":
            self.send(200, PAGE2)
        elif p == "/v1/vms/0c000000-0000-4000-8000-000000000002":
            self.send(200, b"<html>not json</html>")
        elif p == "/v1/vms/0c000000-0000-4000-8000-000000000003":
            self.send(503, b"")
        elif p == "/v1/vms/0c000000-0000-4000-8000-000000000004":
            self.send(200, {"uuid": "x"})
        else:
            self.send(404, {"error": "not_found", "message": "no " + p})

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(tls + "/verifier.crt", tls + "/verifier.key")
ctx.load_verify_locations(tls + "/ca.crt")
ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
PY
"$PYTHON" "$tmp/fake.py" "$T" "$tmp/fake.port" 2>"$tmp/fake.log" &
pids="$pids $!"
i=0
while [ ! -s "$tmp/fake.port" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the stand-in did not start"
	sleep 0.1
done
F="--verifier https://127.0.0.1:$(cat "$tmp/fake.port") --ca $T/ca.crt --cert $T/tenant.crt"
# a failed VM: exit 1 in both forms; control characters from the server are not printed
# shellcheck disable=SC2086
run vm status 0c000000-0000-4000-8000-000000000001 $F
[ "$rc" -eq 1 ] || fail "status of a failed VM: exit $rc, expected 1"
out_has "^State  *failed$"
out_has "^Reason  *ima_policy$"
out_has "^Message  *#812 /tmp/x sha256:00: digest not in policy?\[2J$"
out_has "^Host  *host-17$"
out_has "^Placement  *channel$"
out_has "^Last verdict  *fail ima_policy, 5m ago ([0-9-]* [0-9:]*Z)$"
out_has "^Last success  *50m ago ([0-9-]* [0-9:]*Z)$"
out_has "^Added  *3d ago ([0-9-]* [0-9:]*Z)$"
out_has "^Rounds  *62 (61 passed, 1 failed, 0 without evidence)$"
out_has "^Next round  *none (failed is final)$"
out_has "^Policies  *runtime, boot, host$"
out_has "^IMA offset  *81920$"
! grep -q "$(printf '\033')" "$tmp/out" || fail "an escape character reached the terminal"
# shellcheck disable=SC2086
run vm status 0c000000-0000-4000-8000-000000000001 $F --json
[ "$rc" -eq 1 ] || fail "status --json of a failed VM: exit $rc, expected 1"
[ "$(json 'j["reason"]')" = ima_policy ] || fail "status --json of a failed VM"
# the history of a revoked VM
# shellcheck disable=SC2086
run vm history 0c000000-0000-4000-8000-000000000001 $F
expect_ok "history of a failed VM"
sed -n 2p "$tmp/out" | grep -q "^17  *[0-9-]* [0-9:]*Z  *5m ago  *revocation  *failed  *-  *ima_policy  *webhooks: 1 delivered, 1 undelivered; digest not in policy$" ||
	fail "history: the revocation row"
sed -n 3p "$tmp/out" | grep -q "^16  .*  verdict  *failed  *fail  *ima_policy  *digest not in policy (placement: channel)$" ||
	fail "history: the verdict row"
out_lacks "older events"
# pages are joined, in order
# shellcheck disable=SC2086
run vm list $F
expect_ok "paged list"
[ "$(wc -l <"$tmp/out")" -eq 4 ] || fail "paged list: a header and 3 rows"
sed -n 4p "$tmp/out" | grep -q "^0c000000-0000-4000-8000-000000000003  *failed  *nonce_mismatch  *direct  *-  " ||
	fail "paged list: the second page's row"
# shellcheck disable=SC2086
run vm list $F --json
[ "$(json '[v["uuid"][-1] for v in j["vms"]]')" = "['1', '2', '3']" ] || fail "paged list --json"
[ "$(json '"next" in j')" = False ] || fail "paged list --json keeps next"
# the state filter goes to the server as is
# shellcheck disable=SC2086
run vm list $F --state failed
expect_ok "list --state failed (stand-in)"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "list --state failed: a header and 1 row"
out_has "^0c000000-0000-4000-8000-000000000003  *failed  *nonce_mismatch "
# garbage: exit 4 (not JSON, an empty error, a status without state)
# shellcheck disable=SC2086
run vm status 0c000000-0000-4000-8000-000000000002 $F
expect_fail 4 "answered GET /v1/vms/0c000000-0000-4000-8000-000000000002 with HTTP 200 and no JSON object"
# shellcheck disable=SC2086
run vm status 0c000000-0000-4000-8000-000000000003 $F
expect_fail 4 "with HTTP 503 and no JSON object"
# shellcheck disable=SC2086
run vm status 0c000000-0000-4000-8000-000000000004 $F
expect_fail 4 "has no state"
# --long with a VM whose status is garbage fails as a whole
# shellcheck disable=SC2086
run vm list $F --long
[ "$rc" -eq 4 ] || fail "list --long with garbage: exit $rc"
# a stand-in that never answers: the timeout holds
"$PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$tmp/hung.port" &
pids="$pids $!"
i=0
while [ ! -s "$tmp/hung.port" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the hung server did not start"
	sleep 0.1
done
start=$(date +%s)
run vm list --verifier "https://127.0.0.1:$(cat "$tmp/hung.port")" --ca "$T/ca.crt" \
	--cert "$T/tenant.crt" --timeout 1
end=$(date +%s)
expect_fail 4 "cannot reach the verifier"
[ $((end - start)) -lt 10 ] || fail "--timeout 1 took $((end - start)) s"

echo "vm: ok"
