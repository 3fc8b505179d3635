/* offload.h - the BG_OFFLOAD branch of the wrappers (preload/offload.c).
 * bg__off_NAME(call, args...) runs a generated row's call on a worker (or as a
 * timer) while the calling coroutine yields, and returns its exact result with errno
 * set; it exists for the rows whose offload column is not OFF(never).  Hand-written
 * wrappers go through BG_RUN and preload/offload_custom.h. */
#ifndef BG_PRELOAD_OFFLOAD_H
#define BG_PRELOAD_OFFLOAD_H
#include "guard/guard.h"
#include "preload/callgen.h"

#define BG_CUSTOM(...)
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  BG_OFF_IF_WORKER(off)(ret bg__off_##name(bg__call_t *bg_c BG_PARAMS_TAIL(n, params));)
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM

/* Runs a packed row on a worker (guard's bg__offload_call), after the shim's own
 * checks: j->veto (run in place instead), the caller's signal mask for process
 * calls.  On return j->err / j->herr / j->cancelled say how it went. */
typedef struct bg__job bg__job_t;
void bg__offload_row(bg__call_t *c, bg__job_t *j);
/* This thread holds fp's stdio lock (flockfile): a worker would wait for it. */
struct _IO_FILE;
int bg__file_owned(struct _IO_FILE *fp);
#endif
