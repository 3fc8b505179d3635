/* inbox.c - inboxes: where the completions of offloaded calls arrive, and the fork
 * handling they need.
 *
 * An inbox belongs to one thread (a bg_sched scheduler's, or an adapter's): workers
 * push completed jobs onto its lock-free list and write its eventfd when the owner
 * sleeps on it (or always, when a foreign loop polls it); the owner takes the list
 * (guard/co.h has the protocol).  This file sits below the scheduler, the worker pool
 * and the offload path, which all use it, and calls none of them.
 *
 * Fork: a child shares eventfds and epoll instances with its parent, so in the child
 * every inbox of the forking thread gets a fresh eventfd under the same fd number
 * (dup3), and bg__fork_gen moves so schedulers and rings re-create what they share
 * (sched.c, uring.c).  The handler is registered once, by the first scheduler, adapter
 * or pool start (bg__co_global_init), after the core's handler.  The layer above
 * (offload.c: the pool's lock, the coroutine's loop role) adds its steps through
 * bg__co_fork_steps, set in its constructor: they run in the order prepare, parent or
 * child as pthread_atfork runs them, the child's between the generation bump and the
 * eventfd refresh (the pool posts its cancelled jobs there, the refresh then signals
 * them).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "guard/co.h"

unsigned bg__fork_gen;

static __thread bg__inbox_t *tls_inboxes __attribute__((tls_model("initial-exec")));

/* ---- inboxes ---------------------------------------------------------------------------- */
int bg__inbox_init(bg__inbox_t *ib) {
  ib->head = NULL;
  ib->tls_next = NULL;
  ib->sleeping = ib->always_wake = 0;
  ib->run_cpu = -1;
  ib->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return ib->evfd < 0 ? -1 : 0;
}

void bg__inbox_fini(bg__inbox_t *ib) {
  if (ib->evfd >= 0) close(ib->evfd);
  ib->evfd = -1;
}

void bg__inbox_register(bg__inbox_t *ib) {
  ib->tls_next = tls_inboxes;
  tls_inboxes = ib;
}

void bg__inbox_unregister(bg__inbox_t *ib) {
  for (bg__inbox_t **pp = &tls_inboxes; *pp; pp = &(*pp)->tls_next)
    if (*pp == ib) {
      *pp = ib->tls_next;
      return;
    }
}

/* The eventfd costs a write here and a read on the owner's side: it is written only
 * when the owner sleeps on it (it set `sleeping` before its last look at the list:
 * either it sees this job there or we see the flag, both sides use sequentially
 * consistent operations), or when a foreign loop polls it. */
void bg__inbox_post(bg__job_t *j, int wake) {
  bg__inbox_t *ib = j->home;
  __atomic_store_n(&j->state, BG_JOB_DONE, __ATOMIC_RELEASE);
  bg__job_t *old = __atomic_load_n(&ib->head, __ATOMIC_RELAXED);
  do {
    j->next = old;
  } while (!__atomic_compare_exchange_n(&ib->head, &old, j, 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  if (!wake) return;
  if (ib->always_wake ? !old : __atomic_exchange_n(&ib->sleeping, 0, __ATOMIC_SEQ_CST)) {
    uint64_t one = 1;
    ssize_t r = write(ib->evfd, &one, sizeof one);
    (void)r; /* EAGAIN only when the counter is saturated: already readable */
  }
}

bg__job_t *bg__inbox_take(bg__inbox_t *ib, int fd_ready) {
  /* The eventfd is drained before the list is taken: a post that lands in between
   * writes the fd again, so nothing is ever left behind unsignalled. */
  if (fd_ready) {
    uint64_t v;
    ssize_t r = read(ib->evfd, &v, sizeof v);
    (void)r;
  }
  if (!__atomic_load_n(&ib->head, __ATOMIC_ACQUIRE)) return NULL;
  bg__job_t *j = __atomic_exchange_n(&ib->head, NULL, __ATOMIC_ACQUIRE), *fifo = NULL;
  while (j) { /* the list is newest first */
    bg__job_t *next = j->next;
    j->next = fifo;
    fifo = j;
    j = next;
  }
  return fifo;
}

/* ---- process-wide init and fork ------------------------------------------------------- */
static const bg__fork_steps_t *steps;

void bg__co_fork_steps(const bg__fork_steps_t *s) { steps = s; }

static void atfork_prepare(void) {
  if (steps) steps->prepare();
}

static void atfork_parent(void) {
  if (steps) steps->parent();
}

static void atfork_child(void) {
  __atomic_fetch_add(&bg__fork_gen, 1, __ATOMIC_RELEASE);
  if (steps) steps->child();
  for (bg__inbox_t *ib = tls_inboxes; ib; ib = ib->tls_next) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) {
      dup3(fd, ib->evfd, O_CLOEXEC);
      close(fd);
    }
    if (__atomic_load_n(&ib->head, __ATOMIC_ACQUIRE)) { /* cancelled jobs are waiting */
      uint64_t one = 1;
      ssize_t r = write(ib->evfd, &one, sizeof one);
      (void)r;
    }
  }
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }
void bg__co_global_init(void) { pthread_once(&global_once, global_init); }
