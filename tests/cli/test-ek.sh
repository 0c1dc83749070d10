#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# vtc ek check on real EK certificates: swtpm_setup + swtpm-localca (root + intermediate, in a
# private directory) make a vTPM with RSA and ECC EKs and their certificates; we read them back
# with tpm2-tools from a private swtpm, as a user would, and check them and their failures.
set -eu
: "${VTC:?VTC must name the vtc binary}"
fail() { echo "FAIL: $*"; exit 1; }
skip() {
	if [ -n "${VTC_TEST_REQUIRE_ALL:-}" ]; then
		fail "$* (VTC_TEST_REQUIRE_ALL is set)"
	fi
	echo "SKIP: $*"
	exit 77
}
for p in swtpm swtpm_setup swtpm_localca tpm2_nvread tpm2_readpublic openssl python3; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"
done
testdata="${VTC_TESTDATA:-../shared/testdata}"
chain="$testdata/quote/keylime-tpm2-tools-files/idevid-test-ca/iak_idevid_chain.pem"
[ -f "$chain" ] || skip "test data $chain is missing"

tmp=$(mktemp -d)
swtpm_pid=""
cleanup() {
	if [ -n "$swtpm_pid" ]; then
		kill "$swtpm_pid" 2>/dev/null || true
		wait "$swtpm_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- manufacture a vTPM with a private swtpm-localca ---
mkdir "$tmp/ca" "$tmp/tpm"
cat >"$tmp/localca.conf" <<EOF
statedir = $tmp/ca
signingkey = $tmp/ca/signkey.pem
issuercert = $tmp/ca/issuercert.pem
certserial = $tmp/ca/certserial
EOF
printf -- '--platform-manufacturer vtc\n--platform-version 2.1\n--platform-model test\n' \
	>"$tmp/localca.options"
cat >"$tmp/setup.conf" <<EOF
create_certs_tool = swtpm_localca
create_certs_tool_config = $tmp/localca.conf
create_certs_tool_options = $tmp/localca.options
active_pcr_banks = sha256
EOF
swtpm_setup --tpm2 --tpmstate "$tmp/tpm" --createek --create-ek-cert \
	--config "$tmp/setup.conf" --logfile "$tmp/setup.log" --overwrite >/dev/null ||
	{ cat "$tmp/setup.log"; fail "swtpm_setup"; }
root="$tmp/ca/swtpm-localca-rootca-cert.pem"
inter="$tmp/ca/issuercert.pem"
[ -f "$root" ] && [ -f "$inter" ] || fail "swtpm-localca made no root and intermediate"

# --- read the EKs and their certificates from the vTPM ---
sock="$tmp/tpm/swtpm.sock"
swtpm socket --tpm2 --tpmstate "dir=$tmp/tpm" --server "type=unixio,path=$sock" \
	--ctrl "type=unixio,path=$sock.ctrl" --flags not-need-init,startup-clear \
	--log "file=$tmp/swtpm.log" &
swtpm_pid=$!
i=0
while ! { [ -S "$sock" ] && [ -S "$sock.ctrl" ]; }; do
	i=$((i + 1))
	[ $i -lt 500 ] || fail "swtpm did not come up"
	sleep 0.01
done
export TPM2TOOLS_TCTI="swtpm:path=$sock"
tpm2_nvread 0x01c00002 -C o -o "$tmp/ek-rsa.der" >/dev/null 2>&1 || fail "nvread RSA cert"
tpm2_readpublic -c 0x81010001 -f tss -o "$tmp/ek-rsa.pub" >/dev/null 2>&1 || fail "RSA EK"
tpm2_nvread 0x01c00016 -C o -o "$tmp/ek-ecc.der" >/dev/null 2>&1 || fail "nvread ECC cert"
tpm2_readpublic -c 0x81010016 -f tss -o "$tmp/ek-ecc.pub" >/dev/null 2>&1 || fail "ECC EK"
kill "$swtpm_pid"
wait "$swtpm_pid" 2>/dev/null || true
swtpm_pid=""

mkdir "$tmp/store-root" "$tmp/store-both" "$tmp/store-inter" "$tmp/store-empty"
cp "$root" "$tmp/store-root/"
cp "$root" "$inter" "$tmp/store-both/"
cp "$inter" "$tmp/store-inter/"

# expect CODE [NEEDLE] -- ARGS: runs vtc ek ARGS, checks the exit code and that stdout or
# stderr mention NEEDLE
expect() {
	code=$1
	needle=$2
	shift 3
	set +e
	"$VTC" ek "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" -eq "$code" ] || {
		cat "$tmp/out" "$tmp/err"
		fail "vtc ek $* exited $rc, expected $code"
	}
	if [ -n "$needle" ] && ! grep -q -- "$needle" "$tmp/out" "$tmp/err"; then
		cat "$tmp/out" "$tmp/err"
		fail "vtc ek $*: output does not mention '$needle'"
	fi
}

# --- valid ---
expect 0 "EK certificate: valid" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-root" --intermediate "$inter"
grep -q "manufacturer id:00001014, model swtpm" "$tmp/out" || fail "TPM attributes"
expect 0 "" -- check --cert "$tmp/ek-ecc.der" --ek "$tmp/ek-ecc.pub" \
	--store "$tmp/store-root" --intermediate "$inter" --json
python3 - "$tmp/out" <<'PY' || fail "ECC JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["valid"] is True and r["reason"] is None, r
assert r["keyType"] == "ecc-p384", r
assert r["chain"] == ["CN=unknown", "CN=swtpm-localca", "CN=swtpm-localca-rootca"], r
assert r["tpmModel"] == "swtpm" and r["notAfter"] == "9999-12-31T23:59:59Z", r
PY
# root and intermediate both in the store, no --intermediate
expect 0 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" --store "$tmp/store-both"
# PEM certificate and PEM public key
openssl x509 -inform DER -in "$tmp/ek-ecc.der" -out "$tmp/ek-ecc.pem"
openssl x509 -in "$tmp/ek-ecc.pem" -noout -pubkey >"$tmp/ek-ecc-pub.pem"
expect 0 "ecc-p384" -- check --cert "$tmp/ek-ecc.pem" --ek "$tmp/ek-ecc-pub.pem" \
	--store "$tmp/store-both"

# --- checked and not valid (1) ---
expect 1 "EK public key" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-ecc.pub" \
	--store "$tmp/store-both"
expect 1 "unable to get local issuer" -- check --cert "$tmp/ek-rsa.der" \
	--ek "$tmp/ek-rsa.pub" --store "$tmp/store-root"
expect 1 "chain does not verify" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-inter"
expect 0 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-inter" --partial-chain
python3 - "$tmp/ek-rsa.der" "$tmp/ek-flipped.der" "$tmp/ek-truncated.der" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
t = bytes(b[: len(b) // 2])
b[-1] ^= 1
open(sys.argv[2], "wb").write(b)
open(sys.argv[3], "wb").write(t)
PY
expect 1 "signature failure" -- check --cert "$tmp/ek-flipped.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-both"
expect 1 "" -- check --cert "$tmp/ek-flipped.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-both" --json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["valid"] is False and "signature" in r["reason"], r' \
	"$tmp/out" || fail "JSON of an invalid certificate"

# --- unreadable input (3) ---
expect 3 "" -- check --cert "$tmp/ek-truncated.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-both"
expect 3 "no certificate" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-empty"
expect 3 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" --store "$tmp/nonexistent"
expect 3 "" -- check --cert "$tmp/nonexistent" --ek "$tmp/ek-rsa.pub" --store "$tmp/store-both"
expect 3 "EK public key" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-truncated.der" \
	--store "$tmp/store-both"
expect 3 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" --store "$tmp/store-both" \
	--intermediate "$tmp/ek-truncated.der"
echo "not a certificate" >"$tmp/store-both/README"
expect 3 "README" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/store-both"

# --- usage (2) ---
expect 2 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub"
expect 2 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" --store "$tmp" --bogus
expect 2 "" -- check --cert "$tmp/ek-rsa.der" --ek "$tmp/ek-rsa.pub" --store "$tmp" extra
expect 2 "" -- frobnicate
expect 2 "" --
expect 0 "Exit status" -- check --help
expect 0 "check" -- --help

# --- the shared corpus: Keylime's IDevID test CA (intermediate checked against its root) ---
mkdir "$tmp/idevid"
cp "$chain" "$tmp/idevid/"
openssl x509 -in "$chain" -out "$tmp/idevid-inter.pem"
openssl x509 -in "$chain" -noout -pubkey >"$tmp/idevid-inter-pub.pem"
expect 0 "Isaac HPE Root CA" -- check --cert "$tmp/idevid-inter.pem" \
	--ek "$tmp/idevid-inter-pub.pem" --store "$tmp/idevid"
expect 1 "EK public key" -- check --cert "$tmp/idevid-inter.pem" --ek "$tmp/ek-rsa.pub" \
	--store "$tmp/idevid"

echo "ek cli: ok"
