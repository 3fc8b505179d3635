/* st_sleepers.c - the sleeper benchmark of the offload section written for State Threads (libst), the
 * peer blockguard's offload runtime is compared with: N coroutines each sleep 100 ms,
 * all at once, on one OS thread.
 *
 *   st_sleepers N USEC STACK_KB   prints "wall_ms peak_rss_kb"
 *
 * Wall time runs from before the first coroutine is created to after the last one is
 * joined, so it includes creating N coroutines (stack mmap) and scheduling them.  Peak
 * RSS is ru_maxrss of the whole process.
 */
#define _GNU_SOURCE
#include <st.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static st_utime_t usec;

static void *sleeper(void *arg) {
  (void)arg;
  st_usleep(usec);
  return NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: st_sleepers N USEC STACK_KB\n");
    return 2;
  }
  int n = atoi(argv[1]);
  usec = (st_utime_t)atol(argv[2]);
  int stack = atoi(argv[3]) * 1024;
  if (n < 1 || st_init() < 0) {
    perror("st_init");
    return 1;
  }
  st_thread_t *th = calloc((size_t)n, sizeof *th);
  uint64_t t0 = now_ns();
  for (int i = 0; i < n; i++) {
    th[i] = st_thread_create(sleeper, NULL, 1, stack);
    if (!th[i]) {
      perror("st_thread_create");
      return 1;
    }
  }
  for (int i = 0; i < n; i++) st_thread_join(th[i], NULL);
  uint64_t dt = now_ns() - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%.1f %ld\n", (double)dt / 1e6, ru.ru_maxrss);
  free(th);
  return 0;
}
