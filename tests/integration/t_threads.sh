# t_threads.sh - guarded-thread selection on real programs: auto detection on an epoll
# loop, name globs (prctl, pthread_setname_np on self and others), fork from a
# multithreaded program, exec of a child.
. tests/integration/lib.sh
P=tests/integration/progs

cc_prog "$T/epoll_loop" $P/epoll_loop.c
out=$(under_shim "threads=auto:verbosity=0" "$T/epoll_loop")
# 5 iterations × (read + usleep) after the first epoll_wait, + 4 eventfd writes
expect_eq "$out" "violations=14" "auto detection on an epoll loop"
out=$(under_shim "threads=auto:verbosity=0" "$T/epoll_loop" fork | tr '\n' ' ')
# the parent's waitpid is its 15th violation; the child is not a loop thread
expect_eq "$out" "child status=0 violations=15 " "fork child drops the loop role"
out=$(under_shim "threads=none:verbosity=0" "$T/epoll_loop")
expect_eq "$out" "violations=0" "threads=none"
out=$("$T/epoll_loop")
expect_eq "$out" "violations=0" "without the shim the API is inert"

cc_prog "$T/names" $P/names.c
out=$(under_shim "threads=name:io-*:verbosity=0" "$T/names")
expect_eq "$out" "violations=2" "name globs follow prctl and pthread_setname_np"
out=$(under_shim "threads=all:verbosity=0" "$T/names")
# all: every usleep in the 3 threads (4 calls) + nothing on main
expect_eq "$out" "violations=4" "threads=all guards new threads"

cc_prog "$T/fork_threads" $P/fork_threads.c
out=$(under_shim "threads=none:verbosity=0" "$T/fork_threads")
expect_eq "$out" "fork ok" "fork from a multithreaded program"

cc_prog "$T/exec_child" $P/exec_child.c
out=$(under_shim "threads=main:verbosity=0" "$T/exec_child" | sort)
expect_eq "$out" "child violations=1
parent violations=1" "exec'd child inherits the shim"
echo "t_threads: all ok"
