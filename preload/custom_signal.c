/* custom_signal.c - signal dispositions and masks, followed for the stall detector.
 *
 * The stall detector (guard/loop.c, docs/loop-health.md) borrows one real-time signal
 * nobody used when the first event loop started.  The program must never notice:
 *   - sigaction/signal/sysv_signal/bsd_signal/ssignal/sigset/siginterrupt on that
 *     signal: a query answers with the disposition the program would have without us;
 *     anything that sets it makes the detector give up first (its timers deleted, what
 *     is pending dropped), then does what the program asked;
 *   - pthread_sigmask/sigprocmask: a loop thread that blocks the signal has its timer
 *     stopped (so nothing of ours is left pending for its sigwait or signalfd), and
 *     started again when it unblocks it.
 * For every other signal, and before any loop exists (bg__stall_sig == 0), each wrapper
 * is one load and a compare more than the call.  Results and errno are the real call's.
 * Raw syscall(SYS_rt_sigaction) is not followed (docs/loop-health.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>

#include "guard/guard.h"
#include "preload/preload.h"

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*signal_fn)(int, sighandler_t);
typedef int (*siginterrupt_fn)(int, int);
typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);

static inline int ours(int sig) {
  int s = __atomic_load_n(&bg__stall_sig, __ATOMIC_RELAXED);
  return BG_UNLIKELY(s != 0 && sig == s) && !bg__self.depth;
}

#define BG_SIGACTION(name)                                                              \
  BG_REAL_FN(sigaction_fn, name)                                                        \
  BG_EXPORT int name(int sig, const struct sigaction *act, struct sigaction *old) {     \
    if (ours(sig)) return bg__stall_sigaction(sig, act, old);                            \
    return bg__get_##name()(sig, act, old);                                             \
  }
BG_SIGACTION(sigaction)
BG_SIGACTION(__sigaction)

/* These return the previous handler: the one the program had, not ours. */
#define BG_SIGNAL(name)                                                                 \
  BG_REAL_FN(signal_fn, name)                                                           \
  BG_EXPORT sighandler_t name(int sig, sighandler_t handler) {                          \
    if (ours(sig)) {                                                                    \
      sighandler_t prev;                                                                \
      bg__stall_give_up_for(sig, &prev);                                                \
      sighandler_t r = bg__get_##name()(sig, handler);                                  \
      return r == SIG_ERR ? r : prev;                                                   \
    }                                                                                   \
    return bg__get_##name()(sig, handler);                                              \
  }
BG_SIGNAL(signal)
BG_SIGNAL(bsd_signal)
BG_SIGNAL(ssignal)
BG_SIGNAL(sysv_signal)
BG_SIGNAL(__sysv_signal)
BG_SIGNAL(sigset)

BG_REAL_FN(siginterrupt_fn, siginterrupt)
BG_EXPORT int siginterrupt(int sig, int flag) {
  if (ours(sig)) bg__stall_give_up_for(sig, NULL); /* it rewrites the handler's flags */
  return bg__get_siginterrupt()(sig, flag);
}

/* The mask of the calling thread changed: tell the detector when the stall signal may
 * have been blocked or unblocked (it checks the mask itself, and only on a loop thread
 * with a timer). */
#define BG_SIGMASK(name)                                                                \
  BG_REAL_FN(sigmask_fn, name)                                                          \
  BG_EXPORT int name(int how, const sigset_t *set, sigset_t *old) {                     \
    int r = bg__get_##name()(how, set, old);                                            \
    int s = __atomic_load_n(&bg__stall_sig, __ATOMIC_RELAXED);                          \
    if (BG_UNLIKELY(s != 0) && set && (how == SIG_SETMASK || sigismember(set, s) == 1)) { \
      int e = errno;                                                                    \
      bg__stall_mask_changed();                                                         \
      errno = e;                                                                        \
    }                                                                                   \
    return r;                                                                           \
  }
BG_SIGMASK(pthread_sigmask)
BG_SIGMASK(sigprocmask)
