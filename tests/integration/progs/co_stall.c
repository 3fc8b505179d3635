/* co_stall.c - the offload runtime's own scheduler (bg_sched) and the stall detector
 * (t_loop_health.sh): `polite` runs 2 ms of CPU at a time between yields, `greedy`
 * runs 300 ms without yielding.  One stall, in greedy (through hog), and none in
 * polite however long it runs in total. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <blockguard.h>

static uint64_t cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

__attribute__((noinline)) static void hog(int ms) {
  uint64_t end = cpu_ns() + (uint64_t)ms * 1000000ull;
  volatile uint64_t x = 0;
  while (cpu_ns() < end) x++;
}

static void polite(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++) { /* 200 ms of CPU in all, never 2 ms at once */
    hog(2);
    bg_co_yield();
  }
}

static void greedy(void *arg) {
  (void)arg;
  bg_co_yield();
  hog(300);
  bg_co_yield();
}

int main(void) {
  bg_sched_t *s = bg_sched_new(0);
  if (!s) return 1;
  bg_co_spawn(s, polite, NULL);
  bg_co_spawn(s, greedy, NULL);
  bg_sched_run(s);
  bg_sched_free(s);
  printf("ok\n");
  return 0;
}
