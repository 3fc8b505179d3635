/* exits.c - what a process that recorded violations pays when it exits (the exit-cost
 * section of `make bench`): the shim writes its report and summary then, and naming
 * each frame (symbolization) was the expensive part.
 *
 *   exits sites N    N distinct violation sites (usleep(1) from N call sites, N <= 16),
 *                    then exit
 *   exits forks N    one violation, then N children forked one after the other; each
 *                    makes two violations (one site it shares with the parent, one of
 *                    its own) and exits; the parent waits for each
 * Run under threads=main, so every usleep is a violation.  Prints nothing; the driver
 * measures wall and CPU time from outside (spawn.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SITE(k) __attribute__((noinline)) static void site##k(void) { usleep(1); __asm__ volatile(""); }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7)
SITE(8) SITE(9) SITE(10) SITE(11) SITE(12) SITE(13) SITE(14) SITE(15)
static void (*const sites[16])(void) = {site0, site1, site2, site3, site4, site5, site6, site7,
                                        site8, site9, site10, site11, site12, site13, site14, site15};

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: exits sites|forks N\n");
    return 2;
  }
  int n = atoi(argv[2]);
  if (!strcmp(argv[1], "sites")) {
    for (int i = 0; i < n && i < 16; i++) sites[i]();
    return 0;
  }
  if (!strcmp(argv[1], "forks")) {
    sites[0]();
    for (int i = 0; i < n; i++) {
      pid_t pid = fork();
      if (pid < 0) return 1;
      if (pid == 0) {
        sites[0]();
        sites[1]();
        exit(0);
      }
      int st;
      if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    }
    return 0;
  }
  return 2;
}
