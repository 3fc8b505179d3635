/* http_tree.c - a process tree for the dashboard tests (t_http_tree.sh).
 *
 *   http_tree exec   parent forks a child that execs "http_tree leaf"; both block a
 *                    little; the parent waits for the child, says "child done" on
 *                    stderr, then keeps running 2 s.
 *   http_tree fork   parent forks a child that does not exec and outlives the parent
 *                    by 3 s; the parent exits after 0.5 s.
 *   http_tree leaf   blocks for 1 s and exits.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void nap(int ms) {
  for (int i = 0; i < ms / 50; i++) usleep(50000);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "leaf";
  if (!strcmp(mode, "leaf")) {
    nap(1000);
    return 0;
  }
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    if (!strcmp(mode, "exec")) {
      execl("/proc/self/exe", argv[0], "leaf", (char *)NULL);
      _exit(127);
    }
    nap(3500);
    exit(0); /* a normal exit: the core's exit hooks run in the child too */
  }
  if (!strcmp(mode, "exec")) {
    int st;
    waitpid(pid, &st, 0);
    fprintf(stderr, "child done: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    nap(2000);
    return 0;
  }
  nap(500);
  return 0;
}
