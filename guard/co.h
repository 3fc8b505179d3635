/* co.h - the coroutine runtime and the offload machinery (internal interface).
 *
 * The parts, one file each:
 *   co_ctx.h / co_switch_*.S  the context switch (a few instructions of asm; a ucontext
 *                             fallback elsewhere) and the stack layout of a new coroutine
 *   co_stacks.c               coroutine stacks: chunks, guard pages, recycling
 *   sched.c                   bg_sched: coroutines, run queue, epoll loop, timers
 *   timers.c                  the timer heap sched.c uses
 *   uring.c                   the scheduler's io_uring (URING rows; liburing dlopen'ed)
 *   workers.c                 the worker pool that runs offloaded calls
 *   inbox.c                   inboxes (below) and their fork handling
 *   offload.c                 the verdict hook, the offload call path, the adapter API
 *
 * An offloaded call is a bg__job_t that lives on the suspended coroutine's stack (no
 * allocation per call): the shim packs the arguments behind the job header, a worker
 * runs job->run, and the completion travels back through the *inbox* of the thread the
 * coroutine belongs to (a lock-free list plus an eventfd that the scheduler's epoll, or
 * the foreign runtime's event loop, watches).  The coroutine is resumed on its own
 * thread only, so errno and TLS stay right.
 */
#ifndef BG_CO_H
#define BG_CO_H
#include <locale.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "guard/guard.h"
#include "include/blockguard.h" /* bg_sched_t, bg_adapter_t, struct bg_offload_stats */

typedef struct bg_co bg_co_t;
typedef struct bg__job bg__job_t;
typedef struct bg__inbox bg__inbox_t;

/* ---- jobs ------------------------------------------------------------------------ */
enum {
  BG_JOB_QUEUED,  /* in the pool's queue */
  BG_JOB_RUNNING, /* a worker runs it */
  BG_JOB_DONE,    /* finished (or cancelled: err = ECANCELED), posted to its inbox */
  BG_JOB_ORPHAN,  /* its owner went away (scheduler freed): never posted */
};
enum { BG_TIMER_PREPARE, BG_TIMER_FINISH, BG_TIMER_INTR };

/* Sleep-family rows turn into timers: PREPARE stores the relative duration in *ns and
 * returns 1 (0: arguments the shim does not convert, a worker runs the real call so
 * that the error is exact); FINISH stores the result of a completed sleep; INTR that
 * of a sleep a signal interrupted with *ns left (result, rem, errno in j->err). */
typedef int (*bg__timer_fn)(bg__job_t *j, int op, uint64_t *ns);

/* URING(shape) rows (calls.def) can be made through io_uring (uring.c): prep fills an
 * SQE from the packed arguments and returns 1, or 0 when these arguments must go to a
 * worker (a socket with a receive timeout, a write to a pipe...); fin stores what the
 * call returns given the CQE's result (j->err set by the caller for res < 0). */
struct io_uring_sqe;
typedef struct bg__uring_op {
  int (*prep)(bg__job_t *j, struct io_uring_sqe *sqe);
  void (*fin)(bg__job_t *j, int res);
} bg__uring_op_t;

struct bg__job {
  void (*run)(bg__job_t *j); /* runs on a worker: the real call, errno in/out via err */
  bg__timer_fn timer;        /* sleep rows, else NULL */
  int (*veto)(bg__job_t *j); /* shim: nonzero → run in place after all (stream locks) */
  bg__job_t *next;           /* pool queue, then inbox list */
  bg__inbox_t *home;         /* where the completion goes */
  void *co;                  /* bg_co_t* or the adapter's coroutine handle */
  int err;                   /* in: the caller's errno; out: errno after the call */
  int herr;                  /* the same for h_errno (resolver calls set it) */
  int state;                 /* BG_JOB_* (atomic) */
  int delivered;             /* set on the owner thread when the completion arrived */
  int id;                    /* call-table row, -1 for bg_co_offload() */
  int cancelled;             /* never ran: ECANCELED (exit, fork child) */
  uint64_t t_submit;         /* monotonic ns */
  int has_mask;              /* run with the caller's signal mask (process calls: a */
  sigset_t mask;             /* child inherits it), not the worker's all-blocked one */
  locale_t locale;           /* the caller's uselocale() locale (printf, scanf, strtod) */
  const bg__uring_op_t *uop; /* URING rows: how to make the call through io_uring */
  int ures;                  /* the CQE's result */
  uint8_t via_ring;          /* submitted to a ring */
  uint8_t ring_op;           /* its opcode */
};

/* ---- inboxes: where completions arrive (inbox.c) ---------------------------------- */
struct bg__inbox {
  bg__job_t *head;       /* MPSC stack, pushed by workers under the pool lock */
  int evfd;              /* written when a post must wake the owner (below) */
  int sleeping;          /* the owner is (about to be) asleep on evfd: a post writes it */
  int always_wake;       /* a foreign loop polls evfd (adapters): every post that makes
                            the list non-empty writes it */
  int run_cpu;           /* CPU of the worker running this inbox's latest job, -1 while
                            it waits in the queue: the owner spins only if it differs */
  bg__inbox_t *tls_next; /* the owner thread's inbox list (fork handling) */
};
int bg__inbox_init(bg__inbox_t *ib);          /* -1 with errno */
void bg__inbox_fini(bg__inbox_t *ib);
/* Takes every completed job, oldest first, linked through ->next; drains the eventfd
 * when `fd_ready` (the fd was reported readable) or when jobs were there.  The caller
 * sets each job's `delivered` (after reading what it needs from it: the coroutine may
 * run and drop the job at once) and resumes its coroutine.  Owner thread only. */
bg__job_t *bg__inbox_take(bg__inbox_t *ib, int fd_ready);
/* Pool side, called with the pool lock held: marks j DONE and posts it.  `wake`: write
 * the eventfd when the list was empty (0 only in the fork child, see workers.c). */
void bg__inbox_post(bg__job_t *j, int wake);

/* ---- worker pool (workers.c) ------------------------------------------------------- */
/* Queues j; returns -1 when the pool no longer accepts work (process exiting), the
 * caller then makes the call itself.  local: the caller will sleep until the job is
 * done (nothing else to run), so a sleeping worker is woken on the caller's CPU. */
int bg__workers_submit(bg__job_t *j, int local);
/* 1 when the calling thread may run on more than one CPU (its affinity, read once per
 * thread): waiting by spinning for another thread only helps then.  On one CPU a
 * spinner only delays the thread it waits for until its spin times out. */
int bg__may_spin(void);
/* Removes every queued or running job whose home is `ib` from the pool's reach: queued
 * ones are dropped, running ones become ORPHAN (their result is discarded).  Returns
 * the number of running ones (their memory must stay valid: the caller leaks it). */
int bg__workers_orphan(bg__inbox_t *ib);
/* Stop accepting, wait up to bound_ns for running jobs, cancel queued ones (ECANCELED),
 * join workers; stuck workers are abandoned and reported.  Returns the number
 * abandoned. */
int bg__workers_shutdown(uint64_t bound_ns);
int bg__workers_accepting(void);
void bg__workers_set_max(unsigned max);     /* tests: override the workers= option */
void bg__workers_set_stall_ns(uint64_t ns); /* tests: queue stall before overflow */
/* The pool's steps of the fork handler (offload.c hands them to inbox.c's). */
void bg__workers_fork_prepare(void);
void bg__workers_fork_parent(void);
void bg__workers_fork_child(void);

typedef struct bg__pool_stats {
  uint64_t jobs, timers, cancelled, abandoned, overflow_spawned;
  unsigned workers, workers_peak, busy;
} bg__pool_stats_t;
void bg__pool_stats(bg__pool_stats_t *st);
void bg__pool_count_timer(void);

/* ---- coroutine stacks (co_stacks.c) ------------------------------------------------- */
/* One scheduler's pool: mappings of maplen bytes (guard page at the base, the stack,
 * then the caller's control block and a 16-byte trailer of the pool's at the top). */
typedef struct bg__stacks {
  size_t maplen, page;
  struct chunk *chunks;
  size_t next_chunk; /* stacks in the next chunk mapped */
  size_t nfree;
} bg__stacks_t;
#define BG_STACK_TRAILER 16u
void bg__stacks_init(bg__stacks_t *p, size_t maplen, size_t page);
char *bg__stack_get(bg__stacks_t *p); /* NULL with errno */
void bg__stack_put(bg__stacks_t *p, char *map);
void bg__stack_pin(bg__stacks_t *p, char *map); /* its chunk is never unmapped */
/* Returns wholly free chunks to the kernel while more than `keep` stacks are free. */
void bg__stacks_trim(bg__stacks_t *p, size_t keep);
size_t bg__stacks_count(const bg__stacks_t *p); /* chunks mapped */
void bg__stacks_fini(bg__stacks_t *p);

/* ---- io_uring (uring.c): one ring per scheduler ------------------------------------- */
typedef struct bg__ring bg__ring_t;
/* A ring that signals evfd (the scheduler's inbox eventfd) when it has completion work;
 * NULL: not available (bg__uring_status says why). */
bg__ring_t *bg__ring_new(int evfd);
unsigned bg__ring_gen(const bg__ring_t *r); /* bg__fork_gen when set up */
/* Prepares j (j->uop) and submits it: 0, or -1 (declined, no room, refused: the caller
 * uses a worker). */
int bg__ring_submit(bg__ring_t *r, bg__job_t *j);
/* Runs deferred completion work if the kernel has some (or fd_ready), then calls
 * done(j, ud) for every completed job (j->ures set).  Returns how many. */
int bg__ring_reap(bg__ring_t *r, int fd_ready, void (*done)(bg__job_t *j, void *ud), void *ud);
/* Cancels what is in flight, waits up to 500 ms for it (done() as above), frees.  Jobs
 * not completed by then never will be seen: their memory must be left alone. */
void bg__ring_free(bg__ring_t *r, void (*done)(bg__job_t *j, void *ud), void *ud);
void bg__ring_forget(bg__ring_t *r); /* fork child: drop the parent's ring */
const char *bg__uring_status(void);  /* "in use", or why not */
int bg__uring_retry(const bg__job_t *j); /* its completion says: not made, use a worker */
uint64_t bg__uring_ops(void);         /* calls completed through rings */

/* ---- scheduler (sched.c) ----------------------------------------------------------- */
bg_co_t *bg__co_current(void);                   /* NULL outside a bg coroutine */
bg__inbox_t *bg__co_inbox(bg_co_t *co);
int bg__co_alone(bg_co_t *co); /* no other coroutine of its scheduler is runnable */
/* Parks the running coroutine until its job is delivered (co must be current). */
void bg__co_wait_job(bg_co_t *co, bg__job_t *j);
/* Makes j (a URING row) through the scheduler's ring: returns 1 once it completed (at
 * once, or after parking co), j->ures holding the result or j->cancelled set; 0 when the
 * ring cannot take it (the caller uses a worker). */
int bg__co_ring_call(bg_co_t *co, bg__job_t *j);
/* Parks the running coroutine for ns nanoseconds of its scheduler's clock.  An
 * interruptible sleep (an offloaded sleep call) ends early when a signal handler runs
 * on the scheduler's thread while it waits in epoll: returns 1 and the time left. */
int bg__co_sleep(bg_co_t *co, uint64_t ns, int interruptible, uint64_t *left);
/* Tests: replace the scheduler's monotonic clock. */
void bg__sched_set_clock(bg_sched_t *s, uint64_t (*now)(void *), void *ud);
/* Tests: the stack pool's chunks and free stacks. */
void bg__sched_stack_stats(bg_sched_t *s, size_t *chunks, size_t *free_stacks);

/* ---- process-wide (inbox.c) -------------------------------------------------------- */
void bg__co_global_init(void);        /* pthread_atfork once */
extern unsigned bg__fork_gen;          /* bumped in every fork child */
/* The thread's list of inboxes, for the fork child to refresh their eventfds. */
void bg__inbox_register(bg__inbox_t *ib);
void bg__inbox_unregister(bg__inbox_t *ib);
/* The fork handler's steps of the layer above (offload.c, its constructor): child runs
 * after bg__fork_gen moved, before the inboxes get their fresh eventfds. */
typedef struct bg__fork_steps {
  void (*prepare)(void), (*parent)(void), (*child)(void);
} bg__fork_steps_t;
void bg__co_fork_steps(const bg__fork_steps_t *steps);
/* Called by the shim after bg__enter returned BG_OFFLOAD: runs j on a worker (or as a
 * timer) while the coroutine yields; on return j->err holds the errno to set. */
void bg__offload_call(bg__call_t *c, bg__job_t *j);

/* ---- public API (exported, wrapped by include/blockguard.h) ------------------------ */
BG_EXPORT bg_sched_t *bg__api_sched_new(size_t stack_size);
BG_EXPORT int bg__api_sched_run(bg_sched_t *s);
BG_EXPORT int bg__api_sched_tick(bg_sched_t *s, int timeout_ms);
BG_EXPORT void bg__api_sched_free(bg_sched_t *s);
BG_EXPORT int bg__api_co_spawn(bg_sched_t *s, void (*fn)(void *), void *arg);
BG_EXPORT int bg__api_co_yield(void);
BG_EXPORT void *bg__api_co_self(void);
BG_EXPORT int bg__api_co_sleep_ns(uint64_t ns);
BG_EXPORT int bg__api_co_wait_fd(int fd, int events, int timeout_ms);
BG_EXPORT int bg__api_co_offload(void (*fn)(void *), void *arg);
BG_EXPORT int bg__api_adapter_install(const bg_adapter_t *a);
BG_EXPORT int bg__api_adapter_poll(void);
BG_EXPORT int bg__api_adapter_remove(void);
BG_EXPORT int bg__api_offload_stats(struct bg_offload_stats *st, size_t size);
#endif /* BG_CO_H */
