/* spawn.c - start a program N times, one after the other, and time it: the start-up
 * rows of `make bench`.
 *
 *   spawn N PRELOAD|- OPTIONS|- CMD [ARGS...]
 * Runs CMD N times (posix_spawn + waitpid), each child with LD_PRELOAD=PRELOAD and
 * BLOCKGUARD_OPTIONS=OPTIONS unless given as "-" (this driver itself runs bare), stdout
 * and stderr to /dev/null.  Prints the total wall time in ms and the children's total
 * CPU time (user + system) in ms.  Exits 1 if a child fails.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: spawn N PRELOAD|- OPTIONS|- CMD [ARGS...]\n");
    return 2;
  }
  long n = atol(argv[1]);
  /* the children's environment: ours without LD_PRELOAD/BLOCKGUARD_OPTIONS, plus those */
  size_t ne = 0;
  while (environ[ne]) ne++;
  char **env = calloc(ne + 3, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < ne; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "BLOCKGUARD_OPTIONS=", 19))
      env[k++] = environ[i];
  char pre[4096], opt[4096];
  if (strcmp(argv[2], "-")) {
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", argv[2]);
    env[k++] = pre;
  }
  if (strcmp(argv[3], "-")) {
    snprintf(opt, sizeof opt, "BLOCKGUARD_OPTIONS=%s", argv[3]);
    env[k++] = opt;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  double t0 = now_ms();
  for (long i = 0; i < n; i++) {
    pid_t pid;
    if (posix_spawn(&pid, argv[4], &fa, NULL, argv + 4, env) != 0) {
      perror("spawn: posix_spawn");
      return 1;
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "spawn: %s failed (status 0x%x)\n", argv[4], st);
      return 1;
    }
  }
  double wall = now_ms() - t0;
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  printf("%.3f %.3f\n", wall, cpu);
  return 0;
}
