/* pool.c - a thread pool: four workers wait on a condition variable for tasks, each
 * task sleeps briefly (a worker may block: that is what it is for).  No event loop. */
#include <pthread.h>
#include <unistd.h>

#define WORKERS 4
#define TASKS 40

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static int queued, done;

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (!queued && !done) pthread_cond_wait(&more, &mu);
    if (!queued) {
      pthread_mutex_unlock(&mu);
      return NULL;
    }
    queued--;
    pthread_mutex_unlock(&mu);
    usleep(500); /* the task */
  }
}

int main(void) {
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < TASKS; i++) {
    pthread_mutex_lock(&mu);
    queued++;
    pthread_cond_signal(&more);
    pthread_mutex_unlock(&mu);
    usleep(200);
  }
  pthread_mutex_lock(&mu);
  done = 1;
  pthread_cond_broadcast(&more);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
  return 0;
}
