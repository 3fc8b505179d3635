/* offload_sleep.h - the OFF(timer) rows of calls.def as scheduler timers (included by
 * preload/offload.c; bg__timer_NAME for each such row).
 *
 * Under mode=offload a coroutine's sleep must not occupy a worker: 10,000 coroutines
 * sleeping at once would need 10,000 threads.  Each converter reads the packed
 * arguments: PREPARE gives the relative duration (absolute clock_nanosleep deadlines
 * are converted against their clock now), FINISH stores what the completed call
 * returns, INTR what it returns when a signal cut it short with `*ns` left (the
 * scheduler sees a handler run on its thread: guard/sched.c), exactly as glibc does:
 *   sleep            unslept whole seconds, errno EINTR (glibc leaves it set)
 *   usleep           -1, EINTR
 *   nanosleep        -1, EINTR, *rem = time left
 *   clock_nanosleep  EINTR (returned, errno untouched), *rem when relative
 *   thrd_sleep       -1, *rem, errno untouched
 * Arguments the real call would reject (negative or out-of-range timespec, unknown
 * flags, CPU-time clocks) are not converted: a worker makes the real call so the
 * error is the kernel's own.
 */
#ifndef BG_OFFLOAD_SLEEP_H
#define BG_OFFLOAD_SLEEP_H
#include <time.h>

static int bg__ts_to_ns(const struct timespec *ts, uint64_t *ns) {
  if (!ts || ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L) return 0;
  if ((uint64_t)ts->tv_sec > UINT64_MAX / 1000000000u - 1) return 0;
  *ns = (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
  return 1;
}

static void bg__ns_to_ts(uint64_t ns, struct timespec *ts) {
  if (!ts) return;
  ts->tv_sec = (time_t)(ns / 1000000000u);
  ts->tv_nsec = (long)(ns % 1000000000u);
}

static int bg__timer_sleep(bg__job_t *j, int op, uint64_t *ns) {
  struct bg__args_sleep *a = (struct bg__args_sleep *)j;
  if (op == BG_TIMER_PREPARE) {
    *ns = (uint64_t)a->seconds * 1000000000u;
  } else if (op == BG_TIMER_INTR) {
    a->bg_ret = (unsigned int)(*ns / 1000000000u);
    j->err = EINTR;
  } else {
    a->bg_ret = 0;
  }
  return 1;
}

static int bg__timer_usleep(bg__job_t *j, int op, uint64_t *ns) {
  struct bg__args_usleep *a = (struct bg__args_usleep *)j;
  if (op == BG_TIMER_PREPARE) {
    *ns = (uint64_t)a->usec * 1000u;
  } else if (op == BG_TIMER_INTR) {
    a->bg_ret = -1;
    j->err = EINTR;
  } else {
    a->bg_ret = 0;
  }
  return 1;
}

/* nanosleep and __nanosleep: the same columns. */
#define BG__NANOSLEEP_TIMER(row)                                                          \
  static int bg__timer_##row(bg__job_t *j, int op, uint64_t *ns) {                        \
    struct bg__args_##row *a = (struct bg__args_##row *)j;                                \
    if (op == BG_TIMER_PREPARE) return bg__ts_to_ns(a->req, ns);                          \
    if (op == BG_TIMER_INTR) {                                                            \
      bg__ns_to_ts(*ns, a->rem);                                                          \
      a->bg_ret = -1;                                                                     \
      j->err = EINTR;                                                                     \
    } else {                                                                              \
      a->bg_ret = 0;                                                                      \
    }                                                                                     \
    return 1;                                                                             \
  }
BG__NANOSLEEP_TIMER(nanosleep)
BG__NANOSLEEP_TIMER(__nanosleep)

static int bg__timer_thrd_sleep(bg__job_t *j, int op, uint64_t *ns) {
  struct bg__args_thrd_sleep *a = (struct bg__args_thrd_sleep *)j;
  if (op == BG_TIMER_PREPARE) return bg__ts_to_ns(a->req, ns);
  if (op == BG_TIMER_INTR) {
    bg__ns_to_ts(*ns, a->rem);
    a->bg_ret = -1;
  } else {
    a->bg_ret = 0;
  }
  return 1;
}

static int bg__timer_clock_nanosleep(bg__job_t *j, int op, uint64_t *ns) {
  struct bg__args_clock_nanosleep *a = (struct bg__args_clock_nanosleep *)j;
  if (op == BG_TIMER_FINISH) {
    a->bg_ret = 0;
    return 1;
  }
  if (op == BG_TIMER_INTR) {
    if (!(a->flags & TIMER_ABSTIME)) bg__ns_to_ts(*ns, a->rem);
    a->bg_ret = EINTR;
    return 1;
  }
  if (a->flags & ~TIMER_ABSTIME) return 0;
  if (a->clk != CLOCK_MONOTONIC && a->clk != CLOCK_REALTIME && a->clk != CLOCK_BOOTTIME &&
      a->clk != CLOCK_TAI)
    return 0;
  uint64_t req;
  if (!bg__ts_to_ns(a->req, &req)) return 0;
  if (a->flags & TIMER_ABSTIME) {
    struct timespec now;
    uint64_t n;
    if (clock_gettime(a->clk, &now) < 0 || !bg__ts_to_ns(&now, &n)) return 0;
    req = req > n ? req - n : 0;
  }
  *ns = req;
  return 1;
}

#endif
