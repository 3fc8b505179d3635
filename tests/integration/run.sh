#!/bin/sh
# run.sh - integration test runner.  Every tests/integration/t_*.sh is one test case
# group run as its own process with a timeout (TEST_TIMEOUT, default 300 s); it gets
# BUILD, CC and SANITIZER in the environment and sources lib.sh for helpers.  A case
# passes when its script exits 0.  Prints "integration: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
: "${BUILD:=build}"
export BUILD CC SANITIZER
export BG_ROOT="$PWD"
pass=0 fail=0 failed=""
only=${TESTS:-}
for t in tests/integration/t_*.sh; do
  name=$(basename "$t" .sh)
  if [ -n "$only" ] && ! echo " $only " | grep -q " $name "; then continue; fi
  log="$BUILD/tests/log/$name.log"
  mkdir -p "$(dirname "$log")"
  start=$(date +%s)
  if timeout "${TEST_TIMEOUT:-300}" sh "$t" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "  ok    $name ($(($(date +%s) - start))s)"
  else
    fail=$((fail + 1)); failed="$failed $name"; echo "  FAIL  $name (log: $log)"; tail -n 30 "$log" | sed 's/^/        /'
  fi
done
[ -n "$failed" ] && echo "integration: failed:$failed"
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
