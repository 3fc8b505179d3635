#!/usr/bin/env bash
# .ci/trust.sh - the trust suite (issue 7), called by .ci/run after `make check`.
#
#   1. ASan+UBSan build: the whole `make check` (unit, integration, fuzz replay).
#   2. TSan (clang): the threaded unit tests, among them the concurrent writers/readers
#      test.  clang, not gcc: gcc 12's libtsan crashes at thread exit in libunwind's
#      thread-specific-data destructor (docs/trust.md).
#   3. make check-fuzz: every libFuzzer harness for CHECK_FUZZ_SECONDS (20) each.
#   4. valgrind memcheck of programs under the shim and of the CLI.
#   5. make check-transparency: CPython's own tests with and without the shim; then the
#      signal/thread/process/asyncio modules with the stall detector ticking every ms.
#   6. t_lang_stress for 30 s: Python frames read while other threads churn frames.
# Each stage is bounded by `timeout`; a failing stage does not stop the others.
# Prints one line per stage and a final "trust: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
pass=0 fail=0 failed=""
log_dir=build/trust-logs
mkdir -p "$log_dir"

# stage NAME SECONDS 'shell command': runs it bounded, logs to build/trust-logs/NAME.log.
stage() {
  local name=$1 limit=$2 cmd=$3
  local t0=$(date +%s) log="$log_dir/$name.log"
  echo "=== trust: $name"
  local rc=0
  timeout "$limit" bash -c "$cmd" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1))
    echo "  ok    $name ($(($(date +%s) - t0))s)"
  else
    fail=$((fail + 1)) failed="$failed $name"
    echo "  FAIL  $name ($(($(date +%s) - t0))s, status $rc$([ "$rc" = 124 ] && echo ": timed out"), log $log)"
  fi
  # the stage's own tally lines, whatever happened
  grep -E '^(unit|integration|fuzz|memcheck|transparency):|^ *(FAIL|ok) ' "$log" | tail -n 40 | sed 's/^/    /'
}

tools/deps.sh trust

# The threaded unit tests (the core under concurrent writers and report readers, the
# HTTP server, offload workers and scheduler) plus the small ones.  test_sites and
# test_rules are single-threaded and assert gcc-specific stack shapes (noipa).
# die_after_fork=0: test_workers forks with live workers on purpose.
tsan_bins=""
for t in test_concurrency test_http test_workers test_sched test_co_ctx test_uring test_verdict \
         test_unwind_io test_options test_merge test_render test_exempt; do
  tsan_bins="$tsan_bins build-tsan/tests/$t"
done

stage asan-ubsan-check 1800 "make -j2 SANITIZER=address,undefined check"
stage tsan-unit 1200 "make -j2 SANITIZER=thread CC=clang BUILD=build-tsan $tsan_bins &&
  TSAN_OPTIONS='die_after_fork=0 halt_on_error=1' sh tests/run-unit.sh $tsan_bins"
stage fuzz 1200 "make -j2 check-fuzz CHECK_FUZZ_SECONDS=${CHECK_FUZZ_SECONDS:-20}"
stage memcheck 1200 "sh tests/valgrind/memcheck.sh"
stage transparency 1500 "make check-transparency"
stage transparency-stall 900 "make check-transparency-stall"
# Python frames read on every violation while other threads churn frames (issue 11):
# make check runs it for 10 s per interpreter, here 30.
stage lang-stress 900 "make -j2 all && BG_LANG_STRESS_S=30 TESTS=t_lang_stress sh tests/integration/run.sh"

[ -n "$failed" ] && echo "trust: failed:$failed"
echo "trust: $pass passed, $fail failed ($(($(date +%s) - start))s)"
[ "$fail" -eq 0 ]
