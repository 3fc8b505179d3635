/* custom_syscall.c - syscall(): the blocking numbers of preload/syscalls.def go through
 * the guard, reported as "syscall(NAME)"; every other number (futex included) passes
 * straight through.  The real syscall() always gets the number and all six argument
 * words as received, so the kernel sees exactly what the program passed.
 *
 * fd bookkeeping follows the raw close, close_range, dup, fcntl, ioctl, socket and accept
 * numbers too, so a program (or a runtime such as Go's or a JIT) that bypasses libc
 * does not leave a stale O_NONBLOCK behind.
 */
#include "preload/custom_gen.h"

#include <sys/ioctl.h>

typedef long (*syscall_fn)(long, ...);
BG_REAL_FN(syscall_fn, syscall)

/* Row id of a dispatched number, -1 when it passes through. */
static int sys_row(long nr) {
  switch (nr) {
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  case SYS_##name:                                                                      \
    return BG_ID_SYS_##name;
#include "preload/syscalls.def"
#undef BG_SYSCALL
  default:
    return -1;
  }
}

static int sys_is_wait(long nr) {
  switch (nr) {
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  case SYS_##name:                                                                      \
    return BG_ISWAIT(cat);
#include "preload/syscalls.def"
#undef BG_SYSCALL
  default:
    return 0;
  }
}

static int sys_wait_all(long nr) {
  switch (nr) {
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  case SYS_##name:                                                                      \
    return BG_WAITALL(cat);
#include "preload/syscalls.def"
#undef BG_SYSCALL
  default:
    return 0;
  }
}

/* A readiness wait that can block: loop detection sees it (guard/loop.c); 1 when it is
 * the thread's loop wait. */
static int sys_wait_seen(uintptr_t caller, long nr, long a1, long a2) {
  (void)caller, (void)a1, (void)a2;
  switch (nr) {
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  case SYS_##name:                                                                      \
    return BG_WAITSEEN(cat);
#include "preload/syscalls.def"
#undef BG_SYSCALL
  default:
    return 0;
  }
}

int bg__syscall_exempt(uintptr_t caller, long nr, long a1, long a2, long a3, long a4, long a5,
                       long a6) {
  (void)caller, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6;
  switch (nr) {
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  case SYS_##name:                                                                      \
    return (exempt);
#include "preload/syscalls.def"
#undef BG_SYSCALL
  default:
    return 1;
  }
}

static int sys_category(long nr, long a1) {
  (void)a1;
  switch (nr) {
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  case SYS_##name:                                                                      \
    return BG_CATEXPR(cat);
#include "preload/syscalls.def"
#undef BG_SYSCALL
  default:
    return BG_CAT_io;
  }
}

/* fd cache upkeep after a raw syscall (never blocks, never touches errno). */
static void sys_track(long nr, long r, long a1, long a2, long a3, long a4) {
  if (r < 0) {
    if (nr == SYS_close) bg__fd_forget((int)a1);
    return;
  }
  switch (nr) {
  case SYS_close:
    bg__fd_forget((int)a1);
    break;
#ifdef SYS_close_range
  case SYS_close_range:
    if (!((unsigned)a3 & CLOSE_RANGE_CLOEXEC)) bg__fd_forget_range((unsigned)a1, (unsigned)a2);
    break;
#endif
  case SYS_dup:
    bg__fd_dup((int)a1, (int)r);
    break;
  case SYS_dup2:
  case SYS_dup3:
    bg__fd_dup((int)a1, (int)a2);
    break;
  case SYS_fcntl:
    if ((int)a2 == F_SETFL) bg__fd_flags_changed((int)a1, ((int)a3 & O_NONBLOCK) != 0);
    if ((int)a2 == F_DUPFD || (int)a2 == F_DUPFD_CLOEXEC) bg__fd_dup((int)a1, (int)r);
    break;
  case SYS_ioctl:
    if ((unsigned long)a2 == FIONBIO && a3) bg__fd_flags_changed((int)a1, *(const int *)a3 != 0);
    break;
  case SYS_socket:
    bg__fd_created((int)r, ((int)a2 & SOCK_NONBLOCK) != 0);
    break;
  case SYS_accept:
    bg__fd_created((int)r, 0);
    break;
  case SYS_accept4:
    bg__fd_created((int)r, ((int)a4 & SOCK_NONBLOCK) != 0);
    break;
  case SYS_open:
    bg__fd_created((int)r, ((int)a2 & O_NONBLOCK) != 0);
    break;
  case SYS_openat:
    bg__fd_created((int)r, ((int)a3 & O_NONBLOCK) != 0);
    break;
  default:
    break;
  }
}

static __attribute__((noinline)) long slow(long nr, uintptr_t caller, long a1, long a2, long a3,
                                           long a4, long a5, long a6) {
  syscall_fn real = bg__get_syscall();
  int row = sys_row(nr);
  if (row < 0 || bg__self.depth) return real(nr, a1, a2, a3, a4, a5, a6);
  bg__self.depth++;
  int ex = bg__syscall_exempt(caller, nr, a1, a2, a3, a4, a5, a6);
  int cat = sys_category(nr, a1);
  bg__self.depth--;
  if (sys_is_wait(nr) && (!ex || sys_wait_all(nr)) && (bg__self.guarded || bg__loops_watched) &&
      sys_wait_seen(caller, nr, a1, a2)) { /* the loop's own wait is never a violation */
    uint32_t s = bg__self.loop_sigs;
    long r;
    do /* made again if the stall timer interrupted it */
      r = real(nr, a1, a2, a3, a4, a5, a6);
    while (bg__loop_eintr_ours(r == -1 && errno == EINTR, &s));
    bg__loop_woke();
    return r;
  }
  if (!bg__self.guarded) return real(nr, a1, a2, a3, a4, a5, a6); /* auto: not a loop yet */
  bg__call_t c;
  long r;
  int v = bg__enter_any(&c, row, cat, ex, caller);
  BG_VERDICT(v, &c, r = real(nr, a1, a2, a3, a4, a5, a6), r = -1, /* never offloaded */)
  return r;
}

BG_EXPORT long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long),
       a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
  va_end(ap);
  long r;
  /* libunwind validates addresses with syscall(SYS_write) on its (emulated) pipe */
  if (BG_UNLIKELY(bg__unwinding) && (nr == SYS_write || nr == SYS_read) &&
      bg__unw_fake_fd((int)a1)) /* an int passed through "...": only the low half is set */
    return nr == SYS_write ? bg__unw_write((int)a1, (const void *)a2, (size_t)a3)
                           : bg__unw_read((int)a1, (void *)a2, (size_t)a3);
  if (BG_LIKELY(!bg__self.guarded) && !(bg__loops_watched && sys_is_wait(nr)))
    r = bg__get_syscall()(nr, a1, a2, a3, a4, a5, a6);
  else
    r = slow(nr, (uintptr_t)__builtin_return_address(0), a1, a2, a3, a4, a5, a6);
  sys_track(nr, r, a1, a2, a3, a4);
  return r;
}
