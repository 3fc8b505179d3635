/* c_wait.c - cases for readiness waits: poll, ppoll, select, pselect, epoll.  The fd
 * is readable, so a BLOCK form (long timeout) returns at once; NONBLOCK uses a zero
 * timeout.  epoll waits are the thread's event-loop wait (thread.c): never a violation,
 * the driver is told with LOOPWAIT(). */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "bgt.h"

int __poll(struct pollfd *, nfds_t, int);
int __select(int, fd_set *, fd_set *, fd_set *, struct timeval *);
#if !BGT_FORTIFY
int __poll_chk(struct pollfd *, nfds_t, int, size_t);
int __ppoll_chk(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *, size_t);
#endif

#define POLL(name, expr)                                                                \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, "x");                                                                   \
    struct pollfd fds[1] = {{p[0], POLLIN, 0}};                                         \
    int ms = NB ? 0 : 5000;                                                             \
    struct timespec ts = {NB ? 0 : 5, 0};                                               \
    (void)ms, (void)ts;                                                                 \
    CALL(expr);                                                                         \
    OUT("revents=%x", fds[0].revents);                                                  \
    close(p[0]), close(p[1]);                                                           \
  }
POLL(poll, poll(fds, 1, ms))
POLL(__poll, __poll(fds, 1, ms))
POLL(ppoll, ppoll(fds, 1, &ts, NULL))
#if BGT_FORTIFY
POLL(__poll_chk, poll(fds, rt(1), ms))
POLL(__ppoll_chk, ppoll(fds, rt(1), &ts, NULL))
#else
POLL(__poll_chk, __poll_chk(fds, 1, ms, sizeof fds))
POLL(__ppoll_chk, __ppoll_chk(fds, 1, &ts, NULL, sizeof fds))
#endif

#define SELECT(name, expr)                                                              \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, "x");                                                                   \
    fd_set r;                                                                           \
    FD_ZERO(&r);                                                                        \
    FD_SET(p[0], &r);                                                                   \
    struct timeval tv = {NB ? 0 : 5, 0};                                                \
    struct timespec ts = {NB ? 0 : 5, 0};                                               \
    (void)tv, (void)ts;                                                                 \
    CALL(expr);                                                                         \
    OUT("set=%d", FD_ISSET(p[0], &r) != 0);                                             \
    close(p[0]), close(p[1]);                                                           \
  }
SELECT(select, select(p[0] + 1, &r, NULL, NULL, &tv))
SELECT(__select, __select(p[0] + 1, &r, NULL, NULL, &tv))
SELECT(pselect, pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL))

#define EPOLL(name, expr)                                                               \
  CASE(name) {                                                                          \
    LOOPWAIT();                                                                         \
    int p[2], ep = epoll_create1(0);                                                    \
    bgt_pipe(p, "x");                                                                   \
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out[2] = {{0}};         \
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);                                            \
    int ms = NB ? 0 : 5000;                                                             \
    struct timespec ts = {NB ? 0 : 5, 0};                                               \
    (void)ms, (void)ts;                                                                 \
    CALL(expr);                                                                         \
    OUT("data=%u events=%x", out[0].data.u32, out[0].events);                           \
    close(ep), close(p[0]), close(p[1]);                                                \
  }
EPOLL(epoll_wait, epoll_wait(ep, out, 2, ms))
EPOLL(epoll_pwait, epoll_pwait(ep, out, 2, ms, NULL))
EPOLL(epoll_pwait2, epoll_pwait2(ep, out, 2, &ts, NULL))
