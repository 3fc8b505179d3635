# t_offload_sleepers.sh - 10,000 coroutines each calling usleep(100000) sleep together:
# each usleep became a scheduler timer (no worker), so the run takes about 100 ms plus
# set-up, far below the 10 x 100 ms this test allows (serially it would be 1000 s).
# A timing check on a shared machine: one retry absorbs a load spike.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/sleepers" "$BG_ROOT/tests/integration/offload/sleepers.c"
ok=0
for attempt in 1 2; do
  under_shim "mode=offload:verbosity=0" "$T/sleepers" 10000 >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "sleepers failed"; }
  cat "$T/out"
  expect_grep "done=10000 " "$T/out"
  expect_grep "timers=10000 jobs=0" "$T/out"
  ms=$(sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p' "$T/out")
  [ "$ms" -lt 1000 ] && { ok=1; break; }
  echo "attempt $attempt: ${ms} ms"
done
[ "$ok" = 1 ] || fail "10,000 sleepers took ${ms} ms: they did not sleep concurrently"
