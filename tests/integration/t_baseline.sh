#!/bin/sh
# t_baseline.sh - CI gating on legacy code: with a baseline, only a site added since
# fails (report --baseline and check --baseline share the gate); a rebuild that moves
# every offset does not make old sites new; --suppressions prints usable rules.
. "$(dirname "$0")/lib.sh"
SRC="$BG_ROOT/tests/integration/progs/sites3.c"
cc_prog "$T/sites3" "$SRC"
O="threads=name:evloop:verbosity=0"

under_shim "$O:report=$T/base.json" "$T/sites3" >/dev/null
under_shim "$O:report=$T/same.json" "$T/sites3" >/dev/null
under_shim "$O:report=$T/more.json" "$T/sites3" extra >/dev/null

"$BG_CLI" report --baseline "$T/base.json" "$T/same.json" > "$T/same.txt" 2> "$T/same.err" ||
  fail "no new site, yet report --baseline failed"
expect_grep "0 new sites since the baseline (3 known sites not counted)" "$T/same.err"

rc=0; "$BG_CLI" report --baseline "$T/base.json" "$T/more.json" > "$T/more.txt" 2> "$T/more.err" || rc=$?
expect_eq "$rc" 66 "report --baseline exit status with a new site"
expect_grep "1 new site since the baseline (3 known sites not counted)" "$T/more.err"
expect_grep "#0 0x[0-9a-f]* in extra .*sites3.c:$(grep -n SITE:extra "$SRC" | cut -d: -f1) " "$T/more.txt"
expect_no_grep " in nap " "$T/more.txt"
expect_no_grep " in drain " "$T/more.txt"
rc=0; "$BG_CLI" report --baseline "$T/base.json" --format sarif "$T/more.json" > "$T/more.sarif" 2>/dev/null || rc=$?
expect_eq "$rc" 66
python3 -c "import json,sys; assert len(json.load(open(sys.argv[1]))['runs'][0]['results']) == 1" "$T/more.sarif"

# check uses the same gate
rc=0; "$BG_CLI" check --baseline="$T/base.json" --threads=name:evloop -- "$T/sites3" >/dev/null 2>"$T/c1.err" || rc=$?
expect_eq "$rc" 0 "check --baseline without new sites"
rc=0; "$BG_CLI" check --baseline="$T/base.json" --threads=name:evloop -- "$T/sites3" extra >/dev/null 2>"$T/c2.err" || rc=$?
expect_eq "$rc" 66 "check --baseline with a new site"
expect_grep "1 new site since the baseline" "$T/c2.err"
expect_grep " in extra " "$T/c2.err"
rc=0; "$BG_CLI" check --baseline="$T/nonexistent.json" -- "$T/sites3" >/dev/null 2>"$T/c3.err" || rc=$?
expect_eq "$rc" 2 "check with a missing baseline"

# a rebuild with code inserted above every site: all offsets move, ids change, the
# function-level signature still matches the baseline
sed 's|^static int fds\[2\]|static volatile int pad_[64]; static int touch_(void) { return pad_[1] + pad_[2]; }\nstatic int fds[2]|' "$SRC" > "$T/moved.c"
sed -i 's|^static void nap(void) {|static void nap(void) {\n  if (touch_()) raised += 0;|' "$T/moved.c"
cc_prog "$T/sites3" "$T/moved.c"
under_shim "$O:report=$T/moved.json" "$T/sites3" >/dev/null
python3 - "$T/base.json" "$T/moved.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert {s["id"] for s in a["sites"]} != {s["id"] for s in b["sites"]}, "offsets did not move"
PY
"$BG_CLI" report --baseline "$T/base.json" "$T/moved.json" >/dev/null 2>"$T/moved.err" ||
  { cat "$T/moved.err"; fail "a rebuild made old sites new"; }

# suggested rules, pasted into an allowlist, silence every site
"$BG_CLI" report --suppressions "$T/more.json" > "$T/supp.txt"
expect_grep "^allow usleep fun:extra$" "$T/supp.txt"
cc_prog "$T/sites3" "$SRC"
rc=0; "$BG_CLI" check --threads=name:evloop --suppressions="$T/supp.txt" -- "$T/sites3" extra >/dev/null 2>"$T/s.err" || rc=$?
expect_eq "$rc" 0 "check with the suggested allowlist"
expect_grep "0 violations at 0 sites" "$T/s.err"

# unreadable inputs are errors, never a pass
echo '{"tool":"blockguard","version":"0.1.0"' > "$T/broken.json"
rc=0; "$BG_CLI" report --baseline "$T/base.json" "$T/broken.json" >/dev/null 2>"$T/e.err" || rc=$?
expect_eq "$rc" 2
expect_grep "broken.json:.*invalid JSON" "$T/e.err"
echo ok
