/* exempt.h - argument tests used in the exempt column of preload/calls.def.
 *
 * Each answers "can this call block with these arguments?" from the arguments alone
 * where possible (a zero timeout, MSG_DONTWAIT, WNOHANG...), else from what the shim
 * knows about the fd (guard/fdcache.c).  A call that fails at once because an argument
 * is invalid (bad fd, malformed timespec) cannot block either, so it is exempt too.
 * They run only on guarded threads, with bg__self.depth raised, and never change errno.
 * docs/exemptions.md explains each rule.
 */
#ifndef BG_PRELOAD_EXEMPT_H
#define BG_PRELOAD_EXEMPT_H
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "guard/guard.h"

/* A relative timeout that does not wait: zero, or invalid (EINVAL at once).  NULL
 * means "no timeout" (wait forever) for every call that takes one. */
static inline int bg__ts_nowait(const struct timespec *ts) {
  return ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L ||
                (ts->tv_sec == 0 && ts->tv_nsec == 0));
}

static inline int bg__tv_nowait(const struct timeval *tv) {
  return tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000L ||
                (tv->tv_sec == 0 && tv->tv_usec == 0));
}

/* An absolute deadline on clock clk that has already passed (or is invalid). */
static inline int bg__abs_past(clockid_t clk, const struct timespec *ts) {
  if (!ts) return 0;
  if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L || ts->tv_sec < 0) return 1;
  int saved = errno;
  struct timespec now;
  int r = clock_gettime(clk, &now);
  errno = saved;
  if (r != 0) return 0;
  return ts->tv_sec < now.tv_sec || (ts->tv_sec == now.tv_sec && ts->tv_nsec <= now.tv_nsec);
}

/* pthread_cond_timedwait measures against the condvar's clock (REALTIME or
 * MONOTONIC, not visible through the public API): exempt only when past on both. */
static inline int bg__abs_past_any(const struct timespec *ts) {
  return bg__abs_past(CLOCK_MONOTONIC, ts) && bg__abs_past(CLOCK_REALTIME, ts);
}

/* The inline cache test first: an event loop's writes to non-blocking sockets then never
 * leave the wrapper's slow path (docs/performance.md). */
static inline int bg__wr_nonblock(int fd) {
  return bg__fd_nonblock_known(fd) || bg__fd_write_exempt(fd) || bg__fd_nonblock(fd);
}

static inline int bg__sock_nonblock(int fd, int flags) {
  return (flags & MSG_DONTWAIT) || bg__fd_nonblock(fd);
}

/* One end of splice/tee: SPLICE_F_NONBLOCK makes the pipe end non-blocking; the other
 * end blocks unless the fd itself has O_NONBLOCK (splice(2)). */
static inline int bg__splice_nonblock(int fd, unsigned flags) {
  return bg__fd_nonblock(fd) || ((flags & 2u /* SPLICE_F_NONBLOCK */) && bg__fd_is_pipe(fd));
}

/* sem_wait returns at once when the count is positive. */
static inline int bg__sem_ready(sem_t *sem) {
  int v = 0, saved = errno;
  int ok = sem && sem_getvalue(sem, &v) == 0 && v > 0;
  errno = saved;
  return ok;
}

/* SysV semop: an increment, or IPC_NOWAIT, never waits. */
static inline int bg__semop_nowait(const struct sembuf *sops, size_t n) {
  if (!sops) return 1;
  for (size_t i = 0; i < n; i++)
    if (sops[i].sem_op <= 0 && !(sops[i].sem_flg & IPC_NOWAIT)) return 0;
  return 1;
}

/* getaddrinfo/getnameinfo that never consult NSS (no file, no DNS). */
int bg__gai_numeric(const char *node, const char *service, const struct addrinfo *hints);
int bg__ni_numeric(const char *host, socklen_t hostlen, const char *serv, socklen_t servlen,
                   int flags);

/* syscall(): exemption of the dispatched number (preload/custom_syscall.c). */
int bg__syscall_exempt(uintptr_t caller, long nr, long a1, long a2, long a3, long a4, long a5,
                       long a6);

/* ---- stdio (preload/exempt_stdio.c) ------------------------------------------------ */
/* The fd behind a stream, or -1.  glibc initialises _fileno only for file-backed streams
 * (_IO_IS_FILEBUF: fopen, fdopen, popen, and fopencookie, which sets -1); an
 * open_memstream/fmemopen stream leaves it as malloc left it, so reading it there reads
 * garbage and would make the fd cache forget some unrelated real fd (found by memcheck). */
#define BG_IO_IS_FILEBUF 0x2000
static inline int bg__stream_fd(const FILE *fp) {
  return fp && (fp->_flags & BG_IO_IS_FILEBUF) ? fp->_fileno : -1;
}
int bg__file_fd_exempt(FILE *fp, int writing);  /* the stream's fd cannot block */
int bg__file_rd(FILE *fp, size_t size, size_t nmemb); /* buffer holds size*nmemb bytes */
int bg__file_gets(FILE *fp, int n);              /* buffer holds a line or n-1 bytes */
int bg__file_delim(FILE *fp, int delim);         /* buffer holds delim */
int bg__file_wr(FILE *fp, const void *p, size_t size, size_t nmemb); /* fits the buffer */
int bg__file_wr_str(FILE *fp, const char *s, int newline);
int bg__file_wr_char(FILE *fp, int c);
int bg__file_flush_exempt(FILE *fp);             /* nothing to write */
int bg__file_close_exempt(FILE *fp);             /* nothing to write, not a popen stream */
int bg__file_printf(FILE *fp, const char *fmt, va_list ap); /* formatted text fits */
int bg__file_err(FILE *fp);                      /* raise: set the error indicator */
void bg__popen_track(FILE *fp, int on);          /* popen streams: fclose waits */
#endif
