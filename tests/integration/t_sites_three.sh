#!/bin/sh
# t_sites_three.sh - a -g program with three distinct blocking sites on a guarded
# thread yields exactly three sites, with the right functions and source lines, the
# same ids in a second run (ASLR), and every report format renders them.
. "$(dirname "$0")/lib.sh"
SRC="$BG_ROOT/tests/integration/progs/sites3.c"
cc_prog "$T/sites3" "$SRC"
line_of() { grep -n "SITE:$1" "$SRC" | cut -d: -f1; }

under_shim "threads=name:evloop:report=$T/r1.json:verbosity=0" "$T/sites3" > "$T/out1"
under_shim "threads=name:evloop:report=$T/r2.json:verbosity=0" "$T/sites3" > "$T/out2"
expect_grep "raised=0" "$T/out1"
python3 - "$T/r1.json" "$T/r2.json" "$(line_of nap)" "$(line_of drain)" "$(line_of doze)" <<'PY'
import json, sys
r1, r2 = (json.load(open(p)) for p in sys.argv[1:3])
want = {("usleep", "nap", int(sys.argv[3])), ("read", "drain", int(sys.argv[4])),
        ("nanosleep", "doze", int(sys.argv[5]))}
got = set()
for s in r1["sites"]:
    f = s["frames"][0]
    assert f["file"].endswith("sites3.c"), f
    assert f["module"].endswith("/sites3") and f["offset"].startswith("0x"), f
    assert s["count"] == 2 and not s["allowed"] and s["action"] == "report", s
    assert s["threads"] == ["evloop"], s["threads"]
    assert s["frames"][1]["function"] == "loop", s["frames"][1]
    got.add((s["call"], f["function"], f["line"]))
assert len(r1["sites"]) == 3, [s["call"] for s in r1["sites"]]
assert got == want, (got, want)
# stable ids: same code path → same id in another run, whatever ASLR did
ids1 = {s["id"]: s["frames"][0]["pc"] for s in r1["sites"]}
ids2 = {s["id"]: s["frames"][0]["pc"] for s in r2["sites"]}
assert set(ids1) == set(ids2), (ids1, ids2)
assert any(ids1[i] != ids2[i] for i in ids1), "ASLR seems off: pcs identical across runs"
assert r1["unmatched_rules"] == [] and r1["dropped_sites"] == 0
print("three sites ok:", sorted(got))
PY

# text: sanitizer-style frames with file:line and module+offset
under_shim "threads=name:evloop:report=$T/r.txt:format=text:verbosity=0" "$T/sites3" >/dev/null
expect_grep "^    #0 0x[0-9a-f]* in nap .*sites3.c:$(line_of nap) (sites3+0x[0-9a-f]*)$" "$T/r.txt"
expect_grep "^    #1 0x[0-9a-f]* in loop .*sites3.c:[0-9]* (sites3+0x[0-9a-f]*)$" "$T/r.txt"
expect_grep "^SUMMARY: blockguard: 6 violations at 3 sites" "$T/r.txt"

# SARIF: valid against the 2.1.0 schema, one result per site, located in sites3.c
under_shim "threads=name:evloop:report=$T/r.sarif:format=sarif:verbosity=0" "$T/sites3" >/dev/null
rc=0; python3 "$BG_ROOT/tests/validate_sarif.py" "$T/r.sarif" || rc=$?
[ $rc = 0 ] || [ $rc = 77 ] || fail "SARIF does not validate"
python3 - "$T/r.sarif" "$(line_of drain)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
res = d["runs"][0]["results"]
assert len(res) == 3
lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in res}
assert int(sys.argv[2]) in lines, lines
assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("sites3.c") for r in res)
PY

# JUnit: three failing testcases
under_shim "threads=name:evloop:report=$T/r.xml:format=junit:verbosity=0" "$T/sites3" >/dev/null
python3 -c "
import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
assert len(r.findall('.//testcase')) == 3 and len(r.findall('.//failure')) == 3, E.tostring(r)
" "$T/r.xml"

# metrics (the fifth format: a table row, not a mask, picks it): node_exporter's
# textfile collector format, parsed by the Prometheus client's own parser.
under_shim "threads=name:evloop:report=$T/r.prom:format=metrics:verbosity=0" "$T/sites3" >/dev/null
/usr/bin/python3 - "$T/r.prom" <<'PY' || fail "format=metrics report file"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
assert len(fams["blockguard_violations"].samples) == 3, fams["blockguard_violations"].samples
PY

# blockguard report -o FILE.EXT picks the format from the extension; --format wins.
under_shim "threads=name:evloop:report=$T/r.json:verbosity=0" "$T/sites3" >/dev/null
"$BG_CLI" report -o "$T/o.sarif" "$T/r.json"
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['version'] == '2.1.0'" "$T/o.sarif" ||
  fail "-o x.sarif is not SARIF"
"$BG_CLI" report --format text -o "$T/o2.sarif" "$T/r.json"
expect_grep "^SUMMARY: blockguard:" "$T/o2.sarif"
rc=0; "$BG_CLI" report --format xml "$T/r.json" 2>"$T/err" >/dev/null || rc=$?
expect_eq "$rc" 2 "unknown --format"
expect_grep "formats: json, text, sarif, junit, metrics" "$T/err"
echo ok
