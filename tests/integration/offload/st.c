/* st.c - a State Threads program keeps its other st threads running while one of
 * them calls sleep() and read() (blocking libc calls, not st_* calls).
 *
 * A ticker st thread counts 10 ms st_usleep steps.  The blocker st thread calls
 * sleep(1) and then read() on a pipe that an ordinary pthread fills 300 ms later.
 * With blockguard (mode=offload) and the adapter from <blockguard_st.h>, the ticker
 * keeps counting during both; without offload the whole process stops and the ticker
 * does not move.  Prints the tick counts; the test script judges them.
 */
#include <blockguard_st.h>
#include <errno.h>
#include <pthread.h>
#include <st.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int p[2];
static volatile int ticks, done;
static int sleep_ticks, read_ticks, sleep_rc;
static ssize_t read_rc;
static char buf[16];

static void *ticker(void *arg) {
  (void)arg;
  while (!done) {
    ticks++;
    st_usleep(10000);
  }
  return NULL;
}

static void *blocker(void *arg) {
  (void)arg;
  int t0 = ticks;
  sleep_rc = (int)sleep(1);
  sleep_ticks = ticks - t0;
  t0 = ticks;
  errno = 0;
  read_rc = read(p[0], buf, sizeof buf - 1);
  read_ticks = ticks - t0;
  done = 1;
  return NULL;
}

static void *writer(void *arg) {
  (void)arg;
  usleep(1300000); /* 300 ms into the blocker's read */
  if (write(p[1], "from pthread", 12) != 12) return NULL;
  return NULL;
}

int main(void) {
  if (pipe(p) < 0 || st_init() < 0) return 2;
  int installed = bg_st_adapter_install() == 0;
  pthread_t w;
  pthread_create(&w, NULL, writer, NULL);
  st_thread_t tk = st_thread_create(ticker, NULL, 1, 0);
  st_thread_t bl = st_thread_create(blocker, NULL, 1, 0);
  st_thread_join(bl, NULL);
  st_thread_join(tk, NULL);
  pthread_join(w, NULL);
  printf("adapter=%d sleep_rc=%d sleep_ticks=%d read_rc=%zd read='%s' read_ticks=%d\n", installed,
         sleep_rc, sleep_ticks, read_rc, buf, read_ticks);
  return 0;
}
