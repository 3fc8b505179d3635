/* guard.h - the core's interface to the shim (preload/) and to the CLI and tests.
 *
 * The shim's wrappers are mechanism only: on the fast path they load one TLS byte
 * (bg__self.guarded) and call the real function.  Only on a guarded thread do they ask
 * the core for a verdict and act on it through one macro, BG_VERDICT (below; every
 * wrapper: preload/wrappers.c, preload/preload.h's BG_RUN, syscall(); `make expand`
 * shows them expanded):
 *
 *     bg__call_t c;
 *     int v = bg__enter_any(&c, id, category, exempt, caller);
 *     BG_VERDICT(v, &c, r = real(...), r = fail, r = bg__off_NAME(&c, ...); break;);
 *     return r;
 *
 * bg__enter and bg__leave never change errno.  While the core runs, bg__self.depth > 0
 * so that anything the core itself calls (stdio for a warning, a report written at
 * exit, a signal handler interrupting us) passes straight through the wrappers: the
 * core never recurses into itself and never takes a lock it already holds.
 */
#ifndef BG_GUARD_H
#define BG_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define BG_HIDDEN __attribute__((visibility("hidden")))
#define BG_EXPORT __attribute__((visibility("default")))
#define BG_LIKELY(x) __builtin_expect(!!(x), 1)
#define BG_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- categories (DESIGN.md vocabulary); order is the bit order in masks ---------- */
#define BG_CATEGORIES(X)                                                               \
  X(sleep) X(io) X(file) X(connect) X(accept) X(wait) X(dns) X(proc) X(sync) X(disk)   \
  X(stdio) X(stall)
enum {
#define BG__CAT_ENUM(n) BG_CAT_##n,
  BG_CATEGORIES(BG__CAT_ENUM)
#undef BG__CAT_ENUM
  BG_CAT_COUNT
};
const char *bg__category_name(int cat);
int bg__category_parse(const char *s, size_t n); /* -1 when unknown */

/* ---- actions ---------------------------------------------------------------------- */
enum { BG_ACT_REPORT, BG_ACT_WARN, BG_ACT_RAISE, BG_ACT_ABORT, BG_ACT_OFFLOAD, BG_ACT_OFF };
const char *bg__action_name(int act);
int bg__action_parse(const char *s, size_t n); /* -1 when unknown */

/* ---- why a thread is guarded ------------------------------------------------------ */
enum { BG_WHY_NONE, BG_WHY_MAIN, BG_WHY_NAME, BG_WHY_AUTO, BG_WHY_API, BG_WHY_ALL };
const char *bg__why_name(int why);

/* ---- per-thread state: initial-exec TLS, zero-initialised = unguarded ------------- */
enum { BG_ROLE_MAIN = 1, BG_ROLE_NAME = 2, BG_ROLE_LOOP = 4, BG_ROLE_ALL = 8 };
typedef struct bg__thread {
  union {
    struct {
      volatile uint8_t guarded; /* the fast-path flag: nonzero → ask the core */
      volatile uint8_t watch;   /* readiness-wait rows: feed this thread's timed waits to
                                   loop detection; 1 (TLS image) until the thread learns
                                   that mode=off; 2 on a loop thread: all its waits */
    };
    volatile uint16_t ask; /* guarded|watch in one load: the fast path of wait rows */
  };
  uint8_t why;              /* BG_WHY_* of the current guard */
  uint8_t api;              /* 0: no API decision, 1: guarded by API, 2: unguarded by API */
  uint8_t roles;            /* BG_ROLE_* this thread has, whatever threads= selects */
  uint32_t depth;           /* > 0 while inside the core: wrappers pass through */
  uint32_t allow;           /* bg_allow_begin() nesting */
  int32_t slot;             /* index in the thread table, -1 = not registered */
  /* Event loop (guard/loop.c): the fd that identifies this thread's loop (its epoll
   * instance, or the eventfd its poll/select set waits on), -1 = none. */
  int32_t loop_fd;
  uint8_t loop_closed;      /* loop_fd was closed on this thread (set by the closer) */
  uint8_t loop_marked;      /* a coroutine runtime declared the loop (guard/offload.c):
                               the role does not depend on loop_fd */
  uint8_t loop_foreign;     /* consecutive loop waits on another loop's fd */
  uint32_t loop_sigs;       /* stall-timer signals handled by this thread (a count) */
  uint32_t loop_slices;     /* coroutine switches (guard/sched.c): progress for stalls */
  volatile uint8_t loop_stalled; /* the stall detector caught a coroutine: record it */
  uintptr_t loop_lo, loop_hi; /* waits called from this text (a coroutine runtime
                                 that installed an adapter) are the loop's own */
  struct bg__ledger_thread *rec;  /* this thread's record in the ledger (slot), or NULL */
} bg__thread_t;

extern __thread bg__thread_t bg__self __attribute__((tls_model("initial-exec")));
/* &bg__self, for code that keeps a pointer to it.  Through an empty asm so the compiler
 * treats the address as a plain value: GCC null-checks the address of an extern TLS
 * object under -fsanitize=null using the flags of its `add %fs:0,%reg`, and in an
 * executable (the unit tests link the core's objects) ld relaxes that add into a `lea`,
 * which sets no flags - the check then reads stale flags and reports a null pointer
 * that is not (UBSan, test_concurrency, once bg__self moved to guard/base.c).  In the
 * shared library nothing is relaxed and this costs nothing either way. */
static inline bg__thread_t *bg__self_ptr(void) {
  bg__thread_t *t = &bg__self;
  __asm__("" : "+r"(t));
  return t;
}

/* Frames of a captured stack (a site's key, a language merge). */
#define BG_MAX_FRAMES 64

/* ---- verdicts --------------------------------------------------------------------- */
enum { BG_PASS, BG_GO, BG_RAISE, BG_OFFLOAD };

typedef struct bg__call {
  int id;             /* row of the call table */
  int category;       /* BG_CAT_* after fd classification */
  int action;         /* BG_ACT_* chosen for this call */
  int allowed;        /* inside an allow scope or an allow rule */
  uint64_t t0;        /* monotonic ns at the start of the real call */
  struct bg__site *site;
  uintptr_t caller;   /* return address into the program */
  uint32_t prev_site, prev_call; /* the thread's call in flight before this one (a */
  uint64_t prev_t0, prev_frame;  /* signal handler's call nests inside another) */
} bg__call_t;

/* Flags of a call-table row (preload/calls.def). */
#define BG_F_FD 0x1u      /* first argument is an fd: io vs file by fd type, O_NONBLOCK */
#define BG_F_LOOP 0x2u    /* a readiness wait (WAITSET category column): loop detection
                             watches it; set from the column, never written in a row */
#define BG_F_WRITE 0x4u   /* writes to its fd: stderr/stdout exemption applies */

/* How a row runs when the action is offload: the offload column of preload/calls.def
 * (docs/offload.md).  NEVER: in place, recorded as report; THREAD: on a worker; TIMER:
 * a timer of the coroutine's scheduler (sleeps); URING: through the scheduler's
 * io_uring where the kernel and the arguments allow it, else on a worker. */
enum { BG_OFF_NEVER, BG_OFF_THREAD, BG_OFF_TIMER, BG_OFF_URING };

/* Call-table metadata the core needs, filled by the shim at start-up so guard/ does
 * not depend on preload/ (names for reports, base categories, offload policy). */
typedef struct bg__callinfo {
  const char *name;
  int category;
  unsigned flags;
  int offload; /* BG_OFF_* */
} bg__callinfo_t;
void bg__set_calltable(const bg__callinfo_t *rows, int n);
const bg__callinfo_t *bg__callinfo(int id);
int bg__ncalls(void);
/* The "call" of a stall site (category stall, guard/loop.c): one id past the table. */
int bg__stall_call_id(void);
/* A stall (an event-loop iteration that ran stall_ms on CPU) whose stack was captured:
 * finds its site and acts on it as bg__enter acts on a blocking call (rules, allowed,
 * report/warn/abort; raise and offload have no call to act on: report).  `ns` is how
 * long the iteration ran.  Set by guard/core.c at init (guard/loop.c, which calls it,
 * sits below the core); NULL before. */
extern void (*bg__stall_record)(const uintptr_t *pcs, int n, uint64_t ns);

/* Decides what a wrapped call on a guarded thread must do.  `exempt` is the row's
 * argument-based exemption (O_NONBLOCK fd, zero timeout...).  `caller` is the
 * wrapper's return address (for loop detection and the summary). */
int bg__enter(bg__call_t *c, int id, int category, int exempt, uintptr_t caller);
/* A call bg__enter answered BG_GO for (or offloaded: guard/offload.c) has returned:
 * counts it by the counting rule (guard/core.c) and records its blocked time. */
void bg__leave(bg__call_t *c);
/* bg__enter as the wrappers call it: for a call made by a bg coroutine the verdict is
 * made on the scheduler thread's stack (guard/sched.c), so the stack capture and the
 * symbolization behind it never grow the coroutine's stack. */
extern __thread struct bg_co *bg__co_tls __attribute__((tls_model("initial-exec"))) BG_HIDDEN;
int bg__enter_off_stack(bg__call_t *c, int id, int category, int exempt, uintptr_t caller);
static inline int bg__enter_any(bg__call_t *c, int id, int category, int exempt,
                                uintptr_t caller) {
  if (BG_UNLIKELY(bg__co_tls != NULL)) return bg__enter_off_stack(c, id, category, exempt, caller);
  return bg__enter(c, id, category, exempt, caller);
}
/* The one verdict path: what each answer of bg__enter means for a wrapper, written
 * once for every wrapper (as musl funnels every cancellable call through
 * __syscall_cp_c).  `make` is a statement making the real call (and keeping its
 * value), `fail` the statement that gives the row's failure value.
 *   BG_PASS     not a violation: the call is made, unmeasured;
 *   BG_RAISE    not made: errno = EDEADLK, then `fail`;
 *   BG_OFFLOAD  `offload`, statements ending in break or return: a worker (or the
 *               scheduler) makes the call and sets errno.  Empty for rows that have
 *               no offload branch (the core never offloads them: their offload
 *               column is never), which then fall through to BG_GO;
 *   BG_GO       the call is made and measured: bg__leave counts it (guard/core.c,
 *               the counting rule) and keeps errno. */
#define BG_VERDICT(verdict, c, make, fail, offload)                                      \
  switch (verdict) {                                                                     \
  case BG_PASS:                                                                          \
    make;                                                                                \
    break;                                                                               \
  case BG_RAISE:                                                                         \
    errno = EDEADLK;                                                                     \
    fail;                                                                                \
    break;                                                                               \
  case BG_OFFLOAD:                                                                       \
    offload                                                                              \
  default:                                                                               \
    make;                                                                                \
    bg__leave(c);                                                                        \
    break;                                                                               \
  }

/* ---- event loops (guard/loop.c; docs/design.md "Event loops") -------------------- */
/* What a readiness wait waits on: the WAITSET(kind, set, n) category column of
 * preload/calls.def names it.  poll: set = struct pollfd *, n = nfds; select: set =
 * the read fd_set *, n = nfds; epoll: set = the epoll fd. */
enum { BG_WS_poll = 1, BG_WS_select, BG_WS_epoll };
/* A wait row with a non-zero timeout is about to wait.  Updates the thread's loop
 * role (this wait may start a loop, or show that the thread's loop is over) and
 * returns 1 when it is the thread's loop wait: its yield point, never a violation.
 * Runs on any thread while threads=auto (that is how unguarded loop threads become
 * guarded), and on every guarded thread. */
int bg__loop_wait_seen(int kind, uintptr_t set, uintptr_t n, uintptr_t caller);
/* The loop wait bg__loop_wait_seen answered 1 for has returned: an iteration starts
 * (loop health, guard/loop.c).  Keeps errno. */
void bg__loop_woke(void);
/* A loop wait returned -1/EINTR: 1 when the stall timer's signal interrupted it (the
 * count moved since *snap) - the wrapper then waits again: the program never sees an
 * EINTR of ours.  *snap is updated. */
static inline int bg__loop_eintr_ours(int failed, uint32_t *snap) {
  if (!failed || bg__self.loop_sigs == *snap) return 0;
  *snap = bg__self.loop_sigs;
  return 1;
}

/* ---- stall detector (guard/loop.c; docs/loop-health.md) -------------------------- */
extern int bg__stall_sig; /* the real-time signal of the stall timers, 0: none */
/* sigaction on bg__stall_sig by the program: a query answers with the disposition the
 * program would see without us; setting a handler makes the detector give up first. */
struct sigaction;
int bg__stall_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* signal()/sysv_signal()/sigset() on it: gives up; *old gets what the program set before
 * (or SIG_DFL), for the wrapper's return value. */
void bg__stall_give_up_for(int sig, void (**old)(int));
void bg__stall_mask_changed(void);  /* pthread_sigmask/sigprocmask returned */
void bg__loop_stall_disarm(void);   /* this thread's stall timer goes (loop or thread end) */
/* For a runtime whose loop wait the shim does not see (guard/sched.c): the thread was
 * declared a loop thread (loop health and the stall detector start), its wait is about
 * to start (bg__loop_woke when it returns), a coroutine stall caught by the detector is
 * to be recorded (off the coroutine's stack). */
void bg__loop_declared(void);
/* Marks the calling thread an event-loop thread (guarded under threads=auto) for such a
 * runtime (bg_sched, an adapter), and declares its loop (bg__loop_declared); waits
 * called from the text of the object holding runtime_text (NULL: none) are the loop's
 * own.  Here, not in thread.c: it starts the loop's health, and thread.c stays below
 * loop.c. */
void bg__mark_loop_thread(const void *runtime_text);
void bg__loop_runtime_wait(void);
void bg__loop_slice_stalled(void);
/* 1 when the loop that made this thread a loop thread has ended since (its fd was
 * closed, possibly by another thread); the role is dropped on the way. */
int bg__loop_gone(bg__thread_t *t);
/* fds lo..hi stop naming what they named (close, dup2 over one, close_range...):
 * guard/fdcache.c calls this (through bg__loop_fd_check for one fd) so a loop
 * identified by one of them ends.  Async-signal-safe. */
void bg__loop_fds_closed(unsigned lo, unsigned hi);
static inline void bg__loop_fd_check(int fd);
void bg__loops_after_fork(void);
/* Readiness waits go to loop detection on every thread (not with mode=off): loop health
 * covers every event loop, threads=auto decides which loop threads are guarded. */
extern int bg__loops_watched;

/* ---- fd knowledge (guard/fdcache.c; docs/exemptions.md) --------------------------- */
/* 1 when a call on fd cannot block: the fd is invalid (the call fails at once), or it
 * has O_NONBLOCK and is not a regular file / block device (where the flag is ignored). */
static inline int bg__fd_nonblock(int fd);
int bg__fd_oflag_nonblock(int fd);         /* O_NONBLOCK set (or invalid fd), any type */
int bg__fd_is_pipe(int fd);                /* FIFO or pipe */
int bg__fd_is_tty(int fd);                 /* a terminal (stdio line-buffers it) */
int bg__fd_thread_bound(int fd);           /* reads depend on the calling thread (signalfd) */
int bg__fd_is_eventfd(int fd);             /* an eventfd (a loop's doorbell) */
void bg__fd_created_eventfd(int fd, int nonblock); /* eventfd(): kind known at birth */
int bg__fd_invalid(int fd);                /* F_GETFL fails: any call fails at once */
static inline int bg__fd_category(int fd, int fallback); /* BG_CAT_file for regular
                                                           files / block devices */
int bg__fd_write_exempt(int fd);           /* writes to this fd never count (stderr...) */
void bg__fd_forget(int fd);                /* fd closed or replaced */
void bg__fd_forget_range(unsigned lo, unsigned hi); /* close_range, closefrom */
void bg__fd_created(int fd, int nonblock); /* new fd, flags known (socket, pipe2...) */
void bg__fd_flags_changed(int fd, int nonblock); /* F_SETFL, FIONBIO (+ sharers) */
void bg__fd_dup(int oldfd, int newfd);     /* newfd shares oldfd's open file description */
void bg__fd_forget_all(void);
/* The two questions every fd call on a guarded thread asks (the exempt test and the
 * category) are answered inline when the cache already holds the positive facts
 * (docs/performance.md: an out-of-line pair cost ~60 instructions per exempt call);
 * anything else goes to fdcache.c, which probes. */
#define BG_FD_TABLE 65536
enum {
  BG_FD_NB = 1,         /* O_NONBLOCK seen set and not cleared since */
  BG_FD_KIND_KNOWN = 2, /* the kind bits below are valid */
  BG_FD_FILE = 4,       /* regular file or block device */
  BG_FD_TTY = 8,
  BG_FD_PIPE = 16,      /* FIFO / pipe */
  BG_FD_SHARED = 32,    /* open file description shared with another fd (dup) */
  BG_FD_THREAD = 64,    /* what it reads depends on the calling thread (signalfd) */
  BG_FD_QUIET = 128,    /* a file the shim made a runtime write (node's perf map,
                           guard/perfmap.c): its writes are never violations */
  BG_FD_EVENTFD = 256,  /* an eventfd (an event loop's doorbell, guard/loop.c) */
  BG_FD_BLOCK = 512,    /* O_NONBLOCK seen clear at a tracked creation or change, and not
                           set since (guard/fdcache.c) */
};
typedef uint16_t bg__fdinfo_t; /* the BG_FD_* bits of one fd */
extern bg__fdinfo_t bg__fdinfo[BG_FD_TABLE] BG_HIDDEN;
/* Loop identities (guard/loop.c): one bit per fd below BG_FD_TABLE, set while the fd
 * identifies some thread's event loop; bg__loop_fd_high: one is at or above it.  The
 * test on every close is one load. */
extern uint8_t bg__loop_fdbits[BG_FD_TABLE / 8] BG_HIDDEN;
extern int bg__loop_fd_high BG_HIDDEN;
static inline void bg__loop_fd_check(int fd) {
  if (BG_LIKELY((unsigned)fd < BG_FD_TABLE)) {
    if (BG_UNLIKELY(__atomic_load_n(&bg__loop_fdbits[fd >> 3], __ATOMIC_RELAXED) >> (fd & 7) & 1))
      bg__loop_fds_closed((unsigned)fd, (unsigned)fd);
  } else if (fd >= 0 && __atomic_load_n(&bg__loop_fd_high, __ATOMIC_RELAXED)) {
    bg__loop_fds_closed((unsigned)fd, (unsigned)fd);
  }
}
int bg__fd_nonblock_slow(int fd);
int bg__fd_category_slow(int fd, int fallback);
/* 1 when the cache already knows fd cannot block (no probe; 0 means "ask"). */
static inline int bg__fd_nonblock_known(int fd) {
  if (BG_LIKELY((unsigned)fd < BG_FD_TABLE)) {
    bg__fdinfo_t v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
    return (v & (BG_FD_NB | BG_FD_KIND_KNOWN | BG_FD_FILE)) == (BG_FD_NB | BG_FD_KIND_KNOWN);
  }
  return 0;
}
/* Both facts inline: known non-blocking (a socket with O_NONBLOCK) answers 1 and known
 * blocking answers 0 without a system call; anything else is probed once. */
static inline int bg__fd_nonblock(int fd) {
  if (BG_LIKELY((unsigned)fd < BG_FD_TABLE)) {
    unsigned v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
    if ((v & (BG_FD_NB | BG_FD_KIND_KNOWN | BG_FD_FILE)) == (BG_FD_NB | BG_FD_KIND_KNOWN)) return 1;
    if (v & BG_FD_BLOCK) return 0;
  }
  return bg__fd_nonblock_slow(fd);
}
/* A call on fd failed with err: EAGAIN cannot come from a blocking fd (another process
 * sharing the description set O_NONBLOCK), EBADF means it is not the fd we knew. */
void bg__fd_failed(int fd, int err);
static inline int bg__fd_category(int fd, int fallback) {
  if (BG_LIKELY((unsigned)fd < BG_FD_TABLE)) {
    bg__fdinfo_t v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
    if (v & BG_FD_KIND_KNOWN) return (v & BG_FD_FILE) ? BG_CAT_file : fallback;
  }
  return bg__fd_category_slow(fd, fallback);
}

/* ---- libunwind's validation pipe, emulated without fds (guard/unwind_io.c) --------- */
extern __thread int bg__unwinding __attribute__((tls_model("initial-exec")));
#define BG_UNW_FD_R (-1000) /* fake fds libunwind gets from pipe2 in bg__unwinding scope */
#define BG_UNW_FD_W (-1001)
static inline int bg__unw_fake_fd(int fd) { return fd == BG_UNW_FD_R || fd == BG_UNW_FD_W; }
int bg__unw_pipe(int fds[2]);
long bg__unw_read(int fd, void *buf, size_t n);
long bg__unw_write(int fd, const void *buf, size_t n);
/* libunwind itself, dlopen'ed when a thread is first guarded (guard/unwind_lib.c). */
void bg__unw_load(void);
void bg__unw_atfork_prepare(void); /* a fork waits for a load in progress */
void bg__unw_atfork_parent(void);
void bg__unw_atfork_child(void);
extern int (*bg__unw_backtrace_fn)(void **, int) BG_HIDDEN;
/* unw_backtrace, whose first frame is the function this is inlined into; -1 when
 * libunwind is not loaded. */
static inline __attribute__((always_inline)) int bg__unw_backtrace(void **buf, int n) {
  int (*bt)(void **, int) = __atomic_load_n(&bg__unw_backtrace_fn, __ATOMIC_ACQUIRE);
  return bt ? bt(buf, n) : -1;
}

/* ---- the shim's own dl lookups (guard/dl.c) ---------------------------------------- */
/* dlsym/dlopen that, on failure, leave the thread's dlerror state as "no error". */
void *bg__dlsym_quiet(void *handle, const char *name);
void *bg__dlopen_quiet(const char *path, int flags);

/* ---- threads (guard/thread.c) ------------------------------------------------------ */
void bg__thread_name_changed(const char *name); /* calling thread's name is now `name` */
void bg__thread_start(void);                    /* a new thread begins (pthread_create) */
/* A thread created from inside the core (creator's depth > 0: the dashboard server,
 * workers) begins: never guarded, never registered, its wrapped calls pass through. */
void bg__thread_start_sidecar(void);
int bg__thread_needs_start_hook(void);          /* must pthread_create wrap start routines? */
void bg__thread_name_changed_other(unsigned long pthread_id, const char *name);
void bg__thread_refresh(bg__thread_t *t);       /* recompute guarded from roles + options */
const char *bg__thread_name_of_slot(int slot);
/* The ledger record of a registered thread (guard/ledger.h), NULL for slot -1. */
struct bg__ledger_thread *bg__thread_record(int slot);
void bg__threads_after_fork(void);
void bg__thread_guard_main(void);               /* called on the main thread at start */
int bg__thread_register(void);                  /* ensure bg__self has a table slot */

/* Public API implementations (exported; include/blockguard.h resolves them). */
int bg__api_thread_guard(int on);
void bg__api_allow_begin(void);
void bg__api_allow_end(void);
uint64_t bg__api_violations(void);

/* ---- lifecycle (guard/core.c) ------------------------------------------------------ */
/* Parses options and prepares the core; returns 0, or -1 after printing the error
 * (the shim then exits 2 when strict=1). */
int bg__core_init(const char *options, const char *source);
void bg__core_set_argv(int argc, char **argv); /* before bg__core_init, for the ledger */
void bg__core_fini(void);                   /* at exit: summary, reports */
void bg__core_atfork_prepare(void);
void bg__core_atfork_parent(void);
void bg__core_atfork_child(void);
int bg__core_ready(void);
void bg__core_exiting(int code);           /* exit(code) called (on_exit) */
void bg__core_fast_exit(int code);         /* from _exit/_Exit/quick_exit */
void bg__core_exec(const char *path, char *const envp[]); /* before execve and friends */
void bg__core_exec_failed(void);           /* ... which returned */
/* report= file and state file (guard/report_file.c) */
void bg__report_write(void);               /* final report, atomically */
void bg__report_exec(void);                /* before exec: drop an empty state file */
int bg__report_path(const char *pattern, char *out, size_t n); /* %p → pid */
int bg__report_state_prefix(char *out, size_t n); /* PATH.PID; async-signal-safe */
uint64_t bg__violations_total(void);       /* violations not allowed, this process */
void bg__at_core_exit(void (*fn)(void));   /* run (last registered first) at exit */
/* Live dashboard (guard/http_live.c): starts the server when http= is set.  0, or -1
 * after printing a configuration error (treated like a bad option). */
int bg__http_live_start(void);
const char *bg__http_live_url(void);       /* URL served by this process, NULL if none */
/* push= (guard/push.c): starts the push thread; errors are messages, never fatal. */
void bg__push_start(void);
/* Set by guard/offload: returns 1 when the call in c will be run by a worker. */
extern int (*bg__offload_hook)(bg__call_t *c);

/* ---- base (guard/base.c): depends on nothing else in guard/ ------------------------- */
uint64_t bg__now_ns(void);                 /* CLOCK_MONOTONIC */
uint64_t bg__wall_ns(void);                /* CLOCK_REALTIME */
uint64_t bg__started_ns(void);             /* wall clock at bg__core_init */
extern int bg__ready BG_HIDDEN;            /* bg__core_init is done (set by core.c) */
extern uint64_t bg__started_wall BG_HIDDEN; /* (set by core.c) */
void bg__run_exit_hooks(void);             /* bg__at_core_exit's, last registered first */
/* Messages go to sink (the CLI's ledger ring: guard/collect.c) while it is set. */
void bg__msg_sink(void (*sink)(const char *text, size_t len));
/* Writes a message where bg__msg would; summary: the exit summary (only to a
 * terminal when log_path is auto).  text has no newline. */
void bg__emit(const char *text, size_t len, int summary);

/* Address range [lo, hi) covered by the PT_LOAD segments of a loaded object
 * (guard/names.c); info is a struct dl_phdr_info from dl_iterate_phdr. */
struct dl_phdr_info;
void bg__object_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi);

/* A message (prefix "blockguard: "): to the CLI, or where log_path says (base.c). */
void bg__msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the CLI (guard/collect.c) ------------------------------------------------------ */
void bg__collect_setup(const char *collect);     /* collect=NAME: ledgers go to the CLI */
void bg__collect_setup_raw(const char *options); /* same, from options that did not parse */
int bg__collect_connected(void);                 /* this process's ledger reached it */

#endif /* BG_GUARD_H */
