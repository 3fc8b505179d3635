/* names.c - threads=name:GLOB follows pthread_setname_np (self and other) and prctl. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <blockguard.h>

static pthread_barrier_t named, done;

static void *by_prctl(void *arg) {
  (void)arg;
  prctl(PR_SET_NAME, "io-prctl", 0, 0, 0);
  usleep(10); /* guarded: violation */
  prctl(PR_SET_NAME, "calm", 0, 0, 0);
  usleep(10); /* no longer guarded */
  return NULL;
}

static void *renamed_by_other(void *arg) {
  (void)arg;
  pthread_barrier_wait(&named);
  usleep(10); /* guarded: violation */
  pthread_barrier_wait(&done);
  return NULL;
}

static void *unnamed(void *arg) {
  (void)arg;
  usleep(10);
  return NULL;
}

int main(void) {
  pthread_t a, b, c;
  pthread_barrier_init(&named, NULL, 2);
  pthread_barrier_init(&done, NULL, 2);
  pthread_create(&a, NULL, by_prctl, NULL);
  pthread_join(a, NULL);
  pthread_create(&b, NULL, renamed_by_other, NULL);
  pthread_setname_np(b, "io-other");
  pthread_barrier_wait(&named);
  pthread_barrier_wait(&done);
  pthread_join(b, NULL);
  pthread_create(&c, NULL, unnamed, NULL);
  pthread_join(c, NULL);
  printf("violations=%llu\n", (unsigned long long)bg_violations());
  return 0;
}
