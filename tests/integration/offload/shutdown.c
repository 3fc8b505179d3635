/* shutdown.c - a call stuck forever must not hold up process exit.
 *
 * One coroutine's read() of a pipe nobody writes is offloaded (to a worker, or the
 * scheduler's io_uring) and never returns; another coroutine calls exit(0) 50 ms
 * later.  A worker: the shim's exit path gives running calls a bounded time, then
 * abandons the worker (and says so on stderr).  The ring: the kernel cancels the read
 * as the process exits.  The process must be gone well within a second.
 */
#include <blockguard.h>
#include <stdlib.h>
#include <unistd.h>

static int p[2];
static void stuck(void *arg) {
  (void)arg;
  char c;
  if (read(p[0], &c, 1) >= 0) _exit(3); /* never: nobody writes */
}
static void quitter(void *arg) {
  (void)arg;
  usleep(50000);
  /* On a worker: exit only once the read really runs there (on a loaded machine the
   * worker may not have taken it yet after 50 ms; a queued call is cancelled, not
   * abandoned).  In the ring it is in flight as soon as submitted. */
  const char *w = getenv("WANT_WORKER");
  struct bg_offload_stats st;
  for (int i = 0; w && *w == '1' && i < 500 && bg_offload_stats(&st) == 0 && !st.busy; i++)
    usleep(10000);
  exit(0);
}

int main(void) {
  if (pipe(p) < 0) return 2;
  bg_sched_t *s = bg_sched_new(0);
  if (!s) return 2;
  bg_co_spawn(s, stuck, NULL);
  bg_co_spawn(s, quitter, NULL);
  bg_sched_run(s);
  return 4; /* not reached */
}
