/* fork_threads.c - fork while other threads are busy making wrapped calls; the child
 * must not deadlock (registry lock held by a thread that does not exist in the child)
 * and must record its own violations. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <blockguard.h>

static volatile int stop;

static void *busy(void *arg) {
  (void)arg;
  bg_thread_guard(1);
  while (!stop) usleep(10);
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, busy, NULL);
  for (int round = 0; round < 20; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      bg_thread_guard(1);
      usleep(10);
      exit(bg_violations() >= 1 ? 0 : 3);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "child %d failed: status %d\n", round, st);
      return 1;
    }
  }
  stop = 1;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  puts("fork ok");
  return 0;
}
