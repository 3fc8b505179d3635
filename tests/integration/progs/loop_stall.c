/* loop_stall.c - loop health and the stall detector on an epoll loop (t_loop_health.sh).
 * Five iterations of an epoll loop on an eventfd; what the third does is argv[1]:
 *
 *   spin      runs spin_cpu() for 300 ms of CPU: one stall, its stack names spin_cpu
 *   sleep     usleep(300 ms): a blocking call, no CPU - a violation, never a stall
 *   rtsig     first checks that every real-time signal looks untouched (sigaction
 *             queries: SIG_DFL), then installs a handler on each one, as a program
 *             that uses them does, sends each to itself with sigqueue and checks every
 *             one arrived once with its value; then spins 300 ms (the stall detector
 *             gave up: no stall)
 *   blockall  blocks every signal, spins 300 ms (no tick can come: the timer is
 *             stopped), then sigtimedwait on every signal must time out and a signalfd
 *             on every signal must have nothing to read: the program never gets ours
 * Prints "ok" when what the program itself checks held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* CPU time of this thread: the detector counts CPU time (a loaded machine stretches a
 * wall-clock spin without making it a stall), so the spin is measured the same way. */
static uint64_t cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

__attribute__((noinline)) void spin_cpu(int ms) {
  uint64_t end = cpu_ns() + (uint64_t)ms * 1000000ull;
  volatile uint64_t x = 0;
  while (cpu_ns() < end) x++; /* the stall: all CPU */
}

static volatile int got[128], bad;

static void on_rt(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (sig < 0 || sig >= 128 || si->si_value.sival_int != sig) bad = 1;
  else got[sig]++;
}

static int rtsig(void) {
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
    struct sigaction old;
    if (sigaction(s, NULL, &old) || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) {
      printf("signal %d is not SIG_DFL before the program set it\n", s);
      return 1;
    }
  }
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(s, &sa, NULL)) return 1;
  }
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++) {
    union sigval v = {.sival_int = s};
    if (sigqueue(getpid(), s, v)) return 1;
  }
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
    if (got[s] != 1) {
      printf("signal %d arrived %d times\n", s, got[s]);
      return 1;
    }
  spin_cpu(300);
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
    if (got[s] != 1) {
      printf("signal %d arrived %d times after the spin\n", s, got[s]);
      return 1;
    }
  return bad;
}

static int blockall(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  spin_cpu(300);
  struct timespec ts = {0, 50000000};
  siginfo_t si;
  int r = sigtimedwait(&all, &si, &ts);
  if (r != -1 || errno != EAGAIN) {
    printf("sigtimedwait on every signal returned %d (signal %d)\n", r, r > 0 ? si.si_signo : 0);
    return 1;
  }
  int fd = signalfd(-1, &all, SFD_NONBLOCK);
  struct signalfd_siginfo ssi;
  if (fd < 0 || read(fd, &ssi, sizeof ssi) != -1 || errno != EAGAIN) {
    printf("a signalfd on every signal had something to read\n");
    return 1;
  }
  close(fd);
  pthread_sigmask(SIG_UNBLOCK, &all, NULL);
  return 0;
}

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "spin";
  int ep = epoll_create1(0), ev = eventfd(0, EFD_NONBLOCK), failed = 0;
  struct epoll_event e = {.events = EPOLLIN, .data.fd = ev}, out;
  epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e);
  for (int i = 0; i < 5; i++) {
    uint64_t one = 1;
    if (write(ev, &one, sizeof one) != sizeof one) return 2;
    if (epoll_wait(ep, &out, 1, 1000) != 1) return 2;
    if (read(ev, &one, sizeof one) != sizeof one) return 2;
    if (i != 2) continue;
    if (!strcmp(what, "spin")) spin_cpu(300);
    if (!strcmp(what, "sleep")) usleep(300000);
    if (!strcmp(what, "rtsig")) failed = rtsig();
    if (!strcmp(what, "blockall")) failed = blockall();
  }
  close(ep);
  printf("%s\n", failed ? "FAILED" : "ok");
  return failed;
}
