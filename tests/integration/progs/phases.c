/* phases.c - blocks in early() for the first PHASE seconds, then in late() until the
 * end (argv[1] = PHASE, argv[2] = total seconds), on the main thread (threads=main).
 * A window (?seconds=N) opened after the switch must show late() and not early().
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) static void early(void) { usleep(5000); }
__attribute__((noinline)) static void late(void) {
  struct timespec ts = {0, 5000000};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  double phase = argc > 1 ? atof(argv[1]) : 2, total = argc > 2 ? atof(argv[2]) : 10;
  double t0 = now();
  while (now() - t0 < total) {
    if (now() - t0 < phase)
      early();
    else
      late();
  }
  return 0;
}
