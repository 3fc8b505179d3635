#!/bin/sh
# t_lang_native.sh - C++ frames are demangled in every format (JSON, text, SARIF,
# suggestions), and fun: rules match the demangled name (and the mangled one).
. "$(dirname "$0")/lib.sh"
command -v c++ >/dev/null || fail "no C++ compiler (tools/deps.sh check installs g++)"
c++ -g -O1 -o "$T/cxx" "$BG_ROOT/tests/lang/cxx_sleep.cc"
under_shim "threads=main:verbosity=0:report=$T/r.json" "$T/cxx"
python3 - "$T/r.json" <<'PY' || fail "C++ names not demangled in the JSON report"
import json, sys
r = json.load(open(sys.argv[1]))
names = [f["function"] for s in r["sites"] for f in s["frames"]]
assert "shop::Cart::checkout(int)" in names, names
assert any(n.startswith("void shop::retry<main::{lambda()") for n in names), names
assert not any(n.startswith("_Z") for n in names), names
PY
"$BG_CLI" report --format text "$T/r.json" > "$T/r.txt" 2>/dev/null || true
expect_grep "in shop::Cart::checkout(int) .*cxx_sleep.cc:7" "$T/r.txt"
"$BG_CLI" report --format sarif "$T/r.json" > "$T/r.sarif" 2>/dev/null || true
expect_grep "shop::Cart::checkout(int)" "$T/r.sarif"
"$BG_CLI" report --suppressions "$T/r.json" > "$T/r.supp" 2>/dev/null || true
expect_grep "allow .* fun:shop::Cart::checkout(int)" "$T/r.supp"
# rules: the demangled name (glob) and the mangled one both match
printf 'allow sleep fun:shop::Cart::checkout*\nallow sleep fun:_ZN4shop5retry*\n' > "$T/allow.txt"
under_shim "threads=main:verbosity=0:suppressions=$T/allow.txt:report=$T/a.json" "$T/cxx"
python3 - "$T/a.json" <<'PY' || fail "fun: rules on C++ names"
import json, sys
r = json.load(open(sys.argv[1]))
sl = [s for s in r["sites"] if s["category"] == "sleep"]
assert len(sl) == 2 and all(s["allowed"] for s in sl), [(s["rule"], s["frames"][0]["function"]) for s in sl]
assert sorted(s["rule"][-2:] for s in sl) == [":1", ":2"], [s["rule"] for s in sl]
PY
