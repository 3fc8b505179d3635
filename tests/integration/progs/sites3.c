/* sites3.c - three distinct blocking sites on a guarded thread named "evloop"
 * (run with threads=name:evloop), each hit twice; "extra" as argv[1] adds a fourth.
 * Prints how many calls failed with EDEADLK (action raise) so tests can see it.
 * Lines marked SITE:name are where the integration tests expect each site.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fds[2], with_extra, raised;

static void nap(void) {
  if (usleep(300) < 0 && errno == EDEADLK) raised++; /* SITE:nap */
}
static void drain(void) {
  char c;
  if (read(fds[0], &c, 1) < 0 && errno == EDEADLK) raised++; /* SITE:drain */
}
static void doze(void) {
  struct timespec ts = {0, 100000};
  if (nanosleep(&ts, NULL) < 0 && errno == EDEADLK) raised++; /* SITE:doze */
}
static void extra(void) {
  if (usleep(100) < 0 && errno == EDEADLK) raised++; /* SITE:extra */
}

static void *loop(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "evloop");
  for (int i = 0; i < 2; i++) {
    nap();
    drain();
    doze();
    if (with_extra) extra();
  }
  return NULL;
}

int main(int argc, char **argv) {
  with_extra = argc > 1 && !strcmp(argv[1], "extra");
  if (pipe(fds) < 0 || write(fds[1], "xy", 2) != 2) return 1;
  pthread_t t;
  if (pthread_create(&t, NULL, loop, NULL)) return 1;
  pthread_join(t, NULL);
  printf("raised=%d\n", raised);
  return 0;
}
