/* custom_fd.c - hand-written wrappers around fds: the variadic open/fcntl/ioctl, and
 * every call that creates, duplicates, closes or re-flags an fd, so the O_NONBLOCK
 * cache (guard/fdcache.c) stays right.
 *
 * The blocking ones (open family, accept, fcntl F_SETLKW, sync) go through BG_RUN with
 * their calls.def row; the others (BG_TRACK rows) only update the cache after the real
 * call, on every thread (an fd made non-blocking on a worker is used on the loop).
 * Tracking never touches errno and never makes a syscall.  Variadic arguments are
 * forwarded as glibc itself reads them: open's mode only when O_CREAT or O_TMPFILE ask
 * for it, fcntl's and ioctl's third argument as a pointer-sized word (an int argument
 * travels in the same register class on x86-64, as glibc's own fcntl assumes).
 */
#include "preload/custom_gen.h"
#include "preload/custom_types.h"

#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef int (*int_fn)(int);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);
typedef int (*close_range_fn)(unsigned, unsigned, int);
typedef void (*closefrom_fn)(int);
typedef int (*closedir_fn)(DIR *);
typedef int (*socket_fn)(int, int, int);
typedef int (*socketpair_fn)(int, int, int, int *);
typedef int (*pipe_fn)(int *);
typedef int (*pipe2_fn)(int *, int);
typedef int (*eventfd_fn)(unsigned, int);
typedef int (*timerfd_fn)(clockid_t, int);
typedef int (*signalfd_fn)(int, const sigset_t *, int);
typedef int (*void_int_fn)(void);
typedef int (*memfd_fn)(const char *, unsigned);
typedef int (*mq_setattr_fn)(mqd_t, const struct mq_attr *, struct mq_attr *);
typedef void (*sync_fn)(void);

/* ---- open family: category file; the new fd's O_NONBLOCK is known -------------- */
static int opened(int fd, int flags) {
  if (fd >= 0) bg__fd_created(fd, (flags & O_NONBLOCK) != 0);
  return fd;
}

#define OPEN_MODE(flags)                                                                \
  mode_t mode = 0;                                                                      \
  if (__OPEN_NEEDS_MODE(flags)) {                                                       \
    va_list ap;                                                                         \
    va_start(ap, flags);                                                                \
    mode = (mode_t)va_arg(ap, int);                                                     \
    va_end(ap);                                                                         \
  }

#define BG_OPEN(name)                                                                   \
  BG_REAL_FN(open_fn, name)                                                             \
  BG_EXPORT int name(const char *path, int flags, ...) {                               \
    OPEN_MODE(flags)                                                                    \
    return opened(BG_RUN(name, bg__get_##name()(path, flags, mode), path, flags, mode), flags); \
  }
BG_OPEN(open)
BG_OPEN(open64)
BG_OPEN(__open)
BG_OPEN(__open64)

#define BG_OPENAT(name)                                                                 \
  BG_REAL_FN(openat_fn, name)                                                           \
  BG_EXPORT int name(int dirfd, const char *path, int flags, ...) {                    \
    OPEN_MODE(flags)                                                                    \
    return opened(BG_RUN(name, bg__get_##name()(dirfd, path, flags, mode), dirfd, path, flags, \
                         mode),                                                         \
                  flags);                                                               \
  }
BG_OPENAT(openat)
BG_OPENAT(openat64)

/* Fortified opens (no mode by definition; glibc aborts if O_CREAT is passed). */
#define BG_OPEN2(name)                                                                  \
  BG_REAL_FN(open2_fn, name)                                                            \
  BG_EXPORT int name(const char *path, int flags) {                                     \
    return opened(BG_RUN(name, bg__get_##name()(path, flags), path, flags), flags);      \
  }
BG_OPEN2(__open_2)
BG_OPEN2(__open64_2)

#define BG_OPENAT2(name)                                                                \
  BG_REAL_FN(openat2_fn, name)                                                          \
  BG_EXPORT int name(int dirfd, const char *path, int flags) {                          \
    return opened(BG_RUN(name, bg__get_##name()(dirfd, path, flags), dirfd, path, flags), flags); \
  }
BG_OPENAT2(__openat_2)
BG_OPENAT2(__openat64_2)

#define BG_CREAT(name)                                                                  \
  BG_REAL_FN(creat_fn, name)                                                            \
  BG_EXPORT int name(const char *path, mode_t mode) {                                   \
    return opened(BG_RUN(name, bg__get_##name()(path, mode), path, mode), 0);            \
  }
BG_CREAT(creat)
BG_CREAT(creat64)

/* ---- fcntl: F_SETLKW/F_OFD_SETLKW block (sync); F_SETFL and F_DUPFD are tracked -- */
static int fcntl_done(int r, int fd, int cmd, void *arg) {
  if (r < 0) return r;
  switch (cmd) {
  case F_SETFL:
    bg__fd_flags_changed(fd, ((int)(intptr_t)arg & O_NONBLOCK) != 0);
    break;
  case F_DUPFD:
  case F_DUPFD_CLOEXEC:
    bg__fd_dup(fd, r);
    break;
  default:
    break;
  }
  return r;
}

#define BG_FCNTL(name)                                                                  \
  BG_REAL_FN(fcntl_fn, name)                                                            \
  BG_EXPORT int name(int fd, int cmd, ...) {                                            \
    va_list ap;                                                                         \
    va_start(ap, cmd);                                                                  \
    void *arg = va_arg(ap, void *);                                                     \
    va_end(ap);                                                                         \
    return fcntl_done(BG_RUN(name, bg__get_##name()(fd, cmd, arg), fd, cmd, arg), fd, cmd, arg); \
  }
BG_FCNTL(fcntl)
BG_FCNTL(fcntl64)
BG_FCNTL(__fcntl)

/* ---- ioctl: FIONBIO sets or clears O_NONBLOCK ----------------------------------- */
BG_REAL_FN(ioctl_fn, ioctl)
BG_EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  int r = bg__get_ioctl()(fd, req, arg);
  if (r >= 0 && req == FIONBIO && arg) bg__fd_flags_changed(fd, *(const int *)arg != 0);
  return r;
}

/* ---- close family ------------------------------------------------------------------ */
/* Forgotten after the call: an entry set by another thread for a new fd that reused
 * the number can only be lost (and re-probed), never left stale. */
#define BG_CLOSE(name)                                                                  \
  BG_REAL_FN(int_fn, name)                                                              \
  BG_EXPORT int name(int fd) {                                                          \
    if (BG_UNLIKELY(bg__unwinding) && bg__unw_fake_fd(fd)) return 0; /* unwind_io.c */  \
    int r = bg__get_##name()(fd);                                                       \
    bg__fd_forget(fd); /* closed even on EINTR (Linux) */                               \
    return r;                                                                           \
  }
BG_CLOSE(close)
BG_CLOSE(__close)

BG_REAL_FN(close_range_fn, close_range)
BG_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  int r = bg__get_close_range()(first, last, flags);
  if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC)) bg__fd_forget_range(first, last);
  return r;
}

BG_REAL_FN(closefrom_fn, closefrom)
BG_EXPORT void closefrom(int lowfd) {
  bg__get_closefrom()(lowfd);
  if (lowfd >= 0) bg__fd_forget_range((unsigned)lowfd, ~0u);
}

BG_REAL_FN(closedir_fn, closedir)
BG_EXPORT int closedir(DIR *d) {
  DIR *volatile dv = d; /* closedir is declared nonnull; a NULL from the program still must not crash us */
  int fd = dv ? dirfd(dv) : -1;
  int r = bg__get_closedir()(d);
  if (fd >= 0) bg__fd_forget(fd);
  return r;
}

/* ---- dup family: the new fd shares the open file description ---------------------- */
BG_REAL_FN(int_fn, dup)
BG_EXPORT int dup(int fd) {
  int r = bg__get_dup()(fd);
  if (r >= 0) bg__fd_dup(fd, r);
  return r;
}

#define BG_DUP2(name)                                                                   \
  BG_REAL_FN(dup2_fn, name)                                                             \
  BG_EXPORT int name(int oldfd, int newfd) {                                            \
    int r = bg__get_##name()(oldfd, newfd);                                             \
    if (r >= 0) bg__fd_dup(oldfd, newfd);                                               \
    return r;                                                                           \
  }
BG_DUP2(dup2)
BG_DUP2(__dup2)

BG_REAL_FN(dup3_fn, dup3)
BG_EXPORT int dup3(int oldfd, int newfd, int flags) {
  int r = bg__get_dup3()(oldfd, newfd, flags);
  if (r >= 0) bg__fd_dup(oldfd, newfd);
  return r;
}

/* ---- fd creation: flags known at birth ------------------------------------------- */
BG_REAL_FN(socket_fn, socket)
BG_EXPORT int socket(int domain, int type, int protocol) {
  int fd = bg__get_socket()(domain, type, protocol);
  if (fd >= 0) bg__fd_created(fd, (type & SOCK_NONBLOCK) != 0);
  return fd;
}

BG_REAL_FN(socketpair_fn, socketpair)
BG_EXPORT int socketpair(int domain, int type, int protocol, int sv[2]) {
  int r = bg__get_socketpair()(domain, type, protocol, sv);
  if (r == 0) {
    bg__fd_created(sv[0], (type & SOCK_NONBLOCK) != 0);
    bg__fd_created(sv[1], (type & SOCK_NONBLOCK) != 0);
  }
  return r;
}

BG_REAL_FN(pipe_fn, pipe)
BG_EXPORT int pipe(int fds[2]) {
  if (BG_UNLIKELY(bg__unwinding)) return bg__unw_pipe(fds); /* guard/unwind_io.c */
  int r = bg__get_pipe()(fds);
  if (r == 0) {
    bg__fd_created(fds[0], 0);
    bg__fd_created(fds[1], 0);
  }
  return r;
}

BG_REAL_FN(pipe2_fn, pipe2)
BG_EXPORT int pipe2(int fds[2], int flags) {
  if (BG_UNLIKELY(bg__unwinding)) return bg__unw_pipe(fds); /* guard/unwind_io.c */
  int r = bg__get_pipe2()(fds, flags);
  if (r == 0) {
    bg__fd_created(fds[0], (flags & O_NONBLOCK) != 0);
    bg__fd_created(fds[1], (flags & O_NONBLOCK) != 0);
  }
  return r;
}

BG_REAL_FN(eventfd_fn, eventfd)
BG_EXPORT int eventfd(unsigned initval, int flags) {
  int fd = bg__get_eventfd()(initval, flags);
  if (fd >= 0) bg__fd_created_eventfd(fd, (flags & EFD_NONBLOCK) != 0);
  return fd;
}

BG_REAL_FN(timerfd_fn, timerfd_create)
BG_EXPORT int timerfd_create(clockid_t clk, int flags) {
  int fd = bg__get_timerfd_create()(clk, flags);
  if (fd >= 0) bg__fd_created(fd, (flags & TFD_NONBLOCK) != 0);
  return fd;
}

BG_REAL_FN(signalfd_fn, signalfd)
BG_EXPORT int signalfd(int fd, const sigset_t *mask, int flags) {
  int r = bg__get_signalfd()(fd, mask, flags);
  /* With an existing fd only the mask changes (the kernel ignores flags). */
  if (r >= 0 && fd == -1) bg__fd_created(r, (flags & SFD_NONBLOCK) != 0);
  return r;
}

BG_REAL_FN(void_int_fn, inotify_init)
BG_EXPORT int inotify_init(void) {
  int fd = bg__get_inotify_init()();
  if (fd >= 0) bg__fd_created(fd, 0);
  return fd;
}

BG_REAL_FN(int_fn, inotify_init1)
BG_EXPORT int inotify_init1(int flags) {
  int fd = bg__get_inotify_init1()(flags);
  if (fd >= 0) bg__fd_created(fd, (flags & IN_NONBLOCK) != 0);
  return fd;
}

BG_REAL_FN(int_fn, epoll_create1)
BG_EXPORT int epoll_create1(int flags) {
  int fd = bg__get_epoll_create1()(flags);
  if (fd >= 0) bg__fd_created(fd, 0);
  return fd;
}

BG_REAL_FN(memfd_fn, memfd_create)
BG_EXPORT int memfd_create(const char *name, unsigned flags) {
  int fd = bg__get_memfd_create()(name, flags);
  if (fd >= 0) bg__fd_created(fd, 0);
  return fd;
}

/* POSIX message queues are fds: mq_open creates one, mq_close closes it (through libc's
 * own close, which the close wrapper does not see). */
typedef mqd_t (*mq_open_fn)(const char *, int, ...);
BG_REAL_FN(mq_open_fn, mq_open)
BG_EXPORT mqd_t mq_open(const char *name, int oflag, ...) {
  mqd_t q;
  if (oflag & O_CREAT) {
    va_list ap;
    va_start(ap, oflag);
    mode_t mode = (mode_t)va_arg(ap, int);
    struct mq_attr *attr = va_arg(ap, struct mq_attr *);
    va_end(ap);
    q = bg__get_mq_open()(name, oflag, mode, attr);
  } else {
    q = bg__get_mq_open()(name, oflag);
  }
  if (q >= 0) bg__fd_created(q, (oflag & O_NONBLOCK) != 0);
  return q;
}

typedef int (*mq_close_fn)(mqd_t);
BG_REAL_FN(mq_close_fn, mq_close)
BG_EXPORT int mq_close(mqd_t q) {
  int r = bg__get_mq_close()(q);
  bg__fd_forget(q);
  return r;
}

BG_REAL_FN(mq_setattr_fn, mq_setattr)
BG_EXPORT int mq_setattr(mqd_t q, const struct mq_attr *attr, struct mq_attr *old) {
  int r = bg__get_mq_setattr()(q, attr, old);
  const struct mq_attr *volatile a = attr; /* declared nonnull, checked anyway */
  if (r == 0 && a) bg__fd_flags_changed(q, (attr->mq_flags & O_NONBLOCK) != 0);
  return r;
}

/* ---- accept: blocking rows; an accepted socket never inherits O_NONBLOCK ---------- */
BG_REAL_FN(accept_fn, accept)
BG_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  int r = BG_RUN(accept, bg__get_accept()(fd, addr, len), fd, addr, len);
  if (r >= 0) bg__fd_created(r, 0);
  return r;
}

BG_REAL_FN(accept4_fn, accept4)
BG_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  int r = BG_RUN(accept4, bg__get_accept4()(fd, addr, len, flags), fd, addr, len, flags);
  if (r >= 0) bg__fd_created(r, (flags & SOCK_NONBLOCK) != 0);
  return r;
}

/* ---- sync(): void, so its own macro ---------------------------------------------- */
BG_REAL_FN(sync_fn, sync)
BG_EXPORT void sync(void) { BG_RUN_VOID(sync, bg__get_sync()()); }
