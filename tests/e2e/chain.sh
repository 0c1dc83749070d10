# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh
#
# chain.sh: brings up the whole vtc chain on this machine, for tests/e2e/test-chain.sh and
# tools/demo. Sourced (". tests/e2e/chain.sh"), POSIX sh; every function prints readable
# progress lines and stops the caller (chain_die, exit 1) on a fatal error, so the caller's
# EXIT trap (chain_teardown) runs.
#
#   chain_init               paths, the binaries, the work directory ($CHAIN_DIR)
#   chain_wait_machine_free  waits until no other vtc install, vtc-hostd or libvirtd is there
#   chain_ca                 the deployment's CA and the certificates (vtc ca init / issue)
#   chain_hwtpm              a swtpm standing in for the host's hardware TPM (EK certificate
#                            from a "vendor" CA the registrar trusts)
#   chain_registrar          vtc-registrar on 127.0.0.1 (the guests reach it as 10.0.2.2)
#   chain_install            vtc-hostd --install into / (hook, swtpm_setup.conf)
#   chain_hostd              vtc-hostd on the swtpm, enrolled, its HTTPS endpoint on
#   chain_libvirt            virtlogd and libvirtd (only when they do not run; the hook is
#                            installed before)
#   chain_guest_image        qemu/guest/build-guest --agent $VTC_AGENT (cached)
#   chain_policy             the runtime policy (every executable and library of the initramfs)
#                            and the boot policy
#   chain_webhook            a webhook receiver on 127.0.0.1 (each event in $CHAIN_DIR/webhook/)
#   chain_verifier           vtc-verifier with the registrar, [hostd] hosts and the webhook
#   chain_vm_define NAME [protect|plain]   a domain vtc-chain-<pid>-NAME from
#                            qemu/guest/domain.xml.in; protect: vtc-hostd vm protect
#   chain_vm_start NAME, chain_vm_wait_ready NAME, chain_vm_stop NAME, chain_vm_uuid NAME
#   chain_vm_run NAME COMMAND               a command in the guest (its command port)
#   chain_vm_add NAME        the tenant watches the VM (vtc vm add)
#   chain_vm_wait_state NAME STATE SECONDS  polls vtc vm status until STATE
#   chain_teardown           stops and removes everything, restores / (vtc-hostd --uninstall)
#
# Environment: VTC_BUILD (a meson build directory; default build-dev, else build) or each of
# VTC, VTC_AGENT, VTC_HOSTD, VTC_HOOK, VTC_VTPM_CERTIFY, VTC_REGISTRAR, VTC_VERIFIER;
# VTC_GUEST_DIR (image cache, default build-guest/ in the source tree), VTC_OVMF,
# CHAIN_WAIT (seconds to wait for another test's libvirtd or vtc install, default 600),
# CHAIN_KEEP=1 (keep everything running and in place: for a look, then run chain_teardown).

CHAIN_URI=qemu:///system
CHAIN_HOST_ID=vtc-chain-host
CHAIN_SWTPM_DIR=/var/lib/libvirt/swtpm
CHAIN_SAY_PREFIX="${CHAIN_SAY_PREFIX:-}"

chain_now() {
	date +%s.%N
}

chain_say() {
	printf '%s[%6.1f s] %s\n' "$CHAIN_SAY_PREFIX" \
		"$(echo "$(chain_now) ${CHAIN_T0:-0}" | awk '{ print $1 - $2 }')" "$*"
}

chain_die() {
	printf '%sFAILED: %s\n' "$CHAIN_SAY_PREFIX" "$*" >&2
	exit 1
}

# chain_wait_file FILE PATTERN SECONDS: waits until FILE has a line matching PATTERN (grep -E).
chain_wait_file() {
	_w_end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$_w_end" ]; do
		if grep -qaE "$2" "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# chain_alive PID: the process runs (and is not a zombie).
chain_alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
		! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# chain_stop_pid PID WHAT: SIGTERM, 15 s, then SIGKILL; a child of this shell is reaped.
chain_stop_pid() {
	[ -n "$1" ] || return 0
	chain_alive "$1" || {
		wait "$1" 2>/dev/null || true
		return 0
	}
	kill "$1" 2>/dev/null || true
	_s_i=0
	while chain_alive "$1" && [ $_s_i -lt 150 ]; do
		sleep 0.1
		_s_i=$((_s_i + 1))
	done
	if chain_alive "$1"; then
		echo "${CHAIN_SAY_PREFIX}warning: $2 (pid $1) ignored SIGTERM for 15 s: SIGKILL" >&2
		if [ -n "${CHAIN_DIR:-}" ] && [ -f "$CHAIN_DIR/logs/$2.err" ]; then
			cp "$CHAIN_DIR/logs/$2.err" "/tmp/vtc-chain-$2-$1.log" 2>/dev/null &&
				echo "${CHAIN_SAY_PREFIX}  its log: /tmp/vtc-chain-$2-$1.log" >&2
			{
				echo "--- threads (wchan) at SIGKILL:"
				for _t in /proc/"$1"/task/*; do
					echo "$(cat "$_t/comm" 2>/dev/null) $(cat "$_t/wchan" 2>/dev/null)"
				done
				if command -v gdb >/dev/null 2>&1; then
					timeout 30 gdb -batch -p "$1" -ex 'thread apply all bt' 2>&1
				fi
			} >>"/tmp/vtc-chain-$2-$1.log" 2>&1
		fi
		kill -9 "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
}

chain_virsh() {
	timeout -k 5 60 virsh -q -c "$CHAIN_URI" "$@"
}

# A process named $1 (exactly) runs.
chain_proc_running() {
	for _p in /proc/[0-9]*; do
		if [ "$(cat "$_p/comm" 2>/dev/null)" = "$1" ]; then
			return 0
		fi
	done
	return 1
}

# ---- set-up ---------------------------------------------------------------------------------

chain_init() {
	CHAIN_T0=${CHAIN_T0:-$(chain_now)}
	CHAIN_TOP=$(cd "$(dirname "${CHAIN_LIB:-tests/e2e/chain.sh}")/../.." && pwd)
	CHAIN_CTL="$CHAIN_TOP/tests/e2e/vtc-guest-ctl"
	if [ -z "${VTC_BUILD:-}" ]; then
		for _b in build-dev build; do
			if [ -x "$CHAIN_TOP/$_b/hostd/vtc-hostd" ]; then
				VTC_BUILD="$CHAIN_TOP/$_b"
				break
			fi
		done
	fi
	VTC=${VTC:-${VTC_BUILD:-}/cli/vtc}
	VTC_AGENT=${VTC_AGENT:-${VTC_BUILD:-}/guestagent/vtc-agent}
	VTC_HOSTD=${VTC_HOSTD:-${VTC_BUILD:-}/hostd/vtc-hostd}
	VTC_HOOK=${VTC_HOOK:-${VTC_BUILD:-}/libvirt-hooks/vtc-hook}
	VTC_VTPM_CERTIFY=${VTC_VTPM_CERTIFY:-${VTC_BUILD:-}/qemu/vtc-vtpm-certify}
	VTC_REGISTRAR=${VTC_REGISTRAR:-${VTC_BUILD:-}/registrar/vtc-registrar}
	VTC_VERIFIER=${VTC_VERIFIER:-${VTC_BUILD:-}/verifier/vtc-verifier}
	CHAIN_OVMF=${VTC_OVMF:-/usr/share/OVMF/OVMF_CODE.fd}
	CHAIN_GUEST_DIR="${VTC_GUEST_DIR:-$CHAIN_TOP/build-guest}/chain"
	CHAIN_DIR=$(mktemp -d /tmp/vtc-chain.XXXXXX)
	chmod 755 "$CHAIN_DIR"
	mkdir -p "$CHAIN_DIR/vm" "$CHAIN_DIR/logs"
	chmod 755 "$CHAIN_DIR/vm"
	CHAIN_VMS=""
	CHAIN_PIDS=""
	CHAIN_INSTALLED=0
	CHAIN_STARTED_LIBVIRTD=""
	CHAIN_STARTED_VIRTLOGD=""
	CHAIN_LOCK=""
	export VTC VTC_AGENT VTC_HOSTD VTC_HOOK VTC_VTPM_CERTIFY VTC_REGISTRAR VTC_VERIFIER
	chain_say "work directory $CHAIN_DIR"
}

# chain_missing: prints what this machine lacks for the chain (nothing: all there).
chain_missing() {
	[ "$(id -u)" = 0 ] || echo "root (the system libvirt, the hook in /etc)"
	for _p in virsh libvirtd virtlogd qemu-system-x86_64 swtpm swtpm_setup python3 apt-get \
		dpkg-deb cpio curl openssl timeout; do
		command -v "$_p" >/dev/null 2>&1 || echo "$_p"
	done
	[ -r "$CHAIN_OVMF" ] || echo "OVMF ($CHAIN_OVMF: package ovmf)"
	for _p in "$VTC" "$VTC_AGENT" "$VTC_HOSTD" "$VTC_HOOK" "$VTC_VTPM_CERTIFY" "$VTC_REGISTRAR" \
		"$VTC_VERIFIER"; do
		[ -x "$_p" ] || echo "the vtc program $_p (build it)"
	done
}

# Waits (up to $CHAIN_WAIT s) until this machine has no vtc installed, no vtc-hostd and no
# libvirtd: libvirtd reads its hooks only when it starts, and another test's vtc would certify
# our vTPMs. Returns 1 when the machine stays busy. Takes a lock so that two chains (the e2e
# test and the demo) do not race between the check and the install.
chain_wait_machine_free() {
	_f_end=$(($(date +%s) + ${CHAIN_WAIT:-600}))
	_f_said=0
	while true; do
		_busy=""
		if mkdir /run/vtc-chain.lock 2>/dev/null; then
			echo $$ >/run/vtc-chain.lock/pid
			CHAIN_LOCK=/run/vtc-chain.lock
		elif [ -f /run/vtc-chain.lock/pid ] && ! kill -0 "$(cat /run/vtc-chain.lock/pid)" 2>/dev/null; then
			rm -rf /run/vtc-chain.lock # its owner died
			continue
		else
			_busy="another vtc chain (pid $(cat /run/vtc-chain.lock/pid 2>/dev/null))"
		fi
		if [ -z "$_busy" ]; then
			if [ -e /var/lib/vtc/install.manifest ]; then
				_busy="vtc is installed into / (/var/lib/vtc/install.manifest)"
			elif [ -S /run/vtc/hostd.sock ]; then
				_busy="a vtc-hostd serves /run/vtc/hostd.sock"
			elif grep -q '^create_certs_tool *=.*vtc-vtpm-certify' /etc/swtpm_setup.conf 2>/dev/null; then
				_busy="/etc/swtpm_setup.conf names vtc-vtpm-certify"
			elif chain_proc_running libvirtd; then
				_busy="libvirtd runs (it must start after the hook is installed)"
			fi
			if [ -n "$_busy" ]; then
				rm -rf "$CHAIN_LOCK"
				CHAIN_LOCK=""
			fi
		fi
		[ -n "$_busy" ] || return 0
		if [ $_f_said = 0 ]; then
			chain_say "waiting up to ${CHAIN_WAIT:-600} s: $_busy (another test?)"
			_f_said=1
		fi
		if [ "$(date +%s)" -ge "$_f_end" ]; then
			CHAIN_BUSY="$_busy"
			return 1
		fi
		sleep 2
	done
}

# Records what / looks like before the install, to check the teardown restores it.
chain_machine_state() {
	for _f in /etc/swtpm_setup.conf /var/lib/tpm/.config/swtpm_setup.conf; do
		if [ -e "$_f" ]; then
			echo "$_f $(sha256sum <"$_f" | cut -c1-64)"
		else
			echo "$_f absent"
		fi
	done
	for _d in /etc/libvirt/hooks /etc/libvirt/hooks/qemu.d /etc/vtc /run/vtc /var/lib/vtc \
		"$CHAIN_SWTPM_DIR" /var/log/swtpm /var/log/swtpm/libvirt/qemu; do
		if [ -e "$_d" ]; then
			echo "$_d exists: $(ls -A "$_d" 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')"
		else
			echo "$_d absent"
		fi
	done
}

chain_ca() {
	_t="$CHAIN_DIR/tls"
	"$VTC" ca init --dir "$_t" --cn "vtc chain CA" >/dev/null || chain_die "vtc ca init"
	# the registrar: the guests reach it at 10.0.2.2 (QEMU user networking)
	"$VTC" ca issue --dir "$_t" --san IP:127.0.0.1 --san IP:10.0.2.2 registrar >/dev/null &&
		"$VTC" ca issue --dir "$_t" --san IP:127.0.0.1 hostd >/dev/null &&
		"$VTC" ca issue --dir "$_t" --san IP:127.0.0.1 verifier >/dev/null &&
		"$VTC" ca issue --dir "$_t" tenant >/dev/null || chain_die "vtc ca issue"
	# what `vtc vm ...` and curl use
	VTC_CA="$_t/ca.crt"
	VTC_CERT="$_t/tenant.crt"
	VTC_KEY="$_t/tenant.key"
	export VTC_CA VTC_CERT VTC_KEY
	chain_say "deployment CA and certificates: registrar, hostd, verifier, tenant (vtc ca)"
}

# The "hardware" TPM: swtpm_setup makes it with an EK certificate from a local vendor CA (as
# vtc_swtpm_manufacture does); the registrar's [ek] trust_store holds that CA.
chain_hwtpm() {
	_h="$CHAIN_DIR/hwtpm"
	_v="$CHAIN_DIR/vendor-ca"
	mkdir -p "$_h" "$_v" "$CHAIN_DIR/ek-ca"
	chmod 700 "$_h" "$_v"
	cat >"$_v/swtpm-localca.conf" <<EOF
statedir = $_v
signingkey = $_v/signkey.pem
issuercert = $_v/issuercert.pem
certserial = $_v/certserial
EOF
	printf -- '--platform-manufacturer vtc\n--platform-version 2.1\n--platform-model swtpm\n' \
		>"$_v/swtpm-localca.options"
	cat >"$_v/swtpm_setup.conf" <<EOF
create_certs_tool = swtpm_localca
create_certs_tool_config = $_v/swtpm-localca.conf
create_certs_tool_options = $_v/swtpm-localca.options
active_pcr_banks = sha1,sha256
EOF
	timeout 60 swtpm_setup --tpm2 --tpmstate "$_h" --createek --create-ek-cert --ecc \
		--config "$_v/swtpm_setup.conf" --logfile "$_v/swtpm_setup.log" --overwrite \
		>/dev/null 2>&1 || chain_die "swtpm_setup of the host's TPM: $(cat "$_v/swtpm_setup.log")"
	cp "$_v/swtpm-localca-rootca-cert.pem" "$_v/issuercert.pem" "$CHAIN_DIR/ek-ca/"
	swtpm socket --tpm2 --server "type=unixio,path=$_h/swtpm.sock" \
		--ctrl "type=unixio,path=$_h/swtpm.sock.ctrl" --tpmstate "dir=$_h" \
		--log "file=$_h/swtpm.log" --flags not-need-init,startup-clear \
		>"$CHAIN_DIR/logs/hwtpm.log" 2>&1 &
	CHAIN_HWTPM_PID=$!
	CHAIN_PIDS="$CHAIN_PIDS $CHAIN_HWTPM_PID:swtpm"
	_i=0
	while [ ! -S "$_h/swtpm.sock" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -S "$_h/swtpm.sock" ] || chain_die "the host's swtpm did not start"
	CHAIN_HW_TCTI="swtpm:path=$_h/swtpm.sock"
	chain_say "host TPM: swtpm (pid $CHAIN_HWTPM_PID) with an ECC EK certified by a vendor CA"
}

# chain_daemon NAME LOGBASE PROGRAM ARGS...: starts it in the background; sets CHAIN_PID.
chain_daemon() {
	_n=$1
	_l=$2
	shift 2
	"$@" >"$CHAIN_DIR/logs/$_l.out" 2>"$CHAIN_DIR/logs/$_l.err" &
	CHAIN_PID=$!
	CHAIN_PIDS="$CHAIN_PIDS $CHAIN_PID:$_l"
}

chain_registrar() {
	mkdir -p "$CHAIN_DIR/registrar"
	cat >"$CHAIN_DIR/registrar/registrar.conf" <<EOF
[server]
address = 127.0.0.1
port = 0
[tls]
cert = $CHAIN_DIR/tls/registrar.crt
key = $CHAIN_DIR/tls/registrar.key
client_ca = $CHAIN_DIR/tls/ca.crt
[database]
path = $CHAIN_DIR/registrar/registrar.db
[ek]
trust_store = $CHAIN_DIR/ek-ca
EOF
	chain_daemon vtc-registrar registrar "$VTC_REGISTRAR" --config "$CHAIN_DIR/registrar/registrar.conf"
	CHAIN_REGISTRAR_PID=$CHAIN_PID
	chain_wait_file "$CHAIN_DIR/logs/registrar.out" 'listening on port [0-9]+' 30 ||
		chain_die "vtc-registrar did not start: $(cat "$CHAIN_DIR/logs/registrar.err")"
	CHAIN_REGISTRAR_PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' \
		"$CHAIN_DIR/logs/registrar.out" | head -n 1)
	CHAIN_REGISTRAR_URL="https://127.0.0.1:$CHAIN_REGISTRAR_PORT"
	VTC_REGISTRAR_URL=$CHAIN_REGISTRAR_URL
	export VTC_REGISTRAR_URL
	chain_say "vtc-registrar (pid $CHAIN_REGISTRAR_PID) on $CHAIN_REGISTRAR_URL" \
		"(guests: https://10.0.2.2:$CHAIN_REGISTRAR_PORT)"
}

# vtc-hostd --install into /: the hook must be in place before libvirtd starts.
chain_install() {
	chain_machine_state >"$CHAIN_DIR/machine.before"
	if ! "$VTC_HOSTD" --install --hook-program "$VTC_HOOK" --certify-program "$VTC_VTPM_CERTIFY" \
		>"$CHAIN_DIR/logs/install.out" 2>&1; then
		cat "$CHAIN_DIR/logs/install.out" >&2
		# whatever it did, it undoes
		"$VTC_HOSTD" --uninstall >/dev/null 2>&1 || true
		chain_die "vtc-hostd --install"
	fi
	CHAIN_INSTALLED=1
	chain_say "vtc-hostd --install: the libvirt hook and swtpm_setup's certify tool are in /etc:"
	sed "s/^/$CHAIN_SAY_PREFIX             /" "$CHAIN_DIR/logs/install.out"
}

chain_hostd() {
	mkdir -p "$CHAIN_DIR/hostd"
	chmod 700 "$CHAIN_DIR/hostd"
	cat >"$CHAIN_DIR/hostd/hostd.conf" <<EOF
[hostd]
id = $CHAIN_HOST_ID
state_dir = $CHAIN_DIR/hostd
[tpm]
tcti = $CHAIN_HW_TCTI
[vtpm_log]
path = $CHAIN_DIR/hostd/vtpm.log
[registrar]
url = $CHAIN_REGISTRAR_URL
ca = $CHAIN_DIR/tls/ca.crt
[server]
address = 127.0.0.1
port = 0
[tls]
cert = $CHAIN_DIR/tls/hostd.crt
key = $CHAIN_DIR/tls/hostd.key
client_ca = $CHAIN_DIR/tls/ca.crt
[host_logs]
# the stand-in TPM's PCRs 0-10 were never extended by this machine's firmware or IMA
boot_log =
ima_log =
EOF
	chain_daemon vtc-hostd hostd "$VTC_HOSTD" --config "$CHAIN_DIR/hostd/hostd.conf"
	CHAIN_HOSTD_PID=$CHAIN_PID
	if ! chain_wait_file "$CHAIN_DIR/logs/hostd.out" '^vtc-hostd: ready' 60; then
		chain_die "vtc-hostd did not start: $(cat "$CHAIN_DIR/logs/hostd.err")"
	fi
	CHAIN_HOSTD_PORT=$(sed -n 's/.*serving verifiers on https:\/\/[^:]*:\([0-9]*\).*/\1/p' \
		"$CHAIN_DIR/logs/hostd.err" | head -n 1)
	[ -n "$CHAIN_HOSTD_PORT" ] || chain_die "vtc-hostd does not say its port: $(cat "$CHAIN_DIR/logs/hostd.err")"
	CHAIN_HOSTD_URL="https://127.0.0.1:$CHAIN_HOSTD_PORT"
	grep -q 'enrolled with the registrar' "$CHAIN_DIR/logs/hostd.err" ||
		chain_die "vtc-hostd did not enroll: $(cat "$CHAIN_DIR/logs/hostd.err")"
	chain_say "vtc-hostd (pid $CHAIN_HOSTD_PID) on the swtpm: enrolled with the registrar as" \
		"'$CHAIN_HOST_ID' (EK certificate, AK by MakeCredential, vTPM CA key by TPM2_Certify);" \
		"verifiers' endpoint $CHAIN_HOSTD_URL"
}

chain_libvirt() {
	if ! chain_proc_running virtlogd; then
		virtlogd >"$CHAIN_DIR/logs/virtlogd.log" 2>&1 &
		CHAIN_STARTED_VIRTLOGD=$!
		_i=0
		while [ ! -S /run/libvirt/virtlogd-sock ] && [ $_i -lt 50 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
	fi
	if ! chain_proc_running libvirtd; then
		libvirtd >"$CHAIN_DIR/logs/libvirtd.log" 2>&1 &
		CHAIN_STARTED_LIBVIRTD=$!
	fi
	_i=0
	until timeout 30 virsh -c "$CHAIN_URI" uri >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ $_i -lt 60 ] || chain_die "libvirtd does not answer"
		sleep 0.5
	done
	_l1="virtlogd already running"
	[ -z "$CHAIN_STARTED_VIRTLOGD" ] || _l1="virtlogd started (pid $CHAIN_STARTED_VIRTLOGD)"
	_l2="libvirtd already running"
	[ -z "$CHAIN_STARTED_LIBVIRTD" ] || _l2="libvirtd started (pid $CHAIN_STARTED_LIBVIRTD)"
	chain_say "libvirt: $_l1, $_l2 after the install: it runs the hook"
}

chain_guest_image() {
	"$CHAIN_TOP/qemu/guest/build-guest" --agent "$VTC_AGENT" "$CHAIN_GUEST_DIR" \
		>"$CHAIN_DIR/logs/build-guest.log" 2>&1 ||
		chain_die "qemu/guest/build-guest: $(tail -n 20 "$CHAIN_DIR/logs/build-guest.log")"
	cp "$CHAIN_GUEST_DIR/vmlinuz" "$CHAIN_GUEST_DIR/initrd.img" "$CHAIN_DIR/vm/"
	chmod 644 "$CHAIN_DIR/vm/vmlinuz" "$CHAIN_DIR/vm/initrd.img"
	# the registrar's CA on the kernel command line (doc/guest.md): the cached image stays valid
	CHAIN_CA_B64=$(openssl x509 -in "$CHAIN_DIR/tls/ca.crt" -outform DER | base64 -w 0)
	CHAIN_CMDLINE="console=ttyS0 panic=-1 vtc.registrar=https://10.0.2.2:$CHAIN_REGISTRAR_PORT vtc.ca=$CHAIN_CA_B64"
	chain_say "guest image: $(tail -n 1 "$CHAIN_DIR/logs/build-guest.log" | sed 's/^build-guest: //')"
}

# The runtime policy: the SHA-256 of every ELF file and script in the initramfs, under its path
# and under every symlink to it (busybox applets), in Keylime's runtime-policy format; and the
# boot policy: the firmware event log is required (replayed against PCRs 0-9 each boot).
chain_policy() {
	python3 - "$CHAIN_DIR/vm/initrd.img" "$CHAIN_DIR/runtime-policy.json" <<'PY' ||
import gzip, hashlib, json, posixpath, sys

data = gzip.open(sys.argv[1]).read()
files, links = {}, {}
off = 0
while off + 110 <= len(data):
    if data[off:off + 6] != b"070701":
        off += 1  # padding between concatenated archives
        continue
    f = [int(data[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
    mode, fsize, nsize = f[1], f[6], f[11]
    name_end = off + 110 + nsize - 1
    name = data[off + 110:name_end].decode()
    body = (off + 110 + nsize + 3) & ~3
    content = data[body:body + fsize]
    off = (body + fsize + 3) & ~3
    if name == "TRAILER!!!":
        continue
    if name.startswith("./"):
        name = name[2:]
    path = "/" + name
    if mode & 0o170000 == 0o100000:
        files[path] = content
    elif mode & 0o170000 == 0o120000:
        links[path] = content.decode()

def resolve(p, depth=0):
    if depth > 16:
        return None
    if p in files:
        return p
    if p in links:
        t = links[p]
        t = t if t.startswith("/") else posixpath.join(posixpath.dirname(p), t)
        return resolve(posixpath.normpath(t), depth + 1)
    return None

digests = {}
for p in sorted(set(files) | set(links)):
    r = resolve(p)
    if r is None:
        continue
    c = files[r]
    if c[:4] == b"\x7fELF" or c[:2] == b"#!":
        digests[p] = [hashlib.sha256(c).hexdigest()]
policy = {"meta": {"version": 1},
          "release": 0,
          "digests": digests,
          "excludes": [],
          "keyrings": {},
          "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": None},
          "ima-buf": {},
          "verification-keys": ""}
json.dump(policy, open(sys.argv[2], "w"), indent=1, sort_keys=True)
PY
		chain_die "generating the runtime policy from the initramfs"
	_n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["digests"]; print(len(d), len({v[0] for v in d.values()}))' "$CHAIN_DIR/runtime-policy.json")
	printf '{"require_boot_log": true}\n' >"$CHAIN_DIR/boot-policy.json"
	chain_say "runtime policy: ${_n% *} paths, ${_n#* } distinct SHA-256 digests (every executable," \
		"library and script of the initramfs); boot policy: the firmware event log is required"
}

chain_webhook() {
	mkdir -p "$CHAIN_DIR/webhook"
	chain_daemon webhook webhook python3 -u -c '
import http.server, os, sys
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        H.n += 1
        tmp = os.path.join(out, ".%d.tmp" % H.n)
        with open(tmp, "wb") as f:
            f.write(body)
        os.rename(tmp, os.path.join(out, "event-%03d.json" % H.n))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        sys.stderr.write("webhook: %s\n" % (a[0] % a[1:]))
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("webhook port %d" % s.server_address[1], flush=True)
s.serve_forever()
' "$CHAIN_DIR/webhook"
	CHAIN_WEBHOOK_PID=$CHAIN_PID
	chain_wait_file "$CHAIN_DIR/logs/webhook.out" 'webhook port [0-9]+' 20 ||
		chain_die "the webhook receiver did not start: $(cat "$CHAIN_DIR/logs/webhook.err")"
	CHAIN_WEBHOOK_URL="http://127.0.0.1:$(sed -n 's/webhook port //p' "$CHAIN_DIR/logs/webhook.out")/revocation"
	chain_say "webhook receiver (pid $CHAIN_WEBHOOK_PID) on $CHAIN_WEBHOOK_URL"
}

chain_verifier() {
	mkdir -p "$CHAIN_DIR/verifier/state"
	chmod 700 "$CHAIN_DIR/verifier"
	cat >"$CHAIN_DIR/verifier/verifier.conf" <<EOF
[server]
address = 127.0.0.1
port = 0
[tls]
cert = $CHAIN_DIR/tls/verifier.crt
key = $CHAIN_DIR/tls/verifier.key
client_ca = $CHAIN_DIR/tls/ca.crt
ca = $CHAIN_DIR/tls/ca.crt
[database]
path = $CHAIN_DIR/verifier/verifier.db
[state]
dir = $CHAIN_DIR/verifier/state
[registrar]
url = $CHAIN_REGISTRAR_URL
[hostd]
url_template =
hosts = $CHAIN_HOST_ID=$CHAIN_HOSTD_URL
[rounds]
interval_ms = ${CHAIN_INTERVAL_MS:-2000}
timeout_ms = 15000
backoff_max_ms = 4000
[webhooks]
urls = ${CHAIN_WEBHOOK_URL:-}
retries = 3
retry_ms = 500
EOF
	chain_daemon vtc-verifier verifier "$VTC_VERIFIER" --config "$CHAIN_DIR/verifier/verifier.conf"
	CHAIN_VERIFIER_PID=$CHAIN_PID
	chain_wait_file "$CHAIN_DIR/logs/verifier.out" 'listening on port [0-9]+' 30 ||
		chain_die "vtc-verifier did not start: $(cat "$CHAIN_DIR/logs/verifier.err")"
	CHAIN_VERIFIER_URL="https://127.0.0.1:$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' \
		"$CHAIN_DIR/logs/verifier.out" | head -n 1)"
	VTC_VERIFIER_URL=$CHAIN_VERIFIER_URL
	export VTC_VERIFIER_URL
	chain_say "vtc-verifier (pid $CHAIN_VERIFIER_PID) on $CHAIN_VERIFIER_URL: registrar" \
		"$CHAIN_REGISTRAR_URL, hostd '$CHAIN_HOST_ID' at $CHAIN_HOSTD_URL, a round every" \
		"$((${CHAIN_INTERVAL_MS:-2000} / 1000)) s"
}

# ---- VMs ------------------------------------------------------------------------------------

chain_vm_name() {
	echo "vtc-chain-$$-$1"
}

chain_vm_uuid() {
	cat "$CHAIN_DIR/vm/$1/uuid"
}

# chain_vm_define NAME [protect|plain] [UUID]
chain_vm_define() {
	_d="$CHAIN_DIR/vm/$1"
	_name=$(chain_vm_name "$1")
	_uuid=${3:-$(cat /proc/sys/kernel/random/uuid)}
	mkdir -p "$_d"
	chmod 755 "$_d"
	echo "$_uuid" >"$_d/uuid"
	echo "$_name" >"$_d/name"
	sed -e "s|@NAME@|$_name|g" -e "s|@UUID@|$_uuid|g" -e "s|@MEMORY_MIB@|384|g" \
		-e "s|@OVMF@|$CHAIN_OVMF|g" -e "s|@KERNEL@|$CHAIN_DIR/vm/vmlinuz|g" \
		-e "s|@INITRD@|$CHAIN_DIR/vm/initrd.img|g" -e "s|@CMDLINE@|$CHAIN_CMDLINE|g" \
		-e "s|@CONSOLE_LOG@|$_d/console.log|g" -e "s|@CMD_SOCKET@|$_d/cmd.sock|g" \
		"$CHAIN_TOP/qemu/guest/domain.xml.in" >"$_d/domain.xml"
	chain_virsh define "$_d/domain.xml" >/dev/null || chain_die "virsh define $_name"
	CHAIN_VMS="$CHAIN_VMS $1"
	if [ "${2:-protect}" = protect ]; then
		timeout 60 "$VTC_HOSTD" vm protect "$_name" >"$_d/protect.log" 2>&1 ||
			chain_die "vtc-hostd vm protect $_name: $(cat "$_d/protect.log")"
		chain_say "VM $1: defined $_name ($_uuid) and protected (vtc-hostd vm protect):"
		sed "s/^/$CHAIN_SAY_PREFIX             /" "$_d/protect.log"
	else
		chain_say "VM $1: defined $_name ($_uuid), not protected (vTPM state unsealed)"
	fi
}

chain_vm_start() {
	_d="$CHAIN_DIR/vm/$1"
	_name=$(cat "$_d/name")
	# a fresh console per boot (QEMU appends)
	if [ -f "$_d/console.log" ]; then
		cat "$_d/console.log" >>"$_d/console.old"
		: >"$_d/console.log"
	fi
	_t=$(chain_now)
	if ! _out=$(timeout -k 5 120 virsh -q -c "$CHAIN_URI" start "$_name" 2>&1); then
		CHAIN_START_ERROR=$_out
		return 1
	fi
	chain_say "VM $1: started ($(echo "$(chain_now) $_t" | awk '{ printf "%.1f", $1 - $2 }') s," \
		"libvirt ran swtpm with the vTPM; the hook told vtc-hostd)"
}

# chain_vm_wait_ready NAME [SECONDS]: the guest's /init and its agent are up.
chain_vm_wait_ready() {
	_d="$CHAIN_DIR/vm/$1"
	_t=$(chain_now)
	if ! chain_wait_file "$_d/console.log" '^vtc-agent: ready' "${2:-150}"; then
		echo "--- console of VM $1:" >&2
		tail -n 40 "$_d/console.log" >&2 2>/dev/null || true
		chain_die "VM $1: no 'vtc-agent: ready' on the console within ${2:-150} s"
	fi
	chain_say "VM $1: booted (OVMF, kernel, /init with IMA policy), agent ready after" \
		"$(echo "$(chain_now) $_t" | awk '{ printf "%.1f", $1 - $2 }') s"
}

chain_vm_stop() {
	_name=$(cat "$CHAIN_DIR/vm/$1/name")
	chain_virsh destroy "$_name" >/dev/null 2>&1 || true
	_i=0
	while [ "$(chain_virsh domstate "$_name" 2>/dev/null)" = running ] && [ $_i -lt 100 ]; do
		sleep 0.2
		_i=$((_i + 1))
	done
}

chain_vm_run() {
	_vm=$1
	shift
	timeout 90 python3 "$CHAIN_CTL" run --timeout 60 "$CHAIN_DIR/vm/$_vm/cmd.sock" "$@"
}

chain_vm_add() {
	_uuid=$(chain_vm_uuid "$1")
	"$VTC" vm add "$_uuid" --runtime-policy "$CHAIN_DIR/runtime-policy.json" \
		--boot-policy "$CHAIN_DIR/boot-policy.json" >"$CHAIN_DIR/vm/$1/add.log" 2>&1 ||
		chain_die "vtc vm add $_uuid: $(cat "$CHAIN_DIR/vm/$1/add.log")"
	chain_say "tenant: vtc vm add $_uuid --runtime-policy runtime-policy.json" \
		"--boot-policy boot-policy.json"
}

# chain_vm_json NAME: the verifier's status of the VM (GET /v1/vms/UUID) as JSON (vtc vm
# status exits 1 for a failed VM: the JSON is what counts).
chain_vm_json() {
	_j=$("$VTC" vm status --json "$(chain_vm_uuid "$1")" 2>/dev/null) || true
	case "$_j" in
	"{"*) echo "$_j" ;;
	*) return 1 ;;
	esac
}

# chain_vm_rm NAME: the tenant stops watching the VM.
chain_vm_rm() {
	"$VTC" vm rm "$(chain_vm_uuid "$1")" >/dev/null 2>&1
}

# chain_json_get JSON KEY...: a member (nested keys), "null" when absent.
chain_json_get() {
	python3 -c '
import json, sys
try:
    v = json.loads(sys.argv[1])
except ValueError:
    v = None
for k in sys.argv[2:]:
    v = v.get(k) if isinstance(v, dict) else None
print("null" if v is None else v)' "$@"
}

# chain_vm_wait_state NAME STATE SECONDS: polls the verifier; prints nothing; returns 1 on
# timeout, 2 when the VM went failed while STATE was another one. $CHAIN_STATUS holds the last
# status JSON.
chain_vm_wait_state() {
	_end=$(($(date +%s) + $3))
	CHAIN_STATUS=""
	while [ "$(date +%s)" -lt "$_end" ]; do
		CHAIN_STATUS=$(chain_vm_json "$1") || CHAIN_STATUS=""
		if [ -n "$CHAIN_STATUS" ]; then
			_st=$(chain_json_get "$CHAIN_STATUS" state)
			[ "$_st" != "$2" ] || return 0
			if [ "$_st" = failed ]; then
				return 2
			fi
		fi
		sleep 0.5
	done
	return 1
}

# chain_registrar_get PATH: an admin read from the registrar (tenant client certificate).
chain_registrar_get() {
	curl -sS --max-time 20 --cacert "$VTC_CA" --cert "$VTC_CERT" --key "$VTC_KEY" \
		"$CHAIN_REGISTRAR_URL$1"
}

chain_verifier_get() {
	curl -sS --max-time 20 --cacert "$VTC_CA" --cert "$VTC_CERT" --key "$VTC_KEY" \
		"$CHAIN_VERIFIER_URL$1"
}

# chain_webhook_verify FILE: checks the revocation event's signature as doc/api/verifier.md
# says (key_id names GET /v1/revocation-key's key; ECDSA over the event's canonical JSON).
chain_webhook_verify() {
	_w="$CHAIN_DIR/webhook-check"
	mkdir -p "$_w"
	chain_verifier_get /v1/revocation-key >"$_w/key.json" || return 1
	python3 - "$1" "$_w" <<'PY' || return 1
import base64, hashlib, json, subprocess, sys
body = json.load(open(sys.argv[1]))
w = sys.argv[2]
key = json.load(open(w + "/key.json"))
open(w + "/revocation.pub", "w").write(key["public_key"])
der = subprocess.run(["openssl", "pkey", "-pubin", "-in", w + "/revocation.pub", "-outform", "DER"],
                     check=True, capture_output=True).stdout
if hashlib.sha256(der).hexdigest() != key["key_id"]:
    sys.exit("key_id of /v1/revocation-key is not the SHA-256 of its key")
if body["event"].get("key_id") != key["key_id"]:
    sys.exit("the event's key_id %s is not the verifier's %s" % (body["event"].get("key_id"), key["key_id"]))
open(w + "/event.bin", "wb").write(json.dumps(body["event"], sort_keys=True, separators=(",", ":"),
                                              ensure_ascii=False).encode())
open(w + "/event.sig", "wb").write(base64.b64decode(body["signature"]))
PY
	openssl dgst -sha256 -verify "$_w/revocation.pub" -signature "$_w/event.sig" "$_w/event.bin" \
		>/dev/null 2>&1
}

# ---- teardown -------------------------------------------------------------------------------

chain_teardown() {
	_rc=0
	if [ -n "${CHAIN_KEEP:-}" ]; then
		chain_say "CHAIN_KEEP: everything kept in place ($CHAIN_DIR); run chain_teardown later"
		return 0
	fi
	[ -n "${CHAIN_DIR:-}" ] || return 0
	chain_say "teardown: domains, daemons, vtc-hostd --uninstall"
	for _vm in $CHAIN_VMS; do
		_name=$(cat "$CHAIN_DIR/vm/$_vm/name")
		_uuid=$(cat "$CHAIN_DIR/vm/$_vm/uuid")
		if chain_virsh domstate "$_name" >/dev/null 2>&1; then
			chain_virsh destroy "$_name" >/dev/null 2>&1 || true
			chain_virsh undefine --tpm --nvram "$_name" >/dev/null 2>&1 ||
				chain_virsh undefine "$_name" >/dev/null 2>&1 || {
				echo "${CHAIN_SAY_PREFIX}teardown: could not undefine $_name" >&2
				_rc=1
			}
		fi
		rm -rf "${CHAIN_SWTPM_DIR:?}/$_uuid"
		rm -f "/var/log/libvirt/qemu/$_name.log" "/var/log/swtpm/libvirt/qemu/$_name-swtpm.log"
		# a libvirt secret hostd defined and could not withdraw
		for _s in $(chain_virsh secret-list 2>/dev/null | awk '{ print $1 }'); do
			if chain_virsh secret-dumpxml "$_s" 2>/dev/null | grep -q "vtc-$_uuid"; then
				chain_virsh secret-undefine "$_s" >/dev/null 2>&1 || true
			fi
		done
	done
	CHAIN_VMS=""
	# the daemons, newest first
	_rev=""
	for _p in $CHAIN_PIDS; do
		_rev="$_p $_rev"
	done
	for _p in $_rev; do
		chain_stop_pid "${_p%%:*}" "${_p#*:}"
	done
	CHAIN_PIDS=""
	if [ -n "$CHAIN_STARTED_LIBVIRTD" ]; then
		chain_stop_pid "$CHAIN_STARTED_LIBVIRTD" libvirtd
		CHAIN_STARTED_LIBVIRTD=""
	fi
	if [ -n "$CHAIN_STARTED_VIRTLOGD" ]; then
		chain_stop_pid "$CHAIN_STARTED_VIRTLOGD" virtlogd
		CHAIN_STARTED_VIRTLOGD=""
	fi
	# a hostd that died leaves its socket
	[ ! -S /run/vtc/hostd.sock ] || rm -f /run/vtc/hostd.sock
	if [ "$CHAIN_INSTALLED" = 1 ]; then
		if "$VTC_HOSTD" --uninstall >"$CHAIN_DIR/logs/uninstall.out" 2>&1; then
			CHAIN_INSTALLED=0
			if grep -q '  kept ' "$CHAIN_DIR/logs/uninstall.out"; then
				echo "${CHAIN_SAY_PREFIX}teardown: --uninstall kept files:" >&2
				cat "$CHAIN_DIR/logs/uninstall.out" >&2
				_rc=1
			fi
		else
			echo "${CHAIN_SAY_PREFIX}teardown: vtc-hostd --uninstall failed:" >&2
			cat "$CHAIN_DIR/logs/uninstall.out" >&2
			_rc=1
		fi
	fi
	if [ -f "$CHAIN_DIR/machine.before" ]; then
		chain_machine_state >"$CHAIN_DIR/machine.after"
		if ! cmp -s "$CHAIN_DIR/machine.before" "$CHAIN_DIR/machine.after"; then
			echo "${CHAIN_SAY_PREFIX}teardown: / is not as it was:" >&2
			diff "$CHAIN_DIR/machine.before" "$CHAIN_DIR/machine.after" >&2 || true
			_rc=1
		fi
	fi
	if [ -n "$CHAIN_LOCK" ]; then
		rm -rf "$CHAIN_LOCK"
		CHAIN_LOCK=""
	fi
	if [ $_rc = 0 ]; then
		rm -rf "$CHAIN_DIR"
		chain_say "teardown done: no domain, daemon, secret or file of the chain is left; / is as before"
	else
		chain_say "teardown: problems above; logs kept in $CHAIN_DIR"
	fi
	return $_rc
}
