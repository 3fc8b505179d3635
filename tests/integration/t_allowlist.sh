#!/bin/sh
# t_allowlist.sh - an allowlist silences exactly the allowed site, a deny
# action:raise rule fails only its own site's calls, stale rules are listed, and a
# broken allowlist stops the program with FILE:LINE:COLUMN (strict).
. "$(dirname "$0")/lib.sh"
SRC="$BG_ROOT/tests/integration/progs/sites3.c"
cc_prog "$T/sites3" "$SRC"

cat > "$T/supp.txt" <<'S'
# drain() reads a pipe that is always ready: fine
allow read fun:drain
allow connect fun:never_called   # stale
S
under_shim "threads=name:evloop:suppressions=$T/supp.txt:report=$T/a.json:verbosity=0" "$T/sites3" >/dev/null
python3 - "$T/a.json" "$T/supp.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
by = {s["frames"][0]["function"]: s for s in r["sites"]}
assert set(by) == {"nap", "drain", "doze"}, set(by)
assert by["drain"]["allowed"] and by["drain"]["rule"] == sys.argv[2] + ":2", by["drain"]
assert by["drain"]["count"] == 2  # allowed calls are still counted
assert not by["nap"]["allowed"] and not by["doze"]["allowed"] and by["nap"]["rule"] is None
assert r["unmatched_rules"] == [{"file": sys.argv[2], "line": 3, "text": "allow connect fun:never_called"}], r["unmatched_rules"]
PY
# the CLI gate agrees: two violating sites, not three
rc=0; "$BG_CLI" check --threads=name:evloop --suppressions="$T/supp.txt" -- "$T/sites3" >/dev/null 2>"$T/check.err" || rc=$?
expect_eq "$rc" 66 "check exit status"
expect_grep "4 violations at 2 sites" "$T/check.err"

# per-rule action: only nap()'s usleep fails with EDEADLK, doze()'s nanosleep runs
cat > "$T/raise.txt" <<'S'
deny sleep fun:nap action:raise
S
under_shim "threads=name:evloop:suppressions=$T/raise.txt:report=$T/b.json:verbosity=0" "$T/sites3" > "$T/b.out"
expect_grep "raised=2" "$T/b.out"
python3 - "$T/b.json" <<'PY'
import json, sys
by = {s["frames"][0]["function"]: s for s in json.load(open(sys.argv[1]))["sites"]}
assert by["nap"]["action"] == "raise" and by["nap"]["max_ns"] == 0, by["nap"]
assert by["doze"]["action"] == "report" and by["doze"]["max_ns"] > 0, by["doze"]
assert by["drain"]["action"] == "report"
PY

# thread: rules - the guarded thread is "evloop", so a rule for other threads does
# not allow anything here
printf 'allow sleep thread:worker-*\nallow read thread:evloop\n' > "$T/thr.txt"
under_shim "threads=name:evloop:suppressions=$T/thr.txt:report=$T/c.json:verbosity=0" "$T/sites3" >/dev/null
python3 - "$T/c.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
by = {s["frames"][0]["function"]: s["allowed"] for s in r["sites"]}
assert by == {"nap": False, "drain": True, "doze": False}, by
assert [u["line"] for u in r["unmatched_rules"]] == [1]
PY

# a broken allowlist stops the program before main, naming the position
printf 'allow read\ndeny  read action:explode\n' > "$T/bad.txt"
rc=0; under_shim "threads=name:evloop:suppressions=$T/bad.txt" "$T/sites3" > "$T/bad.out" 2> "$T/bad.err" || rc=$?
expect_eq "$rc" 2 "exit status with a bad allowlist"
expect_grep "bad.txt:2:19: unknown action 'explode'" "$T/bad.err"
expect_no_grep "raised=" "$T/bad.out"
printf 'allow raed\n' > "$T/bad2.txt"
rc=0; under_shim "threads=name:evloop:suppressions=$T/bad2.txt" "$T/sites3" >/dev/null 2> "$T/bad2.err" || rc=$?
expect_eq "$rc" 2 "exit status with an unknown call"
expect_grep "bad2.txt:1:7: unknown call or category 'raed'" "$T/bad2.err"
# blockguard check refuses it before running anything
rc=0; "$BG_CLI" check --threads=name:evloop --suppressions="$T/bad.txt" -- "$T/sites3" > "$T/cb.out" 2> "$T/cb.err" || rc=$?
expect_eq "$rc" 2 "check with a bad allowlist"
expect_grep "bad.txt:2:19: unknown action 'explode'" "$T/cb.err"
expect_no_grep "raised=" "$T/cb.out"
echo ok
