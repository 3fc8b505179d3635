/* offload_custom.c - which hand-written wrappers offload, and how their call is made
 * on a worker.
 *
 * A hand-written wrapper (preload/custom*.c) makes its real call inside BG_RUN; with
 * the offload verdict BG_RUN packs the row's arguments (preload/offload_custom.h) and
 * a worker runs the row's thunk below, which repeats that real call: the same real
 * function, the v-variant for the printf/scanf families (the va_list travels by
 * pointer and is consumed exactly as the direct call would), the same arguments.
 * The wrapper's own bookkeeping after BG_RUN (fd flags of a new fd, popen tracking)
 * still runs once, on the coroutine's thread.
 *
 * Which rows have a thunk is the offload column of calls.def (OFF(thread)); the build
 * fails when the two disagree (preload/offload_custom.h).  Offloaded: accept family,
 * the open/creat/fopen families (a FIFO or a network file system can block for good),
 * fcntl (F_SETLKW), popen/pclose (pclose waits for the child), fclose (flush), and the
 * printf/scanf families on streams and fds.  Stream rows first check that this thread
 * does not hold the stream's lock (flockfile): a worker would wait for it forever, so
 * such a call runs in place.  OFF(never): sync() (void; system-wide and short),
 * syscall() (dispatches any number: the thread-bound ones such as futex waits on robust
 * lists, rt_sigtimedwait, must stay).
 */
#include "preload/sysinc.h"

#include "guard/co.h"
#include "preload/custom_gen.h"
#include "preload/custom_types.h"

/* THUNK(row, ret, call): the worker side; `a` is the packed row. */
#define THUNK(row, ret, call)                                                            \
  void bg__cthunk_##row(bg__job_t *bg_j) {                                               \
    struct bg__cargs_##row *a = (struct bg__cargs_##row *)bg_j;                          \
    h_errno = bg_j->herr;                                                                \
    errno = bg_j->err;                                                                   \
    *(ret *)a->bg_ret = (call);                                                          \
    bg_j->err = errno;                                                                   \
    bg_j->herr = h_errno;                                                                \
  }
/* VETO(row, stream): the stream whose lock decides (checked on the caller's thread). */
#define VETO(row, stream)                                                                \
  int bg__cveto_##row(bg__job_t *bg_j) {                                                 \
    struct bg__cargs_##row *a = (struct bg__cargs_##row *)bg_j;                          \
    (void)a;                                                                             \
    return bg__file_owned(stream);                                                       \
  }

/* ---- sockets and files ------------------------------------------------------------- */
BG_REAL_FN(accept_fn, accept)
BG_REAL_FN(accept4_fn, accept4)
THUNK(accept, int, bg__get_accept()(a->fd, a->addr, a->len))
THUNK(accept4, int, bg__get_accept4()(a->fd, a->addr, a->len, a->flags))

#define OPEN3(name)                                                                      \
  BG_REAL_FN(open_fn, name)                                                              \
  THUNK(name, int, bg__get_##name()(a->path, a->flags, a->mode))
#define OPEN2(name)                                                                      \
  BG_REAL_FN(open2_fn, name)                                                             \
  THUNK(name, int, bg__get_##name()(a->path, a->flags))
#define OPENAT4(name)                                                                    \
  BG_REAL_FN(openat_fn, name)                                                            \
  THUNK(name, int, bg__get_##name()(a->dirfd, a->path, a->flags, a->mode))
#define OPENAT3(name)                                                                    \
  BG_REAL_FN(openat2_fn, name)                                                           \
  THUNK(name, int, bg__get_##name()(a->dirfd, a->path, a->flags))
#define CREAT(name)                                                                      \
  BG_REAL_FN(creat_fn, name)                                                             \
  THUNK(name, int, bg__get_##name()(a->path, a->mode))
#define FCNTL(name)                                                                      \
  BG_REAL_FN(fcntl_fn, name)                                                             \
  THUNK(name, int, bg__get_##name()(a->fd, a->cmd, a->arg))
OPEN3(open)
OPEN3(open64)
OPEN3(__open)
OPEN3(__open64)
OPEN2(__open_2)
OPEN2(__open64_2)
OPENAT4(openat)
OPENAT4(openat64)
OPENAT3(__openat_2)
OPENAT3(__openat64_2)
CREAT(creat)
CREAT(creat64)
FCNTL(fcntl)
FCNTL(fcntl64)
FCNTL(__fcntl)

/* ---- streams -------------------------------------------------------------------------- */
#define FOPEN(name)                                                                      \
  BG_REAL_FN(fopen_fn, name)                                                             \
  THUNK(name, FILE *, bg__get_##name()(a->path, a->mode))
#define FREOPEN(name)                                                                    \
  BG_REAL_FN(freopen_fn, name)                                                           \
  THUNK(name, FILE *, bg__get_##name()(a->path, a->mode, a->fp))                         \
  VETO(name, a->fp)
FOPEN(fopen)
FOPEN(fopen64)
FREOPEN(freopen)
FREOPEN(freopen64)

BG_REAL_FN(fclose_fn, fclose)
THUNK(fclose, int, bg__get_fclose()(a->fp))
VETO(fclose, a->fp)
BG_REAL_FN(popen_fn, popen)
THUNK(popen, FILE *, bg__get_popen()(a->command, a->type))
BG_REAL_FN(fclose_fn, pclose)
THUNK(pclose, int, bg__get_pclose()(a->fp))
VETO(pclose, a->fp)

BG_REAL_FN(vprintf_fn, vprintf)
BG_REAL_FN(vfprintf_fn, vfprintf)
BG_REAL_FN(vprintf_chk_fn, __vprintf_chk)
BG_REAL_FN(vfprintf_chk_fn, __vfprintf_chk)
BG_REAL_FN(vdprintf_fn, vdprintf)
BG_REAL_FN(vdprintf_chk_fn, __vdprintf_chk)
THUNK(printf, int, bg__get_vprintf()(a->fmt, a->ap))
VETO(printf, stdout)
THUNK(fprintf, int, bg__get_vfprintf()(a->fp, a->fmt, a->ap))
VETO(fprintf, a->fp)
THUNK(__printf_chk, int, bg__get___vprintf_chk()(a->flag, a->fmt, a->ap))
VETO(__printf_chk, stdout)
THUNK(__fprintf_chk, int, bg__get___vfprintf_chk()(a->fp, a->flag, a->fmt, a->ap))
VETO(__fprintf_chk, a->fp)
THUNK(dprintf, int, bg__get_vdprintf()(a->fd, a->fmt, a->ap))
THUNK(__dprintf_chk, int, bg__get___vdprintf_chk()(a->fd, a->flag, a->fmt, a->ap))

BG_REAL_FN(vscanf_fn, vscanf)
BG_REAL_FN(vfscanf_fn, vfscanf)
BG_REAL_FN(vscanf_fn, __isoc99_vscanf)
BG_REAL_FN(vfscanf_fn, __isoc99_vfscanf)
THUNK(scanf, int, bg__get_vscanf()(a->fmt, a->ap))
VETO(scanf, stdin)
THUNK(fscanf, int, bg__get_vfscanf()(a->fp, a->fmt, a->ap))
VETO(fscanf, a->fp)
THUNK(__isoc99_scanf, int, bg__get___isoc99_vscanf()(a->fmt, a->ap))
VETO(__isoc99_scanf, stdin)
THUNK(__isoc99_fscanf, int, bg__get___isoc99_vfscanf()(a->fp, a->fmt, a->ap))
VETO(__isoc99_fscanf, a->fp)
