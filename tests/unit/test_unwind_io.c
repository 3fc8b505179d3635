/* test_unwind_io.c - libunwind's validation pipe, emulated (guard/unwind_io.c).
 *
 * libunwind decides whether it may dereference an address by the result of a one-byte
 * write from it; the emulation must give the same answers as the real pipe (1 for
 * readable memory, read-only memory included, -1/EFAULT for unreadable), never touch
 * a real fd, never wait, and leave the signal mask alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "guard/guard.h"

void bg__unw_use_futex(int on);

static void fake_fds_are_never_real(void **s) {
  (void)s;
  int fds[2] = {7, 7};
  assert_int_equal(bg__unw_pipe(fds), 0);
  assert_true(fds[0] < -1 && fds[1] < -1 && fds[0] != fds[1]);
  assert_true(bg__unw_fake_fd(fds[0]) && bg__unw_fake_fd(fds[1]));
  for (int fd = -1; fd < 64; fd++) assert_false(bg__unw_fake_fd(fd));
  /* a fake fd that escaped to the kernel is just a bad fd */
  errno = 0;
  assert_int_equal(write(fds[1], "x", 1), -1);
  assert_int_equal(errno, EBADF);
}

static void read_says_empty(void **s) {
  (void)s;
  char c;
  errno = 0;
  assert_int_equal(bg__unw_read(BG_UNW_FD_R, &c, 1), -1);
  assert_int_equal(errno, EAGAIN); /* libunwind: pipe still open, nothing to drain */
}

static void write_validates_like_the_pipe(void **s) {
  (void)s;
  /* both probes: process_vm_readv, then the futex fallback used where it is refused */
  for (int futex = 0; futex <= 1; futex++) {
    bg__unw_use_futex(futex);
    long page = sysconf(_SC_PAGESIZE);
    char *m =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    sigset_t before, after;
    memset(&before, 0, sizeof before); /* the kernel fills 8 of glibc's 128 bytes */
    memset(&after, 0, sizeof after);
    sigprocmask(SIG_SETMASK, NULL, &before);

    errno = EINTR; /* libunwind loops while errno == EINTR: a success must clear it */
    assert_int_equal(bg__unw_write(BG_UNW_FD_W, m, 1), 1);
    assert_int_equal(errno, 0);
    assert_int_equal(bg__unw_write(BG_UNW_FD_W, &page, 1), 1); /* the stack */
    assert_int_equal(bg__unw_write(BG_UNW_FD_W, (const void *)&fake_fds_are_never_real, 1),
                     1); /* text */
    memset(m, 0, 8);     /* a zero word: the probe's wait times out at once, no sleep */
    assert_int_equal(bg__unw_write(BG_UNW_FD_W, m + 1, 1), 1);
    errno = 0;
    assert_int_equal(bg__unw_write(BG_UNW_FD_W, m + page, 1), -1); /* PROT_NONE */
    assert_int_equal(errno, EFAULT);
    errno = 0;
    assert_int_equal(bg__unw_write(BG_UNW_FD_W, NULL, 1), -1);
    assert_int_equal(errno, EFAULT);
    /* the real thing answers the same */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], m, 1), 1);
    assert_int_equal(write(p[1], m + page, 1), -1);
    assert_int_equal(errno, EFAULT);
    close(p[0]), close(p[1]);

    sigprocmask(SIG_SETMASK, NULL, &after);
    assert_memory_equal(&before, &after, sizeof before); /* the probe changed no mask */
    munmap(m, (size_t)page * 2);
  }
  bg__unw_use_futex(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fake_fds_are_never_real),
      cmocka_unit_test(read_says_empty),
      cmocka_unit_test(write_validates_like_the_pipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
