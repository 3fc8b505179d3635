/* workers.c - the thread pool that runs offloaded calls.
 *
 * Lazy: nothing exists until the first job; a job submitted while the pool is being
 * created simply waits in the queue (no "not ready" error ever reaches a caller).
 * Elastic: a job that finds no idle worker starts one, up to `workers` (option, CPU
 * count by default).  Past that, a manager thread watches the queue: when the oldest
 * job has waited BG_STALL_NS with every worker busy, it adds an overflow worker, so
 * offloaded calls that depend on each other (a read of a pipe whose writer is another
 * offloaded call) can never deadlock; overflow workers leave after BG_OVERFLOW_IDLE_NS
 * idle.
 *
 * The hand-off is built for a VM where waking a halted vCPU costs ~50 us and a switch
 * on one CPU ~5 us (docs/offload.md has the measurements):
 *   - an idle worker sleeps on a futex of its own; idle workers form a stack and a job
 *     wakes the one that went idle last (its caches are warm), one futex wake, no
 *     condition variable (whose waiter must then take the mutex the waker holds);
 *   - spinning only where it helps: an idle worker spins BG_WORKER_SPIN_NS for the next
 *     job (one spinner at a time) only while the thread submitting jobs runs on another
 *     CPU, and the scheduler spins for a completion only while the worker running its
 *     call is on another CPU (inbox->run_cpu).  Two threads on one CPU that spin for
 *     each other only keep each other off it until a spin times out (60 us round trips
 *     measured before this rule);
 *   - the scheduler waiting for a completion yields its CPU to a worker there instead
 *     of sleeping (sched.c, spin_for_completions);
 *   - a cold call (the pool idle longer than a worker spins, the caller with nothing
 *     else to run) wakes its worker on the caller's CPU: its affinity is narrowed to
 *     that CPU for the wake-up and widened to the process's as soon as it runs (before
 *     the call: a child it starts inherits the full set).  The CPU that is awake does
 *     the work and no halted vCPU is woken, twice, for one call; the two affinity calls
 *     cost ~10 us here, a halted vCPU's wake-up 50 (docs/performance.md).
 *
 * Workers are unguarded for good (bg__self.api = 2) and run at core depth 1, so
 * nothing they do recurses into the guard; they block asynchronous signals (the
 * program's handlers keep running on its own threads) but not the synchronous,
 * thread-directed ones (SIGPIPE, SIGSEGV...) that the call itself may raise.  A job
 * that starts processes (system, popen) runs with its caller's signal mask, which
 * the child inherits; every job runs in its caller's uselocale() locale.
 *
 * Jobs live on the suspended coroutine's stack.  Completion (posting to the owner's
 * inbox) happens under the pool lock, which is what lets an owner that goes away
 * (bg_sched_free) orphan its jobs safely: after bg__workers_orphan returns, no worker
 * touches that inbox again.
 *
 * Exit (bg__workers_shutdown, registered with bg__at_core_exit): stop accepting, cancel
 * queued jobs with ECANCELED, give running ones a bounded time, join the workers that
 * finished; a worker stuck in a call is abandoned and named on stderr.  Fork: the
 * child has no workers; queued and running jobs are cancelled there (ECANCELED) and the
 * pool restarts on the next job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guard/co.h"
#include "guard/options.h"

#define BG_WORKER_SPIN_NS 30000u
#define BG_STALL_NS 2000000u
#define BG_OVERFLOW_IDLE_NS 200000000u
#define BG_HARD_CAP 1024

typedef struct worker {
  pthread_t th;
  pid_t tid;          /* for the affinity hint */
  uint32_t wake;      /* futex word: bumped to wake it */
  int sleeping;       /* on the idle stack, asleep on `wake` (under the lock) */
  int hinted;         /* woken with its affinity narrowed: widen it (atomic) */
  bg__job_t *cur;     /* job being run, under the lock */
  uint64_t since;     /* when cur started */
  int overflow;       /* beyond `workers`: leaves when idle */
  int exited;         /* its thread left the loop: join it */
  struct worker *next;      /* all workers */
  struct worker *next_idle; /* the idle stack */
} worker_t;

static struct pool {
  pthread_mutex_t mu;
  pthread_cond_t mcv;    /* the manager */
  pthread_cond_t donecv; /* shutdown waiting for workers */
  bg__job_t *head, *tail;
  int qlen;              /* read without the lock by spinning workers */
  int submit_cpu;        /* CPU of the last submitter (atomic: spinners read it) */
  uint64_t last_done;    /* when a worker last finished a job (ns) */
  worker_t *idle;        /* sleeping workers, the one that went idle last on top */
  int nworkers, nbusy, nsleeping, nspinning;
  unsigned max, max_override;
  int started, closed, stopping, manager_on;
  pthread_t manager;
  worker_t *workers;
  bg__pool_stats_t st;
  cpu_set_t all_cpus;     /* the process's affinity when the pool started */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .mcv = PTHREAD_COND_INITIALIZER,
       .donecv = PTHREAD_COND_INITIALIZER,
       .submit_cpu = -1};

static uint64_t stall_ns = BG_STALL_NS;
void bg__workers_set_stall_ns(uint64_t ns) { __atomic_store_n(&stall_ns, ns, __ATOMIC_RELAXED); }

static void timed_wait(pthread_cond_t *cv, uint64_t deadline_ns) {
  struct timespec ts = {(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
  pthread_cond_clockwait(cv, &P.mu, CLOCK_MONOTONIC, &ts);
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

void bg__workers_set_max(unsigned max) {
  pthread_mutex_lock(&P.mu);
  P.max_override = max;
  if (P.started) P.max = max ? max : P.max;
  pthread_mutex_unlock(&P.mu);
}

static unsigned configured_max(void) {
  if (P.max_override) return P.max_override;
  if (bg__opt.workers) return (unsigned)bg__opt.workers;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

/* ---- worker threads ------------------------------------------------------------------ */
static void sweep_exited(void) {
  for (worker_t **pp = &P.workers; *pp;) {
    worker_t *w = *pp;
    if (w->exited) {
      *pp = w->next;
      pthread_join(w->th, NULL); /* it has released the lock for good: returns at once */
      free(w);
    } else {
      pp = &w->next;
    }
  }
}

static void *worker_main(void *arg);
static void *manager_main(void *arg);

/* A thread that runs offload machinery: unguarded, never re-entering the guard. */
static void become_internal(const char *name) {
  bg__thread_t *t = bg__self_ptr();
  t->depth = 1;
  t->api = 2;
  t->guarded = 0;
  prctl(PR_SET_NAME, name, 0, 0, 0);
  t->guarded = 0;
}

/* Starts a thread with asynchronous signals blocked.  Lock held.  The callers run
 * inside the core (depth > 0), so the shim's pthread_create makes the thread a
 * sidecar (docs/design.md "Which threads are guarded"); become_internal says the
 * same again from inside the thread, for a pool started by the CLI or a test without
 * the shim. */
static int start_thread(pthread_t *th, void *(*fn)(void *), void *arg) {
  sigset_t set, old;
  sigfillset(&set);
  static const int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGPIPE, SIGXFSZ};
  for (size_t i = 0; i < sizeof sync_sigs / sizeof sync_sigs[0]; i++) sigdelset(&set, sync_sigs[i]);
  pthread_sigmask(SIG_SETMASK, &set, &old);
  int r = pthread_create(th, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return r;
}

static int spawn(int overflow) {
  sweep_exited();
  worker_t *w = calloc(1, sizeof *w);
  if (!w) return -1;
  w->overflow = overflow;
  if (start_thread(&w->th, worker_main, w) != 0) {
    free(w);
    return -1;
  }
  w->next = P.workers;
  P.workers = w;
  P.nworkers++;
  if ((unsigned)P.nworkers > P.st.workers_peak) P.st.workers_peak = (unsigned)P.nworkers;
  if (overflow) P.st.overflow_spawned++;
  return 0;
}

static void finish(bg__job_t *j) {
  /* ORPHAN: the owner is gone, the result goes nowhere. */
  if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == BG_JOB_RUNNING) bg__inbox_post(j, 1);
}

int bg__may_spin(void) {
  static __thread int8_t ok __attribute__((tls_model("initial-exec"))) = -1;
  if (ok < 0) {
    cpu_set_t set;
    ok = sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) > 1;
  }
  return ok;
}

/* ---- futexes ------------------------------------------------------------------------- */
static void futex_wait(uint32_t *w, uint32_t seen, uint64_t deadline_ns) {
  struct timespec ts, *tp = NULL;
  if (deadline_ns) {
    ts = (struct timespec){(time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u)};
    tp = &ts;
  }
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (bg__now_ns's clock). */
  syscall(SYS_futex, w, FUTEX_WAIT_BITSET_PRIVATE, seen, tp, NULL, FUTEX_BITSET_MATCH_ANY);
}

static void futex_wake(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static int this_cpu(void) {
  int c = sched_getcpu(); /* glibc: rseq, no system call */
  return c < 0 ? -1 : c;
}

/* The idle stack (lock held). */
static void idle_push(worker_t *w) {
  w->next_idle = P.idle;
  P.idle = w;
  w->sleeping = 1;
  P.nsleeping++;
}
static void idle_remove(worker_t *w) {
  for (worker_t **pp = &P.idle; *pp; pp = &(*pp)->next_idle)
    if (*pp == w) {
      *pp = w->next_idle;
      break;
    }
  w->next_idle = NULL;
  w->sleeping = 0;
  P.nsleeping--;
}
static void wake_all_sleepers(void) {
  while (P.idle) {
    worker_t *w = P.idle;
    idle_remove(w);
    __atomic_fetch_add(&w->wake, 1, __ATOMIC_RELEASE);
    futex_wake(&w->wake);
  }
}

/* The affinity hint: a worker woken on the submitter's CPU widens its affinity to
 * the process's again as soon as it runs (it stays where it is: the CPU it runs on
 * is in the wider set). */
static void widen_affinity(worker_t *w) {
  if (__atomic_exchange_n(&w->hinted, 0, __ATOMIC_ACQ_REL))
    sched_setaffinity(0, sizeof P.all_cpus, &P.all_cpus);
}

/* Spins for the next job while that helps: a job may come while the thread that
 * submits them runs on another CPU (on this one it could not submit while we spin). */
static void spin_for_job(void) {
  uint64_t end = bg__now_ns() + BG_WORKER_SPIN_NS;
  for (int i = 0; !__atomic_load_n(&P.qlen, __ATOMIC_ACQUIRE) &&
                  !__atomic_load_n(&P.stopping, __ATOMIC_ACQUIRE);
       i++) {
    cpu_relax();
    if ((i & 63) == 0 && (bg__now_ns() >= end ||
                          __atomic_load_n(&P.submit_cpu, __ATOMIC_RELAXED) == this_cpu()))
      break;
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  become_internal("bg-offload");
  w->tid = (pid_t)syscall(SYS_gettid);
  pthread_mutex_lock(&P.mu);
  int spun = 0;
  for (;;) {
    bg__job_t *j;
    while (!(j = P.head)) {
      if (P.stopping) goto out;
      int cpu = this_cpu();
      if (!spun && P.nspinning == 0 && bg__may_spin() && cpu >= 0 &&
          __atomic_load_n(&P.submit_cpu, __ATOMIC_RELAXED) != cpu) {
        /* One spinner at a time: the next job is picked up without a futex wake. */
        spun = 1;
        P.nspinning++;
        pthread_mutex_unlock(&P.mu);
        spin_for_job();
        pthread_mutex_lock(&P.mu);
        P.nspinning--;
        continue;
      }
      uint32_t seen = __atomic_load_n(&w->wake, __ATOMIC_ACQUIRE);
      idle_push(w);
      uint64_t deadline = w->overflow ? bg__now_ns() + BG_OVERFLOW_IDLE_NS : 0;
      pthread_mutex_unlock(&P.mu);
      futex_wait(&w->wake, seen, deadline);
      pthread_mutex_lock(&P.mu);
      if (w->sleeping) idle_remove(w); /* timed out or woken spuriously: not popped */
      if (w->overflow && !P.head && bg__now_ns() >= deadline && !P.stopping) goto out;
    }
    spun = 0;
    P.head = j->next;
    if (!P.head) P.tail = NULL;
    __atomic_store_n(&P.qlen, P.qlen - 1, __ATOMIC_RELEASE);
    __atomic_store_n(&j->state, BG_JOB_RUNNING, __ATOMIC_RELEASE);
    __atomic_store_n(&j->home->run_cpu, this_cpu(), __ATOMIC_RELAXED);
    w->cur = j;
    w->since = bg__now_ns();
    P.nbusy++;
    pthread_mutex_unlock(&P.mu);
    widen_affinity(w);

    locale_t own_locale = j->locale ? uselocale(j->locale) : (locale_t)0;
    if (j->has_mask) {
      sigset_t own;
      pthread_sigmask(SIG_SETMASK, &j->mask, &own);
      j->run(j);
      pthread_sigmask(SIG_SETMASK, &own, NULL);
    } else {
      j->run(j);
    }
    if (own_locale) uselocale(own_locale);

    pthread_mutex_lock(&P.mu);
    P.nbusy--;
    w->cur = NULL;
    P.st.jobs++;
    P.last_done = bg__now_ns();
    finish(j);
    if (P.stopping) pthread_cond_broadcast(&P.donecv);
  }
out:
  P.nworkers--;
  w->exited = 1;
  pthread_cond_broadcast(&P.donecv);
  pthread_mutex_unlock(&P.mu);
  return NULL;
}

/* Adds overflow workers while the queue is stalled behind busy workers. */
static void *manager_main(void *arg) {
  (void)arg;
  become_internal("bg-offload-mgr");
  pthread_mutex_lock(&P.mu);
  while (!P.stopping) {
    if (P.head && P.qlen > P.nworkers - P.nbusy) {
      uint64_t stall = __atomic_load_n(&stall_ns, __ATOMIC_RELAXED);
      uint64_t now = bg__now_ns(), due = P.head->t_submit + stall;
      if (now >= due) {
        if (P.nworkers < BG_HARD_CAP) spawn(1);
        due = now + stall; /* give the new worker time to take a job */
      }
      timed_wait(&P.mcv, due);
    } else {
      pthread_cond_wait(&P.mcv, &P.mu);
    }
  }
  pthread_mutex_unlock(&P.mu);
  return NULL;
}

/* ---- submission ------------------------------------------------------------------------ */
int bg__workers_accepting(void) { return !__atomic_load_n(&P.closed, __ATOMIC_ACQUIRE); }

int bg__workers_submit(bg__job_t *j, int local) {
  pthread_mutex_lock(&P.mu);
  if (P.closed) {
    pthread_mutex_unlock(&P.mu);
    return -1;
  }
  if (!P.started) {
    bg__co_global_init();
    P.started = 1;
    P.max = configured_max();
    if (sched_getaffinity(0, sizeof P.all_cpus, &P.all_cpus) != 0) CPU_ZERO(&P.all_cpus);
  }
  j->next = NULL;
  j->cancelled = 0;
  __atomic_store_n(&j->state, BG_JOB_QUEUED, __ATOMIC_RELAXED);
  if (!j->t_submit) j->t_submit = bg__now_ns();
  if (P.tail)
    P.tail->next = j;
  else
    P.head = j;
  P.tail = j;
  __atomic_store_n(&P.qlen, P.qlen + 1, __ATOMIC_RELEASE);
  int cpu = this_cpu();
  __atomic_store_n(&P.submit_cpu, cpu, __ATOMIC_RELAXED);
  __atomic_store_n(&j->home->run_cpu, -1, __ATOMIC_RELAXED);
  /* A spinning worker takes the job by itself; else wake the worker that went idle
   * last, on this CPU when the caller has nothing else to do and the pool has been
   * idle longer than a worker spins (its CPU may well be halted: see the top). */
  /* Each spinner takes one job, so only jobs beyond the spinners need a sleeper woken.
   * (Waking none while any worker spun lost a wake-up: two jobs queued behind one
   * spinner, the first a read waiting for the second's write, the second behind an
   * idle worker nobody woke - and the manager counts idle workers as available, so it
   * added no overflow worker either: test_pingpong_one_worker hung now and then.) */
  worker_t *wake = NULL;
  if (P.idle && P.qlen > P.nspinning) {
    wake = P.idle;
    idle_remove(wake);
    local = local && bg__now_ns() - P.last_done > BG_WORKER_SPIN_NS;
  }
  if (P.qlen > P.nworkers - P.nbusy) {
    if ((unsigned)P.nworkers < P.max) {
      spawn(0);
    } else {
      if (!P.manager_on && start_thread(&P.manager, manager_main, NULL) == 0) P.manager_on = 1;
      pthread_cond_signal(&P.mcv);
    }
  }
  if (P.nworkers == 0) {
    /* Could not start a single thread: unqueue, the caller makes the call itself. */
    bg__job_t **pp = &P.head, *last = NULL;
    while (*pp != j) last = *pp, pp = &(*pp)->next;
    *pp = NULL;
    P.tail = last;
    __atomic_store_n(&P.qlen, P.qlen - 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&P.mu);
    return -1;
  }
  pthread_mutex_unlock(&P.mu);
  if (wake) {
    if (local && cpu >= 0 && bg__may_spin()) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      __atomic_store_n(&wake->hinted, 1, __ATOMIC_RELEASE);
      sched_setaffinity(wake->tid, sizeof one, &one);
    }
    __atomic_fetch_add(&wake->wake, 1, __ATOMIC_RELEASE);
    futex_wake(&wake->wake);
  }
  return 0;
}

int bg__workers_orphan(bg__inbox_t *ib) {
  int running = 0;
  pthread_mutex_lock(&P.mu);
  bg__job_t **pp = &P.head, *last = NULL;
  while (*pp) {
    bg__job_t *j = *pp;
    if (j->home == ib) {
      *pp = j->next;
      P.qlen--;
      __atomic_store_n(&j->state, BG_JOB_DONE, __ATOMIC_RELEASE);
    } else {
      last = j;
      pp = &j->next;
    }
  }
  P.tail = last;
  __atomic_store_n(&P.qlen, P.qlen, __ATOMIC_RELEASE);
  for (worker_t *w = P.workers; w; w = w->next)
    if (w->cur && w->cur->home == ib) {
      __atomic_store_n(&w->cur->state, BG_JOB_ORPHAN, __ATOMIC_RELEASE);
      running++;
    }
  pthread_mutex_unlock(&P.mu);
  return running;
}

/* ---- exit -------------------------------------------------------------------------------- */
int bg__workers_shutdown(uint64_t bound_ns) {
  pthread_mutex_lock(&P.mu);
  __atomic_store_n(&P.closed, 1, __ATOMIC_RELEASE);
  if (!P.started || P.stopping) {
    pthread_mutex_unlock(&P.mu);
    return 0;
  }
  __atomic_store_n(&P.stopping, 1, __ATOMIC_RELEASE);
  for (bg__job_t *j = P.head, *next; j; j = next) {
    next = j->next;
    j->err = ECANCELED;
    j->cancelled = 1;
    bg__inbox_post(j, 1);
    P.st.cancelled++;
  }
  P.head = P.tail = NULL;
  __atomic_store_n(&P.qlen, 0, __ATOMIC_RELEASE);
  wake_all_sleepers();
  pthread_cond_broadcast(&P.mcv);
  uint64_t deadline = bg__now_ns() + bound_ns;
  while (P.nworkers > 0 && bg__now_ns() < deadline) timed_wait(&P.donecv, deadline);
  int stuck = 0;
  char what[256] = "";
  size_t len = 0;
  uint64_t now = bg__now_ns();
  for (worker_t *w = P.workers; w; w = w->next) {
    if (w->exited) continue;
    stuck++;
    pthread_detach(w->th); /* abandoned: the process exit ends it */
    if (w->cur && len < sizeof what - 64) {
      const bg__callinfo_t *ci = bg__callinfo(w->cur->id);
      int n = snprintf(what + len, sizeof what - len, "%s%s() for %.1f s", len ? ", " : "",
                       ci ? ci->name : "offloaded function", (double)(now - w->since) / 1e9);
      if (n > 0) len += (size_t)n;
    }
  }
  P.st.abandoned += (uint64_t)stuck;
  /* Join the ones that finished; the abandoned records stay (their threads use them). */
  worker_t *done = NULL;
  for (worker_t **pp = &P.workers; *pp;) {
    worker_t *w = *pp;
    if (w->exited) {
      *pp = w->next;
      w->next = done;
      done = w;
    } else {
      pp = &w->next;
    }
  }
  int manager = P.manager_on;
  P.manager_on = 0;
  pthread_mutex_unlock(&P.mu);
  for (worker_t *w = done, *next; w; w = next) {
    next = w->next;
    pthread_join(w->th, NULL);
    free(w);
  }
  if (manager) pthread_join(P.manager, NULL);
  if (stuck && bg__opt.verbosity >= 1)
    bg__msg("offload: %d worker%s still blocked at exit (%s): abandoned", stuck,
            stuck == 1 ? "" : "s", what);
  return stuck;
}

/* ---- fork ---------------------------------------------------------------------------------- */
void bg__workers_fork_prepare(void) { pthread_mutex_lock(&P.mu); }
void bg__workers_fork_parent(void) { pthread_mutex_unlock(&P.mu); }

void bg__workers_fork_child(void) {
  /* Only the forking thread exists now; the lock it holds (prepare) is re-made. */
  pthread_mutex_init(&P.mu, NULL);
  pthread_cond_init(&P.mcv, NULL);
  pthread_cond_init(&P.donecv, NULL);
  for (bg__job_t *j = P.head, *next; j; j = next) {
    next = j->next;
    j->err = ECANCELED;
    j->cancelled = 1;
    bg__inbox_post(j, 0); /* eventfds are replaced right after (inbox.c) */
  }
  for (worker_t *w = P.workers, *next; w; w = next) {
    next = w->next;
    if (w->cur && __atomic_load_n(&w->cur->state, __ATOMIC_ACQUIRE) == BG_JOB_RUNNING) {
      w->cur->err = ECANCELED;
      w->cur->cancelled = 1;
      bg__inbox_post(w->cur, 0);
    }
    free(w);
  }
  P.workers = NULL;
  P.idle = NULL;
  P.head = P.tail = NULL;
  P.qlen = P.nworkers = P.nbusy = P.nsleeping = P.nspinning = 0;
  P.manager_on = 0;
}

/* ---- stats -------------------------------------------------------------------------------- */
static uint64_t ntimers; /* sleeps turned into timers (no lock: counted on the owner thread) */
void bg__pool_count_timer(void) { __atomic_fetch_add(&ntimers, 1, __ATOMIC_RELAXED); }

void bg__pool_stats(bg__pool_stats_t *st) {
  pthread_mutex_lock(&P.mu);
  *st = P.st;
  st->timers = __atomic_load_n(&ntimers, __ATOMIC_RELAXED);
  st->workers = (unsigned)P.nworkers;
  st->busy = (unsigned)P.nbusy;
  pthread_mutex_unlock(&P.mu);
}
