/* offload_gen.h - per-row offload code, expanded from preload/calls.def into
 * preload/wrappers.c (included there, after the real pointers and row ids).
 *
 * For every row with a generated wrapper:
 *   struct bg__args_NAME   the job header (guard/co.h), the result, the arguments
 *                          (BG_FIELDS);
 *   bg__thunk_NAME         what a worker runs: the real call with the caller's errno
 *                          in place before it, the resulting errno captured after it;
 *   bg__off_NAME           the wrapper's BG_OFFLOAD branch: pack, hand over to
 *                          bg__offload_call (which yields the coroutine until done),
 *                          return the exact result and errno.  The result starts as the
 *                          row's `fail` value, which is what a call cancelled before it
 *                          ran (process exit, fork child) returns, with ECANCELED.
 * Sleep rows also get a timer converter (preload/offload_sleep.h) so they wait on the
 * scheduler instead of a worker.  Rows written by hand (BG_CUSTOM) opt in themselves.
 */
#ifndef BG_OFFLOAD_GEN_H
#define BG_OFFLOAD_GEN_H
#include "guard/co.h"

#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, ret, fail, n, params, exempt)                          \
  struct bg__args_##name {                                                              \
    bg__job_t bg_job;                                                                   \
    ret bg_ret;                                                                         \
    BG_FIELDS(n, params)                                                                \
  };                                                                                    \
  static void bg__thunk_##name(bg__job_t *bg_j) {                                       \
    struct bg__args_##name *bg_a = (struct bg__args_##name *)bg_j;                      \
    errno = bg_j->err;                                                                  \
    bg_a->bg_ret = bg__real_##name(BG_UNPACK(n, bg_a, params));                         \
    bg_j->err = errno;                                                                  \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

#include "preload/offload_sleep.h"

#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, ret, fail, n, params, exempt)                          \
  static __attribute__((noinline)) ret bg__off_##name(bg__call_t *bg_c,                 \
                                                       BG_PARAMS(n, params)) {          \
    struct bg__args_##name bg_a = {                                                     \
        {.run = bg__thunk_##name, .timer = bg__sleep_timer(BG_ID_##name), .id = BG_ID_##name}, \
        (fail), BG_ARGS(n, params)};                                                    \
    bg__offload_call(bg_c, &bg_a.bg_job);                                               \
    errno = bg_a.bg_job.err;                                                            \
    return bg_a.bg_ret;                                                                 \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* Tells the core which rows implement the BG_OFFLOAD verdict. */
__attribute__((constructor)) static void bg__offload_rows_enable(void) {
#define BG_CUSTOM(...)
#define BG_CALL(name, ...) bg__offload_row_enable(BG_ID_##name);
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
}
#endif
