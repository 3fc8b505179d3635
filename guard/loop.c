/* loop.c - event-loop detection: which threads run an event loop, and when it ends.
 *
 * What counts as an event loop, and why (docs/design.md "Event loops"): a thread whose
 * idle point is a readiness wait on a set of event sources that outlives each wait,
 * which it returns to after running callbacks.  Two shapes are recognised from the
 * wait itself, before it is made:
 *
 *   - epoll: a timed wait (non-zero timeout) on an epoll instance.  The persistent
 *     interest set is the reactor's own data structure (libuv, libevent, libev, redis'
 *     ae, nginx, asyncio's selector, gevent's hub, tokio, Java NIO); the blocking tools
 *     and clients we looked at (make, CPython's subprocess, curl, git, pip) poll or
 *     select a set they rebuild for every wait.  The loop is that epoll fd.
 *   - poll/select: a timed wait whose read set holds an eventfd.  An eventfd carries no
 *     data: it is the doorbell other code rings to wake the loop (GLib's GWakeup, Qt's
 *     thread pipe, libevent's notify fd).  A child's pipes (make's jobserver,
 *     subprocess.communicate), a transfer's sockets or socketpair (curl, git, pip's
 *     sockets) are not doorbells.  The loop is that eventfd.
 *
 * The fd that identifies the loop also says when it is over.  A loop ends when
 *   - its fd is closed, on any thread (close, dup2/dup3 over it, close_range,
 *     closefrom): asyncio's loop.close(), uv_loop_close, event_base_free,
 *     ev_loop_destroy, g_main_context_unref all close it; or
 *   - its wait stops recurring: BG_LOOP_ADOPT consecutive loop waits on another loop's
 *     fd, none on its own.  That other loop is the thread's loop from then on (a
 *     runtime that moved to a new loop without closing the old one).  Fewer than that
 *     are a loop nested in this one (GLib's sync D-Bus calls run a private context
 *     inside a callback): each such wait blocks this loop, so it is a violation.
 *   - the process forks (the child's thread is not the loop) or the thread exits.
 *
 * Per-thread state is in TLS (bg__self.loop_*).  What another thread must see, to end a
 * loop whose fd it closes, is in the thread's ledger record (loop_fd1), plus one bit per
 * fd that makes the check on every close one load.  A closer never touches the owner's
 * TLS (it may be a signal handler interrupting the owner): it clears the owner's
 * record, and the owner notices at its next loop wait or blocking call (bg__loop_gone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/select.h>

#include "guard/guard.h"
#include "guard/ledger.h"

#define BG_LOOP_ADOPT 8

uint8_t bg__loop_fdbits[BG_FD_TABLE / 8];
int bg__loop_fd_high;
static unsigned loop_fd_max; /* highest fd that ever identified a loop */

static void fdbit_set(int fd) {
  unsigned m = __atomic_load_n(&loop_fd_max, __ATOMIC_RELAXED);
  while ((unsigned)fd > m && !__atomic_compare_exchange_n(&loop_fd_max, &m, (unsigned)fd, 1,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  if ((unsigned)fd < BG_FD_TABLE)
    __atomic_or_fetch(&bg__loop_fdbits[fd >> 3], (uint8_t)(1u << (fd & 7)), __ATOMIC_RELAXED);
  else
    __atomic_store_n(&bg__loop_fd_high, 1, __ATOMIC_RELAXED);
}

/* Async-signal-safe: atomics and a scan of the records, nothing else. */
void bg__loop_fds_closed(unsigned lo, unsigned hi) {
  unsigned top = __atomic_load_n(&loop_fd_max, __ATOMIC_RELAXED);
  if (lo > top) return;
  if (hi > top) hi = top;
  for (unsigned fd = lo; fd <= hi && fd < BG_FD_TABLE; fd++)
    if (__atomic_load_n(&bg__loop_fdbits[fd >> 3], __ATOMIC_RELAXED) >> (fd & 7) & 1)
      __atomic_and_fetch(&bg__loop_fdbits[fd >> 3], (uint8_t) ~(1u << (fd & 7)), __ATOMIC_RELAXED);
  /* An owner without a table slot (more threads than slots) closing its own loop fd. */
  if (bg__self.loop_fd >= 0 && (unsigned)bg__self.loop_fd >= lo && (unsigned)bg__self.loop_fd <= hi)
    bg__self.loop_closed = 1;
  bg__ledger_hdr_t *h = bg__ledger;
  bg__ledger_thread_t *rec = h ? bg__ledger_threads() : NULL;
  uint32_t n = rec ? __atomic_load_n(&h->nthreads, __ATOMIC_ACQUIRE) : 0;
  for (uint32_t i = 0; i < n && i < h->threads_cap; i++) {
    int32_t v = __atomic_load_n(&rec[i].loop_fd1, __ATOMIC_RELAXED);
    if (v > 0 && (unsigned)(v - 1) >= lo && (unsigned)(v - 1) <= hi)
      __atomic_compare_exchange_n(&rec[i].loop_fd1, &v, 0, 0, __ATOMIC_RELEASE,
                                  __ATOMIC_RELAXED);
  }
}

static void take(bg__thread_t *t, int fd) {
  t->loop_fd = fd;
  t->loop_closed = 0;
  t->loop_foreign = 0;
  bg__thread_register(); /* so a closer on another thread can find it */
  if (t->rec) __atomic_store_n(&t->rec->loop_fd1, fd + 1, __ATOMIC_RELEASE);
  fdbit_set(fd);
  if (!(t->roles & BG_ROLE_LOOP)) {
    t->roles |= BG_ROLE_LOOP;
    bg__thread_refresh(t);
  }
}

static void drop(bg__thread_t *t) {
  t->loop_fd = -1;
  t->loop_closed = 0;
  t->loop_foreign = 0;
  if (t->rec) __atomic_store_n(&t->rec->loop_fd1, 0, __ATOMIC_RELAXED);
  if (!t->loop_marked && (t->roles & BG_ROLE_LOOP)) {
    t->roles &= (uint8_t)~BG_ROLE_LOOP;
    bg__thread_refresh(t);
  }
}

int bg__loop_gone(bg__thread_t *t) {
  if (t->loop_fd < 0) return 0;
  if (!t->loop_closed &&
      (!t->rec || __atomic_load_n(&t->rec->loop_fd1, __ATOMIC_ACQUIRE) == t->loop_fd + 1))
    return 0;
  drop(t);
  return 1;
}

/* An eventfd?  The cache answers for fds whose kind it knows (every fd after its first
 * wait here); fdcache.c probes the others once. */
static inline int doorbell(int fd) {
  if ((unsigned)fd < BG_FD_TABLE) {
    bg__fdinfo_t v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
    if (v & BG_FD_KIND_KNOWN) return (v & BG_FD_EVENTFD) != 0;
  }
  return bg__fd_is_eventfd(fd);
}

/* Finds in a poll/select read set the thread's own loop fd (*own = 1, returns it), or
 * else the first eventfd (a doorbell: another loop), or -1. */
static int scan_poll(const struct pollfd *fds, size_t n, int mine, int *own) {
  int door = -1;
  for (size_t i = 0; i < n; i++) {
    int fd = fds[i].fd;
    if (fd < 0 || !(fds[i].events & (POLLIN | POLLRDNORM))) continue;
    if (fd == mine) return *own = 1, fd;
    if (door < 0 && doorbell(fd)) door = fd;
  }
  return door;
}

/* The bits are read as the kernel reads them: whole longs covering nfds bits (a
 * program may pass a set larger than fd_set with nfds above FD_SETSIZE). */
static int scan_select(const fd_set *r, int nfds, int mine, int *own) {
  const unsigned long *w = (const unsigned long *)(const void *)r;
  const int bits = (int)(8 * sizeof *w);
  int door = -1;
  for (int i = 0; i * bits < nfds; i++) {
    for (unsigned long v = w[i]; v; v &= v - 1) {
      int fd = i * bits + __builtin_ctzl(v);
      if (fd >= nfds) break;
      if (fd == mine) return *own = 1, fd;
      if (door < 0 && doorbell(fd)) door = fd;
    }
  }
  return door;
}

int bg__loop_wait_seen(int kind, uintptr_t set, uintptr_t n, uintptr_t caller) {
  bg__thread_t *t = &bg__self;
  if (caller >= t->loop_lo && caller < t->loop_hi) return 1; /* adapter runtime's own wait */
  int saved = errno;
  t->depth++; /* fd probes and registration pass through the wrappers */
  bg__loop_gone(t);
  int own = 0, fd = -1;
  switch (kind) {
  case BG_WS_epoll:
    fd = (int)set;
    own = fd >= 0 && fd == t->loop_fd;
    if (!own && fd >= 0 && bg__fd_invalid(fd)) fd = -1; /* fails at once: no loop */
    break;
  case BG_WS_poll:
    if (set) fd = scan_poll((const struct pollfd *)set, (size_t)n, t->loop_fd, &own);
    break;
  case BG_WS_select:
    if (set) fd = scan_select((const fd_set *)set, (int)n, t->loop_fd, &own);
    break;
  default:
    break;
  }
  int loop_wait = 0;
  if (own) {
    t->loop_foreign = 0;
    loop_wait = 1;
  } else if (fd >= 0 && (t->loop_fd < 0 || ++t->loop_foreign >= BG_LOOP_ADOPT)) {
    take(t, fd); /* a new loop, or one that replaced the thread's old loop */
    loop_wait = 1;
  } /* else: no loop here, or a loop nested in this thread's loop: a blocking wait */
  t->depth--;
  errno = saved;
  return loop_wait;
}

/* The child's only thread was told by bg__threads_after_fork, and its ledger starts
 * with an empty thread table; every fd bit belongs to the parent's threads. */
void bg__loops_after_fork(void) {
  memset(bg__loop_fdbits, 0, sizeof bg__loop_fdbits);
  bg__loop_fd_high = 0;
  loop_fd_max = 0;
}
