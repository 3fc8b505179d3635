/* test_readable.c - the readability probe (guard/readable.c) that the language-frame
 * readers and the unwinder's frame-pointer fallback use before following a pointer
 * they are not sure of: it must answer like the kernel (readable memory, read-only
 * included: yes; unmapped or PROT_NONE: no), never wait, and leave the signal mask
 * alone, with process_vm_readv and with the futex fallback used where seccomp refuses
 * it.
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

#include "guard/readable.h"

static void probe_answers_like_the_kernel(void **s) {
  (void)s;
  for (int futex = 0; futex <= 1; futex++) {
    bg__readable_use_futex(futex);
    long page = sysconf(_SC_PAGESIZE);
    char *m =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    sigset_t before, after;
    memset(&before, 0, sizeof before); /* the kernel fills 8 of glibc's 128 bytes */
    memset(&after, 0, sizeof after);
    sigprocmask(SIG_SETMASK, NULL, &before);

    errno = EINTR;
    assert_true(bg__probe_readable(m));
    assert_int_equal(errno, EINTR); /* errno untouched */
    assert_true(bg__probe_readable(&page));                           /* the stack */
    assert_true(bg__probe_readable((const void *)&probe_answers_like_the_kernel)); /* text */
    memset(m, 0, 8); /* a zero word: the futex probe's wait times out at once */
    assert_true(bg__probe_readable(m + 1));
    assert_false(bg__probe_readable(m + page)); /* PROT_NONE */
    assert_false(bg__probe_readable(NULL));
    uintptr_t w = 0;
    assert_false(bg__read(&w, m + page - 4, sizeof w)); /* straddles into PROT_NONE */
    assert_true(bg__read(&w, m, sizeof w));

    sigprocmask(SIG_SETMASK, NULL, &after);
    assert_memory_equal(&before, &after, sizeof before); /* no mask changed */
    bg__readable_forget(m, (size_t)page * 2);
    munmap(m, (size_t)page * 2);
  }
  bg__readable_use_futex(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(probe_answers_like_the_kernel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
