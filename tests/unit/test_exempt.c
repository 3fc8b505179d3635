/* test_exempt.c - the exemption rules without the shim: the fd cache (guard/fdcache.c)
 * and the argument tests of preload/exempt.h and preload/exempt_stdio.c (compiled in
 * here: unit tests link guard/ and report/ only).
 *
 * Each test sets up real fds and streams and asks the question a wrapper would ask
 * on a guarded thread: can this call block with these arguments?
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "preload/exempt_stdio.c"

static void set_nb(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Both answers are cached for fds created through a tracked call; an fd we did not see
 * created is probed while it is blocking.  What another process does to a shared
 * description is seen when a call fails as a blocking fd cannot (EAGAIN); what this
 * process does, when it does it. */
static void nonblocking_fds_are_exempt_and_flags_are_probed(void **s) {
  (void)s;
  int p[2];
  assert_int_equal(pipe(p), 0); /* (the core is linked without the shim: not tracked) */
  bg__fd_forget(p[0]);
  errno = 1234;
  assert_false(bg__fd_nonblock(p[0])); /* probed: blocking */
  assert_int_equal(errno, 1234);       /* probes never touch errno */
  set_nb(p[0], 1);
  assert_true(bg__fd_nonblock(p[0])); /* not seen created: probed again, sees it */
  set_nb(p[0], 0);
  bg__fd_created(p[0], 0);             /* as the shim's pipe() wrapper says */
  set_nb(p[0], 1);                     /* as another process sharing it would */
  assert_false(bg__fd_nonblock(p[0])); /* not seen: no probe per call */
  bg__fd_failed(p[0], EAGAIN);         /* a read failed as a blocking fd cannot */
  assert_true(bg__fd_nonblock(p[0]));  /* probed again */
  set_nb(p[0], 0);
  bg__fd_flags_changed(p[0], 0); /* this process's own change is followed */
  assert_false(bg__fd_nonblock(p[0]));
  bg__fd_failed(p[0], EINTR); /* other failures say nothing */
  assert_false(bg__fd_nonblock(p[0]));
  close(p[0]);
  bg__fd_failed(p[0], EBADF);         /* a close we did not see: forgotten, the next one probes */
  assert_true(bg__fd_nonblock(p[0])); /* invalid fd: the call fails at once */
  close(p[1]);
}

static void invalid_fd_cannot_block(void **s) {
  (void)s;
  int p[2];
  assert_int_equal(pipe(p), 0);
  close(p[0]);
  close(p[1]);
  bg__fd_forget(p[0]);
  assert_true(bg__fd_nonblock(p[0]));
  assert_true(bg__fd_invalid(p[0]));
  assert_true(bg__fd_nonblock(-1));
}

static void o_nonblock_on_a_regular_file_still_blocks(void **s) {
  (void)s;
  FILE *tmp = tmpfile();
  int fd = fileno(tmp);
  set_nb(fd, 1);
  bg__fd_created(fd, 1);
  assert_true(bg__fd_oflag_nonblock(fd));
  assert_false(bg__fd_nonblock(fd));
  assert_int_equal(bg__fd_category(fd, BG_CAT_io), BG_CAT_file);
  fclose(tmp);
  bg__fd_forget(fd);
}

static void flag_change_through_a_dup_invalidates_the_other(void **s) {
  (void)s;
  int p[2];
  assert_int_equal(pipe2(p, O_NONBLOCK), 0);
  bg__fd_created(p[0], 1);
  int d = dup(p[0]);
  bg__fd_dup(p[0], d);
  assert_true(bg__fd_nonblock(d));
  set_nb(p[0], 0); /* one description: d is blocking now too */
  bg__fd_flags_changed(p[0], 0);
  assert_false(bg__fd_nonblock(d));
  assert_false(bg__fd_nonblock(p[0]));
  close(d);
  bg__fd_forget(d);
  close(p[0]);
  close(p[1]);
}

static void close_forgets_so_a_reused_number_is_probed(void **s) {
  (void)s;
  int p[2], q[2];
  assert_int_equal(pipe2(p, O_NONBLOCK), 0);
  bg__fd_created(p[0], 1);
  int n = p[0];
  close(p[0]);
  close(p[1]);
  bg__fd_forget_range((unsigned)n, (unsigned)n);
  assert_int_equal(pipe(q), 0); /* reuses n, blocking */
  assert_int_equal(q[0], n);
  assert_false(bg__fd_nonblock(q[0]));
  close(q[0]);
  close(q[1]);
}

static void stderr_writes_are_exempt_per_option(void **s) {
  (void)s;
  char err[256];
  assert_int_equal(bg__options_parse(&bg__opt, "exempt_fds=stderr", err, sizeof err), 0);
  assert_true(bg__fd_write_exempt(2));
  assert_false(bg__fd_write_exempt(1));
  assert_int_equal(bg__options_parse(&bg__opt, "exempt_fds=none", err, sizeof err), 0);
  assert_false(bg__fd_write_exempt(2));
  assert_int_equal(bg__options_parse(&bg__opt, "", err, sizeof err), 0);
}

static void timeouts(void **s) {
  (void)s;
  struct timespec zero = {0, 0}, bad = {0, 2000000000L}, one = {1, 0}, past = {1, 0}, future;
  assert_true(bg__ts_nowait(&zero));
  assert_true(bg__ts_nowait(&bad));
  assert_false(bg__ts_nowait(&one));
  assert_false(bg__ts_nowait(NULL)); /* NULL: wait forever */
  struct timeval tz = {0, 0}, t1 = {0, 1};
  assert_true(bg__tv_nowait(&tz));
  assert_false(bg__tv_nowait(&t1));
  assert_true(bg__abs_past(CLOCK_REALTIME, &past));
  clock_gettime(CLOCK_MONOTONIC, &future);
  future.tv_sec += 100;
  assert_false(bg__abs_past(CLOCK_MONOTONIC, &future));
  assert_true(bg__abs_past_any(&past));
  /* A REALTIME-sized deadline in the past is still in the future on MONOTONIC? No:
   * past on MONOTONIC implies past on REALTIME; a near-now REALTIME deadline is not. */
  struct timespec now_rt;
  clock_gettime(CLOCK_REALTIME, &now_rt);
  now_rt.tv_sec -= 1;
  assert_true(bg__abs_past(CLOCK_REALTIME, &now_rt));
  assert_false(bg__abs_past_any(&now_rt));
}

static void dns_numeric_forms(void **s) {
  (void)s;
  struct addrinfo h = {.ai_flags = AI_NUMERICHOST};
  assert_true(bg__gai_numeric("127.0.0.1", "80", NULL));
  assert_true(bg__gai_numeric("::1", NULL, NULL));
  assert_false(bg__gai_numeric("localhost", NULL, NULL));
  assert_false(bg__gai_numeric("127.0.0.1", "http", NULL));
  assert_true(bg__gai_numeric("whatever", NULL, &h)); /* fails at once: EAI_NONAME */
  assert_true(bg__ni_numeric("", 8, NULL, 0, NI_NUMERICHOST));
  assert_false(bg__ni_numeric("", 8, "", 8, NI_NUMERICHOST));
}

/* stdio: a stream over a pipe, so only the buffer can make a call exempt. */
static FILE *reader(const char *data) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  write(p[1], data, strlen(data));
  close(p[1]);
  bg__fd_forget(p[0]);
  return fdopen(p[0], "r");
}

static void stdio_reads_served_by_the_buffer(void **s) {
  (void)s;
  FILE *fp = reader("ab\ncdef");
  assert_false(bg__file_rd(fp, 1, 1)); /* empty buffer: read(2) */
  assert_int_equal(fgetc(fp), 'a');    /* fills the buffer with "b\ncdef" */
  assert_true(bg__file_rd(fp, 1, 6));
  assert_false(bg__file_rd(fp, 1, 7));
  assert_true(bg__file_gets(fp, 100)); /* a newline is buffered */
  assert_true(bg__file_delim(fp, 'f'));
  assert_false(bg__file_delim(fp, 'z'));
  char line[8];
  fgets(line, sizeof line, fp);         /* "b\n" */
  assert_false(bg__file_gets(fp, 100)); /* "cdef": no newline, fewer than 99 bytes */
  assert_true(bg__file_gets(fp, 3));    /* 2 bytes wanted, 4 buffered */
  assert_true(bg__file_gets(fp, 1));    /* returns at once */
  flockfile(fp);                        /* held by this thread: recursive, still inspectable */
  assert_true(bg__file_rd(fp, 2, 2));
  funlockfile(fp);
  fclose(fp);
}

static void stdio_writes_that_fit_the_buffer(void **s) {
  (void)s;
  int p[2];
  assert_int_equal(pipe(p), 0);
  bg__fd_forget(p[1]);
  FILE *fp = fdopen(p[1], "w");
  static char buf[64];
  setvbuf(fp, buf, _IOFBF, sizeof buf);
  assert_true(bg__file_wr(fp, "x", 1, 1));   /* not writing yet: set up, then stored */
  assert_false(bg__file_wr(fp, buf, 1, 64)); /* no room for that much */
  fputc('<', fp);
  assert_true(bg__file_wr(fp, "abc", 1, 3));
  assert_false(bg__file_wr(fp, buf, 1, 64)); /* more than the room left */
  assert_true(bg__file_wr_char(fp, '\n'));   /* fully buffered: newlines do not flush */
  assert_true(bg__file_wr_str(fp, "line", 1));
  assert_false(bg__file_flush_exempt(fp)); /* '<' pending */
  assert_false(bg__file_close_exempt(fp));
  fflush(fp);
  assert_true(bg__file_flush_exempt(fp));
  assert_false(bg__file_flush_exempt(NULL)); /* fflush(NULL): every stream */
  setvbuf(fp, NULL, _IOLBF, 0);
  fputc('<', fp);
  fflush(fp);
  fputc('<', fp);
  assert_true(bg__file_wr(fp, "abc", 1, 3));
  assert_false(bg__file_wr(fp, "a\nc", 1, 3)); /* line buffered: the newline flushes */
  assert_false(bg__file_wr_str(fp, "x", 1));   /* puts appends one */
  fclose(fp);
  close(p[0]);
}

static int printf_exempt(FILE *fp, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = bg__file_printf(fp, fmt, ap);
  va_end(ap);
  return r;
}

static void stdio_printf_formats_to_decide(void **s) {
  (void)s;
  int p[2];
  assert_int_equal(pipe(p), 0);
  bg__fd_forget(p[1]);
  FILE *fp = fdopen(p[1], "w");
  static char buf[32];
  setvbuf(fp, buf, _IOFBF, sizeof buf);
  fputc('<', fp);
  assert_true(printf_exempt(fp, "%d-%s", 42, "ok"));
  assert_false(printf_exempt(fp, "%40d", 1)); /* 40 bytes > 31 left */
  fclose(fp);
  close(p[0]);
}

static void stdio_fresh_streams(void **s) {
  (void)s;
  int p[2];
  assert_int_equal(pipe(p), 0);
  bg__fd_forget(p[1]);
  FILE *fp = fdopen(p[1], "w"); /* no buffer yet; a pipe is not a terminal */
  assert_true(bg__file_wr(fp, "a\nb", 1, 3));
  assert_true(bg__file_wr_str(fp, "line", 1));
  assert_true(printf_exempt(fp, "%d\n", 7));
  char big[600] = {0};
  assert_false(bg__file_wr(fp, big, 1, sizeof big));
  setvbuf(fp, NULL, _IONBF, 0);
  assert_false(bg__file_wr(fp, "a", 1, 1));
  fclose(fp);
  close(p[0]);
}

static void stdio_fd_level(void **s) {
  (void)s;
  FILE *mem = fmemopen(NULL, 64, "w+");
  assert_true(bg__file_fd_exempt(mem, 0)); /* no fd */
  fclose(mem);
  int p[2];
  assert_int_equal(pipe2(p, O_NONBLOCK), 0);
  bg__fd_created(p[0], 1);
  FILE *fp = fdopen(p[0], "r");
  assert_true(bg__file_rd(fp, 1, 100));
  fclose(fp);
  bg__fd_forget(p[0]);
  close(p[1]);
}

static void popen_streams_wait_in_fclose(void **s) {
  (void)s;
  FILE *fp = fopen("/dev/null", "r");
  assert_true(bg__file_close_exempt(fp));
  bg__popen_track(fp, 1);
  assert_false(bg__file_close_exempt(fp));
  bg__popen_track(fp, 0);
  assert_true(bg__file_close_exempt(fp));
  fclose(fp);
}

static void raise_sets_the_error_indicator(void **s) {
  (void)s;
  FILE *fp = fopen("/dev/null", "r");
  assert_false(ferror(fp));
  bg__file_err(fp);
  assert_true(ferror(fp));
  fclose(fp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(nonblocking_fds_are_exempt_and_flags_are_probed),
      cmocka_unit_test(invalid_fd_cannot_block),
      cmocka_unit_test(o_nonblock_on_a_regular_file_still_blocks),
      cmocka_unit_test(flag_change_through_a_dup_invalidates_the_other),
      cmocka_unit_test(close_forgets_so_a_reused_number_is_probed),
      cmocka_unit_test(stderr_writes_are_exempt_per_option),
      cmocka_unit_test(timeouts),
      cmocka_unit_test(dns_numeric_forms),
      cmocka_unit_test(stdio_reads_served_by_the_buffer),
      cmocka_unit_test(stdio_writes_that_fit_the_buffer),
      cmocka_unit_test(stdio_printf_formats_to_decide),
      cmocka_unit_test(stdio_fresh_streams),
      cmocka_unit_test(stdio_fd_level),
      cmocka_unit_test(popen_streams_wait_in_fclose),
      cmocka_unit_test(raise_sets_the_error_indicator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
