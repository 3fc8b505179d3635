/* tree3.c - a process tree for the tree dashboard tests: the parent forks three
 * workers, each blocking at its own site (sleepy: usleep, disk: fsync, napper:
 * nanosleep), for argv[1] seconds; after argv[2] seconds a fourth worker (late: a read
 * of /etc/hostname) joins, and the napper leaves early, at argv[3] seconds - so
 * processes appear and disappear while a dashboard watches.  The parent waits.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) static void sleepy_worker(void) { usleep(20000); }
__attribute__((noinline)) static void disk_worker(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, "x", 1) != 1) return;
  fsync(fd);
  close(fd);
  usleep(10000);
}
__attribute__((noinline)) static void napper_worker(void) {
  struct timespec ts = {0, 15000000};
  nanosleep(&ts, NULL);
}
__attribute__((noinline)) static void late_worker(void) {
  char b[64];
  int fd = open("/etc/hostname", O_RDONLY);
  if (fd >= 0 && read(fd, b, sizeof b) < 0) b[0] = 0;
  if (fd >= 0) close(fd);
  usleep(10000);
}

static void run(int which, double until, const char *path) {
  while (now() < until) {
    if (which == 0) sleepy_worker();
    else if (which == 1) disk_worker(path);
    else if (which == 2) napper_worker();
    else late_worker();
  }
  _exit(0);
}

int main(int argc, char **argv) {
  double t0 = now(), secs = argc > 1 ? atof(argv[1]) : 10, late = argc > 2 ? atof(argv[2]) : 3,
         early = argc > 3 ? atof(argv[3]) : 5;
  char path[64];
  snprintf(path, sizeof path, "/tmp/tree3.%d.tmp", (int)getpid());
  for (int k = 0; k < 3; k++)
    if (fork() == 0) run(k, t0 + (k == 2 ? early : secs), path);
  while (now() < t0 + late) usleep(50000); /* the parent's own wait: a timed sleep */
  if (fork() == 0) run(3, t0 + secs, path);
  while (wait(NULL) > 0) {
  }
  unlink(path);
  return 0;
}
