/* percall.c - per-call cost of four wrapped calls, the loop behind rows 1 and 2 of
 * `make bench`.
 *
 *   percall ARGS CALLS ITERS BLOCKS
 *     ARGS   plain    read(/dev/zero,1), write(/dev/null,1), poll(1 fd, 0),
 *                     clock_nanosleep 0 (the calls as a program usually makes them)
 *            exempt   the same with O_NONBLOCK fds: every call is exempt by its arguments
 *            violate  blocking fds, poll with a 1 s timeout on a ready fd, an absolute
 *                     clock_nanosleep in the past: each call returns at once but is a
 *                     violation on a guarded thread
 *     CALLS  comma list of read, write, poll, sleep
 *     ITERS  calls per timed block;  BLOCKS  timed blocks per call
 *
 * The same binary runs bare and under the shim (the driver, bench.py, sets LD_PRELOAD and
 * BLOCKGUARD_OPTIONS and interleaves the two), so both sides execute identical code.
 * Each loop body makes its call from two different call sites: under threads=auto a
 * poll that repeats from one site is the thread's event-loop wait (exempt by design), so
 * alternating two sites is what makes a repeated poll a violation at a known site.
 *
 * Output, one line per call: "CALL min_ns median_ns" per call over the blocks.  The
 * minimum block is the estimate least disturbed by other processes on a shared
 * machine; the driver takes the median of it across processes.
 * Callgrind (instruction counts) runs the same binary with --toggle-collect=loop_*.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum { A_PLAIN, A_EXEMPT, A_VIOLATE };
static int args_kind;
static int rfd, wfd;
static volatile long sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO, not wrapped: the clock costs the same */
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Each loop makes 2*n calls.  noinline + distinct names so callgrind can toggle on them. */
__attribute__((noinline)) void loop_read(long n) {
  char c;
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += read(rfd, &c, 1);
    s += read(rfd, &c, 1);
  }
  sink = s;
}

__attribute__((noinline)) void loop_write(long n) {
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += write(wfd, "x", 1);
    s += write(wfd, "x", 1);
  }
  sink = s;
}

__attribute__((noinline)) void loop_poll(long n) {
  struct pollfd p = {.fd = rfd, .events = POLLIN};
  int timeout = args_kind == A_VIOLATE ? 1000 : 0; /* /dev/zero is always readable */
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += poll(&p, 1, timeout);
    s += poll(&p, 1, timeout);
  }
  sink = s;
}

__attribute__((noinline)) void loop_sleep(long n) {
  struct timespec zero = {0, 0};
  int flags = args_kind == A_VIOLATE ? TIMER_ABSTIME : 0; /* absolute 0: long past */
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += clock_nanosleep(CLOCK_MONOTONIC, flags, &zero, NULL);
    s += clock_nanosleep(CLOCK_MONOTONIC, flags, &zero, NULL);
  }
  sink = s;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int usage(void) {
  fprintf(stderr, "usage: percall plain|exempt|violate read,write,poll,sleep ITERS BLOCKS\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 5) return usage();
  if (!strcmp(argv[1], "plain"))
    args_kind = A_PLAIN;
  else if (!strcmp(argv[1], "exempt"))
    args_kind = A_EXEMPT;
  else if (!strcmp(argv[1], "violate"))
    args_kind = A_VIOLATE;
  else
    return usage();
  long iters = atol(argv[3]), blocks = atol(argv[4]);
  if (iters < 1 || blocks < 1 || blocks > 1000) return usage();
  /* A zero relative sleep would otherwise wait for the timer slack (50 us default). */
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  int nb = args_kind == A_EXEMPT ? O_NONBLOCK : 0;
  rfd = open("/dev/zero", O_RDONLY | nb);
  wfd = open("/dev/null", O_WRONLY | nb);
  if (rfd < 0 || wfd < 0) {
    perror("percall: open");
    return 1;
  }
  uint64_t *t = calloc((size_t)blocks, sizeof *t);
  char *list = strdup(argv[2]);
  for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
       name = strtok_r(NULL, ",", &save)) {
    void (*fn)(long) = !strcmp(name, "read")    ? loop_read
                       : !strcmp(name, "write") ? loop_write
                       : !strcmp(name, "poll")  ? loop_poll
                       : !strcmp(name, "sleep") ? loop_sleep
                                                : NULL;
    if (!fn) return usage();
    fn(iters / 10 + 1); /* warm up: caches, lazy binding, the site's first visit */
    for (long b = 0; b < blocks; b++) {
      uint64_t t0 = now_ns();
      fn(iters / 2);
      t[b] = now_ns() - t0;
    }
    qsort(t, (size_t)blocks, sizeof *t, cmp_u64);
    double calls = (double)(iters / 2 * 2);
    printf("%s %.2f %.2f\n", name, (double)t[0] / calls, (double)t[blocks / 2] / calls);
  }
  free(list);
  free(t);
  return 0;
}
