/* loop.c - event-loop detection: which threads run an event loop, and when it ends.
 *
 * What counts as an event loop, and why (docs/design.md "Event loops"): a thread whose
 * idle point is a readiness wait on a set of event sources that outlives each wait,
 * which it returns to after running callbacks.  Two shapes are recognised from the
 * wait itself, before it is made:
 *
 *   - epoll: a timed wait (non-zero timeout) on an epoll instance.  The persistent
 *     interest set is the reactor's own data structure (libuv, libevent, libev, redis'
 *     ae, nginx, asyncio's selector, gevent's hub, tokio, Java NIO); the blocking tools
 *     and clients we looked at (make, CPython's subprocess, curl, git, pip) poll or
 *     select a set they rebuild for every wait.  The loop is that epoll fd.
 *   - poll/select: a timed wait whose read set holds an eventfd.  An eventfd carries no
 *     data: it is the doorbell other code rings to wake the loop (GLib's GWakeup, Qt's
 *     thread pipe, libevent's notify fd).  A child's pipes (make's jobserver,
 *     subprocess.communicate), a transfer's sockets or socketpair (curl, git, pip's
 *     sockets) are not doorbells.  The loop is that eventfd.
 *
 * The fd that identifies the loop also says when it is over.  A loop ends when
 *   - its fd is closed, on any thread (close, dup2/dup3 over it, close_range,
 *     closefrom): asyncio's loop.close(), uv_loop_close, event_base_free,
 *     ev_loop_destroy, g_main_context_unref all close it; or
 *   - its wait stops recurring: BG_LOOP_ADOPT consecutive loop waits on another loop's
 *     fd, none on its own.  That other loop is the thread's loop from then on (a
 *     runtime that moved to a new loop without closing the old one).  Fewer than that
 *     are a loop nested in this one (GLib's sync D-Bus calls run a private context
 *     inside a callback): each such wait blocks this loop, so it is a violation.
 *   - the process forks (the child's thread is not the loop) or the thread exits.
 *
 * Per-thread state is in TLS (bg__self.loop_*).  What another thread must see, to end a
 * loop whose fd it closes, is in the thread's ledger record (loop_fd1), plus one bit per
 * fd that makes the check on every close one load.  A closer never touches the owner's
 * TLS (it may be a signal handler interrupting the owner): it clears the owner's
 * record, and the owner notices at its next loop wait or blocking call (bg__loop_gone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "guard/guard.h"
#include "guard/lang.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/sites.h"

void (*bg__stall_record)(const uintptr_t *pcs, int n, uint64_t ns);

#define BG_LOOP_ADOPT 8

uint8_t bg__loop_fdbits[BG_FD_TABLE / 8];
int bg__loop_fd_high;
static unsigned loop_fd_max; /* highest fd that ever identified a loop */

static void fdbit_set(int fd) {
  unsigned m = __atomic_load_n(&loop_fd_max, __ATOMIC_RELAXED);
  while ((unsigned)fd > m && !__atomic_compare_exchange_n(&loop_fd_max, &m, (unsigned)fd, 1,
                                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  if ((unsigned)fd < BG_FD_TABLE)
    __atomic_or_fetch(&bg__loop_fdbits[fd >> 3], (uint8_t)(1u << (fd & 7)), __ATOMIC_RELAXED);
  else
    __atomic_store_n(&bg__loop_fd_high, 1, __ATOMIC_RELAXED);
}

/* ---- loop health: iterations measured at the loop's wait ------------------------------
 * Each own loop wait ends an iteration (the time since the previous wait returned is its
 * busy time) and starts an idle period; its return starts the next iteration.  That is
 * two clock reads per iteration on the loop thread, so the clock is the TSC where the
 * kernel itself trusts it (clocksource "tsc": invariant and synchronised), converted to
 * monotonic ns with a per-thread calibration against CLOCK_MONOTONIC (re-anchored with
 * a doubling period up to ~1 s, so NTP slewing never accumulates); elsewhere
 * clock_gettime (vDSO).  docs/loop-health.md has the numbers. */
typedef struct loop_tls {
  bg__ledger_loop_t *st; /* this thread's block (ledger arena), NULL: none */
  uint64_t woke;         /* monotonic ns the current iteration started, 0: in the wait */
  uint64_t entered;      /* monotonic ns of the latest wait entry */
  uint64_t sec_end;      /* end of the second rcur holds */
  void *rcur;            /* the `recent` bucket of the current second */
  /* stall detector (below) */
  int treg1;             /* index + 1 of this thread's timer in stall_reg, 0: none */
  uint8_t armed;         /* the timer ticks */
  uint8_t blocked;       /* the thread blocks the stall signal: timer stopped */
  uint8_t backoff;       /* the period was lengthened for a long stall */
  uint32_t ticks;        /* consecutive ticks that found the same iteration */
  uint64_t seen_iter;    /* the progress count (iterations + coroutine switches) the
                            last tick found */
  uint64_t seen_at;      /* monotonic ns of that tick */
  /* clock calibration (TSC → monotonic ns) */
  uint64_t cal_tsc, cal_ns, cal_mult, cal_next, cal_span;
} loop_tls_t;
static __thread loop_tls_t lt __attribute__((tls_model("initial-exec")));
static int use_tsc = -1; /* -1: not decided yet */

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
static int tsc_trusted(void) {
  char buf[32] = {0};
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 3 && !memcmp(buf, "tsc", 3) && (n == 3 || buf[3] == '\n');
}

/* Re-anchors this thread's calibration; returns the time of `tsc`. */
static __attribute__((noinline)) uint64_t recalibrate(uint64_t tsc) {
  uint64_t ns = mono_ns();
  if (lt.cal_tsc && tsc > lt.cal_tsc && ns > lt.cal_ns && ns - lt.cal_ns >= 1000000) {
    lt.cal_mult = (uint64_t)((((__uint128_t)(ns - lt.cal_ns)) << 32) / (tsc - lt.cal_tsc));
    lt.cal_span = lt.cal_span ? lt.cal_span * 2 : (tsc - lt.cal_tsc);
    if (lt.cal_span > (tsc - lt.cal_tsc) * 1024) lt.cal_span = (tsc - lt.cal_tsc) * 1024;
    lt.cal_tsc = tsc;
    lt.cal_ns = ns;
    lt.cal_next = tsc + lt.cal_span;
    return ns;
  }
  if (!lt.cal_tsc) {
    lt.cal_tsc = tsc;
    lt.cal_ns = ns;
  }
  lt.cal_next = tsc; /* < 1 ms since the anchor: not calibrated yet, ask the clock */
  return ns;
}
#endif

static void stall_end(bg__ledger_loop_t *st, uint64_t busy);

/* Monotonic ns, cheaply (see above).  The first millisecond of a thread's loop uses the
 * clock itself. */
static inline uint64_t loop_now(void) {
#if defined(__x86_64__)
  if (BG_LIKELY(use_tsc > 0)) {
    uint64_t tsc = __rdtsc();
    if (BG_UNLIKELY(tsc >= lt.cal_next)) return recalibrate(tsc);
    return lt.cal_ns + (uint64_t)(((__uint128_t)(tsc - lt.cal_tsc) * lt.cal_mult) >> 32);
  }
#endif
  return mono_ns();
}

static inline int log2_bucket(uint64_t ns) {
  int b = ns ? 64 - __builtin_clzll(ns) : 0;
  return b < BG_LOOP_HIST ? b : BG_LOOP_HIST - 1;
}

#define STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

/* The loop's wait is about to start: the iteration that began at lt.woke is over. */
/* The second bucket of `recent` an iteration ending at `now` goes to (cold: once a
 * second at most). */
static __attribute__((noinline)) void new_second(bg__ledger_loop_t *st, uint64_t now) {
  uint64_t sec = now / 1000000000ull;
  __typeof__(st->recent[0]) *r = &st->recent[sec % BG_LOOP_RECENT];
  if (r->sec != sec) {
    STORE(r->iterations, 0);
    STORE(r->busy_ns, 0);
    STORE(r->max_us, 0);
    STORE(r->sec, sec);
  }
  lt.rcur = r;
  lt.sec_end = (sec + 1) * 1000000000ull;
}

static inline __attribute__((always_inline)) void iteration_end(void) {
  bg__ledger_loop_t *st = lt.st;
  if (!st) return;
  uint64_t now = loop_now();
  lt.entered = now;
  if (!lt.woke) return; /* the first wait of this loop */
  uint64_t busy = now > lt.woke ? now - lt.woke : 0;
  lt.woke = 0;
  STORE(st->iterations, st->iterations + 1);
  STORE(st->busy_ns, st->busy_ns + busy);
  STORE(st->last_mono, now);
  int b = log2_bucket(busy);
  STORE(st->hist[b], st->hist[b] + 1);
  if (BG_UNLIKELY(busy > st->worst_ns)) {
    STORE(st->worst_ns, busy);
    STORE(st->worst_mono, now);
  }
  if (BG_UNLIKELY(now >= lt.sec_end)) new_second(st, now);
  __typeof__(st->recent[0]) *r = lt.rcur;
  uint32_t us = (uint32_t)(busy >> 32 ? UINT32_MAX : busy / 1000);
  STORE(r->iterations, r->iterations + 1);
  STORE(r->busy_ns, r->busy_ns + busy);
  if (us > r->max_us) STORE(r->max_us, us);
  if (BG_UNLIKELY(__atomic_load_n(&st->stall_state, __ATOMIC_ACQUIRE))) stall_end(st, busy);
}

/* errno: the clock reads never set it (rdtsc; clock_gettime of CLOCK_MONOTONIC cannot
 * fail), so the wait's errno reaches the program as it was. */
void bg__loop_woke(void) {
  bg__ledger_loop_t *st = lt.st;
  if (!st) return;
  uint64_t now = loop_now();
  if (now > lt.entered) STORE(st->idle_ns, st->idle_ns + (now - lt.entered));
  lt.woke = now;
}

/* A block for this thread's loop stats (once per thread: a thread that runs several
 * loops one after the other adds them up). */
static void stats_open(bg__thread_t *t) {
  if (lt.st || !t->rec) return;
#if defined(__x86_64__)
  if (use_tsc < 0) use_tsc = tsc_trusted();
#else
  use_tsc = 0;
#endif
  bg__ledger_loop_t *st = bg__ledger_alloc(sizeof *st);
  if (!st) return; /* arena full: counted by the ledger (the report says data is missing) */
  lt.st = st;
  lt.woke = lt.entered = lt.sec_end = 0;
  STORE(st->first_mono, loop_now());
  __atomic_store_n(&t->rec->loop_stats, bg__ledger_off(st), __ATOMIC_RELEASE);
}

/* ---- the stall detector -------------------------------------------------------------
 * An iteration that runs stall_ms on CPU is a stall (docs/loop-health.md).  Each loop
 * thread has a POSIX timer on its own CPU-time clock (a thread asleep in a syscall uses
 * no CPU: it is never signalled; the blocking-call path covers it), delivered to that
 * thread only (SIGEV_THREAD_ID), ticking every stall_ms / STALL_TICKS of CPU.  A tick
 * that finds the same iteration as STALL_TICKS ticks ago has found one that ran at
 * least stall_ms; it takes the stack right there, from the signal context, into the
 * thread's ledger block - no lock, no allocation - and the loop thread records the site
 * when the iteration ends (a reader of the ledger does, if the process dies first).
 * One stack per stall; the tick period doubles while the stall lasts (Seastar's
 * backoff) and comes back at the next iteration; at most STALL_RATE stacks a minute
 * per process (more stalls are counted, unsampled).
 *
 * The signal is a real-time one nobody uses when the first loop starts (from
 * SIGRTMAX-2 down).  The program never sees it: sigaction/signal on it report the
 * disposition it had before us, and a program that installs a handler for it gets it
 * - the detector gives up first (one message; loop metrics go on); a thread that blocks
 * it gets its timer stopped, so nothing is ever left pending for its sigwait or
 * signalfd; SA_RESTART; and a loop wait the tick interrupted anyway (kernels that check
 * CPU timers at the tick, before Linux 5.11's task-work) is made again by the wrapper. */
#define STALL_TICKS 4
#define STALL_RATE 5 /* stacks per minute */
#define STALL_REG 1024
int bg__stall_sig;
static int stall_mode; /* 0: not tried, 1: on, -1: off (stall_ms=0, no signal, gave up) */
static struct sigaction stall_orig; /* what the program would see for bg__stall_sig */
static pthread_mutex_t stall_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t stall_key;
static struct {
  volatile int used;
  timer_t id;
} stall_reg[STALL_REG];
static uint64_t rate_window, rate_count;

static uint64_t tick_ns(void) {
  uint64_t ns = bg__opt.stall_ms * 1000000ull / STALL_TICKS;
  return ns < 1000000 ? 1000000 : ns;
}

static void set_period(timer_t id, uint64_t ns) {
  struct itimerspec its = {{(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)},
                           {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)}};
  timer_settime(id, 0, &its, NULL);
}

/* At most STALL_RATE stacks per minute, process-wide; async-signal-safe. */
static int rate_ok(void) {
  uint64_t now = mono_ns(), w = __atomic_load_n(&rate_window, __ATOMIC_RELAXED);
  if (now - w >= 60000000000ull &&
      __atomic_compare_exchange_n(&rate_window, &w, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    __atomic_store_n(&rate_count, 0, __ATOMIC_RELAXED);
  return __atomic_add_fetch(&rate_count, 1, __ATOMIC_RELAXED) <= STALL_RATE;
}

static void stall_handler(int sig, siginfo_t *si, void *uc) {
  int saved = errno;
  bg__thread_t *t = bg__self_ptr();
  t->loop_sigs++; /* a wait this interrupted is made again (bg__loop_eintr_ours) */
  if (si->si_code != SI_TIMER) {
    /* Not our timer: someone sent the signal.  Without us its default action would
     * end the process: so it does. */
    t->depth++; /* straight to libc: no lock of ours in a signal handler */
    signal(sig, SIG_DFL);
    syscall(SYS_tgkill, getpid(), gettid(), sig); /* delivered when we return */
    t->depth--;
    errno = saved;
    return;
  }
  bg__ledger_loop_t *st = lt.st;
  if (!st || !lt.woke) goto out; /* in the loop's wait, or no iteration running */
  uint64_t it = st->iterations + t->loop_slices;
  if (it != lt.seen_iter) { /* progress since the last tick */
    lt.seen_iter = it;
    lt.seen_at = mono_ns();
    lt.ticks = 0;
    goto out;
  }
  if (++lt.ticks < STALL_TICKS) goto out;
  if (lt.ticks == STALL_TICKS) { /* this iteration has run stall_ms on CPU */
    if (t->depth || bg__unwinding) { /* inside the shim or libunwind: next tick */
      lt.ticks--;
      goto out;
    }
    STORE(st->stalls, st->stalls + 1);
    /* It began at the iteration's start, or for a coroutine, within a period before
     * the first tick that found it running. */
    uint64_t since = lt.seen_at > tick_ns() ? lt.seen_at - tick_ns() : 0;
    STORE(st->stall_t0, since > lt.woke ? since : lt.woke);
    t->loop_stalled = 1;
    if (rate_ok()) {
      uintptr_t pcs[BG_LOOP_FRAMES];
      int n = bg__stack_capture_uc(uc, pcs, bg__stack_depth());
      n = bg__lang_capture(pcs, n, BG_LOOP_FRAMES); /* Python frames merged in */
      for (int i = 0; i < n; i++) STORE(st->stall_pcs[i], (uint64_t)pcs[i]);
      STORE(st->stall_n, (uint32_t)n);
      __atomic_store_n(&st->stall_state, n ? 1u : 2u, __ATOMIC_RELEASE);
    } else {
      __atomic_store_n(&st->stall_state, 2u, __ATOMIC_RELEASE);
    }
  }
  /* A long stall: tick half as often each time (2x, 4x... 64x the period). */
  if (lt.treg1 && !(lt.ticks & (lt.ticks - 1)) && lt.ticks <= STALL_TICKS * 32) {
    set_period(stall_reg[lt.treg1 - 1].id, tick_ns() * (lt.ticks / STALL_TICKS) * 2);
    lt.backoff = 1;
  }
out:
  errno = saved;
}

/* The loop thread, at the end of a stalled iteration: the stall becomes a site. */
static void stall_end(bg__ledger_loop_t *st, uint64_t busy) {
  uint32_t state = st->stall_state;
  if (state == 1) {
    uintptr_t pcs[BG_LOOP_FRAMES];
    uint32_t n = st->stall_n < BG_LOOP_FRAMES ? st->stall_n : BG_LOOP_FRAMES;
    for (uint32_t i = 0; i < n; i++) pcs[i] = (uintptr_t)st->stall_pcs[i];
    void (*record)(const uintptr_t *, int, uint64_t) = bg__stall_record;
    if (record) record(pcs, (int)n, busy); /* the core, set at its init */
  } else {
    STORE(st->stalls_unsampled, st->stalls_unsampled + 1);
  }
  __atomic_store_n(&st->stall_state, 0u, __ATOMIC_RELEASE);
  bg__self.loop_stalled = 0;
  lt.ticks = 0;
  if (lt.backoff && lt.treg1) {
    set_period(stall_reg[lt.treg1 - 1].id, tick_ns());
    lt.backoff = 0;
  }
}

static void stall_thread_exit(void *arg) {
  (void)arg;
  bg__loop_stall_disarm();
}

/* Once per process, with the first loop: the signal and its handler. */
static int stall_setup(void) {
  if (stall_mode) return stall_mode > 0;
  pthread_mutex_lock(&stall_lock);
  if (!stall_mode) {
    stall_mode = -1;
    for (int sig = SIGRTMAX - 2; bg__opt.stall_ms && sig > SIGRTMIN + 1; sig--) {
      struct sigaction old;
      if (sigaction(sig, NULL, &old) < 0 || (old.sa_flags & SA_SIGINFO) ||
          old.sa_handler != SIG_DFL)
        continue; /* somebody's */
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_sigaction = stall_handler;
      sa.sa_flags = SA_SIGINFO | SA_RESTART;
      sigfillset(&sa.sa_mask); /* nothing of the program's runs inside ours */
      if (sigaction(sig, &sa, NULL) < 0) continue;
      stall_orig = old;
      pthread_key_create(&stall_key, stall_thread_exit);
      bg__stall_sig = sig;
      stall_mode = 1;
      break;
    }
  }
  pthread_mutex_unlock(&stall_lock);
  return stall_mode > 0;
}

static int sig_blocked_here(void) {
  sigset_t cur;
  return pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0 && sigismember(&cur, bg__stall_sig) == 1;
}

/* The calling loop thread's timer: created and started (depth raised by the caller). */
static void stall_arm(void) {
  if (!stall_setup() || !lt.st) return;
  bg__unw_load(); /* here, not in the signal handler that will need it */
  if (!lt.treg1) {
    int slot = -1;
    for (int i = 0; i < STALL_REG && slot < 0; i++)
      if (!__atomic_load_n(&stall_reg[i].used, __ATOMIC_RELAXED) &&
          !__atomic_exchange_n(&stall_reg[i].used, 1, __ATOMIC_ACQUIRE))
        slot = i;
    if (slot < 0) return; /* more loop threads than timers: metrics only */
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = bg__stall_sig;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &stall_reg[slot].id) < 0) {
      __atomic_store_n(&stall_reg[slot].used, 0, __ATOMIC_RELEASE);
      return;
    }
    lt.treg1 = slot + 1;
    pthread_setspecific(stall_key, (void *)1); /* stall_thread_exit deletes it */
  }
  lt.blocked = (uint8_t)sig_blocked_here();
  lt.ticks = 0;
  lt.backoff = 0;
  if (!lt.blocked) {
    set_period(stall_reg[lt.treg1 - 1].id, tick_ns());
    lt.armed = 1;
  }
}

void bg__loop_stall_disarm(void) {
  if (!lt.treg1 || lt.treg1 > STALL_REG) return;
  timer_delete(stall_reg[lt.treg1 - 1].id);
  __atomic_store_n(&stall_reg[lt.treg1 - 1].used, 0, __ATOMIC_RELEASE);
  lt.treg1 = 0;
  lt.armed = 0;
}

/* pthread_sigmask/sigprocmask changed the calling thread's mask (preload/custom_signal.c):
 * a loop thread that now blocks the stall signal stops its timer (and takes back a
 * tick left pending, which its sigwait or signalfd must never see); unblocking starts
 * it again. */
void bg__stall_mask_changed(void) {
  if (stall_mode <= 0 || !lt.treg1 || bg__self.depth) return;
  bg__self.depth++;
  int saved = errno;
  int blocked = sig_blocked_here();
  if (blocked && !lt.blocked) {
    set_period(stall_reg[lt.treg1 - 1].id, 0);
    lt.armed = 0;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, bg__stall_sig);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&one, NULL, &zero) > 0) {
    }
  } else if (!blocked && lt.blocked) {
    set_period(stall_reg[lt.treg1 - 1].id, tick_ns());
    lt.armed = 1;
  }
  lt.blocked = (uint8_t)blocked;
  errno = saved;
  bg__self.depth--;
}

/* The program sets a handler for the stall signal: it is theirs from now on.  Every
 * timer goes first, then SIG_IGN drops what is pending (POSIX: pending instances of an
 * ignored signal are discarded), then the caller installs the program's handler. */
static void stall_give_up(void) {
  pthread_mutex_lock(&stall_lock);
  if (stall_mode > 0) {
    stall_mode = -1;
    for (int i = 0; i < STALL_REG; i++)
      if (__atomic_load_n(&stall_reg[i].used, __ATOMIC_ACQUIRE)) timer_delete(stall_reg[i].id);
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(bg__stall_sig, &ign, NULL);
    bg__msg("the program installs a handler for signal %d (SIGRTMIN+%d), which measured event-loop "
            "stalls: stall stacks are off from now on, loop metrics go on (docs/loop-health.md)",
            bg__stall_sig, bg__stall_sig - SIGRTMIN);
  }
  pthread_mutex_unlock(&stall_lock);
}

int bg__stall_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  bg__self.depth++;
  struct sigaction orig = stall_orig;
  int r = 0;
  if (act) {
    stall_give_up();
    r = sigaction(sig, act, NULL);
  }
  if (r == 0 && old) *old = orig;
  bg__self.depth--;
  return r;
}

void bg__stall_give_up_for(int sig, void (**old)(int)) {
  bg__self.depth++;
  if (old) *old = stall_orig.sa_handler;
  if (sig == bg__stall_sig && stall_mode > 0) stall_give_up();
  bg__self.depth--;
}

/* ---- runtimes whose loop wait the shim does not see (guard/sched.c) ------------------ */
void bg__loop_declared(void) {
  bg__thread_t *t = bg__self_ptr();
  t->depth++;
  int saved = errno;
  bg__thread_register();
  stats_open(t);
  if (lt.st) {
    STORE(lt.st->running, 1);
    stall_arm();
  }
  errno = saved;
  t->depth--;
}

void bg__loop_runtime_wait(void) { iteration_end(); }

void bg__loop_slice_stalled(void) {
  bg__ledger_loop_t *st = lt.st;
  bg__self.loop_stalled = 0;
  if (!st || !__atomic_load_n(&st->stall_state, __ATOMIC_ACQUIRE)) return;
  int saved = errno;
  uint64_t now = loop_now(), t0 = st->stall_t0;
  stall_end(st, now > t0 ? now - t0 : 0);
  errno = saved;
}

/* Async-signal-safe: atomics and a scan of the records, nothing else. */
void bg__loop_fds_closed(unsigned lo, unsigned hi) {
  unsigned top = __atomic_load_n(&loop_fd_max, __ATOMIC_RELAXED);
  if (lo > top) return;
  if (hi > top) hi = top;
  for (unsigned fd = lo; fd <= hi && fd < BG_FD_TABLE; fd++)
    if (__atomic_load_n(&bg__loop_fdbits[fd >> 3], __ATOMIC_RELAXED) >> (fd & 7) & 1)
      __atomic_and_fetch(&bg__loop_fdbits[fd >> 3], (uint8_t) ~(1u << (fd & 7)), __ATOMIC_RELAXED);
  /* An owner without a table slot (more threads than slots) closing its own loop fd. */
  if (bg__self.loop_fd >= 0 && (unsigned)bg__self.loop_fd >= lo && (unsigned)bg__self.loop_fd <= hi)
    bg__self.loop_closed = 1;
  bg__ledger_hdr_t *h = bg__ledger;
  bg__ledger_thread_t *rec = h ? bg__ledger_threads() : NULL;
  uint32_t n = rec ? __atomic_load_n(&h->nthreads, __ATOMIC_ACQUIRE) : 0;
  for (uint32_t i = 0; i < n && i < h->threads_cap; i++) {
    int32_t v = __atomic_load_n(&rec[i].loop_fd1, __ATOMIC_RELAXED);
    if (v > 0 && (unsigned)(v - 1) >= lo && (unsigned)(v - 1) <= hi)
      __atomic_compare_exchange_n(&rec[i].loop_fd1, &v, 0, 0, __ATOMIC_RELEASE,
                                  __ATOMIC_RELAXED);
  }
}

static void take(bg__thread_t *t, int fd) {
  t->loop_fd = fd;
  t->loop_closed = 0;
  t->loop_foreign = 0;
  bg__thread_register(); /* so a closer on another thread can find it */
  if (t->rec) __atomic_store_n(&t->rec->loop_fd1, fd + 1, __ATOMIC_RELEASE);
  stats_open(t);
  if (lt.st) STORE(lt.st->running, 1);
  if (t->watch) t->watch = 2; /* every wait of a loop thread takes the slow path */
  stall_arm();
  lt.woke = 0; /* the wait about to start is the new loop's first */
  fdbit_set(fd);
  if (!(t->roles & BG_ROLE_LOOP)) {
    t->roles |= BG_ROLE_LOOP;
    bg__thread_refresh(t);
  }
}

static void drop(bg__thread_t *t) {
  t->loop_fd = -1;
  t->loop_closed = 0;
  t->loop_foreign = 0;
  if (t->rec) __atomic_store_n(&t->rec->loop_fd1, 0, __ATOMIC_RELAXED);
  if (lt.st) STORE(lt.st->running, 0);
  lt.woke = 0; /* what runs now is no iteration of a loop */
  if (t->watch) t->watch = 1;
  bg__loop_stall_disarm();
  if (!t->loop_marked && (t->roles & BG_ROLE_LOOP)) {
    t->roles &= (uint8_t)~BG_ROLE_LOOP;
    bg__thread_refresh(t);
  }
}

int bg__loop_gone(bg__thread_t *t) {
  if (t->loop_fd < 0) return 0;
  if (!t->loop_closed &&
      (!t->rec || __atomic_load_n(&t->rec->loop_fd1, __ATOMIC_ACQUIRE) == t->loop_fd + 1))
    return 0;
  drop(t);
  return 1;
}

/* An eventfd?  The cache answers for fds whose kind it knows (every fd after its first
 * wait here); fdcache.c probes the others once. */
static inline int doorbell(int fd) {
  if ((unsigned)fd < BG_FD_TABLE) {
    bg__fdinfo_t v = __atomic_load_n(&bg__fdinfo[fd], __ATOMIC_RELAXED);
    if (v & BG_FD_KIND_KNOWN) return (v & BG_FD_EVENTFD) != 0;
  }
  return bg__fd_is_eventfd(fd);
}

/* Finds in a poll/select read set the thread's own loop fd (*own = 1, returns it), or
 * else the first eventfd (a doorbell: another loop), or -1. */
static int scan_poll(const struct pollfd *fds, size_t n, int mine, int *own) {
  int door = -1;
  for (size_t i = 0; i < n; i++) {
    int fd = fds[i].fd;
    if (fd < 0 || !(fds[i].events & (POLLIN | POLLRDNORM))) continue;
    if (fd == mine) return *own = 1, fd;
    if (door < 0 && doorbell(fd)) door = fd;
  }
  return door;
}

/* The bits are read as the kernel reads them: whole longs covering nfds bits (a
 * program may pass a set larger than fd_set with nfds above FD_SETSIZE). */
static int scan_select(const fd_set *r, int nfds, int mine, int *own) {
  const unsigned long *w = (const unsigned long *)(const void *)r;
  const int bits = (int)(8 * sizeof *w);
  int door = -1;
  for (int i = 0; i * bits < nfds; i++) {
    for (unsigned long v = w[i]; v; v &= v - 1) {
      int fd = i * bits + __builtin_ctzl(v);
      if (fd >= nfds) break;
      if (fd == mine) return *own = 1, fd;
      if (door < 0 && doorbell(fd)) door = fd;
    }
  }
  return door;
}

/* Everything but the common case: detection, nested and new loops (depth raised). */
static __attribute__((noinline)) int wait_seen_slow(bg__thread_t *t, int kind, uintptr_t set,
                                                     uintptr_t n) {
  int saved = errno;
  t->depth++; /* fd probes and registration pass through the wrappers */
  bg__loop_gone(t);
  int own = 0, fd = -1;
  switch (kind) {
  case BG_WS_epoll:
    fd = (int)set;
    own = fd >= 0 && fd == t->loop_fd;
    if (!own && fd >= 0 && bg__fd_invalid(fd)) fd = -1; /* fails at once: no loop */
    break;
  case BG_WS_poll:
    if (set) fd = scan_poll((const struct pollfd *)set, (size_t)n, t->loop_fd, &own);
    break;
  case BG_WS_select:
    if (set) fd = scan_select((const fd_set *)set, (int)n, t->loop_fd, &own);
    break;
  default:
    break;
  }
  int loop_wait = 0;
  if (own) {
    t->loop_foreign = 0;
    iteration_end();
    loop_wait = 1;
  } else if (fd >= 0 && (t->loop_fd < 0 || ++t->loop_foreign >= BG_LOOP_ADOPT)) {
    take(t, fd); /* a new loop, or one that replaced the thread's old loop */
    iteration_end();
    loop_wait = 1;
  } /* else: no loop here, or a loop nested in this thread's loop: a blocking wait */
  t->depth--;
  errno = saved;
  return loop_wait;
}

int bg__loop_wait_seen(int kind, uintptr_t set, uintptr_t n, uintptr_t caller) {
  bg__thread_t *t = bg__self_ptr();
  if (BG_UNLIKELY(caller >= t->loop_lo && caller < t->loop_hi)) { /* an adapter runtime's */
    iteration_end();                                                /* own wait */
    return 1;
  }
  /* The common case: an epoll loop's own wait, its loop still alive. */
  if (BG_LIKELY(kind == BG_WS_epoll && (int)set == t->loop_fd && t->loop_fd >= 0) &&
      !t->loop_closed &&
      (!t->rec || __atomic_load_n(&t->rec->loop_fd1, __ATOMIC_ACQUIRE) == t->loop_fd + 1)) {
    t->loop_foreign = 0;
    iteration_end();
    return 1;
  }
  return wait_seen_slow(t, kind, set, n);
}

/* The child's only thread was told by bg__threads_after_fork, and its ledger starts
 * with an empty thread table; every fd bit belongs to the parent's threads. */
void bg__loops_after_fork(void) {
  memset(&lt, 0, sizeof lt); /* the block is the parent's (copied with the arena) */
  /* timers are not inherited: lt.treg1 = 0 above */
  memset(stall_reg, 0, sizeof stall_reg);
  memset(bg__loop_fdbits, 0, sizeof bg__loop_fdbits);
  bg__loop_fd_high = 0;
  loop_fd_max = 0;
}

/* ---- runtime loops (bg_sched, adapters: guard/sched.c, guard/offload.c) ------------ */
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
  bg__thread_t *t = bg__self_ptr();
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
