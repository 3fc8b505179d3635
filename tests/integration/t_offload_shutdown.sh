# t_offload_shutdown.sh - a worker stuck forever in an offloaded read() does not keep
# the process from exiting: exit waits a bounded time, abandons the worker and says
# so, and the process is gone in well under 1 s past the 50 ms it runs.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/shutdown" "$BG_ROOT/tests/integration/offload/shutdown.c"
t0=$(date +%s%N)
under_shim "mode=offload" "$T/shutdown" >"$T/out" 2>&1 || { cat "$T/out"; fail "exit status $?"; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cat "$T/out"
echo "exited after ${ms} ms"
expect_grep "1 worker still blocked at exit (read() for" "$T/out"
expect_grep "abandoned" "$T/out"
[ "$ms" -lt 1500 ] || fail "exit took ${ms} ms with a stuck worker"
