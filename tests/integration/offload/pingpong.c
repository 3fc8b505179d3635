/* pingpong.c - offloaded calls that depend on each other must not deadlock.
 *
 * Two coroutines play ping-pong over two pipes with plain blocking read()/write().
 * Under mode=offload:workers=1 the first read occupies the only worker until the
 * other coroutine's write runs, which needs a second (overflow) worker: the pool must
 * grow past `workers` instead of waiting forever.  An alarm turns a deadlock into a
 * failure.
 */
#include <blockguard.h>
#include <stdio.h>
#include <unistd.h>

enum { ROUNDS = 50 };
static int a2b[2], b2a[2], ok;

static void ping(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    char c = 0;
    if (read(a2b[0], &c, 1) != 1 || c != 'a' + i % 26) return;
    c = (char)('A' + i % 26);
    if (write(b2a[1], &c, 1) != 1) return;
  }
  ok++;
}

static void pong(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    char c = (char)('a' + i % 26);
    if (write(a2b[1], &c, 1) != 1) return;
    if (read(b2a[0], &c, 1) != 1 || c != 'A' + i % 26) return;
  }
  ok++;
}

int main(void) {
  alarm(30);
  if (pipe(a2b) < 0 || pipe(b2a) < 0) return 2;
  bg_sched_t *s = bg_sched_new(0);
  if (!s) return 2;
  bg_co_spawn(s, ping, NULL);
  bg_co_spawn(s, pong, NULL);
  bg_sched_run(s);
  bg_sched_free(s);
  struct bg_offload_stats st;
  bg_offload_stats(&st);
  printf("rounds=%d ok=%d jobs=%llu overflow_spawned=%llu workers_peak=%u\n", ROUNDS, ok,
         (unsigned long long)st.jobs, (unsigned long long)st.overflow_spawned, st.workers_peak);
  return ok == 2 ? 0 : 1;
}
