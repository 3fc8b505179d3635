/* test_sites.c - the site registry: dedupe, identity, concurrency, fork reset.
 *
 * The core is linked without the shim, so bg__stack_capture skips its own frame and
 * bg__site_get's: frame 0 is the function below that called bg__site_get.  Each
 * "site" here is a distinct noinline function (an asm barrier after the call stops
 * the compiler from turning it into a tail call, which would drop the frame).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/options.h"
#include "guard/sites.h"
#include "guard/symbolize.h"

#define SITE_FN(name, call, allowed)                                       \
  static __attribute__((noipa)) bg__site_t *name(void) {                   \
    bg__site_t *s = bg__site_get(call, BG_CAT_io, allowed, BG_ACT_REPORT); \
    __asm__ volatile("" ::: "memory");                                     \
    return s;                                                              \
  }
SITE_FN(site_a, 1, 0) static const int site_a_line = __LINE__;
SITE_FN(site_b, 1, 0)
SITE_FN(site_c, 2, 0)
SITE_FN(site_d, 3, 0)
SITE_FN(site_a_allowed, 1, 1)
enum { A, B, C, D, A_ALLOWED };
static bg__site_t *(*const fns[])(void) = {site_a, site_b, site_c, site_d, site_a_allowed};
static __attribute__((noinline)) bg__site_t *get(int k) {
  bg__site_t *s = fns[k]();
  __asm__ volatile("" ::: "memory");
  return s;
}

static int setup(void **state) {
  (void)state;
  bg__options_defaults(&bg__opt);
  bg__opt.stack_depth = 2;
  bg__sites_init();
  bg__sites_after_fork(); /* an empty registry for each test */
  return 0;
}

static void test_dedupe(void **state) {
  (void)state;
  bg__site_t *a = get(A);
  assert_non_null(a);
  for (int i = 0; i < 100; i++) {
    bg__site_t *again = get(A);
    assert_ptr_equal(again, a); /* same stack → same site, cached or not */
    bg__site_add(again, 1000, -1);
  }
  bg__site_t *b = get(B);
  assert_non_null(b);
  assert_ptr_not_equal(a, b); /* same call, other call site */
  assert_ptr_not_equal(get(C), a);
  assert_ptr_not_equal(get(A_ALLOWED), a); /* inside an allow scope: its own site */
  assert_int_equal(bg__sites_count(), 4);
  assert_int_equal(a->count, 100);
  assert_int_equal(a->total_ns, 100000);
  assert_int_equal(a->max_ns, 1000);
  assert_int_equal(a->hist[10], 100); /* 1000 ns is in [512, 1024) */
  assert_true(a->first_ns > 0 && a->last_ns >= a->first_ns);
  assert_int_equal(b->count, 0);
}

static void test_stable_id(void **state) {
  (void)state;
  bg__site_t *a = get(A), *b = get(B);
  uint64_t ida = bg__site_id(a), idb = bg__site_id(b);
  assert_true(ida != 0 && idb != 0 && ida != idb);
  assert_int_not_equal(bg__site_id(get(A_ALLOWED)), ida);
  /* the id is derived from module + offset, not the registry slot or the address of
   * the entry: a fresh registry (as in a forked child) gives the same ids */
  bg__sites_after_fork();
  assert_int_equal(bg__sites_count(), 0);
  bg__site_t *b2 = get(B), *a2 = get(A);
  assert_int_equal(bg__site_id(a2), ida);
  assert_int_equal(bg__site_id(b2), idb);
  assert_ptr_equal(b2, bg__site_at(0)); /* order of creation, not of old slots */
  /* frame 0 resolves to this test binary, with an offset = pc - load bias */
  assert_true(a2->mods[0] != BG_NO_MODULE);
  assert_non_null(strstr(bg__module_path(a2->mods[0]), "test_sites"));
  assert_int_equal(bg__site_offset(a2, 0), a2->key.pcs[0] - bg__module_bias(a2->mods[0]));
  bg__sym_t sym;
  bg__sym_pc(a2->key.pcs[0], a2->mods[0], bg__site_offset(a2, 0), &sym, 1);
  assert_string_equal(sym.function, "site_a");
  if (bg__sym_have_dwarf()) {
    assert_non_null(strstr(sym.file, "test_sites.c"));
    assert_int_equal(sym.line, site_a_line);
  }
}

static void test_threads_recorded(void **state) {
  (void)state;
  bg__site_t *a = get(A);
  for (int slot = 0; slot < BG_SITE_THREADS; slot++) bg__site_add(a, 1, slot);
  bg__site_add(a, 1, 0); /* already listed */
  assert_int_equal(a->threads_more, 0);
  bg__site_add(a, 1, BG_SITE_THREADS + 3);
  assert_int_equal(a->threads_more, 1); /* overflow is visible, not silent */
  for (int i = 0; i < BG_SITE_THREADS; i++) assert_int_equal(a->threads[i], i);
}

/* ---- 16 threads hammering 4 sites (and the creation race) ------------------------- */
#define NTHREADS 16
#define ITERS 20000
static pthread_barrier_t barrier;
static volatile int stop_reader;

static void *worker(void *arg) {
  int slot = (int)(intptr_t)arg;
  pthread_barrier_wait(&barrier); /* all threads race to create the same new sites */
  for (int i = 0; i < ITERS; i++) {
    bg__site_t *s;
    switch ((i + slot) % 4) {
      case 0:
        s = get(A);
        break;
      case 1:
        s = get(B);
        break;
      case 2:
        s = get(C);
        break;
      default:
        s = get(D);
        break;
    }
    if (s) bg__site_add(s, (uint64_t)(i % 5000), slot);
  }
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  uint64_t seen = 0;
  while (!__atomic_load_n(&stop_reader, __ATOMIC_RELAXED)) {
    int n = bg__sites_count();
    for (int i = 0; i < n; i++) seen += __atomic_load_n(&bg__site_at(i)->count, __ATOMIC_RELAXED);
  }
  return (void *)(uintptr_t)seen;
}

/* Widens the window between "not in the table" and "inserted", where another thread
 * may create the same site: the registry must still end up with one entry. */
static int slow_decide(bg__site_t *s) {
  (void)s;
  usleep(2000);
  return -1;
}

static void test_concurrency(void **state) {
  (void)state;
  pthread_t th[NTHREADS], rd;
  bg__site_decide = slow_decide;
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  stop_reader = 0;
  pthread_create(&rd, NULL, reader, NULL);
  for (int i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  stop_reader = 1;
  pthread_join(rd, NULL);
  pthread_barrier_destroy(&barrier);
  bg__site_decide = NULL;
  assert_int_equal(bg__sites_count(), 4); /* no duplicate from the creation race */
  uint64_t total = 0, hist = 0;
  for (int i = 0; i < bg__sites_count(); i++) {
    bg__site_t *s = bg__site_at(i);
    total += s->count;
    for (int b = 0; b < BG_HIST_BUCKETS; b++) hist += s->hist[b];
    assert_int_equal(s->threads_more, 1); /* 16 threads > BG_SITE_THREADS */
  }
  assert_int_equal(total, (uint64_t)NTHREADS * ITERS);
  assert_int_equal(hist, (uint64_t)NTHREADS * ITERS);
  assert_int_equal(bg__sites_dropped(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_dedupe, setup),
      cmocka_unit_test_setup(test_stable_id, setup),
      cmocka_unit_test_setup(test_threads_recorded, setup),
      cmocka_unit_test_setup(test_concurrency, setup),
  };
  return cmocka_run_group_tests_name("sites", tests, NULL, NULL);
}
