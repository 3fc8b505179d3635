# t_lost_reports.sh - with report= and no CLI, nothing a process recorded is lost when
# it does not end the usual way (issue 10 "Lost reports"): SIGTERM, SIGKILL inside a
# long sleep, exec after violations, quick_exit, _exit, no free fd at exit, a privilege
# drop (root only), a full disk (root only: a small tmpfs).  What is left is the final
# report or, when that could not be written, the state file, which `blockguard report`
# renders.  No empty report is written at start-up: a previous run's report survives.
. tests/integration/lib.sh
cc_prog "$T/lost" tests/integration/progs/lost.c
OPTS="threads=main:verbosity=0"

# summary DIR|FILE... -> "CALL=count/in_flight... exit=how complete=..." of the merged
# report, for the sleep calls the program makes (its stdout writes count too: ignored)
summary() {
  "$BG_CLI" report --format json "$@" 2>"$T/report.err" | python3 -c '
import json, sys
m = json.load(sys.stdin)
calls = {}
for s in m["sites"]:
    if s["call"] not in ("usleep", "sleep", "pause"): continue
    c = calls.setdefault(s["call"], [0, 0])
    c[0] += s["count"]; c[1] += s["in_flight"]
print(" ".join("%s=%d/%d" % (k, v[0], v[1]) for k, v in sorted(calls.items())),
      "exit=%s" % (m["exit"]["how"] if m["exit"] else None), "complete=%s" % m["complete"])'
}
# bg_shim OPTIONS CMD...: in the background, $! being the program's own pid
bg_shim() { o=$1; shift; env LD_PRELOAD="$BG_PRELOAD" BLOCKGUARD_OPTIONS="$o" "$@" & }
wait_ready() { for _ in $(seq 100); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.05; done; fail "not ready: $1"; }

# 1. SIGTERM: the process dies by the signal; its state file keeps the violation.
mkdir "$T/term"
bg_shim "$OPTS:report=$T/term/%p.json" "$T/lost" term >"$T/term.out"
pid=$!
wait_ready "$T/term.out"
sleep 0.3 # from "ready" to inside pause()
kill -TERM $pid; wait $pid || true
ls "$T/term" | grep -q "^$pid.json.$pid.0.bgstate$" || { ls -l "$T/term"; fail "SIGTERM: no state file"; }
expect_eq "$(summary "$T/term")" "pause=1/1 usleep=1/0 exit=vanished complete=True" "SIGTERM"

# 2. SIGKILL inside a long sleep: the sleep is there, counted in flight.
mkdir "$T/kill"
bg_shim "$OPTS:report=$T/kill/%p.json" "$T/lost" sleep 600 >"$T/kill.out"
pid=$!
wait_ready "$T/kill.out"
sleep 0.3
kill -KILL $pid; wait $pid || true
expect_eq "$(summary "$T/kill")" "sleep=1/1 usleep=1/0 exit=vanished complete=True" "SIGKILL in a sleep"
"$BG_CLI" report "$T/kill" > "$T/kill.txt"
expect_grep "blocking call sleep()" "$T/kill.txt"

# 3. exec after violations: the first image's state file says so; the second writes
# the report (same pid, same path).
mkdir "$T/exec"
cc_prog "$T/quiet" tests/integration/progs/lost.c
under_shim "$OPTS:report=$T/exec/%p.json" "$T/lost" exec "$T/quiet"
n=$(ls "$T/exec" | grep -c bgstate) || true
expect_eq "$n" 1 "exec: the first image's state file stays"
expect_eq "$(summary "$T/exec"/*.bgstate)" "usleep=1/0 exit=exec complete=True" "exec"
"$BG_CLI" report --format json "$T/exec" | grep -q '"exec": ".*/quiet"' || fail "exec: target not named"
expect_eq "$(summary "$T/exec")" "usleep=1/0 exit=exec complete=True" "exec: merged with the new image"
# an image that recorded nothing leaves no state file when it execs
mkdir "$T/exec0"
under_shim "$OPTS:report=$T/exec0/%p.json" sh -c "exec $T/quiet quiet"
expect_eq "$(ls "$T/exec0" | grep -c bgstate || true)" 0 "exec without violations: no state file"
expect_eq "$(ls "$T/exec0" | grep -c json)" 1 "exec without violations: one report"

# 4. quick_exit (libc's internal _exit skips the _exit wrapper) and 5. _exit.
mkdir "$T/quick" "$T/uexit"
rc=0; under_shim "$OPTS:report=$T/quick/r.json" "$T/lost" quick || rc=$?
expect_eq "$rc" 3 "quick_exit status"
expect_eq "$(summary "$T/quick/r.json")" "usleep=1/0 exit=exit complete=True" "quick_exit"
grep -q '"status": 3' "$T/quick/r.json" || fail "quick_exit: status not recorded"
rc=0; under_shim "$OPTS:report=$T/uexit/r.json" "$T/lost" _exit || rc=$?
expect_eq "$rc" 4 "_exit status"
expect_eq "$(summary "$T/uexit/r.json")" "usleep=1/0 exit=exit complete=True" "_exit"
expect_eq "$(ls "$T/quick" "$T/uexit" | grep -c bgstate || true)" 0 "reports written: state files removed"

# 6. No free fd at exit: the report cannot be written, the state file stays and says why.
mkdir "$T/nofd"
under_shim "$OPTS:report=$T/nofd/%p.json" "$T/lost" nofd 2>"$T/nofd.err"
expect_grep "cannot write report" "$T/nofd.err"
expect_grep "bgstate (blockguard report reads it)" "$T/nofd.err"
expect_eq "$(summary "$T/nofd")" "usleep=1/0 exit=exit complete=True" "no fd at exit"

# 7. The previous run's report is not destroyed at start-up, nor replaced by an empty
# one when the new run is killed.
mkdir "$T/prev"
under_shim "$OPTS:report=$T/prev/r.json" "$T/lost" quick || true
cp "$T/prev/r.json" "$T/prev.json"
bg_shim "$OPTS:report=$T/prev/r.json" "$T/lost" sleep 600 >"$T/prev.out"
pid=$!
wait_ready "$T/prev.out"
cmp -s "$T/prev/r.json" "$T/prev.json" || fail "start-up replaced the previous report"
kill -KILL $pid; wait $pid || true
cmp -s "$T/prev/r.json" "$T/prev.json" || fail "a killed run replaced the previous report"

# 8. A privilege drop (root): the report directory is root's; the process now runs as
# nobody and cannot write there.  Its state file (opened before) keeps the violation.
if [ "$(id -u)" = 0 ] && [ -z "${SANITIZER:-}" ]; then
  mkdir -m 0700 "$T/setuid"
  rc=0; under_shim "$OPTS:report=$T/setuid/%p.json" "$T/lost" setuid 2>"$T/setuid.err" || rc=$?
  expect_eq "$rc" 0 "setuid program status"
  expect_grep "cannot write report" "$T/setuid.err"
  expect_eq "$(summary "$T/setuid")" "usleep=1/0 exit=exit complete=True" "setuid(65534) then usleep"
else
  echo "SKIP: privilege drop (needs root and no sanitizer: setuid(65534) in the test program)"
fi

# 9. A full disk (root: a 1 MiB tmpfs): the state file cannot grow past its first
# chunks; the sites it could not store are counted and the report says it is
# incomplete; the final report cannot be written either.  A baseline gate reads that
# as incomplete (67), never as "no new sites".
if [ "$(id -u)" = 0 ] && mkdir "$T/full" && mount -t tmpfs -o size=1m tmpfs "$T/full" 2>/dev/null; then
  trap 'umount "$T/full" 2>/dev/null' EXIT
  rc=0; under_shim "$OPTS:report=$T/full/%p.json" "$T/lost" fill "$T/full/filler" 2>"$T/full.err" || rc=$?
  expect_eq "$rc" 0 "fill status"
  expect_grep "cannot write report" "$T/full.err"
  "$BG_CLI" report --format json "$T/full" >"$T/full.json" 2>"$T/full.report.err"
  expect_grep "INCOMPLETE" "$T/full.report.err"
  python3 - "$T/full.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["complete"] is False, m["complete"]
assert "no space left" in m["incomplete_reason"], m["incomplete_reason"]
n = sum(s["count"] for s in m["sites"])
assert 60 <= n < 101 and m["dropped_sites"] > 0, (n, m["dropped_sites"])
PY
  cp "$T/full.json" "$T/full-base.json"
  rc=0; "$BG_CLI" report --baseline "$T/full-base.json" "$T/full" >/dev/null 2>"$T/full.gate" || rc=$?
  expect_eq "$rc" 67 "baseline gate on an incomplete report"
  umount "$T/full"; trap - EXIT
else
  echo "SKIP: full disk (needs root to mount a small tmpfs)"
fi
echo "t_lost_reports: all ok"
