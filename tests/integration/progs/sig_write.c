/* sig_write.c - a signal handler calls write() while its thread is blocked inside a
 * wrapped read(), and while the thread runs through the guard's own code.
 *
 * Part 1: the guarded main thread blocks in read() on an empty pipe (a violation, so
 * inside bg__enter/bg__leave); SIGUSR1 arrives and the handler write()s to another
 * pipe (itself a guarded blocking call), SA_RESTART restarts the read, then data
 * arrives.  Results must be exact, nothing may deadlock.
 * Part 2: a 200 us interval timer fires while the thread makes thousands of guarded
 * violating calls (site lookups, the registry lock on new sites); every handler does a
 * write().  Counts must match, and the process must finish. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <blockguard.h>

static int data[2], side[2];
static volatile sig_atomic_t handled, write_ok;
static pthread_t main_th;

static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  if (write(side[1], "h", 1) == 1) write_ok++;
  handled++;
  errno = saved;
}

static void *poke(void *arg) {
  (void)arg;
  usleep(20000);
  pthread_kill(main_th, SIGUSR1);
  usleep(20000);
  write(data[1], "payload", 7);
  return NULL;
}

int main(void) {
  main_th = pthread_self();
  pipe(data);
  pipe(side);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);

  pthread_t th;
  pthread_create(&th, NULL, poke, NULL);
  char buf[16] = {0};
  uint64_t v0 = bg_violations();
  ssize_t n = read(data[0], buf, sizeof buf); /* guarded: a violation; so is the handler's write */
  uint64_t v1 = bg_violations();
  pthread_join(th, NULL);
  char h = 0;
  ssize_t m = read(side[0], &h, 1);
  printf("part1: read=%zd buf=%s handled=%d write_ok=%d side=%zd%c\n", n, buf, (int)handled,
         (int)write_ok, m, h);
  if (getenv("EXPECT_VIOLATIONS")) printf("part1 violations=%llu\n", (unsigned long long)(v1 - v0));

  /* Part 2: the handler's writes go to an O_NONBLOCK pipe (drained now and then). */
  handled = write_ok = 0;
  fcntl(side[1], F_SETFL, O_NONBLOCK);
  fcntl(side[0], F_SETFL, O_NONBLOCK);
  struct itimerval it = {{0, 200}, {0, 200}};
  setitimer(ITIMER_REAL, &it, NULL);
  int p[2];
  pipe(p);
  long ok = 0;
  for (int i = 0; i < 3000; i++) {
    char c;
    write(p[1], "x", 1);
    if (read(p[0], &c, 1) == 1) ok++; /* SA_RESTART: never EINTR */
    char d[256];
    if (i % 64 == 0)
      while (read(side[0], d, sizeof d) > 0) {
      }
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("part2: reads=%ld all_handlers_wrote=%d\n", ok, handled == write_ok);
  printf("handled_some=%d\n", handled > 0);
  return 0;
}
