#!/bin/sh
# t_stress.sh - 64 threads hammering wrapped calls under the shim, guarded and not,
# with a 1 kHz signal storm whose handler calls write(), forks, fork+execs, thread
# churn and the live dashboard's /metrics scraped throughout (tests/stress/stress.c).
# Passes when nothing crashed, hung or returned a wrong value/errno, and the counts
# add up exactly: the report's sites reached from the
# program's main path (frames through hammer_call, not through the signal handler)
# sum to the number of calls the program made on guarded threads, and every forked or
# exec'd child wrote its own report.  STRESS_SECONDS (default 5) bounds the run.
. "$BG_ROOT/tests/integration/lib.sh"

cc_prog "$T/stress" "$BG_ROOT/tests/stress/stress.c" -rdynamic
mkdir -p "$T/reports"
# the live dashboard on a free loopback port, scraped by the stress's reader thread
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
opts="threads=main,name:g-*:max_sites=100000:verbosity=0:report=$T/reports/%p.json:http=127.0.0.1:$port"
STRESS_SECONDS=${STRESS_SECONDS:-5} STRESS_CHURN=${STRESS_CHURN:-300} STRESS_HTTP_PORT=$port \
  timeout 120 env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$opts" "$T/stress" >"$T/out" 2>"$T/err" ||
  { rc=$?; cat "$T/out" "$T/err"; fail "stress exited with status $rc"; }
cat "$T/out"
pid_report=$(ls "$T/reports" | wc -l)
echo "reports: $pid_report"

python3 - "$T/out" "$T/reports" "$BG_CLI" <<'PY'
import json, os, subprocess, sys
vals = dict(l.strip().split("=") for l in open(sys.argv[1]) if "=" in l)
vals = {k: int(v) for k, v in vals.items()}
reports = {}
states = []
for f in os.listdir(sys.argv[2]):
    path = os.path.join(sys.argv[2], f)
    if f.endswith(".bgstate"):  # an image that exec'd after recording: its state file
        out = subprocess.run([sys.argv[3], "report", "--format", "json", path], check=True,
                             stdout=subprocess.PIPE).stdout
        states.append(json.loads(out))
        continue
    with open(path) as fh:
        r = json.load(fh)   # every report must be complete JSON (atomic writes)
    reports[r["pid"]] = r
# The parent is the report with the most threads.
parent = max(reports.values(), key=lambda r: len(r["threads"]))
def funcs(s): return [fr.get("function", "") for fr in s["frames"]]
main = sig = other = 0
for s in parent["sites"]:
    fs = funcs(s)
    if "on_timer" in fs: sig += s["count"]
    elif "hammer_call" in fs: main += s["count"]
    else: other += s["count"]; print("unexpected site:", s["call"], fs[:6])
print("report: main-path %d (program made %d), handler %d (at most %d), other %d, dropped %d"
      % (main, vals["MAIN_CALLS"], sig, vals["SIG_CALLS"], other, parent["dropped_sites"]))
ok = True
def bad(msg):
    global ok; ok = False; print("FAIL:", msg)
if parent["dropped_sites"]: bad("sites dropped")
if main != vals["MAIN_CALLS"]: bad("main-path violations %d != calls made %d" % (main, vals["MAIN_CALLS"]))
if sig > vals["SIG_CALLS"]: bad("handler violations %d > handler calls on guarded threads %d" % (sig, vals["SIG_CALLS"]))
if main + sig + other != vals["VIOLATIONS"]: bad("report total %d != bg_violations() %d" % (main + sig + other, vals["VIOLATIONS"]))
if other: bad("violations from unexpected sites")
if vals["SIG_TOTAL"] < 100: bad("signal storm too weak (%d signals)" % vals["SIG_TOTAL"])
# Each scrape is checked for correctness in the program (monotonic, bounded by the calls
# made); how many fit in the run depends on the machine's load (an ASan build on a busy
# 2-core machine managed one), so at least one must have happened.
if vals["SCRAPES"] < 1: bad("no /metrics scrape succeeded")
children = len(reports) - 1
# forked children exit(0) and write a report; exec'd ones write one from the new image,
# and the image before the exec leaves its state file (exit.how "exec").
if children < vals["FORKS"] + vals["EXECS"]: bad("%d child reports for %d forks + %d execs" % (children, vals["FORKS"], vals["EXECS"]))
if len(states) != vals["EXECS"]: bad("%d state files for %d execs" % (len(states), vals["EXECS"]))
for st in states:
    if not st["exit"] or st["exit"]["how"] != "exec" or not st["sites"]:
        bad("state file of an exec'd image: %s, %d sites" % (st["exit"], len(st["sites"])))
for pid, r in reports.items():
    if r is parent: continue
    n = sum(s["count"] for s in r["sites"] if not s["allowed"])
    # forked: 100 rounds (exit) or 100 rounds then exec (new report from --child: 50 rounds)
    if n == 0: bad("child %d reported no violations" % pid)
    guarded = [t for t in r["threads"] if t["guarded"]]
    if not guarded or guarded[0]["why"] != "main": bad("child %d: main thread not guarded: %s" % (pid, r["threads"]))
sys.exit(0 if ok else 1)
PY
