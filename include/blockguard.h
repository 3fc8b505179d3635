/* blockguard.h - public API of blockguard, the blocking-call guard.
 *
 * Every function here is safe to call whether or not libblockguard.so is loaded: the
 * inline wrappers look the implementation up once with dlsym(RTLD_DEFAULT) and do
 * nothing (returning the documented "not loaded" value) when it is absent.  So a
 * program can mark its event-loop thread or allow a blocking region unconditionally,
 * and pay nothing when it runs without the shim.  Link with nothing extra (glibc >= 2.34
 * has dlsym in libc; older glibc needs -ldl).
 *
 *   bg_thread_guard(1)         this thread must not block (0: stop guarding it)
 *   bg_allow_begin()/_end()    calls inside this (nestable) scope may block
 *   bg_violations()            violations recorded so far in this process
 *
 * Coroutine runtime (see docs/offload.md): bg_sched_*, bg_co_*.
 */
#ifndef BLOCKGUARD_H
#define BLOCKGUARD_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Looks up an exported implementation symbol once per call site; NULL when the
 * library is not loaded.  A benign race: every thread stores the same value. */
#define BG__RESOLVE(type, sym)                                                         \
  ({                                                                                 \
    static void *bg__p;                                                              \
    static int bg__done;                                                             \
    if (!__atomic_load_n(&bg__done, __ATOMIC_ACQUIRE)) {                             \
      __atomic_store_n(&bg__p, dlsym(RTLD_DEFAULT, sym), __ATOMIC_RELAXED);          \
      __atomic_store_n(&bg__done, 1, __ATOMIC_RELEASE);                              \
    }                                                                                \
    (type)__atomic_load_n(&bg__p, __ATOMIC_RELAXED);                                 \
  })

/* Marks (on=1) or unmarks (on=0) the calling thread as guarded.  Returns the previous
 * state (0/1), or -1 when blockguard is not loaded. */
static inline int bg_thread_guard(int on) {
  int (*f)(int) = BG__RESOLVE(int (*)(int), "bg__api_thread_guard");
  return f ? f(on) : -1;
}

/* Opens a scope in which blocking calls on this thread are allowed (recorded as
 * allowed, never acted on).  Scopes nest; each begin needs one end. */
static inline void bg_allow_begin(void) {
  void (*f)(void) = BG__RESOLVE(void (*)(void), "bg__api_allow_begin");
  if (f) f();
}

static inline void bg_allow_end(void) {
  void (*f)(void) = BG__RESOLVE(void (*)(void), "bg__api_allow_end");
  if (f) f();
}

/* Number of violations (not counting allowed calls) recorded so far; 0 when the
 * library is not loaded. */
static inline uint64_t bg_violations(void) {
  uint64_t (*f)(void) = BG__RESOLVE(uint64_t (*)(void), "bg__api_violations");
  return f ? f() : 0;
}

#ifdef __cplusplus
}
#endif
#endif /* BLOCKGUARD_H */
