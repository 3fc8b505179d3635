/* offload.c - the `offload` action: a blocking call made inside a coroutine runs on a
 * worker thread while the coroutine yields.
 *
 * The verdict hook (bg__offload_hook, asked by bg__enter when the action is offload)
 * answers yes only inside a coroutine: a bg_sched coroutine on this thread, or the
 * current coroutine of a runtime that installed an adapter on this thread.  Otherwise
 * the call runs in place and is recorded as with `report` (DESIGN.md).  The shim then
 * packs the call into a job (preload/offload.c, from the row's offload column in
 * preload/calls.def; preload/offload_custom.c for hand-written wrappers) and calls
 * bg__offload_call, which
 *   - turns sleep-family calls into a timer of the coroutine's scheduler (or the
 *     adapter's sleep), so 10,000 sleeping coroutines occupy no thread;
 *   - makes URING rows through the scheduler's io_uring (uring.c, sched.c) when the
 *     kernel and the arguments allow it: at once when the kernel completes the call
 *     while it is submitted, else the coroutine parks until the scheduler reaps it;
 *   - submits everything else to the worker pool (workers.c) and suspends the
 *     coroutine until the completion arrives in its thread's inbox;
 *   - records the time the coroutine waited on the call's site, like report would;
 * and the wrapper returns the job's result with errno set from the job.
 *
 * Adapters (bg_adapter_install): a foreign coroutine runtime provides current /
 * suspend / resume (and optionally sleep).  Completions for its coroutines arrive in
 * a per-thread inbox whose eventfd the runtime watches; when readable it calls
 * bg_adapter_poll(), which resumes each finished coroutine on the runtime's own thread
 * (resume is never called from a worker).  include/blockguard_st.h is the adapter for
 * State Threads built on exactly this API.
 *
 * Inboxes and fork live in guard/inbox.c, below this file: a fork child shares
 * eventfds and epoll instances with its parent, so the child handler re-creates every
 * inbox eventfd of the forking thread under the same fd number (dup3), and schedulers
 * re-create their epoll at their next tick.  This file adds its steps to that handler
 * (fork_steps: the pool's lock, the loop role of a child forked inside a coroutine).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard/co.h"
#include "guard/sites.h"

#define BG_SHUTDOWN_NS 500000000u /* running calls get this long at exit */

typedef struct adapter {
  bg_adapter_t a;
  bg__inbox_t inbox;
  int outstanding; /* offloaded calls not yet delivered */
} adapter_t;

static __thread adapter_t *tls_adapter __attribute__((tls_model("initial-exec")));

/* ---- fork: this layer's steps of the fork handler (guard/inbox.c) ----------------- */
static void fork_prepare(void) { bg__workers_fork_prepare(); }
static void fork_parent(void) { bg__workers_fork_parent(); }

/* After the fork generation moved and before the inboxes get fresh eventfds. */
static void fork_child(void) {
  bg__workers_fork_child();
  /* The core's fork handler (registered before this one, so run before it) dropped
   * the event-loop role.  A child forked from inside a coroutine, or on a thread with
   * an adapter, goes on running that loop: it keeps the role. */
  if (bg__co_current() || tls_adapter) bg__mark_loop_thread(NULL);
}

static const bg__fork_steps_t fork_steps = {fork_prepare, fork_parent, fork_child};

/* ---- the verdict hook and the call path ------------------------------------------------- */
/* ---- never from a signal handler ------------------------------------------------------
 * A handler that makes a blocking call while a coroutine runs must not suspend that
 * coroutine: the code it interrupted may hold a lock (malloc's) that the next coroutine
 * then waits for forever.  A handler's frames return to glibc's signal trampoline
 * (__restore_rt, the kernel's sa_restorer), which shows in the stack the site captured.
 * Its address is read back from the kernel: from any handler already installed, or
 * from a handler installed for that instant on SIGRTMAX and removed at once. */
struct bg__ksigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
static uintptr_t restorer;
static pthread_once_t restorer_once = PTHREAD_ONCE_INIT;

static void noop_handler(int sig) { (void)sig; }

static uintptr_t ksig_restorer(int sig) {
  struct bg__ksigaction k = {0};
  if (syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof k.mask) < 0) return 0;
  return (k.flags & SA_RESTORER) && k.handler != SIG_DFL && k.handler != SIG_IGN
             ? (uintptr_t)k.restorer
             : 0;
}

static void find_restorer(void) {
  uintptr_t r = 0;
  for (int sig = 1; sig < SIGRTMIN && !r; sig++) r = ksig_restorer(sig);
  if (!r) {
    struct sigaction sa = {.sa_handler = noop_handler}, old;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGRTMAX, &sa, &old) == 0) {
      r = ksig_restorer(SIGRTMAX);
      sigaction(SIGRTMAX, &old, NULL);
    }
  }
  restorer = r;
}

static int in_signal_handler(bg__call_t *c) {
  pthread_once(&restorer_once, find_restorer);
  if (!restorer) return 0;
  uintptr_t pcs[BG_MAX_FRAMES];
  const uintptr_t *p = pcs;
  int n;
  if (c->site) {
    p = c->site->key.pcs;
    n = c->site->key.nframes;
  } else {
    n = bg__stack_capture(pcs, BG_MAX_FRAMES);
  }
  for (int i = 0; i < n; i++)
    if (p[i] == restorer) return 1;
  return 0;
}

static void *adapter_current(void) {
  adapter_t *ad = tls_adapter;
  return ad ? ad->a.current(ad->a.ud) : NULL;
}

static int offload_hook(bg__call_t *c) {
  const bg__callinfo_t *ci = bg__callinfo(c->id);
  if (!ci || ci->offload == BG_OFF_NEVER) return 0; /* the row's offload column */
  if (!bg__workers_accepting()) return 0;
  if (!bg__co_current() && !adapter_current()) return 0;
  return !in_signal_handler(c);
}

/* The offloaded call has returned: it is counted as a call made in place would be,
 * by bg__leave from t0 (the counting rule, guard/core.c: min_us, the counter and the
 * site together).  c is NULL for bg_co_offload's jobs, which are no wrapped call. */
static void record(bg__call_t *c, uint64_t t0) {
  if (!c) return;
  c->t0 = t0;
  bg__leave(c);
}

/* Runs the job on this thread, measured as `report` would (not in a coroutine, or the
 * pool is closed). */
static void run_here(bg__call_t *c, bg__job_t *j) {
  if (c) c->t0 = bg__now_ns();
  j->run(j);
  if (c) bg__leave(c);
}

void bg__offload_call(bg__call_t *c, bg__job_t *j) {
  bg__thread_t *t = bg__self_ptr();
  j->err = errno;
  t->depth++;
  uint64_t t0 = bg__now_ns();
  bg_co_t *co = bg__co_current();
  adapter_t *ad = co ? NULL : tls_adapter;
  void *aco = ad ? ad->a.current(ad->a.ud) : NULL;
  if (!co && !aco) {
    t->depth--;
    run_here(c, j);
    return;
  }
  uint64_t ns;
  if (j->timer && j->timer(j, BG_TIMER_PREPARE, &ns) && (co || ad->a.sleep)) {
    t->depth--;
    uint64_t left = 0;
    int intr = 0;
    if (co) {
      intr = bg__co_sleep(co, ns, 1, &left);
    } else {
      uint64_t deadline = t0 + ns;
      for (uint64_t now = t0; now < deadline; now = bg__now_ns()) ad->a.sleep(ad->a.ud, deadline - now);
    }
    t->depth++;
    j->timer(j, intr ? BG_TIMER_INTR : BG_TIMER_FINISH, &left);
    bg__pool_count_timer();
    record(c, t0);
    t->depth--;
    return;
  }
  if (co && j->uop && bg__co_ring_call(co, j)) { /* made through the scheduler's io_uring */
    if (j->cancelled || !bg__uring_retry(j)) {
      if (!j->cancelled) {
        if (j->ures < 0) j->err = -j->ures;
        j->uop->fin(j, j->ures);
      }
      record(c, t0);
      t->depth--;
      return;
    }
    j->via_ring = 0; /* -EAGAIN/-EINTR: not made; a worker makes it */
  }
  j->locale = uselocale((locale_t)0); /* the thread's locale, or LC_GLOBAL_LOCALE */
  j->home = co ? bg__co_inbox(co) : &ad->inbox;
  j->co = co ? (void *)co : aco;
  j->delivered = 0;
  j->t_submit = t0;
  if (bg__workers_submit(j, co && bg__co_alone(co)) < 0) {
    t->depth--;
    run_here(c, j);
    return;
  }
  t->depth--;
  if (co) {
    bg__co_wait_job(co, j);
  } else {
    ad->outstanding++;
    while (!__atomic_load_n(&j->delivered, __ATOMIC_ACQUIRE)) ad->a.suspend(ad->a.ud, aco);
  }
  t->depth++;
  record(c, t0);
  t->depth--;
}

/* ---- bg_co_offload: run any function on a worker ------------------------------------- */
struct fn_job {
  bg__job_t j;
  void (*fn)(void *);
  void *arg;
};

static void run_fn(bg__job_t *j) {
  struct fn_job *f = (struct fn_job *)j;
  errno = j->err;
  f->fn(f->arg);
  j->err = errno;
}

BG_EXPORT int bg__api_co_offload(void (*fn)(void *), void *arg) {
  if (!fn) return errno = EINVAL, -1;
  struct fn_job f = {.j = {.run = run_fn, .id = -1}, .fn = fn, .arg = arg};
  bg__offload_call(NULL, &f.j);
  errno = f.j.err;
  return f.j.cancelled ? -1 : 0;
}

/* ---- adapters ------------------------------------------------------------------------------ */
BG_EXPORT int bg__api_adapter_install(const bg_adapter_t *a) {
  if (!a || a->size < offsetof(bg_adapter_t, sleep) || !a->current || !a->suspend ||
      !a->resume)
    return errno = EINVAL, -1;
  if (tls_adapter) return errno = EBUSY, -1;
  bg__co_global_init();
  adapter_t *ad = calloc(1, sizeof *ad);
  if (!ad) return -1;
  memcpy(&ad->a, a, a->size < sizeof ad->a ? a->size : sizeof ad->a);
  bg__self.depth++;
  int r = bg__inbox_init(&ad->inbox);
  bg__self.depth--;
  if (r < 0) {
    free(ad);
    return -1;
  }
  ad->inbox.always_wake = 1; /* the runtime's own loop polls the eventfd */
  bg__inbox_register(&ad->inbox);
  tls_adapter = ad;
  bg__mark_loop_thread(ad->a.runtime_text);
  return ad->inbox.evfd;
}

BG_EXPORT int bg__api_adapter_poll(void) {
  adapter_t *ad = tls_adapter;
  if (!ad) return errno = EPERM, -1;
  int e = errno, n = 0;
  bg__self.depth++;
  bg__job_t *j = bg__inbox_take(&ad->inbox, 1);
  bg__self.depth--;
  for (bg__job_t *next; j; j = next, n++) {
    next = j->next;
    void *co = j->co;
    ad->outstanding--;
    __atomic_store_n(&j->delivered, 1, __ATOMIC_RELEASE);
    ad->a.resume(ad->a.ud, co);
  }
  errno = e;
  return n;
}

BG_EXPORT int bg__api_adapter_remove(void) {
  adapter_t *ad = tls_adapter;
  if (!ad) return errno = EPERM, -1;
  if (ad->outstanding) return errno = EBUSY, -1;
  tls_adapter = NULL;
  bg__self.loop_lo = bg__self.loop_hi = 0; /* the runtime's waits are no longer exempt */
  bg__inbox_unregister(&ad->inbox);
  bg__self.depth++;
  bg__inbox_fini(&ad->inbox);
  bg__self.depth--;
  free(ad);
  return 0;
}

BG_EXPORT int bg__api_offload_stats(struct bg_offload_stats *st, size_t size) {
  if (!st) return errno = EINVAL, -1;
  bg__pool_stats_t p;
  bg__pool_stats(&p);
  struct bg_offload_stats out = {p.jobs,    p.timers,       p.cancelled, p.abandoned,
                                 p.overflow_spawned, p.workers, p.workers_peak, p.busy,
                                 bg__uring_ops()};
  memcpy(st, &out, size < sizeof out ? size : sizeof out);
  return 0;
}

/* ---- registration -------------------------------------------------------------------------- */
static void offload_exit(void) { bg__workers_shutdown(BG_SHUTDOWN_NS); }

__attribute__((constructor)) static void offload_ctor(void) {
  bg__offload_hook = offload_hook;
  bg__co_fork_steps(&fork_steps);
  bg__at_core_exit(offload_exit);
}
