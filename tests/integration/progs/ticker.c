/* ticker.c - blocks at two sites on the main thread for argv[1] ms, forking argv[2]
 * children that do the same (each also at child_only()), and prints the longest gap
 * between two of its iterations in us: a push= thread that stalled the program would
 * show there. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

__attribute__((noinline)) static void tick(void) { usleep(2000); }
__attribute__((noinline)) static void tock(void) {
  struct timespec ts = {0, 1000000};
  nanosleep(&ts, NULL);
}
__attribute__((noinline)) static void child_only(void) { usleep(1000); }

static long long run(long ms, int child) {
  long long t0 = us(), last = t0, gap = 0;
  for (unsigned i = 0; us() - t0 < ms * 1000LL; i++) {
    if (i % 2) tick(); else tock();
    if (child) child_only();
    long long now = us();
    if (now - last > gap) gap = now - last;
    last = now;
  }
  return gap;
}

int main(int argc, char **argv) {
  long ms = argc > 1 ? atol(argv[1]) : 2000;
  int kids = argc > 2 ? atoi(argv[2]) : 0;
  for (int k = 0; k < kids; k++)
    if (fork() == 0) {
      run(ms, 1);
      exit(0); /* through atexit: the child's final push */
    }
  long long gap = run(ms, 0);
  while (wait(NULL) > 0) {
  }
  printf("maxgap_us=%lld\n", gap);
  return 0;
}
