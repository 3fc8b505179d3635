# t_offload_fork.sh - fork from a coroutine while another coroutine's call is in flight
# (on a worker with io_uring=0, in the scheduler's io_uring otherwise): the child gets
# a working pool, ring and scheduler of its own (the parent's call is cancelled there
# with ECANCELED), the parent's call completes normally.
. "$BG_ROOT/tests/integration/lib.sh"
case "${SANITIZER:-}" in *address*)
  # ASan cannot start threads in the child of a threaded parent: glibc hands them the
  # dead parent threads' cached stacks, whose shadow still marks old frames
  # (google/sanitizers#255, WontFix), a false stack-buffer-overflow.  Plain build only.
  echo "skipped under ASan"; exit 0 ;;
esac
cc_prog "$T/fork" "$BG_ROOT/tests/integration/offload/fork.c"
for ring in 0 1; do
  under_shim "mode=offload:verbosity=0:io_uring=$ring" "$T/fork" >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "fork test failed (io_uring=$ring)"; }
  cat "$T/out"
  expect_grep "child exit status 0" "$T/out"
  expect_grep "parent read 6 'parent'" "$T/out"
done
