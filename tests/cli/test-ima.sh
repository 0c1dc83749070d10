#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `vtc ima replay` on the real IMA logs of the shared corpus: values and exit codes.
set -u

T="${VTC_TESTDATA:-../shared/testdata}/ima"
if [ ! -d "$T" ]; then
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		echo "test data $T is missing and VTC_TEST_REQUIRE_ALL is set" >&2
		exit 1
	fi
	echo "test data $T is missing: skipping" >&2
	exit 77
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0

fail() {
	echo "FAIL: $*" >&2
	FAILED=1
}

# expect_exit CODE ARGS...: runs vtc, keeps stdout in $TMP/out and stderr in $TMP/err
expect_exit() {
	want=$1
	shift
	"$VTC" "$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	if [ "$got" != "$want" ]; then
		fail "vtc $* exited $got, expected $want; stderr: $(cat "$TMP/err")"
	fi
}

expect_out() {
	grep -qF -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(cat "$TMP/out")"
}

expect_err() {
	grep -qF -- "$1" "$TMP/err" || fail "stderr lacks '$1': $(cat "$TMP/err")"
}

SHA1=82231c67a69da98dc5b3aa10f6343d33109225fc
SHA256=c4a065637fc6a7c55f2811dd06cb45dd037133be2b3dc5c3e6fbe6bf061db724
JSON="{\"pcr10\":{\"sha1\":\"$SHA1\",\"sha256\":\"$SHA256\"},\"entries\":826,\"violations\":0}"

# the rust-keylime log, ascii and binary, detected or named
for f in rust-keylime-ascii_runtime_measurements rust-keylime-binary_runtime_measurements; do
	expect_exit 0 ima replay --json "$T/$f"
	[ "$(cat "$TMP/out")" = "$JSON" ] || fail "$f: $(cat "$TMP/out")"
	expect_exit 0 ima replay "$T/$f"
	expect_out "pcr10 sha1: $SHA1"
	expect_out "pcr10 sha256: $SHA256"
	expect_out "entries: 826"
done
expect_exit 0 ima replay --json --format ascii "$T/rust-keylime-ascii_runtime_measurements"
expect_out "\"sha256\":\"$SHA256\""
expect_exit 0 ima replay --json --format binary "$T/rust-keylime-binary_runtime_measurements"
expect_out "\"sha256\":\"$SHA256\""
# the wrong format named: unparseable
expect_exit 3 ima replay --format ascii "$T/rust-keylime-binary_runtime_measurements"
expect_exit 3 ima replay --format binary "$T/rust-keylime-ascii_runtime_measurements"

# incremental: the first 300 entries, then the rest from the running values
expect_exit 0 ima replay --json "$T/rust-keylime-binary_runtime_measurements" --offset 826
expect_out '"entries":826'
expect_out '"sha1":"0000000000000000000000000000000000000000"'
head -n 300 "$T/rust-keylime-ascii_runtime_measurements" >"$TMP/first300"
expect_exit 0 ima replay --json "$TMP/first300"
s1=$(sed 's/.*"sha1":"\([0-9a-f]*\)".*/\1/' "$TMP/out")
s256=$(sed 's/.*"sha256":"\([0-9a-f]*\)".*/\1/' "$TMP/out")
for f in rust-keylime-ascii_runtime_measurements rust-keylime-binary_runtime_measurements; do
	expect_exit 0 ima replay --json --offset 300 --start-sha1 "$s1" --start-sha256 "$s256" "$T/$f"
	[ "$(cat "$TMP/out")" = "$JSON" ] || fail "incremental $f: $(cat "$TMP/out")"
done
expect_exit 3 ima replay --offset 827 "$T/rust-keylime-binary_runtime_measurements"

# other real logs
expect_exit 0 ima replay --json "$T/empty_ima_log.txt"
expect_out '"entries":0'
expect_out '"sha256":"0000000000000000000000000000000000000000000000000000000000000000"'
expect_exit 0 ima replay "$T/ima_log.txt"
expect_out "entries: 1"
expect_exit 0 ima replay "$T/test_ascii_runtime_measurements"
expect_out "entries: 3"
expect_exit 0 ima replay "$T/keylime/ima_sig_entries_rsa_ec.txt"
expect_exit 0 ima replay "$T/keylime/ima_buf_keyring_entry.txt"
expect_exit 0 ima replay "$T/keylime/ima_measurements_openpower.txt"
expect_out "entries: 3"
expect_exit 0 ima replay "$T/keylime/policy-commands-ima_log.txt"
expect_out "entries: 5"

# invalid logs: exit 3 with the entry named
expect_exit 3 ima replay "$T/invalid_ima_log.txt"
expect_err "IMA log entry 0 (line 1)"
expect_exit 3 ima replay "$T/keylime/ima_sig_bad_sigsize.txt"
expect_err "/usr/bin/zmore"
expect_err "template hash"
expect_exit 3 ima replay "$T/tpm2-tss/sml-ima-ng-sha1-invalidated.bin"
expect_err "truncated"
# ... while --partial takes it as zero complete entries and 86 bytes left over
expect_exit 0 ima replay --partial --json "$T/tpm2-tss/sml-ima-ng-sha1-invalidated.bin"
expect_out '"entries":0'
expect_out '"truncated_bytes":86'

# violations (template hash zero): rejected with exit 1 unless accepted
expect_exit 1 ima replay "$T/tpm2-tss/sml-ima-sha1-invalidated.bin"
expect_err "violation"
expect_exit 1 ima replay "$T/tpm2-tss/sml-ima-sig-sha256-invalidated.bin"
expect_err "IMA log entry 1"
expect_err "/init"
expect_exit 0 ima replay --ignore-violations --json "$T/tpm2-tss/sml-ima-sha1-invalidated.bin"
expect_out '"violations":1'

# the tpm2-tss samples are cut a few bytes into a last entry
expect_exit 3 ima replay "$T/tpm2-tss/sml-ima-sha1.bin"
expect_exit 0 ima replay --partial --json "$T/tpm2-tss/sml-ima-sha1.bin"
expect_out '"entries":12'
expect_out '"truncated_bytes":1'
expect_exit 0 ima replay --partial --json "$T/tpm2-tss/sml-ima-sig-sha256.bin"
expect_out '"entries":9'
expect_out '"truncated_bytes":6'

# boot_aggregate: SHA-256 PCRs 0-9 of ima-evm-utils' sample machine (tpm2_pcrread layout)
cat >"$TMP/pcrs.yaml" <<'EOF'
sha256:
  0 : 0xbc23fb2a5554fa5b56de8d82c0c98229fd44ec4f13141c1c0a4603fc4e8bb465
  1 : 0xc9e651ab2ba5a79bf1355572213fbdb770ac415e19f902fedd4cdc8154417674
  2 : 0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969
  3 : 0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969
  4 : 0x93dd723656367381cf5d8bb170ab388aa0d776b53fc6bb136fce24ba4d6f83fe
  5 : 0xf0be4c8fa67a47830b04af8e556b574b0e3159a19405ec3fee95ff8259ff6446
  6 : 0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969
  7 : 0x64b79a2a5a0c45df21d3f79ae2b91d65d8841582d91d55463193d4e396e288aa
  8 : 0x63cd2ac50444e1cdcf7ff80a5f5d73c14bb30b39c97d03d0e12828b5e255c7f3
  9 : 0xdb2d674978354c669d08a1b7e60b39a6329ab90e219d3af65598e32eda873259
EOF
expect_exit 0 ima replay --json --pcrs "$TMP/pcrs.yaml" "$T/sample-ascii_runtime_measurements-pcrs-8-9"
expect_out '"boot_aggregate":"verified"'
sed 's/0xdb2d/0xdb2e/' "$TMP/pcrs.yaml" >"$TMP/bad.yaml"
expect_exit 1 ima replay --pcrs "$TMP/bad.yaml" "$T/sample-ascii_runtime_measurements-pcrs-8-9"
expect_err "matches neither"
# the SHA-1 PCRs of that machine cannot check a sha256 boot_aggregate
expect_exit 3 ima replay --pcrs "${VTC_TESTDATA:-../shared/testdata}/eventlog/ima-evm-utils/sample-tpm-2.0-pcrs-8-9" \
	"$T/sample-ascii_runtime_measurements-pcrs-8-9"

# usage
expect_exit 2 ima
expect_exit 2 ima replay
expect_exit 2 ima replay --format xml "$T/ima_log.txt"
expect_exit 2 ima replay --start-sha1 zz "$T/ima_log.txt"
expect_exit 2 ima frobnicate
expect_exit 3 ima replay "$TMP/does-not-exist"
expect_exit 0 ima replay --help
expect_out "Exit status"
expect_out "--offset"
expect_out "Example"

exit $FAILED
