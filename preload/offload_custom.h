/* offload_custom.h - the offload side of the hand-written wrappers (BG_RUN).
 *
 * For every BG_CUSTOM row: struct bg__cargs_NAME, the job header followed by where
 * the result goes and the row's arguments (decayed types: a va_list travels as the
 * pointer the v-function receives).  BG_RUN packs the wrapper's arguments into it
 * when the verdict is BG_OFFLOAD.  The thunk that makes the real call on a worker
 * (bg__cthunk_NAME) and, for stream calls, the check that this thread does not hold
 * the stream's lock (bg__cveto_NAME) are written by hand in preload/offload_custom.c.
 * The row's offload column says which rows have a thunk, and the build checks it
 * both ways: an OFF(thread) row's thunk is a hidden symbol the shim does not link
 * without; an OFF(never) row's is a null constant here, which a thunk written for it
 * would redefine.  (The core never gives OFF(never) rows the offload verdict, so the
 * null thunk is never run.)
 */
#ifndef BG_PRELOAD_OFFLOAD_CUSTOM_H
#define BG_PRELOAD_OFFLOAD_CUSTOM_H
#include "guard/co.h"
#include "preload/offload.h"

#define BG_CALL(...)
#define BG_CUSTOM(name, cat, flags, off, ret, fail, n, params, exempt)                   \
  struct bg__cargs_##name {                                                              \
    bg__job_t bg_job;                                                                    \
    void *bg_ret;                                                                        \
    BG_FIELDS(n, params)                                                                 \
  };                                                                                     \
  BG__CTHUNK_DECL_##off(name)                                                            \
  extern int bg__cveto_##name(bg__job_t *) __attribute__((weak, visibility("hidden")));
#define BG__CTHUNK_DECL_OFF(p) BG__CTHUNK_DECL_##p
#define BG__CTHUNK_DECL_thread(name) void bg__cthunk_##name(bg__job_t *) BG_HIDDEN;
#define BG__CTHUNK_DECL_never(name)                                                      \
  static void (*const bg__cthunk_##name)(bg__job_t *) __attribute__((unused)) = 0;
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* BG_RUN's BG_OFFLOAD branch: packs, runs on a worker, sets errno (and h_errno) and
 * stores the result in *r (the row's fail value if the call was cancelled). */
#define BG__RUN_OFFLOAD(row, c, r, ...)                                                  \
  do {                                                                                   \
    struct bg__cargs_##row bg_a_ = {                                                     \
        {.run = bg__cthunk_##row, .veto = bg__cveto_##row, .id = BG_ID_##row, .herr = h_errno}, \
        (r), ##__VA_ARGS__};                                                             \
    bg__offload_row((c), &bg_a_.bg_job);                                                 \
    h_errno = bg_a_.bg_job.herr;                                                         \
    if (BG_UNLIKELY(bg_a_.bg_job.cancelled)) {                                           \
      *(r) = bg__cf_##row(__VA_ARGS__);                                                  \
      bg_a_.bg_job.err = ECANCELED;                                                      \
    }                                                                                    \
    errno = bg_a_.bg_job.err;                                                            \
  } while (0)
#endif
