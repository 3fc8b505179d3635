/* base.c - the facts every part of guard/ uses, depending on nothing else in guard/:
 * the thread's state (bg__self), the clocks, the call table's metadata, the process's
 * start and readiness, the exit hooks and the messages.
 *
 * They used to live in core.c, which made every file that prints a message or names a
 * call depend on the verdict's file, and through it on everything core.c calls: one
 * circle of seventeen files (tools/circles.py).  Here they are the bottom layer; the
 * few things they need from above are handed down (the message sink, by collect.c;
 * readiness and the start time, by core.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"

/* ---- the thread's state --------------------------------------------------------------- */
__thread bg__thread_t bg__self __attribute__((tls_model("initial-exec"))) = {
    .watch = 1, .slot = -1, .loop_fd = -1};

/* ---- clocks ------------------------------------------------------------------------------- */
uint64_t bg__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bg__wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- process facts (set by core.c) --------------------------------------------------- */
int bg__ready;
uint64_t bg__started_wall;
uint64_t bg__started_ns(void) { return bg__started_wall; }
int bg__core_ready(void) { return bg__ready; }

/* ---- the call table's metadata (filled by the shim) ------------------------------------ */
static const bg__callinfo_t *calltable;
static int ncalltable;

void bg__set_calltable(const bg__callinfo_t *rows, int n) {
  calltable = rows;
  ncalltable = n;
}
/* Stall sites (guard/loop.c) have no wrapped call: they are named "stall", one id past
 * the table, so the ledger's call names, rules (allow stall ...) and reports need no
 * special case. */
static const bg__callinfo_t stall_row = {"stall", BG_CAT_stall, 0, BG_OFF_NEVER};
const bg__callinfo_t *bg__callinfo(int id) {
  if (id == ncalltable && calltable) return &stall_row;
  return id >= 0 && id < ncalltable ? &calltable[id] : NULL;
}
int bg__ncalls(void) { return calltable ? ncalltable + 1 : 0; }
int bg__stall_call_id(void) { return ncalltable; }

/* ---- exit hooks: later layers (offload, report writers, HTTP) register without core.c
 * knowing them at compile time ------------------------------------------------------- */
static void (*exit_hooks[8])(void);
static int nexit_hooks;

void bg__at_core_exit(void (*fn)(void)) {
  if (nexit_hooks < 8) exit_hooks[nexit_hooks++] = fn;
}

void bg__run_exit_hooks(void) {
  for (int i = nexit_hooks - 1; i >= 0; i--) exit_hooks[i]();
}

/* ---- messages ---------------------------------------------------------------------------- */
static void (*msg_sink)(const char *text, size_t len);

void bg__msg_sink(void (*sink)(const char *text, size_t len)) {
  __atomic_store_n(&msg_sink, sink, __ATOMIC_RELEASE);
}

/* Where a message goes (docs/design.md "Messages"): under the CLI, into the ledger's
 * ring (the sink guard/collect.c sets once this process's ledger reached the CLI) -
 * the CLI prints it, the program's streams stay untouched.  Without the CLI,
 * where log_path says: stderr, or PATH.<pid> appended (sanitizer style); with the
 * default `auto`, stderr - except the exit summary, which is only printed when stderr
 * is a terminal (a person watching), never into a pipe or a log file the program's
 * readers parse.  text has no newline. */
void bg__emit(const char *text, size_t len, int summary) {
  int saved = errno;
  bg__self.depth++;
  void (*sink)(const char *, size_t) = __atomic_load_n(&msg_sink, __ATOMIC_ACQUIRE);
  if (sink) {
    sink(text, len);
  } else {
    const char *lp = bg__opt.log_path;
    int fd = 2, own = 0;
    if (lp[0] && strcmp(lp, "auto") && strcmp(lp, "stderr")) {
      char path[BG_OPT_STR_MAX + 32];
      snprintf(path, sizeof path, "%s.%d", lp, (int)getpid());
      fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      own = fd >= 0;
    } else if (summary && (!lp[0] || !strcmp(lp, "auto")) && !isatty(2)) {
      fd = -1;
    }
    for (int k = 0; fd >= 0 && k < 2; k++) {
      const char *p = k ? "\n" : text;
      size_t n = k ? (len && text[len - 1] == '\n' ? 0 : 1) : len;
      for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, p + off, n - off);
        if (w <= 0 && errno != EINTR) break;
        if (w > 0) off += (size_t)w;
      }
    }
    if (own) close(fd);
  }
  bg__self.depth--;
  errno = saved;
}

void bg__msg(const char *fmt, ...) {
  char buf[1024];
  int saved = errno;
  memcpy(buf, "blockguard: ", 12);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + 12, sizeof buf - 12, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  size_t len = 12 + ((size_t)n < sizeof buf - 12 ? (size_t)n : sizeof buf - 13);
  bg__emit(buf, len, 0);
  errno = saved;
}
