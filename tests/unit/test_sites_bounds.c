/* test_sites_bounds.c - max_sites bounds the registry; overflow is counted per
 * distinct site in dropped_sites, never silently lost, and a full table does not
 * make known sites fail.  Its own binary: the pool is sized once per process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard/options.h"
#include "guard/sites.h"

#define SITE_FN(name)                                                \
  static __attribute__((noipa)) bg__site_t *name(void) {             \
    bg__site_t *s = bg__site_get(1, BG_CAT_sleep, 0, BG_ACT_REPORT); \
    __asm__ volatile("" ::: "memory");                               \
    return s;                                                        \
  }
SITE_FN(s1)
SITE_FN(s2)
SITE_FN(s3)
SITE_FN(s4)
SITE_FN(s5)
static bg__site_t *(*const fns[])(void) = {s1, s2, s3, s4, s5};
static __attribute__((noinline)) bg__site_t *get(int k) {
  bg__site_t *s = fns[k]();
  __asm__ volatile("" ::: "memory");
  return s;
}

static void test_bounds(void **state) {
  (void)state;
  bg__options_defaults(&bg__opt);
  bg__opt.stack_depth = 2;
  bg__opt.max_sites = 3;
  bg__sites_init();
  for (int round = 0; round < 3; round++) {
    for (int k = 0; k < 5; k++) {
      bg__site_t *s = get(k);
      if (k < 3) {
        assert_non_null(s); /* the first three fit, and stay usable */
        bg__site_add(s, 10, -1);
      } else {
        assert_null(s);
      }
    }
  }
  assert_int_equal(bg__sites_count(), 3);
  assert_int_equal(bg__sites_dropped(), 2); /* two distinct sites, however often hit */
  for (int i = 0; i < 3; i++) assert_int_equal(bg__site_at(i)->count, 3);
  /* a forked child starts empty with the same bound */
  bg__sites_after_fork();
  assert_int_equal(bg__sites_count(), 0);
  assert_int_equal(bg__sites_dropped(), 0);
  for (int k = 4; k >= 0; k--) {
    bg__site_t *s = get(k);
    if (k >= 2)
      assert_non_null(s);
    else
      assert_null(s);
  }
  assert_int_equal(bg__sites_dropped(), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bounds)};
  return cmocka_run_group_tests_name("sites_bounds", tests, NULL, NULL);
}
