# t_log_path.sh - without the CLI, the program's own streams stay its own (issue 10
# item 3): with log_path unset (auto) nothing is written to a child's stderr that
# is not a terminal - no violations, or violations in report mode; log_path=stderr
# prints the summary there; log_path=PATH appends to PATH.<pid> (sanitizer style).
# Errors (bad options) still go to stderr: the program stops with status 2 and must
# say why.
. tests/integration/lib.sh
cc_prog "$T/lost" tests/integration/progs/lost.c
rc=0; under_shim "threads=main" "$T/lost" quiet 2>"$T/quiet.err" || rc=$?
expect_eq "$rc" 0
[ -s "$T/quiet.err" ] && { cat "$T/quiet.err"; fail "stderr written with no violations"; }
rc=0; under_shim "threads=main" "$T/lost" quick 2>"$T/viol.err" || rc=$?
expect_eq "$rc" 3
[ -s "$T/viol.err" ] && { cat "$T/viol.err"; fail "stderr (not a terminal) written in report mode"; }
# the summary when asked for
under_shim "threads=main:log_path=stderr" "$T/lost" quick 2>"$T/stderr.err" || true
expect_grep "blockguard: pid [0-9]*: 1 violation at 1 site" "$T/stderr.err"
under_shim "threads=main:log_path=$T/bg.log" "$T/lost" quick 2>"$T/file.err" || pid=$?
[ -s "$T/file.err" ] && { cat "$T/file.err"; fail "log_path=FILE wrote to stderr"; }
n=$(ls "$T" | grep -c '^bg\.log\.[0-9]*$')
expect_eq "$n" 1 "one log file per process"
expect_grep "1 violation at 1 site" "$T"/bg.log.*
# a terminal gets the summary (script(1) gives the program a pty)
if command -v script >/dev/null 2>&1; then
  script -qec "env LD_PRELOAD=$BG_PRELOAD BLOCKGUARD_OPTIONS=threads=main $T/lost quick" /dev/null >"$T/tty.out" 2>&1 || true
  expect_grep "1 violation at 1 site" "$T/tty.out"
else
  echo "SKIP: terminal case (no script(1))"
fi
# bad options are an error on stderr, whatever log_path says
rc=0; under_shim "threads=main:log_path=$T/x.log:mode=loud" "$T/lost" quiet 2>"$T/bad.err" || rc=$?
expect_eq "$rc" 2
expect_grep "unknown action 'loud'" "$T/bad.err"
echo "t_log_path: all ok"
