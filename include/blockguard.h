/* blockguard.h - public API of blockguard, the blocking-call guard.
 *
 * Every function here is safe to call whether or not libblockguard.so is loaded: the
 * inline wrappers look the implementation up once with dlsym(RTLD_DEFAULT) and do
 * nothing (returning the documented "not loaded" value) when it is absent.  So a
 * program can mark its event-loop thread or allow a blocking region unconditionally,
 * and pay nothing when it runs without the shim.  Link with nothing extra (glibc >= 2.34
 * has dlsym in libc; older glibc needs -ldl).
 *
 *   bg_thread_guard(1)         this thread must not block (0: stop guarding it)
 *   bg_allow_begin()/_end()    calls inside this (nestable) scope may block
 *   bg_violations()            violations recorded so far in this process
 *
 * Coroutine runtime (docs/offload.md): with mode=offload, a blocking call made inside
 * a coroutine runs on a worker thread while the other coroutines keep running.
 *
 *   bg_sched_new(stack)        a scheduler for the calling thread (stack 0: 256 KiB)
 *   bg_co_spawn(s, fn, arg)    a coroutine running fn(arg)
 *   bg_sched_run(s)            run until every coroutine has returned
 *   bg_sched_tick(s, ms)       one step (tests): returns the live coroutine count
 *   bg_co_yield()              let the others run
 *   bg_co_sleep_ns(ns)         sleep this coroutine only
 *   bg_co_wait_fd(fd, ev, ms)  wait for POLLIN/POLLOUT on fd, this coroutine only
 *   bg_co_offload(fn, arg)     run fn(arg) on a worker thread, this coroutine waits
 *   bg_adapter_install(&a)     plug another coroutine runtime in (blockguard_st.h)
 *
 * The runtime lives in libblockguard.so: preload it (or link -lblockguard).  Without it
 * bg_sched_new returns NULL (errno ENOSYS); bg_co_sleep_ns, bg_co_wait_fd and
 * bg_co_offload then simply block the calling thread, as outside a coroutine.
 */
#ifndef BLOCKGUARD_H
#define BLOCKGUARD_H

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Looks up an exported implementation symbol once per call site; NULL when the
 * library is not loaded.  A benign race: every thread stores the same value. */
#define BG__RESOLVE(type, sym)                                                         \
  ({                                                                                 \
    static void *bg__p;                                                              \
    static int bg__done;                                                             \
    if (!__atomic_load_n(&bg__done, __ATOMIC_ACQUIRE)) {                             \
      __atomic_store_n(&bg__p, dlsym(RTLD_DEFAULT, sym), __ATOMIC_RELAXED);          \
      __atomic_store_n(&bg__done, 1, __ATOMIC_RELEASE);                              \
    }                                                                                \
    (type)__atomic_load_n(&bg__p, __ATOMIC_RELAXED);                                 \
  })

/* Marks (on=1) or unmarks (on=0) the calling thread as guarded.  Returns the previous
 * state (0/1), or -1 when blockguard is not loaded. */
static inline int bg_thread_guard(int on) {
  int (*f)(int) = BG__RESOLVE(int (*)(int), "bg__api_thread_guard");
  return f ? f(on) : -1;
}

/* Opens a scope in which blocking calls on this thread are allowed (recorded as
 * allowed, never acted on).  Scopes nest; each begin needs one end. */
static inline void bg_allow_begin(void) {
  void (*f)(void) = BG__RESOLVE(void (*)(void), "bg__api_allow_begin");
  if (f) f();
}

static inline void bg_allow_end(void) {
  void (*f)(void) = BG__RESOLVE(void (*)(void), "bg__api_allow_end");
  if (f) f();
}

/* Number of violations (not counting allowed calls) recorded so far; 0 when the
 * library is not loaded. */
static inline uint64_t bg_violations(void) {
  uint64_t (*f)(void) = BG__RESOLVE(uint64_t (*)(void), "bg__api_violations");
  return f ? f() : 0;
}

/* ---- coroutine runtime ------------------------------------------------------------ */
typedef struct bg_sched bg_sched_t;

/* A scheduler owned by the calling thread; its coroutines only ever run there.
 * stack_size 0 → 256 KiB (virtual; only touched pages cost memory), plus a guard page.
 * NULL with errno on failure (ENOSYS: the library is not loaded). */
static inline bg_sched_t *bg_sched_new(size_t stack_size) {
  bg_sched_t *(*f)(size_t) = BG__RESOLVE(bg_sched_t * (*)(size_t), "bg__api_sched_new");
  if (!f) return errno = ENOSYS, (bg_sched_t *)0;
  return f(stack_size);
}

/* Runs until no coroutine is left.  0, or -1 with errno. */
static inline int bg_sched_run(bg_sched_t *s) {
  int (*f)(bg_sched_t *) = BG__RESOLVE(int (*)(bg_sched_t *), "bg__api_sched_run");
  return f ? f(s) : (errno = ENOSYS, -1);
}

/* One step: waits up to timeout_ms (-1: until something happens, 0: not at all) for fd
 * readiness, completed offloaded calls and timers, then runs each coroutine that is
 * runnable at that point once.  Returns the number of coroutines still alive, or -1. */
static inline int bg_sched_tick(bg_sched_t *s, int timeout_ms) {
  int (*f)(bg_sched_t *, int) = BG__RESOLVE(int (*)(bg_sched_t *, int), "bg__api_sched_tick");
  return f ? f(s, timeout_ms) : (errno = ENOSYS, -1);
}

/* Frees the scheduler and the stacks of coroutines that did not finish (call it on the
 * owner thread, outside bg_sched_run). */
static inline void bg_sched_free(bg_sched_t *s) {
  void (*f)(bg_sched_t *) = BG__RESOLVE(void (*)(bg_sched_t *), "bg__api_sched_free");
  if (f) f(s);
}

/* Starts fn(arg) as a coroutine of s (runs at the next tick).  0, or -1 with errno. */
static inline int bg_co_spawn(bg_sched_t *s, void (*fn)(void *), void *arg) {
  int (*f)(bg_sched_t *, void (*)(void *), void *) =
      BG__RESOLVE(int (*)(bg_sched_t *, void (*)(void *), void *), "bg__api_co_spawn");
  return f ? f(s, fn, arg) : (errno = ENOSYS, -1);
}

/* Lets the other runnable coroutines run.  -1 (EPERM) outside a coroutine. */
static inline int bg_co_yield(void) {
  int (*f)(void) = BG__RESOLVE(int (*)(void), "bg__api_co_yield");
  return f ? f() : (errno = EPERM, -1);
}

/* The running coroutine, NULL outside one. */
static inline void *bg_co_self(void) {
  void *(*f)(void) = BG__RESOLVE(void *(*)(void), "bg__api_co_self");
  return f ? f() : (void *)0;
}

/* Sleeps the calling coroutine (the thread, outside a coroutine). */
static inline int bg_co_sleep_ns(uint64_t ns) {
  int (*f)(uint64_t) = BG__RESOLVE(int (*)(uint64_t), "bg__api_co_sleep_ns");
  if (f) return f(ns);
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
  return 0;
}

/* Waits until fd is ready for `events` (POLLIN, POLLOUT) or timeout_ms passes (-1:
 * no timeout).  Returns the poll revents, 0 on timeout, -1 with errno (EEXIST: another
 * coroutine waits on the same fd).  Outside a coroutine it is poll(). */
static inline int bg_co_wait_fd(int fd, int events, int timeout_ms) {
  int (*f)(int, int, int) = BG__RESOLVE(int (*)(int, int, int), "bg__api_co_wait_fd");
  if (f) return f(fd, events, timeout_ms);
  struct pollfd p = {fd, (short)events, 0};
  int r = poll(&p, 1, timeout_ms);
  return r > 0 ? p.revents : r;
}

/* Runs fn(arg) on a worker thread while the calling coroutine waits (outside a
 * coroutine: right here).  errno after the call is what fn left.  0, or -1 with errno
 * ECANCELED when it never ran (process exiting). */
static inline int bg_co_offload(void (*fn)(void *), void *arg) {
  int (*f)(void (*)(void *), void *) =
      BG__RESOLVE(int (*)(void (*)(void *), void *), "bg__api_co_offload");
  if (f) return f(fn, arg);
  fn(arg);
  return 0;
}

/* ---- adapters: another coroutine runtime on this thread ---------------------------- */
/* A runtime describes its coroutines with three functions; blockguard then offloads the
 * blocking calls its coroutines make (mode=offload) exactly as for bg_sched:
 *   current(ud)       the running coroutine (any non-NULL handle), NULL when the code
 *                     runs outside a coroutine (the runtime's scheduler itself)
 *   suspend(ud, co)   park the running coroutine co until resume(ud, co); may return
 *                     early (blockguard loops until the call completed)
 *   resume(ud, co)    make co runnable; called only from bg_adapter_poll(), on the
 *                     runtime's thread
 *   sleep(ud, ns)     optional: park the running coroutine for ns (sleep-family calls
 *                     become this instead of occupying a worker)
 *   runtime_text      optional: any address in the runtime's code; the poll/select/
 *                     epoll waits it makes are its event loop, never violations
 * bg_adapter_install returns an fd: when it is readable, call bg_adapter_poll() on the
 * same thread (it resumes the coroutines whose calls completed). */
typedef struct bg_adapter {
  size_t size; /* sizeof(bg_adapter_t) */
  void *ud;
  void *(*current)(void *ud);
  void (*suspend)(void *ud, void *co);
  void (*resume)(void *ud, void *co);
  void (*sleep)(void *ud, uint64_t ns);
  const void *runtime_text;
} bg_adapter_t;

static inline int bg_adapter_install(const bg_adapter_t *a) {
  int (*f)(const bg_adapter_t *) =
      BG__RESOLVE(int (*)(const bg_adapter_t *), "bg__api_adapter_install");
  return f ? f(a) : (errno = ENOSYS, -1);
}

/* Resumes the coroutines whose offloaded calls completed; returns how many. */
static inline int bg_adapter_poll(void) {
  int (*f)(void) = BG__RESOLVE(int (*)(void), "bg__api_adapter_poll");
  return f ? f() : (errno = ENOSYS, -1);
}

/* Uninstalls this thread's adapter (-1 EBUSY while calls are in flight). */
static inline int bg_adapter_remove(void) {
  int (*f)(void) = BG__RESOLVE(int (*)(void), "bg__api_adapter_remove");
  return f ? f() : (errno = ENOSYS, -1);
}

/* Offload counters (benchmarks, tests). */
struct bg_offload_stats {
  uint64_t jobs;             /* calls run by workers */
  uint64_t timers;           /* sleep-family calls turned into timers */
  uint64_t cancelled;        /* queued calls cancelled (exit, fork child) */
  uint64_t abandoned;        /* workers left blocked at exit */
  uint64_t overflow_spawned; /* workers started beyond `workers` to avoid deadlock */
  unsigned workers, workers_peak, busy;
  uint64_t ring_ops;         /* calls made through io_uring instead (docs/offload.md) */
};

static inline int bg_offload_stats(struct bg_offload_stats *st) {
  int (*f)(struct bg_offload_stats *, size_t) =
      BG__RESOLVE(int (*)(struct bg_offload_stats *, size_t), "bg__api_offload_stats");
  return f ? f(st, sizeof *st) : (errno = ENOSYS, -1);
}

#ifdef __cplusplus
}
#endif
#endif /* BLOCKGUARD_H */
