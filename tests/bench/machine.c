/* machine.c - what this machine charges for the two things blockguard's costs are made
 * of, printed first by `make bench` so every other figure can be read against them
 * (a system call costs ~0.1 us on bare metal and over 1 us in some VMs).
 *
 *   machine syscall N   one raw system call (getppid through syscall(): no vDSO, no
 *                       libc cache), ns per call: the fastest of 31 blocks of N
 *   machine handoff N   a mutex + condition variable hand-off between two threads, one
 *                       round trip (A wakes B, B wakes A), us: the median of N
 *   machine clock N     clock_gettime(CLOCK_MONOTONIC) (vDSO), ns per call
 *
 * No shim: these are the machine's figures, not blockguard's.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long turn, rounds; /* odd: B's turn; even: A's turn */

static void *player_b(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (long i = 0; i < rounds; i++) {
    while (!(turn & 1)) pthread_cond_wait(&cv, &mu);
    turn++;
    pthread_cond_broadcast(&cv);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: machine syscall|handoff|clock N\n");
    return 2;
  }
  long n = atol(argv[2]);
  if (!strcmp(argv[1], "syscall") || !strcmp(argv[1], "clock")) {
    int sys = !strcmp(argv[1], "syscall");
    uint64_t best = UINT64_MAX;
    volatile long sink = 0;
    for (int b = 0; b < 31; b++) {
      uint64_t t0 = now_ns();
      struct timespec ts;
      for (long i = 0; i < n; i++) {
        if (sys)
          sink += syscall(SYS_getppid);
        else
          sink += clock_gettime(CLOCK_MONOTONIC, &ts);
      }
      uint64_t dt = now_ns() - t0;
      if (dt < best) best = dt;
    }
    printf("%.2f\n", (double)best / (double)n);
    return 0;
  }
  if (!strcmp(argv[1], "handoff")) {
    rounds = n;
    uint64_t *rt = calloc((size_t)n, sizeof *rt);
    pthread_t th;
    pthread_create(&th, NULL, player_b, NULL);
    pthread_mutex_lock(&mu);
    for (long i = 0; i < n; i++) {
      uint64_t t0 = now_ns();
      turn++; /* B's turn */
      pthread_cond_broadcast(&cv);
      while (turn & 1) pthread_cond_wait(&cv, &mu);
      rt[i] = now_ns() - t0;
    }
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);
    qsort(rt, (size_t)n, sizeof *rt, cmp_u64);
    printf("%.2f\n", (double)rt[n / 2] / 1000.0);
    return 0;
  }
  fprintf(stderr, "machine: unknown measurement '%s'\n", argv[1]);
  return 2;
}
