/* site_cost.c - what one violation costs at a known site vs at a new site.
 *
 *   site_cost [N]   prints "known_ns new_ns base_ns" per call, N known-site calls
 *
 * The call is write(2) of one byte to /dev/null: a real, always-cheap syscall that is a
 * violation on a guarded thread (a character device is neither non-blocking nor an
 * exempt stderr).  base: the same loop on an unguarded thread, i.e. the syscall plus
 * the shim's fast path.  known: one call site hit N times on the guarded main thread
 * (stack capture + hash + per-thread cache + counters).  new: 1,024 distinct call
 * sites (one call instruction each, expanded by X1024), each hit once - the cold path
 * (stack capture, dladdr per frame, stable id, allowlist decision, insert).
 * Run it under the shim with threads=main and a large enough max_sites;
 * tests/bench/site_cost.sh does that.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define X4(s) s s s s
#define X16(s) X4(X4(s))
#define X256(s) X16(X16(s))
#define X1024(s) X4(X256(s))

static int fd;
static volatile long sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static double loop_ns(long n) {
  long s = 0;
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) s += write(fd, "x", 1);
  sink = s;
  return (double)(now_ns() - t0) / (double)n;
}

__attribute__((noinline)) static double sweep_new_ns(void) {
  long s = 0;
  uint64_t t0 = now_ns();
  X1024(s += write(fd, "x", 1);)
  sink = s;
  return (double)(now_ns() - t0) / 1024.0;
}

static double base;
static long n;
static void *unguarded(void *arg) {
  (void)arg;
  loop_ns(n / 10);
  base = loop_ns(n);
  return NULL;
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 200000;
  fd = open("/dev/null", O_WRONLY);
  if (fd < 0) return 1;
  pthread_t t; /* threads=main: this thread is not guarded */
  pthread_create(&t, NULL, unguarded, NULL);
  pthread_join(t, NULL);
  loop_ns(1000); /* create the known site, warm caches */
  double known = loop_ns(n);
  double fresh = sweep_new_ns();
  printf("%.0f %.0f %.0f\n", known, fresh, base);
  return 0;
}
