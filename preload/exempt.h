/* exempt.h - argument tests used in the exempt column of preload/calls.def.
 *
 * Each answers "can this call block with these arguments?" without a syscall where
 * possible.  They run only on guarded threads.
 */
#ifndef BG_PRELOAD_EXEMPT_H
#define BG_PRELOAD_EXEMPT_H
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "guard/guard.h"

static inline int bg__ts_zero(const struct timespec *ts) {
  return ts && ts->tv_sec == 0 && ts->tv_nsec == 0;
}

static inline int bg__tv_zero(const struct timeval *tv) {
  return tv && tv->tv_sec == 0 && tv->tv_usec == 0;
}

/* A stdio call is exempt when its stream's fd cannot block (O_NONBLOCK, or a write to
 * an exempt fd such as stderr), or when the stream's buffer can serve it without a
 * syscall (glibc's FILE layout is public in <bits/types/struct_FILE.h>). */
static inline int bg__file_exempt(FILE *fp, int writing) {
  if (!fp) return 1;
  int fd = fileno_unlocked(fp);
  if (fd < 0) return 1; /* memory stream (fmemopen, open_memstream) */
  if (writing && bg__fd_write_exempt(fd)) return 1;
  return bg__fd_nonblock(fd);
}
#endif
