/* c_sleep.c - cases for the sleep category: timed sleeps and waits for a signal.
 * Long sleeps are interrupted by a 5 ms SIGALRM so what the program sees on EINTR
 * (sleep's unslept seconds, nanosleep's rem) is compared with the bare run. */
#include <threads.h>

#include "bgt.h"

int __nanosleep(const struct timespec *req, struct timespec *rem);
int __sigsuspend(const sigset_t *mask);

CASE(sleep) {
  if (NB) {
    CALL(sleep(0));
    return;
  }
  bgt_timer_ms(5);
  /* Interrupted within ms: returns the unslept seconds (9, or 8 on a slow machine). */
  CALLX(sleep(10), r_ >= 8 ? 1000 : (long long)r_);
}

CASE(usleep) { CALL(usleep(NB ? 0 : 2000)); }

static void rem_out(bgt_t *t, const struct timespec *rem) {
  OUT("rem_over_8s=%d untouched=%d", rem->tv_sec >= 8, rem->tv_sec == 7 && rem->tv_nsec == 7);
}

CASE(nanosleep) {
  struct timespec req = {NB ? 0 : 10, 0}, rem = {7, 7};
  if (!NB) bgt_timer_ms(5);
  CALL(nanosleep(&req, &rem));
  bgt_timer_ms(0);
  rem_out(t, &rem);
}

CASE(__nanosleep) {
  struct timespec req = {NB ? 0 : 10, 0}, rem = {7, 7};
  if (!NB) bgt_timer_ms(5);
  CALL(__nanosleep(&req, &rem));
  bgt_timer_ms(0);
  rem_out(t, &rem);
}

CASE(clock_nanosleep) {
  struct timespec req = {0, 2000000}, past = {0, 0};
  if (NB)
    CALL(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL));
  else
    CALL(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL));
}

CASE(thrd_sleep) {
  struct timespec req = {0, NB ? 0 : 2000000};
  CALL(thrd_sleep(&req, NULL));
}

CASE(pause) {
  NO_NONBLOCK();
  bgt_timer_ms(5);
  CALL(pause());
}

CASE(sigsuspend) {
  NO_NONBLOCK();
  sigset_t none;
  sigemptyset(&none);
  bgt_timer_ms(5);
  CALL(sigsuspend(&none));
}

CASE(__sigsuspend) {
  NO_NONBLOCK();
  sigset_t none;
  sigemptyset(&none);
  bgt_timer_ms(5);
  CALL(__sigsuspend(&none));
}

/* SIGUSR1 blocked and made pending, so the waits return at once with it. */
static void pending_usr1(sigset_t *set, sigset_t *old) {
  sigemptyset(set);
  sigaddset(set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, set, old);
  raise(SIGUSR1);
}

static void drain(const sigset_t *set, const sigset_t *old) {
  struct timespec zero = {0, 0};
  while (sigtimedwait(set, NULL, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, old, NULL);
}

CASE(sigwait) {
  NO_NONBLOCK();
  sigset_t set, old;
  int sig = 0;
  pending_usr1(&set, &old);
  CALL(sigwait(&set, &sig));
  OUT("sig=%d", sig);
  drain(&set, &old);
}

CASE(sigwaitinfo) {
  NO_NONBLOCK();
  sigset_t set, old;
  siginfo_t si;
  pending_usr1(&set, &old);
  CALL(sigwaitinfo(&set, &si));
  OUT("signo=%d", si.si_signo);
  drain(&set, &old);
}

CASE(sigtimedwait) {
  sigset_t set, old;
  siginfo_t si = {0};
  struct timespec tmo = {NB ? 0 : 5, 0};
  if (NB) { /* nothing pending, zero timeout: EAGAIN at once */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
  } else {
    pending_usr1(&set, &old);
  }
  CALL(sigtimedwait(&set, &si, &tmo));
  OUT("signo=%d", si.si_signo);
  drain(&set, &old);
}
