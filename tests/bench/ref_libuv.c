/* ref_libuv.c - libuv's thread-pool round trips, the reference the offload rows are
 * compared with in the same `make bench` run (Debian libuv1-dev).
 *
 *   ref_libuv work N [IDLE_US]   uv_queue_work of a no-op, one at a time: submit, the
 *                                loop waits, the after-work callback runs on the loop
 *   ref_libuv read N [IDLE_US]   uv_fs_read of 1 byte at offset 0 of a cached file
 *                                (the thread pool's read), one at a time
 * Prints the median round trip in us over N (after 100 warm-up ones).  With IDLE_US,
 * the loop sleeps that long between round trips (a "cold" round trip: both sides
 * asleep, caches cold), as the offload rows' cold figures do.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t *loop;
static long n, done_count, idle_us;
static uint64_t *rt, t0;
static int fd, mode_read;
static char byte;
static uv_work_t work;
static uv_fs_t fsreq;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void submit(void);

static void finished(void) {
  uint64_t dt = now_ns() - t0;
  long i = done_count++ - 100;
  if (i >= 0) rt[i] = dt;
  if (done_count < n + 100) {
    if (idle_us) usleep((useconds_t)idle_us);
    submit();
  }
}

static void noop(uv_work_t *w) { (void)w; }
static void after_work(uv_work_t *w, int status) {
  (void)w, (void)status;
  finished();
}
static void after_read(uv_fs_t *r) {
  if (r->result != 1) {
    fprintf(stderr, "ref_libuv: read returned %zd\n", (ssize_t)r->result);
    exit(1);
  }
  uv_fs_req_cleanup(r);
  finished();
}

static void submit(void) {
  t0 = now_ns();
  if (mode_read) {
    uv_buf_t b = uv_buf_init(&byte, 1);
    uv_fs_read(loop, &fsreq, fd, &b, 1, 0, after_read);
  } else {
    uv_queue_work(loop, &work, noop, after_work);
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: ref_libuv work|read N [IDLE_US]\n");
    return 2;
  }
  mode_read = !strcmp(argv[1], "read");
  n = atol(argv[2]);
  idle_us = argc > 3 ? atol(argv[3]) : 0;
  rt = calloc((size_t)n, sizeof *rt);
  if (mode_read) {
    char path[] = "/tmp/bg-uvref-XXXXXX";
    fd = mkstemp(path);
    if (fd < 0 || write(fd, "x", 1) != 1) return 1;
    unlink(path);
  }
  loop = uv_default_loop();
  submit();
  uv_run(loop, UV_RUN_DEFAULT);
  qsort(rt, (size_t)n, sizeof *rt, cmp_u64);
  printf("%.2f\n", (double)rt[n / 2] / 1000.0);
  return 0;
}
