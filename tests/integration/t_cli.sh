# t_cli.sh - blockguard run/check: exit statuses, signals, bad options, programs the
# shim cannot see (static), and the shim's own strict option handling.
. tests/integration/lib.sh
P=tests/integration/progs
cc_prog "$T/exits" $P/exits.c

rc=0; "$BG_CLI" run -- "$T/exits" x 7 2>"$T/err" || rc=$?
expect_eq "$rc" 7 "run passes the exit status through"

rc=0; "$BG_CLI" check --threads=main -- "$T/exits" sleep 2>"$T/err" || rc=$?
expect_eq "$rc" 66 "check fails with exitcode on violations"
expect_grep "check failed" "$T/err"
expect_grep "usleep" "$T/err"

rc=0; "$BG_CLI" check --threads=main --exitcode=5 -- "$T/exits" sleep 2>"$T/err" || rc=$?
expect_eq "$rc" 5 "--exitcode"

rc=0; "$BG_CLI" check --threads=main -- "$T/exits" quiet 3 2>"$T/err" || rc=$?
expect_eq "$rc" 3 "check without violations returns the program's status"
expect_grep "0 violations" "$T/err"

rc=0; "$BG_CLI" run -- "$T/exits" x kill 2>"$T/err" || rc=$?
expect_eq "$rc" 137 "killed program"
expect_grep "killed by signal 9" "$T/err"

rc=0; "$BG_CLI" run --threads=sometimes -- "$T/exits" 2>"$T/err" || rc=$?
expect_eq "$rc" 2 "bad CLI option"
expect_grep "unknown thread selector 'sometimes'" "$T/err"

rc=0; "$BG_CLI" run --nosuch=1 -- "$T/exits" 2>"$T/err" || rc=$?
expect_eq "$rc" 2 "unknown CLI option"
expect_grep "unknown option 'nosuch'" "$T/err"

rc=0; "$BG_CLI" run -- /nonexistent/prog 2>"$T/err" || rc=$?
expect_eq "$rc" 127 "missing program"

# The shim itself: bad options stop the program before main() with status 2...
cat > "$T/hello.c" <<'C'
#include <stdio.h>
int main(void) { puts("main ran"); return 0; }
C
cc_prog "$T/hello" "$T/hello.c"
rc=0; under_shim "mode=loud" "$T/hello" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "$rc" 2 "strict=1 bad options exit 2"
expect_grep "unknown action 'loud'" "$T/err"
expect_no_grep "main ran" "$T/out"
# ...unless strict=0, which runs the program unguarded.
rc=0; under_shim "mode=loud:strict=0" "$T/hello" >"$T/out" 2>"$T/err" || rc=$?
expect_eq "$rc" 0 "strict=0 runs unguarded"
expect_grep "main ran" "$T/out"

# A static program ignores LD_PRELOAD: say so, and check must fail.
if $CC -static -o "$T/static" "$T/hello.c" 2>/dev/null; then
  rc=0; "$BG_CLI" check -- "$T/static" >"$T/out" 2>"$T/err" || rc=$?
  expect_eq "$rc" 67 "check fails on a static binary: a report is missing (67), not violations"
  expect_grep "NOT GUARDED" "$T/err"
  expect_grep "statically linked" "$T/err"
  expect_grep "no ledger came from it" "$T/err"
  expect_grep "a report is missing or incomplete (exit 67)" "$T/err"
  expect_grep "main ran" "$T/out"
else
  echo "note: no static libc, static case skipped"
fi

# A script is judged by its interpreter; a shell script is guardable.
printf '#!/bin/sh\nexit 4\n' > "$T/script.sh"; chmod +x "$T/script.sh"
rc=0; "$BG_CLI" check -- "$T/script.sh" 2>"$T/err" || rc=$?
expect_eq "$rc" 4 "script status"
expect_no_grep "NOT GUARDED" "$T/err"
echo "t_cli: all ok"
