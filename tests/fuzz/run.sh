#!/bin/sh
# run.sh - run every libFuzzer harness for a bounded time (make fuzz / make check-fuzz).
#
#   FUZZ_DIR=build-fuzz FUZZ_SECONDS=20 sh tests/fuzz/run.sh [TARGET...]
#
# Each target fuzzes from a working corpus in $FUZZ_DIR/corpus/TARGET (grown across
# runs) seeded with the committed tests/fuzz/corpus/TARGET and tests/fuzz/regress/TARGET.
# A crash, leak, timeout or failed property leaves its input in $FUZZ_DIR/crashes/TARGET/;
# fix the bug, then copy the input into tests/fuzz/regress/TARGET/ so `make check`
# replays it forever.  Prints executions per target and "fuzz: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
: "${FUZZ_DIR:=build-fuzz}" "${FUZZ_SECONDS:=20}"
targets=${*:-$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done)}
pass=0 fail=0 failed="" total_execs=0
for t in $targets; do
  bin="$FUZZ_DIR/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin not built" >&2; fail=$((fail + 1)); failed="$failed $t"; continue; }
  work="$FUZZ_DIR/corpus/$t" crashes="$FUZZ_DIR/crashes/$t"
  mkdir -p "$work" "$crashes"
  dict=""
  [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
  maxlen=4096
  [ -f "tests/fuzz/$t.maxlen" ] && maxlen=$(cat "tests/fuzz/$t.maxlen")
  log="$FUZZ_DIR/log/$t.log"
  mkdir -p "$(dirname "$log")"
  seeds=""
  for d in "tests/fuzz/corpus/$t" "tests/fuzz/regress/$t"; do [ -d "$d" ] && seeds="$seeds $d"; done
  # -timeout: one input taking 10 s is a hang (the parsers are linear).  The hard
  # `timeout` stops a wedged fuzzer; its exit status counts as a failure.
  # shellcheck disable=SC2086
  if timeout $((FUZZ_SECONDS + 120)) "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
       -rss_limit_mb=2048 -max_len="$maxlen" -print_final_stats=1 \
       -artifact_prefix="$crashes/" $dict "$work" $seeds >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "  ok    fuzz_$t: ${execs:-?} executions in ${FUZZ_SECONDS}s (${cov:-cov: ?}, corpus $(ls "$work" | wc -l))"
    total_execs=$((total_execs + ${execs:-0}))
    pass=$((pass + 1))
  else
    echo "  FAIL  fuzz_$t (log: $log; inputs: $crashes/)"
    grep -E 'ERROR|SUMMARY|abort|Test unit written' "$log" | head -n 10 | sed 's/^/        /'
    fail=$((fail + 1)) failed="$failed $t"
  fi
done
[ -n "$failed" ] && echo "fuzz: failed:$failed"
echo "fuzz: $pass passed, $fail failed ($total_execs executions)"
[ "$fail" -eq 0 ]
