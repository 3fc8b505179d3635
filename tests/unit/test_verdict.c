/* test_verdict.c - thread selection and the verdict core, without the shim.
 *
 * The core is linked straight into this test; each case re-initialises it with the
 * options under test and calls bg__enter/bg__leave the way a wrapper would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/sites.h"

static const bg__callinfo_t rows[] = {{"read", BG_CAT_io, BG_F_FD, BG_OFF_NEVER},
                                      {"usleep", BG_CAT_sleep, 0, BG_OFF_NEVER},
                                      {"pthread_join", BG_CAT_sync, 0, BG_OFF_NEVER},
                                      {"poll", BG_CAT_wait, BG_F_LOOP, BG_OFF_NEVER},
                                      /* one per case of min_us_counter_and_report_agree:
                                         a site keeps the action it was made with */
                                      {"sleep_a", BG_CAT_sleep, 0, BG_OFF_THREAD},
                                      {"sleep_b", BG_CAT_sleep, 0, BG_OFF_THREAD},
                                      {"sleep_c", BG_CAT_sleep, 0, BG_OFF_THREAD},
                                      {"sleep_d", BG_CAT_sleep, 0, BG_OFF_THREAD},
                                      {"sleep_e", BG_CAT_sleep, 0, BG_OFF_THREAD}};
enum { READ, USLEEP, JOIN, POLL, SLEEP_A, NROWS = SLEEP_A + 5 };

static void init(const char *opts) {
  bg__set_calltable(rows, NROWS);
  memset(&bg__self, 0, sizeof bg__self);
  bg__self.slot = -1;
  bg__self.loop_fd = -1;
  assert_int_equal(bg__core_init(opts, "test"), 0);
}

/* What a wrapper does; returns the verdict. */
static int call(int id, int cat, int exempt) {
  bg__call_t c;
  int v = bg__enter(&c, id, cat, exempt, (uintptr_t)__builtin_return_address(0));
  if (v == BG_GO) bg__leave(&c);
  return v;
}

static void main_thread_guarded_with_threads_main(void **s) {
  (void)s;
  init("threads=main:verbosity=0");
  assert_true(bg__self.guarded);
  assert_int_equal(bg__self.why, BG_WHY_MAIN);
  uint64_t before = bg__violations_total();
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_GO);
  assert_int_equal(bg__violations_total(), before + 1);
}

static void auto_does_not_guard_main_without_a_loop(void **s) {
  (void)s;
  init("threads=auto:verbosity=0");
  assert_false(bg__self.guarded);
}

static void exempt_and_unselected_categories_pass(void **s) {
  (void)s;
  init("threads=main:verbosity=0");
  uint64_t before = bg__violations_total();
  assert_int_equal(call(READ, BG_CAT_io, 1), BG_PASS);       /* O_NONBLOCK fd, zero timeout */
  assert_int_equal(call(JOIN, BG_CAT_sync, 0), BG_PASS);     /* sync is off by default */
  assert_int_equal(bg__violations_total(), before);
  init("threads=main:verbosity=0:categories=sync");
  assert_int_equal(call(JOIN, BG_CAT_sync, 0), BG_GO);
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_PASS);
}

static void raise_fails_without_calling_and_keeps_errno(void **s) {
  (void)s;
  init("threads=main:mode=raise:verbosity=0");
  errno = 1234;
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_RAISE);
  assert_int_equal(errno, 1234); /* the wrapper, not the core, sets EDEADLK */
}

static void off_mode_guards_nothing(void **s) {
  (void)s;
  init("threads=main:mode=off:verbosity=0");
  assert_false(bg__self.guarded);
}

static void allow_scope_records_but_never_acts(void **s) {
  (void)s;
  init("threads=main:mode=raise:verbosity=0");
  uint64_t before = bg__violations_total();
  bg__api_allow_begin();
  bg__api_allow_begin();
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_GO); /* not raised */
  bg__api_allow_end();
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_GO);
  bg__api_allow_end();
  assert_int_equal(bg__violations_total(), before);
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_RAISE);
  bg__api_allow_end(); /* unbalanced end is harmless */
  assert_int_equal(bg__self.allow, 0);
}

static void core_reentry_passes(void **s) {
  (void)s;
  init("threads=main:verbosity=0");
  bg__self.depth = 1;
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_PASS);
  bg__self.depth = 0;
}

static void api_overrides_roles(void **s) {
  (void)s;
  init("threads=main:verbosity=0");
  assert_int_equal(bg__api_thread_guard(0), 1);
  assert_false(bg__self.guarded);
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_GO); /* the wrapper would not ask */
  assert_int_equal(bg__api_thread_guard(1), 0);
  assert_true(bg__self.guarded);
  assert_int_equal(bg__self.why, BG_WHY_API);
}

static void name_globs_follow_renames(void **s) {
  (void)s;
  init("threads=name:io-*:verbosity=0");
  bg__thread_name_changed("io-7");
  assert_true(bg__self.guarded);
  assert_int_equal(bg__self.why, BG_WHY_NAME);
  bg__thread_name_changed("worker");
  assert_false(bg__self.guarded);
}

/* A readiness wait as a wrapper shows it to loop detection (guard/loop.c). */
static int wait_poll(struct pollfd *fds, int n) {
  return bg__loop_wait_seen(BG_WS_poll, (uintptr_t)fds, (uintptr_t)n, 0x1000);
}
static int wait_select(fd_set *r, int nfds) {
  return bg__loop_wait_seen(BG_WS_select, (uintptr_t)r, (uintptr_t)nfds, 0x1000);
}
static int wait_epoll(int epfd) {
  return bg__loop_wait_seen(BG_WS_epoll, (uintptr_t)epfd, 0, 0x1000);
}
/* What the close wrapper does (there is no shim in this test). */
static void closed(int fd) {
  close(fd);
  bg__fd_forget(fd);
}

static void loop_detection_poll_needs_a_doorbell(void **s) {
  (void)s;
  init("threads=auto:verbosity=0");
  int p[2], sp[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
  /* a child's pipes, a transfer's socketpair: never a loop, however often polled */
  struct pollfd pf[3] = {{p[0], POLLIN, 0}, {sp[0], POLLIN, 0}};
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  FD_SET(sp[0], &r);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(wait_poll(pf, 2), 0);
    assert_int_equal(wait_select(&r, sp[0] + 1), 0);
  }
  assert_false(bg__self.guarded);
  /* an eventfd in the read set is a loop's doorbell: the loop, at once */
  int ev = eventfd(0, EFD_NONBLOCK);
  pf[2] = (struct pollfd){ev, POLLIN, 0};
  assert_int_equal(wait_poll(pf, 3), 1);
  assert_true(bg__self.guarded);
  assert_int_equal(bg__self.why, BG_WHY_AUTO);
  /* the loop wait (the set holding the doorbell) stays the yield point; a wait without
   * it is a violation, whatever its fds */
  assert_int_equal(wait_poll(pf, 3), 1);
  assert_int_equal(wait_poll(pf, 2), 0);
  FD_SET(ev, &r);
  assert_int_equal(wait_select(&r, ev + 1), 1);
  /* closing the doorbell ends the loop: the next blocking call is nobody's violation */
  closed(ev);
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_PASS);
  assert_false(bg__self.guarded);
  closed(p[0]), closed(p[1]), closed(sp[0]), closed(sp[1]);
}

static void loop_detection_epoll_and_its_end(void **s) {
  (void)s;
  init("threads=auto:verbosity=0");
  int ep = epoll_create1(0);
  assert_int_equal(wait_epoll(ep), 1); /* a wait on an epoll instance: a loop at once */
  assert_true(bg__self.guarded);
  uint64_t before = bg__violations_total();
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_GO);
  assert_int_equal(bg__violations_total(), before + 1);
  /* dup2 over the loop's fd ends the loop as close does */
  int other = epoll_create1(0);
  assert_int_equal(dup2(other, ep), ep);
  bg__fd_dup(other, ep);
  closed(other);
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_PASS);
  assert_false(bg__self.guarded);
  /* an invalid epoll fd fails at once: no loop */
  assert_int_equal(wait_epoll(1000), 0);
  assert_false(bg__self.guarded);
  closed(ep);
}

static void loop_detection_nested_and_replaced(void **s) {
  (void)s;
  init("threads=auto:verbosity=0");
  int outer = epoll_create1(0), inner = epoll_create1(0);
  assert_int_equal(wait_epoll(outer), 1);
  /* a loop run inside this loop's callback (a private loop of a sync wrapper) blocks
   * this one: its waits are violations... */
  for (int i = 0; i < 7; i++) assert_int_equal(wait_epoll(inner), 0);
  assert_int_equal(wait_epoll(outer), 1); /* ...and a wait on the loop resets the count */
  for (int i = 0; i < 7; i++) assert_int_equal(wait_epoll(inner), 0);
  /* the 8th in a row without the old loop's wait: that loop stopped recurring, the new
   * one is the thread's loop */
  assert_int_equal(wait_epoll(inner), 1);
  assert_int_equal(wait_epoll(inner), 1);
  assert_int_equal(wait_epoll(outer), 0);
  closed(inner);
  assert_int_equal(call(USLEEP, BG_CAT_sleep, 0), BG_PASS);
  closed(outer);
}

static void *loop_then_wait(void *arg) {
  int *fds = arg;
  wait_epoll(fds[0]);
  int guarded = bg__self.guarded;
  __atomic_store_n(&fds[1], 1, __ATOMIC_RELEASE);
  while (__atomic_load_n(&fds[1], __ATOMIC_ACQUIRE) != 2) usleep(100);
  /* the main thread closed our loop's fd meanwhile */
  int verdict = call(USLEEP, BG_CAT_sleep, 0);
  return (void *)(intptr_t)(guarded && verdict == BG_PASS && !bg__self.guarded);
}

static void loop_ends_when_another_thread_closes_its_fd(void **s) {
  (void)s;
  init("threads=auto:verbosity=0");
  int fds[2] = {epoll_create1(0), 0};
  pthread_t t;
  pthread_create(&t, NULL, loop_then_wait, fds);
  while (__atomic_load_n(&fds[1], __ATOMIC_ACQUIRE) != 1) usleep(100);
  closed(fds[0]);
  __atomic_store_n(&fds[1], 2, __ATOMIC_RELEASE);
  void *ok;
  pthread_join(t, &ok);
  assert_true(ok != NULL);
}

static void loop_role_without_auto_does_not_guard(void **s) {
  (void)s;
  init("threads=name:nothing:verbosity=0");
  int ep = epoll_create1(0);
  assert_int_equal(wait_epoll(ep), 1); /* still the yield point */
  assert_false(bg__self.guarded);
  closed(ep);
}

static void *other_thread(void *arg) {
  (void)arg;
  return (void *)(uintptr_t)bg__self.guarded;
}

static void new_threads_start_unguarded_unless_all(void **s) {
  (void)s;
  init("threads=main:verbosity=0");
  pthread_t t;
  void *r;
  pthread_create(&t, NULL, other_thread, NULL);
  pthread_join(t, &r);
  assert_null(r);
}

static void sites_dedupe_by_stack(void **s) {
  (void)s;
  init("threads=main:verbosity=0");
  int before = bg__sites_count();
  /* one call site in this loop (volatile: a compiler that unrolls it, clang -O2, would
   * make five) */
  for (volatile int i = 0; i < 5; i++) call(READ, BG_CAT_io, 0);
  call(READ, BG_CAT_io, 0);                               /* another */
  assert_int_equal(bg__sites_count(), before + 2);
  bg__site_t *a = bg__site_at(before), *b = bg__site_at(before + 1);
  assert_int_equal(a->count, 5);
  assert_int_equal(b->count, 1);
}

/* What the report counts as violations: the calls of the sites not allowed. */
static uint64_t report_violations(void) {
  uint64_t n = 0;
  for (int i = 0; i < bg__sites_count(); i++) {
    bg__site_t *st = bg__site_at(i);
    if (st && !st->allowed) n += __atomic_load_n(&st->count, __ATOMIC_RELAXED);
  }
  return n;
}

/* A wrapper's call whose real call blocks `us` microseconds. */
static int call_blocking(int id, int cat, unsigned us) {
  bg__call_t c;
  int v = bg__enter(&c, id, cat, 0, (uintptr_t)__builtin_return_address(0));
  if (v == BG_GO) {
    if (us) usleep(us);
    bg__leave(&c);
  }
  return v;
}

/* The counting rule (guard/core.c): with min_us, bg_violations() and the report's
 * counts agree whatever the action - a made call shorter than min_us is neither, a
 * refused one (raise) is both, an allowed one is on its site only. */
static void min_us_counter_and_report_agree(void **s) {
  (void)s;
  static const struct {
    const char *opts;
    uint64_t expect; /* violations of the three calls below */
  } cases[] = {
      {"threads=main:verbosity=0:min_us=2000:mode=report", 1},
      {"threads=main:verbosity=0:min_us=2000:mode=warn", 1},
      {"threads=main:verbosity=0:min_us=2000:mode=offload", 1}, /* not in a coroutine */
      {"threads=main:verbosity=0:min_us=2000:mode=raise", 2},
      {"threads=main:verbosity=0:mode=offload", 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    init(cases[i].opts);
    int id = SLEEP_A + (int)i;
    uint64_t counter = bg__violations_total(), report = report_violations();
    call_blocking(id, BG_CAT_sleep, 0);     /* shorter than min_us */
    call_blocking(id, BG_CAT_sleep, 10000); /* longer */
    bg__api_allow_begin();
    call_blocking(id, BG_CAT_sleep, 10000); /* allowed: never a violation */
    bg__api_allow_end();
    uint64_t dc = bg__violations_total() - counter, dr = report_violations() - report;
    print_message("%s: counter +%llu, report +%llu\n", cases[i].opts, (unsigned long long)dc,
                  (unsigned long long)dr);
    assert_int_equal(dc, dr);
    assert_int_equal(dc, cases[i].expect);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(main_thread_guarded_with_threads_main),
      cmocka_unit_test(auto_does_not_guard_main_without_a_loop),
      cmocka_unit_test(exempt_and_unselected_categories_pass),
      cmocka_unit_test(raise_fails_without_calling_and_keeps_errno),
      cmocka_unit_test(off_mode_guards_nothing),
      cmocka_unit_test(allow_scope_records_but_never_acts),
      cmocka_unit_test(core_reentry_passes),
      cmocka_unit_test(api_overrides_roles),
      cmocka_unit_test(name_globs_follow_renames),
      cmocka_unit_test(loop_detection_poll_needs_a_doorbell),
      cmocka_unit_test(loop_detection_epoll_and_its_end),
      cmocka_unit_test(loop_detection_nested_and_replaced),
      cmocka_unit_test(loop_ends_when_another_thread_closes_its_fd),
      cmocka_unit_test(loop_role_without_auto_does_not_guard),
      cmocka_unit_test(new_threads_start_unguarded_unless_all),
      cmocka_unit_test(sites_dedupe_by_stack),
      cmocka_unit_test(min_us_counter_and_report_agree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
