/* c_sync.c - cases for the sync category (enabled with categories=all in the tests):
 * condition variables, semaphores, joins, file locks.  Every BLOCK form is woken
 * deterministically: a helper thread needs the mutex the waiter releases by waiting,
 * so its signal always comes after the wait began. */
#include <semaphore.h>
#include <sys/file.h>
#include <sys/sem.h>
#include <threads.h>

#include "bgt.h"

int __fcntl(int, int, ...);

/* ---- condition variables -------------------------------------------------------------- */
struct cv {
  pthread_mutex_t m;
  pthread_cond_t c;
  int flag;
};

static void *cv_signal(void *arg) {
  struct cv *v = arg;
  pthread_mutex_lock(&v->m); /* acquired only once the waiter is waiting */
  v->flag = 1;
  pthread_cond_signal(&v->c);
  pthread_mutex_unlock(&v->m);
  return NULL;
}

#define CONDWAIT(name, clk, expr)                                                       \
  CASE(name) {                                                                          \
    struct cv v = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};             \
    pthread_condattr_t ca;                                                              \
    pthread_condattr_init(&ca);                                                         \
    pthread_condattr_setclock(&ca, clk);                                                \
    pthread_cond_init(&v.c, &ca);                                                       \
    struct timespec dl = {0, 0};                                                        \
    if (!NB) bgt_abs_in(&dl, clk, 10000);                                               \
    pthread_mutex_lock(&v.m);                                                           \
    pthread_t th = NB ? 0 : bgt_thread(cv_signal, &v);                                  \
    CALL(expr);                                                                         \
    pthread_mutex_unlock(&v.m);                                                         \
    if (th) pthread_join(th, NULL);                                                     \
    OUT("flag=%d", v.flag);                                                             \
    pthread_cond_destroy(&v.c);                                                         \
  }

CASE(pthread_cond_wait) {
  NO_NONBLOCK();
  struct cv v = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_mutex_lock(&v.m);
  pthread_t th = bgt_thread(cv_signal, &v);
  CALL(pthread_cond_wait(&v.c, &v.m));
  pthread_mutex_unlock(&v.m);
  pthread_join(th, NULL);
  OUT("flag=%d", v.flag);
}
CONDWAIT(pthread_cond_timedwait, CLOCK_REALTIME, pthread_cond_timedwait(&v.c, &v.m, &dl))
CONDWAIT(pthread_cond_clockwait, CLOCK_MONOTONIC,
         pthread_cond_clockwait(&v.c, &v.m, CLOCK_MONOTONIC, &dl))

struct cv11 {
  mtx_t m;
  cnd_t c;
  int flag;
};

static void *cnd_signal_fn(void *arg) {
  struct cv11 *v = arg;
  mtx_lock(&v->m);
  v->flag = 1;
  cnd_signal(&v->c);
  mtx_unlock(&v->m);
  return NULL;
}

CASE(cnd_wait) {
  NO_NONBLOCK();
  struct cv11 v = {.flag = 0};
  mtx_init(&v.m, mtx_plain);
  cnd_init(&v.c);
  mtx_lock(&v.m);
  pthread_t th = bgt_thread(cnd_signal_fn, &v);
  CALL(cnd_wait(&v.c, &v.m));
  mtx_unlock(&v.m);
  pthread_join(th, NULL);
  OUT("flag=%d", v.flag);
  cnd_destroy(&v.c);
  mtx_destroy(&v.m);
}

CASE(cnd_timedwait) {
  struct cv11 v = {.flag = 0};
  mtx_init(&v.m, mtx_plain);
  cnd_init(&v.c);
  struct timespec dl = {0, 0};
  if (!NB) bgt_abs_in(&dl, CLOCK_REALTIME, 10000);
  mtx_lock(&v.m);
  pthread_t th = NB ? 0 : bgt_thread(cnd_signal_fn, &v);
  CALL(cnd_timedwait(&v.c, &v.m, &dl));
  mtx_unlock(&v.m);
  if (th) pthread_join(th, NULL);
  OUT("flag=%d", v.flag);
  cnd_destroy(&v.c);
  mtx_destroy(&v.m);
}

/* ---- semaphores: BLOCK waits for a post from a helper; NONBLOCK: the count is
 * positive (sem_wait returns at once), or the deadline has passed. ------------------ */
/* Posts once the waiter is asleep (so the wait really blocks, even on a loaded
 * machine where a fixed delay could fire before the call and make it exempt), or once
 * the waiter says it is done (mode=raise: the call is never made). */
static pid_t sem_waiter_tid;
static int sem_waiter_done;

static int thread_sleeping(pid_t tid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* "tid (comm) S ..." */
  return p && p[1] == ' ' && p[2] == 'S';
}

static void *sem_poster(void *arg) {
  for (int i = 0; i < 5000 && !__atomic_load_n(&sem_waiter_done, __ATOMIC_ACQUIRE); i++) {
    if (thread_sleeping(sem_waiter_tid)) break;
    usleep(200);
  }
  sem_post(arg);
  return NULL;
}

#define SEMWAIT(name, expr)                                                             \
  CASE(name) {                                                                          \
    sem_t s;                                                                            \
    int ready = NB && !strcmp(#name, "sem_wait");                                       \
    sem_init(&s, 0, ready ? 1 : 0);                                                     \
    struct timespec dl = {0, 0};                                                        \
    if (!NB) bgt_abs_in(&dl, strcmp(#name, "sem_clockwait") ? CLOCK_REALTIME : CLOCK_MONOTONIC, 10000); \
    sem_waiter_tid = gettid();                                                          \
    __atomic_store_n(&sem_waiter_done, 0, __ATOMIC_RELEASE);                            \
    pthread_t th = NB ? 0 : bgt_thread(sem_poster, &s);                                 \
    CALL(expr);                                                                         \
    __atomic_store_n(&sem_waiter_done, 1, __ATOMIC_RELEASE);                            \
    if (th) pthread_join(th, NULL);                                                     \
    int val = -1;                                                                       \
    sem_getvalue(&s, &val);                                                             \
    OUT("value=%d", val);                                                               \
    sem_destroy(&s);                                                                    \
  }
SEMWAIT(sem_wait, sem_wait(&s))
SEMWAIT(sem_timedwait, sem_timedwait(&s, &dl))
SEMWAIT(sem_clockwait, sem_clockwait(&s, CLOCK_MONOTONIC, &dl))

/* ---- joins: BLOCK joins a thread that finishes; NONBLOCK: a passed deadline while
 * the thread is still held (ETIMEDOUT), then it is released and joined. ------------- */
static void *joinee(void *arg) {
  int fd = (int)(intptr_t)arg;
  char c;
  while (read(fd, &c, 1) > 0) {
  }
  return (void *)(intptr_t)42;
}

#define JOIN(name, expr)                                                                \
  CASE(name) {                                                                          \
    int p[2];                                                                           \
    bgt_pipe(p, NULL);                                                                  \
    pthread_t th = bgt_thread(joinee, (void *)(intptr_t)p[0]);                          \
    if (!NB) close(p[1]);                                                               \
    void *ret = NULL;                                                                   \
    struct timespec dl = {0, 0};                                                        \
    if (!NB) bgt_abs_in(&dl, strstr(#name, "clock") ? CLOCK_MONOTONIC : CLOCK_REALTIME, 10000); \
    int r = CALL(expr);                                                                 \
    OUT("ret=%ld", (long)(intptr_t)ret);                                                \
    if (r != 0) { /* timed out, or not made (mode=raise) */                             \
      if (NB) close(p[1]);                                                              \
      pthread_join(th, NULL);                                                           \
    }                                                                                   \
    close(p[0]);                                                                        \
  }

CASE(pthread_join) {
  NO_NONBLOCK();
  int p[2];
  bgt_pipe(p, NULL);
  pthread_t th = bgt_thread(joinee, (void *)(intptr_t)p[0]);
  close(p[1]);
  void *ret = NULL;
  int r = CALL(pthread_join(th, &ret));
  OUT("ret=%ld", (long)(intptr_t)ret);
  if (r != 0) pthread_join(th, NULL);
  close(p[0]);
}
JOIN(pthread_timedjoin_np, pthread_timedjoin_np(th, &ret, &dl))
JOIN(pthread_clockjoin_np, pthread_clockjoin_np(th, &ret, CLOCK_MONOTONIC, &dl))

static int thrd_fn(void *arg) {
  (void)arg;
  return 7;
}

CASE(thrd_join) {
  NO_NONBLOCK();
  thrd_t th;
  thrd_create(&th, thrd_fn, NULL);
  int res = -1;
  int r = CALL(thrd_join(th, &res));
  OUT("res=%d", res);
  if (r != thrd_success) thrd_join(th, NULL);
}

/* ---- file locks on a private temp file (uncontended: nothing actually waits) ------ */
CASE(flock) {
  int fd = bgt_tmpfd("x");
  CALL(flock(fd, LOCK_EX | (NB ? LOCK_NB : 0)));
  flock(fd, LOCK_UN);
  close(fd);
}

CASE(lockf) {
  int fd = bgt_tmpfd("x");
  CALL(lockf(fd, NB ? F_TLOCK : F_LOCK, 0));
  lockf(fd, F_ULOCK, 0);
  close(fd);
}

CASE(lockf64) {
  int fd = bgt_tmpfd("x");
  CALL(lockf64(fd, NB ? F_TLOCK : F_LOCK, 0));
  lockf64(fd, F_ULOCK, 0);
  close(fd);
}

#define FCNTL_LOCK(name, fn)                                                            \
  CASE(name) {                                                                          \
    int fd = bgt_tmpfd("xyz");                                                          \
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 2}; \
    CALL(fn(fd, NB ? F_SETLK : F_SETLKW, &fl));                                         \
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};                         \
    fcntl(fd, F_GETLK, &q); /* own locks never conflict: F_UNLCK */                     \
    OUT("getlk=%d", q.l_type);                                                          \
    close(fd);                                                                          \
  }
FCNTL_LOCK(fcntl, fcntl)
FCNTL_LOCK(fcntl64, fcntl64)
FCNTL_LOCK(__fcntl, __fcntl)

/* ---- SysV semaphores: BLOCK takes a unit that is there (a wait that could block);
 * NONBLOCK adds IPC_NOWAIT / a zero timeout on an empty semaphore. -------------------- */
#define SEMOP(name, expr)                                                               \
  CASE(name) {                                                                          \
    int id = semget(IPC_PRIVATE, 1, 0600);                                              \
    semctl(id, 0, SETVAL, NB ? 0 : 1);                                                  \
    struct sembuf op = {0, -1, (short)(NB ? IPC_NOWAIT : 0)};                           \
    struct timespec tmo = {NB ? 0 : 5, 0};                                              \
    (void)tmo;                                                                          \
    CALL(expr);                                                                         \
    OUT("value=%d", semctl(id, 0, GETVAL));                                             \
    semctl(id, 0, IPC_RMID);                                                            \
  }
SEMOP(semop, semop(id, &op, 1))
SEMOP(semtimedop, semtimedop(id, &op, 1, &tmo))
