# t_offload_pingpong.sh - offloaded calls that depend on each other (a read whose
# writer is another offloaded call) complete with workers=1: the pool grows past
# `workers` instead of deadlocking (io_uring=0: both on workers).  With the scheduler's
# io_uring the pipe reads wait in the kernel and occupy no worker at all.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/pingpong" "$BG_ROOT/tests/integration/offload/pingpong.c"
under_shim "mode=offload:workers=1:verbosity=0:io_uring=0" "$T/pingpong" >"$T/out" 2>&1 ||
  { cat "$T/out"; fail "ping-pong with workers=1 did not complete"; }
cat "$T/out"
expect_grep "ok=2" "$T/out"
grep -q "overflow_spawned=0" "$T/out" && fail "no overflow worker: the test did not exercise the deadlock case"
under_shim "mode=offload:workers=1:verbosity=0" "$T/pingpong" >"$T/out" 2>&1 ||
  { cat "$T/out"; fail "ping-pong with workers=1 and io_uring did not complete"; }
cat "$T/out"
expect_grep "ok=2" "$T/out"
exit 0
