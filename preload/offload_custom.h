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
#define BG__CTHUNK_DECL_URING(shape) BG__CTHUNK_DECL_thread
#define BG__CTHUNK_DECL_thread(name) void bg__cthunk_##name(bg__job_t *) BG_HIDDEN;
#define BG__CTHUNK_DECL_never(name)                                                      \
  static void (*const bg__cthunk_##name)(bg__job_t *) __attribute__((unused)) = 0;
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* URING(shape) custom rows: their io_uring form (bg__cuop_NAME; a null pointer for the
 * other rows).  The result goes where the wrapper's bg_ret points. */
#include "preload/offload_uring.h"
#define BG_CALL(...)
#define BG_CUSTOM(name, cat, flags, off, ret, fail, n, params, exempt)                   \
  BG__CUOP_##off(name, off, ret, n, params)
#define BG__CUOP_OFF(p) BG__CUOP_NONE
#define BG__CUOP_NONE(name, off, ret, n, params)                                         \
  static const bg__uring_op_t *const bg__cuop_##name __attribute__((unused)) = 0;
#define BG__CUOP_URING(shape) BG__CUOP_ROW
#define BG__CUOP_ROW(name, off, ret, n, params)                                          \
  static inline int bg__cprep_##name(bg__job_t *bg_j, struct io_uring_sqe *bg_sqe) {     \
    struct bg__cargs_##name *bg_a = (struct bg__cargs_##name *)bg_j;                     \
    return BG_URING_PREP(off)(bg_sqe, BG_UNPACK(n, bg_a, params));                       \
  }                                                                                      \
  static inline void bg__cufin_##name(bg__job_t *bg_j, int bg_res) {                    \
    struct bg__cargs_##name *bg_a = (struct bg__cargs_##name *)bg_j;                     \
    *(ret *)bg_a->bg_ret = bg_res < 0 ? (ret)-1 : (ret)bg_res;                           \
  }                                                                                      \
  static const bg__uring_op_t bg__cuop_##name##_ __attribute__((unused)) = {             \
      bg__cprep_##name, bg__cufin_##name};                                               \
  static const bg__uring_op_t *const bg__cuop_##name __attribute__((unused)) =           \
      &bg__cuop_##name##_;
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* BG_RUN's BG_OFFLOAD branch: packs, runs on a worker, sets errno (and h_errno) and
 * stores the result in *r (the row's fail value if the call was cancelled). */
#define BG__RUN_OFFLOAD(row, c, r, ...)                                                  \
  do {                                                                                   \
    struct bg__cargs_##row bg_a_ = {                                                     \
        {.run = bg__cthunk_##row, .veto = bg__cveto_##row, .id = BG_ID_##row,             \
         .herr = h_errno, .uop = bg__cuop_##row},                                         \
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
