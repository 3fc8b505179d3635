/* fork.c - fork from a coroutine while another coroutine's call is in flight, on a
 * worker (io_uring=0) or in the scheduler's io_uring.
 *
 * In the child the parent's worker (or ring) does not exist: the call it was making is
 * cancelled (the coroutine sees -1/ECANCELED), and new offloaded calls and timers work
 * again (the pool, the ring, the scheduler's epoll and eventfd are re-created).  In the
 * parent nothing changes: the call completes with the data written later.
 */
#include <blockguard.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int p[2];
static char abuf[16];
static ssize_t a_rc = -2;
static int a_err;

static void reader(void *arg) {
  (void)arg;
  a_rc = read(p[0], abuf, sizeof abuf);
  a_err = errno;
}

static int child_checks(void) {
  int q[2];
  if (pipe(q) < 0) return 10;
  struct bg_offload_stats b, a;
  bg_offload_stats(&b);
  if (write(q[1], "child", 5) != 5) return 11; /* offloaded: the pool starts again */
  char buf[8] = {0};
  if (read(q[0], buf, sizeof buf) != 5 || strcmp(buf, "child")) return 12;
  usleep(2000); /* a timer: the scheduler's fresh epoll works */
  for (int i = 0; i < 100 && a_rc == -2; i++) usleep(1000);
  if (a_rc != -1 || a_err != ECANCELED) return 13; /* the parent's call, cancelled here */
  bg_offload_stats(&a);
  if (a.jobs + a.ring_ops < b.jobs + b.ring_ops + 2 || a.timers < b.timers + 1) return 14;
  return 0;
}

static void forker(void *arg) {
  (void)arg;
  usleep(30000); /* the reader's read() is now running on a worker */
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int r = child_checks();
    if (r) fprintf(stderr, "child check %d failed (a_rc=%zd errno=%d)\n", r, a_rc, a_err);
    exit(r);
  }
  if (write(p[1], "parent", 6) != 6) abort();
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) abort();
  printf("child exit status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) exit(1);
}

int main(void) {
  alarm(30);
  if (pipe(p) < 0) return 2;
  bg_sched_t *s = bg_sched_new(0);
  if (!s) return 2;
  bg_co_spawn(s, reader, NULL);
  bg_co_spawn(s, forker, NULL);
  bg_sched_run(s);
  bg_sched_free(s);
  printf("parent read %zd '%.*s'\n", a_rc, (int)(a_rc > 0 ? a_rc : 0), abuf);
  return a_rc == 6 && !memcmp(abuf, "parent", 6) ? 0 : 1;
}
