/* co_ctx.h - make and switch coroutine contexts.
 *
 * x86-64 uses the few instructions in co_switch_x86_64.S (docs/performance.md).  Other
 * architectures fall back to ucontext (makecontext/swapcontext), which is correct but
 * makes a sigprocmask system call per switch; define BG_CO_UCONTEXT to force it (the
 * unit tests do, to keep the fallback working).
 *
 * bg__ctx_make(ctx, top, fn, arg): a context that, when first switched to, runs
 * fn(arg) on the stack that ends at `top` (16-byte aligned).  fn must never return.
 * bg__ctx_switch(from, to): save the running context in `from`, resume `to`.
 * BG_CO_CALL_ON is defined where bg__co_call_on exists (x86-64): a call on another stack.
 */
#ifndef BG_CO_CTX_H
#define BG_CO_CTX_H
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && !defined(BG_CO_UCONTEXT)
typedef struct bg__ctx {
  void *sp;
} bg__ctx_t;

void bg__co_switch(void **save_sp, void *to_sp);
void bg__co_boot(void);
/* fn(arg) on the stack whose top is `top` (16-byte aligned), unwindable through. */
void bg__co_call_on(void *top, void (*fn)(void *), void *arg);
#define BG_CO_CALL_ON 1

static inline void bg__ctx_make(bg__ctx_t *c, void *lo, size_t size, void (*fn)(void *),
                                void *arg) {
  uintptr_t *sp = (uintptr_t *)(((uintptr_t)lo + size) & ~(uintptr_t)15);
  uint32_t mxcsr;
  uint16_t fpucw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fpucw));
  *--sp = (uintptr_t)bg__co_boot; /* "return address" of the first switch */
  *--sp = (uintptr_t)mxcsr | ((uintptr_t)fpucw << 32);
  *--sp = 0;                      /* rbp: ends frame-pointer walks */
  *--sp = 0;                      /* rbx */
  *--sp = (uintptr_t)arg;         /* r12 → first argument */
  *--sp = (uintptr_t)fn;          /* r13 → entry */
  *--sp = 0;                      /* r14 */
  *--sp = 0;                      /* r15 */
  c->sp = sp;
}

static inline void bg__ctx_switch(bg__ctx_t *from, bg__ctx_t *to) {
  bg__co_switch(&from->sp, to->sp);
}
#else
#include <ucontext.h>
typedef struct bg__ctx {
  ucontext_t uc;
} bg__ctx_t;

static void bg__ctx_tramp(unsigned fhi, unsigned flo, unsigned ahi, unsigned alo) {
  void (*fn)(void *) = (void (*)(void *))(uintptr_t)(((uint64_t)fhi << 32) | flo);
  void *arg = (void *)(uintptr_t)(((uint64_t)ahi << 32) | alo);
  fn(arg);
  __builtin_trap();
}

static inline void bg__ctx_make(bg__ctx_t *c, void *lo, size_t size, void (*fn)(void *),
                                void *arg) {
  memset(c, 0, sizeof *c);
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = lo;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = NULL;
  uint64_t f = (uintptr_t)fn, a = (uintptr_t)arg;
  /* makecontext passes int arguments: pointers travel as two halves. */
  makecontext(&c->uc, (void (*)(void))bg__ctx_tramp, 4, (unsigned)(f >> 32),
              (unsigned)(f & 0xffffffffu), (unsigned)(a >> 32), (unsigned)(a & 0xffffffffu));
}

static inline void bg__ctx_switch(bg__ctx_t *from, bg__ctx_t *to) {
  swapcontext(&from->uc, &to->uc);
}
#endif
#endif /* BG_CO_CTX_H */
