#!/bin/sh
# t_loop_health.sh - loop health and the stall detector on an epoll loop
# (tests/integration/progs/loop_stall.c, docs/loop-health.md): a handler that spins
# 300 ms is one stall site naming the spinning function and its line, and shows in the
# iteration histogram; a handler that sleeps 300 ms is a blocking call, never a stall;
# a program that installs handlers on every real-time signal and one that blocks every
# signal still work and never see the detector's signal; allow rules, stall_ms=0, the
# loops section of the JSON, the text report and /metrics.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/loop_stall" "$BG_ROOT/tests/integration/progs/loop_stall.c"

run() { # NAME OPTIONS MODE -> $T/NAME.json, $T/NAME.err; the program must print ok
  out=$(under_shim "report=$T/$1.json:verbosity=0${2:+:$2}" "$T/loop_stall" "$3" 2>"$T/$1.err") ||
    { cat "$T/$1.err"; fail "$1: status $?"; }
  expect_eq "$out" "ok" "$1: the program's own checks"
}
check() { # NAME PYTHON-ASSERTIONS (r = the report, loop = its one loop, stalls = stall sites)
  python3 - "$T/$1.json" "$2" <<'P' || fail "$1"
import json, sys
r = json.load(open(sys.argv[1]))
loops = r["loops"]
assert len(loops) == 1, loops
loop = loops[0]
stalls = [s for s in r["sites"] if s["category"] == "stall"]
def fn(s): return [(f.get("function"), f.get("line")) for f in s["frames"]]
try:
    exec(sys.argv[2])
except AssertionError as e:
    sys.exit("%s\n%s" % (e, json.dumps({"loops": loops, "sites": r["sites"]}, indent=1)[:4000]))
P
}

# spin: one stall, at spin_cpu's busy loop, worst iteration >= 300 ms (300 ms of CPU: more
# wall-clock time on a loaded machine)
run spin "" spin
line=$(grep -n 'while (cpu_ns() < end) x++' "$BG_ROOT/tests/integration/progs/loop_stall.c" | cut -d: -f1)
check spin "
assert loop['iterations'] == 4 and loop['stalls'] == 1 and loop['stalls_unsampled'] == 0, loop
assert len(stalls) == 1 and stalls[0]['count'] == 1 and stalls[0]['call'] == 'stall', stalls
assert ('spin_cpu', $line) in fn(stalls[0]), fn(stalls[0])
assert 280e6 < stalls[0]['max_ns'] < 60e9 and stalls[0]['max_ns'] == loop['worst_ns'], stalls[0]
# the iteration histogram shows it: one iteration of 2^28 ns or more (log2 buckets)
h = loop['hist_log2_ns']
assert sum(h[29:]) == 1 and sum(h[:29]) == 3, h
assert sum(loop['hist_log2_ns']) == loop['iterations']
assert 0 < loop['utilization'] <= 1 and loop['busy_ns'] >= 280e6
assert loop['recent'] and sum(x['iterations'] for x in loop['recent']) == loop['iterations']
assert not loop['running'] and loop['tid'] == r['pid']
assert [s for s in r['sites'] if s['category'] != 'stall'] == []
"
"$BG_CLI" report --format text "$T/spin.json" >"$T/spin.txt"
expect_grep "blocking call stall() \[stall\]" "$T/spin.txt"
expect_grep "in spin_cpu .*loop_stall.c:$line" "$T/spin.txt"
expect_grep "event loop 'loop_stall' (tid [0-9]*): 4 iterations, .* 1 stall (ended)" "$T/spin.txt"
"$BG_CLI" report --format metrics "$T/spin.json" >"$T/spin.prom"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" - "$T/spin.prom" <<'P' || fail "metrics"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
h = fams["blockguard_loop_iteration_seconds"]
count = [s for s in h.samples if s.name.endswith("_count")]
assert h.type == "histogram" and count[0].value == 4, h.samples
le = [s for s in h.samples if s.name.endswith("_bucket") and s.labels["le"] == "0.268435456"]
assert le and le[0].value == 3, le  # three short iterations below 2^28 ns, then the spin
assert fams["blockguard_loop_stalls"].samples[0].value == 1
P

# the summary at exit (verbosity=1) names the program's innermost frame (spin_cpu or
# the cpu_ns it calls), not libc's or the vDSO's
under_shim "verbosity=1:log_path=stderr" "$T/loop_stall" spin >/dev/null 2>"$T/summary.err"
expect_grep "stall  *stall  *1 .* \(spin_cpu\|cpu_ns\) .*loop_stall.c:[0-9]" "$T/summary.err"
expect_grep "event loop 'loop_stall'" "$T/summary.err"

# sleep: 300 ms asleep in usleep is a blocking call (category sleep), no stall
run sleep "" sleep
check sleep "
assert stalls == [] and loop['stalls'] == 0, stalls
assert [s['call'] for s in r['sites']] == ['usleep'] and r['sites'][0]['max_ns'] >= 290e6
assert loop['worst_ns'] >= 290e6  # the iteration was long all the same
"

# rtsig: every real-time signal looks untouched, then is the program's; one message
run rtsig "" rtsig
check rtsig "assert stalls == [] and loop['iterations'] == 4"
expect_grep "installs a handler for signal .*stall stacks are off from now on" "$T/rtsig.err"
expect_eq "$(grep -c blockguard "$T/rtsig.err")" 1 "one message"

# blockall: the loop thread blocks every signal; sigtimedwait/signalfd on every signal
# get nothing of ours, and no stall can be measured meanwhile
run blockall "" blockall
check blockall "assert stalls == [] and loop['stalls'] == 0 and loop['iterations'] == 4"

# allowlist: allow stall fun:spin_cpu -> counted, allowed, not a violation
printf 'allow stall fun:spin_cpu\n' >"$T/allow.txt"
run allowed "suppressions=$T/allow.txt" spin
check allowed "assert len(stalls) == 1 and stalls[0]['allowed'] and loop['stalls'] == 1"

# stall_ms=0: no detector (no signal taken: rtsig's own check sees every one at SIG_DFL)
run off "stall_ms=0" spin
check off "assert stalls == [] and loop['stalls'] == 0 and loop['worst_ns'] >= 280e6"
run off_rt "stall_ms=0" rtsig
expect_eq "$(cat "$T/off_rt.err")" "" "stall_ms=0: no message"

# categories without stall: measured, not recorded
run nocat "categories=sleep" spin
check nocat "assert stalls == [] and loop['stalls'] == 1"
# the offload runtime's scheduler: a coroutine that runs 300 ms without yielding is one
# stall site with the coroutine's stack; one that yields every 2 ms is none
cc_prog "$T/co_stall" "$BG_ROOT/tests/integration/progs/co_stall.c"
out=$(under_shim "report=$T/co.json:verbosity=0" "$T/co_stall" 2>"$T/co.err") || fail "co_stall: status $?"
expect_eq "$out" "ok" "co_stall"
python3 - "$T/co.json" <<'P' || fail "coroutine stall"
import json, sys
r = json.load(open(sys.argv[1]))
stalls = [s for s in r["sites"] if s["category"] == "stall"]
fns = [[f.get("function") for f in s["frames"]] for s in stalls]
assert len(stalls) == 1 and "greedy" in fns[0] and "hog" in fns[0], fns
assert not any("polite" in f for f in fns), fns
assert stalls[0]["max_ns"] >= 280e6, stalls[0]["max_ns"]
assert [l["stalls"] for l in r["loops"]] == [1], r["loops"]
P
echo "t_loop_health: all ok"
