/* custom_stdio.c - hand-written stdio wrappers: the variadic printf/scanf entry points,
 * the file-opening ones, fclose and popen/pclose.
 *
 * Each variadic wrapper forwards its va_list to the v-form glibc itself uses for that
 * entry point (printf → vprintf, __printf_chk → __vprintf_chk, __isoc99_fscanf →
 * __isoc99_vfscanf...), so the conversion rules (ISO vs GNU scanf, fortify checks) are
 * exactly those the program was compiled for.  fclose and pclose forget the stream's fd
 * in the fd cache; popen streams are remembered because fclose() on one waits for the
 * child (glibc runs pclose's logic), which makes it a proc-like blocking call.
 */
#include "preload/custom_gen.h"
#include "preload/custom_types.h"

BG_REAL_FN(vprintf_fn, vprintf)
BG_REAL_FN(vfprintf_fn, vfprintf)
BG_REAL_FN(vprintf_chk_fn, __vprintf_chk)
BG_REAL_FN(vfprintf_chk_fn, __vfprintf_chk)
BG_REAL_FN(vdprintf_fn, vdprintf)
BG_REAL_FN(vdprintf_chk_fn, __vdprintf_chk)
BG_REAL_FN(vscanf_fn, vscanf)
BG_REAL_FN(vfscanf_fn, vfscanf)
BG_REAL_FN(vscanf_fn, __isoc99_vscanf)
BG_REAL_FN(vfscanf_fn, __isoc99_vfscanf)

/* ---- printf family -------------------------------------------------------------- */
BG_EXPORT int printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(printf, bg__get_vprintf()(fmt, ap), fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int fprintf(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(fprintf, bg__get_vfprintf()(fp, fmt, ap), fp, fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int __printf_chk(int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(__printf_chk, bg__get___vprintf_chk()(flag, fmt, ap), flag, fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(__fprintf_chk, bg__get___vfprintf_chk()(fp, flag, fmt, ap), fp, flag, fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int dprintf(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(dprintf, bg__get_vdprintf()(fd, fmt, ap), fd, fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(__dprintf_chk, bg__get___vdprintf_chk()(fd, flag, fmt, ap), fd, flag, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- scanf family --------------------------------------------------------------- */
BG_EXPORT int scanf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(scanf, bg__get_vscanf()(fmt, ap), fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int fscanf(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(fscanf, bg__get_vfscanf()(fp, fmt, ap), fp, fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int __isoc99_scanf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(__isoc99_scanf, bg__get___isoc99_vscanf()(fmt, ap), fmt, ap);
  va_end(ap);
  return r;
}

BG_EXPORT int __isoc99_fscanf(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = BG_RUN(__isoc99_fscanf, bg__get___isoc99_vfscanf()(fp, fmt, ap), fp, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- opening streams: category file ------------------------------------------------ */
#define BG_FOPEN(name)                                                                  \
  BG_REAL_FN(fopen_fn, name)                                                            \
  BG_EXPORT FILE *name(const char *path, const char *mode) {                            \
    FILE *fp = BG_RUN(name, bg__get_##name()(path, mode), path, mode);                   \
    if (fp) bg__fd_created(bg__stream_fd(fp), 0); /* fopen never sets O_NONBLOCK */           \
    return fp;                                                                          \
  }
BG_FOPEN(fopen)
BG_FOPEN(fopen64)

/* freopen closes the stream's old fd and opens a new one (maybe the same number). */
#define BG_FREOPEN(name)                                                                \
  BG_REAL_FN(freopen_fn, name)                                                          \
  BG_EXPORT FILE *name(const char *path, const char *mode, FILE *fp) {                  \
    int old = bg__stream_fd(fp);                                                    \
    FILE *r = BG_RUN(name, bg__get_##name()(path, mode, fp), path, mode, fp);            \
    if (old >= 0) bg__fd_forget(old);                                                   \
    if (r) bg__fd_created(bg__stream_fd(r), 0);                                               \
    return r;                                                                           \
  }
BG_FREOPEN(freopen)
BG_FREOPEN(freopen64)

/* ---- closing streams ------------------------------------------------------------- */
BG_REAL_FN(fclose_fn, fclose)
BG_EXPORT int fclose(FILE *fp) {
  int fd = bg__stream_fd(fp);
  int r = BG_RUN(fclose, bg__get_fclose()(fp), fp);
  /* The stream is gone whatever r says (fclose frees it even on error). */
  bg__popen_track(fp, 0);
  if (fd >= 0) bg__fd_forget(fd);
  return r;
}

BG_REAL_FN(popen_fn, popen)
BG_EXPORT FILE *popen(const char *command, const char *type) {
  FILE *fp = BG_RUN(popen, bg__get_popen()(command, type), command, type);
  if (fp) {
    bg__fd_forget(bg__stream_fd(fp));
    bg__popen_track(fp, 1);
  }
  return fp;
}

BG_REAL_FN(fclose_fn, pclose)
BG_EXPORT int pclose(FILE *fp) {
  int fd = bg__stream_fd(fp);
  int r = BG_RUN(pclose, bg__get_pclose()(fp), fp);
  bg__popen_track(fp, 0);
  if (fd >= 0) bg__fd_forget(fd);
  return r;
}
