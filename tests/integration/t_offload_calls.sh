# t_offload_calls.sh - under mode=offload, a representative blocking call of every
# category returns the same value, errno and output inside a coroutine (offloaded to
# a worker or the scheduler's io_uring, or a timer for sleeps) as outside one (where
# offload falls back to report), and it really was offloaded (see offload/calls.c).
# Three ways: with io_uring for the URING rows (where the kernel allows it), with
# workers only (io_uring=0), and with io_uring refused by a seccomp filter as in a
# container (offload/noring.c): the shim must fall back to the workers by itself.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/calls" "$BG_ROOT/tests/integration/offload/calls.c"
cc_prog "$T/noring" "$BG_ROOT/tests/integration/offload/noring.c"
cc_prog "$T/ringprobe" "$BG_ROOT/tests/integration/offload/ringprobe.c"
# Is io_uring usable here at all? (Linux 6.1+, not disabled by sysctl or seccomp.)
ring_here=yes
why=$("$T/ringprobe") || ring_here=no
for how in ring workers refused; do
  case $how in
    ring) run="$T/calls"; o="" ;;
    workers) run="$T/calls"; o=":io_uring=0" ;;
    refused) run="$T/noring $T/calls"; o="" ;;
  esac
  under_shim "mode=offload:threads=main:categories=all:log_path=stderr$o" $run >"$T/out" 2>"$T/err" ||
    { cat "$T/out" "$T/err"; fail "offloaded calls differ from direct calls ($how)"; }
  echo "--- $how"
  cat "$T/out"
  expect_grep "0 of [0-9]* cases differ" "$T/out"
  # The report keeps the offloaded sites, marked with the action taken.
  expect_grep "\[offload\]" "$T/err"
  case $how in
    ring) [ $ring_here = yes ] && expect_grep "through io_uring: yes" "$T/out" ||
            echo "SKIP: io_uring not usable here ($(uname -r), $why): the URING calls ran on workers" ;;
    *) expect_grep "through io_uring: no" "$T/out" ;;
  esac
done
