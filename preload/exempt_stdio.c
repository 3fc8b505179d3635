/* exempt_stdio.c - when a stdio call cannot block, and argument tests that need more
 * than an inline expression (getaddrinfo/getnameinfo numeric forms).
 *
 * A stdio call makes no syscall when its stream's buffer can serve it: a read whose
 * bytes (or whose line) are already buffered, a write that fits the buffer without
 * triggering a flush.  glibc's struct _IO_FILE is public (<bits/types/struct_FILE.h>)
 * and its flag bits have been ABI-stable for 20 years, so we look at the buffer
 * pointers, under the stream's own lock (ftrylockfile: if another thread holds it, the
 * call would wait for that lock, so it is not exempt).  The tests mirror glibc 2.36
 * libio/fileops.c: _IO_new_file_xsputn (writes), _IO_getc/_IO_file_xsgetn (reads).
 * When in doubt the answer is "may block": a false violation is visible and can be
 * allowed, a missed one is not.  docs/exemptions.md has the rules in prose.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "preload/exempt.h"

/* glibc libio.h flag bits (not in the public header, stable ABI). */
#define IO_UNBUFFERED 0x0002
#define IO_NO_READS 0x0004
#define IO_NO_WRITES 0x0008
#define IO_EOF_SEEN 0x0010
#define IO_ERR_SEEN 0x0020
#define IO_LINE_BUF 0x0200
#define IO_CURRENTLY_PUTTING 0x0800
/* Bytes a fresh stream surely buffers: glibc allocates st_blksize (4096 for pipes and
 * most file systems, BUFSIZ when unknown); 512 leaves room for odd devices. */
#define FRESH_MAX 512

int bg__file_fd_exempt(FILE *fp, int writing) {
  if (!fp) return 1; /* the real call faults or fails; nothing to wait for */
  int fd = bg__stream_fd(fp);
  if (fd < 0) return 1; /* memory or cookie stream: its own calls are wrapped */
  if (writing && bg__fd_write_exempt(fd)) return 1;
  return bg__fd_nonblock(fd);
}

/* Bytes readable from the buffer without a syscall; -1 when the call fails or
 * returns at once without reading (read-only flags, sticky EOF since glibc 2.28). */
static long read_avail(FILE *fp) {
  if (fp->_flags & (IO_NO_READS | IO_EOF_SEEN | IO_ERR_SEEN)) return -1;
  if (fp->_flags & IO_CURRENTLY_PUTTING) return 0;
  if (!fp->_IO_read_ptr || fp->_IO_read_end <= fp->_IO_read_ptr) return 0;
  return (long)(fp->_IO_read_end - fp->_IO_read_ptr);
}

/* Runs test(fp) under the stream lock; "may block" when someone else holds it. */
#define WITH_LOCK(fp, expr)                                                              \
  ({                                                                                     \
    int r_ = 0;                                                                          \
    if (ftrylockfile(fp) == 0) {                                                         \
      r_ = (expr);                                                                       \
      funlockfile(fp);                                                                   \
    }                                                                                    \
    r_;                                                                                  \
  })

int bg__file_rd(FILE *fp, size_t size, size_t nmemb) {
  if (bg__file_fd_exempt(fp, 0)) return 1;
  size_t need;
  if (__builtin_mul_overflow(size, nmemb, &need)) return 0;
  if (need == 0) return 1;
  return WITH_LOCK(fp, ({
                     long a = read_avail(fp);
                     a < 0 || (size_t)a >= need;
                   }));
}

int bg__file_gets(FILE *fp, int n) {
  if (n <= 1) return 1; /* returns at once: EINVAL, or an empty string */
  if (bg__file_fd_exempt(fp, 0)) return 1;
  return WITH_LOCK(fp, ({
                     long a = read_avail(fp);
                     long want = (long)n - 1;
                     long look = a < want ? a : want;
                     a < 0 || a >= want || (look > 0 && memchr(fp->_IO_read_ptr, '\n', (size_t)look));
                   }));
}

int bg__file_delim(FILE *fp, int delim) {
  if (bg__file_fd_exempt(fp, 0)) return 1;
  return WITH_LOCK(fp, ({
                     long a = read_avail(fp);
                     a < 0 || (a > 0 && memchr(fp->_IO_read_ptr, delim, (size_t)a));
                   }));
}

/* Does writing n bytes at p leave everything in the buffer (no flush)?  Mirrors
 * _IO_new_file_xsputn: a line-buffered stream in put mode flushes on '\n'; otherwise
 * only [write_ptr, write_end) is usable (an unbuffered stream has write_end ==
 * write_ptr).  p may be NULL when only the length is known. */
static int fits(FILE *fp, const char *p, size_t n) {
  if (fp->_flags & IO_NO_WRITES) return 1; /* fails at once with EBADF */
  if (!(fp->_flags & IO_CURRENTLY_PUTTING) || !fp->_IO_write_ptr) {
    /* Not writing yet: the first write sets the stream up (_IO_new_file_overflow with
     * EOF writes nothing), allocating the buffer if there is none (_IO_file_doallocate:
     * at least st_blksize bytes, line buffering when the fd is a terminal), then stores
     * the data.  A short write without a newline stays in memory. */
    if (fp->_flags & IO_UNBUFFERED) return 0;
    size_t room = fp->_IO_buf_base ? (size_t)(fp->_IO_buf_end - fp->_IO_buf_base) : FRESH_MAX;
    if (n >= room) return 0;
    int line = (fp->_flags & IO_LINE_BUF) || (!fp->_IO_buf_base && bg__fd_is_tty(bg__stream_fd(fp)));
    return !line || (p && !memchr(p, '\n', n));
  }
  if ((fp->_flags & IO_LINE_BUF) && (fp->_flags & IO_CURRENTLY_PUTTING)) {
    if ((size_t)(fp->_IO_buf_end - fp->_IO_write_ptr) < n) return 0;
    return p && !memchr(p, '\n', n); /* unknown text: assume it may hold a newline */
  }
  return fp->_IO_write_end >= fp->_IO_write_ptr &&
         (size_t)(fp->_IO_write_end - fp->_IO_write_ptr) >= n;
}

int bg__file_wr(FILE *fp, const void *p, size_t size, size_t nmemb) {
  if (bg__file_fd_exempt(fp, 1)) return 1;
  size_t n;
  if (__builtin_mul_overflow(size, nmemb, &n)) return 0;
  if (n == 0) return 1;
  return WITH_LOCK(fp, fits(fp, p, n));
}

int bg__file_wr_str(FILE *fp, const char *s, int newline) {
  if (bg__file_fd_exempt(fp, 1)) return 1;
  if (!s) return 1;
  size_t n = strlen(s);
  if (!newline) return WITH_LOCK(fp, fits(fp, s, n));
  /* puts appends '\n': on a line-buffered stream that always flushes. */
  return WITH_LOCK(fp, !(fp->_flags & IO_LINE_BUF) && fits(fp, NULL, n + 1));
}

int bg__file_wr_char(FILE *fp, int c) {
  if (bg__file_fd_exempt(fp, 1)) return 1;
  char ch = (char)c;
  return WITH_LOCK(fp, fits(fp, &ch, 1));
}

static int nothing_pending(FILE *fp) {
  return !(fp->_flags & IO_CURRENTLY_PUTTING) || fp->_IO_write_ptr <= fp->_IO_write_base;
}

int bg__file_flush_exempt(FILE *fp) {
  if (!fp) return 0; /* fflush(NULL) flushes every stream */
  if (bg__file_fd_exempt(fp, 1)) return 1;
  return WITH_LOCK(fp, nothing_pending(fp));
}

/* popen streams, so that fclose() on one (which waits for the child, like pclose) is
 * not exempt.  A small lock-free set: slots are claimed with a CAS.  Beyond 64 open
 * popen streams the extra ones are not remembered (their fclose may be exempt when
 * nothing is pending: a missed violation, never a false one). */
#define POPEN_SLOTS 64
static FILE *popen_set[POPEN_SLOTS];

static int npopen; /* streams in the set: fclose skips the scan when none */

void bg__popen_track(FILE *fp, int on) {
  if (!fp) return;
  if (!on && !__atomic_load_n(&npopen, __ATOMIC_ACQUIRE)) return;
  for (int i = 0; i < POPEN_SLOTS; i++) {
    if (on) {
      FILE *expect = NULL;
      if (__atomic_compare_exchange_n(&popen_set[i], &expect, fp, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&npopen, 1, __ATOMIC_RELEASE);
        return;
      }
    } else {
      FILE *expect = fp;
      if (__atomic_compare_exchange_n(&popen_set[i], &expect, NULL, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_RELAXED)) {
        __atomic_fetch_sub(&npopen, 1, __ATOMIC_RELEASE);
        return;
      }
    }
  }
}

static int is_popen(FILE *fp) {
  if (!__atomic_load_n(&npopen, __ATOMIC_ACQUIRE)) return 0;
  for (int i = 0; i < POPEN_SLOTS; i++)
    if (__atomic_load_n(&popen_set[i], __ATOMIC_ACQUIRE) == fp) return 1;
  return 0;
}

int bg__file_close_exempt(FILE *fp) {
  if (!fp) return 1;
  if (is_popen(fp)) return 0;
  if (bg__stream_fd(fp) < 0) return 1;
  if (bg__file_fd_exempt(fp, 1)) return 1;
  return WITH_LOCK(fp, nothing_pending(fp));
}

/* printf: format once into a stack buffer to learn the text and its length.  Only
 * when the stream could hold it (buffered), so an unbuffered stream costs nothing
 * extra.  Formatting twice is invisible to the program except through
 * %n (which stores the same value twice) and custom printf handlers (run twice). */
int bg__file_printf(FILE *fp, const char *fmt, va_list ap) {
  if (bg__file_fd_exempt(fp, 1)) return 1;
  if (!fmt) return 1;
  if (ftrylockfile(fp) != 0) return 0;
  int ok = 0;
  if (!(fp->_flags & IO_UNBUFFERED)) {
    char buf[256];
    va_list aq;
    va_copy(aq, ap);
    int saved = errno;
    int n = vsnprintf(buf, sizeof buf, fmt, aq);
    errno = saved;
    va_end(aq);
    if (n < 0)
      ok = 1; /* the real call fails the same way before writing */
    else if ((size_t)n < sizeof buf)
      ok = fits(fp, buf, (size_t)n);
    else if (!(fp->_flags & IO_LINE_BUF))
      ok = fits(fp, NULL, (size_t)n); /* fully buffered: only the length matters */
  }
  funlockfile(fp);
  return ok;
}

int bg__file_err(FILE *fp) {
  if (fp) fp->_flags |= IO_ERR_SEEN;
  return 0;
}

/* ---- dns ---------------------------------------------------------------------------- */
static int numeric_host(const char *s) {
  unsigned char b[16];
  /* glibc tries inet_aton (exact) and inet_pton(AF_INET6) before any NSS lookup; a
   * scoped IPv6 address (%iface) needs an interface lookup: not counted as numeric. */
  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int numeric_serv(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

int bg__gai_numeric(const char *node, const char *service, const struct addrinfo *hints) {
  int f = hints ? hints->ai_flags : 0;
  int host_ok = !node || (f & AI_NUMERICHOST) || numeric_host(node);
  int serv_ok = !service || (f & AI_NUMERICSERV) || numeric_serv(service);
  return host_ok && serv_ok;
}

int bg__ni_numeric(const char *host, socklen_t hostlen, const char *serv, socklen_t servlen,
                   int flags) {
  int need_host = host && hostlen && !(flags & NI_NUMERICHOST);
  int need_serv = serv && servlen && !(flags & NI_NUMERICSERV);
  return !need_host && !need_serv;
}
