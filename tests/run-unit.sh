#!/bin/sh
# run-unit.sh BIN... - run each cmocka unit-test binary, print one closing tally.
# Each binary runs as its own process with a timeout so a hang fails instead of
# stalling CI.
pass=0 fail=0 failed=""
for t in "$@"; do
  if timeout 120 "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $(basename "$t")"; fi
done
[ -n "$failed" ] && echo "unit: failed:$failed"
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
