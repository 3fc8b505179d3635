/* sched.c - bg_sched: stackful coroutines on one thread, an epoll loop, timers.
 *
 * One scheduler belongs to the thread that created it; its coroutines run only there,
 * so errno, TLS and the guard's per-thread state stay right.  A tick (bg_sched_tick)
 * is one step: wait in epoll (bounded by the nearest timer and by `timeout_ms`),
 * collect completed offloaded calls from the inbox, fire expired timers, then run
 * every coroutine that was runnable at that point exactly once.  Tests drive ticks by
 * hand with timeout 0 and a fake clock, which makes them deterministic without
 * threads; bg_sched_run just ticks until no coroutine is left.
 *
 * Each coroutine has its own mmap'd stack with a PROT_NONE guard page below it (an
 * overflow faults instead of corrupting a neighbour); its control block sits at the
 * top of the same mapping, so a spawn is one mmap (or a reuse from a small cache).
 * A switch saves and restores, per coroutine, the thread state a coroutine must not
 * leak to another: errno, the guard's core-depth and allow-scope counters.
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
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guard/co.h"
#include "guard/co_ctx.h"
#include "guard/timers.h"

#define BG_DEFAULT_STACK (256u * 1024u)
#define BG_MIN_STACK (16u * 1024u)
#define BG_STACK_KEEP 64 /* free stacks always kept beyond the live count */
#define BG_STACK_TRIM 32 /* stacks returned to the kernel per tick at most */
#define BG_MAX_EVENTS 64
#define BG_SPIN_NS 20000u /* wait this long for a completion before sleeping in epoll */
#define BG_POLL_EVERY 16  /* ticks with runnable coroutines between two epoll polls */

#if defined(__SANITIZE_ADDRESS__)
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
#if defined(__SANITIZE_ADDRESS__)
  void *asan_fake;
#endif
#if defined(__SANITIZE_THREAD__)
  void *tsan_fiber;
#endif
};

struct bg_sched {
  pthread_t owner;
  int epfd;
  unsigned gen;     /* bg__fork_gen when epfd and the inbox fd were made */
  bg__inbox_t inbox;
  bg_co_t *rq_head, *rq_tail;
  bg__heap_t timers;
  bg_co_t *live_head;
  int live, jobs_out, ticking, marked, unpolled;
  bg__ctx_t ctx;    /* the thread's own context while a coroutine runs */
  size_t maplen, stack_len;
  char *free_stacks; /* finished coroutines' mappings, linked through their block */
  int nfree;
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

static __thread bg_co_t *tls_co __attribute__((tls_model("initial-exec")));

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

void bg__sched_set_clock(bg_sched_t *s, uint64_t (*now)(void *), void *ud) {
  s->now = now ? now : real_now;
  s->now_ud = ud;
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
/* Coroutine side: give the thread back to the scheduler; returns when resumed. */
static void co_out(bg_co_t *co) {
  bg_sched_t *s = co->s;
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

/* Scheduler side: run co until it yields, waits or finishes. */
static void run_co(bg_sched_t *s, bg_co_t *co) {
  bg__thread_t *t = &bg__self;
  uint32_t sd = t->depth, sa = t->allow;
  int se = errno;
  t->depth = co->depth;
  t->allow = co->allow;
  errno = co->err;
  co->state = CO_RUNNING;
  tls_co = co;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(&s->asan_fake, co->map + page_size(), s->stack_len);
#endif
#if defined(__SANITIZE_THREAD__)
  __tsan_switch_to_fiber(co->tsan_fiber, 0);
#endif
  bg__ctx_switch(&s->ctx, &co->ctx);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(s->asan_fake, NULL, NULL);
#endif
  tls_co = NULL;
  co->depth = t->depth;
  co->allow = t->allow;
  co->err = errno;
  t->depth = sd;
  t->allow = sa;
  errno = se;
  if (co->state == CO_DONE) reap(s, co);
}

/* ---- stacks ------------------------------------------------------------------------- */
static bg_co_t *co_of_map(bg_sched_t *s, char *map) {
  return (bg_co_t *)(map + s->maplen - ((sizeof(bg_co_t) + 63) & ~(size_t)63));
}

/* Mappings are recycled: mmap, the guard page's mprotect, first-touch faults and
 * munmap cost tens of microseconds each on a VM, far more than a coroutine's life.
 * Free ones are kept (linked through their control block) and handed back to the
 * kernel a few per tick while there are more than the live count needs. */
static char *stack_get(bg_sched_t *s) {
  if (s->free_stacks) {
    char *m = s->free_stacks;
    s->free_stacks = *(char **)co_of_map(s, m);
    s->nfree--;
    return m;
  }
  char *m = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return NULL;
  if (mprotect(m, page_size(), PROT_NONE) < 0) { /* the guard page */
    int e = errno;
    munmap(m, s->maplen);
    errno = e;
    return NULL;
  }
  return m;
}

static void stack_put(bg_sched_t *s, char *m) {
  *(char **)co_of_map(s, m) = s->free_stacks;
  s->free_stacks = m;
  s->nfree++;
}

static void stacks_trim(bg_sched_t *s, int max) {
  for (int i = 0; i < max && s->free_stacks; i++) {
    char *m = s->free_stacks;
    s->free_stacks = *(char **)co_of_map(s, m);
    s->nfree--;
    munmap(m, s->maplen);
  }
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
  stack_put(s, co->map);
}

/* ---- epoll and fork ---------------------------------------------------------------- */
static int epoll_setup(bg_sched_t *s) {
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0) return -1;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->inbox};
  return epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->inbox.evfd, &ev);
}

/* After fork the epoll instance is shared with the parent: a fresh one takes the same
 * fd number (so nothing holding the number is confused), and every fd a coroutine
 * waits on is registered again.  The inbox's eventfd was already replaced by the fork
 * handler (offload.c). */
static void refresh_after_fork(bg_sched_t *s) {
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

/* epoll_pwait2 takes a nanosecond timeout (timers need better than 1 ms); kernels
 * before 5.11 get epoll_wait. */
static int wait_events(bg_sched_t *s, struct epoll_event *evs, int64_t timeout_ns) {
  static int no_pwait2;
  if (!__atomic_load_n(&no_pwait2, __ATOMIC_RELAXED)) {
    struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
    int n = epoll_pwait2(s->epfd, evs, BG_MAX_EVENTS, timeout_ns < 0 ? NULL : &ts, NULL);
    if (n >= 0 || errno != ENOSYS) return n;
    __atomic_store_n(&no_pwait2, 1, __ATOMIC_RELAXED);
  }
  int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
  return epoll_wait(s->epfd, evs, BG_MAX_EVENTS, ms);
}

static void interrupt_sleepers(bg_sched_t *s) {
  for (bg_co_t *co = s->live_head; co; co = co->lnext)
    if (co->state == CO_SLEEP && co->intr) {
      bg__heap_remove(&s->timers, &co->timer);
      co->interrupted = 1;
      wake(s, co);
    }
}

/* ---- public API --------------------------------------------------------------------- */
BG_EXPORT bg_sched_t *bg__api_sched_new(size_t stack_size) {
  bg__co_global_init();
  bg_sched_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  size_t pg = page_size();
  if (stack_size == 0) stack_size = BG_DEFAULT_STACK;
  if (stack_size < BG_MIN_STACK) stack_size = BG_MIN_STACK;
  size_t block = (sizeof(bg_co_t) + 63) & ~(size_t)63;
  s->maplen = (pg + stack_size + block + pg - 1) & ~(pg - 1);
  s->stack_len = s->maplen - pg - block;
  s->owner = pthread_self();
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
  if (!pthread_equal(s->owner, pthread_self())) return errno = EPERM, -1;
  char *m = stack_get(s);
  if (!m) return -1;
  bg_co_t *co = co_of_map(s, m);
  memset(co, 0, sizeof *co);
  co->s = s;
  co->fn = fn;
  co->arg = arg;
  co->map = m;
  co->wfd = -1;
  co->timer.idx = -1;
#if defined(__SANITIZE_THREAD__)
  co->tsan_fiber = __tsan_create_fiber(0);
#endif
  bg__ctx_make(&co->ctx, m + page_size(), s->stack_len, co_main, co);
  co->lnext = s->live_head;
  if (s->live_head) s->live_head->lprev = co;
  s->live_head = co;
  s->live++;
  rq_push(s, co);
  return 0;
}

BG_EXPORT int bg__api_sched_tick(bg_sched_t *s, int timeout_ms) {
  if (!s) return errno = EINVAL, -1;
  if (!pthread_equal(s->owner, pthread_self())) return errno = EPERM, -1;
  if (tls_co || s->ticking) return errno = EDEADLK, -1; /* from inside a coroutine */
  if (s->live == 0) return 0;
  bg__thread_t *t = &bg__self;
  int se = errno;
  if (!s->marked) {
    s->marked = 1;
    bg__mark_loop_thread(NULL);
  }
  check_fork(s);
  s->ticking = 1;
#if defined(__SANITIZE_THREAD__)
  s->tsan_fiber = __tsan_get_current_fiber();
#endif
  t->depth++;
  int64_t timeout = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
  if (s->rq_head) {
    timeout = 0;
  } else {
    bg__timer_t *top = bg__heap_top(&s->timers);
    if (top) {
      uint64_t now = s->now(s->now_ud);
      int64_t d = top->deadline > now ? (int64_t)(top->deadline - now) : 0;
      if (timeout < 0 || d < timeout) timeout = d;
    }
  }
  /* Completions usually arrive within microseconds: spin briefly before sleeping. */
  if (timeout != 0 && s->jobs_out > 0 && bg__may_spin()) {
    uint64_t end = bg__now_ns() + BG_SPIN_NS;
    for (unsigned i = 1; !__atomic_load_n(&s->inbox.head, __ATOMIC_ACQUIRE); i++) {
      if ((i & 31) == 0 && bg__now_ns() >= end) break;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    if (__atomic_load_n(&s->inbox.head, __ATOMIC_ACQUIRE)) timeout = 0;
  }
  /* With coroutines runnable, a poll that cannot wait is a wasted system call most
   * of the time: it is made every BG_POLL_EVERY ticks (completions are still picked
   * up every tick, from the inbox list itself). */
  struct epoll_event evs[BG_MAX_EVENTS];
  int n = 0, inbox_ready = 0;
  if (!s->rq_head || ++s->unpolled >= BG_POLL_EVERY) {
    s->unpolled = 0;
    n = wait_events(s, evs, timeout);
    /* A signal handler ran on this thread: the sleep calls its coroutines made would
     * have been interrupted (EINTR) had they run here, so they are now. */
    if (n < 0 && errno == EINTR) interrupt_sleepers(s);
  }
  for (int i = 0; i < n; i++) {
    if (evs[i].data.ptr == &s->inbox) {
      inbox_ready = 1;
      continue;
    }
    bg_co_t *co = evs[i].data.ptr;
    if (co->state == CO_FDWAIT) {
      co->revents = evs[i].events;
      bg__heap_remove(&s->timers, &co->timer); /* ready wins over a timeout due now */
      wake(s, co);
    }
  }
  for (bg__job_t *j = bg__inbox_take(&s->inbox, inbox_ready), *next; j; j = next) {
    next = j->next;
    bg_co_t *co = j->co;
    __atomic_store_n(&j->delivered, 1, __ATOMIC_RELEASE);
    s->jobs_out--;
    wake(s, co);
  }
  if (bg__heap_top(&s->timers)) {
    uint64_t now = s->now(s->now_ud);
    for (bg__timer_t *tm; (tm = bg__heap_top(&s->timers)) && tm->deadline <= now;) {
      bg__heap_pop(&s->timers);
      bg_co_t *co = (bg_co_t *)((char *)tm - offsetof(bg_co_t, timer));
      co->timed_out = 1;
      wake(s, co);
    }
  }
  t->depth--;
  /* Run what is runnable now, once each: what they make runnable waits for the next
   * tick, so a coroutine that yields in a loop cannot starve the loop. */
  bg_co_t *last = s->rq_tail;
  for (bg_co_t *co; (co = rq_pop(s));) {
    run_co(s, co);
    if (co == last) break;
  }
  if (s->nfree > s->live + BG_STACK_KEEP && s->live > 0) {
    t->depth++;
    stacks_trim(s, BG_STACK_TRIM);
    t->depth--;
  }
  s->ticking = 0;
  errno = se;
  return s->live;
}

BG_EXPORT int bg__api_sched_run(bg_sched_t *s) {
  int n;
  while ((n = bg__api_sched_tick(s, -1)) > 0) {
  }
  return n < 0 ? -1 : 0;
}

BG_EXPORT void bg__api_sched_free(bg_sched_t *s) {
  if (!s || !pthread_equal(s->owner, pthread_self()) || s->ticking) return;
  int se = errno;
  bg__self.depth++;
  bg__workers_orphan(&s->inbox);
  for (bg_co_t *co = s->live_head, *next; co; co = next) {
    next = co->lnext;
#if defined(__SANITIZE_THREAD__)
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    /* A worker may still be writing the results of this coroutine's call into its
     * stack: that mapping is left in place (a bounded leak, never a use after free). */
    if (co->state == CO_JOBWAIT && co->job &&
        __atomic_load_n(&co->job->state, __ATOMIC_ACQUIRE) == BG_JOB_ORPHAN)
      continue;
    munmap(co->map, s->maplen);
  }
  stacks_trim(s, INT32_MAX);
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
  int e = errno;
  rq_push(co->s, co);
  co_out(co);
  errno = e;
  return 0;
}

BG_EXPORT void *bg__api_co_self(void) { return tls_co; }

int bg__co_sleep(bg_co_t *co, uint64_t ns, int interruptible, uint64_t *left) {
  bg_sched_t *s = co->s;
  uint64_t deadline = s->now(s->now_ud) + ns;
  co->timed_out = co->interrupted = 0;
  co->intr = interruptible;
  if (bg__heap_push(&s->timers, &co->timer, deadline) < 0) {
    /* No memory for the heap: yield until the deadline instead. */
    while (s->now(s->now_ud) < deadline) {
      rq_push(s, co);
      co_out(co);
    }
    return 0;
  }
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
  co_out(co);
  bg__heap_remove(&s->timers, &co->timer);
  uint32_t rev = co->timed_out ? 0 : co->revents;
  bg__self.depth++;
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
  bg__self.depth--;
  co->wfd = -1;
  errno = e;
  return (int)rev;
}
