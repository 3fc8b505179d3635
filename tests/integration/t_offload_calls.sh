# t_offload_calls.sh - under mode=offload, a representative blocking call of every
# category returns the same value, errno and output inside a coroutine (offloaded to
# a worker or the scheduler's io_uring, or a timer for sleeps) as outside one (where
# offload falls back to report), and it really was offloaded (see offload/calls.c).
# Twice: with io_uring for the URING rows (where the kernel allows it), and with
# workers only (io_uring=0).
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/calls" "$BG_ROOT/tests/integration/offload/calls.c"
for ring in 1 0; do
  under_shim "mode=offload:threads=main:categories=all:io_uring=$ring:log_path=stderr" "$T/calls" >"$T/out" 2>"$T/err" ||
    { cat "$T/out" "$T/err"; fail "offloaded calls differ from direct calls (io_uring=$ring)"; }
  cat "$T/out"
  expect_grep "0 of [0-9]* cases differ" "$T/out"
  # The report keeps the offloaded sites, marked with the action taken.
  expect_grep "\[offload\]" "$T/err"
done
