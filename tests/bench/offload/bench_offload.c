/* bench_offload.c - offload round trip: a coroutine hands a call to a worker and is
 * resumed with the result.
 *
 *   warm    back-to-back calls: the worker spins briefly between jobs and the
 *           scheduler spins briefly for the completion, so no futex or epoll sleep
 *   cold    20 ms apart: the worker sleeps on its condition variable and the
 *           scheduler in epoll_wait, so both wake-ups are paid
 *   first   the first offload of the process: the pool's first thread is created
 *   shim    a wrapped blocking read() (1 byte already in the pipe) under
 *           mode=offload: verdict, site lookup, packing, worker, errno: the whole path
 *   epoll   the alternative for sockets: a coroutine waits for readiness in the
 *           scheduler's epoll (bg_co_wait_fd) while another writes, then reads
 *           non-blocking; one message there and back between two coroutines
 * Medians of per-call samples.  Run under the shim with mode=offload.
 */
#include <blockguard.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

static void noop(void *arg) { (void)arg; }

enum { WARM = 20000, COLD = 40 };
static double first, warm[WARM], cold[COLD], shim[WARM], ep[WARM];
static int p[2], sv[2];

/* Socketpair ping-pong through the scheduler's epoll: pinger times each round. */
static void ponger(void *arg) {
  (void)arg;
  char c;
  for (int i = 0; i < WARM; i++) {
    while (read(sv[1], &c, 1) != 1) bg_co_wait_fd(sv[1], POLLIN, -1);
    if (write(sv[1], &c, 1) != 1) exit(1);
  }
}
static void pinger(void *arg) {
  (void)arg;
  char c = 'x';
  for (int i = 0; i < WARM; i++) {
    double t0 = now_ns();
    if (write(sv[0], &c, 1) != 1) exit(1);
    while (read(sv[0], &c, 1) != 1) bg_co_wait_fd(sv[0], POLLIN, -1);
    ep[i] = now_ns() - t0;
  }
}

static void bench(void *arg) {
  (void)arg;
  double t0 = now_ns();
  bg_co_offload(noop, NULL);
  first = now_ns() - t0;
  for (int i = 0; i < WARM; i++) {
    t0 = now_ns();
    bg_co_offload(noop, NULL);
    warm[i] = now_ns() - t0;
  }
  for (int i = 0; i < COLD; i++) {
    bg_co_sleep_ns(20000000);
    t0 = now_ns();
    bg_co_offload(noop, NULL);
    cold[i] = now_ns() - t0;
  }
  static char fill[WARM];
  bg_allow_begin(); /* the pipe holds them all (64 KiB): reads back to back */
  if (write(p[1], fill, sizeof fill) != (ssize_t)sizeof fill) exit(1);
  bg_allow_end();
  char c;
  for (int i = 0; i < WARM; i++) {
    t0 = now_ns();
    if (read(p[0], &c, 1) != 1) exit(1);
    shim[i] = now_ns() - t0;
  }
}

int main(void) {
  if (pipe(p) < 0) return 2;
  bg_sched_t *s = bg_sched_new(0);
  if (!s) {
    fprintf(stderr, "bench_offload: run it under libblockguard.so (mode=offload)\n");
    return 2;
  }
  bg_co_spawn(s, bench, NULL);
  bg_sched_run(s);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0) return 2;
  bg_co_spawn(s, ponger, NULL);
  bg_co_spawn(s, pinger, NULL);
  bg_sched_run(s);
  bg_sched_free(s);
  struct bg_offload_stats st;
  bg_offload_stats(&st);
  printf("offload: round trip, first call (pool start)  %8.1f us\n", first / 1e3);
  printf("offload: round trip, cold (both sides asleep) %8.1f us\n", median(cold, COLD) / 1e3);
  printf("offload: round trip, warm (back to back)      %8.1f us\n", median(warm, WARM) / 1e3);
  printf("offload: wrapped read() offloaded, warm       %8.1f us\n", median(shim, WARM) / 1e3);
  printf("offload: epoll wait instead (socket ping-pong) %7.1f us\n", median(ep, WARM) / 1e3);
  if (st.jobs < (uint64_t)(2 * WARM + COLD)) {
    fprintf(stderr, "bench_offload: only %llu calls were offloaded: is mode=offload set?\n",
            (unsigned long long)st.jobs);
    return 1;
  }
  return 0;
}
