/* wrappers.c - expands preload/calls.def into the exported wrappers.
 *
 * Per row:
 *   - a pointer to the real function, initialised to a lazy resolver: the first call
 *     (even one before our constructor, or in a signal handler) resolves it with the
 *     signal-safe lookup of preload/resolve.c;
 *   - the exported wrapper: the fast path is one TLS load and a branch;
 *   - a noinline slow path that asks the core (guard/) for a verdict.
 */
#include "preload/sysinc.h"

#include "guard/guard.h"
#include "preload/callgen.h"
#include "preload/exempt.h"
#include "preload/preload.h"

/* ---- metadata for the core: names and base categories (ids: preload/preload.h) --- */
#define BG__FLAGS(cat, flags) ((flags) | (BG_ISWAIT(cat) ? BG_F_LOOP : 0))
#define BG_CALL(name, cat, flags, off, ...)                                             \
  {#name, BG_BASECAT(cat), BG__FLAGS(cat, flags), BG_OFFPOL(off)},
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  {"syscall(" #name ")", BG_BASECAT(cat), BG__FLAGS(cat, flags), BG_OFF_NEVER},
const bg__callinfo_t bg__calltable[] = {
#include "preload/calls.def"
#include "preload/syscalls.def"
};
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_SYSCALL
const int bg__ncalltable = BG_NCALLS;
_Static_assert(sizeof bg__calltable / sizeof bg__calltable[0] == BG_NCALLS, "row count");

/* ---- dlvsym versions (resolve.c) -------------------------------------------------- */
#define BG_CALL(...)
#undef BG_SYMVER
#define BG_SYMVER(name, ver) #name, ver,
const char *const bg__symvers[] = {
#include "preload/calls.def"
    NULL, NULL};
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_SYMVER

const char *bg__symver(const char *name) {
  for (const char *const *v = bg__symvers; v[0]; v += 2)
    if (bg__streq(v[0], name)) return v[1];
  return NULL;
}

/* ---- real pointers with lazy resolvers (not for BG_CUSTOM rows) -------------------- */
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  static ret bg__lazy_##name(BG_PARAMS(n, params));                                     \
  ret (*bg__real_##name)(BG_PARAMS(n, params)) = bg__lazy_##name;                        \
  BG__REAL_DESC(name, #name, &bg__real_##name)                                          \
  static ret bg__lazy_##name(BG_PARAMS(n, params)) {                                    \
    void *p = bg__resolve(#name);                                                       \
    if (!p) bg__die_unresolved(#name);                                                  \
    __atomic_store_n(&bg__real_##name, (ret(*)(BG_PARAMS(n, params)))p, __ATOMIC_RELEASE); \
    return bg__real_##name(BG_ARGS(n, params));                                         \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* ---- offload: the BG_OFFLOAD branches live in preload/offload.c ------------------- */
#include "preload/offload.h"

/* ---- the wrappers --------------------------------------------------------------- */
/* read and write rows answer for libunwind's emulated pipe (guard/unwind_io.c) before
 * anything else; BG__HAS_UNWIO(name) is 1 for them, 0 for every other row (a macro
 * probe: only BG__UNWIO_read/_write expand to something with a comma). */
#define BG__PROBE ~, 1
#define BG__UNWIO_read BG__PROBE
#define BG__UNWIO_write BG__PROBE
#define BG__2ND(a, b, ...) b
#define BG__ISPROBE(...) BG__2ND(__VA_ARGS__, 0, 0)
#define BG__HAS_UNWIO(name) BG__ISPROBE(BG__UNWIO_##name)
#define BG__IF(c) BG__IF_(c)
#define BG__IF_(c) BG__IF_##c
#define BG__IF_1(...) __VA_ARGS__
#define BG__IF_0(...)
#define BG__UNW_HOOK(name)                                                              \
  BG__IF(BG__HAS_UNWIO(name))(if (BG_UNLIKELY(bg__unwinding) && bg__unw_fake_fd(fd))     \
                                  return bg__unw_##name(fd, buf, n);)
/* -1 from a wait row (they all return int; other rows never get here, but the macro
 * below is expanded for every row, whatever its return type). */
static inline int bg__int_failed(const void *r, size_t n) {
  int v;
  if (n != sizeof v) return 0;
  memcpy(&v, r, sizeof v);
  return v == -1;
}

/* Unguarded thread (the common case): one TLS load and a branch, then a tail jump to
 * the real function.
 *
 * Readiness-wait rows (WAITSET category: poll, epoll_wait, select...) load guarded and
 * watch together instead: every thread's timed waits must be seen (that is how an
 * event loop is found, guarded or not), so on an unguarded thread the row's exempt
 * expression (a zero timeout) is tested inline and only a wait that can block (any wait
 * on an epoll set: BG_WAITALL) goes out of line to bg__watch_NAME, which shows it to
 * loop detection (bg__loop_wait_seen;
 * inside the core, depth > 0, it does not) and tail-calls the real function.  The
 * wrapper stays frameless: no register saves on the fast path.  No depth++ is needed
 * around the real call: the thread is unguarded, or has just become the loop thread and
 * this wait is its loop wait.  Measured: docs/performance.md.
 *
 * A loop thread that is not guarded has watch == 2 (guard/loop.c): its waits miss the
 * watch-only test and take the slow path, so that every wait of its loop, zero timeouts
 * included, ends an iteration (loop health) - at no cost to the other threads.
 *
 * Guarded thread: the noinline slow path.  An exempt call leaves at once (the core
 * would answer BG_PASS for it anyway); so does the thread's own loop wait, its yield
 * point; otherwise the core gives a verdict. */
/* Rows whose category names their fd (FDCAT) tell the fd cache when a call the cache
 * said could block failed in a way a blocking fd cannot (guard/fdcache.c). */
#define BG__FD_FAILED_FDCAT(fd, c)                                                      \
  if (BG_UNLIKELY(bg_r < 0)) bg__fd_failed(fd, errno);
#define BG__FD_FAILED_CAT(c)
#define BG__FD_FAILED_NRCAT()
#define BG__FD_FAILED_WAITSET(k, set, n)
#define BG__FD_FAILED(col) BG__FD_FAILED_##col
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  static __attribute__((noinline)) ret bg__slow_##name(uintptr_t caller                 \
                                                        BG_PARAMS_TAIL(n, params)) {    \
    BG__UNW_HOOK(name)                                                                  \
    if (bg__self.depth) return bg__real_##name(BG_ARGS(n, params));                      \
    int bg_ex;                                                                          \
    if (BG_ISWAIT(cat)) { /* a timeout test: nothing that could re-enter the wrappers */ \
      bg_ex = (exempt);                                                                 \
    } else {                                                                            \
      bg__self.depth++;                                                                 \
      bg_ex = (exempt);                                                                 \
      bg__self.depth--;                                                                 \
    }                                                                                   \
    if (BG_ISWAIT(cat) && (!bg_ex || BG_WAITALL(cat) || bg__self.loop_fd >= 0) &&       \
        BG_WAITSEEN(cat)) {                                                             \
      uint32_t bg_s = bg__self.loop_sigs;                                               \
      ret bg_r;                                                                         \
      do /* the loop's own wait, made again if the stall timer interrupted it */       \
        bg_r = bg__real_##name(BG_ARGS(n, params));                                     \
      while (bg__loop_eintr_ours(bg__int_failed(&bg_r, sizeof bg_r) && errno == EINTR,  \
                                 &bg_s));                                               \
      bg__loop_woke();                                                                  \
      return bg_r;                                                                      \
    }                                                                                   \
    if (bg_ex) return bg__real_##name(BG_ARGS(n, params));                              \
    if (!bg__self.guarded) return bg__real_##name(BG_ARGS(n, params));                  \
    bg__self.depth++;                                                                   \
    int bg_cat = BG_CATEXPR(cat);                                                       \
    bg__self.depth--;                                                                   \
    bg__call_t bg_c;                                                                    \
    ret bg_r;                                                                           \
    int bg_v = bg__enter_any(&bg_c, BG_ID_##name, bg_cat, 0, caller);                   \
    BG_VERDICT(bg_v, &bg_c, bg_r = bg__real_##name(BG_ARGS(n, params)), bg_r = (fail),  \
               BG_OFF_IF_WORKER(off)(return bg__off_##name(&bg_c BG_ARGS_TAIL(n, params));)) \
    if (bg_v == BG_GO) {                                                                \
      BG__FD_FAILED(cat) /* EAGAIN: the fd was not blocking after all */                \
    }                                                                                   \
    return bg_r;                                                                        \
  }                                                                                     \
  static __attribute__((noinline, unused)) ret bg__watch_##name(uintptr_t caller       \
                                                                 BG_PARAMS_TAIL(n, params)) { \
    if (!bg__loops_watched) {                                                          \
      /* mode=off: once the options are known, this thread goes back to the          \
       * one-load fast path for good. */                                               \
      if (bg__core_ready()) bg__self.watch = 0;                                         \
    } else if (!bg__self.depth && BG_WAITSEEN(cat)) { /* never the core's own waits */  \
      uint32_t bg_s = bg__self.loop_sigs;                                               \
      ret bg_r;                                                                         \
      do /* this loop thread's wait */                                                  \
        bg_r = bg__real_##name(BG_ARGS(n, params));                                     \
      while (bg__loop_eintr_ours(bg__int_failed(&bg_r, sizeof bg_r) && errno == EINTR,  \
                                 &bg_s));                                               \
      bg__loop_woke();                                                                  \
      return bg_r;                                                                      \
    }                                                                                   \
    return bg__real_##name(BG_ARGS(n, params));                                         \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* The exported wrappers never keep a frame on their fast paths; omitting the frame
 * pointer lets __builtin_return_address(0) read the return address without setting one
 * up on the wait rows' watch path (unwinding uses DWARF CFI, not the frame chain). */
#if defined(__clang__)
#define BG_FRAMELESS
#else
#define BG_FRAMELESS __attribute__((optimize("omit-frame-pointer")))
#endif
/* ask when the thread is unguarded and watched: guarded == 0, watch == 1 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BG_ASK_WATCH_ONLY ((uint16_t)0x0100)
#else
#define BG_ASK_WATCH_ONLY ((uint16_t)0x0001)
#endif
/* glibc's headers define some of these (getchar, putchar, vprintf...) as extern inline
 * already; the attribute only matters for the wait rows, so the mismatch warning on
 * those others is silenced here and only here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  BG_EXPORT BG_FRAMELESS ret name(BG_PARAMS(n, params)) {                               \
    if (BG_ISWAIT(cat)) {                                                               \
      uint16_t bg_ask = bg__self.ask;                                                   \
      if (BG_LIKELY(!bg_ask)) return bg__real_##name(BG_ARGS(n, params));               \
      if (BG_LIKELY(bg_ask == BG_ASK_WATCH_ONLY)) {                                     \
        if (!BG_WAITALL(cat) && (exempt)) return bg__real_##name(BG_ARGS(n, params));   \
        return bg__watch_##name((uintptr_t)__builtin_return_address(0)                  \
                                BG_ARGS_TAIL(n, params));                               \
      }                                                                                 \
    } else if (BG_LIKELY(!bg__self.guarded)) {                                          \
      return bg__real_##name(BG_ARGS(n, params));                                       \
    }                                                                                   \
    return bg__slow_##name((uintptr_t)__builtin_return_address(0) BG_ARGS_TAIL(n, params)); \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
#pragma GCC diagnostic pop
