/* sighandler.c - a signal handler's blocking call is never offloaded.
 *
 * A coroutine is busy when SIGALRM arrives; the handler makes a blocking read()
 * (data is ready, it returns at once).  Offloading it would suspend the coroutine
 * inside the handler while the scheduler runs other coroutines: whatever lock the
 * interrupted code held (malloc's) would then deadlock them.  The read must run in
 * place: offload counters unchanged, the handler completes.
 */
#include <blockguard.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
static int p[2];
static volatile int handled;
static volatile ssize_t hr;
static void on_alarm(int sig) {
  (void)sig;
  char c;
  hr = read(p[0], &c, 1);
  handled = 1;
}
static void busy(void *a) {
  (void)a;
  while (!handled)
    for (volatile int i = 0; i < 100000; i++) {
    }
}
int main(void) {
  if (pipe(p) < 0 || write(p[1], "xy", 2) != 2) return 2;
  struct sigaction sa = {.sa_handler = on_alarm};
  sigaction(SIGALRM, &sa, 0);
  bg_sched_t *s = bg_sched_new(0);
  bg_co_spawn(s, busy, 0);
  struct itimerval it = {{0, 0}, {0, 20000}};
  setitimer(ITIMER_REAL, &it, 0);
  bg_sched_run(s);
  struct bg_offload_stats st;
  bg_offload_stats(&st);
  printf("handled=%d read=%zd jobs=%llu\n", handled, hr, (unsigned long long)st.jobs);
  return st.jobs == 0 && hr == 1 ? 0 : 1;
}
