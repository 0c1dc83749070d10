#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `vtc quote check` on keylime's real quote (checkquote_*): valid, tampered, missing, misused.
set -u

T="${VTC_TESTDATA:-../shared/testdata}/quote"
if [ ! -f "$T/checkquote_quote.bin" ]; then
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		echo "test data $T is missing and VTC_TEST_REQUIRE_ALL is set" >&2
		exit 1
	fi
	echo "test data $T is missing: skipping" >&2
	exit 77
fi
: "${VTC:?VTC must name the vtc binary}"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

# expect CODE DESCRIPTION vtc-args...
expect() {
	want=$1
	shift
	what=$1
	shift
	"$VTC" "$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $what: exit $got, expected $want" >&2
		cat "$TMP/out" "$TMP/err" >&2
		fail=1
	else
		echo "ok: $what (exit $got)"
	fi
}

NONCE=$(od -An -v -tx1 "$T/checkquote_nonce.txt" | tr -d ' \n')
ARGS="--ak $T/checkquote_ak.pem --sig $T/checkquote_sig.bin --pcrs $T/checkquote_pcrs_serialized.bin"

# shellcheck disable=SC2086
expect 0 "valid quote" quote check $ARGS --attest "$T/checkquote_quote.bin" --nonce "$NONCE"
# shellcheck disable=SC2086
expect 0 "valid quote, --nonce-file, --hash-alg sha256" quote check $ARGS \
	--attest "$T/checkquote_quote.bin" --nonce-file "$T/checkquote_nonce.txt" --hash-alg sha256
grep -q "quote: valid" "$TMP/out" || { echo "FAIL: no 'quote: valid' line" >&2; fail=1; }

# tampered: one byte of the pcrDigest (the last byte of the attest) flipped
cp "$T/checkquote_quote.bin" "$TMP/tampered.bin"
chmod u+w "$TMP/tampered.bin"
size=$(wc -c <"$T/checkquote_quote.bin")
last=$(od -An -j $((size - 1)) -N1 -tu1 "$T/checkquote_quote.bin" | tr -d ' ')
printf "$(printf '\\%03o' $(((last ^ 1) & 255)))" |
	dd of="$TMP/tampered.bin" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
cmp -s "$T/checkquote_quote.bin" "$TMP/tampered.bin" && { echo "FAIL: tampering did nothing" >&2; fail=1; }
# shellcheck disable=SC2086
expect 1 "tampered attest" quote check $ARGS --attest "$TMP/tampered.bin" --nonce "$NONCE"
grep -q "signature check failed" "$TMP/err" || { echo "FAIL: no reason given" >&2; fail=1; }
# shellcheck disable=SC2086
expect 1 "wrong nonce" quote check $ARGS --attest "$T/checkquote_quote.bin" --nonce 00112233
grep -q "nonce check failed" "$TMP/err" || { echo "FAIL: no nonce reason" >&2; fail=1; }
# shellcheck disable=SC2086
expect 1 "hash policy" quote check $ARGS --attest "$T/checkquote_quote.bin" --nonce "$NONCE" \
	--hash-alg sha384

# unreadable / unparseable input
# shellcheck disable=SC2086
expect 3 "missing attest" quote check $ARGS --attest "$TMP/does-not-exist" --nonce "$NONCE"
head -c 20 "$T/checkquote_quote.bin" >"$TMP/short.bin"
# shellcheck disable=SC2086
expect 3 "truncated attest" quote check $ARGS --attest "$TMP/short.bin" --nonce "$NONCE"
expect 3 "missing AK" quote check --ak "$TMP/nope.pem" --attest "$T/checkquote_quote.bin" \
	--sig "$T/checkquote_sig.bin" --pcrs "$T/checkquote_pcrs_serialized.bin" --nonce "$NONCE"

# usage
expect 2 "no arguments" quote check
expect 2 "no nonce" quote check --ak "$T/checkquote_ak.pem" --attest "$T/checkquote_quote.bin" \
	--sig "$T/checkquote_sig.bin" --pcrs "$T/checkquote_pcrs_serialized.bin"
# shellcheck disable=SC2086
expect 2 "bad hex nonce" quote check $ARGS --attest "$T/checkquote_quote.bin" --nonce xyz
# shellcheck disable=SC2086
expect 2 "bad hash" quote check $ARGS --attest "$T/checkquote_quote.bin" --nonce "$NONCE" \
	--hash-alg md5
expect 2 "unknown option" quote check --frobnicate
expect 2 "unknown subcommand" quote frobnicate
expect 0 "--help" quote check --help
grep -q "Exit status" "$TMP/out" || { echo "FAIL: --help lacks the exit status" >&2; fail=1; }

# --json
# shellcheck disable=SC2086
expect 0 "json" quote check $ARGS --attest "$T/checkquote_quote.bin" --nonce "$NONCE" --json
for field in '"valid" : true' '"failure" : null' '"reason" : null' '"clock" : 1284787942' \
	'"resetCount" : 3' '"restartCount" : 0' '"hashAlg" : "sha256"' '"pcrs" : {' \
	'"16" : "d471c0674951f0ef075aecdd42fbefa6eca6019820add0bd222d1c4e6242ce6f"'; do
	grep -qF "$field" "$TMP/out" || { echo "FAIL: JSON lacks $field" >&2; cat "$TMP/out" >&2; fail=1; }
done
# shellcheck disable=SC2086
expect 1 "json, tampered" quote check $ARGS --attest "$TMP/tampered.bin" --nonce "$NONCE" --json
for field in '"valid" : false' '"failure" : "signature"' '"reason" : "' '"pcrs" : null'; do
	grep -qF "$field" "$TMP/out" || { echo "FAIL: JSON lacks $field" >&2; cat "$TMP/out" >&2; fail=1; }
done
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out" ||
		{ echo "FAIL: not JSON" >&2; fail=1; }
fi

exit $fail
