/* wrappers.c - expands preload/calls.def into the exported wrappers.
 *
 * Per row:
 *   - a pointer to the real function, initialised to a lazy resolver so a call that
 *     arrives before our constructor (from another library's constructor) still works;
 *     the constructor resolves every row eagerly so no dlsym runs later (dlsym is not
 *     async-signal-safe, a wrapper may run in a signal handler);
 *   - the exported wrapper: the fast path is one TLS load and a branch;
 *   - a noinline slow path that asks the core (guard/) for a verdict.
 */
#include "preload/sysinc.h"

#include "guard/guard.h"
#include "preload/callgen.h"
#include "preload/exempt.h"
#include "preload/preload.h"

/* ---- metadata for the core: names and base categories (ids: preload/preload.h) --- */
#define BG__BASECAT_CAT(c) BG_CAT_##c
#define BG__BASECAT_FDCAT(fd, c) BG_CAT_##c
#define BG__BASECAT_NRCAT() BG_CAT_io
#define BG_CALL(name, cat, flags, ...) {#name, BG__BASECAT_##cat, flags},
#define BG_SYSCALL(name, cat, flags, exempt) {"syscall(" #name ")", BG__BASECAT_##cat, flags},
const bg__callinfo_t bg__calltable[] = {
#include "preload/calls.def"
#include "preload/syscalls.def"
};
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_SYSCALL
const int bg__ncalltable = BG_NCALLS;
_Static_assert(sizeof bg__calltable / sizeof bg__calltable[0] == BG_NCALLS, "row count");

/* ---- dlvsym versions -------------------------------------------------------------- */
#define BG_CALL(...)
#undef BG_SYMVER
#define BG_SYMVER(name, ver) {#name, ver},
static const struct {
  const char *name, *version;
} versions[] = {
#include "preload/calls.def"
    {NULL, NULL}};
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_SYMVER

void *bg__resolve(const char *name) {
  for (int i = 0; versions[i].name; i++)
    if (!strcmp(versions[i].name, name)) {
      void *p = dlvsym(RTLD_NEXT, name, versions[i].version);
      if (p) return p;
    }
  return dlsym(RTLD_NEXT, name);
}

/* ---- real pointers with lazy resolvers (not for BG_CUSTOM rows) -------------------- */
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, ret, fail, n, params, exempt)                          \
  static ret bg__lazy_##name(BG_PARAMS(n, params));                                     \
  ret (*bg__real_##name)(BG_PARAMS(n, params)) = bg__lazy_##name;                        \
  static ret bg__lazy_##name(BG_PARAMS(n, params)) {                                    \
    void *p = bg__resolve(#name);                                                       \
    if (!p) bg__die_unresolved(#name);                                                  \
    __atomic_store_n(&bg__real_##name, (ret(*)(BG_PARAMS(n, params)))p, __ATOMIC_RELEASE); \
    return bg__real_##name(BG_ARGS(n, params));                                         \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

void bg__resolve_all(void) {
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, ret, fail, n, params, exempt)                          \
  {                                                                                     \
    void *p = bg__resolve(#name);                                                       \
    if (p) __atomic_store_n(&bg__real_##name, (ret(*)(BG_PARAMS(n, params)))p, __ATOMIC_RELEASE); \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
}

/* ---- offload: the BG_OFFLOAD branches live in preload/offload.c ------------------- */
#include "preload/offload.h"

/* ---- the wrappers --------------------------------------------------------------- */
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, ret, fail, n, params, exempt)                          \
  static __attribute__((noinline)) ret bg__slow_##name(uintptr_t caller                 \
                                                        BG_PARAMS_TAIL(n, params)) {    \
    if (bg__self.depth) return bg__real_##name(BG_ARGS(n, params));                      \
    bg__self.depth++;                                                                   \
    int bg_ex = (exempt);                                                               \
    int bg_cat = BG_CATEXPR(cat);                                                       \
    bg__self.depth--;                                                                   \
    if (!bg__self.guarded) return bg__real_##name(BG_ARGS(n, params));                   \
    bg__call_t bg_c;                                                                    \
    switch (bg__enter(&bg_c, BG_ID_##name, bg_cat, bg_ex, caller)) {                    \
    case BG_PASS:                                                                       \
      return bg__real_##name(BG_ARGS(n, params));                                       \
    case BG_RAISE:                                                                      \
      errno = EDEADLK;                                                                  \
      return fail;                                                                      \
    case BG_OFFLOAD:                                                                    \
      return bg__off_##name(&bg_c BG_ARGS_TAIL(n, params));                             \
    default: {                                                                          \
      ret bg_r = bg__real_##name(BG_ARGS(n, params));                                   \
      bg__leave(&bg_c);                                                                 \
      return bg_r;                                                                      \
    }                                                                                   \
    }                                                                                   \
  }                                                                                     \
  BG_EXPORT ret name(BG_PARAMS(n, params)) {                                            \
    if (BG_LIKELY(!bg__self.guarded) &&                                                 \
        !(((flags) & BG_F_LOOP) && bg__auto_enabled))                                   \
      return bg__real_##name(BG_ARGS(n, params));                                       \
    return bg__slow_##name((uintptr_t)__builtin_return_address(0) BG_ARGS_TAIL(n, params)); \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
