#!/bin/sh
# memcheck.sh - valgrind memcheck of real programs under the shim, and of the CLI.
#
#   sh tests/valgrind/memcheck.sh        (BUILD=build by default)
#
# Each program runs under memcheck with the shim preloaded, so the shim's own
# allocations, reads and writes inside the client are all checked, with leak
# checking: an invalid access, a use of uninitialised memory or a definite/indirect
# leak fails.  tests/valgrind/noise.supp holds the few suppressions for errors that
# are not ours, each documented.  Forked children are checked too (valgrind follows
# fork; each writes its own log).  Prints "memcheck: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
: "${BUILD:=build}" "${CC:=cc}"
lib="$PWD/$BUILD/libblockguard.so" cli="$PWD/$BUILD/blockguard"
T="$PWD/$BUILD/tests/tmp/memcheck"
rm -rf "$T" && mkdir -p "$T"
P=tests/integration/progs
pass=0 fail=0 failed=""

# vg NAME OPTIONS|- CMD...: CMD under memcheck; OPTIONS: BLOCKGUARD_OPTIONS for the
# shim, or - to run without it (the CLI).
vg() {
  name=$1 opts=$2; shift 2
  log="$T/$name.vg"
  start=$(date +%s)
  set -- timeout 900 valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    --suppressions=tests/valgrind/noise.supp ${SUPP:+--suppressions=$SUPP} --gen-suppressions=all \
    --log-file="$log.%p" "$@"
  if [ "$opts" = - ]; then "$@" >"$T/$name.out" 2>&1; else
    env LD_PRELOAD="$lib" BLOCKGUARD_OPTIONS="$opts" "$@" >"$T/$name.out" 2>&1; fi
  rc=$?
  # every process (forked children too) writes its own log; any content is an error
  if [ "$rc" -ne 0 ] || [ -n "$(cat "$log".* 2>/dev/null)" ]; then
    fail=$((fail + 1)) failed="$failed $name"
    echo "  FAIL  $name (status $rc, logs: $log.*)"
    cat "$log".* 2>/dev/null | head -n 80 | sed 's/^/        /'
    tail -n 5 "$T/$name.out" | sed 's/^/        /'
  else
    pass=$((pass + 1)); echo "  ok    $name ($(($(date +%s) - start))s)"
  fi
}

for p in epoll_loop names fork_threads exec_child; do
  $CC -g -O0 -pthread -Iinclude -o "$T/$p" $P/$p.c || exit 1
done
$CC -g -O0 -pthread -Iinclude -rdynamic -o "$T/stress" tests/stress/stress.c || exit 1
mkdir -p "$T/reports"

vg epoll_loop "threads=auto:verbosity=2:report=$T/reports/%p.json" "$T/epoll_loop"
vg epoll_fork "threads=auto:verbosity=1:report=$T/reports/%p.json" "$T/epoll_loop" fork
vg names "threads=name:io-*:verbosity=1:mode=warn" "$T/names"
vg fork_threads "threads=all:verbosity=1" "$T/fork_threads"
vg exec_child "threads=main:verbosity=1" "$T/exec_child"
# 64 threads, signals, forks and execs, thread churn - short: valgrind runs one
# thread at a time
STRESS_SECONDS=${STRESS_SECONDS:-3} STRESS_CHURN=50 \
  vg stress "threads=main,name:g-*:verbosity=1:report=$T/reports/%p.json" "$T/stress"
# the CLI reading, merging and rendering what the runs above wrote
for f in $("$cli" --help | sed -n '/^Formats/,$p' | awk 'NR > 1 {print $1}'); do
  vg "report_$f" - "$cli" report --format "$f" "$T/reports"
done
vg report_suppressions - "$cli" report --suppressions "$T/reports"

[ -n "$failed" ] && echo "memcheck: failed:$failed"
echo "memcheck: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
