#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `vtc eventlog`: replay --json against the PCRs go-attestation read from real TPMs, show output,
# and exit codes for unparseable logs and bad usage.
set -u
: "${VTC:?VTC must point to the vtc binary}"
TD=${VTC_TESTDATA:-}
if [ -z "$TD" ] || [ ! -d "$TD/eventlog" ]; then
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		echo "test data missing and VTC_TEST_REQUIRE_ALL is set" >&2
		exit 1
	fi
	echo "test data missing: skipping" >&2
	exit 77
fi
GA="$TD/eventlog/go-attestation"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAIL=0
fail() {
	echo "FAIL: $*" >&2
	FAIL=1
}

# replay --json: every touched PCR equals expected_pcrs.json (sb_cert: PCR 10 is IMA's)
for pair in sb_cert_eventlog:sb_cert_eventlog option_rom_eventlog:option_rom_eventlog \
	windows_gcp_shielded_vm.json:windows_gcp_split/eventlog.bin; do
	key=${pair%%:*}
	file=${pair#*:}
	"$VTC" eventlog replay --json "$GA/$file" >"$TMP/out.json"
	rc=$?
	[ $rc -eq 0 ] || fail "replay $file exited $rc"
	python3 - "$TMP/out.json" "$GA/expected_pcrs.json" "$key" <<'PY' || fail "replay $file: PCRs differ"
import json, sys
out = json.load(open(sys.argv[1]))
exp = json.load(open(sys.argv[2]))[sys.argv[3]]["expected_pcrs"]
assert list(out.keys()) == ["pcrs"], out.keys()
compared = 0
for bank, pcrs in exp.items():
    got = out["pcrs"].get(bank)
    assert got is not None, "bank %s missing" % bank
    for pcr, value in pcrs.items():
        if sys.argv[3] == "sb_cert_eventlog" and pcr == "10":
            continue
        if pcr in got:
            assert got[pcr] == value, (bank, pcr, got[pcr], value)
            compared += 1
        else:
            # not touched by the log: must be the TPM's reset value
            reset = "f" if 17 <= int(pcr) <= 22 else "0"
            assert value == reset * len(value), (bank, pcr, value)
    for pcr in got:
        assert pcr in pcrs or sys.argv[3] == "option_rom_eventlog", ("extra PCR", bank, pcr)
assert compared >= 8, compared
PY
done

# text replay names the banks
"$VTC" eventlog replay "$GA/sb_cert_eventlog" >"$TMP/replay.txt" || fail "text replay"
grep -q '^sha256:' "$TMP/replay.txt" || fail "text replay: no sha256 bank"
grep -q '0 : fcecb56acc303862b30eb342c4990beb50b5e0ab89722449c2d9a73f37b019fe' "$TMP/replay.txt" ||
	fail "text replay: PCR 0 value"

# show: events with type names, digests and decoded data
"$VTC" eventlog show "$GA/ubuntu_2104_shielded_vm_no_secure_boot_eventlog" >"$TMP/show.txt" ||
	fail "show exited non-zero"
grep -q '^0: PCR 0 EV_NO_ACTION (not extended)' "$TMP/show.txt" || fail "show: Spec ID event"
grep -q 'EV_EFI_BOOT_SERVICES_APPLICATION' "$TMP/show.txt" || fail "show: boot application"
grep -q '\\EFI\\ubuntu\\shimx64.efi' "$TMP/show.txt" || fail "show: shim path"
grep -q 'SecureBoot \[8be4df61-93ca-11d2-aa0d-00e098032b8c\] 1 bytes: 0 (disabled)' "$TMP/show.txt" ||
	fail "show: SecureBoot variable"
grep -q 'grub_cmd: ' "$TMP/show.txt" || fail "show: EV_IPL strings"
"$VTC" eventlog show --json "$GA/ubuntu_2104_shielded_vm_no_secure_boot_eventlog" >"$TMP/show.json" ||
	fail "show --json exited non-zero"
python3 - "$TMP/show.json" <<'PY' || fail "show --json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "crypto-agile"
assert [b["algorithm"] for b in d["banks"]] == ["sha1", "sha256", "sha384"]
ev = d["events"]
assert len(ev) == 106
assert ev[0]["type"] == "EV_NO_ACTION" and ev[0]["extended"] is False
apps = [e for e in ev if e["type"] == "EV_EFI_BOOT_SERVICES_APPLICATION"]
assert apps and apps[0]["pcr"] == 4 and set(apps[0]["digests"]) == {"sha1", "sha256", "sha384"}
assert all(e["decoded"] for e in ev)
PY

# negative cases: unparseable input exits 3 with a message
for bad in "$TD/eventlog/keylime/binary_bios_measurements-bogus" \
	"$TD/eventlog/keylime/binary_bios_measurements-empty" \
	"$GA/short_no_action_eventlog" "$TMP/does-not-exist"; do
	"$VTC" eventlog replay "$bad" >/dev/null 2>"$TMP/err"
	rc=$?
	[ $rc -eq 3 ] || fail "replay $bad exited $rc, expected 3"
	grep -q '^vtc: ' "$TMP/err" || fail "replay $bad: no error message"
done

# usage errors exit 2
"$VTC" eventlog >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments: expected exit 2"
"$VTC" eventlog frobnicate "$GA/sb_cert_eventlog" >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown command: expected exit 2"
"$VTC" eventlog replay --bogus-option "$GA/sb_cert_eventlog" >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option: expected exit 2"
"$VTC" eventlog --help >"$TMP/help" 2>&1 || fail "--help exited non-zero"
for word in replay show --json "Exit status" Example; do
	grep -q -- "$word" "$TMP/help" || fail "--help lacks $word"
done

exit $FAIL
