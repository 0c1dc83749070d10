#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# vtc merkle build/verify round trip, tampering and usage errors.
set -eu
: "${VTC:?VTC must name the vtc binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

leaves=""
for i in 1 2 3 4 5; do
	b=$(printf "leaf-$i" | sha256sum | cut -d' ' -f1)
	leaves="$leaves 0000000$i-0000-4000-8000-00000000000$i:$b"
done
# shellcheck disable=SC2086
"$VTC" merkle build $leaves >"$tmp/tree.json" || fail "build"

python3 - "$tmp/tree.json" "$VTC" $leaves <<'PY' || fail "round trip"
import json, subprocess, sys
tree = json.load(open(sys.argv[1]))
vtc, leaves = sys.argv[2], sys.argv[3:]
assert tree["size"] == 5 and len(tree["leaves"]) == 5
def verify(leaf, index, proof, root):
    return subprocess.run([vtc, "merkle", "verify", "--leaf", leaf, "--index", str(index),
                           "--size", "5", "--proof", ",".join(proof), "--root", root],
                          capture_output=True, text=True)
for i, leaf in enumerate(leaves):
    p = tree["leaves"][i]["proof"]
    r = verify(leaf, i, p, tree["root"])
    assert r.returncode == 0, (i, r.stderr)
    # another leaf, another index, a tampered hash: all exit 1 with a reason
    r = verify(leaves[(i + 1) % 5], i, p, tree["root"])
    assert r.returncode == 1 and "does not lead" in r.stderr, r
    r = verify(leaf, (i + 1) % 5, p, tree["root"])
    assert r.returncode == 1, r
    bad = [("0" if h[0] != "0" else "1") + h[1:] for h in p]
    r = verify(leaf, i, bad, tree["root"])
    assert r.returncode == 1, r
print("ok")
PY

set +e
"$VTC" merkle verify --leaf nonsense --index 0 --size 1 --root 00 >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad leaf must be a usage error"
"$VTC" merkle build >/dev/null 2>&1
[ $? -eq 2 ] || fail "no leaves must be a usage error"
"$VTC" merkle build "00000001-0000-4000-8000-000000000001:abcd" >/dev/null 2>&1
[ $? -eq 2 ] || fail "short binding must be a usage error"
"$VTC" merkle --help | grep -q "inclusion proof" || fail "help"
echo "merkle cli: ok"
