/* bench_switch.c - coroutine switch cost.
 *
 *   raw switch     bg__co_switch between two contexts (the assembly in
 *                  guard/co_switch_x86_64.S, linked into this program)
 *   yield          bg_co_yield() with two coroutines on a bg_sched: coroutine →
 *                  scheduler → other coroutine (two raw switches plus run-queue work
 *                  and the per-coroutine errno/guard-state swap)
 * Needs libblockguard.so (preloaded) for the second number.
 */
#include <blockguard.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "guard/co_ctx.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

enum { N = 2000000 };
static bg__ctx_t a, b;
static void other(void *arg) {
  (void)arg;
  for (;;) bg__ctx_switch(&b, &a);
}

static long yields;
static void yielder(void *arg) {
  (void)arg;
  for (int i = 0; i < N / 2; i++) {
    bg_co_yield();
    yields++;
  }
}

int main(void) {
  size_t sz = 64 * 1024;
  void *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  bg__ctx_make(&b, stk, sz, other, NULL);
  double t0 = now_ns();
  for (int i = 0; i < N; i++) bg__ctx_switch(&a, &b);
  double raw = (now_ns() - t0) / (2.0 * N); /* each iteration: there and back */
  printf("offload: context switch (asm, one way)        %8.1f ns\n", raw);

  bg_sched_t *s = bg_sched_new(0);
  if (!s) {
    printf("offload: bg_co_yield                          (libblockguard.so not loaded)\n");
    return 0;
  }
  bg_co_spawn(s, yielder, NULL);
  bg_co_spawn(s, yielder, NULL);
  t0 = now_ns();
  bg_sched_run(s);
  double y = (now_ns() - t0) / (double)yields;
  printf("offload: bg_co_yield (coroutine to coroutine) %8.1f ns\n", y);
  bg_sched_free(s);
  return 0;
}
