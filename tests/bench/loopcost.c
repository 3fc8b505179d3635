/* loopcost.c - what loop health costs an event loop (tests/bench/rows/loops.py).
 *
 *   loopcost iter N BLOCKS   per loop iteration: a thread runs an epoll loop whose
 *                            eventfd is always ready (epoll_wait returns at once: the
 *                            cheapest possible iteration), alternating blocks of N
 *                            iterations through libc's own epoll_wait (libc_own.h: no
 *                            shim) and through whatever the program binds
 *                            to (the shim's wrapper when preloaded: loop detection and
 *                            the iteration's measurement).  Prints the fastest block of
 *                            each, in ns per iteration: "bare shim".
 *   loopcost tsc N 0         what two TSC reads cost (the floor of measuring an
 *                            iteration: one at the wait's entry, one at its return), in
 *                            ns per pair, the fastest of 21 blocks of N.
 *   loopcost cpu N WORK      the stall detector's timer: a loop thread runs N
 *                            iterations of a fixed amount of arithmetic (WORK rounds)
 *                            and prints the CPU time it used, in ms.  Run with and
 *                            without stall_ms, the difference is what the ticks cost.
 * The loop runs on its own thread, so that under threads=main it is a loop thread
 * that is not guarded: only loop health is at work.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "libc_own.h"

typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);

static uint64_t clock_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static long n_iter, blocks, work;
static const char *mode;
static double out_a, out_b;

static int ready_loop(void) {
  int ep = epoll_create1(0), ev = eventfd(1, EFD_NONBLOCK); /* readable for ever */
  struct epoll_event e = {.events = EPOLLIN, .data.fd = ev};
  epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
  return ep;
}

__attribute__((noinline)) static double block(epoll_wait_fn w, int ep, long n) {
  struct epoll_event out;
  uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  for (long i = 0; i < n; i++)
    if (w(ep, &out, 1, 0) != 1) abort();
  return (double)(clock_ns(CLOCK_MONOTONIC) - t0) / (double)n;
}

__attribute__((noinline)) static void arithmetic(long rounds) {
  volatile uint64_t x = 1;
  for (long i = 0; i < rounds; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
}

static void *loop_thread(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "loop");
  int ep = ready_loop();
  if (!strcmp(mode, "iter")) {
    epoll_wait_fn bare = (epoll_wait_fn)libc_own("epoll_wait");
    epoll_wait_fn mine = (epoll_wait_fn)dlsym(RTLD_DEFAULT, "epoll_wait");
    double best_a = 1e18, best_b = 1e18;
    block(mine, ep, n_iter); /* warm: the thread becomes a loop thread here */
    for (long b = 0; b < blocks; b++) {
      double a, c;
      if (b & 1) {
        c = block(mine, ep, n_iter);
        a = block(bare, ep, n_iter);
      } else {
        a = block(bare, ep, n_iter);
        c = block(mine, ep, n_iter);
      }
      if (a < best_a) best_a = a;
      if (c < best_b) best_b = c;
    }
    out_a = best_a, out_b = best_b;
  } else {
    struct epoll_event out;
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < n_iter; i++) {
      epoll_wait(ep, &out, 1, 0);
      arithmetic(work);
    }
    out_a = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e6;
  }
  return NULL;
}

static double tsc_pairs(long n) {
  double best = 1e18;
  for (int b = 0; b < 21; b++) {
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), x = 0;
    for (long i = 0; i < n; i++) {
#if defined(__x86_64__)
      x += __rdtsc();
      x ^= __rdtsc();
#else
      x += clock_ns(CLOCK_MONOTONIC);
      x ^= clock_ns(CLOCK_MONOTONIC);
#endif
    }
    __asm__ volatile("" : : "r"(x));
    double ns = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / (double)n;
    if (ns < best) best = ns;
  }
  return best;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "tsc")) {
    printf("%.2f\n", tsc_pairs(atol(argv[2])));
    return 0;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: loopcost iter N BLOCKS | loopcost cpu N WORK | loopcost tsc N 0\n");
    return 2;
  }
  mode = argv[1];
  n_iter = atol(argv[2]);
  blocks = work = atol(argv[3]);
  pthread_t t;
  pthread_create(&t, NULL, loop_thread, NULL);
  pthread_join(t, NULL);
  if (!strcmp(mode, "iter"))
    printf("%.2f %.2f\n", out_a, out_b);
  else
    printf("%.3f\n", out_a);
  return 0;
}
