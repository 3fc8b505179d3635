/* sleepers.c - N coroutines each call usleep(100000) (default 10,000).
 *
 * Under mode=offload every usleep becomes a scheduler timer: they all sleep at once and
 * the whole run takes about 100 ms, not N x 100 ms, and no worker thread is used.
 * Prints the wall time, the peak RSS and the offload counters (the benchmark reads the
 * same line).
 */
#include <blockguard.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int done;
static void sleeper(void *arg) {
  (void)arg;
  if (usleep(100000) == 0) done++;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  size_t stack = argc > 2 ? (size_t)atol(argv[2]) : 0;
  bg_sched_t *s = bg_sched_new(stack);
  if (!s) {
    perror("bg_sched_new");
    return 2;
  }
  double t0 = now_ms();
  for (int i = 0; i < n; i++)
    if (bg_co_spawn(s, sleeper, NULL) < 0) {
      perror("bg_co_spawn");
      return 2;
    }
  bg_sched_run(s);
  double wall = now_ms() - t0;
  bg_sched_free(s);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  struct bg_offload_stats st;
  bg_offload_stats(&st);
  printf("sleepers=%d done=%d wall_ms=%.1f maxrss_kb=%ld timers=%llu jobs=%llu\n", n, done, wall,
         ru.ru_maxrss, (unsigned long long)st.timers, (unsigned long long)st.jobs);
  return done == n ? 0 : 1;
}
