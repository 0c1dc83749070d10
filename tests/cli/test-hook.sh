#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The libvirt hook (libvirt-hooks/vtc-hook.c) on its own: arguments, --help, ignored events and
# domains, the failure policy when vtc-hostd cannot be reached, bad input, and that nothing ever
# reaches stdout. (The exchange with a real vtc-hostd is tested with hostd's socket server.)
set -eu
if [ -z "${VTC_HOOK:-}" ] || [ ! -x "${VTC_HOOK:-}" ]; then
	[ -n "${VTC_TEST_REQUIRE_ALL:-}" ] && { echo "FAIL: VTC_HOOK is not set"; exit 1; }
	echo "VTC_HOOK is not built: skipping"
	exit 77
fi
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"; exit 1; }

uuid=6f1c2b3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c
cat >"$tmp/tpm.xml" <<EOF
<domain type='qemu'>
  <name>guest1</name>
  <uuid>$uuid</uuid>
  <memory unit='KiB'>131072</memory>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0'/>
    </tpm>
  </devices>
</domain>
EOF
cat >"$tmp/plain.xml" <<EOF
<domain type='qemu'>
  <name>guest1</name>
  <uuid>$uuid</uuid>
  <devices><tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm></devices>
</domain>
EOF

# Every run goes through here: no environment from the caller, hostd unreachable unless the
# case says otherwise, stdout must stay empty whatever happens.
export VTC_HOOK_CONFIG="$tmp/none.conf"
export VTC_HOSTD_SOCKET="$tmp/missing.sock"
unset VTC_HOOK_POLICY VTC_HOOK_TIMEOUT 2>/dev/null || true
run() { # run STDIN-FILE "ENV-ASSIGNMENTS" ARGS...; sets $rc
	input=$1
	envs=$2
	shift 2
	set +e
	# shellcheck disable=SC2086
	env $envs "$VTC_HOOK" "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ ! -s "$tmp/out" ] || fail "stdout not empty for '$*': $(head -c 200 "$tmp/out")"
}
expect() { # expect RC [STDERR-PATTERN|-] (- : stderr must be empty)
	[ "$rc" -eq "$1" ] || fail "exit $rc, expected $1"
	if [ "${2:-}" = "-" ]; then
		[ ! -s "$tmp/err" ] || fail "stderr should be empty"
	elif [ -n "${2:-}" ]; then
		grep -q -- "$2" "$tmp/err" || fail "stderr lacks '$2'"
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "stderr is not one line"
	fi
}

# --help: man-page sections, on stdout, exit 0
"$VTC_HOOK" --help >"$tmp/help" || fail "--help exit status"
for s in NAME SYNOPSIS DESCRIPTION "FAILURE POLICY" CONFIGURATION ENVIRONMENT "EXIT STATUS" EXAMPLE \
	fail_closed fail_open prepare reconnect; do
	grep -q "$s" "$tmp/help" || fail "--help lacks $s"
done

# wrong number of arguments: usage error on stderr
run "$tmp/tpm.xml" "" guest1 prepare begin
expect 2 "usage"
run "$tmp/tpm.xml" ""
expect 2 "usage"

# events that are not ours: exit 0 at once, print nothing at all, read nothing (even garbage)
printf 'not xml' >"$tmp/garbage"
for ev in migrate restore attach reboot some-future-event; do
	run "$tmp/tpm.xml" "" guest1 "$ev" begin -
	expect 0 -
	run "$tmp/garbage" "" guest1 "$ev" begin -
	expect 0 -
done

# a domain without an emulated TPM: nothing to do, silently, even with hostd down and fail_closed
for ev in prepare start started stopped release reconnect; do
	run "$tmp/plain.xml" "" guest1 "$ev" begin -
	expect 0 -
done

# hostd unreachable at prepare: fail_closed by default, one line naming the domain and the socket
run "$tmp/tpm.xml" "" guest1 prepare begin -
expect 1 "refusing to start domain 'guest1' (vtc hook policy fail_closed)"
grep -q "missing.sock" "$tmp/err" || fail "the message does not name the socket"
grep -q "is vtc-hostd running" "$tmp/err" || fail "the message does not say what is wrong"

# fail_open from the environment and from the configuration file
run "$tmp/tpm.xml" "VTC_HOOK_POLICY=fail_open" guest1 prepare begin -
expect 0 "starts without vtc (vtc hook policy fail_open)"
printf '# site policy\npolicy = fail_open\ntimeout = 2\n' >"$tmp/open.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/open.conf" guest1 prepare begin -
expect 0 "fail_open"
printf 'policy = fail_closed\n' >"$tmp/closed.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/closed.conf" guest1 prepare begin -
expect 1 "fail_closed"
: >"$tmp/empty.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/empty.conf" guest1 prepare begin -
expect 1 "fail_closed"
# the environment wins over the file
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/closed.conf VTC_HOOK_POLICY=fail_open" guest1 prepare begin -
expect 0 "fail_open"

# the socket path from the configuration file (and the environment over it)
printf 'socket = %s/from-conf.sock\n' "$tmp" >"$tmp/sock.conf"
run "$tmp/tpm.xml" "-u VTC_HOSTD_SOCKET VTC_HOOK_CONFIG=$tmp/sock.conf" guest1 prepare begin -
expect 1 "from-conf.sock"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/sock.conf" guest1 prepare begin -
expect 1 "missing.sock"

# a broken configuration: fails closed at prepare naming the file; never fails other events
printf 'policy = fail_closed\ncolour = blue\n' >"$tmp/bad.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/bad.conf" guest1 prepare begin -
expect 1 "bad.conf: unknown key 'colour'"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/bad.conf" guest1 started begin -
expect 0 "unknown key"
printf 'policy = maybe\n' >"$tmp/bad2.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/bad2.conf" guest1 prepare begin -
expect 1 "policy 'maybe'"
# a policy that was read still decides when another key is bad
printf 'policy = fail_open\ntimeout = soon\n' >"$tmp/bad3.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/bad3.conf" guest1 prepare begin -
expect 0 "timeout 'soon'"
run "$tmp/tpm.xml" "VTC_HOOK_TIMEOUT=-1" guest1 prepare begin -
expect 1 "VTC_HOOK_TIMEOUT"
mkdir "$tmp/dir.conf"
run "$tmp/tpm.xml" "VTC_HOOK_CONFIG=$tmp/dir.conf" guest1 prepare begin -
expect 1 "fail_closed"

# every other forwarded event never fails the VM, but says what was lost
for ev in "start begin" "started begin" "stopped end" "release end" "reconnect begin"; do
	# shellcheck disable=SC2086
	run "$tmp/tpm.xml" "" guest1 $ev -
	expect 0 "'$ev' of domain 'guest1' was not recorded"
done

# bad input at prepare fails closed, elsewhere it is a warning
run "$tmp/garbage" "" guest1 prepare begin -
expect 1 "domain XML"
: >"$tmp/empty"
run "$tmp/empty" "" guest1 prepare begin -
expect 1 "domain XML"
run "$tmp/garbage" "" guest1 stopped end -
expect 0 "domain XML"
run "$tmp/tpm.xml" "" other-name prepare begin -
expect 1 "is for 'guest1', not 'other-name'"
run "$tmp/tpm.xml" "" guest1 prepare sideways -
expect 1 "unknown phase"
printf '<domain><name>guest1</name><uuid>%s</uuid><devices><tpm><backend type="emulator"/></tpm><tpm><backend type="emulator"/></tpm></devices></domain>' "$uuid" >"$tmp/two.xml"
run "$tmp/two.xml" "" guest1 prepare begin -
expect 1 "two emulated TPMs"
# more than 4 MiB on stdin
python3 -c "
import sys
sys.stdout.write(\"<domain><name>guest1</name><uuid>$uuid</uuid><!--\" + 'x' * (4 * 1024 * 1024) + '--></domain>')
" >"$tmp/huge.xml"
run "$tmp/huge.xml" "" guest1 prepare begin -
expect 1 "over 4194304 bytes"
# stdin closed altogether
set +e
"$VTC_HOOK" guest1 prepare begin - <&- >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ ! -s "$tmp/out" ] || fail "stdout not empty with stdin closed"
expect 1 "domain XML"
# stdout closed altogether: still works, still says nothing there
set +e
VTC_HOOK_POLICY=fail_open "$VTC_HOOK" guest1 prepare begin - <"$tmp/tpm.xml" >&- 2>"$tmp/err"
rc=$?
set -e
expect 0 "fail_open"

# a hung vtc-hostd (listens, never answers): the timeout holds, and fails closed at prepare
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
run "$tmp/tpm.xml" "VTC_HOSTD_SOCKET=$tmp/hung.sock VTC_HOOK_TIMEOUT=0.5" guest1 prepare begin -
end=$(date +%s%N)
expect 1 "timed out waiting for an answer"
ms=$(((end - start) / 1000000))
[ "$ms" -ge 450 ] && [ "$ms" -lt 5000 ] || fail "timeout of 0.5 s took $ms ms"
run "$tmp/tpm.xml" "VTC_HOSTD_SOCKET=$tmp/hung.sock VTC_HOOK_TIMEOUT=0.3" guest1 reconnect begin -
expect 0 "timed out"

echo "hook: ok"
