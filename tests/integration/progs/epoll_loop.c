/* epoll_loop.c - a tiny event loop: waits in epoll_wait, and its handler makes one
 * accidental blocking call (usleep) per event.  A helper thread without a loop sleeps
 * too: with threads=auto only the loop thread's usleep is a violation, and the loop's
 * own epoll_wait never is. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blockguard.h>

static void *bystander(void *arg) {
  (void)arg;
  usleep(1000); /* not an event-loop thread: never guarded under threads=auto */
  return NULL;
}

int main(int argc, char **argv) {
  int ep = epoll_create1(0), ev = eventfd(0, 0);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = ev}, out;
  epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
  pthread_t t;
  pthread_create(&t, NULL, bystander, NULL);
  pthread_join(t, NULL);
  for (int i = 0; i < 5; i++) {
    uint64_t one = 1;
    if (write(ev, &one, sizeof one) != sizeof one) return 1;
    if (epoll_wait(ep, &out, 1, 1000) != 1) return 1;
    uint64_t v;
    if (read(ev, &v, sizeof v) != sizeof v) return 1; /* blocking eventfd, data ready: still counts */
    usleep(100);                                       /* the accidental blocking call */
  }
  if (argc > 1 && !strcmp(argv[1], "fork")) {
    /* a forked child of the loop thread is not an event loop (bgsave-style child) */
    pid_t pid = fork();
    if (pid == 0) {
      usleep(100);
      _exit(bg_violations() == 0 ? 0 : 3);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child status=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  printf("violations=%llu\n", (unsigned long long)bg_violations());
  return 0;
}
