/* c_stdio.c - cases for stdio.  BLOCK forms need the fd: a fresh read stream (empty
 * buffer), an unbuffered write stream, pending output to flush.  NONBLOCK forms are
 * served by the buffer (data read ahead by an earlier unguarded call; room left in a
 * fully buffered stream already writing), or their stream's fd is O_NONBLOCK.
 * stdin/stdout cases redirect fd 0/1 to a pipe for the one call and restore them. */
#include <stdarg.h>
#include <stdio_ext.h>

#include "bgt.h"

#if !BGT_FORTIFY
size_t __fread_chk(void *, size_t, size_t, size_t, FILE *);
size_t __fread_unlocked_chk(void *, size_t, size_t, size_t, FILE *);
char *__fgets_chk(char *, size_t, int, FILE *);
char *__fgets_unlocked_chk(char *, size_t, int, FILE *);
int __printf_chk(int, const char *, ...);
int __fprintf_chk(FILE *, int, const char *, ...);
int __vprintf_chk(int, const char *, va_list);
int __vfprintf_chk(FILE *, int, const char *, va_list);
int __dprintf_chk(int, int, const char *, ...);
int __vdprintf_chk(int, int, const char *, va_list);
#endif
int _IO_getc(FILE *);
int _IO_putc(int, FILE *);
ssize_t __getdelim(char **, size_t *, int, FILE *);
int __underflow(FILE *);
/* The GNU (pre-C99) scanf entry points, which C99 code reaches only by these names. */
int bgt_gnu_fscanf(FILE *, const char *, ...) __asm__("fscanf");
int bgt_gnu_scanf(const char *, ...) __asm__("scanf");
int bgt_gnu_vfscanf(FILE *, const char *, va_list) __asm__("vfscanf");
int bgt_gnu_vscanf(const char *, va_list) __asm__("vscanf");
int bgt_iso_vfscanf(FILE *, const char *, va_list) __asm__("__isoc99_vfscanf");
int bgt_iso_vscanf(const char *, va_list) __asm__("__isoc99_vscanf");

/* A read stream over a pipe holding two lines.  NONBLOCK: one byte was read before
 * (unguarded), so the rest of the pipe's data sits in the buffer. */
static FILE *rstream(bgt_t *t) {
  FILE *fp = bgt_stream("line1\nline2\n", "r");
  if (NB) OUT("first=%c", fgetc(fp));
  return fp;
}

/* ---- reads ----------------------------------------------------------------------------- */
#define READ_N(name, expr)                                                              \
  CASE(name) {                                                                          \
    FILE *fp = rstream(t);                                                              \
    char buf[32] = {0};                                                                 \
    CALL(expr);                                                                         \
    OUT("buf='%.5s' eof=%d err=%d", buf, feof(fp), ferror(fp));                         \
    fclose(fp);                                                                         \
  }
READ_N(fread, fread(buf, 1, 5, fp))
READ_N(fread_unlocked, fread_unlocked(buf, 1, rt(5), fp))
#if BGT_FORTIFY
READ_N(__fread_chk, fread(buf, 1, rt(5), fp))
READ_N(__fread_unlocked_chk, fread_unlocked(buf, 1, rt(5), fp))
#else
READ_N(__fread_chk, __fread_chk(buf, sizeof buf, 1, 5, fp))
READ_N(__fread_unlocked_chk, __fread_unlocked_chk(buf, sizeof buf, 1, 5, fp))
#endif

#define READ_LINE(name, expr)                                                           \
  CASE(name) {                                                                          \
    FILE *fp = rstream(t);                                                              \
    char buf[32] = {0};                                                                 \
    CALLX(expr, r_ == buf);                                                             \
    OUT("buf='%.5s'", buf);                                                             \
    fclose(fp);                                                                         \
  }
READ_LINE(fgets, fgets(buf, 16, fp))
READ_LINE(fgets_unlocked, fgets_unlocked(buf, 16, fp))
#if BGT_FORTIFY
READ_LINE(__fgets_chk, fgets(buf, (int)rt(16), fp))
READ_LINE(__fgets_unlocked_chk, fgets_unlocked(buf, (int)rt(16), fp))
#else
READ_LINE(__fgets_chk, __fgets_chk(buf, sizeof buf, 16, fp))
READ_LINE(__fgets_unlocked_chk, __fgets_unlocked_chk(buf, sizeof buf, 16, fp))
#endif

#define READ_CHAR(name, expr)                                                           \
  CASE(name) {                                                                          \
    FILE *fp = rstream(t);                                                              \
    CALL(expr);                                                                         \
    fclose(fp);                                                                         \
  }
READ_CHAR(fgetc, fgetc(fp))
READ_CHAR(getc, getc(fp))
READ_CHAR(_IO_getc, _IO_getc(fp))
READ_CHAR(fgetc_unlocked, fgetc_unlocked(fp))
READ_CHAR(getc_unlocked, getc_unlocked(fp))
READ_CHAR(__uflow, __uflow(fp))
READ_CHAR(__underflow, __underflow(fp))

#define READ_DELIM(name, expr)                                                          \
  CASE(name) {                                                                          \
    FILE *fp = rstream(t);                                                              \
    char *line = NULL;                                                                  \
    size_t cap = 0;                                                                     \
    CALL(expr);                                                                         \
    OUT("line='%.5s'", line ? line : "");                                               \
    free(line);                                                                         \
    fclose(fp);                                                                         \
  }
READ_DELIM(getline, getline(&line, &cap, fp))
READ_DELIM(getdelim, getdelim(&line, &cap, '\n', fp))
READ_DELIM(__getdelim, __getdelim(&line, &cap, '\n', fp))

/* ---- stdin ---------------------------------------------------------------------------- */
struct redir {
  int saved, pipe[2];
};

static void stdin_from(struct redir *r, const char *data, bgt_t *t) {
  bgt_pipe(r->pipe, data);
  close(r->pipe[1]);
  r->saved = dup(0);
  dup2(r->pipe[0], 0);
  __fpurge(stdin);
  clearerr(stdin);
  if (NB) OUT("first=%c", getchar());
}

static void stdin_restore(struct redir *r) {
  __fpurge(stdin);
  clearerr(stdin);
  dup2(r->saved, 0);
  close(r->saved);
  close(r->pipe[0]);
}

CASE(getchar) {
  struct redir r;
  stdin_from(&r, "in\n", t);
  CALL(getchar());
  stdin_restore(&r);
}

CASE(getchar_unlocked) {
  struct redir r;
  stdin_from(&r, "in\n", t);
  CALL(getchar_unlocked());
  stdin_restore(&r);
}

/* ---- writes --------------------------------------------------------------------------- */
/* BLOCK: an unbuffered stream (every write is a syscall).  NONBLOCK: fully buffered and
 * already writing (an unguarded "<" went first), so a short write stays in the buffer. */
static FILE *wstream(bgt_t *t, int *rd) {
  int p[2];
  bgt_pipe(p, NULL);
  FILE *fp = fdopen(p[1], "w");
  setvbuf(fp, NULL, NB ? _IOFBF : _IONBF, 0);
  if (NB) fputc('<', fp);
  *rd = p[0];
  (void)t;
  return fp;
}

static void wdone(bgt_t *t, FILE *fp, int rd) {
  fclose(fp);
  bgt_read_all(rd, t);
  close(rd);
}

#define WRITE(name, expr)                                                               \
  CASE(name) {                                                                          \
    int rd;                                                                             \
    FILE *fp = wstream(t, &rd);                                                         \
    CALL(expr);                                                                         \
    wdone(t, fp, rd);                                                                   \
  }
WRITE(fwrite, fwrite("abc", 1, 3, fp))
WRITE(fwrite_unlocked, fwrite_unlocked("abc", 1, rt(3), fp))
WRITE(fputs, fputs("abc", fp))
WRITE(fputs_unlocked, fputs_unlocked("abc", fp))
WRITE(fputc, fputc('a', fp))
WRITE(putc, putc('a', fp))
WRITE(_IO_putc, _IO_putc('a', fp))
WRITE(fputc_unlocked, fputc_unlocked('a', fp))
WRITE(putc_unlocked, putc_unlocked('a', fp))

/* __overflow always goes to the fd: NONBLOCK is a stream on an O_NONBLOCK pipe. */
CASE(__overflow) {
  int p[2];
  bgt_pipe(p, NULL);
  if (NB) bgt_set_nb(p[1], 1);
  FILE *fp = fdopen(p[1], "w");
  setvbuf(fp, NULL, _IONBF, 0);
  CALL(__overflow(fp, 'o'));
  wdone(t, fp, p[0]);
}

/* stdout: BLOCK unbuffered; NONBLOCK fully buffered and writing. */
static void stdout_to(struct redir *r, bgt_t *t) {
  fflush(stdout);
  bgt_pipe(r->pipe, NULL);
  r->saved = dup(1);
  dup2(r->pipe[1], 1);
  /* A buffer of our own: after _IONBF, glibc would keep its 1-byte one for _IOFBF. */
  static char buf[4096];
  if (NB)
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
  else
    setvbuf(stdout, NULL, _IONBF, 0);
  /* A flush leaves a reused stream in glibc's ordinary writing state (after setvbuf
   * on a used stream, the next write flushes: the shim rightly counts it). */
  if (NB) fputc('<', stdout), fflush(stdout);
  (void)t;
}

static void stdout_restore(struct redir *r, bgt_t *t) {
  fflush(stdout);
  dup2(r->saved, 1);
  close(r->saved);
  close(r->pipe[1]);
  bgt_read_all(r->pipe[0], t);
  close(r->pipe[0]);
}

#define STDOUT(name, expr)                                                              \
  CASE(name) {                                                                          \
    struct redir r;                                                                     \
    stdout_to(&r, t);                                                                   \
    CALL(expr);                                                                         \
    stdout_restore(&r, t);                                                              \
  }
STDOUT(puts, puts("put"))
STDOUT(putchar, putchar('c'))
STDOUT(putchar_unlocked, putchar_unlocked('c'))

/* ---- flush / close ---------------------------------------------------------------------- */
/* BLOCK: output pending in a fully buffered stream; NONBLOCK: nothing pending. */
#define FLUSH(name, expr)                                                               \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, NULL);                                                                  \
    FILE *fp = fdopen(p[1], "w");                                                       \
    setvbuf(fp, NULL, _IOFBF, 0);                                                       \
    fputs("pending", fp);                                                               \
    if (NB) fflush(fp);                                                                 \
    CALL(expr);                                                                         \
    fclose(fp);                                                                         \
    bgt_read_all(p[0], t);                                                              \
    close(p[0]);                                                                        \
  }
FLUSH(fflush, fflush(fp))
FLUSH(fflush_unlocked, fflush_unlocked(fp))

CASE(fclose) {
  int p[2];
  bgt_pipe(p, NULL);
  FILE *fp = fdopen(p[1], "w");
  setvbuf(fp, NULL, _IOFBF, 0);
  fputs("closing", fp);
  if (NB) fflush(fp);
  FILE *volatile keep = fp; /* mode=raise: the stream was not closed, close it now */
  int r = CALL(fclose(fp));
  if (r == EOF && t->err == EDEADLK) fclose(keep);
  bgt_read_all(p[0], t);
  close(p[0]);
}

/* ---- printf family ---------------------------------------------------------------------- */
static int v_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vprintf(fmt, ap);
  va_end(ap);
  return r;
}
static int v_fprintf(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(fp, fmt, ap);
  va_end(ap);
  return r;
}
static int v_dprintf(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf(fd, fmt, ap);
  va_end(ap);
  return r;
}
/* Called directly in every build: a fortified vprintf is __vfprintf_chk(stdout...). */
static int v_printf_chk(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vprintf_chk(1, fmt, ap);
  va_end(ap);
  return r;
}
static int v_fprintf_chk(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vfprintf_chk(fp, 1, fmt, ap);
  va_end(ap);
  return r;
}
static int v_dprintf_chk(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vdprintf_chk(fd, 1, fmt, ap);
  va_end(ap);
  return r;
}

STDOUT(printf, printf("v=%d;", 42))
STDOUT(vprintf, v_printf("v=%d;", 42))
#if BGT_FORTIFY
STDOUT(__printf_chk, printf("v=%d;", 42))
#else
STDOUT(__printf_chk, __printf_chk(1, "v=%d;", 42))
#endif
STDOUT(__vprintf_chk, v_printf_chk("v=%d;", 42))
WRITE(fprintf, fprintf(fp, "v=%d;", 42))
WRITE(vfprintf, v_fprintf(fp, "v=%d;", 42))
#if BGT_FORTIFY
WRITE(__fprintf_chk, fprintf(fp, "v=%d;", 42))
#else
WRITE(__fprintf_chk, __fprintf_chk(fp, 1, "v=%d;", 42))
#endif
WRITE(__vfprintf_chk, v_fprintf_chk(fp, "v=%d;", 42))

/* dprintf writes to an fd: NONBLOCK is an O_NONBLOCK pipe. */
#define DPRINTF(name, expr)                                                             \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, NULL);                                                                  \
    if (NB) bgt_set_nb(p[1], 1);                                                        \
    int fd = p[1];                                                                      \
    CALL(expr);                                                                         \
    bgt_read_all(p[0], t);                                                              \
    close(p[0]), close(p[1]);                                                           \
  }
DPRINTF(dprintf, dprintf(fd, "v=%d;", 42))
DPRINTF(vdprintf, v_dprintf(fd, "v=%d;", 42))
#if BGT_FORTIFY
DPRINTF(__dprintf_chk, dprintf(fd, "v=%d;", 42))
#else
DPRINTF(__dprintf_chk, __dprintf_chk(fd, 1, "v=%d;", 42))
#endif
DPRINTF(__vdprintf_chk, v_dprintf_chk(fd, "v=%d;", 42))

/* ---- scanf family: NONBLOCK is a stream on an O_NONBLOCK pipe holding the input ---- */
static FILE *scan_stream(bgt_t *t) {
  int p[2];
  bgt_pipe(p, "42 43\n");
  close(p[1]);
  if (NB) bgt_set_nb(p[0], 1);
  (void)t;
  return fdopen(p[0], "r");
}

static int v_gnu_fscanf(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = bgt_gnu_vfscanf(fp, fmt, ap);
  va_end(ap);
  return r;
}
static int v_iso_fscanf(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = bgt_iso_vfscanf(fp, fmt, ap);
  va_end(ap);
  return r;
}
static int v_gnu_scanf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = bgt_gnu_vscanf(fmt, ap);
  va_end(ap);
  return r;
}
static int v_iso_scanf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = bgt_iso_vscanf(fmt, ap);
  va_end(ap);
  return r;
}

#define SCAN(name, expr)                                                                \
  CASE(name) {                                                                          \
    FILE *fp = scan_stream(t);                                                          \
    int x = 0, y = 0;                                                                   \
    CALL(expr);                                                                         \
    OUT("x=%d y=%d", x, y);                                                             \
    fclose(fp);                                                                         \
  }
SCAN(fscanf, bgt_gnu_fscanf(fp, "%d %d", &x, &y))
SCAN(vfscanf, v_gnu_fscanf(fp, "%d %d", &x, &y))
SCAN(__isoc99_fscanf, fscanf(fp, "%d %d", &x, &y)) /* C99 code's fscanf is this one */
SCAN(__isoc99_vfscanf, v_iso_fscanf(fp, "%d %d", &x, &y))

/* scanf reads stdin: it is pointed at the O_NONBLOCK (or blocking) pipe. */
#define SCAN_STDIN(name, expr)                                                          \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, "42 43\n");                                                             \
    close(p[1]);                                                                        \
    if (NB) bgt_set_nb(p[0], 1);                                                        \
    int saved = dup(0);                                                                 \
    dup2(p[0], 0);                                                                      \
    __fpurge(stdin);                                                                    \
    clearerr(stdin);                                                                    \
    int x = 0, y = 0;                                                                   \
    CALL(expr);                                                                         \
    OUT("x=%d y=%d", x, y);                                                             \
    __fpurge(stdin);                                                                    \
    clearerr(stdin);                                                                    \
    dup2(saved, 0);                                                                     \
    close(saved);                                                                       \
    close(p[0]);                                                                        \
  }
SCAN_STDIN(scanf, bgt_gnu_scanf("%d %d", &x, &y))
SCAN_STDIN(vscanf, v_gnu_scanf("%d %d", &x, &y))
SCAN_STDIN(__isoc99_scanf, scanf("%d %d", &x, &y))
SCAN_STDIN(__isoc99_vscanf, v_iso_scanf("%d %d", &x, &y))
