# t_offload_st.sh - the State Threads adapter (include/blockguard_st.h): an st thread
# calling sleep(1) and a blocking read() keeps the other st threads running under the
# shim with mode=offload; with mode=report the same program stops them all (which
# shows the test can tell the difference).
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/st" "$BG_ROOT/tests/integration/offload/st.c" -lst
under_shim "mode=offload:log_path=stderr" "$T/st" >"$T/off" 2>"$T/off.err" || { cat "$T/off" "$T/off.err"; fail "st program failed"; }
under_shim "mode=report:log_path=stderr" "$T/st" >"$T/rep" 2>"$T/rep.err" || { cat "$T/rep" "$T/rep.err"; fail "st program failed"; }
cat "$T/off" "$T/rep"
num() { sed -n "s/.* $1=\([0-9-]*\).*/\1/p" "$2"; }
expect_grep "adapter=1 sleep_rc=0" "$T/off"
expect_grep "read_rc=12 read='from pthread'" "$T/off"
[ "$(num sleep_ticks "$T/off")" -ge 50 ] || fail "ticker stalled during sleep(1) under offload"
[ "$(num read_ticks "$T/off")" -ge 10 ] || fail "ticker stalled during read() under offload"
[ "$(num sleep_ticks "$T/rep")" -le 5 ] || fail "report mode should stall the ticker"
# st's own idle-thread select() is its event loop, not a violation.
expect_no_grep "select" "$T/off.err"
expect_grep "sleep .*\[offload\]" "$T/off.err"
