/* exec_child.c - a guarded parent that execs a child: the child inherits the shim
 * through the environment and reports its own violations. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blockguard.h>

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "child")) {
    usleep(10);
    printf("child violations=%llu\n", (unsigned long long)bg_violations());
    return 0;
  }
  pid_t pid = fork();
  if (pid == 0) {
    execl(argv[0], argv[0], "child", (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0); /* a violation in the parent (threads=main) */
  printf("parent violations=%llu\n", (unsigned long long)bg_violations());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
