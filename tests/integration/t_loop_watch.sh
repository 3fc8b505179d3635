#!/bin/sh
# t_loop_watch.sh - event-loop detection through the loop rows' inline watch path
# (preload/wrappers.c): under threads=auto an unguarded thread's timed waits reach
# bg__loop_wait, zero-timeout waits never do, and with auto off nothing is watched.
. "$BG_ROOT/tests/integration/lib.sh"

cat > "$T/loop.c" <<'C'
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int mode; /* 0: zero-timeout polls only, 1: a timed poll loop */
static void *worker(void *a) {
  (void)a;
  pthread_setname_np(pthread_self(), "looper");
  int fd = open("/dev/zero", O_RDONLY);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  char c;
  for (int i = 0; i < 100; i++) poll(&p, 1, 0);
  if (mode == 1)
    for (int i = 0; i < 5; i++) poll(&p, 1, 1000); /* same site: the loop wait */
  read(fd, &c, 1); /* blocking fd: a violation once the thread is a loop thread */
  return NULL;
}
int main(int argc, char **argv) {
  mode = atoi(argv[1]);
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  pthread_join(t, NULL);
  return 0;
}
C
cc_prog "$T/loop" "$T/loop.c"

check() { # OPTIONS MODE EXPECT_GUARDED EXPECT_READS
  rm -f "$T/r.json"
  under_shim "$1:report=$T/r.json:verbosity=0" "$T/loop" "$2"
  python3 - "$T/r.json" "$3" "$4" <<'P' || fail "options '$1' mode $2"
import json, sys
r = json.load(open(sys.argv[1]))
looper = [t for t in r["threads"] if t["name"] == "looper"]
guarded = bool(looper and looper[0]["guarded"] and looper[0]["why"] == "auto")
reads = sum(s["count"] for s in r["sites"] if s["call"] == "read")
polls = sum(s["count"] for s in r["sites"] if s["call"] == "poll")
want_g, want_r = sys.argv[2] == "1", int(sys.argv[3])
if guarded != want_g or reads != want_r or polls:
    sys.exit("looper guarded=%s (want %s), read violations=%d (want %d), poll violations=%d\n%s"
             % (guarded, want_g, reads, want_r, polls, json.dumps(r["threads"])))
P
}

check "threads=auto" 1 1 1  # timed loop from one site: guarded, the later read counts
check "threads=auto" 0 0 0  # zero-timeout polls are never loop waits
check "threads=main" 1 0 0  # auto off: the thread is never watched nor guarded
echo ok
