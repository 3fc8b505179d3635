# t_offload_sighandler.sh - a blocking call made by a signal handler that interrupted
# a coroutine runs in place (never offloaded: the coroutine would be suspended inside
# the handler, holding whatever the interrupted code held).
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/sighandler" "$BG_ROOT/tests/integration/offload/sighandler.c"
under_shim "mode=offload:threads=main:verbosity=0" "$T/sighandler" >"$T/out" 2>&1 ||
  { cat "$T/out"; fail "the handler's read was offloaded or failed"; }
cat "$T/out"
expect_grep "handled=1 read=1 jobs=0" "$T/out"
