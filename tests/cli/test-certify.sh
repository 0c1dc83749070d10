#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# swtpm_setup's create_certs_tool (qemu/vtc-vtpm-certify.c) on its own: --help, every argument
# check, the arguments a real swtpm_setup passes (captured from it), run by a real swtpm_setup,
# and failing cleanly when vtc-hostd is unreachable or hung. (Issuing a certificate needs a real
# vtc-hostd and is tested with its socket server.)
set -eu
if [ -z "${VTC_VTPM_CERTIFY:-}" ] || [ ! -x "${VTC_VTPM_CERTIFY:-}" ]; then
	[ -n "${VTC_TEST_REQUIRE_ALL:-}" ] && { echo "FAIL: VTC_VTPM_CERTIFY is not set"; exit 1; }
	echo "VTC_VTPM_CERTIFY is not built: skipping"
	exit 77
fi
if ! command -v swtpm_setup >/dev/null 2>&1; then
	[ -n "${VTC_TEST_REQUIRE_ALL:-}" ] && { echo "FAIL: swtpm_setup is not installed"; exit 1; }
	echo "swtpm_setup is not installed: skipping"
	exit 77
fi
T=$VTC_VTPM_CERTIFY
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"; exit 1; }

export VTC_HOSTD_SOCKET="$tmp/missing.sock"
unset VTC_CERTIFY_TIMEOUT 2>/dev/null || true
run() { # run "ENV-ASSIGNMENTS" ARGS...; sets $rc
	envs=$1
	shift
	set +e
	# shellcheck disable=SC2086
	env $envs "$T" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
}
expect() { # expect RC STDERR-PATTERN: one line on stderr (plus warnings), nothing on stdout
	[ "$rc" -eq "$1" ] || fail "exit $rc, expected $1"
	grep -q -- "$2" "$tmp/err" || fail "stderr lacks '$2'"
	[ "$(grep -vc 'warning:' "$tmp/err")" -eq 1 ] || fail "stderr is not one line"
	[ ! -s "$tmp/out" ] || fail "stdout on failure: $(cat "$tmp/out")"
}

# --help: every option and the sections a man page has
"$T" --help >"$tmp/help" || fail "--help exit status"
for s in --type --ek --dir --vmid --tpm-manufacturer --tpm-model --tpm-version --tpm2 \
	--configfile --optsfile --logfile --tpm-spec-family --allow-signing --decryption \
	"Exit status" "Example" "create_certs_tool" "Configuration" secp384r1; do
	grep -q -- "$s" "$tmp/help" || fail "--help lacks $s"
done

# 1. capture what a real swtpm_setup passes: a recorder as create_certs_tool (writing a dummy
#    certificate so that swtpm_setup goes on to the ECC EK)
mkdir "$tmp/state1" "$tmp/args"
cat >"$tmp/rec.sh" <<EOF
#!/bin/sh
n=\$(ls "$tmp/args" | wc -l)
for a in "\$@"; do printf '%s\n' "\$a"; done >"$tmp/args/\$n"
type=ek dir=.
while [ \$# -gt 0 ]; do
	case "\$1" in --type) type=\$2; shift;; --dir) dir=\$2; shift;; esac
	shift
done
printf '\060\003\002\001\001' >"\$dir/\$type.cert"
EOF
chmod +x "$tmp/rec.sh"
printf 'create_certs_tool = %s\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\n' \
	"$tmp/rec.sh" "$tmp/certify.conf" "$tmp/certify.options" >"$tmp/rec-setup.conf"
: >"$tmp/certify.conf"
: >"$tmp/certify.options"
vmid=guest1:6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c
swtpm_setup --tpm2 --tpm-state "$tmp/state1" --config "$tmp/rec-setup.conf" --createek \
	--create-ek-cert --create-platform-cert --lock-nvram --not-overwrite --vmid "$vmid" \
	--logfile "$tmp/rec.log" >/dev/null 2>&1 || { cat "$tmp/rec.log"; fail "swtpm_setup with the recorder"; }
[ "$(ls "$tmp/args" | wc -l)" -eq 3 ] || fail "expected 3 create_certs_tool calls, got $(ls "$tmp/args")"
grep -q "^id=\|,id=secp384r1$" "$tmp/args"/* || fail "no ECC EK with id=secp384r1 among the calls"
grep -qx platform "$tmp/args"/* || fail "no platform call"

# 2. every captured call is accepted as is: it gets as far as the socket (exit 1, not 2)
mkdir "$tmp/certdir"
for f in "$tmp/args"/*; do
	# swtpm_setup's --dir is gone by now: point it at ours
	set --
	prev=""
	while IFS= read -r a; do
		if [ "$prev" = "--dir" ]; then a="$tmp/certdir"; fi
		set -- "$@" "$a"
		prev=$a
	done <"$f"
	run "" "$@"
	expect 1 "nothing listens on $tmp/missing.sock"
	grep -q "certificate for $vmid not made" "$tmp/err" || fail "the message does not name the VM"
	! grep -q warning "$tmp/err" || fail "a real swtpm_setup argument was unknown"
	[ -z "$(ls "$tmp/certdir")" ] || fail "something was written on failure"
done
ek_rsa=$(sed -n '/^--ek$/{n;p;q}' "$tmp/args/0")
echo "$ek_rsa" | grep -qx '[0-9a-f]\{512\}' || fail "the RSA EK is not 256 bytes of hex: $ek_rsa"
ek_ecc=$(sed -n '/^--ek$/{n;p;q}' "$tmp/args/2")
echo "$ek_ecc" | grep -qx 'x=[0-9a-f]\{96\},y=[0-9a-f]\{96\},id=secp384r1' || fail "the ECC EK: $ek_ecc"

# 3. a real swtpm_setup runs the tool itself; hostd is down, so the vTPM is not made and
#    swtpm_setup's log carries the reason
mkdir "$tmp/state2"
printf 'create_certs_tool = %s\n' "$T" >"$tmp/setup.conf"
set +e
swtpm_setup --tpm2 --tpm-state "$tmp/state2" --config "$tmp/setup.conf" --createek \
	--create-ek-cert --create-platform-cert --vmid "$vmid" --logfile "$tmp/setup.log" \
	>/dev/null 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "swtpm_setup succeeded without vtc-hostd"
grep -q "vtc-vtpm-certify: ek certificate for $vmid not made: nothing listens on $tmp/missing.sock" \
	"$tmp/setup.log" || { cat "$tmp/setup.log"; fail "swtpm_setup's log lacks the reason"; }

# 4. each argument checked before anything is asked of hostd (exit 2)
good() { # the arguments swtpm_setup passes, with $1.. appended
	printf '%s\n' --type ek --ek "$ek_ecc" --dir "$tmp/certdir" --logfile "$tmp/x.log" \
		--vmid "$vmid" --tpm-spec-family 2.0 --tpm-spec-level 0 --tpm-spec-revision 164 \
		--tpm-manufacturer id:00001014 --tpm-model swtpm --tpm-version id:20191023 --tpm2 \
		--configfile "$tmp/certify.conf" --optsfile "$tmp/certify.options"
}
run_without() { # run_without OPTION: the good arguments without OPTION (and its value)
	set --
	skip=0
	for a in $(good); do
		if [ "$skip" -eq 1 ]; then skip=0; continue; fi
		if [ "$a" = "$opt" ]; then
			[ "$a" = --tpm2 ] || skip=1
			continue
		fi
		set -- "$@" "$a"
	done
	run "" "$@"
}
for opt in --type --ek --dir --vmid --tpm-manufacturer --tpm-model --tpm-version; do
	run_without
	expect 2 "$opt is required"
done
opt=--tpm2
run_without
expect 2 "TPM 2 vTPMs only"
# shellcheck disable=SC2046
run "" $(good) --type iak
expect 2 "only ek and platform"
# shellcheck disable=SC2046
run "" $(good) --ek 0123
expect 2 "RSA EK modulus of 9 bits"
# shellcheck disable=SC2046
run "" $(good) --ek "x=01,y=02,id=secp384r1"
expect 2 "not a valid EC"
# shellcheck disable=SC2046
run "" $(good) --ek "x=01,y=02,id=secp521r1"
expect 2 "secp521r1"
# shellcheck disable=SC2046
run "" $(good) --vmid guest1
expect 2 "NAME:UUID"
# shellcheck disable=SC2046
run "" $(good) --vmid guest1:not-a-uuid
expect 2 "not a UUID"
# shellcheck disable=SC2046
run "" $(good) --tpm-manufacturer IBM
expect 2 "tpm_manufacturer"
# shellcheck disable=SC2046
run "" $(good) --tpm-version 20191023
expect 2 "tpm_version"
# shellcheck disable=SC2046
run "" $(good) --dir "$tmp/no-such-dir"
expect 2 "is not a directory"
# shellcheck disable=SC2046
run "" $(good) --decryption
expect 2 "needs --allow-signing"
# shellcheck disable=SC2046
run "" $(good) --tpm-spec-level zero
expect 2 "tpm-spec-level"
# shellcheck disable=SC2046
run "" $(good) --configfile "$tmp/no-such.conf"
expect 2 "configfile"
# shellcheck disable=SC2046
run "VTC_CERTIFY_TIMEOUT=forever" $(good)
expect 2 "VTC_CERTIFY_TIMEOUT"
run "" --type
expect 2 "Missing argument"

# 5. unknown options are tolerated with a warning (a newer swtpm_setup); allow-signing passes
# shellcheck disable=SC2046
run "" $(good) --frobnicate --some-new-flag=1 --allow-signing --decryption
expect 1 "nothing listens"
grep -q "warning: ignoring unknown argument '--frobnicate'" "$tmp/err" || fail "no warning"
grep -q "warning: ignoring unknown argument '--some-new-flag=1'" "$tmp/err" || fail "no warning"

# 6. where the socket comes from: the config file, the environment over it, --socket over both
printf '# shared with swtpm_localca\nstatedir = /var/lib/swtpm-localca\nsocket = %s/conf.sock\ntimeout = 2\n' \
	"$tmp" >"$tmp/certify.conf"
# shellcheck disable=SC2046
run "-u VTC_HOSTD_SOCKET" $(good)
expect 1 "nothing listens on $tmp/conf.sock"
# shellcheck disable=SC2046
run "" $(good)
expect 1 "nothing listens on $tmp/missing.sock"
# shellcheck disable=SC2046
run "" $(good) --socket "$tmp/opt.sock"
expect 1 "nothing listens on $tmp/opt.sock"
printf 'socket = relative.sock\n' >"$tmp/certify.conf"
# shellcheck disable=SC2046
run "-u VTC_HOSTD_SOCKET" $(good)
expect 2 "not absolute"
: >"$tmp/certify.conf"

# 7. a hung vtc-hostd: the timeout holds and nothing is written
python3 - "$tmp/hung.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
time.sleep(60)
PY
pids="$pids $!"
i=0
while [ ! -S "$tmp/hung.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the hung socket did not appear"
	sleep 0.05
done
start=$(date +%s%N)
# shellcheck disable=SC2046
run "VTC_HOSTD_SOCKET=$tmp/hung.sock" $(good) --timeout 0.5
end=$(date +%s%N)
expect 1 "timed out waiting for an answer"
ms=$(((end - start) / 1000000))
[ "$ms" -ge 450 ] && [ "$ms" -lt 5000 ] || fail "timeout of 0.5 s took $ms ms"
[ -z "$(ls -A "$tmp/certdir")" ] || fail "something was written on failure"

echo "certify: ok"
