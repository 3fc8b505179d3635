#!/bin/sh
# t_lang_node.sh - `blockguard run -- node app.js` names JavaScript functions with no
# flag from the user (the shim turns V8's perf map on, guard/perfmap.c), in the child
# node process too; nothing else about the program changes: same output, execArgv,
# NODE_OPTIONS and argv, no perf map or V8 log left behind, V8's own perf-map writes are
# not violations.  A user who asked for the perf map keeps it.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || fail "node not installed (tools/deps.sh check installs nodejs)"
APP="$BG_ROOT/tests/lang/node_app.js"
mkdir -p "$T/cwd" && cd "$T/cwd"
node "$APP" > "$T/plain.out"
"$BG_CLI" run --threads=main --verbosity=0 --report="$T/r-%p.json" -- node "$APP" > "$T/shim.out"
cmp "$T/plain.out" "$T/shim.out" || fail "the program's output changed under the shim"
[ -z "$(ls "$T/cwd")" ] || { ls -la "$T/cwd"; fail "files left in the working directory"; }
for f in "$T"/r-*.json; do
  pid=$(basename "$f" .json | cut -d- -f2)
  [ ! -e "/tmp/perf-$pid.map" ] || fail "/tmp/perf-$pid.map left behind"
done
# the parent and the child node; a fork child that wrote before its exec has a report
# of its own first image too (r-PID.image0.json): not a node process
set -- $(ls "$T"/r-*.json | grep -v '\.image[0-9]*\.json$')
[ $# -eq 2 ] || fail "expected 2 reports (parent, child), got $#"
python3 - "$@" <<'PY' || fail "JavaScript frames not named"
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    reads = [s for s in r["sites"] if s["call"] == "read" and s["count"] >= 50]
    assert reads, (path, [(s["call"], s["count"]) for s in r["sites"]])
    s = reads[0]
    js = [(f["function"], f["file"].rsplit("/", 1)[-1]) for f in s["frames"] if f["lang"] == "js"]
    assert ("readConfig", "node_app.js") in js and ("handleRequest", "node_app.js") in js, js
    # V8 writing the perf map for the shim is not the program's blocking
    for s in r["sites"]:
        assert not any("PerfBasicLogger" in f["function"] or "OS::FPrint" in f["function"]
                       for f in s["frames"][:2]), s["frames"][:3]
PY
# The user's own --perf-basic-prof: their map stays.
"$BG_CLI" run --threads=main --verbosity=0 --report="$T/u-%p.json" -- \
  node --perf-basic-prof-only-functions -e 'require("fs").readFileSync("/etc/hostname")' >/dev/null
pid=$(basename "$(ls "$T"/u-*.json)" .json | cut -d- -f2)
[ -s "/tmp/perf-$pid.map" ] || fail "the user's perf map was removed"
rm -f "/tmp/perf-$pid.map"
