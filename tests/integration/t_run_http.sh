#!/bin/sh
# t_run_http.sh - `blockguard run --http`: one dashboard, one /metrics, one pprof
# endpoint for a whole process tree, served by the CLI from the processes' ledgers
# while they run (tests/integration/progs/tree3.c: three workers, each blocking at its
# own site; a fourth joins later, one leaves early).  The programs serve nothing;
# ?pid= filters one process; go tool pprof reads the tree; the Host and token rules
# are the dashboard's; a bad --http stops the run before anything starts (exit 2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"
command -v go >/dev/null || fail "go (golang-go) missing: tools/deps.sh check installs it"
export HOME="$T" GOCACHE="$T/gocache"
cc_prog "$T/tree3" "$BG_ROOT/tests/integration/progs/tree3.c"

"$BG_CLI" run --http=127.0.0.1:0 --threads=main --report="$T/r.%p.json" -- "$T/tree3" 12 3 5 2> "$T/err" &
RUN=$!
trap 'kill $RUN 2>/dev/null || true' EXIT
URL=$(wait_url "$T/err") || { cat "$T/err"; fail "no dashboard URL"; }
expect_grep "dashboard at http://127.0.0.1:[0-9]*/ (every process of the tree)" "$T/err"
sleep 1.5
curl -s -o "$T/all.json" "${URL}api/report"
$PY - "$T/all.json" <<'PY' || fail "the tree's report"
import json, sys
r = json.load(open(sys.argv[1]))
procs = r["processes"]
assert len({p["pid"] for p in procs}) == 4, procs          # parent + 3 workers
assert all(p["state"] == "running" for p in procs), procs
fns = {s["frames"][0]["function"] for s in r["sites"]}
assert {"sleepy_worker", "disk_worker", "napper_worker"} <= fns, fns
print(json.dumps({p["pid"]: p for p in procs}), file=open(sys.argv[1] + ".procs", "w"))
PY
# ?pid=: one worker's sites only, and its record
DISK=$($PY - "$T/all.json.procs" "$URL" <<'PY'
import json, sys, urllib.request
for pid in json.load(open(sys.argv[1])):
    r = json.load(urllib.request.urlopen(sys.argv[2] + "api/report?pid=" + pid))
    if any(s["call"] == "fsync" for s in r["sites"]):
        assert [p["pid"] for p in r["processes"]] == [int(pid)], r["processes"]
        assert {s["frames"][0]["function"] for s in r["sites"]} == {"disk_worker"}, r["sites"]
        print(pid)
PY
)
[ -n "$DISK" ] || fail "no process showed the disk worker's fsync alone"
expect_eq "$(status "${URL}api/report?pid=1")" 404 "a pid outside the tree"
expect_eq "$(status "${URL}api/report?pid=abc")" 400 "a bad pid"
# one /metrics for the tree, parsed by the Prometheus client
curl -s -o "$T/metrics.txt" "${URL}metrics"
$PY - "$T/metrics.txt" <<'PY' || fail "tree metrics"
from prometheus_client.parser import text_string_to_metric_families
import sys
calls = {s.labels["call"] for f in text_string_to_metric_families(open(sys.argv[1]).read())
         if f.name == "blockguard_violations" for s in f.samples}
assert {"usleep", "fsync", "nanosleep"} <= calls, calls
PY
# the tree's profile through pprof, a window of it, and one process's
go tool pprof -top -nodefraction=0 "${URL}debug/pprof/block" > "$T/top.txt" 2>&1 || { cat "$T/top.txt"; fail "pprof"; }
for fn in sleepy_worker disk_worker napper_worker; do grep -q " $fn\$" "$T/top.txt" || fail "pprof lacks $fn"; done
go tool pprof -top -nodefraction=0 "${URL}debug/pprof/block?pid=$DISK" > "$T/top1.txt" 2>&1
expect_grep " disk_worker$" "$T/top1.txt"
expect_no_grep " sleepy_worker$" "$T/top1.txt"
# processes appear and leave: the late worker joins, the napper exits
sleep 4
curl -s -o "$T/later.json" "${URL}api/report"
$PY - "$T/later.json" <<'PY' || fail "processes live"
import json, sys
r = json.load(open(sys.argv[1]))
last = {}
for p in r["processes"]:
    last[p["pid"]] = p
states = sorted(p["state"] for p in last.values())
assert len(last) == 5, last                             # the late one joined
assert "exited 0" in states, states                     # the napper left
assert any(s["frames"][0]["function"] == "late_worker" for s in r["sites"]), "no late_worker site"
PY
# the Host check and no token on loopback, as any dashboard
expect_eq "$(status "${URL}api/report" -H "Host: attacker.example")" 403 "rebinding Host"
wait $RUN
trap - EXIT
[ "$(grep -c 'dashboard at' "$T/err")" = 1 ] || fail "the programs started dashboards of their own"
ls "$T"/r.*.json > /dev/null || fail "report= files of the tree"

# token: a non-loopback bind needs one, and then every request carries it
rc=0; "$BG_CLI" run --http=0.0.0.0:0 -- true 2> "$T/err2" || rc=$?
expect_eq "$rc" 2 "non-loopback without a token"
expect_grep "without a token" "$T/err2"
rc=0; "$BG_CLI" run --http=nonsense -- true 2> "$T/err3" || rc=$?
expect_eq "$rc" 2 "a bad --http"
"$BG_CLI" run --http=127.0.0.1:0 --http_token=tok-7 --threads=main -- "$T/tree3" 4 1 2 2> "$T/err4" &
RUN=$!
trap 'kill $RUN 2>/dev/null || true' EXIT
URL=$(wait_url "$T/err4") || { cat "$T/err4"; fail "no dashboard URL (token)"; }
expect_eq "$(status "${URL}api/report")" 401 "no token"
expect_eq "$(status "${URL}api/report" -H 'Authorization: Bearer tok-7')" 200 "Bearer token"
wait $RUN
trap - EXIT
echo "run --http: ok"
