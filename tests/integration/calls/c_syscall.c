/* c_syscall.c - cases for syscall(): the row itself (dispatch and pass-through of
 * unknown numbers with all six arguments) and one case per dispatched number
 * (preload/syscalls.def), each with the kernel's argument conventions. */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "bgt.h"

/* BLOCK: SYS_read on a blocking pipe (dispatched: a violation).  NONBLOCK: a number
 * that is not dispatched, with six arguments that all matter: mmap's offset is the
 * sixth, and a misaligned one must fail with EINVAL exactly as without the shim. */
CASE(syscall) {
  if (NB) {
    long r = CALL(syscall(SYS_mmap, 0L, 4096L, (long)PROT_READ, (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 12345L));
    if (r != -1) munmap((void *)r, 4096);
    long ok = syscall(SYS_mmap, 0L, 4096L, (long)PROT_READ, (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
    OUT("aligned_ok=%d", ok != -1);
    if (ok != -1) munmap((void *)ok, 4096);
    return;
  }
  int p[2];
  char buf[8] = {0};
  bgt_pipe(p, "sys");
  CALL(syscall(SYS_read, p[0], buf, 3));
  OUT("buf='%s'", buf);
  close(p[0]), close(p[1]);
}

#define SYS_PIPE_READ(name, expr)                                                       \
  CASE(sys_##name) {                                                                    \
    int p[2];                                                                           \
    char buf[16] = {0};                                                                 \
    if (NB) bgt_pipe_nb(p, NULL); else bgt_pipe(p, "hello");                             \
    struct iovec iov = {buf, 8};                                                        \
    (void)iov;                                                                          \
    CALL(expr);                                                                         \
    OUT("buf='%s'", buf);                                                               \
    close(p[0]), close(p[1]);                                                           \
  }
SYS_PIPE_READ(read, syscall(SYS_read, p[0], buf, 8))
SYS_PIPE_READ(readv, syscall(SYS_readv, p[0], &iov, 1))

#define SYS_PIPE_WRITE(name, expr)                                                      \
  CASE(sys_##name) {                                                                    \
    int p[2];                                                                           \
    bgt_pipe(p, NULL);                                                                  \
    if (NB) bgt_set_nb(p[1], 1);                                                        \
    struct iovec iov = {"abc", 3};                                                      \
    (void)iov;                                                                          \
    CALL(expr);                                                                         \
    bgt_read_all(p[0], t);                                                              \
    close(p[0]), close(p[1]);                                                           \
  }
SYS_PIPE_WRITE(write, syscall(SYS_write, p[1], "abc", 3))
SYS_PIPE_WRITE(writev, syscall(SYS_writev, p[1], &iov, 1))

CASE(sys_pread64) {
  int f = bgt_tmpfd("0123456789"), fd = NB ? bgt_closed_fd() : f;
  char buf[8] = {0};
  CALL(syscall(SYS_pread64, fd, buf, 4, 3));
  OUT("buf='%s'", buf);
  close(f);
}

CASE(sys_pwrite64) {
  int f = bgt_tmpfd("0123456789"), fd = NB ? bgt_closed_fd() : f;
  CALL(syscall(SYS_pwrite64, fd, "XY", 2, 4));
  char buf[16] = {0};
  pread(f, buf, 10, 0);
  OUT("file='%s'", buf);
  close(f);
}

#define SYS_SOCK_RECV(name, expr)                                                       \
  CASE(sys_##name) {                                                                    \
    int sv[2];                                                                          \
    bgt_sockpair(sv, NB ? NULL : "hello");                                              \
    char buf[16] = {0};                                                                 \
    struct iovec iov = {buf, 8};                                                        \
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};                               \
    (void)m;                                                                            \
    long fl = NB ? MSG_DONTWAIT : 0;                                                    \
    CALL(expr);                                                                         \
    OUT("buf='%s'", buf);                                                               \
    close(sv[0]), close(sv[1]);                                                         \
  }
SYS_SOCK_RECV(recvfrom, syscall(SYS_recvfrom, sv[0], buf, 8, fl, NULL, NULL))
SYS_SOCK_RECV(recvmsg, syscall(SYS_recvmsg, sv[0], &m, fl))

#define SYS_SOCK_SEND(name, expr)                                                       \
  CASE(sys_##name) {                                                                    \
    int sv[2];                                                                          \
    bgt_sockpair(sv, NULL);                                                             \
    struct iovec iov = {"abc", 3};                                                      \
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};                               \
    (void)m;                                                                            \
    long fl = NB ? MSG_DONTWAIT : 0;                                                    \
    CALL(expr);                                                                         \
    bgt_read_all(sv[1], t);                                                             \
    close(sv[0]), close(sv[1]);                                                         \
  }
SYS_SOCK_SEND(sendto, syscall(SYS_sendto, sv[0], "abc", 3, fl, NULL, 0))
SYS_SOCK_SEND(sendmsg, syscall(SYS_sendmsg, sv[0], &m, fl))

CASE(sys_connect) {
  struct sockaddr_un a;
  int l = bgt_listener(&a);
  int s = socket(AF_UNIX, SOCK_STREAM | (NB ? SOCK_NONBLOCK : 0), 0);
  CALL(syscall(SYS_connect, s, &a, sizeof a));
  close(s), close(l);
  unlink(a.sun_path);
}

#define SYS_ACCEPT(name, expr)                                                          \
  CASE(sys_##name) {                                                                    \
    struct sockaddr_un a;                                                               \
    int l = bgt_listener(&a), c = -1;                                                   \
    if (NB)                                                                             \
      bgt_set_nb(l, 1);                                                                 \
    else {                                                                              \
      c = socket(AF_UNIX, SOCK_STREAM, 0);                                              \
      connect(c, (struct sockaddr *)&a, sizeof a);                                      \
    }                                                                                   \
    long fd = CALLFD(expr);                                                             \
    if (fd >= 0) close((int)fd);                                                        \
    if (c >= 0) close(c);                                                               \
    close(l);                                                                           \
    unlink(a.sun_path);                                                                 \
  }
SYS_ACCEPT(accept, syscall(SYS_accept, l, NULL, NULL))
SYS_ACCEPT(accept4, syscall(SYS_accept4, l, NULL, NULL, SOCK_CLOEXEC))

#define SYS_POLL(name, expr)                                                            \
  CASE(sys_##name) {                                                                    \
    int p[2];                                                                           \
    bgt_pipe(p, "x");                                                                   \
    struct pollfd fds[1] = {{p[0], POLLIN, 0}};                                         \
    fd_set r;                                                                           \
    FD_ZERO(&r);                                                                        \
    FD_SET(p[0], &r);                                                                   \
    struct timeval tv = {NB ? 0 : 5, 0};                                                \
    struct timespec ts = {NB ? 0 : 5, 0};                                               \
    (void)tv, (void)ts;                                                                 \
    CALL(expr);                                                                         \
    OUT("revents=%x set=%d", fds[0].revents, FD_ISSET(p[0], &r) != 0);                  \
    close(p[0]), close(p[1]);                                                           \
  }
SYS_POLL(poll, syscall(SYS_poll, fds, 1, NB ? 0 : 5000))
SYS_POLL(ppoll, syscall(SYS_ppoll, fds, 1, &ts, NULL, 8))
SYS_POLL(select, syscall(SYS_select, p[0] + 1, &r, NULL, NULL, &tv))
SYS_POLL(pselect6, syscall(SYS_pselect6, p[0] + 1, &r, NULL, NULL, &ts, NULL))

#define SYS_EPOLL(name, expr)                                                           \
  CASE(sys_##name) {                                                                    \
    LOOPWAIT();                                                                         \
    int p[2], ep = epoll_create1(0);                                                    \
    bgt_pipe(p, "x");                                                                   \
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 9}, out[2] = {{0}};         \
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);                                            \
    CALL(expr);                                                                         \
    OUT("data=%u", out[0].data.u32);                                                    \
    close(ep), close(p[0]), close(p[1]);                                                \
  }
SYS_EPOLL(epoll_wait, syscall(SYS_epoll_wait, ep, out, 2, NB ? 0 : 5000))
SYS_EPOLL(epoll_pwait, syscall(SYS_epoll_pwait, ep, out, 2, NB ? 0 : 5000, NULL, 8))

CASE(sys_nanosleep) {
  struct timespec req = {NB ? 0 : 10, 0}, rem = {7, 7};
  if (!NB) bgt_timer_ms(5);
  CALL(syscall(SYS_nanosleep, &req, &rem));
  bgt_timer_ms(0);
  OUT("rem_over_8s=%d untouched=%d", rem.tv_sec >= 8, rem.tv_sec == 7 && rem.tv_nsec == 7);
}

CASE(sys_clock_nanosleep) {
  struct timespec req = {0, 2000000}, past = {0, 0};
  if (NB)
    CALL(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL));
  else
    CALL(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, NULL));
}

CASE(sys_pause) {
  NO_NONBLOCK();
  bgt_timer_ms(5);
  CALL(syscall(SYS_pause));
}

CASE(sys_rt_sigsuspend) {
  NO_NONBLOCK();
  sigset_t none;
  sigemptyset(&none);
  bgt_timer_ms(5);
  CALL(syscall(SYS_rt_sigsuspend, &none, 8));
}

CASE(sys_rt_sigtimedwait) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  if (!NB) raise(SIGUSR2);
  struct timespec tmo = {NB ? 0 : 5, 0}, zero = {0, 0};
  CALL(syscall(SYS_rt_sigtimedwait, &set, NULL, &tmo, 8));
  while (sigtimedwait(&set, NULL, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static pid_t held_child(int *hold) {
  int p[2];
  if (pipe(p) < 0) abort();
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    close(p[1]);
    while (read(p[0], &c, 1) > 0) {
    }
    _exit(5);
  }
  close(p[0]);
  *hold = p[1];
  return pid;
}

CASE(sys_wait4) {
  int hold, st = 0;
  pid_t pid = held_child(&hold);
  if (!NB) close(hold);
  CALLX(syscall(SYS_wait4, pid, &st, NB ? WNOHANG : 0, NULL), r_ == pid ? 1000 : r_);
  OUT("status=%d", WEXITSTATUS(st));
  if (NB) close(hold), waitpid(pid, NULL, 0);
}

CASE(sys_waitid) {
  int hold;
  pid_t pid = held_child(&hold);
  if (!NB) close(hold);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  CALL(syscall(SYS_waitid, P_PID, pid, &si, WEXITED | (NB ? WNOHANG : 0), NULL));
  OUT("status=%d", si.si_status);
  if (NB) close(hold), waitpid(pid, NULL, 0);
}

CASE(sys_flock) {
  int fd = bgt_tmpfd("x");
  CALL(syscall(SYS_flock, fd, LOCK_EX | (NB ? LOCK_NB : 0)));
  flock(fd, LOCK_UN);
  close(fd);
}

CASE(sys_fcntl) {
  int fd = bgt_tmpfd("xyz");
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 2};
  CALL(syscall(SYS_fcntl, fd, NB ? F_SETLK : F_SETLKW, &fl));
  close(fd);
}

#define SYS_FSYNC(name)                                                                 \
  CASE(sys_##name) {                                                                    \
    int f = bgt_tmpfd("x");                                                             \
    CALL(syscall(SYS_##name, NB ? bgt_closed_fd() : f));                                \
    close(f);                                                                           \
  }
SYS_FSYNC(fsync)
SYS_FSYNC(fdatasync)

struct sys_msg {
  long type;
  char text[8];
};

CASE(sys_msgrcv) {
  int q = msgget(IPC_PRIVATE, 0600);
  struct sys_msg m = {1, "raw"}, got = {0, ""};
  if (!NB) msgsnd(q, &m, 4, 0);
  CALL(syscall(SYS_msgrcv, q, &got, sizeof got.text, 0, NB ? IPC_NOWAIT : 0));
  OUT("text='%s'", got.text);
  msgctl(q, IPC_RMID, NULL);
}

CASE(sys_msgsnd) {
  int q = msgget(IPC_PRIVATE, 0600);
  struct sys_msg m = {1, "raw"}, got = {0, ""};
  CALL(syscall(SYS_msgsnd, q, &m, 4, NB ? IPC_NOWAIT : 0));
  msgrcv(q, &got, sizeof got.text, 0, IPC_NOWAIT);
  OUT("text='%s'", got.text);
  msgctl(q, IPC_RMID, NULL);
}
