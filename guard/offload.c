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
 * Inboxes and fork: a fork child shares eventfds and epoll instances with its parent,
 * so the child handler re-creates every inbox eventfd of the forking thread under the
 * same fd number (dup3), and schedulers re-create their epoll at their next tick.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard/co.h"
#include "guard/sites.h"

#define BG_SHUTDOWN_NS 500000000u /* running calls get this long at exit */

unsigned bg__fork_gen;

typedef struct adapter {
  bg_adapter_t a;
  bg__inbox_t inbox;
  int outstanding; /* offloaded calls not yet delivered */
} adapter_t;

static __thread bg__inbox_t *tls_inboxes __attribute__((tls_model("initial-exec")));
static __thread adapter_t *tls_adapter __attribute__((tls_model("initial-exec")));

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
static void atfork_prepare(void) { bg__workers_fork_prepare(); }
static void atfork_parent(void) { bg__workers_fork_parent(); }

static void atfork_child(void) {
  __atomic_fetch_add(&bg__fork_gen, 1, __ATOMIC_RELEASE);
  bg__workers_fork_child();
  /* The core's fork handler (registered before this one, so run before it) dropped
   * the event-loop role.  A child forked from inside a coroutine, or on a thread with
   * an adapter, goes on running that loop: it keeps the role. */
  if (bg__co_current() || tls_adapter) bg__mark_loop_thread(NULL);
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

/* ---- loop threads ----------------------------------------------------------------------- */
struct find_text {
  uintptr_t addr, lo, hi;
};

static int find_text_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct find_text *f = arg;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo) lo = a;
    if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
  }
  if (f->addr >= lo && f->addr < hi) {
    f->lo = lo;
    f->hi = hi;
    return 1;
  }
  return 0;
}

void bg__mark_loop_thread(const void *runtime_text) {
  bg__thread_t *t = &bg__self;
  t->depth++;
  if (runtime_text) {
    struct find_text f = {(uintptr_t)runtime_text, 0, 0};
    if (dl_iterate_phdr(find_text_cb, &f)) {
      t->loop_lo = f.lo;
      t->loop_hi = f.hi;
    }
  }
  t->loop_marked = 1; /* the role lasts, whatever fd closes (guard/loop.c) */
  bg__loop_declared(); /* loop health and stalls for the runtime's loop (guard/loop.c) */
  if (!(t->roles & BG_ROLE_LOOP)) {
    t->roles |= BG_ROLE_LOOP;
    bg__thread_refresh(t);
  }
  t->depth--;
}

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
  bg__thread_t *t = &bg__self;
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
  bg__at_core_exit(offload_exit);
}
