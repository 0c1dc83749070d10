#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `vtc host list|show` against the real vtc-registrar, with certificates made by `vtc ca`: empty,
# then with a host enrolled by the real vtc-hostd from a swtpm with a vendor EK certificate
# (swtpm_setup + swtpm-localca, trusted by the registrar), in table and --json form; the errors.
set -eu
skip() {
	[ -n "${VTC_TEST_REQUIRE_ALL:-}" ] && { echo "FAIL: $*"; exit 1; }
	echo "$*: skipping"
	exit 77
}
[ -x "${VTC:-}" ] || skip "VTC is not set"
[ -x "${VTC_REGISTRAR:-}" ] || skip "VTC_REGISTRAR is not built"
[ -x "${VTC_HOSTD:-}" ] || skip "VTC_HOSTD is not built"
for p in swtpm swtpm_setup python3; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"
done

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
	for f in registrar.log hostd.log hostd.out; do
		[ -s "$tmp/$f" ] && tail -n 20 "$tmp/$f" | sed "s/^/  $f: /"
	done
	exit 1
}
unset VTC_VERIFIER_URL VTC_REGISTRAR_URL VTC_CA VTC_CERT VTC_KEY VTC_TIMEOUT VTC_CLIENT_CONFIG \
	2>/dev/null || true
export XDG_CONFIG_HOME="$tmp/xdg"
export TSS2_LOG=all+none

run() {
	set +e
	"$VTC" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
}
expect_ok() { [ "$rc" -eq 0 ] || fail "exit $rc, expected 0: $*"; [ ! -s "$tmp/err" ] || fail "stderr on success: $*"; }
expect_fail() {
	[ "$rc" -eq "$1" ] || fail "exit $rc, expected $1 (for '$2')"
	grep -q -- "$2" "$tmp/err" || fail "stderr lacks '$2'"
	[ ! -s "$tmp/out" ] || fail "stdout on failure"
}
out_has() { grep -q -- "$1" "$tmp/out" || fail "stdout lacks '$1'"; }
json() { "$PYTHON" -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$tmp/out"; }
wait_line() { # wait_line FILE PATTERN WHAT
	i=0
	while ! grep -q "$2" "$1"; do
		i=$((i + 1))
		[ $i -lt 600 ] || fail "$3"
		sleep 0.1
	done
}

# ---- --help --------------------------------------------------------------------------------
run host --help
expect_ok "host --help"
for s in list show registered active "Exit status" --registrar --ca --cert --key --config \
	--timeout --json VTC_REGISTRAR_URL client.conf; do
	out_has "$s"
done
for cmd in list show; do
	run host "$cmd" --help
	expect_ok "host $cmd --help"
	for s in "vtc host $cmd" --registrar --ca --cert --key --config --timeout --json \
		"Exit status" "Example" VTC_REGISTRAR_URL VTC_CERT; do
		out_has "$s"
	done
done
run host
expect_fail 2 "Usage: vtc host"
run host list extra
expect_fail 2 "unexpected argument 'extra'"
run host show
expect_fail 2 "expected a host ID"
run host list --registrar "https://127.0.0.1:1"
expect_fail 2 "no client certificate"

# ---- TLS, the vendor CA, the host's TPM ----------------------------------------------------
"$VTC" ca init --dir "$tmp/tls" >/dev/null || fail "vtc ca init"
for n in registrar tenant; do
	"$VTC" ca issue --dir "$tmp/tls" --san IP:127.0.0.1 "$n" >/dev/null || fail "vtc ca issue $n"
done
T=$tmp/tls
mkdir -p "$tmp/vendor" "$tmp/hw" "$tmp/ek-ca" "$tmp/hostd" "$tmp/run" "$tmp/swtpm-dir"
printf 'statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\ncertserial = %s/certserial\n' \
	"$tmp/vendor" "$tmp/vendor" "$tmp/vendor" "$tmp/vendor" >"$tmp/vendor/swtpm-localca.conf"
printf -- '--platform-manufacturer vtc\n--platform-version 2.1\n--platform-model swtpm\n' \
	>"$tmp/vendor/swtpm-localca.options"
printf 'create_certs_tool = swtpm_localca\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\nactive_pcr_banks = sha1,sha256\n' \
	"$tmp/vendor/swtpm-localca.conf" "$tmp/vendor/swtpm-localca.options" >"$tmp/vendor/swtpm_setup.conf"
swtpm_setup --tpm2 --tpmstate "$tmp/hw" --createek --create-ek-cert --ecc \
	--config "$tmp/vendor/swtpm_setup.conf" --logfile "$tmp/swtpm_setup.log" --overwrite \
	>/dev/null 2>&1 || { cat "$tmp/swtpm_setup.log"; fail "swtpm_setup"; }
cp "$tmp/vendor/swtpm-localca-rootca-cert.pem" "$tmp/vendor/issuercert.pem" "$tmp/ek-ca/"

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
pids="$pids $!"
wait_line "$tmp/registrar.out" "^vtc-registrar: listening on port" "the registrar did not start"
rport=$(sed -n 's/^vtc-registrar: listening on port \([0-9]*\)$/\1/p' "$tmp/registrar.out")
R="--registrar https://127.0.0.1:$rport --ca $T/ca.crt --cert $T/tenant.crt --key $T/tenant.key"

# ---- no host yet -----------------------------------------------------------------------------
# shellcheck disable=SC2086
run host list $R
expect_ok "empty host list"
out_has "^no hosts are enrolled$"
# shellcheck disable=SC2086
run host list $R --json
expect_ok "empty host list --json"
[ "$(json 'j')" = "{'hosts': []}" ] || fail "empty --json"
# shellcheck disable=SC2086
run host show host-cli $R
expect_fail 5 "registrar: not_found: .*(HTTP 404)"

# ---- vtc-hostd enrolls the host (EK certificate, ActivateCredential, vTPM CA) -----------------
swtpm socket --tpm2 --server "type=unixio,path=$tmp/hw/swtpm.sock" \
	--ctrl "type=unixio,path=$tmp/hw/swtpm.sock.ctrl" --tpmstate "dir=$tmp/hw" \
	--log "file=$tmp/hw/swtpm.log" --flags not-need-init,startup-clear &
pids="$pids $!"
i=0
while [ ! -S "$tmp/hw/swtpm.sock" ] || [ ! -S "$tmp/hw/swtpm.sock.ctrl" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "swtpm did not start"
	sleep 0.1
done
cat >"$tmp/hostd.conf" <<EOF
[hostd]
id = host-cli
state_dir = $tmp/hostd
[tpm]
tcti = swtpm:path=$tmp/hw/swtpm.sock
[vtpm_log]
path = $tmp/hostd/vtpm.log
[socket]
path = $tmp/run/hostd.sock
group = tss
[libvirt]
swtpm_dir = $tmp/swtpm-dir
[registrar]
url = https://127.0.0.1:$rport
ca = $T/ca.crt
EOF
"$VTC_HOSTD" --config "$tmp/hostd.conf" >"$tmp/hostd.out" 2>"$tmp/hostd.log" &
hostd_pid=$!
pids="$pids $hostd_pid"
wait_line "$tmp/hostd.out" "^vtc-hostd: ready$" "vtc-hostd did not enroll and start"
kill "$hostd_pid"
wait "$hostd_pid" 2>/dev/null || true

# ---- the enrolled host -----------------------------------------------------------------------
# shellcheck disable=SC2086
run host list $R
expect_ok "host list"
head -n 1 "$tmp/out" | grep -q "^HOST  *STATE  *VTPM CA  *AK NAME  *REGISTERED  *ACTIVATED$" ||
	fail "host list header"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "host list: a header and one row"
sed -n 2p "$tmp/out" | grep -q "^host-cli  *active  *yes  *000b[0-9a-f]\{12\}\.\.\.  *[0-9]*s ago  *[0-9]*s ago$" ||
	fail "host list row"
[ "$(head -n 1 "$tmp/out" | awk '{ print index($0, "STATE") }')" = \
	"$(sed -n 2p "$tmp/out" | awk '{ print index($0, "active") }')" ] || fail "columns not aligned"
# shellcheck disable=SC2086
run host list $R --json
expect_ok "host list --json"
[ "$(json 'len(j["hosts"])')" = 1 ] || fail "host list --json: one host"
[ "$(json 'j["hosts"][0]["id"]')" = host-cli ] || fail "host list --json id"
[ "$(json 'j["hosts"][0]["state"]')" = active ] || fail "host list --json state"
[ "$(json 'j["hosts"][0]["vtpm_ca_public"] is not None')" = True ] || fail "host list --json vtpm ca"
[ "$(json 'len(j["hosts"][0]["ak_name"])')" = 68 ] || fail "host list --json ak_name"
[ "$(json 'j["hosts"][0]["ek_cert"] != ""')" = True ] || fail "host list --json ek_cert"
ak=$(json 'j["hosts"][0]["ak_name"]')
# shellcheck disable=SC2086
run host show host-cli $R
expect_ok "host show"
out_has "^Host  *host-cli$"
out_has "^State  *active$"
out_has "^AK name  *$ak$"
out_has "^vTPM CA  *certified$"
out_has "^Registered  *[0-9]*s ago ([0-9-]* [0-9:]*Z)$"
out_has "^Activated  *[0-9]*s ago ([0-9-]* [0-9:]*Z)$"
# shellcheck disable=SC2086
run host show host-cli $R --json
expect_ok "host show --json"
[ "$(json 'j["ak_name"]')" = "$ak" ] || fail "host show --json"
# the environment and the configuration file work for the registrar as for the verifier
VTC_REGISTRAR_URL="https://127.0.0.1:$rport" VTC_CA="$T/ca.crt" VTC_CERT="$T/tenant.crt" \
	run host list
expect_ok "host list from the environment"
out_has "^host-cli "
mkdir -p "$XDG_CONFIG_HOME/vtc"
printf '[registrar]\nurl = https://127.0.0.1:%s\n[tls]\nca = %s/ca.crt\ncert = %s/tenant.crt\n' \
	"$rport" "$T" "$T" >"$XDG_CONFIG_HOME/vtc/client.conf"
run host list
expect_ok "host list from the user's configuration"
out_has "^host-cli "

# ---- errors ----------------------------------------------------------------------------------
"$VTC" ca init --dir "$tmp/other" >/dev/null || fail "vtc ca init other"
"$VTC" ca issue --dir "$tmp/other" stranger >/dev/null || fail "vtc ca issue stranger"
run host list --cert "$tmp/other/stranger.crt"
expect_fail 5 "registrar: unauthorized: .*(HTTP 401)"
run host list --cert "$tmp/missing.crt"
expect_fail 3 "the client certificate (--cert)"
for p in $pids; do kill "$p" 2>/dev/null || true; done
for p in $pids; do wait "$p" 2>/dev/null || true; done
pids=""
run host list
expect_fail 4 "cannot reach the registrar at https://127.0.0.1:$rport"

echo "host: ok"
