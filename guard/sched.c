/* sched.c - bg_sched: stackful coroutines on one thread, an epoll loop, timers.
 *
 * One scheduler belongs to the thread that created it; its coroutines run only there,
 * so errno, TLS and the guard's per-thread state stay right.  A tick (bg_sched_tick)
 * is one step, in named phases (bg__api_sched_tick): wait for events (bounded by the
 * nearest timer and by `timeout_ms`), collect completed offloaded calls (the workers'
 * inbox and the scheduler's io_uring, uring.c), fire expired timers, then run every
 * coroutine that was runnable at that point exactly once, switching from one to the
 * next directly (see "switching").  Tests drive ticks by hand with timeout 0 and a fake
 * clock, which makes them deterministic without threads; bg_sched_run ticks until no
 * coroutine is left.
 *
 * Each coroutine has its own stack with a guard page below it (an overflow faults
 * instead of corrupting a neighbour) and its control block at the top of the same
 * mapping; mappings come from the scheduler's pool (co_stacks.c), so a spawn is
 * usually no system call at all.  A switch saves and restores, per coroutine, the
 * thread state a coroutine must not leak to another: errno, the guard's core-depth and
 * allow-scope counters.
 *
 * The core's own deep paths never run on a coroutine's stack: a wrapped call made by
 * a coroutine asks for its verdict (bg__enter: the stack capture of a violation, the
 * symbolization of a new site: kilobytes of frames) on the scheduler thread's stack
 * below the suspended scheduler (on_thread_stack; the ring's set-up and submissions go
 * there too).  A coroutine parked in a call then uses well under a page of its stack,
 * and a small stack is never overrun by the guard's own work.
 *
 * The scheduler's own system calls run with bg__self.depth raised so the shim passes
 * them through; the thread is marked an event-loop thread (what threads=auto would
 * detect from its epoll_wait), so with mode=offload its coroutines' blocking calls
 * are offloaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guard/co.h"
#include "guard/co_ctx.h"
#include "guard/timers.h"

#define BG_DEFAULT_STACK (256u * 1024u)
#define BG_MIN_STACK (16u * 1024u)
#define BG_MAX_EVENTS 64
#define BG_SPIN_NS 20000u /* wait this long for a completion before sleeping in epoll */
#define BG_POLL_EVERY 16  /* ticks with runnable coroutines between two epoll polls,
                             while coroutines wait for fds */

#if defined(__SANITIZE_ADDRESS__)
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#endif
#if defined(__SANITIZE_THREAD__)
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

enum { CO_READY, CO_RUNNING, CO_SLEEP, CO_FDWAIT, CO_JOBWAIT, CO_DONE };

struct bg_co {
  bg__ctx_t ctx;
  bg_sched_t *s;
  void (*fn)(void *);
  void *arg;
  char *map;        /* whole mapping: guard page, stack, this block */
  int state;
  int timed_out;
  int intr;         /* sleeping in an offloaded sleep call: a signal interrupts it */
  int interrupted;
  bg_co_t *next;    /* run queue */
  bg_co_t *lprev, *lnext; /* live list */
  bg__timer_t timer;
  int wfd;
  uint32_t revents;
  bg__job_t *job;   /* offloaded call in flight */
  int err;          /* thread state while switched out */
  uint32_t depth, allow;
  uint8_t off_stack; /* bg__enter_off_stack is running on the scheduler's stack */
#if defined(__SANITIZE_ADDRESS__)
  void *asan_fake;
#endif
#if defined(__SANITIZE_THREAD__)
  void *tsan_fiber;
#endif
};

struct bg_sched {
  bg__thread_t *owner_self; /* &bg__self of the owner thread: a cheap owner check */
  int *errp;                /* the owner thread's errno */
  int epfd;
  unsigned gen;     /* bg__fork_gen when epfd and the inbox fd were made */
  bg__inbox_t inbox;
  bg_co_t *rq_head, *rq_tail;
  bg__heap_t timers;
  bg_co_t *live_head;
  int live, jobs_out, ticking, marked, unpolled;
  bg__ring_t *ring; /* io_uring for URING rows (uring.c), set up on first use */
  int ring_failed;  /* no ring could be set up: workers only */
  int ring_waiting; /* coroutines parked on a call in the ring */
  int nfdwait;      /* coroutines waiting in epoll for an fd (bg_co_wait_fd) */
  int chaining;     /* inside bg_sched_run: batches may chain (see run_batch) */
  bg_co_t *batch_last; /* last coroutine of the running batch; NULL: batch over */
  bg__ctx_t ctx;    /* the thread's own context while a coroutine runs */
  size_t block, stack_len;
  bg__stacks_t stacks;
  uintptr_t tstack_lo; /* the owner thread's stack ends here (0: unknown) */
  uint64_t (*now)(void *);
  void *now_ud;
#if defined(__SANITIZE_ADDRESS__)
  void *asan_fake;
  const void *asan_bottom;
  size_t asan_size;
#endif
#if defined(__SANITIZE_THREAD__)
  void *tsan_fiber;
#endif
};

__thread bg_co_t *bg__co_tls __attribute__((tls_model("initial-exec"))) BG_HIDDEN;
#define tls_co bg__co_tls

static size_t page_size(void) {
  static size_t pg;
  if (!pg) pg = (size_t)sysconf(_SC_PAGESIZE);
  return pg;
}

static uint64_t real_now(void *ud) {
  (void)ud;
  return bg__now_ns();
}

bg_co_t *bg__co_current(void) { return tls_co; }
bg__inbox_t *bg__co_inbox(bg_co_t *co) { return &co->s->inbox; }
int bg__co_alone(bg_co_t *co) { return !co->s->rq_head; }

void bg__sched_set_clock(bg_sched_t *s, uint64_t (*now)(void *), void *ud) {
  s->now = now ? now : real_now;
  s->now_ud = ud;
}

void bg__sched_stack_stats(bg_sched_t *s, size_t *chunks, size_t *free_stacks) {
  *chunks = bg__stacks_count(&s->stacks);
  *free_stacks = s->stacks.nfree;
}

/* ---- run queue ---------------------------------------------------------------------- */
static void rq_push(bg_sched_t *s, bg_co_t *co) {
  co->state = CO_READY;
  co->next = NULL;
  if (s->rq_tail)
    s->rq_tail->next = co;
  else
    s->rq_head = co;
  s->rq_tail = co;
}

static bg_co_t *rq_pop(bg_sched_t *s) {
  bg_co_t *co = s->rq_head;
  if (co) {
    s->rq_head = co->next;
    if (!s->rq_head) s->rq_tail = NULL;
    co->next = NULL;
  }
  return co;
}

static void wake(bg_sched_t *s, bg_co_t *co) {
  if (co->state == CO_SLEEP || co->state == CO_FDWAIT || co->state == CO_JOBWAIT)
    rq_push(s, co);
}

/* ---- switching ---------------------------------------------------------------------- */
/* A tick runs a *batch*: the coroutines runnable when it began, once each, in order
 * (s->batch_last is the batch's last one while it is unfinished).  A coroutine that
 * gives the thread up switches straight to the next one of the batch: one context
 * switch per yield, not two through the scheduler.  Inside bg_sched_run (s->chaining)
 * the chain goes on into what the next tick would run when that tick would have
 * nothing else to do: no fd waiters, no timers, no offloaded call outstanding.  A
 * finished coroutine goes back to the scheduler, which frees its stack.  Under the
 * sanitizers every switch goes through the scheduler (their fiber bookkeeping assumes
 * it). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BG_DIRECT_SWITCH 0
#else
#define BG_DIRECT_SWITCH 1
#endif

/* Thread state a coroutine carries: errno and the guard's depth and allow counters. */
static inline void co_load(bg_sched_t *s, bg_co_t *co) {
  bg__thread_t *t = bg__self_ptr();
  t->depth = co->depth;
  t->allow = co->allow;
  *s->errp = co->err;
  co->state = CO_RUNNING;
  tls_co = co;
  t->loop_slices++; /* progress, for the stall detector (guard/loop.c) */
}

static inline void co_save(bg_sched_t *s, bg_co_t *co) {
  bg__thread_t *t = bg__self_ptr();
  co->depth = t->depth;
  co->allow = t->allow;
  co->err = *s->errp;
}

#if BG_DIRECT_SWITCH
/* The next coroutine of the running batch (popped), or NULL when the thread must go
 * back to the scheduler. */
static bg_co_t *batch_next(bg_sched_t *s) {
  if (!s->batch_last) {
    if (!s->chaining || !s->rq_head || s->nfdwait || bg__heap_top(&s->timers) || s->jobs_out ||
        s->ring_waiting)
      return NULL;
    s->batch_last = s->rq_tail; /* the next tick's batch */
  }
  bg_co_t *co = rq_pop(s);
  if (!co || co == s->batch_last) s->batch_last = NULL;
  return co;
}
#endif

/* Coroutine side: give the thread up (co's state says why); returns when resumed. */
static inline __attribute__((always_inline)) void co_out(bg_co_t *co) {
  bg_sched_t *s = co->s;
#if BG_DIRECT_SWITCH
  bg_co_t *next;
  if (co->state != CO_DONE && (next = batch_next(s))) {
    co_save(s, co);
    co_load(s, next);
    bg__ctx_switch(&co->ctx, &next->ctx);
    return;
  }
#endif
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(co->state == CO_DONE ? NULL : &co->asan_fake, s->asan_bottom,
                                 s->asan_size);
#endif
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(s->tsan_fiber, 0);
#endif
  bg__ctx_switch(&co->ctx, &s->ctx);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(co->asan_fake, &s->asan_bottom, &s->asan_size);
#endif
}

static void co_main(void *p) {
  bg_co_t *co = p;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(NULL, &co->s->asan_bottom, &co->s->asan_size);
#endif
  co->fn(co->arg);
  co->state = CO_DONE;
  co_out(co); /* never resumed */
  __builtin_trap();
}

static void reap(bg_sched_t *s, bg_co_t *co);

/* Scheduler side: runs the batch.  Control comes back when the batch (or the chain
 * grown from it) is over, or when a coroutine finished; tls_co says which coroutine
 * gave the thread back. */
static void run_batch(bg_sched_t *s) {
  if (!s->rq_head) return;
  bg__thread_t *t = bg__self_ptr();
  uint32_t sd = t->depth, sa = t->allow;
  int se = *s->errp;
  s->batch_last = s->rq_tail;
  while (s->batch_last) {
    bg_co_t *co = rq_pop(s);
    if (!co || co == s->batch_last) s->batch_last = NULL;
    if (!co) break;
    co_load(s, co);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_start_switch_fiber(&s->asan_fake, co->map + s->stacks.page, s->stack_len);
#endif
#if defined(__SANITIZE_THREAD__)
    __tsan_switch_to_fiber(co->tsan_fiber, 0);
#endif
    bg__ctx_switch(&s->ctx, &co->ctx);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(s->asan_fake, NULL, NULL);
#endif
    bg_co_t *back = tls_co;
    tls_co = NULL;
    co_save(s, back);
    if (back->state == CO_DONE) reap(s, back);
    if (BG_UNLIKELY(t->loop_stalled)) bg__loop_slice_stalled(); /* here: not on its stack */
  }
  t->depth = sd;
  t->allow = sa;
  *s->errp = se;
}

/* ---- the core's deep paths, off the coroutine's stack ------------------------------------ */
#if defined(BG_CO_CALL_ON) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define BG_OFF_STACK 1
#else
#define BG_OFF_STACK 0
#endif

/* Runs fn(arg) for the running coroutine on the free part of the thread's own stack:
 * below the suspended scheduler's frames (the scheduler is parked in bg__co_switch;
 * nothing lives below its saved stack pointer).  Not while something else runs there
 * (a signal handler that interrupted it runs fn on the stack it is on), and not under
 * sanitizers, which track the stack in use, nor on a thread whose stack has less than
 * BG_OFF_STACK_ROOM left there (a program may run its scheduler on a small-stack
 * thread).  fn must not switch coroutines. */
#define BG_OFF_STACK_ROOM (256u * 1024u) /* the deep paths need less; a thread with less left
                                             below its scheduler runs them in place */
static void on_thread_stack(bg_co_t *co, void (*fn)(void *), void *arg) {
#if BG_OFF_STACK
  /* 256 bytes below the saved frame: the red zone and then some. */
  uintptr_t sp = co ? ((uintptr_t)co->s->ctx.sp - 256) & ~(uintptr_t)15 : 0;
  if (co && !co->off_stack && sp - co->s->tstack_lo >= BG_OFF_STACK_ROOM) {
    void *top = (void *)sp;
    co->off_stack = 1;
    bg__co_call_on(top, fn, arg);
    co->off_stack = 0;
    return;
  }
#else
  (void)co;
#endif
  fn(arg);
}

struct enter_args {
  bg__call_t *c;
  int id, category, exempt, verdict;
  uintptr_t caller;
};

static void enter_thunk(void *p) {
  struct enter_args *a = p;
  a->verdict = bg__enter(a->c, a->id, a->category, a->exempt, a->caller);
}

/* bg__enter for a wrapped call made by the running coroutine: the stack capture of a
 * violation and the symbolization of a new site take kilobytes of frames. */
int bg__enter_off_stack(bg__call_t *c, int id, int category, int exempt, uintptr_t caller) {
  struct enter_args a = {c, id, category, exempt, 0, caller};
  on_thread_stack(tls_co, enter_thunk, &a);
  return a.verdict;
}

/* ---- stacks ------------------------------------------------------------------------- */
/* The control block sits at the top of the mapping, below the pool's trailer. */
static bg_co_t *co_of_map(bg_sched_t *s, char *map) {
  return (bg_co_t *)(map + s->stacks.maplen - BG_STACK_TRAILER - s->block);
}

static void unlink_live(bg_sched_t *s, bg_co_t *co) {
  if (co->lprev)
    co->lprev->lnext = co->lnext;
  else
    s->live_head = co->lnext;
  if (co->lnext) co->lnext->lprev = co->lprev;
  s->live--;
}

static void reap(bg_sched_t *s, bg_co_t *co) {
  unlink_live(s, co);
#if defined(__SANITIZE_THREAD__)
  __tsan_destroy_fiber(co->tsan_fiber);
#endif
  bg__stack_put(&s->stacks, co->map);
}

/* ---- epoll and fork ---------------------------------------------------------------- */
static int epoll_setup(bg_sched_t *s) {
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0) return -1;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->inbox};
  return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->inbox.evfd, &ev);
}

/* ---- the ring (uring.c) ------------------------------------------------------------ */
/* A completion reaped from the ring: the coroutine parked on it (if it parked: a call
 * the kernel completed while being submitted never does) runs again. */
static void ring_done(bg__job_t *j, void *ud) {
  bg_sched_t *s = ud;
  bg_co_t *co = j->co;
  __atomic_store_n(&j->delivered, 1, __ATOMIC_RELEASE);
  if (co && co->job == j) {
    s->ring_waiting--;
    wake(s, co);
  }
}

/* Fork child: the ring is the parent's.  The calls in flight there are cancelled for
 * the child's coroutines (ECANCELED, as the worker pool cancels its calls), the ring is
 * dropped; the child sets up its own on its next URING call. */
static void ring_drop_in_child(bg_sched_t *s) {
  for (bg_co_t *co = s->live_head; co; co = co->lnext) {
    bg__job_t *j = co->job;
    if (co->state == CO_JOBWAIT && j && j->via_ring && !j->delivered) {
      j->cancelled = 1;
      j->err = ECANCELED;
      ring_done(j, s);
    }
  }
  bg__ring_forget(s->ring);
  s->ring = NULL;
  s->ring_failed = 0;
  s->ring_waiting = 0;
}

static bg__ring_t *ring_get(bg_sched_t *s) {
  if (s->ring && bg__ring_gen(s->ring) != __atomic_load_n(&bg__fork_gen, __ATOMIC_ACQUIRE))
    ring_drop_in_child(s);
  if (!s->ring && !s->ring_failed) {
    s->ring = bg__ring_new(s->inbox.evfd); /* the ring signals the inbox's eventfd */
    s->ring_failed = !s->ring;
  }
  return s->ring;
}

struct ring_args {
  bg_sched_t *s;
  bg__job_t *j;
  int submitted;
};

/* Sets the ring up if needed (dlopen of liburing the first time), submits j and reaps
 * what completed meanwhile; on the thread's stack (on_thread_stack). */
static void ring_submit_thunk(void *p) {
  struct ring_args *a = p;
  bg__ring_t *r = ring_get(a->s);
  a->submitted = r && bg__ring_submit(r, a->j) == 0;
  if (a->submitted) bg__ring_reap(r, 0, ring_done, a->s); /* completed at once? */
}

int bg__co_ring_call(bg_co_t *co, bg__job_t *j) {
  bg_sched_t *s = co->s;
  j->co = co;
  j->delivered = 0;
  j->cancelled = 0;
  struct ring_args a = {s, j, 0};
  on_thread_stack(co, ring_submit_thunk, &a);
  if (!a.submitted) return 0;
  if (!__atomic_load_n(&j->delivered, __ATOMIC_ACQUIRE)) {
    bg__thread_t *t = bg__self_ptr();
    co->job = j;
    s->ring_waiting++;
    t->depth--; /* parked at the coroutine's own depth */
    while (!__atomic_load_n(&j->delivered, __ATOMIC_ACQUIRE)) {
      co->state = CO_JOBWAIT;
      co_out(co);
    }
    t->depth++;
    co->job = NULL;
  }
  return 1;
}

/* After fork the epoll instance is shared with the parent: a fresh one takes the same
 * fd number (so nothing holding the number is confused), and every fd a coroutine
 * waits on is registered again.  The inbox's eventfd was already replaced by the fork
 * handler (inbox.c). */
static void refresh_after_fork(bg_sched_t *s) {
  if (s->ring) ring_drop_in_child(s);
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd >= 0) {
    dup3(fd, s->epfd, O_CLOEXEC);
    close(fd);
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->inbox};
  epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->inbox.evfd, &ev);
  for (bg_co_t *co = s->live_head; co; co = co->lnext)
    if (co->state == CO_FDWAIT && co->wfd >= 0) {
      struct epoll_event e = {.events = co->revents | EPOLLONESHOT, .data.ptr = co};
      epoll_ctl(s->epfd, EPOLL_CTL_ADD, co->wfd, &e);
    }
  s->gen = __atomic_load_n(&bg__fork_gen, __ATOMIC_ACQUIRE);
  s->marked = 0; /* the child forgot this thread is a loop: the next tick says so again */
}

static inline void check_fork(bg_sched_t *s) {
  if (BG_UNLIKELY(s->gen != __atomic_load_n(&bg__fork_gen, __ATOMIC_ACQUIRE))) {
    bg__self.depth++;
    refresh_after_fork(s);
    bg__self.depth--;
  }
}

/* Waits up to timeout_ns (-1: no bound) for the epoll set, then collects its events.
 * The sleep is a ppoll on the epoll fd, not an epoll_wait: an interruption that ran no
 * signal handler (io_uring's task work, e.g. the kernel starting an io-wq worker for a
 * call in the scheduler's ring) makes epoll_wait return EINTR, while ppoll is restarted
 * by the kernel (ERESTARTNOHAND).  So EINTR here means a handler ran on this thread,
 * which is what interrupts the offloaded sleeps (interrupt_sleepers).  ppoll also takes
 * a nanosecond timeout, which timers need. */
static int wait_events(bg_sched_t *s, struct epoll_event *evs, int64_t timeout_ns) {
  if (timeout_ns != 0) {
    struct pollfd p = {.fd = s->epfd, .events = POLLIN};
    struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
    int r = ppoll(&p, 1, timeout_ns < 0 ? NULL : &ts, NULL);
    if (r <= 0) return r; /* timed out, or -1/EINTR */
  }
  return epoll_wait(s->epfd, evs, BG_MAX_EVENTS, 0);
}

static void interrupt_sleepers(bg_sched_t *s) {
  for (bg_co_t *co = s->live_head; co; co = co->lnext)
    if (co->state == CO_SLEEP && co->intr) {
      bg__heap_remove(&s->timers, &co->timer);
      co->interrupted = 1;
      wake(s, co);
    }
}

/* Where the calling thread's stack ends, for on_thread_stack (0: far enough not to
 * matter).  A thread pthread created knows its stack; the main thread grows its own up
 * to RLIMIT_STACK (glibc would read /proc/self/maps to say more, pulling stdio and
 * scanf into every scheduler's start): 2 MiB or more is plenty, a smaller limit counts
 * half of it as what is left. */
static uintptr_t thread_stack_lo(void) {
  uintptr_t lo = 0;
  if (getpid() == (pid_t)syscall(SYS_gettid)) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < 2u * 1024 * 1024)
      lo = (uintptr_t)__builtin_frame_address(0) - rl.rlim_cur / 2;
    return lo;
  }
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *base;
    size_t size;
    if (pthread_attr_getstack(&attr, &base, &size) == 0) lo = (uintptr_t)base;
    pthread_attr_destroy(&attr);
  }
  return lo;
}

/* ---- public API --------------------------------------------------------------------- */
BG_EXPORT bg_sched_t *bg__api_sched_new(size_t stack_size) {
  bg__co_global_init();
  bg_sched_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  size_t pg = page_size();
  if (stack_size == 0) stack_size = BG_DEFAULT_STACK;
  if (stack_size < BG_MIN_STACK) stack_size = BG_MIN_STACK;
  s->block = (sizeof(bg_co_t) + 63) & ~(size_t)63;
  size_t maplen = (pg + stack_size + s->block + BG_STACK_TRAILER + pg - 1) & ~(pg - 1);
  s->stack_len = maplen - pg - s->block - BG_STACK_TRAILER;
  bg__stacks_init(&s->stacks, maplen, pg);
  s->owner_self = bg__self_ptr();
  s->errp = &errno;
  s->tstack_lo = thread_stack_lo();
  s->now = real_now;
  s->epfd = -1;
  bg__heap_init(&s->timers);
  bg__self.depth++;
  int ok = bg__inbox_init(&s->inbox) == 0 && epoll_setup(s) == 0;
  bg__self.depth--;
  if (!ok) {
    int e = errno;
    if (s->epfd >= 0) close(s->epfd);
    if (s->inbox.evfd >= 0) bg__inbox_fini(&s->inbox);
    free(s);
    errno = e;
    return NULL;
  }
  s->gen = __atomic_load_n(&bg__fork_gen, __ATOMIC_ACQUIRE);
  bg__inbox_register(&s->inbox);
  return s;
}

BG_EXPORT int bg__api_co_spawn(bg_sched_t *s, void (*fn)(void *), void *arg) {
  if (!s || !fn) return errno = EINVAL, -1;
  if (s->owner_self != bg__self_ptr()) return errno = EPERM, -1;
  char *m = bg__stack_get(&s->stacks);
  if (!m) return -1;
  bg_co_t *co = co_of_map(s, m);
  memset(co, 0, sizeof *co);
  co->s = s;
  co->fn = fn;
  co->arg = arg;
  co->map = m;
  co->wfd = -1;
#if defined(__SANITIZE_THREAD__)
  co->tsan_fiber = __tsan_create_fiber(0);
#endif
#if defined(__SANITIZE_ADDRESS__)
  /* A recycled stack still carries the shadow of the frames its last coroutine never
   * returned from (it ended with a switch): stale redzones for the new frames. */
  __asan_unpoison_memory_region(m + s->stacks.page, s->stack_len);
#endif
  bg__ctx_make(&co->ctx, m + s->stacks.page, s->stack_len, co_main, co);
  co->lnext = s->live_head;
  if (s->live_head) s->live_head->lprev = co;
  s->live_head = co;
  s->live++;
  rq_push(s, co);
  return 0;
}

/* ---- a tick, phase by phase --------------------------------------------------------- */
/* How long the tick may wait for events: not at all while coroutines are runnable,
 * else until the nearest timer, bounded by the caller's timeout_ms (-1: no bound). */
static int64_t wait_budget(bg_sched_t *s, int timeout_ms) {
  if (s->rq_head) return 0;
  int64_t timeout = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
  bg__timer_t *top = bg__heap_top(&s->timers);
  if (top) {
    uint64_t now = s->now(s->now_ud);
    int64_t d = top->deadline > now ? (int64_t)(top->deadline - now) : 0;
    if (timeout < 0 || d < timeout) timeout = d;
  }
  return timeout;
}

/* Offloaded calls usually complete within microseconds: wait for them a little before
 * sleeping, in the way that helps.  While the worker running the call is on another
 * CPU (inbox.run_cpu), spin.  While the call is still queued (a worker is being woken,
 * on this CPU when we had nothing else to run: workers.c) or its worker runs on this
 * CPU, yield the CPU to it instead: it runs now, the completion is there when we get
 * the CPU back, and nobody sleeps or wakes a halted CPU (a sleeping scheduler woken by
 * the worker is sent to the idle CPU: ~50 us on the reference VM).  Bounded by
 * BG_SPIN_NS; returns the budget left: 0 once a completion is there. */
static int64_t spin_for_completions(bg_sched_t *s, int64_t timeout) {
  if (timeout == 0 || s->jobs_out == 0) return timeout;
  int me = sched_getcpu(), spin = bg__may_spin();
  uint64_t end = bg__now_ns() + BG_SPIN_NS;
  for (unsigned i = 1; !__atomic_load_n(&s->inbox.head, __ATOMIC_ACQUIRE); i++) {
    int rc = __atomic_load_n(&s->inbox.run_cpu, __ATOMIC_RELAXED);
    if (spin && rc >= 0 && rc != me) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
      if ((i & 31) && bg__now_ns() < end) continue;
    } else {
      sched_yield();
    }
    if (bg__now_ns() >= end) break;
  }
  return __atomic_load_n(&s->inbox.head, __ATOMIC_ACQUIRE) ? 0 : timeout;
}

/* Waits in epoll and wakes the coroutines whose fds became ready.  Sets *inbox_ready and
 * *ring_ready when the inbox's eventfd (which the ring signals too) was among them.
 * The poll is skipped when it would not wait (coroutines are runnable, or a completion
 * is already there) and nothing can arrive through it but completions, which are read
 * from the inbox list and the ring anyway; with coroutines waiting for fds it is made
 * every BG_POLL_EVERY ticks, so yielding coroutines cannot starve them. */
static void poll_events(bg_sched_t *s, int64_t timeout, int *inbox_ready, int *ring_ready) {
  *inbox_ready = *ring_ready = 0;
  int busy = s->rq_head || __atomic_load_n(&s->inbox.head, __ATOMIC_ACQUIRE);
  if (busy && (s->nfdwait == 0 || ++s->unpolled < BG_POLL_EVERY)) return;
  s->unpolled = 0;
  struct epoll_event evs[BG_MAX_EVENTS];
  /* About to sleep: from here a worker's completion writes the eventfd (inbox.c);
   * one that slipped in before is seen now. */
  if (timeout != 0) {
    __atomic_store_n(&s->inbox.sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&s->inbox.head, __ATOMIC_SEQ_CST)) timeout = 0;
  }
  int n = wait_events(s, evs, timeout);
  __atomic_store_n(&s->inbox.sleeping, 0, __ATOMIC_RELAXED);
  /* A signal handler ran on this thread: the sleep calls its coroutines made would
   * have been interrupted (EINTR) had they run here, so they are now. */
  if (n < 0 && errno == EINTR) interrupt_sleepers(s);
  for (int i = 0; i < n; i++) {
    if (evs[i].data.ptr == &s->inbox) { /* workers' completions, and the ring's */
      *inbox_ready = *ring_ready = 1;
      continue;
    }

    bg_co_t *co = evs[i].data.ptr;
    if (co->state == CO_FDWAIT) {
      co->revents = evs[i].events;
      bg__heap_remove(&s->timers, &co->timer); /* ready wins over a timeout due now */
      wake(s, co);
    }
  }
}

/* Delivers the offloaded calls that completed, on workers and in the ring.  The inbox's
 * eventfd is drained first and the ring reaped after: a signal that arrives in between
 * stays for the next poll, none is lost.  The ring is looked at every tick (a load of
 * its flags, no system call unless the kernel has completion work waiting), as a poll
 * is not made every tick. */
static void collect_completions(bg_sched_t *s, int inbox_ready, int ring_ready) {
  for (bg__job_t *j = bg__inbox_take(&s->inbox, inbox_ready), *next; j; j = next) {
    next = j->next;
    bg_co_t *co = j->co;
    __atomic_store_n(&j->delivered, 1, __ATOMIC_RELEASE);
    s->jobs_out--;
    wake(s, co);
  }
  if (s->ring) bg__ring_reap(s->ring, ring_ready, ring_done, s);
}

static void fire_timers(bg_sched_t *s) {
  if (!bg__heap_top(&s->timers)) return;
  uint64_t now = s->now(s->now_ud);
  for (bg__timer_t *tm; (tm = bg__heap_top(&s->timers)) && tm->deadline <= now;) {
    bg__heap_pop(&s->timers);
    bg_co_t *co = (bg_co_t *)((char *)tm - offsetof(bg_co_t, timer));
    co->timed_out = 1;
    wake(s, co);
  }
}

BG_EXPORT int bg__api_sched_tick(bg_sched_t *s, int timeout_ms) {
  if (!s) return errno = EINVAL, -1;
  if (s->owner_self != bg__self_ptr()) return errno = EPERM, -1;
  if (tls_co || s->ticking) return errno = EDEADLK, -1; /* from inside a coroutine */
  if (s->live == 0) return 0;
  bg__thread_t *t = bg__self_ptr();
  int se = *s->errp;
  if (BG_UNLIKELY(!s->marked)) {
    s->marked = 1;
    bg__mark_loop_thread(NULL);
  }
  check_fork(s);
  s->ticking = 1;
#if defined(__SANITIZE_THREAD__)
  s->tsan_fiber = __tsan_get_current_fiber();
#endif
  t->depth++;
  /* Nothing to run: the moment to give surplus stacks back. */
  if (!s->rq_head) bg__stacks_trim(&s->stacks, (size_t)s->live);
  int64_t timeout = spin_for_completions(s, wait_budget(s, timeout_ms));
  int inbox_ready, ring_ready;
  bg__loop_runtime_wait(); /* loop health: the tick's wait (guard/loop.c) */
  poll_events(s, timeout, &inbox_ready, &ring_ready);
  bg__loop_woke();
  collect_completions(s, inbox_ready, ring_ready);
  fire_timers(s);
  t->depth--;
  run_batch(s);
  s->ticking = 0;
  *s->errp = se;
  return s->live;
}

BG_EXPORT int bg__api_sched_run(bg_sched_t *s) {
  if (s && s->owner_self == bg__self_ptr() && !s->ticking) s->chaining = 1;
  int n;
  while ((n = bg__api_sched_tick(s, -1)) > 0) {
  }
  if (s && s->owner_self == bg__self_ptr() && !s->ticking) s->chaining = 0;
  return n < 0 ? -1 : 0;
}

BG_EXPORT void bg__api_sched_free(bg_sched_t *s) {
  if (!s || s->owner_self != bg__self_ptr() || s->ticking) return;
  int se = errno;
  bg__self.depth++;
  bg__workers_orphan(&s->inbox);
  if (s->ring && bg__ring_gen(s->ring) != __atomic_load_n(&bg__fork_gen, __ATOMIC_ACQUIRE))
    ring_drop_in_child(s);
  if (s->ring) bg__ring_free(s->ring, ring_done, s); /* cancels, waits up to 500 ms */
  s->ring = NULL;
  for (bg_co_t *co = s->live_head, *next; co; co = next) {
    next = co->lnext;
#if defined(__SANITIZE_THREAD__)
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    /* A worker may still be writing the results of this coroutine's call into its
     * stack, or the kernel its data (a call in the ring that did not complete): that
     * mapping is left in place (a bounded leak, never a use after free). */
    bg__job_t *j = co->job;
    if (co->state == CO_JOBWAIT && j &&
        (j->via_ring ? !j->delivered
                     : __atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == BG_JOB_ORPHAN))
      bg__stack_pin(&s->stacks, co->map);
  }
  bg__stacks_fini(&s->stacks);
  bg__inbox_unregister(&s->inbox);
  close(s->epfd);
  bg__inbox_fini(&s->inbox);
  bg__heap_fini(&s->timers);
  free(s);
  bg__self.depth--;
  errno = se;
}

BG_EXPORT int bg__api_co_yield(void) {
  bg_co_t *co = tls_co;
  if (!co) return errno = EPERM, -1;
  rq_push(co->s, co);
  co_out(co); /* errno travels with the coroutine (co_save/co_load) */
  return 0;
}

BG_EXPORT void *bg__api_co_self(void) { return tls_co; }

int bg__co_sleep(bg_co_t *co, uint64_t ns, int interruptible, uint64_t *left) {
  bg_sched_t *s = co->s;
  uint64_t deadline = s->now(s->now_ud) + ns;
  co->timed_out = co->interrupted = 0;
  co->intr = interruptible;
  bg__heap_push(&s->timers, &co->timer, deadline); /* intrusive: cannot fail */
  while (!co->timed_out && !co->interrupted) {
    co->state = CO_SLEEP;
    co_out(co);
  }
  co->intr = 0;
  if (!co->interrupted) return 0;
  uint64_t now = s->now(s->now_ud);
  if (left) *left = deadline > now ? deadline - now : 0;
  return 1;
}

BG_EXPORT int bg__api_co_sleep_ns(uint64_t ns) {
  bg_co_t *co = tls_co;
  if (!co) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    return 0;
  }
  int e = errno;
  bg__co_sleep(co, ns, 0, NULL);
  errno = e;
  return 0;
}

void bg__co_wait_job(bg_co_t *co, bg__job_t *j) {
  co->job = j;
  co->s->jobs_out++;
  while (!__atomic_load_n(&j->delivered, __ATOMIC_ACQUIRE)) {
    co->state = CO_JOBWAIT;
    co_out(co);
  }
  co->job = NULL;
}

BG_EXPORT int bg__api_co_wait_fd(int fd, int events, int timeout_ms) {
  bg_co_t *co = tls_co;
  if (!co) {
    struct pollfd p = {.fd = fd, .events = (short)events};
    int r = poll(&p, 1, timeout_ms);
    return r > 0 ? p.revents : r;
  }
  bg_sched_t *s = co->s;
  int e = errno;
  check_fork(s);
  bg__self.depth++;
  struct epoll_event ev = {.events = (uint32_t)events | EPOLLONESHOT, .data.ptr = co};
  int r = epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
  bg__self.depth--;
  if (r < 0) {
    /* epoll refuses regular files, which poll() reports always ready. */
    if (errno == EPERM) return errno = e, events & (POLLIN | POLLOUT);
    return -1;
  }
  co->wfd = fd;
  co->revents = (uint32_t)events; /* remembered for re-registration after fork */
  co->timed_out = 0;
  if (timeout_ms >= 0)
    bg__heap_push(&s->timers, &co->timer, s->now(s->now_ud) + (uint64_t)timeout_ms * 1000000u);
  co->state = CO_FDWAIT;
  s->nfdwait++;
  co_out(co);
  s->nfdwait--;
  bg__heap_remove(&s->timers, &co->timer);
  uint32_t rev = co->timed_out ? 0 : co->revents;
  bg__self.depth++;
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
  bg__self.depth--;
  co->wfd = -1;
  errno = e;
  return (int)rev;
}
