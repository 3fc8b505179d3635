# t_offload_stack.sh - a coroutine parked in an offloaded call (a sleep turned into a
# timer, a read on a worker) keeps one page of its stack: the guard's own deep paths
# (stack capture, symbolization of a new site) run on the scheduler thread's stack,
# so a 16 KiB coroutine stack is enough and 10,000 sleepers cost 10,000 pages.  See
# offload/stackuse.c.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/stackuse" "$BG_ROOT/tests/integration/offload/stackuse.c"
under_shim "mode=offload:verbosity=1:log_path=stderr" "$T/stackuse" >"$T/out" 2>"$T/err" ||
  { cat "$T/out" "$T/err"; fail "stackuse failed"; }
cat "$T/out"
expect_grep "coroutines=200 " "$T/out"
# The coroutines made their calls at 8 sites (8 call chains; odd ones sleep, even ones
# read), and the release is a 9th (a blocking write, offloaded too).
expect_grep "violations at 9 sites" "$T/err"
case "${SANITIZER:-}" in
  *address*|*thread*) echo "SKIP page count: sanitizer builds run the guard on the coroutine stack" ;;
  *) expect_grep "max_pages=1 pages_below=0" "$T/out" ;;
esac
