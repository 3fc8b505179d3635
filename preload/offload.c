/* offload.c - per-row offload code, expanded from preload/calls.def.  The wrappers
 * (preload/wrappers.c) call bg__off_NAME (declared in preload/offload.h) when the
 * core's verdict is BG_OFFLOAD, which it only gives to rows whose offload column is not
 * OFF(never) (guard/offload.c reads the column from the call table).
 *
 * For every generated row that offloads (OFF(thread), OFF(timer), URING(shape)):
 *   struct bg__args_NAME   the job header (guard/co.h), the result, the arguments
 *                          (BG_FIELDS: decayed types, so a va_list travels as the
 *                          pointer the callee receives anyway);
 *   bg__thunk_NAME         what a worker runs: the real call with the caller's errno and
 *                          h_errno in place before it, both captured after it;
 *   bg__off_NAME           the wrapper's BG_OFFLOAD branch: pack, hand over to
 *                          bg__offload_call (which yields the coroutine until done),
 *                          return the exact result, errno and h_errno.  A call
 *                          cancelled before it ran (exit, fork child) returns the
 *                          row's `fail` value (evaluated only then: it may have side
 *                          effects such as a stream's error flag) with ECANCELED.
 * OFF(timer) rows also get their timer converter (preload/offload_sleep.h) so they wait
 * on the scheduler instead of a worker; URING(shape) rows their io_uring form (the SQE
 * from preload/offload_uring.h, the result from the CQE), tried before a worker.
 *
 * Besides the column, two checks depend on the arguments and run here, on the caller's
 * thread, before anything moves: a stdio call whose FILE (or stdin/stdout) this thread
 * has locked (flockfile) runs in place, since a worker would wait for the lock forever;
 * so does a call on a signalfd, which reads the signals pending for the calling thread.
 * Process calls (system, popen) run with the caller's signal mask, which their children
 * inherit.  Rows written by hand (BG_CUSTOM) offload through BG_RUN:
 * preload/offload_custom.c.
 */
#include "preload/sysinc.h"

#include "guard/co.h"
#include "preload/callgen.h"
#include "preload/exempt.h"
#include "preload/offload.h"
#include "preload/preload.h"


/* The real functions (preload/wrappers.c). */
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  extern ret (*bg__real_##name)(BG_PARAMS(n, params));
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  BG_OFF_IF_WORKER(off)(BG__ROW_JOB(name, ret, n, params))
#define BG__ROW_JOB(name, ret, n, params)                                                \
  struct bg__args_##name {                                                              \
    bg__job_t bg_job;                                                                   \
    ret bg_ret;                                                                         \
    BG_FIELDS(n, params)                                                                \
  };                                                                                    \
  static void bg__thunk_##name(bg__job_t *bg_j) {                                       \
    struct bg__args_##name *bg_a = (struct bg__args_##name *)bg_j;                      \
    (void)bg_a;                                                                         \
    h_errno = bg_j->herr;                                                               \
    errno = bg_j->err;                                                                  \
    bg_a->bg_ret = bg__real_##name(BG_UNPACK(n, bg_a, params));                         \
    bg_j->err = errno;                                                                  \
    bg_j->herr = h_errno;                                                               \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

#include "preload/offload_sleep.h"
#include "preload/offload_uring.h"

/* URING(shape) rows: the SQE from the packed arguments, and the result from the CQE
 * (the call's return value, or -1 with errno). */
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  BG_OFF_IF_URING(off)(BG__ROW_URING(name, off, ret, n, params))
#define BG__ROW_URING(name, off, ret, n, params)                                         \
  static int bg__prep_##name(bg__job_t *bg_j, struct io_uring_sqe *bg_sqe) {            \
    struct bg__args_##name *bg_a = (struct bg__args_##name *)bg_j;                      \
    return BG_URING_PREP(off)(bg_sqe, BG_UNPACK(n, bg_a, params));                      \
  }                                                                                     \
  static void bg__ufin_##name(bg__job_t *bg_j, int bg_res) {                            \
    struct bg__args_##name *bg_a = (struct bg__args_##name *)bg_j;                      \
    bg_a->bg_ret = bg_res < 0 ? (ret)-1 : (ret)bg_res;                                  \
  }                                                                                     \
  static const bg__uring_op_t bg__uop_##name = {bg__prep_##name, bg__ufin_##name};
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

void bg__offload_row(bg__call_t *c, bg__job_t *j) {
  int e = errno;
  if (j->veto && j->veto(j)) { /* run in place, measured as report would */
    j->err = e;
    c->t0 = bg__now_ns();
    j->run(j);
    bg__leave(c);
    return;
  }
  const bg__callinfo_t *ci = bg__callinfo(j->id);
  if (ci && ci->category == BG_CAT_proc) {
    pthread_sigmask(SIG_BLOCK, NULL, &j->mask);
    j->has_mask = 1;
  }
  errno = e;
  bg__offload_call(c, j);
}

/* glibc's FILE lock (sysdeps/nptl/stdio-lock.h): owner is the locking thread's
 * pthread_self().  Streams with _IO_USER_LOCK (fsetlocking BYCALLER) have none. */
struct bg__io_lock {
  int lock, cnt;
  void *owner;
};
int bg__file_owned(FILE *f) {
  if (!f || (f->_flags & _IO_USER_LOCK) || !f->_lock) return 0;
  struct bg__io_lock *l = (struct bg__io_lock *)f->_lock;
  return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == (void *)pthread_self();
}
/* A stdio row names its stream `fp`; rows without one (getchar, puts...) see this
 * null `fp` and check stdin and stdout instead. */
static FILE *const fp;
static inline int bg__stdio_owned(FILE *f) {
  return f ? bg__file_owned(f) : bg__file_owned(stdin) || bg__file_owned(stdout);
}

/* The first argument of a row (its fd for BG_F_FD rows), as an int. */
#define BG__FIRST_ARG(n, params) ((int)(intptr_t)BG__EXPAND(BG__FA##n params))
#define BG__FA0() 0
#define BG__FA1(t, a, ...) (a)
#define BG__FA2 BG__FA1
#define BG__FA3 BG__FA1
#define BG__FA4 BG__FA1
#define BG__FA5 BG__FA1
#define BG__FA6 BG__FA1
#define BG__FA7 BG__FA1
#define BG__FA8 BG__FA1

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow" /* a row's `fp` parameter hides the one above */
#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  BG_OFF_IF_WORKER(off)(BG__ROW_OFF(name, cat, flags, off, ret, fail, n, params))
#define BG__ROW_OFF(name, cat, flags, off, ret, fail, n, params)                         \
  ret bg__off_##name(bg__call_t *bg_c BG_PARAMS_TAIL(n, params)) {                     \
    if ((BG_BASECAT(cat) == BG_CAT_stdio && bg__stdio_owned(fp)) ||                   \
        (((flags) & BG_F_FD) && bg__fd_thread_bound(BG__FIRST_ARG(n, params)))) {       \
      bg_c->t0 = bg__now_ns();                                                          \
      ret bg_r = bg__real_##name(BG_ARGS(n, params));                                   \
      bg__leave(bg_c);                                                                  \
      return bg_r;                                                                      \
    }                                                                                   \
    struct bg__args_##name bg_a = {{.run = bg__thunk_##name,                            \
                                    BG_OFF_IF_TIMER(off)(.timer = bg__timer_##name, )   \
                                    BG_OFF_IF_URING(off)(.uop = &bg__uop_##name, )      \
                                    .id = BG_ID_##name,                                 \
                                    .herr = h_errno},                                   \
                                   (ret)0 BG_ARGS_TAIL(n, params)};                     \
    bg__offload_row(bg_c, &bg_a.bg_job);                                                \
    h_errno = bg_a.bg_job.herr;                                                         \
    if (BG_UNLIKELY(bg_a.bg_job.cancelled)) {                                           \
      bg_a.bg_ret = (fail); /* may set the stream's error flag, h_errno... */           \
      bg_a.bg_job.err = ECANCELED;                                                      \
    }                                                                                   \
    errno = bg_a.bg_job.err;                                                            \
    return bg_a.bg_ret;                                                                 \
  }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
#pragma GCC diagnostic pop
