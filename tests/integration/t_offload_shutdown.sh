# t_offload_shutdown.sh - a call stuck forever in an offloaded read() does not keep the
# process from exiting.  On a worker (io_uring=0): exit waits a bounded time, abandons
# the worker and says so.  In the scheduler's io_uring: the kernel cancels it when the
# process exits, nothing to wait for.  Either way the process is gone in well under
# 1 s past the 50 ms it runs.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/shutdown" "$BG_ROOT/tests/integration/offload/shutdown.c"
for ring in 0 1; do
  t0=$(date +%s%N)
  want=""; [ $ring = 0 ] && want=1
  WANT_WORKER=$want under_shim "mode=offload:io_uring=$ring" "$T/shutdown" >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "exit status $? (io_uring=$ring)"; }
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  cat "$T/out"
  echo "io_uring=$ring: exited after ${ms} ms"
  if [ $ring = 0 ]; then
    expect_grep "1 worker still blocked at exit (read() for" "$T/out"
    expect_grep "abandoned" "$T/out"
  else
    expect_no_grep "still blocked" "$T/out"
  fi
  [ "$ms" -lt 1500 ] || fail "exit took ${ms} ms with a stuck call (io_uring=$ring)"
done
