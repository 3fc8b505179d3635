/* stackuse.c - what a coroutine parked in an offloaded call costs: its stack pages.
 *
 * 200 coroutines on the smallest stack bg_sched_new accepts (16 KiB) each make an
 * offloaded blocking call at one of 8 sites (the first violation of a site is the
 * guard's deepest path: stack capture, symbolization) and park in it: half sleep,
 * half read a pipe on a worker.  Then a last coroutine looks at every parked stack
 * with mincore(): the page holding the coroutine's control block is the only one ever
 * touched, because the guard's own work runs on the scheduler thread's stack, not on
 * the coroutine's.  Prints "coroutines=N max_pages=M pages_below=K" (K: pages below
 * the top one that were touched, summed over all coroutines).
 */
#define _GNU_SOURCE
#include <blockguard.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

enum { N = 200, DEPTH = 8 };
static void *cos[N];
static int ncos, p[2];

/* Distinct call chains, so that coroutines hit distinct (new) sites. */
static __attribute__((noinline)) void call_at(int depth, int i) {
  if (depth > 0) {
    call_at(depth - 1, i);
    __asm__ volatile("" ::: "memory"); /* not a tail call: each depth is a frame */
    return;
  }
  if (i % 2) {
    usleep(50000);
  } else {
    char c;
    if (read(p[0], &c, 1) != 1) exit(3);
  }
}

static void parked(void *arg) {
  int i = (int)(intptr_t)arg;
  cos[ncos++] = bg_co_self();
  call_at(i % DEPTH, i);
}

static void inspect(void *arg) {
  (void)arg;
  long pg = sysconf(_SC_PAGESIZE);
  int maxp = 0, below = 0;
  for (int i = 0; i < ncos; i++) {
    uintptr_t top = ((uintptr_t)cos[i] & ~(uintptr_t)(pg - 1)) + (uintptr_t)pg;
    unsigned char vec[4]; /* the top page and the three below it */
    if (mincore((void *)(top - 4 * pg), 4 * pg, vec) < 0) {
      perror("mincore");
      exit(2);
    }
    int n = 0;
    for (int k = 0; k < 4; k++) n += vec[k] & 1;
    below += n - (vec[3] & 1);
    if (n > maxp) maxp = n;
  }
  printf("coroutines=%d max_pages=%d pages_below=%d\n", ncos, maxp, below);
  /* release the readers */
  static char ones[N];
  if (write(p[1], ones, N / 2) != N / 2) exit(4);
}

int main(void) {
  if (pipe(p) < 0) return 2;
  bg_sched_t *s = bg_sched_new(16 * 1024);
  if (!s) {
    perror("bg_sched_new");
    return 2;
  }
  for (int i = 0; i < N; i++) bg_co_spawn(s, parked, (void *)(intptr_t)i);
  bg_co_spawn(s, inspect, NULL);
  bg_sched_run(s);
  bg_sched_free(s);
  return 0;
}
