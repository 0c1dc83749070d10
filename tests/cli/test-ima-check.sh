#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# vtc ima check: real IMA logs against real Keylime runtime policies (verdicts as in Keylime's
# test/test_ima_verification.py), exit codes, failing entries named, usage errors.
set -eu
: "${VTC:?VTC must name the vtc binary}"
td="${VTC_TESTDATA:-../shared/testdata}"
if [ ! -d "$td/policy" ] || [ ! -d "$td/ima/keylime" ]; then
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		echo "FAIL: test data missing under $td and VTC_TEST_REQUIRE_ALL is set"
		exit 1
	fi
	echo "test data missing under $td: skipping"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
P="$td/policy"
L="$td/ima/keylime"

# run EXPECTED_RC ARGS...: output in $tmp/out, stderr in $tmp/err
run() {
	want=$1
	shift
	rc=0
	"$VTC" ima check "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		cat "$tmp/out" "$tmp/err"
		fail "vtc ima check $*: exit $rc, expected $want"
	fi
}
has() { grep -qF -- "$1" "$tmp/out" || { cat "$tmp/out"; fail "output lacks: $1"; }; }
has_err() { grep -qF -- "$1" "$tmp/err" || { cat "$tmp/err"; fail "stderr lacks: $1"; }; }
lacks() { ! grep -qF -- "$1" "$tmp/out" || { cat "$tmp/out"; fail "output has: $1"; }; }

# --- help and usage ---
run 0 --help
has "Exit status:"
has "--policy"
has "Example"
run 2
run 2 "$L/ima_sig_entries_rsa_ec.txt"
has_err "--policy is required"
run 2 --policy "$P/runtime_policy_test.json" --format xml "$L/ima_sig_entries_rsa_ec.txt"
run 2 --policy "$P/runtime_policy_test.json" "$L/ima_sig_entries_rsa_ec.txt" extra
run 2 --no-such-option --policy "$P/runtime_policy_test.json" "$L/ima_sig_entries_rsa_ec.txt"

# --- Keylime's verdicts ---
# test_mixed_verfication: every entry covered by the allowlist -> pass
run 0 --policy "$P/runtime_policy_test.json" "$L/ima_sig_entries_rsa_ec.txt"
has "result: valid"
has "accepted: 2 by digest"
run 0 --policy "$P/runtime_policy_test.json" "$L/ima_measurements_openpower.txt"
# test_measurment_verification: no files in the allowlist -> fail, each file named
run 1 --policy "$P/runtime_policy_wrong.json" "$L/ima_measurements_openpower.txt"
has "FAIL #1 /lib/modules/5.4.48-openpower1/kernel/drivers/usb/common/usb-common.ko sha256:f1125b940480d20ad841d26d5ea253edc0704b5ec1548c891edf212cb1a9365e: path not in policy"
has "FAIL #2 /lib/modules/5.4.48-openpower1/kernel/drivers/gpu/drm/drm_panel_orientation_quirks.ko"
lacks "FAIL #0"
has "skipped: 1"
has "result: not valid"
# the wrong policy: both signed files named, with why their signatures did not help
run 1 --policy "$P/runtime_policy_wrong.json" "$L/ima_sig_entries_rsa_ec.txt"
has "FAIL #0 /usr/bin/dd sha256:d33d5d13792292e202dbf69a6f1b07bc8a02f01424db8489ba7bb7d43c0290ef: digest not in policy (signature does not verify: no key with id 0xf3452d23)"
has "FAIL #1 /usr/bin/zmore sha256:b8ae0b8dd04a5935cd8165aa2260cd11b658bd71629bdb52256a675a1f73907b: digest not in policy"
has "failed: 2"

# the same policies with the tenant keys (ima_keyring_string.json) and the excludes
python3 - "$P" "$tmp" <<'PY' || fail "building policies"
import json, sys
p, tmp = sys.argv[1], sys.argv[2]
keys = open(p + "/ima_keyring_string.json").read().strip()
excludes = json.load(open(p + "/excludes.json"))
for base in ("runtime_policy_test", "runtime_policy_wrong"):
    pol = json.load(open("%s/%s.json" % (p, base)))
    pol["verification-keys"] = keys
    json.dump(pol, open("%s/%s-keys.json" % (tmp, base), "w"))
    pol = json.load(open("%s/%s.json" % (p, base)))
    pol["excludes"] = excludes
    json.dump(pol, open("%s/%s-excludes.json" % (tmp, base), "w"))
PY
# test_mixed_verfication: the signature is valid but the hash in the allowlist is wrong -> pass
run 0 --policy "$tmp/runtime_policy_wrong-keys.json" "$L/ima_sig_entries_rsa_ec.txt"
has "accepted: 0 by digest, 0 by exclude, 2 by signature"
# all files are in the exclude list but hashes are invalid -> pass
run 0 --policy "$tmp/runtime_policy_wrong-excludes.json" "$L/ima_measurements_openpower.txt"
has "accepted: 0 by digest, 2 by exclude"
run 0 --policy "$tmp/runtime_policy_wrong-excludes.json" "$L/ima_sig_entries_rsa_ec.txt"
# test_ima_buf_verification: the .ima keyring's key is allowed
run 0 --policy "$P/runtime_policy_test.json" "$L/ima_buf_keyring_entry.txt"
run 1 --policy "$P/runtime_policy_wrong.json" "$L/ima_buf_keyring_entry.txt"
has "FAIL #0 .ima sha256:a7d52aaa18c23d2d9bb2abb4308c0eeee67387a42259f4a6b1a42257065f3d5a: keyring not in policy"
# malformed signature (BAD_SIGNATURES): its template hash is wrong: the log is refused
run 3 --policy "$P/runtime_policy_test.json" "$L/ima_sig_bad_sigsize.txt"
has_err "ima_sig_bad_sigsize.txt"

# a log with every kind of entry: each failing one named, the others not
run 1 --policy "$P/runtime_policy_test.json" "$L/policy-commands-ima_log.txt"
has "FAIL #1 /test sha256:f2d65f36dbae04c794028a89a7581c452ccca727d9cd6d12504e7aacc1ceaf33: path not in policy"
has "FAIL #2 dm_table_load sha256:571016c9f57363c80e08dd4346391c4e70227e41b0247b8a3aa2240a178d3d14: buffer not in policy"
has "FAIL #4 .test sha256:68b0115a1ccce90691f62df3053bd6601ad258e02ee6b5cee07f2a19144f253f: keyring not in policy"
lacks "FAIL #0"
lacks "FAIL #3"
has "failed: 3"
# boot_aggregate is zeros there and not in the policy: checked only on request
run 1 --check-boot-aggregate --policy "$P/runtime_policy_test.json" "$L/policy-commands-ima_log.txt"
has "FAIL #0 boot_aggregate sha256:0000000000000000000000000000000000000000000000000000000000000000: digest not in policy"

# --- JSON output, and the PCR 10 values of a real 826-entry log (ascii and binary agree) ---
for f in rust-keylime-ascii_runtime_measurements rust-keylime-binary_runtime_measurements; do
	run 1 --json --policy "$P/runtime_policy_test.json" "$td/ima/$f"
	python3 - "$tmp/out" <<'PY' || fail "JSON output of $f"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["valid"] is False and r["entries"] == 826, r["entries"]
assert r["failed"] == 825 and r["skipped"] == 1 and len(r["failures"]) == 825, r["failed"]
assert r["pcr10"]["sha1"] == "82231c67a69da98dc5b3aa10f6343d33109225fc"
assert r["pcr10"]["sha256"] == "c4a065637fc6a7c55f2811dd06cb45dd037133be2b3dc5c3e6fbe6bf061db724"
f = r["failures"][0]
assert f["index"] == 1 and f["reason"] == "path not in policy" and f["template"] == "ima-ng", f
assert f["path"] == "/init" and f["digest"] == "sha1:19f13b42c2745066347e76454788c0fe083643f3", f
PY
done
run 1 --max-failures 2 --policy "$P/runtime_policy_test.json" "$td/ima/rust-keylime-ascii_runtime_measurements"
[ "$(grep -c '^FAIL #' "$tmp/out")" -eq 2 ] || fail "--max-failures 2 printed more"
has "... 823 more failing entries not shown"
has "pcr10 sha1: 82231c67a69da98dc5b3aa10f6343d33109225fc"

# --- signed policies (DSSE) ---
run 0 --policy "$P/runtime-policy-test-signed.json" --policy-key "$P/runtime-policy-pubkey.pub" "$td/ima/ima_log.txt"
run 3 --policy "$P/runtime-policy-test-signed-bad.json" --policy-key "$P/runtime-policy-pubkey.pub" "$td/ima/ima_log.txt"
has_err "no signature verifies"
run 3 --policy "$P/runtime-policy-test-signed.json" "$td/ima/ima_log.txt"
has_err "DSSE envelope"

# --- unreadable or malformed input: exit 3, the member or file named ---
run 3 --policy "$tmp/no-such-policy.json" "$L/ima_sig_entries_rsa_ec.txt"
run 3 --policy "$P/runtime_policy_test.json" "$tmp/no-such-log"
printf '{' >"$tmp/broken.json"
run 3 --policy "$tmp/broken.json" "$L/ima_sig_entries_rsa_ec.txt"
has_err "not valid JSON"
sed 's/"excludes": \[\]/"excludes": ["(unclosed"]/' "$P/runtime_policy_test.json" >"$tmp/regex.json"
run 3 --policy "$tmp/regex.json" "$L/ima_sig_entries_rsa_ec.txt"
has_err "excludes[0]: invalid regex"
sed 's/"bad05d13/"BAD05D13/' "$P/runtime_policy_wrong.json" >"$tmp/hex.json"
run 3 --policy "$tmp/hex.json" "$L/ima_sig_entries_rsa_ec.txt"
has_err 'digests["/usr/bin/dd"][0]: not a lowercase hex digit'
run 3 --policy "$P/excludes.json" "$L/ima_sig_entries_rsa_ec.txt"
has_err "expected an object, got an array"
run 3 --policy "$P/runtime_policy_test.json" "$td/ima/invalid_ima_log.txt"
# a measurement violation (template hash zeros, file digest zeros) is a failing entry
run 1 --policy "$P/runtime_policy_test.json" "$td/ima/tpm2-tss/sml-ima-sig-sha256-invalidated.bin"
has "FAIL #1 /init sha256:0000000000000000000000000000000000000000000000000000000000000000: path not in policy [IMA violation entry]"
has "violations: 1"
# an empty log has nothing to reject
run 0 --policy "$P/runtime_policy_test.json" "$td/ima/empty_ima_log.txt"
has "entries: 0"
echo "ok"
