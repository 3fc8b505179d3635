/* bgt.h - harness for the per-call integration tests (one case per call-table row).
 *
 * A case is `CASE(row) { ... }`: it sets up (unguarded), makes its row's call exactly
 * once inside CALL(...) (guarded or not, as the driver asks), records what a program
 * would observe (return value, errno, OUT(...) of buffers and out-parameters), and
 * cleans up.  The driver (driver.c) runs every case in two forms, BLOCK (the call made
 * so that it could block) and NONBLOCK (the exempt form: O_NONBLOCK, zero timeout,
 * WNOHANG...; a case with no such form calls NO_NONBLOCK()), each unguarded then
 * guarded.  tests/integration/t_calls.sh runs the driver without and with the shim and
 * requires identical output; under the shim the driver itself checks that exactly the
 * guarded BLOCK run recorded a violation (bg_violations()).
 *
 * Output must not depend on the run: no fd numbers, pids, addresses or times (CALLFD,
 * CALLP, CALLX normalise the result).
 */
#ifndef BGT_H
#define BGT_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blockguard.h"

enum { BGT_BLOCK, BGT_NONBLOCK };

typedef struct bgt {
  const char *row;
  int form;      /* BGT_BLOCK / BGT_NONBLOCK */
  int guard;     /* run CALL on a guarded thread */
  int skip;      /* NO_NONBLOCK(): this form does not exist */
  int loopwait;  /* LOOPWAIT(): the call is the thread's event-loop wait */
  int selfguard; /* SELFGUARD(): the case guards the thread itself (thread-name rows) */
  int ncalls;
  int retkind;   /* how CALL* normalised the result: 0 raw, 1 pointer, 2 fd, 3 custom */
  long long ret;
  int err;
  uint64_t v0, v1;
  char out[1024];
  size_t outlen;
} bgt_t;

#define CASE(name) void bgt_case_##name(bgt_t *t)
/* Options a case needs beyond the driver's (BLOCKGUARD_OPTIONS), e.g. thread names. */
#define CASE_OPTS(name, opts) const char *bgt_opts_##name = opts;

#define NB (t->form == BGT_NONBLOCK)
#define NO_NONBLOCK()                                                                   \
  do {                                                                                  \
    if (NB) {                                                                           \
      t->skip = 1;                                                                      \
      return;                                                                           \
    }                                                                                   \
  } while (0)
#define LOOPWAIT() (t->loopwait = 1)
#define SELFGUARD() (t->selfguard = 1)

void bgt_begin(bgt_t *t);
void bgt_end(bgt_t *t, int err, long long ret);
void bgt_out(bgt_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define OUT(...) bgt_out(t, __VA_ARGS__)

/* CALLX(expr, norm): runs expr as the case's one call, records norm (an expression
 * over r_, the result) and errno. */
#define CALLK(expr, norm, kind)                                                         \
  ({                                                                                    \
    bgt_begin(t);                                                                       \
    errno = 0;                                                                          \
    __typeof__(expr) r_ = (expr);                                                       \
    int e_ = errno;                                                                     \
    t->retkind = kind;                                                                  \
    bgt_end(t, e_, (long long)(norm));                                                  \
    r_;                                                                                 \
  })
#define CALLX(expr, norm) CALLK(expr, norm, 3)
#define CALL(expr) CALLK(expr, r_, 0)
#define CALLP(expr) CALLK(expr, r_ != NULL, 1)                     /* pointer: NULL or not */
#define CALLFD(expr) CALLK(expr, r_ < 0 ? (long long)r_ : 1000, 2) /* fd: any valid one */
#define CALLV(expr)                                                                     \
  do {                                                                                  \
    bgt_begin(t);                                                                       \
    errno = 0;                                                                          \
    expr;                                                                               \
    t->retkind = 3;                                                                     \
    bgt_end(t, errno, 0);                                                               \
  } while (0)

/* Runs stmt on a guarded thread outside the measured call: used to prime the shim's fd
 * cache with an exempt call (a non-exempt one here would be a harness bug, and is
 * caught by the driver's check that nothing else records a violation). */
#define GUARDED(stmt)                                                                   \
  do {                                                                                  \
    uint64_t v_ = bg_violations();                                                      \
    bg_thread_guard(1);                                                                 \
    stmt;                                                                               \
    bg_thread_guard(0);                                                                 \
    if (bg_violations() != v_) bgt_fail(t, "GUARDED() setup call recorded a violation"); \
  } while (0)
void bgt_fail(bgt_t *t, const char *what);

/* A size the compiler cannot see: fortified builds then call the __*_chk entry points. */
size_t rt(size_t n);

/* ---- fixtures --------------------------------------------------------------------- */
void bgt_pipe(int p[2], const char *data);        /* blocking pipe, data written */
void bgt_pipe_nb(int p[2], const char *data);     /* read end O_NONBLOCK */
void bgt_set_nb(int fd, int on);
void bgt_sockpair(int sv[2], const char *data);   /* AF_UNIX stream; data sent to sv[0] */
int bgt_tmpfd(const char *data);                  /* regular file (unlinked), offset 0 */
const char *bgt_path(const char *name);           /* path in the test's scratch dir */
int bgt_listener(struct sockaddr_un *addr);       /* AF_UNIX stream listener */
void bgt_timer_ms(int ms);                        /* SIGALRM every ms (0: off), no SA_RESTART */
int bgt_closed_fd(void);                          /* an fd number that is not open */
void bgt_read_all(int fd, bgt_t *t);              /* OUT what fd holds (non-blocking) */
pthread_t bgt_thread(void *(*fn)(void *), void *arg);
void bgt_abs_in(struct timespec *ts, clockid_t clk, int ms);
FILE *bgt_stream(const char *data, const char *mode); /* FILE over a blocking pipe */
int bgt_dns_port(void);                           /* fake DNS server on 127.0.0.1 */
extern int bgt_outfd;                             /* the driver's results */
#endif
