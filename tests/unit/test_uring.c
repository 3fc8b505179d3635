/* test_uring.c - offloaded calls through the scheduler's io_uring (guard/uring.c,
 * guard/sched.c), driven through bg__offload_call with jobs built here (no shim: the
 * job's SQE comes from a prep function of this file, as the shim's rows build theirs).
 *
 * What callers rely on: a call the kernel completes while it is submitted (a read of a
 * regular file) returns without the coroutine parking; one that must wait (a pipe read)
 * parks it and is resumed by the scheduler's loop when the data arrives, also while the
 * scheduler sleeps in epoll; ring completions never interrupt an offloaded sleep (the
 * ring never pushes "fake signals" at the thread: IORING_SETUP_DEFER_TASKRUN); a
 * completion of -EAGAIN goes to a worker, which makes the call; freeing a scheduler with
 * a call in the ring cancels it, confirmed before the coroutine's stack goes; io_uring=0
 * keeps the ring out.  Every test is skipped, saying why, where the kernel refuses io_uring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/co.h"
#include "guard/options.h"

/* A read(2) as a job: the worker thunk and the ring form. */
struct rd {
  bg__job_t job;
  ssize_t ret;
  int fd;
  char *buf;
  size_t n;
};
static void rd_thunk(bg__job_t *j) {
  struct rd *r = (struct rd *)j;
  errno = j->err;
  r->ret = read(r->fd, r->buf, r->n);
  j->err = errno;
}
static int rd_prep(bg__job_t *j, struct io_uring_sqe *sqe) {
  struct rd *r = (struct rd *)j;
  io_uring_prep_read(sqe, r->fd, r->buf, (unsigned)r->n, (__u64)-1);
  return 1;
}
static void rd_fin(bg__job_t *j, int res) { ((struct rd *)j)->ret = res < 0 ? -1 : res; }
static const bg__uring_op_t rd_op = {rd_prep, rd_fin};

static ssize_t ring_read(int fd, char *buf, size_t n, int *err) {
  struct rd r = {.job = {.run = rd_thunk, .id = -1, .uop = &rd_op}, .fd = fd, .buf = buf, .n = n};
  bg__offload_call(NULL, &r.job);
  *err = r.job.cancelled ? ECANCELED : r.job.err;
  return r.job.cancelled ? -1 : r.ret;
}

/* Whether this process may set up the ring the shim uses, asked of the kernel directly
 * (not of the code under test): where it may, the tests must not skip. */
static int ring_ok(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  long fd = syscall(__NR_io_uring_setup, 8, &p);
  if (fd < 0) return 0;
  close((int)fd);
  return 1;
}
#define NEED_RING()                                                                  \
  do {                                                                               \
    if (!ring_ok()) {                                                                \
      printf("SKIP: io_uring_setup refused here: the ring path cannot be tested\n"); \
      skip();                                                                        \
    }                                                                                \
  } while (0)

struct reader {
  int fd;
  char buf[64];
  ssize_t r;
  int err;
  int done;
};
static void reader_co(void *arg) {
  struct reader *rd = arg;
  rd->r = ring_read(rd->fd, rd->buf, sizeof rd->buf - 1, &rd->err);
  rd->done = 1;
}

static void test_cached_read_completes_at_once(void **state) {
  (void)state;
  NEED_RING();
  int fd = open("/proc/self/exe", O_RDONLY); /* a regular file, surely cached */
  assert_true(fd >= 0);
  uint64_t ops = bg__uring_ops();
  bg_sched_t *s = bg__api_sched_new(0);
  struct reader rd = {.fd = fd};
  bg__api_co_spawn(s, reader_co, &rd);
  assert_int_equal(bg__api_sched_tick(s, 0), 0); /* one tick: it ran to the end */
  assert_int_equal(rd.done, 1);
  assert_int_equal(rd.r, sizeof rd.buf - 1);
  assert_memory_equal(rd.buf, "\177ELF", 4);
  assert_true(bg__uring_ops() > ops); /* through the ring, not a worker */
  assert_string_equal(bg__uring_status(), "in use");
  bg__api_sched_free(s);
  close(fd);
}

struct later {
  int fd;
  unsigned delay_us;
};
static void *write_later(void *arg) {
  struct later *l = arg;
  usleep(l->delay_us);
  if (write(l->fd, "late", 4) != 4) abort();
  return NULL;
}

static void test_pipe_read_wakes_sleeping_scheduler(void **state) {
  (void)state;
  NEED_RING();
  int p[2];
  assert_int_equal(pipe(p), 0);
  bg_sched_t *s = bg__api_sched_new(0);
  struct reader rd = {.fd = p[0]};
  bg__api_co_spawn(s, reader_co, &rd);
  assert_int_equal(bg__api_sched_tick(s, 0), 1); /* submitted, parked */
  assert_int_equal(rd.done, 0);
  struct later l = {p[1], 50000};
  pthread_t th;
  pthread_create(&th, NULL, write_later, &l);
  alarm(10); /* a lost wake-up would hang here */
  uint64_t t0 = bg__now_ns();
  int ticks = 0;
  while (bg__api_sched_tick(s, -1) > 0) ticks++; /* sleeps in epoll until the data */
  alarm(0);
  assert_true(bg__now_ns() - t0 >= 40000000u);
  assert_true(ticks < 5); /* woken by the data, not polling */
  assert_int_equal(rd.done, 1);
  assert_int_equal(rd.r, 4);
  assert_memory_equal(rd.buf, "late", 4);
  pthread_join(th, NULL);
  bg__api_sched_free(s);
  close(p[0]), close(p[1]);
}

/* 200 pipe reads through the ring complete while another coroutine sleeps (an
 * interruptible sleep, as an offloaded usleep is): none of them may cut the sleep. */
struct feeder {
  int fd, n;
};
static void *feed(void *arg) {
  struct feeder *f = arg;
  for (int i = 0; i < f->n; i++) {
    usleep(500);
    if (write(f->fd, "x", 1) != 1) abort();
  }
  return NULL;
}
static int sleep_intr = -1;
static void sleeper_co(void *arg) {
  (void)arg;
  uint64_t left = 0;
  sleep_intr = bg__co_sleep(bg__co_current(), 200000000u, 1, &left);
}
static int nread;
static void many_reads_co(void *arg) {
  int fd = *(int *)arg;
  for (int i = 0; i < 200; i++) {
    char c;
    int err;
    if (ring_read(fd, &c, 1, &err) == 1) nread++;
  }
}

static void test_ring_never_interrupts_sleep(void **state) {
  (void)state;
  NEED_RING();
  int p[2];
  assert_int_equal(pipe(p), 0);
  bg_sched_t *s = bg__api_sched_new(0);
  bg__api_co_spawn(s, sleeper_co, NULL);
  bg__api_co_spawn(s, many_reads_co, &p[0]);
  struct feeder f = {p[1], 200};
  pthread_t th;
  pthread_create(&th, NULL, feed, &f);
  alarm(20);
  assert_int_equal(bg__api_sched_run(s), 0);
  alarm(0);
  pthread_join(th, NULL);
  assert_int_equal(nread, 200);
  assert_int_equal(sleep_intr, 0); /* slept its 200 ms: no spurious EINTR */
  bg__api_sched_free(s);
  close(p[0]), close(p[1]);
}

/* A recv(MSG_DONTWAIT) with nothing to read: the ring answers -EAGAIN, meaning the call
 * was not made; a worker makes it (and gets EAGAIN too: the direct call's result). */
struct rv {
  bg__job_t job;
  ssize_t ret;
  int fd;
  char buf[8];
};
static void rv_thunk(bg__job_t *j) {
  struct rv *r = (struct rv *)j;
  errno = j->err;
  r->ret = recv(r->fd, r->buf, sizeof r->buf, MSG_DONTWAIT);
  j->err = errno;
}
static int rv_prep(bg__job_t *j, struct io_uring_sqe *sqe) {
  struct rv *r = (struct rv *)j;
  io_uring_prep_recv(sqe, r->fd, r->buf, sizeof r->buf, MSG_DONTWAIT);
  return 1;
}
static void rv_fin(bg__job_t *j, int res) { ((struct rv *)j)->ret = res < 0 ? -1 : res; }
static const bg__uring_op_t rv_op = {rv_prep, rv_fin};
static struct rv dontwait;
static void dontwait_co(void *arg) {
  dontwait = (struct rv){.job = {.run = rv_thunk, .id = -1, .uop = &rv_op}, .fd = *(int *)arg};
  bg__offload_call(NULL, &dontwait.job);
}

static void test_eagain_goes_to_a_worker(void **state) {
  (void)state;
  NEED_RING();
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  bg_sched_t *s = bg__api_sched_new(0);
  bg__pool_stats_t before, after;
  bg__pool_stats(&before);
  uint64_t ops = bg__uring_ops();
  bg__api_co_spawn(s, dontwait_co, &sv[0]);
  alarm(10);
  bg__api_sched_run(s);
  alarm(0);
  bg__pool_stats(&after);
  assert_int_equal(dontwait.ret, -1);
  assert_int_equal(dontwait.job.err, EAGAIN);
  assert_true(bg__uring_ops() > ops);            /* tried in the ring */
  assert_int_equal(after.jobs, before.jobs + 1); /* then made by a worker */
  bg__api_sched_free(s);
  close(sv[0]), close(sv[1]);
}

/* A scheduler freed with a read in the ring: the read is cancelled and its
 * cancellation confirmed by the kernel before the coroutine's stack goes (a call the
 * kernel does not confirm within 500 ms keeps its stack mapped: sched.c pins it). */
static char *stuck_buf;
static void stuck_co(void *arg) {
  char buf[64];
  stuck_buf = buf;
  int err;
  ring_read(*(int *)arg, buf, sizeof buf, &err);
}

static void test_free_cancels_call_in_ring(void **state) {
  (void)state;
  NEED_RING();
  int p[2];
  assert_int_equal(pipe(p), 0);
  bg_sched_t *s = bg__api_sched_new(0);
  bg__api_co_spawn(s, stuck_co, &p[0]);
  assert_int_equal(bg__api_sched_tick(s, 0), 1);
  uint64_t t0 = bg__now_ns();
  bg__api_sched_free(s);
  assert_true(bg__now_ns() - t0 < 400000000u); /* cancelled, not waited out */
  unsigned char vec;
  long pg = sysconf(_SC_PAGESIZE);
  /* confirmed: the stack was unmapped (not pinned) */
  assert_int_equal(mincore((void *)((uintptr_t)stuck_buf & ~(uintptr_t)(pg - 1)), 1, &vec), -1);
  /* and the ring is gone: nothing reads the pipe any more */
  assert_int_equal(write(p[1], "z", 1), 1);
  char c;
  assert_int_equal(read(p[0], &c, 1), 1);
  close(p[0]), close(p[1]);
}

static void test_off_keeps_ring_out(void **state) {
  (void)state;
  int saved = bg__opt.io_uring;
  bg__opt.io_uring = 0;
  int fd = open("/proc/self/exe", O_RDONLY);
  uint64_t ops = bg__uring_ops();
  bg_sched_t *s = bg__api_sched_new(0);
  struct reader rd = {.fd = fd};
  bg__api_co_spawn(s, reader_co, &rd);
  bg__api_sched_run(s);
  assert_int_equal(rd.r, sizeof rd.buf - 1);
  assert_int_equal(bg__uring_ops(), ops);
  bg__api_sched_free(s);
  close(fd);
  bg__opt.io_uring = saved;
}

int main(void) {
  bg__options_defaults(&bg__opt);
  bg__co_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cached_read_completes_at_once),
      cmocka_unit_test(test_pipe_read_wakes_sleeping_scheduler),
      cmocka_unit_test(test_ring_never_interrupts_sleep),
      cmocka_unit_test(test_eagain_goes_to_a_worker),
      cmocka_unit_test(test_free_cancels_call_in_ring),
      cmocka_unit_test(test_off_keeps_ring_out),
  };
  return cmocka_run_group_tests_name("uring", tests, NULL, NULL);
}
