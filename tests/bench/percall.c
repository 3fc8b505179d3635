/* percall.c - per-call cost of four wrapped calls, the loop behind the percall and
 * tracers sections of `make bench` (rows/percall.py, rows/tracers.py).
 *
 *   percall ARGS CALLS ITERS BLOCKS [ab]
 *     ARGS   plain    read(/dev/zero,1), write(/dev/null,1), poll(1 fd, 0),
 *                     clock_nanosleep 0 (the calls as a program usually makes them)
 *            exempt   the same with O_NONBLOCK fds: every call is exempt by its arguments
 *            violate  blocking fds, poll with a 1 s timeout on a ready fd, a 1 ns
 *                     clock_nanosleep: each call returns at once (the sleep after the
 *                     timer fires, timer slack set to 1 ns) but is a violation on a
 *                     guarded thread
 *     CALLS  comma list of read, write, poll, sleep
 *     ITERS  calls per timed block;  BLOCKS  timed blocks per call
 *
 * Without `ab` the loops call libc by name, as any program does: under LD_PRELOAD that
 * is the shim's wrapper.  Callgrind (--toggle-collect=loop_*), strace and ltrace run
 * this form, bare and under the shim.  Output per call: "CALL min_ns median_ns".
 *
 * With `ab` the bare and the wrapped call are timed in the SAME process, block after
 * block, alternating which goes first: "bare" is the function in libc itself (read from
 * libc's own symbol table: dlsym on a libc handle answers with the shim's wrapper, as
 * it must for programs), "shim" is what the program's own reference binds to (dlsym
 * RTLD_DEFAULT: the wrapper when the shim is preloaded).  Both are called through a
 * pointer, so the only difference is the wrapper.  On a shared machine this is far
 * steadier than comparing two processes, and run without the shim it is an A/A test:
 * both pointers are libc's, and the ratio shows the noise floor.
 * Output per call: "CALL bare_min shim_min bare_median shim_median" (ns per call).
 *
 * Each loop body makes its call from two different call sites: under threads=auto a
 * poll that repeats from one site is the thread's event-loop wait (exempt by design), so
 * alternating two sites is what makes a repeated poll a violation at a known site.
 * The minimum block is the estimate least disturbed by other processes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "libc_own.h"

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
  /* zero: exempt; 1 ns: a real (if short) sleep, a violation.  An absolute time in the
   * past would be exempt too (the table knows it cannot block). */
  struct timespec ts = {0, args_kind == A_VIOLATE ? 1 : 0};
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    s += clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
  }
  sink = s;
}

/* The same loops through pointers, for the in-process A/B timing. */
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef int (*sleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);
static void *ptr; /* the function under test, set before each block */

__attribute__((noinline)) static void ab_read(long n) {
  read_fn f = (read_fn)ptr;
  char c;
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += f(rfd, &c, 1);
    s += f(rfd, &c, 1);
  }
  sink = s;
}

__attribute__((noinline)) static void ab_write(long n) {
  write_fn f = (write_fn)ptr;
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += f(wfd, "x", 1);
    s += f(wfd, "x", 1);
  }
  sink = s;
}

__attribute__((noinline)) static void ab_poll(long n) {
  poll_fn f = (poll_fn)ptr;
  struct pollfd p = {.fd = rfd, .events = POLLIN};
  int timeout = args_kind == A_VIOLATE ? 1000 : 0;
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += f(&p, 1, timeout);
    s += f(&p, 1, timeout);
  }
  sink = s;
}

__attribute__((noinline)) static void ab_sleep(long n) {
  sleep_fn f = (sleep_fn)ptr;
  struct timespec ts = {0, args_kind == A_VIOLATE ? 1 : 0};
  long s = 0;
  for (long i = 0; i < n; i++) {
    s += f(CLOCK_MONOTONIC, 0, &ts, NULL);
    s += f(CLOCK_MONOTONIC, 0, &ts, NULL);
  }
  sink = s;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int usage(void) {
  fprintf(stderr, "usage: percall plain|exempt|violate read,write,poll,sleep ITERS BLOCKS [ab]\n");
  return 2;
}

static const char *libc_name(const char *call) {
  return strcmp(call, "sleep") ? call : "clock_nanosleep";
}

/* Times `fn` on the bare (libc) and the bound (shim) function, alternating. */
static void run_ab(const char *name, void (*fn)(long), long iters, long blocks) {
  void *bare = libc_own(libc_name(name));
  void *bound = dlsym(RTLD_DEFAULT, libc_name(name));
  if (!bare || !bound) {
    fprintf(stderr, "percall: cannot resolve %s\n", name);
    exit(1);
  }
  uint64_t *tb = calloc((size_t)blocks, sizeof *tb), *ts = calloc((size_t)blocks, sizeof *ts);
  ptr = bare;
  fn(iters / 10 + 1);
  ptr = bound;
  fn(iters / 10 + 1);
  for (long b = 0; b < blocks; b++) {
    for (int k = 0; k < 2; k++) {
      int shim = (k + b) & 1; /* alternate which side goes first */
      ptr = shim ? bound : bare;
      uint64_t t0 = now_ns();
      fn(iters / 2);
      (shim ? ts : tb)[b] = now_ns() - t0;
    }
  }
  qsort(tb, (size_t)blocks, sizeof *tb, cmp_u64);
  qsort(ts, (size_t)blocks, sizeof *ts, cmp_u64);
  double calls = (double)(iters / 2 * 2);
  printf("%s %.2f %.2f %.2f %.2f\n", name, (double)tb[0] / calls, (double)ts[0] / calls,
         (double)tb[blocks / 2] / calls, (double)ts[blocks / 2] / calls);
  free(tb);
  free(ts);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) return usage();
  if (!strcmp(argv[1], "plain"))
    args_kind = A_PLAIN;
  else if (!strcmp(argv[1], "exempt"))
    args_kind = A_EXEMPT;
  else if (!strcmp(argv[1], "violate"))
    args_kind = A_VIOLATE;
  else
    return usage();
  long iters = atol(argv[3]), blocks = atol(argv[4]);
  int ab = argc == 6 && !strcmp(argv[5], "ab");
  if (iters < 2 || blocks < 1 || blocks > 1000 || (argc == 6 && !ab)) return usage();
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
    int i = !strcmp(name, "read") ? 0 : !strcmp(name, "write") ? 1 : !strcmp(name, "poll") ? 2
          : !strcmp(name, "sleep") ? 3 : -1;
    if (i < 0) return usage();
    static void (*const direct[4])(long) = {loop_read, loop_write, loop_poll, loop_sleep};
    static void (*const viaptr[4])(long) = {ab_read, ab_write, ab_poll, ab_sleep};
    if (ab) {
      run_ab(name, viaptr[i], iters, blocks);
      continue;
    }
    void (*fn)(long) = direct[i];
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
