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
#include <cmocka.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/sites.h"

static const bg__callinfo_t rows[] = {{"read", BG_CAT_io, BG_F_FD, BG_OFF_NEVER},
                                      {"usleep", BG_CAT_sleep, 0, BG_OFF_NEVER},
                                      {"pthread_join", BG_CAT_sync, 0, BG_OFF_NEVER},
                                      {"poll", BG_CAT_wait, BG_F_LOOP, BG_OFF_NEVER}};
enum { READ, USLEEP, JOIN, POLL };

static void init(const char *opts) {
  bg__set_calltable(rows, 4);
  memset(&bg__self, 0, sizeof bg__self);
  bg__self.slot = -1;
  assert_int_equal(bg__core_init(opts, "test"), 0);
}

/* What a wrapper does; returns the verdict. */
static int call(int id, int cat, int exempt) {
  bg__call_t c = {0}; /* from.pc == 0: capture from here */
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

static void loop_detection(void **s) {
  (void)s;
  init("threads=auto:verbosity=0");
  uintptr_t loop = 0x1000, other = 0x2000;
  /* poll/select with a timeout from the same site: the third makes it the loop */
  assert_int_equal(bg__loop_wait(loop, 1, 0), 0);
  assert_int_equal(bg__loop_wait(loop, 1, 0), 0);
  assert_false(bg__self.guarded);
  assert_int_equal(bg__loop_wait(loop, 1, 0), 1);
  assert_true(bg__self.guarded);
  assert_int_equal(bg__self.why, BG_WHY_AUTO);
  /* the loop wait stays a yield point; a different timed wait is a violation */
  assert_int_equal(bg__loop_wait(loop, 1, 0), 1);
  assert_int_equal(bg__loop_wait(other, 1, 0), 0);
  /* zero-timeout polls never make a loop */
  init("threads=auto:verbosity=0");
  for (int i = 0; i < 10; i++) assert_int_equal(bg__loop_wait(other, 0, 0), 0);
  assert_false(bg__self.guarded);
  /* epoll_wait is a loop wait at once */
  assert_int_equal(bg__loop_wait(0x3000, 1, 1), 1);
  assert_true(bg__self.guarded);
}

static void loop_role_without_auto_does_not_guard(void **s) {
  (void)s;
  init("threads=name:nothing:verbosity=0");
  assert_int_equal(bg__loop_wait(0x3000, 1, 1), 1); /* still the yield point */
  assert_false(bg__self.guarded);
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
      cmocka_unit_test(loop_detection),
      cmocka_unit_test(loop_role_without_auto_does_not_guard),
      cmocka_unit_test(new_threads_start_unguarded_unless_all),
      cmocka_unit_test(sites_dedupe_by_stack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
