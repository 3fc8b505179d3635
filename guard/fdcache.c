/* fdcache.c - what blockguard knows about each fd: blocking or not, and its file type.
 *
 * Asked only on guarded threads (the slow path).  An entry says O_NONBLOCK (NB) when the
 * shim saw the flag set - at creation, through fcntl F_SETFL or ioctl FIONBIO, or from
 * an fcntl(F_GETFL) probe - and BLOCK when it saw it clear at a tracked creation (socket,
 * accept, pipe, open, fopen, mq_open...) or F_SETFL/FIONBIO, and has seen nothing since
 * that could change it.  So a violation on such an fd costs no system call of ours (it
 * used to probe every call); an fd that only a probe found blocking (inherited, or
 * created by a call we do not track) is probed at each call, as before, since its
 * number may also be closed and reused where we cannot see it.
 *
 * What changes an fd's O_NONBLOCK, and how we follow it:
 *   - close / close_range / closefrom / fclose / mq_close / dup2/dup3 over it: entry
 *     forgotten (preload/custom_fd.c, custom_stdio.c, custom_syscall.c);
 *   - F_SETFL / FIONBIO on the fd, through libc or syscall(): entry updated;
 *   - the same on another fd sharing the open file description: descriptions are
 *     shared by dup/dup2/dup3/F_DUPFD, so those fds are marked SHARED, and a flag change
 *     on any SHARED fd drops both facts of every SHARED fd (rare, a table scan);
 *   - another process sharing the description (after fork, an inherited fd, one sent
 *     over a unix socket) changing the flag: not seen when it happens.  A cached
 *     O_NONBLOCK that another process cleared gives missed violations on that fd; a
 *     cached "blocking" that another process set O_NONBLOCK on is corrected the first
 *     time a call on it fails with EAGAIN (which a blocking fd cannot return, but for
 *     SO_RCVTIMEO/SO_SNDTIMEO timeouts: bg__fd_failed), and until then calls on it are
 *     reported as the blocking calls the program's code makes them
 *     (docs/exemptions.md);
 *   - a close we did not see (a raw system call instruction): the next call on the
 *     number fails with EBADF, and the entry is forgotten then.
 * The shim never changes an fd's flags itself.
 *
 * An fd on which F_GETFL fails (EBADF) cannot block: the call fails at once.  O_NONBLOCK
 * on a regular file or block device does nothing (the kernel ignores it), so such an fd
 * still counts as blocking (category `file`).  Entries are 16-bit words updated with
 * relaxed atomics: safe from any thread and from signal handlers.  fds beyond the table
 * are probed every time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/perfmap.h"

/* The table and its bits are declared in guard.h: the positive facts are read inline
 * there (bg__fd_nonblock, bg__fd_category); this file keeps every other access. */
enum {
  FD_NB = BG_FD_NB,
  FD_BLOCK = BG_FD_BLOCK,
  FD_KIND_KNOWN = BG_FD_KIND_KNOWN,
  FD_FILE = BG_FD_FILE,
  FD_TTY = BG_FD_TTY,
  FD_PIPE = BG_FD_PIPE,
  FD_SHARED = BG_FD_SHARED,
  FD_THREAD = BG_FD_THREAD,
  FD_QUIET = BG_FD_QUIET,
  FD_EVENTFD = BG_FD_EVENTFD,
};

bg__fdinfo_t bg__fdinfo[BG_FD_TABLE];
static int maxfd; /* highest fd ever stored: bounds the SHARED scan */

static bg__fdinfo_t load(int fd) { return __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED); }

static void store(int fd, bg__fdinfo_t v) {
  __atomic_store_n(&bg__fdinfo[fd], v, __ATOMIC_RELAXED);
  int m = __atomic_load_n(&maxfd, __ATOMIC_RELAXED);
  while (fd > m && !__atomic_compare_exchange_n(&maxfd, &m, fd, 1, __ATOMIC_RELAXED,
                                                __ATOMIC_RELAXED)) {
  }
}

/* F_GETFL: -1 for a bad fd, else 0/1 for O_NONBLOCK.  errno is preserved. */
static int probe_nb(int fd) {
  int saved = errno;
  int fl = fcntl(fd, F_GETFL);
  errno = saved;
  return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
}

static bg__fdinfo_t probe_kind(int fd) {
  int saved = errno;
  struct stat st;
  bg__fdinfo_t k = 0; /* fstat failed (closed fd): nothing known, nothing cached */
  if (fstat(fd, &st) == 0) {
    k = FD_KIND_KNOWN;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) k |= FD_FILE;
    if (S_ISREG(st.st_mode) && bg__perfmap_owned && bg__perfmap_is_map(st.st_dev, st.st_ino))
      k |= FD_QUIET;
    if (S_ISFIFO(st.st_mode)) k |= FD_PIPE;
    if (S_ISCHR(st.st_mode) && isatty(fd)) k |= FD_TTY;
    /* An anonymous inode (no file type): a signalfd reads the signals pending for the
     * calling thread, so a call on it must stay on that thread (guard/offload.c); an
     * eventfd in a poll set is an event loop's doorbell (guard/loop.c). */
    if ((st.st_mode & S_IFMT) == 0) {
      char path[32], link[32];
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, link, sizeof link - 1);
      if (n > 0) link[n] = 0;
      if (n > 0 && !strcmp(link, "anon_inode:[signalfd]")) k |= FD_THREAD;
      if (n > 0 && !strcmp(link, "anon_inode:[eventfd]")) k |= FD_EVENTFD;
    }
  }
  errno = saved;
  return k;
}

/* The kind bits of fd, probed once and cached. */
static bg__fdinfo_t kind(int fd) {
  if (fd < 0) return 0;
  if (fd >= BG_FD_TABLE) return probe_kind(fd);
  bg__fdinfo_t v = load(fd);
  if (v & FD_KIND_KNOWN) return v;
  bg__fdinfo_t k = probe_kind(fd);
  if (k) store(fd, (bg__fdinfo_t)((load(fd) & (FD_NB | FD_BLOCK | FD_SHARED)) | k));
  return k;
}

/* -1: invalid fd; 1: O_NONBLOCK set; 0: blocking. */
static int nb_state(int fd) {
  if (fd < 0) return -1;
  if (fd < BG_FD_TABLE) {
    bg__fdinfo_t v = load(fd);
    if (v & FD_NB) return 1;
    if (v & FD_BLOCK) return 0;
  }
  int nb = probe_nb(fd);
  if (nb < 0) {
    if (fd < BG_FD_TABLE) store(fd, 0);
    return -1;
  }
  /* A probed "blocking" is not kept: an fd whose creation we did not see may have been
   * closed and reused unseen too (a library's raw close); only fds created through a
   * tracked call, or re-flagged through one, are known blocking. */
  if (nb && fd < BG_FD_TABLE) store(fd, (bg__fdinfo_t)(load(fd) | FD_NB));
  return nb;
}

int bg__fd_oflag_nonblock(int fd) { return nb_state(fd) != 0; }

int bg__fd_nonblock_slow(int fd) {
  int nb = nb_state(fd);
  if (nb <= 0) return nb < 0; /* invalid: fails at once; blocking: can block */
  /* O_NONBLOCK means nothing to a regular file or block device. */
  return !(kind(fd) & FD_FILE);
}

int bg__fd_is_pipe(int fd) { return (kind(fd) & FD_PIPE) != 0; }

int bg__fd_is_tty(int fd) { return (kind(fd) & FD_TTY) != 0; }

int bg__fd_thread_bound(int fd) { return (kind(fd) & FD_THREAD) != 0; }

int bg__fd_is_eventfd(int fd) { return (kind(fd) & FD_EVENTFD) != 0; }

int bg__fd_category_slow(int fd, int fallback) {
  return (kind(fd) & FD_FILE) ? BG_CAT_file : fallback;
}

int bg__fd_write_exempt(int fd) {
  if (BG_UNLIKELY(bg__perfmap_owned) && (kind(fd) & FD_QUIET)) return 1;
  unsigned m = bg__opt.exempt_fds.mask;
  if (!m) return 0;
  if (fd == 2 && (m & BG_EXEMPT_STDERR)) return 1;
  if (fd == 1 && (m & BG_EXEMPT_STDOUT)) return 1;
  return (m & BG_EXEMPT_TTY) && (kind(fd) & FD_TTY);
}

/* Every way an fd number stops naming what it named goes through forget, forget_range
 * or dup (newfd): an event loop identified by that fd ends there too (guard/loop.c). */
void bg__fd_forget(int fd) {
  bg__loop_fd_check(fd);
  if (fd >= 0 && fd < BG_FD_TABLE) store(fd, 0);
}

void bg__fd_failed(int fd, int err) {
  if (fd < 0 || fd >= BG_FD_TABLE) return;
  if (err == EBADF)
    store(fd, 0);
  else if (err == EAGAIN && (load(fd) & FD_BLOCK))
    store(fd, (bg__fdinfo_t)(load(fd) & ~FD_BLOCK)); /* probed again next time */
}

void bg__fd_forget_range(unsigned lo, unsigned hi) {
  bg__loop_fds_closed(lo, hi);
  int m = __atomic_load_n(&maxfd, __ATOMIC_RELAXED);
  if (hi > (unsigned)m) hi = (unsigned)m;
  for (unsigned fd = lo; fd <= hi && fd < BG_FD_TABLE; fd++)
    if (load((int)fd)) __atomic_store_n(&bg__fdinfo[fd], 0, __ATOMIC_RELAXED);
}

void bg__fd_created(int fd, int nonblock) {
  if (fd < 0 || fd >= BG_FD_TABLE) return;
  store(fd, nonblock ? FD_NB : FD_BLOCK);
}

void bg__fd_created_eventfd(int fd, int nonblock) {
  if (fd < 0 || fd >= BG_FD_TABLE) return;
  store(fd, (bg__fdinfo_t)((nonblock ? FD_NB : FD_BLOCK) | FD_KIND_KNOWN | FD_EVENTFD));
}

/* Drops the cached O_NONBLOCK of every fd that shares a description with another. */
static void invalidate_shared(void) {
  int m = __atomic_load_n(&maxfd, __ATOMIC_RELAXED);
  for (int fd = 0; fd <= m && fd < BG_FD_TABLE; fd++) {
    bg__fdinfo_t v = load(fd);
    if ((v & FD_SHARED) && (v & (FD_NB | FD_BLOCK)))
      __atomic_store_n(&bg__fdinfo[fd], (bg__fdinfo_t)(v & ~(FD_NB | FD_BLOCK)), __ATOMIC_RELAXED);
  }
}

void bg__fd_flags_changed(int fd, int nonblock) {
  if (fd < 0 || fd >= BG_FD_TABLE) return;
  bg__fdinfo_t v = load(fd);
  if (v & FD_SHARED) invalidate_shared();
  v = load(fd);
  store(fd, (bg__fdinfo_t)((v & ~(FD_NB | FD_BLOCK)) | (nonblock ? FD_NB : FD_BLOCK)));
}

void bg__fd_dup(int oldfd, int newfd) {
  if (oldfd == newfd) return;
  bg__loop_fd_check(newfd); /* dup2/dup3 over a loop's fd */
  if (newfd < 0 || newfd >= BG_FD_TABLE) return;
  bg__fdinfo_t v = (oldfd >= 0 && oldfd < BG_FD_TABLE) ? load(oldfd) : 0;
  if (oldfd >= 0 && oldfd < BG_FD_TABLE) store(oldfd, v | FD_SHARED);
  store(newfd, v | FD_SHARED);
}

void bg__fd_forget_all(void) {
  int m = __atomic_load_n(&maxfd, __ATOMIC_RELAXED);
  for (int i = 0; i <= m && i < BG_FD_TABLE; i++) __atomic_store_n(&bg__fdinfo[i], 0, __ATOMIC_RELAXED);
}

int bg__fd_invalid(int fd) { return nb_state(fd) < 0; }
