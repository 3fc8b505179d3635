/* fdcache.c - what blockguard knows about each fd: O_NONBLOCK and regular-file-ness.
 *
 * Asked only on guarded threads (slow path), so an unknown fd costs one fcntl+fstat
 * the first time and a byte load afterwards.  Entries are set when the shim sees the fd
 * created with known flags (socket/accept4/pipe2 with *_NONBLOCK, open with O_NONBLOCK),
 * updated by fcntl(F_SETFL) and ioctl(FIONBIO), and forgotten on close/dup2/dup3/fclose.
 * O_NONBLOCK belongs to the open file description, which dup'd fds and other processes
 * share: a change made behind our back through another fd is possible, so entries are
 * also forgotten for every fd when the program changes flags on any fd that shares a
 * description (we cannot tell which do, so F_SETFL on a dup'd fd clears the cache).
 * The shim never changes an fd's flags itself.
 *
 * Entries are single bytes updated with atomics: safe from any thread and from signal
 * handlers.  fds beyond the table are looked up every time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"

/* The table and the bit names are in guard.h: known fds are answered inline there. */
enum { FD_KNOWN = BG_FD_KNOWN, FD_NONBLOCK = BG_FD_NONBLOCK, FD_FILE = BG_FD_FILE,
       FD_TTY = BG_FD_TTY, FD_KIND_KNOWN = BG_FD_KIND_KNOWN };

uint8_t bg__fdinfo[BG_FD_TABLE];

static uint8_t probe_flags(int fd) {
  int saved = errno;
  int fl = fcntl(fd, F_GETFL);
  errno = saved;
  if (fl < 0) return 0; /* bad fd: not known, the real call will fail as it should */
  return FD_KNOWN | ((fl & O_NONBLOCK) ? FD_NONBLOCK : 0);
}

static uint8_t probe_kind(int fd) {
  int saved = errno;
  struct stat st;
  uint8_t k = FD_KIND_KNOWN;
  if (fstat(fd, &st) == 0) {
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) k |= FD_FILE;
    if (S_ISCHR(st.st_mode) && isatty(fd)) k |= FD_TTY;
  }
  errno = saved;
  return k;
}

/* Out-of-line half of bg__fd_info (guard.h): an fd not yet (fully) known. */
uint8_t bg__fd_info_slow(int fd, uint8_t need) {
  if (fd < 0) return 0;
  if (fd >= BG_FD_TABLE) {
    uint8_t v = probe_flags(fd);
    return (need & FD_KIND_KNOWN) ? v | probe_kind(fd) : v;
  }
  uint8_t v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
  if (!(v & FD_KNOWN)) v |= probe_flags(fd);
  if ((need & FD_KIND_KNOWN) && !(v & FD_KIND_KNOWN) && (v & FD_KNOWN)) v |= probe_kind(fd);
  if (v & FD_KNOWN) __atomic_store_n(&bg__fdinfo[fd], v, __ATOMIC_RELAXED);
  return v;
}

static uint8_t info(int fd, uint8_t need) { return bg__fd_info(fd, need); }

int bg__fd_write_exempt(int fd) {
  unsigned m = bg__opt.exempt_mask;
  if (!m) return 0;
  if (fd == 2 && (m & BG_EXEMPT_STDERR)) return 1;
  if (fd == 1 && (m & BG_EXEMPT_STDOUT)) return 1;
  return (m & BG_EXEMPT_TTY) && (info(fd, FD_KIND_KNOWN) & FD_TTY);
}

void bg__fd_forget(int fd) {
  if (fd >= 0 && fd < BG_FD_TABLE) __atomic_store_n(&bg__fdinfo[fd], 0, __ATOMIC_RELAXED);
}

void bg__fd_set_nonblock(int fd, int on) {
  if (fd < 0 || fd >= BG_FD_TABLE) return;
  /* The kind bits are kept; only the flag is (re)defined. */
  uint8_t v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
  v = (uint8_t)((v & ~FD_NONBLOCK) | FD_KNOWN | (on ? FD_NONBLOCK : 0));
  __atomic_store_n(&bg__fdinfo[fd], v, __ATOMIC_RELAXED);
}

void bg__fd_forget_all(void) {
  for (int i = 0; i < BG_FD_TABLE; i++) __atomic_store_n(&bg__fdinfo[i], 0, __ATOMIC_RELAXED);
}
