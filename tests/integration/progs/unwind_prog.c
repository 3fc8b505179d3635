/* unwind_prog.c - stacks the stack capture must get right (t_unwind.sh).
 *   sites N     read() from one helper reached through two callers and through
 *               recursion of two depths, alternating: the helper's call is one return
 *               address, the stacks are four (a thread's known-site memo must tell)
 *   reload A B  dlopen A, call its work() twice (violations), dlclose, dlopen B (at
 *               the same base when the loader reuses the hole), the same: each stack
 *               must be read with its own object's unwind rules; prints "same_base=0|1"
 *   signal      a violation inside a SIGALRM handler that interrupted main's loop
 * Run under threads=main (every call on the main thread is a violation). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int rfd, wfd;
static char buf[8];

__attribute__((noinline)) static void helper(void) {
  if (write(wfd, "x", 1) != 1) abort();
  if (read(rfd, buf, 1) != 1) abort();
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void caller_a(void) { helper(); __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) static void caller_b(void) { helper(); __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) static void deep(int n) {
  if (n == 0)
    helper();
  else
    deep(n - 1);
  __asm__ volatile("" ::: "memory");
}

static volatile sig_atomic_t fired;
static void on_alarm(int sig) {
  (void)sig;
  usleep(1); /* a violation in a signal handler */
  fired = 1;
}

int main(int argc, char **argv) {
  int p[2];
  if (argc < 2 || pipe(p) < 0) return 2;
  rfd = p[0], wfd = p[1];
  if (!strcmp(argv[1], "sites") && argc == 3) {
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
      caller_a();
      caller_b();
      deep(3);
      deep(5);
    }
    return 0;
  }
  if (!strcmp(argv[1], "reload") && argc == 4) {
    void *addr[2];
    for (int k = 0; k < 2; k++) {
      void *h = dlopen(argv[2 + k], RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
      }
      void (*work)(void) = (void (*)(void))dlsym(h, "work");
      Dl_info di;
      addr[k] = dladdr((void *)work, &di) ? di.dli_fbase : NULL;
      work();
      work();
      dlclose(h);
    }
    printf("same_base=%d\n", addr[0] == addr[1]);
    return 0;
  }
  if (!strcmp(argv[1], "signal")) {
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 0}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (!fired) __asm__ volatile("" ::: "memory");
    return 0;
  }
  return 2;
}
