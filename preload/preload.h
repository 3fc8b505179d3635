/* preload.h - shared by the shim's own files (mechanism only; policy is in guard/).
 *
 * Row ids of the call table, the real-symbol helper for hand-written wrappers
 * (BG_REAL_FN) and BG_RUN, the verdict protocol for a hand-written wrapper in one
 * expression, so no custom wrapper repeats the enter/switch/leave dance.
 */
#ifndef BG_PRELOAD_H
#define BG_PRELOAD_H
#include <errno.h>
#include <stdint.h>

#include "guard/guard.h"
#include "preload/callgen.h"

/* ---- row ids: calls.def rows, then syscall() numbers (syscalls.def) ------------- */
enum {
#define BG_CALL(name, ...) BG_ID_##name,
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_TRACK
#undef BG_SYMVER
#define BG_SYSCALL(name, ...) BG_ID_SYS_##name,
#include "preload/syscalls.def"
#undef BG_SYSCALL
  BG_NCALLS
};

extern const bg__callinfo_t bg__calltable[];
extern const int bg__ncalltable;

/* ---- real functions (preload/resolve.c, preload/elfsym.c) -------------------------- */
/* Every real-function pointer of the shim is described once in the bg_real section,
 * so one pass in the constructor fills them all and the dlsym wrappers know every
 * wrapped name.  Several descriptors may name the same function (one per file). */
typedef struct bg__real {
  const char *name;
  void **slot; /* the pointer the wrapper calls through */
} __attribute__((aligned(16))) bg__real_t;
#define BG__REAL_DESC(id, nm, slotp)                                                     \
  static const bg__real_t bg__rd_##id __attribute__((section("bg_real"), used)) = {    \
      nm, (void **)(slotp)};

/* String compare for the lookup path: it also runs inside sanitizer runtimes' start-up
 * (ASan's interceptors call dlsym before their own strcmp works), so no libc call. */
static inline int bg__streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

void *bg__resolve(const char *name);    /* RTLD_NEXT, at the BG_SYMVER version if any */
void *bg__resolve_ver(const char *name, const char *version); /* version may be NULL */
void bg__resolve_all(void);             /* constructor: eager only if elfsym cannot answer */
const bg__real_t *bg__real_find(const char *name); /* a descriptor of name, or NULL */
const char *bg__symver(const char *name); /* BG_SYMVER version of a row, or NULL */
extern const char *const bg__symvers[];  /* name, version pairs; NULL-terminated */
/* What dlsym(RTLD_NEXT) from the shim would answer, from the loaded objects' own
 * symbol tables (NULL: unknown here, ask dlsym); the shim's own definition. */
void *bg__elf_next(const char *name, const char *version);
void *bg__elf_self(const char *name);
int bg__elf_ready(void); /* 1: bg__elf_next can answer for libc's names */
void *bg__elf_libc(const char *name, const char *version); /* libc's own definition */
int bg__elf_is_self(const void *p); /* p lies in the shim itself */
void bg__die_unresolved(const char *name) __attribute__((noreturn));
void bg__preload_init(void);            /* idempotent; the constructor calls it */
extern int bg__quick_exit_code;         /* the status quick_exit was called with */

/* BG_REAL_FN(type, name): bg__get_<name>() returns the real function, resolved on
 * first use by the signal-safe lookup of preload/resolve.c (or eagerly by the
 * constructor where that lookup cannot answer).  Its slot is in the bg_real section,
 * which is also how the dlsym wrappers know the name.  A symbol that does not exist is
 * only fatal when called. */
#define BG_REAL_FN(type, name)                                                          \
  static type bg__real_custom_##name;                                                   \
  BG__REAL_DESC(custom_##name, #name, &bg__real_custom_##name)                          \
  static __attribute__((noinline)) type bg__resolve_custom_##name(void) {               \
    type p = (type)bg__resolve(#name);                                                  \
    if (p) __atomic_store_n(&bg__real_custom_##name, p, __ATOMIC_RELEASE);              \
    return p;                                                                           \
  }                                                                                     \
  static inline type bg__get_##name(void) {                                             \
    type p = __atomic_load_n(&bg__real_custom_##name, __ATOMIC_ACQUIRE);                \
    if (BG_UNLIKELY(!p)) {                                                              \
      p = bg__resolve_custom_##name();                                                  \
      if (!p) bg__die_unresolved(#name);                                                \
    }                                                                                   \
    return p;                                                                           \
  }

/* BG_RUN(row, call, args...): evaluates `call` (an expression calling the real
 * function) under the verdict protocol of calls.def row `row`, whose exempt, category
 * and fail columns are evaluated over `args` (the row's parameters, decoded from the
 * varargs by the wrapper).  Unguarded: one TLS load and a branch, then `call`.  Yields
 * call's value, or the row's fail value (errno EDEADLK) when the action is raise; with
 * the offload verdict the row's thunk makes the call on a worker instead.
 * Needs preload/custom_gen.h. */
#define BG_RUN(row, call, ...)                                                          \
  ({                                                                                    \
    __typeof__(call) bg_r_;                                                             \
    if (BG_LIKELY(!bg__self.guarded) || bg__self.depth) {                               \
      bg_r_ = (call);                                                                   \
    } else {                                                                            \
      bg__call_t bg_c_;                                                                 \
      int bg_v_ = bg__run_enter(&bg_c_, BG_ID_##row, (uintptr_t)__builtin_return_address(0), \
                                bg__cx_##row, bg__cc_##row, ##__VA_ARGS__);             \
      /* BG_OFFLOAD: only rows with a thunk get it (preload/offload_custom.c) */        \
      BG_VERDICT(bg_v_, &bg_c_, bg_r_ = (call), bg_r_ = bg__cf_##row(__VA_ARGS__),      \
                 BG__RUN_OFFLOAD(row, &bg_c_, &bg_r_, ##__VA_ARGS__); break;)           \
    }                                                                                   \
    bg_r_;                                                                              \
  })

/* The same for a call returning void (sync). */
#define BG_RUN_VOID(row, call)                                                          \
  do {                                                                                  \
    if (BG_LIKELY(!bg__self.guarded) || bg__self.depth) {                               \
      call;                                                                             \
      break;                                                                            \
    }                                                                                   \
    bg__call_t bg_c_;                                                                   \
    int bg_v_ = bg__run_enter(&bg_c_, BG_ID_##row, (uintptr_t)__builtin_return_address(0), \
                              bg__cx_##row, bg__cc_##row);                              \
    BG_VERDICT(bg_v_, &bg_c_, call, (void)0, /* no offload: made in place */)            \
  } while (0)

/* Evaluates the row's exempt and category with depth raised (their probes must not
 * recurse into the guard), then asks the core.  A statement expression, so the
 * row's helpers are called with the wrapper's own arguments. */
#define bg__run_enter(c, id, caller, cx, cc, ...)                                       \
  ({                                                                                    \
    uintptr_t bg_caller_ = (caller);                                                    \
    bg__self.depth++;                                                                   \
    int bg_ex_ = cx(bg_caller_, ##__VA_ARGS__);                                         \
    int bg_cat_ = cc(__VA_ARGS__);                                                      \
    bg__self.depth--;                                                                   \
    bg__enter_any((c), (id), bg_cat_, bg_ex_, bg_caller_);                              \
  })

#endif
