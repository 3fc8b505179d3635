/* test_sched.c - the coroutine scheduler, driven tick by tick (no threads involved).
 *
 * Every test steps the scheduler with bg_sched_tick(s, 0) and, where time matters, a
 * fake clock, so the interleavings asserted here are exact and the test never sleeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fenv.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/co.h"
#include "guard/timers.h"

static char logbuf[256];
static size_t loglen;
static void say(char c) {
  if (loglen < sizeof logbuf - 1) logbuf[loglen++] = c, logbuf[loglen] = 0;
}
static int reset(void **state) {
  (void)state;
  loglen = 0;
  logbuf[0] = 0;
  return 0;
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ud) {
  (void)ud;
  return fake_now;
}

static bg_sched_t *new_sched(void) {
  bg_sched_t *s = bg__api_sched_new(64 * 1024);
  assert_non_null(s);
  fake_now = 1000;
  bg__sched_set_clock(s, fake_clock, NULL);
  return s;
}

/* ---- ordering -------------------------------------------------------------------------- */
static void letter3(void *arg) {
  for (int i = 0; i < 3; i++) {
    say(*(const char *)arg);
    assert_int_equal(bg__api_co_yield(), 0);
  }
}

static void test_round_robin(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  assert_int_equal(bg__api_co_spawn(s, letter3, "A"), 0);
  assert_int_equal(bg__api_co_spawn(s, letter3, "B"), 0);
  assert_int_equal(bg__api_co_spawn(s, letter3, "C"), 0);
  assert_string_equal(logbuf, ""); /* spawn does not run anything */
  assert_int_equal(bg__api_sched_tick(s, 0), 3);
  assert_string_equal(logbuf, "ABC"); /* each ran exactly once */
  assert_int_equal(bg__api_sched_tick(s, 0), 3);
  assert_string_equal(logbuf, "ABCABC");
  assert_int_equal(bg__api_sched_tick(s, 0), 3);
  assert_int_equal(bg__api_sched_tick(s, 0), 0); /* each returns after its 3rd yield */
  assert_string_equal(logbuf, "ABCABCABC");
  assert_int_equal(bg__api_sched_tick(s, 0), 0);
  bg__api_sched_free(s);
}

static bg_sched_t *spawn_target;
static void child_co(void *arg) {
  (void)arg;
  say('c');
}
static void parent_co(void *arg) {
  (void)arg;
  say('p');
  assert_int_equal(bg__api_co_spawn(spawn_target, child_co, NULL), 0);
  say('P');
}

static void test_spawn_from_coroutine(void **state) {
  (void)state;
  bg_sched_t *s = spawn_target = new_sched();
  bg__api_co_spawn(s, parent_co, NULL);
  assert_int_equal(bg__api_sched_tick(s, 0), 1); /* parent done, child pending */
  assert_string_equal(logbuf, "pP");
  assert_int_equal(bg__api_sched_tick(s, 0), 0);
  assert_string_equal(logbuf, "pPc");
  bg__api_sched_free(s);
}

static void test_run_to_completion(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  for (int i = 0; i < 200; i++) bg__api_co_spawn(s, letter3, "x");
  assert_int_equal(bg__api_sched_run(s), 0);
  assert_int_equal((int)loglen, 255); /* log saturates at 255 of the 600 letters */
  bg__api_sched_free(s);
}

/* bg_sched_run switches from coroutine to coroutine without the scheduler in between
 * (and chains the next tick's batch when that tick would have nothing else to do): the
 * order must be exactly that of ticking by hand, timers included. */
static void yield_tick_clock(void *arg) {
  for (int i = 0; i < 6; i++) {
    say(*(const char *)arg);
    fake_now += 300;
    bg__api_co_yield();
  }
}
static struct sleeper_arg {
  char name;
  uint64_t ns;
} nap = {'s', 1000};
static void napper(void *arg) {
  struct sleeper_arg *a = arg;
  say((char)(a->name - 32));
  bg__api_co_sleep_ns(a->ns);
  say(a->name);
}
static void scenario(bg_sched_t *s) {
  bg__api_co_spawn(s, letter3, "A");
  bg__api_co_spawn(s, yield_tick_clock, "y");
  bg__api_co_spawn(s, letter3, "B");
  bg__api_co_spawn(s, napper, &nap);
}

static void test_run_same_order_as_ticks(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  scenario(s);
  while (bg__api_sched_tick(s, 0) > 0) {
  }
  char by_ticks[sizeof logbuf];
  strcpy(by_ticks, logbuf);
  bg__api_sched_free(s);
  reset(NULL);
  s = new_sched();
  scenario(s);
  assert_int_equal(bg__api_sched_run(s), 0);
  assert_string_equal(logbuf, by_ticks);
  /* A and B end in the 4th tick; the nap (armed at 1300, due 2300) ends in the 6th, after
   * y's last turn: the clock passed 2300 during the 5th. */
  assert_string_equal(logbuf, "AyBSAyBAyByyys");
  bg__api_sched_free(s);
  reset(NULL);
  s = new_sched(); /* yielders alone chain across ticks: same order still */
  bg__api_co_spawn(s, letter3, "A");
  bg__api_co_spawn(s, letter3, "B");
  assert_int_equal(bg__api_sched_run(s), 0);
  assert_string_equal(logbuf, "ABABAB");
  bg__api_sched_free(s);
}

/* Stacks come from chunks and go back to the kernel a chunk at a time when the
 * scheduler goes idle with more free stacks than it keeps. */
static void quick(void *arg) { (void)arg; }
static void test_stack_chunks(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  size_t chunks, nfree;
  for (int i = 0; i < 500; i++) assert_int_equal(bg__api_co_spawn(s, quick, NULL), 0);
  bg__sched_stack_stats(s, &chunks, &nfree);
  assert_true(chunks >= 3 && chunks <= 8); /* 500 stacks: a handful of mappings */
  struct sleeper_arg long_nap = {'z', 1000000};
  bg__api_co_spawn(s, napper, &long_nap);
  assert_int_equal(bg__api_sched_tick(s, 0), 1); /* 500 done, the napper waits */
  assert_int_equal(bg__api_sched_tick(s, 0), 1); /* idle tick: surplus returned */
  size_t after;
  bg__sched_stack_stats(s, &after, &nfree);
  assert_true(after < chunks);
  assert_true(nfree >= 64); /* a few kept for the next burst */
  for (int i = 0; i < 100; i++) assert_int_equal(bg__api_co_spawn(s, quick, NULL), 0);
  size_t again;
  bg__sched_stack_stats(s, &again, &nfree);
  assert_true(again <= after + 1); /* recycled, not mapped anew */
  fake_now += 2000000;
  bg__api_sched_run(s);
  bg__api_sched_free(s);
}

/* ---- timers ----------------------------------------------------------------------------- */
struct sleeper {
  char name;
  uint64_t ns;
};
static void sleeper_co(void *arg) {
  struct sleeper *sl = arg;
  bg__api_co_sleep_ns(sl->ns);
  say(sl->name);
}

static void test_sleep_order(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  struct sleeper a = {'a', 5000}, b = {'b', 1000}, c = {'c', 5000}, d = {'d', 0};
  bg__api_co_spawn(s, sleeper_co, &a);
  bg__api_co_spawn(s, sleeper_co, &b);
  bg__api_co_spawn(s, sleeper_co, &c);
  bg__api_co_spawn(s, sleeper_co, &d);
  assert_int_equal(bg__api_sched_tick(s, 0), 4); /* all arm their timers */
  assert_string_equal(logbuf, "");
  assert_int_equal(bg__api_sched_tick(s, 0), 3); /* d's zero sleep is due at once */
  assert_string_equal(logbuf, "d");
  fake_now += 999;
  assert_int_equal(bg__api_sched_tick(s, 0), 3);
  assert_string_equal(logbuf, "d");
  fake_now += 1;
  assert_int_equal(bg__api_sched_tick(s, 0), 2);
  assert_string_equal(logbuf, "db");
  fake_now += 4000;
  assert_int_equal(bg__api_sched_tick(s, 0), 0); /* equal deadlines: arming order */
  assert_string_equal(logbuf, "dbac");
  bg__api_sched_free(s);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_heap(void **state) {
  (void)state;
  enum { N = 2000 };
  static bg__timer_t t[N];
  static uint64_t want[N];
  bg__heap_t h;
  bg__heap_init(&h);
  srand(7);
  size_t nwant = 0;
  for (int i = 0; i < N; i++)
    assert_int_equal(bg__heap_push(&h, &t[i], (uint64_t)(rand() % 500)), 0);
  for (int i = 0; i < N; i += 3) bg__heap_remove(&h, &t[i]); /* cancel a third */
  bg__heap_remove(&h, &t[0]);                                /* twice: a no-op */
  /* ... and pop a few, cancel more in between: cuts from inside the tree */
  bg__timer_t *first = bg__heap_pop(&h);
  for (int i = 1; i < N; i += 7)
    if (i % 3 && &t[i] != first) bg__heap_remove(&h, &t[i]);
  for (int i = 0; i < N; i++)
    if (i % 3 && !(i % 7 == 1) && &t[i] != first) want[nwant++] = t[i].deadline;
  qsort(want, nwant, sizeof want[0], cmp_u64);
  assert_int_equal(h.n, nwant);
  bg__timer_t *prev = first;
  for (size_t i = 0; i < nwant; i++) {
    bg__timer_t *x = bg__heap_pop(&h);
    assert_non_null(x);
    assert_int_equal(x->deadline, want[i]);
    assert_int_equal(x->armed, 0);
    if (x->deadline == prev->deadline) assert_true(x > prev); /* ties: arming order */
    prev = x;
  }
  assert_null(bg__heap_pop(&h));
  bg__heap_fini(&h);
}

/* ---- fd waits ----------------------------------------------------------------------------- */
struct fdwait {
  int fd, events, timeout, result;
};
static void fdwait_co(void *arg) {
  struct fdwait *w = arg;
  w->result = bg__api_co_wait_fd(w->fd, w->events, w->timeout);
}

static void test_wait_fd(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  int p[2];
  assert_int_equal(pipe(p), 0);
  struct fdwait r = {p[0], POLLIN, -1, -2}, t = {p[1], POLLOUT, -1, -2};
  struct fdwait to = {0, POLLIN, 5, -2};
  int q[2];
  assert_int_equal(pipe(q), 0);
  to.fd = q[0];
  bg__api_co_spawn(s, fdwait_co, &r);
  bg__api_co_spawn(s, fdwait_co, &t);
  bg__api_co_spawn(s, fdwait_co, &to);
  assert_int_equal(bg__api_sched_tick(s, 0), 3); /* all registered */
  assert_int_equal(bg__api_sched_tick(s, 0), 2); /* the pipe's write end is ready */
  assert_int_equal(t.result, POLLOUT);
  assert_int_equal(r.result, -2);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(bg__api_sched_tick(s, 0), 1);
  assert_int_equal(r.result, POLLIN);
  fake_now += 4999999;
  assert_int_equal(bg__api_sched_tick(s, 0), 1);
  assert_int_equal(to.result, -2);
  fake_now += 1;
  assert_int_equal(bg__api_sched_tick(s, 0), 0);
  assert_int_equal(to.result, 0); /* timed out */
  /* A regular file is always ready (epoll refuses it, poll says ready). */
  FILE *f = tmpfile();
  struct fdwait reg = {fileno(f), POLLIN, -1, -2};
  bg__api_co_spawn(s, fdwait_co, &reg);
  assert_int_equal(bg__api_sched_tick(s, 0), 0);
  assert_int_equal(reg.result, POLLIN);
  fclose(f);
  close(p[0]), close(p[1]), close(q[0]), close(q[1]);
  bg__api_sched_free(s);
}

static volatile int spin_stop;
static void spinner(void *arg) {
  (void)arg;
  while (!spin_stop) bg__api_co_yield();
}

/* Coroutines that yield all the time must not keep fd readiness from being seen. */
static void test_io_not_starved_by_yielders(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  int p[2];
  assert_int_equal(pipe(p), 0);
  struct fdwait r = {p[0], POLLIN, -1, -2};
  bg__api_co_spawn(s, spinner, NULL);
  bg__api_co_spawn(s, fdwait_co, &r);
  bg__api_sched_tick(s, 0);
  assert_int_equal(write(p[1], "x", 1), 1);
  int ticks = 0;
  while (r.result == -2 && ticks < 100) bg__api_sched_tick(s, 0), ticks++;
  assert_int_equal(r.result, POLLIN);
  assert_true(ticks <= 17); /* polled at least every 16 ticks */
  spin_stop = 1;
  bg__api_sched_run(s);
  close(p[0]), close(p[1]);
  bg__api_sched_free(s);
}

/* ---- signals interrupt offloaded sleeps ------------------------------------------------ */
static int intr_result = -1;
static uint64_t intr_left;
static void intr_co(void *arg) {
  intr_result = bg__co_sleep(bg__co_current(), *(uint64_t *)arg, 1, &intr_left);
}
static int api_done;
static void api_sleep_co(void *arg) {
  (void)arg;
  bg__api_co_sleep_ns(60000000); /* the API sleep is not a call: signals do not cut it */
  api_done = 1;
}
static void on_alarm(int sig) { (void)sig; }

static void test_signal_interrupts_sleep(void **state) {
  (void)state;
  bg_sched_t *s = bg__api_sched_new(64 * 1024);   /* real clock */
  struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);
  uint64_t ns = 5000000000ull, t0 = bg__now_ns();
  bg__api_co_spawn(s, intr_co, &ns);
  bg__api_co_spawn(s, api_sleep_co, NULL);
  struct itimerval it = {{0, 20000}, {0, 20000}}; /* every 20 ms */
  setitimer(ITIMER_REAL, &it, NULL);
  while (bg__api_sched_tick(s, -1) > 0) {
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  assert_int_equal(intr_result, 1);
  assert_true(intr_left > 4000000000ull && intr_left < ns); /* cut short, time left */
  assert_int_equal(api_done, 1);
  assert_true(bg__now_ns() - t0 >= 60000000ull);
  signal(SIGALRM, SIG_DFL);
  bg__api_sched_free(s);
}

/* ---- per-coroutine thread state -------------------------------------------------------------- */
static void errno_a(void *arg) {
  (void)arg;
  errno = EILSEQ;
  bg__self.allow = 3; /* inside an allow scope across the yield */
  bg__api_co_yield();
  assert_int_equal(errno, EILSEQ);
  assert_int_equal(bg__self.allow, 3);
  bg__self.allow = 0;
  say('a');
}
static void errno_b(void *arg) {
  (void)arg;
  assert_int_equal(bg__self.allow, 0); /* a's scope does not leak to b */
  errno = ENOENT;
  bg__api_co_yield();
  assert_int_equal(errno, ENOENT);
  say('b');
}

static void test_thread_state_per_coroutine(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  bg__api_co_spawn(s, errno_a, NULL);
  bg__api_co_spawn(s, errno_b, NULL);
  errno = EAGAIN;
  while (bg__api_sched_tick(s, 0) > 0) {
  }
  assert_int_equal(errno, EAGAIN); /* the caller's errno survives ticks */
  assert_int_equal(bg__self.allow, 0);
  assert_string_equal(logbuf, "ab");
  bg__api_sched_free(s);
}

static void fp_co(void *arg) {
  (void)arg;
  fesetround(FE_DOWNWARD);
  bg__api_co_yield();
  assert_int_equal(fegetround(), FE_DOWNWARD); /* restored on resume */
  say('f');
}

static void test_fp_control_saved(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  bg__api_co_spawn(s, fp_co, NULL);
  assert_int_equal(fegetround(), FE_TONEAREST);
  bg__api_sched_tick(s, 0);
  assert_int_equal(fegetround(), FE_TONEAREST); /* the coroutine's mode did not leak */
  bg__api_sched_tick(s, 0);
  assert_string_equal(logbuf, "f");
  bg__api_sched_free(s);
}

/* ---- misuse -------------------------------------------------------------------------------- */
static bg_sched_t *misuse_s;
static void misuse_co(void *arg) {
  (void)arg;
  assert_int_equal(bg__api_sched_tick(misuse_s, 0), -1);
  assert_int_equal(errno, EDEADLK);
  say('m');
}
static void *other_thread(void *arg) {
  bg_sched_t *s = arg;
  int r1 = bg__api_sched_tick(s, 0), e1 = errno;
  int r2 = bg__api_co_spawn(s, misuse_co, NULL), e2 = errno;
  return (void *)(intptr_t)(r1 == -1 && e1 == EPERM && r2 == -1 && e2 == EPERM);
}

static void test_misuse(void **state) {
  (void)state;
  bg_sched_t *s = misuse_s = new_sched();
  assert_int_equal(bg__api_co_yield(), -1); /* not in a coroutine */
  assert_int_equal(errno, EPERM);
  assert_int_equal(bg__api_co_spawn(NULL, misuse_co, NULL), -1);
  bg__api_co_spawn(s, misuse_co, NULL);
  pthread_t th;
  void *ok;
  pthread_create(&th, NULL, other_thread, s);
  pthread_join(th, &ok);
  assert_true(ok != NULL);
  assert_int_equal(bg__api_sched_tick(s, 0), 0);
  assert_string_equal(logbuf, "m");
  bg__api_sched_free(s);
}

static void test_free_with_suspended(void **state) {
  (void)state;
  bg_sched_t *s = new_sched();
  int p[2];
  assert_int_equal(pipe(p), 0);
  struct fdwait r = {p[0], POLLIN, -1, -2};
  bg__api_co_spawn(s, fdwait_co, &r);
  bg__api_co_spawn(s, letter3, "z");
  bg__api_sched_tick(s, 0);
  bg__api_sched_free(s); /* a waiter and a runnable one are discarded */
  close(p[0]);
  close(p[1]);
}

/* ---- the guard page ---------------------------------------------------------------------- */
static int deep(int n) {
  volatile char pad[1024];
  pad[0] = (char)n;
  return n <= 0 ? pad[0] : deep(n - 1) + pad[0];
}
static void overflow_co(void *arg) { *(int *)arg = deep(1000000); }

static void test_guard_page(void **state) {
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGSEGV, SIG_DFL); /* not cmocka's handler: it would run on the bad stack */
    bg_sched_t *s = bg__api_sched_new(64 * 1024);
    int r = 0;
    bg__api_co_spawn(s, overflow_co, &r);
    bg__api_sched_run(s);
    _exit(0); /* not reached: the overflow must fault */
  }
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGSEGV);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_round_robin, reset),
      cmocka_unit_test_setup(test_spawn_from_coroutine, reset),
      cmocka_unit_test_setup(test_run_to_completion, reset),
      cmocka_unit_test_setup(test_run_same_order_as_ticks, reset),
      cmocka_unit_test_setup(test_stack_chunks, reset),
      cmocka_unit_test_setup(test_sleep_order, reset),
      cmocka_unit_test_setup(test_heap, reset),
      cmocka_unit_test_setup(test_wait_fd, reset),
      cmocka_unit_test_setup(test_io_not_starved_by_yielders, reset),
      cmocka_unit_test_setup(test_signal_interrupts_sleep, reset),
      cmocka_unit_test_setup(test_thread_state_per_coroutine, reset),
      cmocka_unit_test_setup(test_fp_control_saved, reset),
      cmocka_unit_test_setup(test_misuse, reset),
      cmocka_unit_test_setup(test_free_with_suspended, reset),
      cmocka_unit_test_setup(test_guard_page, reset),
  };
  return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
