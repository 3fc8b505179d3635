/* test_unwind.c - guard/unwind.c against libunwind, the unwinder it replaced.
 *
 * Each case captures the stack with both from the same function, on stacks built to
 * exercise each kind of rule: frame-pointer frames, frames without a frame pointer
 * (CFA = rsp + N, alloca'd frames with CFA = rbp + N), a realigned entry (CFA from an
 * expression through the saved DRAP register), libc's own frames (a qsort callback), a
 * signal handler (the signal frame, then the interrupted code), a thread, and GCC's
 * split cold paths.  The return addresses must be identical, frame for frame, as far as
 * libunwind gets; a second capture (from the rule cache) must equal the first; the
 * walk must end by itself (the outermost frame's undefined return address).
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "guard/unwind.h"

#define MAXF 64
typedef struct {
  uintptr_t ours[MAXF], theirs[MAXF + 1];
  int n_ours, n_theirs;
} capture_t;

/* Both unwinders from the same frame.  libunwind's first entry is this function's own
 * (the return address of unw_backtrace); ours starts at our caller's. */
static __attribute__((noinline)) void capture(capture_t *c) {
  bg__frame_t f;
  BG_FRAME_HERE(f);
  c->n_ours = bg__unwind(&f, c->ours, MAXF, NULL);
  void *raw[MAXF + 1];
  c->n_theirs = unw_backtrace(raw, MAXF + 1);
  for (int i = 0; i < c->n_theirs; i++) c->theirs[i] = (uintptr_t)raw[i];
  __asm__ volatile("" ::: "memory");
}

static void check_same(const capture_t *c, int min_frames) {
  int n = c->n_theirs - 1; /* libunwind's frames above capture() */
  assert_true(n >= min_frames);
  assert_true(c->n_ours >= n); /* we may get further (libunwind stops at some JIT/asm) */
  for (int i = 0; i < n; i++) {
    if (c->ours[i] != c->theirs[i + 1]) {
      print_error("frame %d differs: ours %#lx, libunwind %#lx\n", i, (unsigned long)c->ours[i],
                  (unsigned long)c->theirs[i + 1]);
      fail();
    }
  }
  assert_true(c->n_ours < MAXF); /* ended by itself, not by the limit */
}

static void twice(void (*fn)(capture_t *), int min_frames) {
  capture_t a, b;
  bg__unwind_flush();
  fn(&a); /* misses: rules parsed from .eh_frame */
  check_same(&a, min_frames);
  fn(&b); /* hits: the same rules from the cache */
  check_same(&b, min_frames);
  assert_int_equal(a.n_ours, b.n_ours);
}

/* ---- frame-pointer frames ------------------------------------------------------------- */
static __attribute__((noinline)) void rec_fp(capture_t *c, int n) {
  if (n == 0)
    capture(c);
  else
    rec_fp(c, n - 1);
  __asm__ volatile("" ::: "memory"); /* no tail call */
}
static void fp20(capture_t *c) { rec_fp(c, 20); }
static void test_frame_pointer(void **s) {
  (void)s;
  twice(fp20, 22);
}

/* ---- no frame pointer: CFA from rsp, and alloca'd frames (CFA from rbp) ------------- */
#define NOFP __attribute__((noinline, optimize("omit-frame-pointer")))
static NOFP void rec_nofp(capture_t *c, int n) {
  volatile char pad[40];
  pad[0] = (char)n;
  if (n == 0)
    capture(c);
  else
    rec_nofp(c, n - 1);
  __asm__ volatile("" ::: "memory");
  (void)pad[0];
}
static NOFP void rec_alloca(capture_t *c, int n) {
  volatile char *p = alloca((size_t)(16 + n * 8));
  p[0] = 1;
  if (n == 0)
    rec_nofp(c, 3);
  else
    rec_alloca(c, n - 1);
  __asm__ volatile("" ::: "memory");
  (void)p[0];
}
static void nofp(capture_t *c) { rec_alloca(c, 5); }
static void test_no_frame_pointer(void **s) {
  (void)s;
  twice(nofp, 10);
}

/* ---- realigned entry: CFA = *(rbp - 8), rbp saved at rbp+0 (expressions) ---------- */
/* 32-byte vectors and alloca: GCC realigns the stack through the DRAP register. */
typedef double v4 __attribute__((vector_size(32)));
static __attribute__((noinline, target("avx"))) void realigned(capture_t *c, int n) {
  volatile v4 big[2];
  big[0] = (v4){1, 2, 3, (double)n};
  (void)big[0];
  volatile char *p = alloca((size_t)(16 + n));
  p[0] = 1;
  capture(c);
  __asm__ volatile("" ::"r"(p) : "memory");
}
static __attribute__((noinline)) void rec_realigned(capture_t *c, int n) {
  if (n == 0)
    realigned(c, 5);
  else
    rec_realigned(c, n - 1); /* frame-pointer frames above: rbp must come back right */
  __asm__ volatile("" ::: "memory");
}
static void drap(capture_t *c) { rec_realigned(c, 3); }
static void test_realigned(void **s) {
  (void)s;
  twice(drap, 6);
}

/* ---- through libc: a qsort comparison callback -------------------------------------- */
static capture_t *qs_target;
static int qs_done;
static int cmp(const void *a, const void *b) {
  if (!qs_done) {
    qs_done = 1;
    capture(qs_target);
  }
  return *(const int *)a - *(const int *)b;
}
static void through_libc(capture_t *c) {
  int v[] = {5, 3, 9, 1, 7, 2};
  qs_target = c;
  qs_done = 0;
  qsort(v, 6, sizeof v[0], cmp);
}
static void test_through_libc(void **s) {
  (void)s;
  twice(through_libc, 4);
}

/* ---- a signal handler: the signal frame, then the interrupted code ------------------- */
static capture_t *sig_target;
static void handler(int sig) {
  (void)sig;
  capture(sig_target);
}
static void in_handler(capture_t *c) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigaction(SIGUSR1, &sa, &old);
  sig_target = c;
  raise(SIGUSR1);
  sigaction(SIGUSR1, &old, NULL);
}
static void test_signal_frame(void **s) {
  (void)s;
  twice(in_handler, 5);
}

/* ---- another thread: the walk ends at clone's undefined return address -------------- */
static void *thread_main(void *arg) {
  rec_fp(arg, 5);
  return NULL;
}
static void in_thread(capture_t *c) {
  pthread_t th;
  pthread_create(&th, NULL, thread_main, c);
  pthread_join(th, NULL);
}
static void test_thread(void **s) {
  (void)s;
  twice(in_thread, 8);
}

/* ---- GCC's cold partition: the call is in function.cold, its own FDE ---------------- */
static __attribute__((cold, noinline)) void cold_fn(capture_t *c) {
  capture(c);
  __asm__ volatile("" ::: "memory");
}
static __attribute__((noinline)) int cold_path(capture_t *c, int rare, int x) {
  if (__builtin_expect(rare, 0)) { /* moved to cold_path.cold */
    cold_fn(c);
    x *= 3;
    __asm__ volatile("" ::: "memory");
  }
  return x + 1;
}
static int (*volatile cold_entry)(capture_t *, int, int) = cold_path;
static void cold(capture_t *c) { (void)cold_entry(c, 1, 2); }
static void test_cold_partition(void **s) {
  (void)s;
  twice(cold, 3);
}

/* ---- skip and max --------------------------------------------------------------------- */
static int skip_left;
static int skip_first(uintptr_t pc) {
  (void)pc;
  return skip_left-- > 0;
}
static __attribute__((noinline)) void skip_case(void) {
  bg__frame_t f;
  BG_FRAME_HERE(f);
  uintptr_t a[MAXF], b[MAXF];
  int n = bg__unwind(&f, a, MAXF, NULL);
  assert_true(n >= 5);
  skip_left = 3; /* the first three frames are walked through, not recorded */
  int m = bg__unwind(&f, b, MAXF, skip_first);
  assert_int_equal(m, n - 3);
  assert_memory_equal(b, a + 3, (size_t)m * sizeof a[0]);
  assert_int_equal(bg__unwind(&f, a, 2, NULL), 2);
  __asm__ volatile("" ::: "memory");
}
static void test_skip_and_max(void **s) {
  (void)s;
  skip_case();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frame_pointer), cmocka_unit_test(test_no_frame_pointer),
      cmocka_unit_test(test_realigned),     cmocka_unit_test(test_through_libc),
      cmocka_unit_test(test_signal_frame),  cmocka_unit_test(test_thread),
      cmocka_unit_test(test_cold_partition), cmocka_unit_test(test_skip_and_max),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
