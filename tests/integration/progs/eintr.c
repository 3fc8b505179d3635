/* eintr.c - EINTR and SA_RESTART through wrapped calls, guarded and not.
 * A signal without SA_RESTART interrupts a blocked read: -1/EINTR, exactly as bare.
 * With SA_RESTART the read restarts and returns the data written later.  nanosleep
 * is never restarted by the kernel: -1/EINTR with rem filled in, either way.
 * errno is printed by name without strerror(): under ASan, libp11-kit (pulled in by
 * libmicrohttpd) corrupts glibc's locale lock and strerror then hangs at exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <blockguard.h>

static pthread_t main_th;
static int p[2];

static void on_signal(int sig) { (void)sig; }

static const char *name(int e) {
  static char buf[16];
  if (e == 0) return "0";
  if (e == EINTR) return "EINTR";
  if (e == EDEADLK) return "EDEADLK";
  snprintf(buf, sizeof buf, "%d", e);
  return buf;
}

static void *kick(void *arg) {
  int restart = *(int *)arg;
  usleep(20000);
  pthread_kill(main_th, SIGUSR1);
  if (restart) {
    usleep(20000);
    write(p[1], "late", 4);
  }
  return NULL;
}

static void trial(int restart, int guarded) {
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  pipe(p);
  pthread_t th;
  pthread_create(&th, NULL, kick, &restart);
  bg_thread_guard(guarded);
  char buf[8] = {0};
  errno = 0;
  ssize_t n = read(p[0], buf, sizeof buf);
  int e = errno;
  bg_thread_guard(0);
  pthread_join(th, NULL);
  printf("read restart=%d guarded=%d: ret=%zd errno=%s buf=%s\n", restart, guarded, n, name(e),
         buf);
  close(p[0]);
  close(p[1]);

  pthread_create(&th, NULL, kick, &(int){0});
  struct timespec req = {5, 0}, rem = {0, 0};
  bg_thread_guard(guarded);
  errno = 0;
  int r = nanosleep(&req, &rem);
  e = errno;
  bg_thread_guard(0);
  pthread_join(th, NULL);
  printf("nanosleep restart=%d guarded=%d: ret=%d errno=%s rem_over_4s=%d\n", restart, guarded, r,
         name(e), rem.tv_sec >= 4);
}

int main(void) {
  main_th = pthread_self();
  for (int restart = 0; restart <= 1; restart++)
    for (int guarded = 0; guarded <= 1; guarded++) trial(restart, guarded);
  printf("violations_recorded=%d\n", bg_violations() > 0);
  return 0;
}
