/* lag_demo.c - an event loop whose iterations vary, for the dashboard's Loops tab
 * (tests/browser/dashboard.test.mjs): a timerfd fires every 10 ms for SECONDS seconds;
 * each tick runs 0-20 ms of CPU (pseudo-random), every 40th a 150 ms burst (a stall at
 * the default stall_ms=100).  The loop thread is named "lag-loop". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static uint64_t cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

__attribute__((noinline)) static void render_frame(int ms) {
  uint64_t end = cpu_ns() + (uint64_t)ms * 1000000ull;
  volatile uint64_t x = 0;
  while (cpu_ns() < end) x++;
}

static void *loop(void *arg) {
  long seconds = (long)(intptr_t)arg;
  pthread_setname_np(pthread_self(), "lag-loop");
  int ep = epoll_create1(0), tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct itimerspec its = {{0, 10000000}, {0, 10000000}};
  timerfd_settime(tf, 0, &its, NULL);
  struct epoll_event e = {.events = EPOLLIN, .data.fd = tf}, out;
  epoll_ctl(ep, EPOLL_CTL_ADD, tf, &e);
  unsigned seed = 42;
  for (long tick = 0; tick < seconds * 100; tick++) {
    if (epoll_wait(ep, &out, 1, 1000) < 1) continue;
    uint64_t n;
    if (read(tf, &n, sizeof n) < 0) continue;
    render_frame(tick % 40 == 39 ? 150 : (int)(rand_r(&seed) % 21));
  }
  close(ep);
  return NULL;
}

int main(int argc, char **argv) {
  pthread_t t;
  pthread_create(&t, NULL, loop, (void *)(intptr_t)(argc > 1 ? atol(argv[1]) : 10));
  pthread_join(t, NULL);
  return 0;
}
