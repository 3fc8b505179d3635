/* loop_shapes.c - event-loop detection through the real wrappers (t_loop_watch.sh).
 * A thread named "looper" waits in the shape given by argv[1], then makes one blocking
 * read of /dev/zero: a violation only if the thread is a loop thread at that moment.
 *
 *   zero      poll(fd, 0) x100: zero-timeout polls never make a loop
 *   plain     poll([pipe, socketpair], 50 ms) x5: no doorbell, not a loop
 *   doorbell  poll([pipe, eventfd], 50 ms) x5: the eventfd is a loop's doorbell
 *   select    select() with an eventfd in the read set: the same
 *   epoll0    epoll_wait(ep, 0): any wait on an epoll instance is the loop's
 *   close     an epoll loop, then close(ep): the loop is over
 *   dup2      an epoll loop, then dup2(other, ep): over too
 *   range     an epoll loop, then close_range(ep, ~0U, 0)
 *   syscall   epoll_wait through syscall(), then close through syscall()
 *   closer    an epoll loop whose fd the main thread closes while the looper waits
 *   fork      an epoll loop, then fork: the child's read is not a violation
 * Prints "reads=N" (read violations this process recorded).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blockguard.h>

static const char *shape;
static int ep = -1;
static volatile int step;

static int zero = -1; /* /dev/zero, opened before any loop */

static void blocking_read(void) {
  char c;
  if (read(zero, &c, 1) != 1) _exit(2);
}

static void *looper(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "looper");
  int p[2], sp[2], ev = eventfd(0, EFD_NONBLOCK);
  if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp)) _exit(2);
  ep = epoll_create1(0);
  struct epoll_event e;
  if (!strcmp(shape, "zero")) {
    struct pollfd pf = {p[0], POLLIN, 0};
    for (int i = 0; i < 100; i++) poll(&pf, 1, 0);
  } else if (!strcmp(shape, "plain") || !strcmp(shape, "doorbell")) {
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {sp[0], POLLIN, 0}};
    if (!strcmp(shape, "doorbell")) pf[1].fd = ev;
    for (int i = 0; i < 5; i++) poll(pf, 2, 50);
  } else if (!strcmp(shape, "select")) {
    for (int i = 0; i < 3; i++) {
      fd_set r;
      FD_ZERO(&r);
      FD_SET(p[0], &r);
      FD_SET(ev, &r);
      struct timeval tv = {0, 20000};
      select((ev > p[0] ? ev : p[0]) + 1, &r, NULL, NULL, &tv);
    }
  } else if (!strcmp(shape, "epoll0")) {
    epoll_wait(ep, &e, 1, 0);
  } else if (!strcmp(shape, "syscall")) {
    syscall(SYS_epoll_wait, ep, &e, 1, 10);
    blocking_read(); /* a violation: the loop is on */
    syscall(SYS_close, ep);
  } else {
    epoll_wait(ep, &e, 1, 10);
    blocking_read(); /* a violation: the loop is on */
    if (!strcmp(shape, "close")) close(ep);
    if (!strcmp(shape, "dup2")) dup2(p[0], ep);
    if (!strcmp(shape, "range")) close_range((unsigned)ep, ~0U, 0);
    if (!strcmp(shape, "closer")) {
      step = 1;
      while (step != 2) sched_yield(); /* usleep would be a violation here */
    }
    if (!strcmp(shape, "fork")) {
      pid_t pid = fork();
      if (pid == 0) {
        blocking_read(); /* the child is not the loop */
        _exit(bg_violations() == 0 ? 0 : 3);
      }
      int st;
      waitpid(pid, &st, 0);
      if (!WIFEXITED(st) || WEXITSTATUS(st)) _exit(4);
    }
  }
  blocking_read();
  return NULL;
}

int main(int argc, char **argv) {
  shape = argc > 1 ? argv[1] : "zero";
  zero = open("/dev/zero", O_RDONLY);
  pthread_t t;
  pthread_create(&t, NULL, looper, NULL);
  if (!strcmp(shape, "closer")) {
    while (step != 1) usleep(100);
    close(ep); /* another thread ends the looper's loop */
    step = 2;
  }
  pthread_join(t, NULL);
  printf("reads=%llu\n", (unsigned long long)bg_violations());
  return 0;
}
