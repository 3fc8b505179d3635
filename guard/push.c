/* push.c - push=URL: blocking profiles sent to a Pyroscope-compatible server.
 *
 * A sidecar thread (created inside the core, so never guarded and passing every call
 * straight through, like the dashboard's) wakes every push_interval seconds, takes a
 * snapshot, and sends the calls since the last profile the server accepted as one
 * pprof (report/pprof, report/pyroscope.c: multipart POST to /ingest, labels
 * {pid=N} plus the URL's).  No guarded thread ever waits on the network.
 *
 * Failures.  A push that fails (refused, timeout, HTTP 5xx) is not retried in place:
 * the next one covers the missed interval too, because windows are computed against
 * the last accepted snapshot.  So nothing is lost while the server is away, memory
 * stays one snapshot, and a dead server costs one connection attempt per interval.
 * One message when pushes start failing and one when they recover (verbosity >= 1).
 * Each request is bounded: min(interval, 10 s) in total.
 *
 * Exit.  A final push from an atexit handler - registered at start, and again once
 * libcurl is loaded so that it runs before the TLS library is cleaned up (OpenSSL
 * cleans up from atexit too, registered during curl_global_init: atexit is last in,
 * first out; GnuTLS from a destructor, later).  Its snapshot is CPU work the exit
 * report does anyway; on the network it gets 1 s (250 ms when the last push failed:
 * the server is away).  A regular push in progress when exit begins is cut short (its
 * socket is shut down, bg_pyro_abort), and so is a final push past its time: exit
 * never waits on a slow server longer than that, and the push thread is idle or
 * refusing new sockets before exit goes on; one that finished is joined (200 ms at
 * most), so its thread-local destructors are over before the TLS library's cleanup
 * runs.  A process exiting while its push thread still loads libcurl waits for it
 * within the same time.  _exit and abort paths
 * (bg__at_core_exit) do the same when atexit did not run.  exec loses at most the
 * interval before it (the new image pushes for itself).
 *
 * Fork.  A forked child has no push thread; its atfork handler starts a new one for
 * the child (its own pid label, from its own start), after closing the parent's
 * connection socket without a word to the server.  This makes the child
 * multithreaded at once - the same as the dashboard makes any process with http= -
 * which is why push= is for services, documented in docs/fleet.md.
 */
#define _GNU_SOURCE
#include <errno.h> /* program_invocation_short_name */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/snapshot.h"
#include "report/format.h"
#include "report/pyroscope.h"

#define BG_PUSH_EXIT_MS 1000
#define BG_PUSH_EXIT_FAILING_MS 250 /* the server failed the last push: one short try */
#define BG_PUSH_EXIT_PREP_MS 5000   /* snapshot + render before it: CPU work, bounded anyway */
#define BG_PUSH_MAX_REQUEST_MS 10000

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;    /* CLOCK_MONOTONIC */
  pthread_t th;
  int started;          /* a push thread was started in this process */
  int ready;            /* its libcurl is loaded: exit may push */
  int busy;             /* a push is in progress */
  int final;            /* exit: 1 asked, 2 done or given up */
  int failing;          /* the last push failed: exit does not wait long for this server */
  uint64_t final_window_ms; /* the final push's time on the network */
  uint64_t net_start_ms;    /* when the final push started talking to the server, 0 before */
  bg_pyro_t *pyro;
  uint64_t start_wall_ns;
} st;

static int atexit_late; /* once per image: a fork child inherits the registrations */
/* The application name pushed by default, read at start: programs rewrite their argv
 * (nginx: "nginx: worker process"), and program_invocation_short_name points there. */
static char app[64];

static uint64_t mono_ms(void) { return bg__now_ns() / 1000000; }

static void abs_deadline(struct timespec *ts, uint64_t at_mono_ms) {
  ts->tv_sec = (time_t)(at_mono_ms / 1000);
  ts->tv_nsec = (long)(at_mono_ms % 1000) * 1000000L;
}

/* One push of the window since *prev; when the server accepts it (or there is
 * nothing to send) *prev becomes now.  timeout_ms bounds the request. */
static void push_once(bg_model_t *prev, uint64_t *from_wall_ns, long timeout_ms, int *failing, int final) {
  bg_model_t cur, win;
  bg__snapshot(&cur);
  uint64_t now_wall = bg__wall_ns();
  /* the window is a copy: cur stays whole, the baseline of the next one if accepted */
  if (bg_model_copy(&win, &cur) < 0 || bg_model_delta(&win, prev) < 0) {
    bg_model_free(&win);
    bg_model_free(&cur);
    return;
  }
  win.started_ns = *from_wall_ns;
  win.ended_ns = now_wall;
  int ok = 1;
  char err[512] = "";
  if (win.nsites) {
    size_t len = 0;
    char *pprof = bg_render_n(&win, BG_FMT_pprof, NULL, &len);
    char labels[32];
    snprintf(labels, sizeof labels, "pid=%d", (int)getpid());
    int status = 0;
    if (final) { /* the exit deadline counts from here (the snapshot was CPU work) */
      pthread_mutex_lock(&st.mu);
      st.net_start_ms = mono_ms();
      pthread_cond_broadcast(&st.cv);
      pthread_mutex_unlock(&st.mu);
    }
    if (!pprof)
      snprintf(err, sizeof err, "%s", bg_render_error());
    else
      status = bg_pyro_push(st.pyro, labels, *from_wall_ns / 1000000000ull,
                            (now_wall + 999999999ull) / 1000000000ull, pprof, len, timeout_ms, err,
                            sizeof err);
    free(pprof);
    ok = status >= 200 && status <= 299;
  }
  if (ok) {
    bg_model_free(prev);
    *prev = cur;
    *from_wall_ns = now_wall;
    if (*failing && bg__opt.verbosity >= 1) bg__msg("push: %s accepts profiles again", bg__opt.push);
    *failing = 0;
  } else {
    bg_model_free(&cur);
    if (!*failing && bg__opt.verbosity >= 1)
      bg__msg("push failed (%s); the next push, in %llu s, covers these calls too", err,
              (unsigned long long)bg__opt.push_interval);
    *failing = 1;
  }
  bg_model_free(&win);
}

/* The last push, with a deadline; the push thread is idle when this returns.
 * wait_ready: a thread still loading libcurl (a process exiting right after start or
 * fork) is waited for within the deadline - from atexit only, never from a destructor
 * (_dl_fini holds the loader lock its dlopen needs). */
static void final_push_with(int wait_ready) {
  pthread_mutex_lock(&st.mu);
  if (!st.started || st.final || (!st.ready && !wait_ready)) {
    pthread_mutex_unlock(&st.mu);
    return;
  }
  bg__self.depth++; /* waiting here is ours, not the program's */
  uint64_t asked = mono_ms(), window = st.failing ? BG_PUSH_EXIT_FAILING_MS : BG_PUSH_EXIT_MS;
  uint64_t deadline = asked + window;
  struct timespec ts;
  abs_deadline(&ts, deadline);
  while (!st.ready && st.started && mono_ms() < deadline) pthread_cond_timedwait(&st.cv, &st.mu, &ts);
  if (!st.ready) { /* gave up (or the thread could not load libcurl: it said so) */
    pthread_mutex_unlock(&st.mu);
    bg__self.depth--;
    return;
  }
  st.final = 1;
  st.final_window_ms = window;
  st.net_start_ms = 0;
  if (st.busy) bg_pyro_abort(st.pyro); /* a regular push to a slow server: cut it */
  pthread_cond_broadcast(&st.cv);
  while (st.final != 2) {
    /* the snapshot and render first (CPU: the exit report does the same work), then
     * at most `window` on the network */
    uint64_t dl = st.net_start_ms ? st.net_start_ms + window : asked + BG_PUSH_EXIT_PREP_MS;
    if (mono_ms() < dl) {
      abs_deadline(&ts, dl);
      pthread_cond_timedwait(&st.cv, &st.mu, &ts);
      continue;
    }
    bg_pyro_abort(st.pyro); /* too slow: cut it, and give the thread 200 ms to come back */
    uint64_t grace = mono_ms() + 200;
    abs_deadline(&ts, grace);
    while (st.final != 2 && mono_ms() < grace) pthread_cond_timedwait(&st.cv, &st.mu, &ts);
    break; /* back or not: it holds no lock of the program's, and refuses new sockets */
  }
  int done = st.final == 2;
  pthread_mutex_unlock(&st.mu);
  /* Done: wait for the thread to be gone, not just idle.  Its exit runs libcurl's and
   * the TLS library's thread-local destructors, and the atexit handler that runs right
   * after this one is OpenSSL's cleanup of the same state: the two ran together now and
   * then ("malloc_consolidate(): unaligned fastbin chunk" at exit, t_push). */
  if (done) {
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    rt.tv_nsec += 200000000;
    if (rt.tv_nsec >= 1000000000) rt.tv_sec++, rt.tv_nsec -= 1000000000;
    pthread_timedjoin_np(st.th, NULL, &rt);
  }
  bg__self.depth--;
}

static void at_exit(void) { final_push_with(1); }
static void at_core_exit(void) { final_push_with(0); }

static void *push_main(void *arg) {
  (void)arg;
  char err[512];
  bg_pyro_t *p = bg_pyro_new(bg__opt.push, app, bg__opt.push_header, err, sizeof err);
  if (!p) {
    if (bg__opt.verbosity >= 1) bg__msg("%s; not pushing", err);
    pthread_detach(pthread_self()); /* nobody joins a thread that never pushes */
    pthread_mutex_lock(&st.mu);
    st.started = 0; /* exit does not wait for us */
    pthread_cond_broadcast(&st.cv);
    pthread_mutex_unlock(&st.mu);
    return NULL;
  }
  /* Again now that libcurl and its TLS library initialised: the OpenSSL build
   * registers OpenSSL's cleanup with atexit, and ours must run before it (last in,
   * first out); the registration made at start covers a process exiting before this
   * point.  at_exit runs once whichever comes first. */
  if (!__atomic_exchange_n(&atexit_late, 1, __ATOMIC_ACQ_REL)) atexit(at_exit);
  pthread_mutex_lock(&st.mu);
  st.pyro = p;
  st.ready = 1;
  pthread_cond_broadcast(&st.cv);
  bg_model_t prev;
  memset(&prev, 0, sizeof prev); /* the first window starts at this process's start */
  uint64_t from = st.start_wall_ns, interval_ms = bg__opt.push_interval * 1000;
  long req_ms = (long)(interval_ms < BG_PUSH_MAX_REQUEST_MS ? interval_ms : BG_PUSH_MAX_REQUEST_MS);
  int failing = 0;
  uint64_t next = mono_ms() + interval_ms;
  for (;;) {
    struct timespec ts;
    abs_deadline(&ts, next);
    while (!st.final && mono_ms() < next) pthread_cond_timedwait(&st.cv, &st.mu, &ts);
    long timeout = req_ms;
    int final = st.final != 0;
    if (final) { /* exit: the last window, within the time final_push_with allows */
      bg_pyro_allow(p);
      timeout = (long)st.final_window_ms;
    }
    st.busy = 1;
    pthread_mutex_unlock(&st.mu);
    push_once(&prev, &from, timeout, &failing, final);
    pthread_mutex_lock(&st.mu);
    st.busy = 0;
    st.failing = failing;
    if (st.final) break;
    next += interval_ms;
    if (next < mono_ms()) next = mono_ms() + interval_ms; /* after a slow push: no burst */
  }
  st.final = 2;
  pthread_cond_broadcast(&st.cv);
  pthread_mutex_unlock(&st.mu);
  bg_model_free(&prev);
  return NULL;
}

static void start_thread(void) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&st.mu, NULL);
  pthread_cond_init(&st.cv, &ca);
  pthread_condattr_destroy(&ca);
  st.start_wall_ns = bg__wall_ns();
  bg__self.depth++; /* a sidecar: never guarded, its calls pass straight through */
  st.started = pthread_create(&st.th, NULL, push_main, NULL) == 0; /* joined at exit */
  bg__self.depth--;
  if (!st.started && bg__opt.verbosity >= 1) bg__msg("push: cannot start the push thread; not pushing");
}

/* pthread_atfork child: this process's own push thread and connection. */
static void in_child(void) {
  if (!st.started) return;
  if (st.pyro) bg_pyro_forget_in_child(st.pyro); /* the parent's socket: closed, not used */
  memset(&st, 0, sizeof st);                     /* the mutex may be held by the parent's thread */
  start_thread();
}

void bg__push_start(void) {
  if (!bg__opt.push[0] || !bg__core_ready() || st.started) return;
  snprintf(app, sizeof app, "%s", program_invocation_short_name);
  start_thread();
  if (!st.started) return;
  pthread_atfork(NULL, NULL, in_child);
  atexit(at_exit);                /* exit(): the final push, waiting for a thread still starting */
  bg__at_core_exit(at_core_exit); /* _exit, abort: atexit did not run */
}
