/* c_io.c - cases for the io category: read/write families on pipes, sockets and
 * files, sendfile/splice, SysV and POSIX message queues.  BLOCK forms use blocking fds
 * that already hold data (so nothing actually waits); NONBLOCK forms use O_NONBLOCK
 * fds, MSG_DONTWAIT, RWF_NOWAIT, IPC_NOWAIT or an fd that is not open (EBADF: the call
 * fails at once, so it cannot block). */
#include <mqueue.h>
#include <sys/msg.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#include "bgt.h"

ssize_t __read(int, void *, size_t);
ssize_t __write(int, const void *, size_t);
ssize_t __pread64(int, void *, size_t, off64_t);
ssize_t __pwrite64(int, const void *, size_t, off64_t);
ssize_t __send(int, const void *, size_t, int);
#if !BGT_FORTIFY
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __pread_chk(int, void *, size_t, off_t, size_t);
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);
#endif
ssize_t __pread64_chk(int, void *, size_t, off64_t, size_t);

static void buf_out(bgt_t *t, const char *buf, long n) {
  OUT("buf='%.*s'", n > 0 ? (int)n : 0, buf);
}

/* ---- read family on a pipe --------------------------------------------------------- */
#define PIPE_READ(name, expr)                                                           \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    char buf[16] = {0};                                                                 \
    if (NB) bgt_pipe_nb(p, NULL); else bgt_pipe(p, "hello");                             \
    int fd = p[0];                                                                      \
    long r = CALL(expr);                                                                \
    buf_out(t, buf, r);                                                                 \
    close(p[0]);                                                                        \
    close(p[1]);                                                                        \
  }
PIPE_READ(read, read(fd, buf, 8))
PIPE_READ(__read, __read(fd, buf, 8))
#if BGT_FORTIFY
PIPE_READ(__read_chk, read(fd, buf, rt(8)))
#else
PIPE_READ(__read_chk, __read_chk(fd, buf, 8, sizeof buf))
#endif

CASE(readv) {
  int p[2];
  char a[3] = {0}, b[8] = {0};
  struct iovec iov[2] = {{a, 2}, {b, 6}};
  if (NB) bgt_pipe_nb(p, NULL); else bgt_pipe(p, "hello");
  CALL(readv(p[0], iov, 2));
  OUT("a='%.2s' b='%.6s'", a, b);
  close(p[0]);
  close(p[1]);
}

/* ---- positioned reads on a regular file (category file); NONBLOCK: fd not open ---- */
#define FILE_READ(name, expr)                                                           \
  CASE(name) {                                                                          \
    int f = bgt_tmpfd("0123456789");                                                    \
    int fd = NB ? bgt_closed_fd() : f;                                                  \
    char buf[16] = {0};                                                                 \
    long r = CALL(expr);                                                                \
    buf_out(t, buf, r);                                                                 \
    close(f);                                                                           \
  }
#if BGT_LFS
FILE_READ(pread, pread(fd, buf, 4, 3)) /* pread64 under _FILE_OFFSET_BITS=64 */
#else
FILE_READ(pread, pread(fd, buf, 4, 3))
#endif
FILE_READ(pread64, pread64(fd, buf, 4, 3))
FILE_READ(__pread64, __pread64(fd, buf, 4, 3))
#if BGT_FORTIFY
FILE_READ(__pread_chk, pread(fd, buf, rt(4), 3))
#else
FILE_READ(__pread_chk, __pread_chk(fd, buf, 4, 3, sizeof buf))
#endif
FILE_READ(__pread64_chk, __pread64_chk(fd, buf, 4, 3, sizeof buf))

#define FILE_READV(name, expr)                                                          \
  CASE(name) {                                                                          \
    int f = bgt_tmpfd("0123456789");                                                    \
    int fd = NB ? bgt_closed_fd() : f;                                                  \
    char a[3] = {0}, b[3] = {0};                                                        \
    struct iovec iov[2] = {{a, 2}, {b, 2}};                                             \
    CALL(expr);                                                                         \
    OUT("a='%.2s' b='%.2s'", a, b);                                                     \
    close(f);                                                                           \
  }
FILE_READV(preadv, preadv(fd, iov, 2, 1))
FILE_READV(preadv64, preadv64(fd, iov, 2, 1))
/* RWF_NOWAIT: the kernel fails instead of waiting (EAGAIN or EOPNOTSUPP). */
#define FILE_READV2(name, fn)                                                           \
  CASE(name) {                                                                          \
    int fd = bgt_tmpfd("0123456789");                                                   \
    char a[3] = {0}, b[3] = {0};                                                        \
    struct iovec iov[2] = {{a, 2}, {b, 2}};                                             \
    CALL(fn(fd, iov, 2, 1, NB ? RWF_NOWAIT : 0));                                       \
    OUT("a='%.2s' b='%.2s'", a, b);                                                     \
    close(fd);                                                                          \
  }
FILE_READV2(preadv2, preadv2)
FILE_READV2(preadv64v2, preadv64v2)

/* ---- write family ----------------------------------------------------------------- */
#define PIPE_WRITE(name, expr)                                                          \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, NULL);                                                                  \
    if (NB) bgt_set_nb(p[1], 1);                                                        \
    int fd = p[1];                                                                      \
    CALL(expr);                                                                         \
    bgt_read_all(p[0], t);                                                              \
    close(p[0]);                                                                        \
    close(p[1]);                                                                        \
  }
PIPE_WRITE(write, write(fd, "abc", 3))
PIPE_WRITE(__write, __write(fd, "abc", 3))
PIPE_WRITE(writev, writev(fd, (struct iovec[]){{"ab", 2}, {"cd", 2}}, 2))

#define FILE_WRITE(name, expr)                                                          \
  CASE(name) {                                                                          \
    int f = bgt_tmpfd("0123456789");                                                    \
    int fd = NB ? bgt_closed_fd() : f;                                                  \
    struct iovec iov[2] = {{"AB", 2}, {"CD", 2}};                                       \
    (void)iov;                                                                          \
    CALL(expr);                                                                         \
    char buf[16] = {0};                                                                 \
    pread(f, buf, 10, 0);                                                               \
    OUT("file='%s'", buf);                                                              \
    close(f);                                                                           \
  }
FILE_WRITE(pwrite, pwrite(fd, "XY", 2, 4))
FILE_WRITE(pwrite64, pwrite64(fd, "XY", 2, 4))
FILE_WRITE(__pwrite64, __pwrite64(fd, "XY", 2, 4))
FILE_WRITE(pwritev, pwritev(fd, iov, 2, 3))
FILE_WRITE(pwritev64, pwritev64(fd, iov, 2, 3))

#define FILE_WRITEV2(name, fn)                                                          \
  CASE(name) {                                                                          \
    int fd = bgt_tmpfd("0123456789");                                                   \
    struct iovec iov[2] = {{"AB", 2}, {"CD", 2}};                                       \
    CALL(fn(fd, iov, 2, 3, NB ? RWF_NOWAIT : 0));                                       \
    char buf[16] = {0};                                                                 \
    pread(fd, buf, 10, 0);                                                              \
    OUT("file='%s'", buf);                                                              \
    close(fd);                                                                          \
  }
FILE_WRITEV2(pwritev2, pwritev2)
FILE_WRITEV2(pwritev64v2, pwritev64v2)

/* ---- sockets: BLOCK flags 0 on a blocking socket with data; NONBLOCK MSG_DONTWAIT -- */
#define SOCK_RECV(name, expr)                                                           \
  CASE(name) {                                                                          \
    int sv[2];                                                                          \
    bgt_sockpair(sv, NB ? NULL : "hello");                                              \
    int fd = sv[0], fl = NB ? MSG_DONTWAIT : 0;                                         \
    char buf[16] = {0};                                                                 \
    long r = CALL(expr);                                                                \
    buf_out(t, buf, r);                                                                 \
    close(sv[0]);                                                                       \
    close(sv[1]);                                                                       \
  }
SOCK_RECV(recv, recv(fd, buf, 8, fl))
SOCK_RECV(recvfrom, recvfrom(fd, buf, 8, fl, NULL, NULL))
#if BGT_FORTIFY
SOCK_RECV(__recv_chk, recv(fd, buf, rt(8), fl))
SOCK_RECV(__recvfrom_chk, recvfrom(fd, buf, rt(8), fl, NULL, NULL))
#else
SOCK_RECV(__recv_chk, __recv_chk(fd, buf, 8, sizeof buf, fl))
SOCK_RECV(__recvfrom_chk, __recvfrom_chk(fd, buf, 8, sizeof buf, fl, NULL, NULL))
#endif
SOCK_RECV(recvmsg, recvmsg(fd, &(struct msghdr){.msg_iov = &(struct iovec){buf, 8}, .msg_iovlen = 1}, fl))

CASE(recvmmsg) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0) abort();
  if (!NB) send(sv[1], "dgram", 5, 0);
  char buf[16] = {0};
  struct iovec iov = {buf, 8};
  struct mmsghdr m = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
  CALL(recvmmsg(sv[0], &m, 1, NB ? MSG_DONTWAIT : 0, NULL));
  OUT("len=%u buf='%s'", m.msg_len, buf);
  close(sv[0]);
  close(sv[1]);
}

#define SOCK_SEND(name, expr)                                                           \
  CASE(name) {                                                                          \
    int sv[2];                                                                          \
    bgt_sockpair(sv, NULL);                                                             \
    int fd = sv[0], fl = NB ? MSG_DONTWAIT : 0;                                         \
    CALL(expr);                                                                         \
    bgt_read_all(sv[1], t);                                                             \
    close(sv[0]);                                                                       \
    close(sv[1]);                                                                       \
  }
SOCK_SEND(send, send(fd, "abc", 3, fl))
SOCK_SEND(__send, __send(fd, "abc", 3, fl))
SOCK_SEND(sendto, sendto(fd, "abc", 3, fl, NULL, 0))
SOCK_SEND(sendmsg, sendmsg(fd, &(struct msghdr){.msg_iov = &(struct iovec){"abc", 3}, .msg_iovlen = 1}, fl))
SOCK_SEND(sendmmsg, sendmmsg(fd, &(struct mmsghdr){.msg_hdr = {.msg_iov = &(struct iovec){"abc", 3}, .msg_iovlen = 1}}, 1, fl))

/* ---- sendfile, splice, tee, vmsplice, copy_file_range ------------------------------ */
#define SENDFILE(name, fn, offt)                                                        \
  CASE(name) {                                                                          \
    int in = bgt_tmpfd("0123456789"), p[2];                                             \
    bgt_pipe(p, NULL);                                                                  \
    if (NB) bgt_set_nb(p[1], 1);                                                        \
    offt off = 2;                                                                       \
    CALL(fn(p[1], in, &off, 4));                                                        \
    OUT("off=%lld", (long long)off);                                                    \
    bgt_read_all(p[0], t);                                                              \
    close(in);                                                                          \
    close(p[0]);                                                                        \
    close(p[1]);                                                                        \
  }
SENDFILE(sendfile, sendfile, off_t)
SENDFILE(sendfile64, sendfile64, off64_t)

CASE(splice) {
  int a[2], b[2];
  bgt_pipe(a, "spliced");
  bgt_pipe(b, NULL);
  CALL(splice(a[0], NULL, b[1], NULL, 7, NB ? SPLICE_F_NONBLOCK : 0));
  bgt_read_all(b[0], t);
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

CASE(tee) {
  int a[2], b[2];
  bgt_pipe(a, "teed");
  bgt_pipe(b, NULL);
  CALL(tee(a[0], b[1], 4, NB ? SPLICE_F_NONBLOCK : 0));
  bgt_read_all(b[0], t);
  bgt_read_all(a[0], t); /* tee does not consume */
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

CASE(vmsplice) {
  int p[2];
  bgt_pipe(p, NULL);
  struct iovec iov = {"vm", 2};
  CALL(vmsplice(p[1], &iov, 1, NB ? SPLICE_F_NONBLOCK : 0));
  bgt_read_all(p[0], t);
  close(p[0]), close(p[1]);
}

CASE(copy_file_range) {
  int in = bgt_tmpfd("0123456789"), out = bgt_tmpfd("");
  int fd_in = NB ? bgt_closed_fd() : in;
  off64_t oi = 1, oo = 0;
  CALL(copy_file_range(fd_in, &oi, out, &oo, 4, 0));
  char buf[16] = {0};
  pread(out, buf, 10, 0);
  OUT("out='%s' oi=%lld", buf, (long long)oi);
  close(in), close(out);
}

/* ---- SysV message queues -------------------------------------------------------------- */
struct bgt_msg {
  long type;
  char text[16];
};

CASE(msgrcv) {
  int q = msgget(IPC_PRIVATE, 0600);
  struct bgt_msg m = {1, "queued"}, got = {0, ""};
  if (!NB) msgsnd(q, &m, 7, 0);
  CALL(msgrcv(q, &got, sizeof got.text, 0, NB ? IPC_NOWAIT : 0));
  OUT("type=%ld text='%s'", got.type, got.text);
  msgctl(q, IPC_RMID, NULL);
}

CASE(msgsnd) {
  int q = msgget(IPC_PRIVATE, 0600);
  struct bgt_msg m = {2, "sent"}, got = {0, ""};
  CALL(msgsnd(q, &m, 5, NB ? IPC_NOWAIT : 0));
  msgrcv(q, &got, sizeof got.text, 0, IPC_NOWAIT);
  OUT("type=%ld text='%s'", got.type, got.text);
  msgctl(q, IPC_RMID, NULL);
}

/* ---- POSIX message queues: NONBLOCK = a queue opened O_NONBLOCK, or a past deadline */
static mqd_t mq(int nonblock) {
  char name[64];
  snprintf(name, sizeof name, "/bgt.%d", (int)getpid());
  struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
  mqd_t q = mq_open(name, O_CREAT | O_RDWR | (nonblock ? O_NONBLOCK : 0), 0600, &a);
  mq_unlink(name);
  if (q == (mqd_t)-1) {
    dprintf(2, "mq_open: %s\n", strerror(errno));
    abort();
  }
  return q;
}

CASE(mq_receive) {
  mqd_t q = mq(NB);
  if (!NB) mq_send(q, "posix", 5, 3);
  char buf[16] = {0};
  unsigned prio = 0;
  CALL(mq_receive(q, buf, sizeof buf, &prio));
  OUT("buf='%s' prio=%u", buf, prio);
  mq_close(q);
}

CASE(mq_timedreceive) {
  mqd_t q = mq(0);
  if (!NB) mq_send(q, "posix", 5, 3);
  char buf[16] = {0};
  unsigned prio = 0;
  struct timespec dl = {0, 0};
  if (!NB) bgt_abs_in(&dl, CLOCK_REALTIME, 5000);
  CALL(mq_timedreceive(q, buf, sizeof buf, &prio, &dl));
  OUT("buf='%s' prio=%u", buf, prio);
  mq_close(q);
}

CASE(mq_send) {
  mqd_t q = mq(NB);
  CALL(mq_send(q, "out", 3, 1));
  char buf[16] = {0};
  struct timespec zero = {0, 0};
  mq_timedreceive(q, buf, sizeof buf, NULL, &zero);
  OUT("got='%s'", buf);
  mq_close(q);
}

CASE(mq_timedsend) {
  mqd_t q = mq(0);
  struct timespec dl = {0, 0};
  if (!NB) bgt_abs_in(&dl, CLOCK_REALTIME, 5000);
  CALL(mq_timedsend(q, "out", 3, 1, &dl));
  char buf[16] = {0};
  struct timespec zero = {0, 0};
  mq_timedreceive(q, buf, sizeof buf, NULL, &zero);
  OUT("got='%s'", buf);
  mq_close(q);
}
