/* unwind_io.c - libunwind's address-validation pipe, emulated without an fd.
 *
 * Before dereferencing an address it is not sure of, libunwind checks it by
 * write()ing one byte from it into a private pipe (EFAULT = unreadable) after
 * read()ing one byte back out.  The pipe is opened once, at the lowest free fd
 * numbers, and kept.  Inside someone else's process that is wrong twice over: the
 * program's own fds get different numbers than without the shim (CPython's
 * test_pass_fds_redirected saw fds 3 and 4 it never opened), and a program that
 * closes "all its fds" and reuses those numbers has libunwind read a byte of its
 * socket and write one into its file (tests/integration/t_fds.sh reproduces both).
 *
 * So while a thread runs libunwind for the core (bg__unwinding > 0, set around
 * unw_backtrace and libunwind's initialisation in guard/sites.c), the shim's pipe()
 * and pipe2() hand libunwind two fake, negative fd numbers instead of a pipe, and the
 * read/write/close/syscall wrappers answer for those numbers: read says "empty"
 * (EAGAIN), write checks readability by having the kernel copy the byte with
 * process_vm_readv on our own pid (EFAULT when unreadable; no side effect, and
 * valgrind does not treat the remote side as ours to check), or where that syscall is
 * refused (seccomp profiles) with a FUTEX_WAIT of zero timeout on the word (EFAULT, or
 * EAGAIN/ETIMEDOUT at once), close succeeds.  Not rt_sigprocmask with an invalid
 * `how`, the other classic probe: valgrind answers that one without asking the kernel.  No fd is ever the shim's; a negative fd
 * that leaks out anyway is EBADF for the kernel.  Outside that scope nothing changes:
 * a program that uses libunwind itself gets its own real pipe, as without the shim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>

#include "guard/guard.h"
#include "guard/readable.h"

__thread int bg__unwinding __attribute__((tls_model("initial-exec")));

/* Tests: exercise the futex fallback as if process_vm_readv were refused. */
void bg__unw_use_futex(int on) { bg__readable_use_futex(on); }

int bg__unw_pipe(int fds[2]) {
  fds[0] = BG_UNW_FD_R;
  fds[1] = BG_UNW_FD_W;
  return 0;
}

long bg__unw_read(int fd, void *buf, size_t n) {
  (void)fd, (void)buf, (void)n;
  errno = EAGAIN; /* an empty non-blocking pipe: libunwind's "still open" answer */
  return -1;
}

long bg__unw_write(int fd, const void *buf, size_t n) {
  (void)fd;
  if (n == 0) return 0;
  /* A NULL set means "no set" to the kernel, not a bad address; otherwise the kernel
   * copies one byte of our own memory (guard/readable.c): EFAULT when it cannot. */
  if (!buf || !bg__probe_readable(buf)) {
    errno = EFAULT;
    return -1;
  }
  errno = 0; /* libunwind loops while errno == EINTR, even after a success */
  return 1;
}
