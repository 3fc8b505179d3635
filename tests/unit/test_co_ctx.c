/* test_co_ctx.c - the two context-switch implementations, side by side.
 *
 * guard/co_ctx.h is compiled here twice: the assembly switch (what the scheduler uses
 * on x86-64) and the ucontext fallback (what other architectures use), so the fallback
 * cannot rot unnoticed.  Both must pass arguments, preserve callee-saved state across
 * switches and resume each side exactly where it left off.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <cmocka.h>

#define STACK (64 * 1024)

/* ---- variant 1: the scheduler's switch -------------------------------------------------- */
#define bg__ctx_t asm_ctx_t
#define bg__ctx bg__ctx_asm
#define bg__ctx_make asm_make
#define bg__ctx_switch asm_switch
#define bg__ctx_tramp asm_tramp
#include "guard/co_ctx.h"
#undef BG_CO_CTX_H
#undef bg__ctx_t
#undef bg__ctx
#undef bg__ctx_make
#undef bg__ctx_switch
#undef bg__ctx_tramp

/* ---- variant 2: the ucontext fallback ----------------------------------------------------- */
#define BG_CO_UCONTEXT 1
#define bg__ctx_t uc_ctx_t
#define bg__ctx bg__ctx_uc
#define bg__ctx_make uc_make
#define bg__ctx_switch uc_switch
#define bg__ctx_tramp uc_tramp
#include "guard/co_ctx.h"

#define PINGPONG(T, make, sw)                                                                  \
  static T main_##T, co_##T;                                                                   \
  static volatile int seq_##T[8], nseq_##T;                                                    \
  static void body_##T(void *arg) {                                                            \
    long k = (long)(intptr_t)arg;                                                              \
    for (int i = 0; i < 3; i++) {                                                              \
      seq_##T[nseq_##T++] = (int)(k + i);                                                      \
      sw(&co_##T, &main_##T);                                                                  \
    }                                                                                          \
    for (;;) sw(&co_##T, &main_##T);                                                           \
  }                                                                                            \
  static void run_##T(void) {                                                                  \
    void *stk = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); \
    assert_true(stk != MAP_FAILED);                                                            \
    make(&co_##T, stk, STACK, body_##T, (void *)(intptr_t)100);                                \
    register long keep = 12345; /* a callee-saved value held across switches */                \
    for (int i = 0; i < 3; i++) {                                                              \
      seq_##T[nseq_##T++] = i;                                                                 \
      sw(&main_##T, &co_##T);                                                                  \
      __asm__ volatile("" : "+r"(keep));                                                       \
    }                                                                                          \
    assert_int_equal(keep, 12345);                                                             \
    int want[] = {0, 100, 1, 101, 2, 102};                                                     \
    assert_int_equal(nseq_##T, 6);                                                             \
    for (int i = 0; i < 6; i++) assert_int_equal(seq_##T[i], want[i]);                         \
    munmap(stk, STACK);                                                                        \
  }

PINGPONG(asm_ctx_t, asm_make, asm_switch)
PINGPONG(uc_ctx_t, uc_make, uc_switch)

static void test_asm_switch(void **state) {
  (void)state;
  run_asm_ctx_t();
}
static void test_ucontext_switch(void **state) {
  (void)state;
  run_uc_ctx_t();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_asm_switch),
      cmocka_unit_test(test_ucontext_switch),
  };
  return cmocka_run_group_tests_name("co_ctx", tests, NULL, NULL);
}
