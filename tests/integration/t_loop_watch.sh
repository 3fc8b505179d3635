#!/bin/sh
# t_loop_watch.sh - event-loop detection through the real wrappers (guard/loop.c,
# docs/design.md "Event loops"): which waits make a thread a loop thread (a doorbell
# eventfd in a poll/select set, any epoll wait) and which do not (zero timeouts, sets
# without a doorbell), and every way a loop ends (close, dup2 over its fd, close_range,
# a raw close syscall, a close on another thread, fork).  With auto off nothing is
# watched.  tests/integration/progs/loop_shapes.c says what each shape does.
. "$BG_ROOT/tests/integration/lib.sh"
cc_prog "$T/shapes" "$BG_ROOT/tests/integration/progs/loop_shapes.c"

check() { # OPTIONS SHAPE READS LOOPER_AUTO_AT_EXIT
  rm -f "$T/r.json"
  out=$(under_shim "$1:report=$T/r.json:verbosity=0" "$T/shapes" "$2") || fail "$2: status $?"
  expect_eq "$out" "reads=$3" "shape $2 under $1: read violations"
  python3 - "$T/r.json" "$4" "$2" <<'P' || fail "shape $2 under $1"
import json, sys
r = json.load(open(sys.argv[1]))
looper = [t for t in r["threads"] if t["name"] == "looper"]
auto = bool(looper and looper[0]["why"] == "auto")
waits = [s["call"] for s in r["sites"] if s["category"] == "wait"]
if auto != (sys.argv[2] == "1") or waits:
    sys.exit("%s: looper why=auto %s (want %s); wait violations %s\n%s"
             % (sys.argv[3], auto, sys.argv[2] == "1", waits, json.dumps(r["threads"])))
P
}

check threads=auto zero 0 0       # zero-timeout polls: never a loop
check threads=auto plain 0 0      # a pipe and a socketpair: no doorbell, no loop
check threads=auto doorbell 1 1   # an eventfd in the set: the loop; its read counts
check threads=auto select 1 1     # the same through select()
check threads=auto epoll0 1 1     # any epoll wait, a zero timeout included
check threads=auto close 1 0      # read inside the loop counts; after close(ep) not
check threads=auto dup2 1 0
check threads=auto range 1 0
check threads=auto syscall 1 0
check threads=auto closer 1 0     # the main thread closed the looper's epoll fd
check threads=auto fork 3 1       # reads before and after + waitpid; the child (exits 3 if
                                  # it recorded anything) is not the loop
check threads=main doorbell 1 0   # auto off: the looper is a loop (loop health) but not guarded (the
                                  # one violation is main opening /dev/zero)
echo ok
