/* bench_offload.c - offload round trips: a coroutine hands a call to a worker (or the
 * kernel, through the scheduler's io_uring) and is resumed with the result.
 *
 *   warm    back-to-back bg_co_offload no-ops (always a worker): a worker spinning on
 *           another CPU picks each one up, or, on a shared CPU, the scheduler yields
 *           its CPU to the worker
 *   cold    20 ms apart: the worker and the scheduler are asleep, both wake-ups paid
 *   first   the first offload of the process: the pool's first thread is created
 *   file    a wrapped blocking read() of 1 byte of a cached regular file under
 *           mode=offload: verdict, site lookup, packing, then io_uring (or a worker
 *           with io_uring=0), errno: the whole path of what a program calls
 *   pipe    the same for a pipe with the byte already in it
 *   epoll   the alternative for sockets: a coroutine waits for readiness in the
 *           scheduler's epoll (bg_co_wait_fd) while another writes, then reads
 *           non-blocking; one message there and back between two coroutines
 * Medians of per-call samples.  Run under the shim with mode=offload.
 */
#include <blockguard.h>
#include <fcntl.h>
#include <string.h>
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
static double first, warm[WARM], cold[COLD], shim[WARM], ep[WARM], file[WARM];
static int p[2], sv[2], fd;

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
  for (int i = 0; i < WARM; i++) {
    if (i % 4096 == 0) lseek(fd, 0, SEEK_SET);
    t0 = now_ns();
    if (read(fd, &c, 1) != 1) exit(1);
    file[i] = now_ns() - t0;
  }
}

int main(int argc, char **argv) {
  if (pipe(p) < 0) return 2;
  /* A cached regular file: this program's own file, read once. */
  fd = open(argc > 0 ? argv[0] : "/proc/self/exe", O_RDONLY);
  if (fd < 0 || lseek(fd, 0, SEEK_END) < 4096) return 2;
  static char whole[1 << 16];
  while (read(fd, whole, sizeof whole) > 0) {
  }
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
  printf("offload: wrapped read() of a pipe, warm       %8.1f us\n", median(shim, WARM) / 1e3);
  printf("offload: wrapped read() of a cached file, warm %7.2f us\n", median(file, WARM) / 1e3);
  printf("offload: epoll wait instead (socket ping-pong) %7.1f us\n", median(ep, WARM) / 1e3);
  printf("offload: calls made through io_uring             %llu\n", (unsigned long long)st.ring_ops);
  if (st.jobs + st.ring_ops < (uint64_t)(3 * WARM + COLD)) {
    fprintf(stderr, "bench_offload: only %llu calls were offloaded: is mode=offload set?\n",
            (unsigned long long)(st.jobs + st.ring_ops));
    return 1;
  }
  return 0;
}
