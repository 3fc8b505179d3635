/* forks.c - a process tree: the parent forks two children, then every process sleeps
 * at the same site (work, reached by the same path); children also at child_only.
 * Run with threads=main: a child's only thread is its main thread.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blockguard.h>

static void work(void) { usleep(200); }       /* SITE:work */
static void child_only(void) { usleep(100); } /* SITE:child_only */

int main(void) {
  int child = 0;
  for (int i = 0; i < 2 && !child; i++) child = fork() == 0;
  work();
  if (child) {
    child_only();
    return 0;
  }
  bg_thread_guard(0); /* reaping (wait is a wrapped proc call) is not what this counts */
  while (wait(NULL) > 0) {
  }
  return 0;
}
