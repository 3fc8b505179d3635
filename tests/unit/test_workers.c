/* test_workers.c - the offload worker pool, through bg_co_offload (no shim needed:
 * the jobs are plain functions making real blocking calls).
 *
 * Covers what callers rely on: calls run on another thread while the coroutine
 * waits, errno comes back, dependent calls never deadlock with workers=1, a freed
 * scheduler's in-flight call is discarded safely, a cold call runs on the caller's
 * CPU and leaves no worker pinned, a completion wakes a sleeping scheduler, exit cancels queued
 * calls and abandons a stuck worker within the bound, and a fork child with live workers in the
 * parent gets a working pool of its own.  Order matters for the first test: it needs a
 * pool that has never started, so it runs first.  Tests that end the pool (shutdown)
 * run in a fork child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/co.h"

#if defined(__SANITIZE_THREAD__)
/* The fork tests start threads in a child of a threaded parent, which the pool is
 * designed to handle (it re-creates everything there); TSan must not refuse it. */
const char *__tsan_default_options(void) { return "die_after_fork=0"; }
#endif

static pthread_t main_thread;

struct io {
  int fd;
  char *buf;
  size_t n;
  ssize_t r;
  int err;
  volatile int started;
  pthread_t th;
};
static void do_read(void *arg) {
  struct io *io = arg;
  io->th = pthread_self();
  __atomic_store_n(&io->started, 1, __ATOMIC_RELEASE);
  io->r = read(io->fd, io->buf, io->n);
  io->err = errno;
}
static void do_write(void *arg) {
  struct io *io = arg;
  io->th = pthread_self();
  io->r = write(io->fd, io->buf, io->n);
  io->err = errno;
}

static bg_sched_t *sched(void) {
  bg_sched_t *s = bg__api_sched_new(64 * 1024);
  assert_non_null(s);
  return s;
}

static void run_all(bg_sched_t *s) { assert_int_equal(bg__api_sched_run(s), 0); }

/* ---- dependent calls with one worker ------------------------------------------------------ */
/* 2000 rounds (~0.5 s): enough hand-offs that a lost wake-up between a spinning and a
 * sleeping worker shows up (it hung 1 run in 6 at 2000 rounds before workers.c woke a
 * sleeper for every job beyond the spinners; 1 in ~50 at 20). */
enum { ROUNDS = 2000 };
static int a2b[2], b2a[2];
static int pp_ok;

static void ping(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    char c = 0;
    struct io rd = {.fd = a2b[0], .buf = &c, .n = 1};
    assert_int_equal(bg__api_co_offload(do_read, &rd), 0); /* blocks a worker until pong writes */
    assert_int_equal(rd.r, 1);
    assert_int_equal(c, 'a' + i % 26);
    c = (char)('A' + i % 26);
    struct io wr = {.fd = b2a[1], .buf = &c, .n = 1};
    assert_int_equal(bg__api_co_offload(do_write, &wr), 0);
    assert_int_equal(wr.r, 1);
  }
  pp_ok++;
}
static void pong(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    char c = (char)('a' + i % 26);
    struct io wr = {.fd = a2b[1], .buf = &c, .n = 1};
    assert_int_equal(bg__api_co_offload(do_write, &wr), 0);
    struct io rd = {.fd = b2a[0], .buf = &c, .n = 1};
    assert_int_equal(bg__api_co_offload(do_read, &rd), 0);
    assert_int_equal(rd.r, 1);
    assert_int_equal(c, 'A' + i % 26);
  }
  pp_ok++;
}

static void test_pingpong_one_worker(void **state) {
  (void)state;
  bg__workers_set_max(1);
  assert_int_equal(pipe(a2b), 0);
  assert_int_equal(pipe(b2a), 0);
  bg_sched_t *s = sched();
  bg__api_co_spawn(s, ping, NULL);
  bg__api_co_spawn(s, pong, NULL);
  run_all(s);
  assert_int_equal(pp_ok, 2);
  bg__pool_stats_t st;
  bg__pool_stats(&st);
  /* ping's read holds the only worker: pong's write needed an overflow worker. */
  assert_true(st.overflow_spawned >= 1);
  assert_int_equal(st.jobs, 4 * ROUNDS);
  bg__api_sched_free(s);
  close(a2b[0]), close(a2b[1]), close(b2a[0]), close(b2a[1]);
  bg__workers_set_max(4);
}

/* ---- where calls run, errno --------------------------------------------------------------- */
struct where {
  pthread_t th;
  int set_errno;
};
static void where_fn(void *arg) {
  struct where *w = arg;
  w->th = pthread_self();
  errno = w->set_errno;
}
static locale_t seen_locale;
static void locale_fn(void *arg) {
  (void)arg;
  seen_locale = uselocale((locale_t)0);
}
static int where_ok;
static void where_co(void *arg) {
  (void)arg;
  /* The call runs in the caller's uselocale() locale (printf, strtod...). */
  locale_t mine = newlocale(LC_ALL_MASK, "C", (locale_t)0);
  locale_t before = uselocale(mine);
  assert_int_equal(bg__api_co_offload(locale_fn, NULL), 0);
  assert_ptr_equal(seen_locale, mine);
  uselocale(before);
  freelocale(mine);
  struct where w = {.set_errno = EIO};
  errno = 0;
  assert_int_equal(bg__api_co_offload(where_fn, &w), 0);
  assert_int_equal(errno, EIO); /* what the function left */
  assert_false(pthread_equal(w.th, main_thread));
  struct io bad = {.fd = -1, .buf = (char[4]){0}, .n = 4};
  assert_int_equal(bg__api_co_offload(do_read, &bad), 0);
  assert_int_equal(bad.r, -1);
  assert_int_equal(bad.err, EBADF);
  assert_int_equal(errno, EBADF);
  where_ok = 1;
}

static void test_runs_on_worker_errno_back(void **state) {
  (void)state;
  bg_sched_t *s = sched();
  bg__api_co_spawn(s, where_co, NULL);
  run_all(s);
  assert_int_equal(where_ok, 1);
  /* Outside a coroutine the function runs right here. */
  struct where w = {.set_errno = ENOENT};
  assert_int_equal(bg__api_co_offload(where_fn, &w), 0);
  assert_true(pthread_equal(w.th, main_thread));
  assert_int_equal(errno, ENOENT);
  bg__api_sched_free(s);
}

/* ---- many at once ---------------------------------------------------------------------------- */
static void nap_fn(void *arg) {
  usleep(10000);
  (*(int *)arg)++;
}
static void nap_co(void *arg) { assert_int_equal(bg__api_co_offload(nap_fn, arg), 0); }

static void test_many_concurrent(void **state) {
  (void)state;
  enum { N = 16 };
  int done[N] = {0};
  bg_sched_t *s = sched();
  for (int i = 0; i < N; i++) bg__api_co_spawn(s, nap_co, &done[i]);
  run_all(s);
  for (int i = 0; i < N; i++) assert_int_equal(done[i], 1);
  bg__api_sched_free(s);
}

/* ---- a scheduler freed while its call runs --------------------------------------------------- */
static void orphan_co(void *arg) {
  bg__api_co_offload(do_read, arg);
  fail_msg("an orphaned coroutine must never resume");
}

static void test_free_while_running(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  char buf[8];
  struct io *rd = calloc(1, sizeof *rd);
  *rd = (struct io){.fd = p[0], .buf = buf, .n = sizeof buf};
  bg_sched_t *s = sched();
  bg__api_co_spawn(s, orphan_co, rd);
  while (!__atomic_load_n(&rd->started, __ATOMIC_ACQUIRE)) bg__api_sched_tick(s, 1);
  bg__pool_stats_t before, after;
  bg__pool_stats(&before);
  bg__api_sched_free(s); /* returns at once; the worker is still in read() */
  assert_int_equal(write(p[1], "x", 1), 1);
  for (int i = 0; i < 2000; i++) {
    bg__pool_stats(&after);
    if (after.jobs > before.jobs) break;
    usleep(1000);
  }
  assert_int_equal(after.jobs, before.jobs + 1); /* finished, result discarded */
  assert_int_equal(rd->r, 1);
  close(p[0]), close(p[1]);
  free(rd);
}

/* ---- shutdown -------------------------------------------------------------------------------- */
static int stuck_pipe[2];
static struct io stuck_io, queued_io;
static int queued_rc = -2, queued_errno;
static char sbuf[4], qbuf[4];
static void stuck_co(void *arg) {
  (void)arg;
  bg__api_co_offload(do_read, &stuck_io);
}
static void queued_co(void *arg) {
  (void)arg;
  queued_rc = bg__api_co_offload(do_read, &queued_io);
  queued_errno = errno;
}

/* Exit codes of the child say which check failed. */
static int shutdown_child(void) {
  bg__workers_set_max(1);
  bg__workers_set_stall_ns(10ull * 1000000000ull); /* no overflow worker in this test */
  if (pipe(stuck_pipe) < 0) return 10;
  stuck_io = (struct io){.fd = stuck_pipe[0], .buf = sbuf, .n = sizeof sbuf};
  queued_io = (struct io){.fd = stuck_pipe[0], .buf = qbuf, .n = sizeof qbuf};
  bg_sched_t *s = bg__api_sched_new(0);
  bg__api_co_spawn(s, stuck_co, NULL);
  bg__api_co_spawn(s, queued_co, NULL);
  for (int i = 0; i < 1000 && !__atomic_load_n(&stuck_io.started, __ATOMIC_ACQUIRE); i++)
    bg__api_sched_tick(s, 1);
  bg__pool_stats_t st;
  bg__pool_stats(&st);
  if (st.workers != 1 || st.busy != 1) return 11; /* one worker, stuck; one job queued */
  uint64_t t0 = bg__now_ns();
  int abandoned = bg__workers_shutdown(300000000u);
  uint64_t dt = bg__now_ns() - t0;
  if (abandoned != 1) return 12;
  /* waited the bound, not forever (the upper limit is loose: a loaded machine may not
   * run this thread for a while; "forever" is the 60 s alarm) */
  if (dt < 250000000u || dt > 20000000000u) return 13;
  bg__api_sched_tick(s, 100);
  if (queued_rc != -1 || queued_errno != ECANCELED) return 14;
  bg__pool_stats(&st);
  if (st.cancelled != 1 || st.abandoned != 1) return 15;
  /* Closed pool: offloading now runs the call in place. */
  struct where w = {.set_errno = 0};
  if (bg__api_co_offload(where_fn, &w) != 0 || !pthread_equal(w.th, pthread_self())) return 16;
  _exit(0); /* the stuck worker is still in read(): no destructors, no leak report */
}

/* ---- the hand-off ---------------------------------------------------------------------- */
/* A worker woken from its sleep for a caller with nothing else to run starts on the
 * caller's CPU (no halted CPU is woken for it), and runs with the process's full
 * affinity again: nothing is left pinned.  The scheduler thread stays on one CPU and,
 * before each cold call, a call moves the worker to another CPU, where the kernel
 * would wake it again (its previous CPU, idle). */
struct ran_on {
  int cpu;
  pid_t tid;
};
static int cpu_a, cpu_b; /* the caller's CPU, the worker's other one */
static cpu_set_t all_cpus;
static void note_cpu(void *arg) {
  struct ran_on *w = arg;
  w->cpu = sched_getcpu();
  w->tid = (pid_t)syscall(SYS_gettid);
}
static void move_to_b(void *arg) {
  (void)arg;
  cpu_set_t b;
  CPU_ZERO(&b);
  CPU_SET(cpu_b, &b);
  sched_setaffinity(0, sizeof b, &b);               /* runs on cpu_b from here */
  sched_setaffinity(0, sizeof all_cpus, &all_cpus); /* and may stay there */
}
static int same_cpu, calls_made;
static pid_t worker_tid;
static void cold_caller(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++) {
    assert_int_equal(bg__api_co_offload(move_to_b, NULL), 0);
    bg__api_co_sleep_ns(2000000); /* the worker has stopped spinning and sleeps */
    struct ran_on w = {-1, 0};
    assert_int_equal(bg__api_co_offload(note_cpu, &w), 0);
    same_cpu += w.cpu == cpu_a;
    worker_tid = w.tid;
    calls_made++;
  }
}

static void test_cold_call_on_callers_cpu(void **state) {
  (void)state;
  assert_int_equal(sched_getaffinity(0, sizeof all_cpus, &all_cpus), 0);
  if (CPU_COUNT(&all_cpus) < 2) {
    printf("SKIP: one CPU: nothing to choose\n");
    skip();
  }
  cpu_a = -1;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &all_cpus)) {
      if (cpu_a < 0)
        cpu_a = c;
      else if (c != cpu_a) {
        cpu_b = c;
        break;
      }
    }
  cpu_set_t a;
  CPU_ZERO(&a);
  CPU_SET(cpu_a, &a);
  assert_int_equal(sched_setaffinity(0, sizeof a, &a), 0); /* the caller stays on cpu_a */
  bg_sched_t *s = sched();
  bg__api_co_spawn(s, cold_caller, NULL);
  run_all(s);
  bg__api_sched_free(s);
  sched_setaffinity(0, sizeof all_cpus, &all_cpus);
  assert_int_equal(calls_made, 20);
  assert_true(same_cpu >= 18);
  cpu_set_t after;
  assert_int_equal(sched_getaffinity(worker_tid, sizeof after, &after), 0);
  assert_true(CPU_EQUAL(&after, &all_cpus)); /* widened again */
}

/* A call that takes a while: the scheduler stops waiting actively and sleeps; the
 * completion must wake it (the eventfd is written only for a sleeping owner). */
static void slow_fn(void *arg) {
  (void)arg;
  usleep(50000);
}
static int slow_done;
static void slow_caller(void *arg) {
  (void)arg;
  for (int i = 0; i < 3; i++) assert_int_equal(bg__api_co_offload(slow_fn, NULL), 0);
  slow_done = 1;
}

static void test_completion_wakes_sleeping_scheduler(void **state) {
  (void)state;
  bg_sched_t *s = sched();
  bg__api_co_spawn(s, slow_caller, NULL);
  alarm(10); /* a lost wake-up hangs here */
  uint64_t t0 = bg__now_ns();
  int ticks = 0;
  while (bg__api_sched_tick(s, -1) > 0) ticks++;
  alarm(0);
  assert_int_equal(slow_done, 1);
  assert_true(bg__now_ns() - t0 >= 150000000u);
  assert_true(ticks < 20); /* slept in between, woken by each completion */
  bg__api_sched_free(s);
}

static void test_shutdown_stuck_worker(void **state) {
  (void)state;
  /* A fresh process (exec), so the pool starts from nothing: one worker, one queue. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl("/proc/self/exe", "test_workers", "--shutdown-child", (char *)NULL);
    _exit(127);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- fork with live workers ------------------------------------------------------------------ */
static struct io fork_rd;
static char fork_buf[8];
static int fork_rc = -2, fork_errno;
static void fork_reader(void *arg) {
  (void)arg;
  fork_rc = bg__api_co_offload(do_read, &fork_rd);
  fork_errno = errno;
}
static struct where child_where;
static int child_rc = -2;
static void child_co(void *arg) {
  (void)arg;
  child_rc = bg__api_co_offload(where_fn, &child_where);
}

static void test_fork_with_live_workers(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  /* TSan does not carry fiber (coroutine) state into a fork child: it reports races
   * between a coroutine and its own thread there.  Covered by the normal build. */
  skip();
#endif
#if defined(__SANITIZE_ADDRESS__)
  /* Threads started in the child of a threaded parent reuse the dead threads' cached
   * stacks with stale shadow: false stack-buffer-overflows (google/sanitizers#255). */
  skip();
#endif
  int p[2];
  assert_int_equal(pipe(p), 0);
  fork_rd = (struct io){.fd = p[0], .buf = fork_buf, .n = sizeof fork_buf};
  bg_sched_t *s = sched();
  bg__api_co_spawn(s, fork_reader, NULL);
  while (!__atomic_load_n(&fork_rd.started, __ATOMIC_ACQUIRE)) bg__api_sched_tick(s, 1);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* The parent's worker does not exist here: the waiting call is cancelled... */
    for (int i = 0; i < 100 && fork_rc == -2; i++) bg__api_sched_tick(s, 10);
    if (fork_rc != -1 || fork_errno != ECANCELED) _exit(20);
    /* ...and the pool comes back on the next call. */
    bg__api_co_spawn(s, child_co, NULL);
    if (bg__api_sched_run(s) != 0) _exit(21);
    if (child_rc != 0 || pthread_equal(child_where.th, pthread_self())) _exit(22);
    bg__api_sched_free(s);
    _exit(0);
  }
  /* In the parent the call goes on and completes normally. */
  assert_int_equal(write(p[1], "parent", 6), 6);
  run_all(s);
  assert_int_equal(fork_rc, 0);
  assert_int_equal(fork_rd.r, 6);
  assert_memory_equal(fork_buf, "parent", 6);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  bg__api_sched_free(s);
  close(p[0]), close(p[1]);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--shutdown-child")) return shutdown_child();
  main_thread = pthread_self();
  alarm(60); /* a deadlock fails the test instead of hanging it */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pingpong_one_worker), /* first: needs a pool never started */
      cmocka_unit_test(test_runs_on_worker_errno_back),
      cmocka_unit_test(test_many_concurrent),
      cmocka_unit_test(test_free_while_running),
      cmocka_unit_test(test_cold_call_on_callers_cpu),
      cmocka_unit_test(test_completion_wakes_sleeping_scheduler),
      cmocka_unit_test(test_fork_with_live_workers),
      cmocka_unit_test(test_shutdown_stuck_worker),
  };
  int r = cmocka_run_group_tests_name("workers", tests, NULL, NULL);
  bg__workers_shutdown(2000000000u); /* joins every worker (nothing is stuck here) */
  return r;
}
