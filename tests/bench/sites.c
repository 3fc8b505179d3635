/* sites.c - many distinct call sites: the cost of a violation at a NEW site (section percall) and
 * the memory the site registry takes (section memory).
 *
 *   sites new CALL       time one sweep over 1,024 distinct call sites of CALL (read,
 *                        write, poll, sleep), each called once: on a guarded thread
 *                        every call is the first violation of its site.  Prints
 *                        "CALL ns_per_call".
 *   sites rss N          make N*1,024 sites (N = 0..4, in the order read, write, poll,
 *                        sleep), then print "rss_kb hwm_kb anon_kb" (VmRSS, VmHWM,
 *                        RssAnon: the process's private memory, without the shared
 *                        library pages that VmRSS also counts).
 *
 * The sites are real, distinct return addresses: each is a separate call instruction
 * expanded by the X1024 macro, so a violation's stack differs from every other site's
 * in its first frame.  Arguments are those of percall's `violate` set (a 1 ns sleep): every call
 * returns at once but is a violation on a guarded thread.
 *
 * /proc/self/status is read with raw system calls (inline asm: the shim wraps syscall()
 * as well) so that measuring memory does not itself become a violation (and a 4,097th
 * site).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SITES_PER_CALL 1024
#define X4(s) s s s s
#define X16(s) X4(X4(s))
#define X256(s) X16(X16(s))
#define X1024(s) X4(X256(s))

static int rfd, wfd;
static volatile long sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static void sweep_read(void) {
  char c;
  long s = 0;
  X1024(s += read(rfd, &c, 1);)
  sink = s;
}

__attribute__((noinline)) static void sweep_write(void) {
  long s = 0;
  X1024(s += write(wfd, "x", 1);)
  sink = s;
}

__attribute__((noinline)) static void sweep_poll(void) {
  struct pollfd p = {.fd = rfd, .events = POLLIN};
  long s = 0;
  X1024(s += poll(&p, 1, 1000);)
  sink = s;
}

__attribute__((noinline)) static void sweep_sleep(void) {
  struct timespec ns1 = {0, 1};
  long s = 0;
  X1024(s += clock_nanosleep(CLOCK_MONOTONIC, 0, &ns1, NULL);)
  sink = s;
}

static void (*const sweeps[4])(void) = {sweep_read, sweep_write, sweep_poll, sweep_sleep};
static const char *const names[4] = {"read", "write", "poll", "sleep"};

/* A system call that no wrapper sees (the shim wraps syscall() too, and reading
 * /proc/self/status from a guarded thread would be a violation that allocates). */
static long raw_syscall3(long nr, long a, long b, long c) {
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
#else
  return syscall(nr, a, b, c);
#endif
}

/* VmRSS, VmHWM and RssAnon in kB, read without going through wrapped calls. */
static void rss(long *cur, long *peak, long *anon) {
  char buf[4096];
  *cur = *peak = *anon = -1;
  int fd = (int)raw_syscall3(SYS_open, (long)"/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  long n = raw_syscall3(SYS_read, fd, (long)buf, sizeof buf - 1);
  raw_syscall3(SYS_close, fd, 0, 0);
  if (n <= 0) return;
  buf[n] = 0;
  char *p = strstr(buf, "VmRSS:");
  if (p) *cur = strtol(p + 6, NULL, 10);
  p = strstr(buf, "VmHWM:");
  if (p) *peak = strtol(p + 6, NULL, 10);
  p = strstr(buf, "RssAnon:");
  if (p) *anon = strtol(p + 8, NULL, 10);
}

static int usage(void) {
  fprintf(stderr, "usage: sites new read|write|poll|sleep  |  sites rss 0..4\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 3) return usage();
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  /* raw: open() on a guarded thread is a violation too (category file), and the sites
   * counted here must be exactly the sweeps' */
  rfd = (int)raw_syscall3(SYS_open, (long)"/dev/zero", O_RDONLY, 0);
  wfd = (int)raw_syscall3(SYS_open, (long)"/dev/null", O_WRONLY, 0);
  if (rfd < 0 || wfd < 0) {
    perror("sites: open");
    return 1;
  }
  if (!strcmp(argv[1], "new")) {
    for (int i = 0; i < 4; i++) {
      if (strcmp(argv[2], names[i])) continue;
      uint64_t t0 = now_ns();
      sweeps[i]();
      printf("%s %.1f\n", names[i], (double)(now_ns() - t0) / SITES_PER_CALL);
      return 0;
    }
    return usage();
  }
  if (!strcmp(argv[1], "rss")) {
    int n = atoi(argv[2]);
    if (n < 0 || n > 4) return usage();
    for (int i = 0; i < n; i++) sweeps[i]();
    long cur, peak, anon;
    rss(&cur, &peak, &anon);
    printf("%ld %ld %ld\n", cur, peak, anon);
    return 0;
  }
  return usage();
}
