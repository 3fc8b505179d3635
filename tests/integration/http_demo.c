/* http_demo.c - a small program that blocks in several ways on several threads, for
 * the dashboard tests (tests/integration/t_http*.sh, tests/browser/).
 *
 *   http_demo SECONDS [NSITES]
 *
 * Threads: main (usleep + nanosleep + a pipe read), one named "<script>" (a hostile
 * name: the dashboard must show it as text) that polls a pipe with a timeout and
 * fsyncs a file, one named "worker-1" that reads a file with stdio.  NSITES > 0 adds
 * that many distinct sites (distinct call stacks through a recursion of varying
 * depth).  Run it with threads=all to guard every one of them.  Exits after SECONDS
 * (0: run until killed).  With HTTP_DEMO_STAMP=FILE it writes the wall-clock time
 * in ms to FILE as main returns.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static int pfd[2];

void *evil(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "<script>");
  char path[] = "/tmp/bg-http-demo-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) unlink(path);
  while (!stop) {
    struct pollfd p = {pfd[0], POLLIN, 0};
    poll(&p, 1, 7);
    if (fd >= 0 && write(fd, "x", 1) == 1) fsync(fd);
  }
  if (fd >= 0) close(fd);
  return NULL;
}

void *worker(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "worker-1");
  char line[256];
  while (!stop) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
      while (fgets(line, sizeof line, f)) {
      }
      fclose(f);
    }
    usleep(20000);
  }
  return NULL;
}

/* Each depth is a different return-address chain, hence a different site. */
__attribute__((noinline)) void deep(int depth, int variant) {
  if (depth > 0) {
    deep(depth - 1, variant);
    __asm__ volatile("" ::: "memory"); /* keep the call a real call, not a tail jump */
    return;
  }
  struct timespec ts = {0, 1000};
  if (variant & 1)
    nanosleep(&ts, NULL);
  else
    usleep(1);
}

int main(int argc, char **argv) {
  int secs = argc > 1 ? atoi(argv[1]) : 0;
  int nsites = argc > 2 ? atoi(argv[2]) : 0;
  if (pipe(pfd) < 0) return 1;
  pthread_t a, b;
  pthread_create(&a, NULL, evil, NULL);
  pthread_create(&b, NULL, worker, NULL);
  for (int i = 0; i < nsites; i++) deep(i / 2, i);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned n = 0;; n++) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (secs && now.tv_sec - t0.tv_sec >= secs) break;
    usleep(30000);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    if (n % 5 == 0) {
      char c;
      if (write(pfd[1], "y", 1) == 1 && read(pfd[0], &c, 1) < 0) break;
    }
  }
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  /* When main returns, exit handlers (the dashboard's shutdown among them) run: the
   * tests measure from here to the process being gone. */
  const char *stamp = getenv("HTTP_DEMO_STAMP");
  if (stamp) {
    struct timespec w;
    clock_gettime(CLOCK_REALTIME, &w);
    FILE *f = fopen(stamp, "w");
    if (f) fprintf(f, "%lld\n", (long long)w.tv_sec * 1000 + w.tv_nsec / 1000000), fclose(f);
  }
  return 0;
}
