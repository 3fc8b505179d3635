#!/bin/sh
# t_fork_report.sh - a forking program writes one report per process (report=%p),
# and `blockguard report DIR` merges them by stable site id.
. "$(dirname "$0")/lib.sh"
cc_prog "$T/forks" "$BG_ROOT/tests/integration/progs/forks.c"
mkdir -p "$T/d"
under_shim "threads=main:report=$T/d/%p.json:verbosity=0" "$T/forks"
n=$(ls "$T/d" | grep -c '\.json$')
expect_eq "$n" 3 "one report per process"
python3 - "$T/d" <<'PY'
import json, os, sys
d = sys.argv[1]
rs = [json.load(open(os.path.join(d, f))) for f in os.listdir(d) if f.endswith(".json")]
pids = {r["pid"] for r in rs}
assert len(pids) == 3 and {"%d.json" % p for p in pids} == set(os.listdir(d))
for r in rs:  # each process reports only its own calls
    fns = sorted(s["frames"][0]["function"] for s in r["sites"])
    assert fns in (["work"], ["child_only", "work"]), fns
    assert all(s["count"] == 1 for s in r["sites"])
PY
"$BG_CLI" report --format json "$T/d" > "$T/merged.json"
python3 - "$T/merged.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
by = {s["frames"][0]["function"]: s for s in m["sites"]}
assert set(by) == {"work", "child_only"}, set(by)
assert by["work"]["count"] == 3 and by["child_only"]["count"] == 2, {k: v["count"] for k, v in by.items()}
PY
"$BG_CLI" report "$T/d" > "$T/merged.txt"
expect_grep "SUMMARY: blockguard: 5 violations at 2 sites" "$T/merged.txt"
# a directory with a corrupt report is an error naming the file
echo 'garbage' > "$T/d/999.json"
rc=0; "$BG_CLI" report "$T/d" >/dev/null 2>"$T/err" || rc=$?
expect_eq "$rc" 2
expect_grep "999.json:1:[0-9]*: invalid JSON" "$T/err"
rm -rf "$T/empty" && mkdir "$T/empty"
rc=0; "$BG_CLI" report "$T/empty" >/dev/null 2>"$T/err2" || rc=$?
expect_eq "$rc" 2
expect_grep "no \*.json reports" "$T/err2"
echo ok
