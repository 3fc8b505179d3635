/* coroutines.c - the offload section of `make bench`, next to the offload group's own programs
 * (tests/bench/offload/): what those do not measure.
 *
 *   coroutines switch N           two coroutines yield to each other N times each;
 *                                 prints "ns_per_yield ns_per_switch"
 *   coroutines warm N             one coroutine offloads a no-op N times back to back;
 *                                 prints "min_ns median_ns" per round trip
 *   coroutines cold N GAP_US      the same, each round trip after GAP_US of idle (the
 *                                 coroutine sleeps), so the worker has gone to sleep
 *   coroutines rate COROS MS      COROS coroutines offload no-ops for MS milliseconds;
 *                                 prints "calls_per_second"
 *   coroutines sleepers N USEC KB N coroutines call usleep(USEC) (the libc call: under
 *                                 mode=offload it becomes a coroutine sleep), stacks of
 *                                 KB KiB (0: default); prints "wall_ms peak_rss_kb"
 *   Environment: BENCH_CPUS=1 pins the process (and the workers it creates) to CPU 0:
 *   the round-trip targets are stated for one CPU.
 *
 * Runs under the shim (the runtime lives in libblockguard.so); the driver sets
 * LD_PRELOAD and BLOCKGUARD_OPTIONS (mode=offload, threads=main for the sleepers).
 * Functions are called through the public header, resolved once; the per-yield figure
 * therefore includes one indirect call, as a program using the header pays it.
 */
#define _GNU_SOURCE
#include <blockguard.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static long n_iter;
static uint64_t *samples;
static uint64_t gap_ns;
static volatile long sink;
static void noop(void *arg) { sink += (long)(uintptr_t)arg; }

/* ---- switch ------------------------------------------------------------------------ */
static void yielder(void *arg) {
  (void)arg;
  for (long i = 0; i < n_iter; i++) bg_co_yield();
}

/* ---- warm / cold round trips ------------------------------------------------------- */
static void tripper(void *arg) {
  (void)arg;
  bg_co_offload(noop, NULL); /* the first one starts a worker: not counted */
  for (long i = 0; i < n_iter; i++) {
    if (gap_ns) bg_co_sleep_ns(gap_ns);
    uint64_t t0 = now_ns();
    bg_co_offload(noop, NULL);
    samples[i] = now_ns() - t0;
  }
}

/* ---- rate -------------------------------------------------------------------------- */
static uint64_t rate_end;
static long rate_calls;
static void rater(void *arg) {
  (void)arg;
  while (now_ns() < rate_end) {
    for (int k = 0; k < 16; k++) bg_co_offload(noop, NULL);
    rate_calls += 16;
  }
}

/* ---- sleepers ---------------------------------------------------------------------- */
static useconds_t sleep_us;
static void sleeper(void *arg) {
  (void)arg;
  usleep(sleep_us);
}

static bg_sched_t *sched(size_t stack) {
  bg_sched_t *s = bg_sched_new(stack);
  if (!s) {
    perror("coroutines: bg_sched_new (is libblockguard.so preloaded?)");
    exit(1);
  }
  return s;
}

static int usage(void) {
  fprintf(stderr, "usage: coroutines switch N | warm N | cold N GAP_US | rate COROS MS | "
                  "sleepers N USEC STACK_KB\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  const char *cpus = getenv("BENCH_CPUS");
  if (cpus && atoi(cpus) == 1) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  const char *what = argv[1];
  if (!strcmp(what, "switch")) {
    n_iter = atol(argv[2]);
    bg_sched_t *s = sched(0);
    bg_co_spawn(s, yielder, NULL);
    bg_co_spawn(s, yielder, NULL);
    uint64_t t0 = now_ns();
    bg_sched_run(s);
    uint64_t dt = now_ns() - t0;
    bg_sched_free(s);
    /* 2 coroutines x N yields; a yield is one switch out and one switch in */
    double per_yield = (double)dt / (2.0 * (double)n_iter);
    printf("%.2f %.2f\n", per_yield, per_yield / 2);
    return 0;
  }
  if (!strcmp(what, "warm") || !strcmp(what, "cold")) {
    n_iter = atol(argv[2]);
    gap_ns = !strcmp(what, "cold") && argc > 3 ? (uint64_t)atol(argv[3]) * 1000u : 0;
    if (n_iter < 1) return usage();
    samples = calloc((size_t)n_iter, sizeof *samples);
    bg_sched_t *s = sched(0);
    bg_co_spawn(s, tripper, NULL);
    bg_sched_run(s);
    bg_sched_free(s);
    qsort(samples, (size_t)n_iter, sizeof *samples, cmp_u64);
    printf("%llu %llu\n", (unsigned long long)samples[0],
           (unsigned long long)samples[n_iter / 2]);
    return 0;
  }
  if (!strcmp(what, "rate") && argc == 4) {
    int coros = atoi(argv[2]);
    bg_sched_t *s = sched(0);
    for (int i = 0; i < coros; i++) bg_co_spawn(s, rater, NULL);
    uint64_t t0 = now_ns();
    rate_end = t0 + (uint64_t)atol(argv[3]) * 1000000u;
    bg_sched_run(s);
    uint64_t dt = now_ns() - t0;
    bg_sched_free(s);
    printf("%.0f\n", (double)rate_calls * 1e9 / (double)dt);
    return 0;
  }
  if (!strcmp(what, "sleepers") && argc == 5) {
    int n = atoi(argv[2]);
    sleep_us = (useconds_t)atol(argv[3]);
    bg_sched_t *s = sched((size_t)atol(argv[4]) * 1024u);
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++)
      if (bg_co_spawn(s, sleeper, NULL) < 0) {
        perror("coroutines: bg_co_spawn");
        return 1;
      }
    bg_sched_run(s);
    uint64_t dt = now_ns() - t0;
    bg_sched_free(s);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.1f %ld\n", (double)dt / 1e6, ru.ru_maxrss);
    return 0;
  }
  return usage();
}
