#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# test-guest-boot.sh: boots the vtc test guest (qemu/guest/build-guest, without the agent) under
# the system libvirt with a libvirt-managed vTPM (swtpm), OVMF and the private channel, and checks
# from the host, through the guest's command port, that
#   - the guest reaches "vtc-guest: ready" within $VTC_E2E_BOOT_TIMEOUT s (default 60),
#   - /dev/tpmrm0 exists and the firmware event log is non-empty and starts with the TCG
#     "Spec ID Event03" header, IMA has entries (boot_aggregate and more), and a new executable
#     run through the command port is measured by IMA,
#   - the virtio port org.vtc.agent.0 exists in the guest and its SMBIOS UUID is the domain's,
#   - the guest reaches a service on the host's loopback at 10.0.2.2 (QEMU user networking: the
#     agent's way to the registrar),
#   - the host end of the channel (its path read from the live domain XML) reaches the guest
#     (the agent-less /init answers every line with "vtc-guest-echo <line>"),
# then destroys and undefines the domain with its vTPM state and checks the state is gone.
#
# With --agent, the image carries vtc-agent ($VTC_AGENT, built from guestagent/) instead: the
# console must show "vtc-agent: ready", IMA must have measured /usr/bin/vtc-agent, and the agent
# must answer a channel `hello` frame (doc/channel.md) on the host end of the channel. Without
# $VTC_AGENT that mode skips.
#
# Needs root, libvirt (libvirtd, virtlogd, virsh), qemu-system-x86, swtpm, OVMF (package ovmf),
# cpio, python3, and apt access for the first image build. Exits 77 (skip) when any is missing,
# unless VTC_TEST_REQUIRE_ALL is set (then it fails). Starts virtlogd and libvirtd only when they
# do not run, and then stops exactly those processes at the end; touches no domain but its own
# (named vtc-e2e-boot-<pid>).
#
# Environment: VTC_GUEST_DIR (image cache; the agent-less image goes to $VTC_GUEST_DIR/noagent,
# the one with the agent to $VTC_GUEST_DIR/agent; default build-guest/ in the source tree), VTC_OVMF (default
# /usr/share/OVMF/OVMF_CODE.fd), VTC_E2E_BOOT_TIMEOUT, VTC_E2E_KEEP=1 (keep the domain and the
# temporary directory for a look afterwards).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ctl="$here/vtc-guest-ctl"
uri=qemu:///system
boot_timeout="${VTC_E2E_BOOT_TIMEOUT:-60}"
ovmf="${VTC_OVMF:-/usr/share/OVMF/OVMF_CODE.fd}"

say() {
	echo "# $*"
}
skip() {
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		echo "FAIL: $* (VTC_TEST_REQUIRE_ALL is set)" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

mode=noagent
case "${1:-}" in
"") ;;
--agent) mode=agent ;;
*)
	echo "usage: $0 [--agent]" >&2
	exit 2
	;;
esac

[ "$(id -u)" = 0 ] || skip "needs root (the system libvirt)"
for p in virsh libvirtd virtlogd qemu-system-x86_64 swtpm swtpm_setup python3 apt-get dpkg-deb \
	cpio; do
	command -v "$p" >/dev/null 2>&1 || skip "needs $p"
done
[ -r "$ovmf" ] || skip "needs OVMF ($ovmf: package ovmf)"

# ---- the image (cached) ---------------------------------------------------------------------
guest_dir="${VTC_GUEST_DIR:-$top/build-guest}/$mode"
agent=""
if [ $mode = agent ]; then
	agent="${VTC_AGENT:-}"
	[ -n "$agent" ] && [ -x "$agent" ] || skip "--agent needs \$VTC_AGENT (guestagent/ built)"
fi
t0=$(date +%s.%N)
if ! VTC_AGENT="$agent" "$top/qemu/guest/build-guest" "$guest_dir"; then
	skip "the guest image could not be built (apt access?)"
fi
say "image ready in $(echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }') s"

# ---- state and clean-up -----------------------------------------------------------------------
name="vtc-e2e-boot-$mode-$$"
uuid=$(cat /proc/sys/kernel/random/uuid)
tmp=$(mktemp -d /tmp/vtc-e2e-boot.XXXXXX)
chmod 755 "$tmp"
started_libvirtd=""
started_virtlogd=""
web_pid=""
failed=0

fail() {
	echo "FAIL: $*" >&2
	failed=1
}
stop_pid() { # pid what: a child of this shell, so wait(1) reaps it
	kill "$1" 2>/dev/null || return 0
	(
		sleep 10
		if kill -9 "$1" 2>/dev/null; then
			echo "FAIL: $2 (pid $1) did not stop on SIGTERM within 10 s" >&2
		fi
	) &
	watchdog=$!
	wait "$1" 2>/dev/null || true
	kill "$watchdog" 2>/dev/null || true
	wait "$watchdog" 2>/dev/null || true
}
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "${VTC_E2E_KEEP:-}" ]; then
		say "kept domain $name, $tmp and the daemons this test started" \
			"(libvirtd ${started_libvirtd:-none}, virtlogd ${started_virtlogd:-none}): VTC_E2E_KEEP"
		exit "$rc"
	else
		if virsh -c "$uri" domstate "$name" >/dev/null 2>&1; then
			timeout 30 virsh -c "$uri" destroy "$name" >/dev/null 2>&1 || true
			timeout 30 virsh -c "$uri" undefine --tpm --nvram "$name" >/dev/null 2>&1 || true
		fi
		rm -rf "$tmp" "/var/lib/libvirt/swtpm/$uuid"
		rm -f "/var/log/swtpm/libvirt/qemu/$name-swtpm.log"
	fi
	[ -z "$web_pid" ] || stop_pid "$web_pid" "the test's web server"
	[ -z "$started_libvirtd" ] || stop_pid "$started_libvirtd" libvirtd
	[ -z "$started_virtlogd" ] || stop_pid "$started_virtlogd" virtlogd
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the vTPM is manufactured by swtpm_setup's own CA, not by an installed vtc ----------------
# While another test has vtc installed into / (tests/integration's libvirt test), swtpm_setup
# asks that test's vtc-hostd for the EK certificate, which knows nothing of this domain: wait.
i=0
while grep -q '^create_certs_tool *=.*vtc-vtpm-certify' /etc/swtpm_setup.conf 2>/dev/null; do
	if [ $i = 0 ]; then
		say "/etc/swtpm_setup.conf names vtc-vtpm-certify (vtc is installed, another test?):" \
			"waiting up to 300 s"
	fi
	i=$((i + 1))
	if [ $i -ge 300 ]; then
		skip "vtc is installed into / (/etc/swtpm_setup.conf): the vTPM would need its vtc-hostd"
	fi
	sleep 1
done

# ---- libvirt: use the running one, or start one (and stop it at the end) ---------------------
alive() { # pidfile
	[ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
if ! alive /run/virtlogd.pid; then
	virtlogd >"$tmp/virtlogd.log" 2>&1 &
	started_virtlogd=$!
	say "started virtlogd (pid $started_virtlogd)"
	i=0
	while [ ! -S /run/libvirt/virtlogd-sock ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
fi
if ! alive /run/libvirtd.pid; then
	libvirtd >"$tmp/libvirtd.log" 2>&1 &
	started_libvirtd=$!
	say "started libvirtd (pid $started_libvirtd)"
fi
t0=$(date +%s.%N)
i=0
until timeout 30 virsh -c "$uri" uri >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 60 ]; then
		echo "FAIL: libvirtd does not answer" >&2
		exit 1
	fi
	sleep 0.5
done
say "libvirt answers after $(echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }') s"

# ---- a web server on the host's loopback for the guest to reach ------------------------------
mkdir "$tmp/www"
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token" >"$tmp/www/token"
python3 -u -m http.server --bind 127.0.0.1 --directory "$tmp/www" 0 >"$tmp/web.log" 2>&1 &
web_pid=$!
web_port=""
i=0
while [ -z "$web_port" ] && [ $i -lt 100 ]; do
	web_port=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$tmp/web.log" | head -n 1)
	sleep 0.1
	i=$((i + 1))
done
[ -n "$web_port" ] || fail "the test's web server did not start: $(cat "$tmp/web.log")"

# ---- define and start -------------------------------------------------------------------------
cp "$guest_dir/vmlinuz" "$tmp/vmlinuz"
cp "$guest_dir/initrd.img" "$tmp/initrd.img"
chmod 644 "$tmp/vmlinuz" "$tmp/initrd.img"
sed -e "s|@NAME@|$name|g" -e "s|@UUID@|$uuid|g" -e "s|@MEMORY_MIB@|384|g" \
	-e "s|@OVMF@|$ovmf|g" -e "s|@KERNEL@|$tmp/vmlinuz|g" -e "s|@INITRD@|$tmp/initrd.img|g" \
	-e "s|@CMDLINE@|console=ttyS0 panic=-1|g" -e "s|@CONSOLE_LOG@|$tmp/console.log|g" \
	-e "s|@CMD_SOCKET@|$tmp/cmd.sock|g" "$top/qemu/guest/domain.xml.in" >"$tmp/domain.xml"
timeout 60 virsh -c "$uri" define "$tmp/domain.xml" >/dev/null
t0=$(date +%s.%N)
if ! out=$(timeout 120 virsh -c "$uri" start "$name" 2>&1); then
	echo "FAIL: virsh start: $out" >&2
	exit 1
fi
t_started=$(date +%s.%N)
say "virsh start took $(echo "$t_started $t0" | awk '{ printf "%.2f", $1 - $2 }') s" \
	"(swtpm_setup on the first start included)"

# ---- wait for the ready marker ----------------------------------------------------------------
ready=0
deadline=$(($(date +%s) + boot_timeout))
while [ "$(date +%s)" -lt "$deadline" ]; do
	if grep -qa '^vtc-guest: ready' "$tmp/console.log" 2>/dev/null; then
		ready=1
		break
	fi
	if [ "$(virsh -c "$uri" domstate "$name" 2>/dev/null)" != running ]; then
		break
	fi
	sleep 0.2
done
t_ready=$(date +%s.%N)
if [ $ready = 0 ]; then
	echo "FAIL: no 'vtc-guest: ready' within $boot_timeout s; the console said:" >&2
	tail -n 40 "$tmp/console.log" >&2 2>/dev/null || true
	exit 1
fi
boot_s=$(echo "$t_ready $t0" | awk '{ printf "%.2f", $1 - $2 }')
say "boot: virsh start to 'vtc-guest: ready' $boot_s s;" \
	"$(grep -a '^vtc-guest: ready' "$tmp/console.log" | head -n 1)"
grep -a '^vtc-guest:' "$tmp/console.log" | sed 's/^/#   /'
grep -qa '^vtc-guest: tpm ok' "$tmp/console.log" || fail "the console does not say 'tpm ok'"
if [ $mode = agent ]; then
	i=0
	until grep -qa '^vtc-agent: ready' "$tmp/console.log"; do
		i=$((i + 1))
		if [ $i -ge 150 ]; then
			fail "no 'vtc-agent: ready' within 30 s of the guest's ready"
			break
		fi
		sleep 0.2
	done
	[ $i -ge 150 ] || say "agent ready $(echo "$(date +%s.%N) $t0" |
		awk '{ printf "%.2f", $1 - $2 }') s after virsh start"
fi

# ---- checks inside, through the command port --------------------------------------------------
run() {
	timeout 90 python3 "$ctl" run --timeout 60 "$tmp/cmd.sock" "$@"
}
run 'test -c /dev/tpmrm0 && test -c /dev/tpm0' || fail "no /dev/tpmrm0 or /dev/tpm0 in the guest"
bios=/sys/kernel/security/tpm0/binary_bios_measurements
n=$(run "wc -c <$bios") || n=0
if [ "${n:-0}" -gt 0 ] 2>/dev/null; then
	say "firmware event log: $n bytes"
else
	fail "no firmware event log ($bios: '$n')"
fi
# The first event is the TCG_PCClientPCREvent header; the Spec ID Event03 signature follows
# 32 bytes in (PCR index, event type, SHA-1 digest, event size).
sig=$(run "dd if=$bios bs=1 skip=32 count=15 2>/dev/null") || sig=""
[ "$sig" = "Spec ID Event03" ] || fail "the firmware event log does not start with Spec ID Event03 ('$sig')"
ima=/sys/kernel/security/ima/ascii_runtime_measurements
n=$(run "wc -l <$ima") || n=0
# ima-ng and ima-sig lines: PCR, template hash, template, algo:digest, path[, signature]
run "head -n 1 $ima" | awk '$5 == "boot_aggregate" { ok = 1 } END { exit !ok }' ||
	fail "IMA's first entry is not boot_aggregate"
if [ "${n:-0}" -ge 2 ] 2>/dev/null; then
	say "IMA: $n entries at ready"
else
	fail "IMA has $n entries (want boot_aggregate and more)"
fi
if [ $mode = agent ]; then
	run "cat $ima" | awk '$5 == "/usr/bin/vtc-agent" { ok = 1 } END { exit !ok }' ||
		fail "IMA did not measure /usr/bin/vtc-agent"
fi
run "printf '#!/bin/sh\necho unapproved\n' >/root/unapproved.sh && chmod 755 /root/unapproved.sh" ||
	fail "cannot write a script in the guest"
out=$(run /root/unapproved.sh) || fail "cannot run a script in the guest"
[ "$out" = unapproved ] || fail "the script in the guest said '$out'"
run "cat $ima" | awk '$5 == "/root/unapproved.sh" { ok = 1 } END { exit !ok }' ||
	fail "IMA did not measure /root/unapproved.sh"
names=$(run 'cat /sys/class/virtio-ports/*/name') || names=""
echo "$names" | grep -qx 'org.vtc.agent.0' ||
	fail "no virtio port org.vtc.agent.0 in the guest (ports: $names)"
guuid=$(run 'cat /sys/class/dmi/id/product_uuid') || guuid=""
[ "$(echo "$guuid" | tr 'A-F' 'a-f')" = "$uuid" ] ||
	fail "the guest's SMBIOS UUID is '$guuid', the domain's $uuid"
# (busybox 1.35 wget -T segfaults: timeout(1) bounds it instead)
got=$(run "timeout 10 wget -q -O - http://10.0.2.2:$web_port/token") || got=""
[ "$got" = "$token" ] ||
	fail "the guest did not reach the host at 10.0.2.2:$web_port (got '$got')"
t1=$(date +%s%N)
run true || fail "a trivial command failed"
t2=$(date +%s%N)
say "command port round trip $(((t2 - t1) / 1000000)) ms (python start included)"

# ---- the vTPM state and the channel from the host --------------------------------------------
[ -d "/var/lib/libvirt/swtpm/$uuid/tpm2" ] || fail "no vTPM state in /var/lib/libvirt/swtpm/$uuid"
chan=$(timeout 30 virsh -c "$uri" dumpxml "$name" | python3 -c '
import sys, xml.etree.ElementTree as ET
for c in ET.parse(sys.stdin).getroot().iter("channel"):
    t = c.find("target")
    s = c.find("source")
    if c.get("type") == "unix" and t is not None and t.get("name") == "org.vtc.agent.0" \
            and s is not None and s.get("path"):
        print(s.get("path"))
        break
')
if [ -z "$chan" ] || [ ! -S "$chan" ]; then
	fail "no host socket for org.vtc.agent.0 in the live XML ('$chan')"
else
	say "channel host end: $chan"
	if [ $mode = agent ]; then
		if ans=$(timeout 60 python3 "$ctl" hello --timeout 30 "$chan"); then
			say "agent hello: $ans"
		else
			fail "the agent did not answer hello on the channel"
		fi
	elif ms=$(timeout 60 python3 "$ctl" echo --timeout 30 "$chan"); then
		say "channel echo round trip $ms ms"
	else
		fail "the guest end of the channel did not answer"
	fi
fi

# ---- destroy, undefine, the vTPM state goes ---------------------------------------------------
if [ -z "${VTC_E2E_KEEP:-}" ]; then
	timeout 60 virsh -c "$uri" destroy "$name" >/dev/null || fail "virsh destroy failed"
	timeout 60 virsh -c "$uri" undefine --tpm --nvram "$name" >/dev/null ||
		fail "virsh undefine failed"
	[ ! -e "/var/lib/libvirt/swtpm/$uuid" ] || fail "the vTPM state outlived undefine --tpm"
	! virsh -c "$uri" domstate "$name" >/dev/null 2>&1 || fail "the domain is still defined"
fi

if [ $failed = 1 ]; then
	echo "--- the guest console:" >&2
	grep -a 'vtc-' "$tmp/console.log" >&2 || true
	exit 1
fi
echo "PASS: guest boot, $mode ($boot_s s to ready)"
