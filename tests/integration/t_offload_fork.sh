# t_offload_fork.sh - fork from a coroutine while a worker runs another coroutine's
# call: the child gets a working pool and scheduler of its own (the parent's call is
# cancelled there with ECANCELED), the parent's call completes normally.
. "$BG_ROOT/tests/integration/lib.sh"
case "${SANITIZER:-}" in *address*)
  # ASan cannot start threads in the child of a threaded parent: glibc hands them the
  # dead parent threads' cached stacks, whose shadow still marks old frames
  # (google/sanitizers#255, WontFix), a false stack-buffer-overflow.  Plain build only.
  echo "skipped under ASan"; exit 0 ;;
esac
cc_prog "$T/fork" "$BG_ROOT/tests/integration/offload/fork.c"
under_shim "mode=offload:verbosity=0" "$T/fork" >"$T/out" 2>&1 || { cat "$T/out"; fail "fork test failed"; }
cat "$T/out"
expect_grep "child exit status 0" "$T/out"
expect_grep "parent read 6 'parent'" "$T/out"
