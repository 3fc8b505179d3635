/* offload_uring.h - the URING(shape) rows of calls.def as io_uring SQEs (included by
 * preload/offload.c and preload/offload_custom.h).
 *
 * bg__ur_<shape>(sqe, the row's arguments...) fills the SQE and returns 1, or returns 0
 * when io_uring would not make exactly the call the program made, and a worker makes
 * it instead:
 *   - reads at the file position (READ/READV with offset -1) on regular files, block
 *     devices and pipes only: on sockets a receive timeout (SO_RCVTIMEO) would be
 *     ignored, other kinds (ttys, character devices) gain nothing;
 *   - writes only to regular files and block devices: on a pipe or a socket io_uring
 *     returns a short count where a blocking write(2) goes on writing;
 *   - explicit offsets must not be negative (the ring takes -1 as "file position");
 *   - lengths above INT_MAX go to a worker (the SQE length is 32-bit; the kernel caps a
 *     read at 2 GiB anyway);
 *   - sockets: only without a send/receive timeout (SO_SNDTIMEO/SO_RCVTIMEO, read with
 *     getsockopt at each call: the ring would ignore it); sends ask for MSG_WAITALL so
 *     the ring completes a stream send the way a blocking send(2) does, not short;
 *   - fortified entry points (__read_chk, __open_2...) check what glibc checks and
 *     leave the failing calls to the real function (which aborts).
 * Completion: the CQE's result is the call's return value or -errno.  Calls the kernel
 * completes with -EAGAIN or -EINTR did not happen and go to a worker (guard/offload.c).
 */
#ifndef BG_OFFLOAD_URING_H
#define BG_OFFLOAD_URING_H
#include <limits.h>
#include <liburing.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "guard/guard.h"

/* A read at the file position: the file kinds where io_uring and read(2) agree. */
static inline int bg__ur_readable(int fd) {
  return bg__fd_category(fd, BG_CAT_io) == BG_CAT_file || bg__fd_is_pipe(fd);
}
static inline int bg__ur_writable(int fd) { return bg__fd_category(fd, BG_CAT_io) == BG_CAT_file; }
/* No send/receive timeout on the socket (opt: SO_SNDTIMEO or SO_RCVTIMEO). */
static inline int bg__ur_no_timeout(int fd, int opt) {
  struct timeval tv = {1, 0};
  socklen_t len = sizeof tv;
  return getsockopt(fd, SOL_SOCKET, opt, &tv, &len) == 0 && !tv.tv_sec && !tv.tv_usec;
}
#define BG__UR_POS ((__u64)-1)

/* ---- read family ------------------------------------------------------------------ */
static inline int bg__ur_read(struct io_uring_sqe *sqe, int fd, void *buf, size_t n) {
  if (n > INT_MAX || !bg__ur_readable(fd)) return 0;
  io_uring_prep_read(sqe, fd, buf, (unsigned)n, BG__UR_POS);
  return 1;
}
static inline int bg__ur_read_chk(struct io_uring_sqe *sqe, int fd, void *buf, size_t n,
                                  size_t buflen) {
  return n <= buflen && bg__ur_read(sqe, fd, buf, n);
}
static inline int bg__ur_pread(struct io_uring_sqe *sqe, int fd, void *buf, size_t n, off64_t off) {
  if (n > INT_MAX || off < 0 || !bg__ur_readable(fd)) return 0;
  io_uring_prep_read(sqe, fd, buf, (unsigned)n, (__u64)off);
  return 1;
}
static inline int bg__ur_pread_chk(struct io_uring_sqe *sqe, int fd, void *buf, size_t n,
                                   off64_t off, size_t buflen) {
  return n <= buflen && bg__ur_pread(sqe, fd, buf, n, off);
}
static inline int bg__ur_readv(struct io_uring_sqe *sqe, int fd, const struct iovec *iov, int cnt) {
  if (cnt < 0 || !bg__ur_readable(fd)) return 0;
  io_uring_prep_readv(sqe, fd, iov, (unsigned)cnt, BG__UR_POS);
  return 1;
}
static inline int bg__ur_preadv(struct io_uring_sqe *sqe, int fd, const struct iovec *iov, int cnt,
                                off64_t off) {
  if (cnt < 0 || off < 0 || !bg__ur_readable(fd)) return 0;
  io_uring_prep_readv(sqe, fd, iov, (unsigned)cnt, (__u64)off);
  return 1;
}

/* ---- write family: regular files only ---------------------------------------------- */
static inline int bg__ur_write(struct io_uring_sqe *sqe, int fd, const void *buf, size_t n) {
  if (n > INT_MAX || !bg__ur_writable(fd)) return 0;
  io_uring_prep_write(sqe, fd, buf, (unsigned)n, BG__UR_POS);
  return 1;
}
static inline int bg__ur_pwrite(struct io_uring_sqe *sqe, int fd, const void *buf, size_t n,
                                off64_t off) {
  if (n > INT_MAX || off < 0 || !bg__ur_writable(fd)) return 0;
  io_uring_prep_write(sqe, fd, buf, (unsigned)n, (__u64)off);
  return 1;
}
static inline int bg__ur_writev(struct io_uring_sqe *sqe, int fd, const struct iovec *iov, int cnt) {
  if (cnt < 0 || !bg__ur_writable(fd)) return 0;
  io_uring_prep_writev(sqe, fd, iov, (unsigned)cnt, BG__UR_POS);
  return 1;
}
static inline int bg__ur_pwritev(struct io_uring_sqe *sqe, int fd, const struct iovec *iov,
                                 int cnt, off64_t off) {
  if (cnt < 0 || off < 0 || !bg__ur_writable(fd)) return 0;
  io_uring_prep_writev(sqe, fd, iov, (unsigned)cnt, (__u64)off);
  return 1;
}

/* ---- disk --------------------------------------------------------------------------- */
static inline int bg__ur_fsync(struct io_uring_sqe *sqe, int fd) {
  io_uring_prep_fsync(sqe, fd, 0);
  return 1;
}
static inline int bg__ur_fdatasync(struct io_uring_sqe *sqe, int fd) {
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  return 1;
}

/* ---- sockets ---------------------------------------------------------------------- */
static inline int bg__ur_recv(struct io_uring_sqe *sqe, int fd, void *buf, size_t n, int flags) {
  if (n > INT_MAX || !bg__ur_no_timeout(fd, SO_RCVTIMEO)) return 0;
  io_uring_prep_recv(sqe, fd, buf, n, flags);
  return 1;
}
static inline int bg__ur_recv_chk(struct io_uring_sqe *sqe, int fd, void *buf, size_t n,
                                  size_t buflen, int flags) {
  return n <= buflen && bg__ur_recv(sqe, fd, buf, n, flags);
}
static inline int bg__ur_recvfrom(struct io_uring_sqe *sqe, int fd, void *buf, size_t n, int flags,
                                  struct sockaddr *addr, socklen_t *alen) {
  (void)alen;
  return !addr && bg__ur_recv(sqe, fd, buf, n, flags);
}
static inline int bg__ur_send(struct io_uring_sqe *sqe, int fd, const void *buf, size_t n,
                              int flags) {
  if (n > INT_MAX || !bg__ur_no_timeout(fd, SO_SNDTIMEO)) return 0;
  io_uring_prep_send(sqe, fd, buf, n, flags | MSG_WAITALL);
  return 1;
}
static inline int bg__ur_sendto(struct io_uring_sqe *sqe, int fd, const void *buf, size_t n,
                                int flags, const struct sockaddr *addr, socklen_t alen) {
  (void)alen;
  return !addr && bg__ur_send(sqe, fd, buf, n, flags);
}
static inline int bg__ur_connect(struct io_uring_sqe *sqe, int fd, const struct sockaddr *addr,
                                 socklen_t len) {
  if (!bg__ur_no_timeout(fd, SO_SNDTIMEO)) return 0;
  io_uring_prep_connect(sqe, fd, addr, len);
  return 1;
}
static inline int bg__ur_accept(struct io_uring_sqe *sqe, int fd, struct sockaddr *addr,
                                socklen_t *len) {
  if (!bg__ur_no_timeout(fd, SO_RCVTIMEO)) return 0;
  io_uring_prep_accept(sqe, fd, addr, len, 0);
  return 1;
}
static inline int bg__ur_accept4(struct io_uring_sqe *sqe, int fd, struct sockaddr *addr,
                                 socklen_t *len, int flags) {
  if (!bg__ur_no_timeout(fd, SO_RCVTIMEO)) return 0;
  io_uring_prep_accept(sqe, fd, addr, len, flags);
  return 1;
}

/* ---- opening files ---------------------------------------------------------------- */
/* glibc's __open_2 checks (io/open_2.c): O_CREAT or O_TMPFILE need the 3-argument form. */
static inline int bg__ur_needs_mode(int flags) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}
static inline int bg__ur_open(struct io_uring_sqe *sqe, const char *path, int flags, mode_t mode) {
  io_uring_prep_openat(sqe, AT_FDCWD, path, flags, mode);
  return 1;
}
static inline int bg__ur_open2(struct io_uring_sqe *sqe, const char *path, int flags) {
  return !bg__ur_needs_mode(flags) && bg__ur_open(sqe, path, flags, 0);
}
static inline int bg__ur_openat(struct io_uring_sqe *sqe, int dirfd, const char *path, int flags,
                                mode_t mode) {
  io_uring_prep_openat(sqe, dirfd, path, flags, mode);
  return 1;
}
static inline int bg__ur_openat2(struct io_uring_sqe *sqe, int dirfd, const char *path, int flags) {
  return !bg__ur_needs_mode(flags) && bg__ur_openat(sqe, dirfd, path, flags, 0);
}
static inline int bg__ur_creat(struct io_uring_sqe *sqe, const char *path, mode_t mode) {
  return bg__ur_open(sqe, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
#endif
