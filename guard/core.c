/* core.c - lifecycle and the verdict: what happens when a guarded thread blocks.
 *
 * bg__enter runs for every wrapped call a guarded thread makes.  In order it drops
 * what cannot be a violation (core re-entry, exempt arguments, categories not
 * selected, mode=off), then finds the site (stack + registry) because per-site rules
 * decide the action, then acts: raise fails the call before it is made, abort stops
 * the process with the site printed, warn prints once per site, report (and offload
 * outside a coroutine) lets the call run while bg__leave measures it.
 *
 * errno is saved on entry and restored on every exit from the core: the program must
 * see exactly what the real call set, nothing we did on the way.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "guard/lang.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/rules.h"
#include "guard/sites.h"
#include "guard/snapshot.h"
#include "report/jx.h"

static pid_t self_pid; /* this process, to tell a vfork child from us */
static const char *unguarded_reason;
static uint64_t viol_fallback;              /* when there is no ledger */
static uint64_t *violations = &viol_fallback; /* not allowed, counted: the ledger's */
static int argc0;
static char **argv0;

/* Set by guard/offload.c: the core does not know it at compile time. */
int (*bg__offload_hook)(bg__call_t *c);

/* Would an exit summary be printed?  Asked before building it: a summary is a snapshot
 * with every frame symbolized (libdw: milliseconds per site), which a process whose
 * stderr is a pipe would compute only to throw away. */
static int summary_wanted(void) {
  if (bg__collect_connected() || bg__opt.verbosity < 1) return 0;
  const char *lp = bg__opt.log_path;
  if (bg__opt.verbosity < 2 && (!lp[0] || !strcmp(lp, "auto"))) return isatty(2);
  return 1;
}

void bg__core_set_argv(int argc, char **argv) {
  argc0 = argc;
  argv0 = argv;
}

/* argc strings, NUL separated, into the ledger's arena (bounded: a huge command line
 * keeps its first 16 KiB). */
static void ledger_argv(bg__ledger_hdr_t *h) {
  size_t len = 0;
  int n = 0;
  for (; argv0 && n < argc0 && argv0[n]; n++) {
    size_t l = strlen(argv0[n]) + 1;
    if (len + l > 16384) break;
    len += l;
  }
  char *p = n ? bg__ledger_alloc(len) : NULL;
  if (!p) return;
  for (int i = 0, o = 0; i < n; i++) {
    size_t l = strlen(argv0[i]) + 1;
    memcpy(p + o, argv0[i], l);
    o += (int)l;
  }
  h->argc = (uint32_t)n;
  h->argv = bg__ledger_off(p);
}

/* Opens the ledger and records the facts of this image.  Runs whether or not the
 * options parsed: an invalid configuration is a fact a reader must see. */
static void ledger_start(const char *options, int invalid) {
  bg__ledger_spec_t spec = {BG_LB_ANON, (uint32_t)bg__opt.max_sites,
                            (uint32_t)bg__rules_active_count(), NULL};
  /* Under the CLI a memfd it gets (collect.c); report= without the CLI: a state file
   * next to the report (report_file.c). */
  char prefix[4096];
  if (bg__ledger_publish) {
    spec.backing = BG_LB_MEMFD;
  } else if (!invalid && bg__report_state_prefix(prefix, sizeof prefix) == 0) {
    spec.backing = BG_LB_FILE;
    spec.state_path = prefix;
    bg__ledger_child_path = bg__report_state_prefix;
  }
  bg__ledger_hdr_t *h = bg__ledger_open(&spec);
  if (!h) return;
  violations = &h->violations;
  h->options = bg__ledger_strdup(options ? options : "");
  h->options_invalid = (uint32_t)invalid;
  if (unguarded_reason) h->unguarded = bg__ledger_strdup(unguarded_reason);
  ledger_argv(h);
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd)) h->cwd = bg__ledger_strdup(cwd);
  bg__rules_to_ledger();
}

/* Options that did not parse: nothing is guarded.  The ledger still says so - under
 * the CLI (its collect= read from the raw text) it is how `blockguard check` learns
 * the exact message and exits 2 with it - and the message is printed. */
static void invalid(const char *options, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void invalid(const char *options, const char *kind, const char *fmt, ...) {
  static char why[700];
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(why, sizeof why, "%s: %s", kind, msg);
  bg__options_defaults(&bg__opt);
  bg__opt.mode = BG_ACT_OFF;
  unguarded_reason = why;
  bg__collect_setup_raw(options);
  ledger_start(options, 1);
  bg__msg("%s", msg);
}

static void stall_record(const uintptr_t *pcs, int n, uint64_t ns);

int bg__core_init(const char *options, const char *source) {
  char err[512];
  bg__stall_record = stall_record;
  bg__started_wall = bg__wall_ns();
  if (getauxval(AT_SECURE)) {
    /* setuid/setgid: nothing from the environment is trusted, so we do not guard. */
    bg__options_defaults(&bg__opt);
    bg__opt.mode = BG_ACT_OFF;
    unguarded_reason = "setuid/setgid process (AT_SECURE): the environment is not trusted";
    ledger_start(NULL, 1);
    return 0;
  }
  if (bg__options_parse(&bg__opt, options, err, sizeof err) < 0) {
    invalid(options, "invalid options", "%s: %s", source, err);
    return -1;
  }
  if (bg__rules_install(bg__opt.suppressions, err, sizeof err) < 0) {
    /* A broken allowlist is a bad option: the program must not run half-guarded. */
    invalid(options, "invalid allowlist", "suppressions: %s", err);
    return -1;
  }
  if (bg__opt.collect[0]) bg__collect_setup(bg__opt.collect);
  ledger_start(options, 0);
  bg__sites_init();
  bg__lang_init(); /* Python runtime in the process? (guard/lang.c) */
  bg__ready = 1;
  self_pid = getpid();
  bg__thread_guard_main();
  return 0;
}

/* A fork child that writes its own report names the same frames as its parent (the
 * sites they share, main, libc's start): without help each child would load libdw,
 * index libc's symbols and load jansson again - ~1 ms a child, the whole cost of a
 * pre-forking server's exits.  So a parent with sites not yet symbolized does that
 * before it forks, once per batch of new sites, and every child inherits the result
 * (symbolize.c's memo and index, the loaded libraries).  The work would be done at the
 * parent's own exit anyway; it is moved, not added.
 *
 * Never from a signal handler: fork is allowed there, dlopen and malloc are not.  A
 * handler runs with its signal blocked, so the warm-up is skipped when a blocked
 * signal has a handler installed, or is a fault signal (a crash handler installed with
 * SA_RESETHAND has SIG_DFL back by the time it runs; normal code never blocks those).
 * A fork with such signals blocked just goes without (the child symbolizes itself). */
static int maybe_in_handler(void) {
  sigset_t blocked;
  if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0) return 1;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sigismember(&blocked, sig) != 1) continue;
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT ||
        sig == SIGTRAP || sig == SIGSYS)
      return 1;
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0) continue; /* glibc's own (SIGCANCEL...): not ours */
    if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) return 1;
  }
  return 0;
}

static int warmed_sites;
static void warm_for_children(void) {
  int n = bg__sites_count();
  if (!bg__ready || bg__self.depth || n <= __atomic_load_n(&warmed_sites, __ATOMIC_RELAXED) ||
      bg__collect_connected() || (!bg__opt.report[0] && !summary_wanted()))
    return; /* under the CLI, the CLI symbolizes */
  bg__self.depth++;
  if (!maybe_in_handler()) {
    bg_model_t m;
    bg__snapshot(&m);
    bg_model_free(&m);
    bg_jx_load();
    __atomic_store_n(&warmed_sites, n, __ATOMIC_RELAXED);
  }
  bg__self.depth--;
}

void bg__core_atfork_prepare(void) {
  warm_for_children();
  bg__sites_atfork_prepare();
  bg__unw_atfork_prepare();
}
void bg__core_atfork_parent(void) {
  bg__unw_atfork_parent();
  bg__sites_atfork_parent();
}

void bg__core_atfork_child(void) {
  bg__unw_atfork_child();
  bg__self.depth++; /* the new ledger's open/fallocate are ours, not the program's */
  self_pid = getpid();
  bg__started_wall = bg__wall_ns();
  bg__sites_drop_index();  /* reads the parent's pool: before it is replaced */
  bg__ledger_after_fork(); /* then everything below points into the child's ledger */
  violations = bg__ledger ? &bg__ledger->violations : &viol_fallback;
  *violations = 0;
  bg__sites_after_fork();
  bg__rules_after_fork();
  bg__self.depth--;
  bg__loops_after_fork(); /* then the thread drops its loop role */
  bg__threads_after_fork();
}

uint64_t bg__violations_total(void) { return __atomic_load_n(violations, __ATOMIC_RELAXED); }
BG_EXPORT uint64_t bg__api_violations(void) { return bg__violations_total(); }

static void describe_caller(char *buf, size_t n, uintptr_t pc) {
  Dl_info di;
  if (pc && dladdr((void *)(pc - 1), &di) && di.dli_fname) {
    const char *mod = strrchr(di.dli_fname, '/');
    mod = mod ? mod + 1 : di.dli_fname;
    snprintf(buf, n, "%s (%s+0x%lx)", di.dli_sname ? di.dli_sname : "?", mod,
             (unsigned long)(pc - (uintptr_t)di.dli_fbase));
  } else {
    snprintf(buf, n, "0x%lx", (unsigned long)pc);
  }
}

static const char *call_name(int id) {
  const bg__callinfo_t *ci = bg__callinfo(id);
  return ci ? ci->name : "?";
}

static void thread_label(char *buf, size_t n) {
  int slot = bg__thread_register();
  snprintf(buf, n, "%s", slot >= 0 ? bg__thread_name_of_slot(slot) : "?");
}

void bg__core_fini(void) {
  static int done;
  if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) return;
  bg__self.depth++;
  bg__run_exit_hooks();
  /* Under the CLI the ledger is all: the CLI symbolizes, writes report= files and
   * prints one summary for the tree.  Nothing to do here but the marks below. */
  if (!bg__collect_connected()) {
    bg__report_write();
    /* The summary needs a snapshot (symbolization): only when there is something to
     * say - violations, or verbosity=2 */
    if (bg__ready && summary_wanted() && (bg__violations_total() || bg__opt.verbosity >= 2)) {
      bg_model_t m;
      char *text = NULL;
      size_t len = 0;
      bg__snapshot_final(&m);
      FILE *f = open_memstream(&text, &len);
      if (f) {
        bg_render_summary(f, &m);
        fclose(f);
        if (text && len) bg__emit(text, len, bg__opt.verbosity < 2);
        free(text);
      }
      bg_model_free(&m);
    }
  }
  bg__ledger_hdr_t *h = bg__ledger;
  if (h && __atomic_load_n(&h->status, __ATOMIC_ACQUIRE) == BG_LST_EXITING)
    bg__ledger_exited(h->exit_code);
  bg__self.depth--;
}

/* exit(code) was called (on_exit handler, preload/init.c): the code is known before
 * the destructors run. */
void bg__core_exiting(int code) { bg__ledger_exiting(code); }

/* _exit/_Exit (and quick_exit's end) skip destructors.  They are also async-signal-safe
 * and used by vfork children, so only this process, in its own address space (not a
 * vfork child sharing the parent's), marks its ledger and writes its report here:
 * the report when report= asks for one, the summary when there is one to print; see
 * docs/design.md. */
void bg__core_fast_exit(int code) {
  if (getpid() != self_pid || bg__self.depth) return;
  bg__ledger_exiting(code);
  if (!bg__ready) {
    bg__ledger_exited(code);
    return;
  }
  bg__lang_exit(); /* files the shim made a runtime write (node's perf map) */
  if (!bg__collect_connected() && (bg__opt.report[0] || bg__sites_count() || bg__sites_dropped()))
    bg__core_fini();
  bg__ledger_exited(code);
}

/* An exec replaces this image: the ledger says so (and where to), a state file of an
 * image that recorded nothing is removed (report_file.c).  Not in a vfork child (its
 * memory is the parent's).  If exec fails, the process goes on as before. */
/* What envp passes on: the shim in LD_PRELOAD, and BLOCKGUARD_OPTIONS with our collect=
 * (the CLI this process reports to), another's, or none. */
static uint32_t exec_env(char *const envp[]) {
  const char *pre = NULL, *opts = NULL;
  for (char *const *e = envp; e && *e; e++) {
    if (!strncmp(*e, "LD_PRELOAD=", 11)) pre = *e + 11;
    if (!strncmp(*e, "BLOCKGUARD_OPTIONS=", 19)) opts = *e + 19;
  }
  if (!pre || !strstr(pre, "libblockguard")) return BG_LEXEC_NO_PRELOAD;
  if (!bg__opt.collect[0]) return opts ? BG_LEXEC_SAME : BG_LEXEC_NO_OPTIONS;
  const char *c = opts ? strstr(opts, "collect=") : NULL;
  const char *last = NULL;
  for (; c; c = strstr(c + 1, "collect=")) last = c; /* the last one wins, as when parsed */
  if (!last) return BG_LEXEC_NO_OPTIONS;
  size_t n = strlen(bg__opt.collect);
  last += 8;
  return !strncmp(last, bg__opt.collect, n) && (last[n] == 0 || last[n] == ':') ? BG_LEXEC_SAME
                                                                              : BG_LEXEC_OTHER_CLI;
}

void bg__core_exec(const char *path, char *const envp[]) {
  if (!bg__ledger_mine()) return;
  bg__self.depth++;
  bg__ledger_exec(path, exec_env(envp));
  bg__report_exec();
  bg__self.depth--;
}

void bg__core_exec_failed(void) {
  if (!bg__ledger_mine()) return;
  bg__ledger_exec_failed();
}

static void stall_record(const uintptr_t *pcs, int n, uint64_t ns) {
  bg__thread_t *t = bg__self_ptr();
  if (!bg__ready || !(bg__opt.categories & (1u << BG_CAT_stall))) return;
  int saved = errno;
  t->depth++;
  bg__site_t *s = bg__site_get_stack(bg__stall_call_id(), BG_CAT_stall, t->allow > 0,
                                     bg__opt.mode, pcs, n);
  int action = s ? s->action : bg__opt.mode;
  if (s && s->quiet) action = BG_ACT_OFF;
  if (action != BG_ACT_OFF) {
    if (!(s && s->allowed)) __atomic_fetch_add(violations, 1, __ATOMIC_RELAXED);
    char who[256], th[32], d[32];
    if (s && !s->allowed && (action == BG_ACT_ABORT || action == BG_ACT_WARN) &&
        (action == BG_ACT_ABORT || !__atomic_exchange_n(&s->warned, 1, __ATOMIC_RELAXED))) {
      describe_caller(who, sizeof who, n ? pcs[0] : 0);
      thread_label(th, sizeof th);
      bg_fmt_ns(d, sizeof d, ns);
      bg__msg("%sevent loop '%s' stalled %s on CPU in %s%s",
              action == BG_ACT_WARN ? "warning: " : "", th, d, who,
              action == BG_ACT_ABORT ? ": aborting (mode=abort)" : "");
    }
    if (s) bg__site_add(s, ns, t->slot);
    if (action == BG_ACT_ABORT && s && !s->allowed) {
      t->depth--;
      bg__core_fini();
      abort();
    }
  }
  t->depth--;
  errno = saved;
}

/* ---- the counting rule ------------------------------------------------------------
 * bg_violations() (the counter) and the report (the sites' counts) must never
 * disagree, so every call the guard acts on is counted by these two functions and
 * bg__leave, under one rule:
 *   - a call refused before it is made (raise, abort) counts in bg__enter, min_us or
 *     not: its site gets a 0 ns call;
 *   - a call that is made (report, warn, offload on a worker or in place) counts when
 *     it returns, in bg__leave (guard/offload.c ends its calls there too), and only
 *     when it blocked min_us or more;
 *   - with min_us=0 every made call is a violation, so the counter moves in bg__enter
 *     already: a call the process dies inside (in flight, shown in the report by
 *     guard/ledger_read.c) is counted too.
 * Allowed calls go to their site, never to the counter. */
static inline void count_violation(const bg__call_t *c) {
  if (!c->allowed) __atomic_fetch_add(violations, 1, __ATOMIC_RELAXED);
}

static void count_refused(bg__call_t *c) {
  if (bg__opt.min_us) count_violation(c); /* else bg__enter counted it */
  if (c->site) bg__site_add(c->site, 0, bg__self.slot);
}

/* The messages of abort, warn and verbosity=2: out of line, so that the verdict path
 * keeps a small frame (no buffers to guard) for the common actions. */
static __attribute__((noinline, cold)) void say(int what, int id, uintptr_t caller) {
  char who[256], th[32];
  describe_caller(who, sizeof who, caller);
  if (what == 2) {
    bg__msg("new site: %s() from %s", call_name(id), who);
    return;
  }
  thread_label(th, sizeof th);
  if (what == 0)
    bg__msg("blocking call %s() on guarded thread '%s' from %s: aborting (mode=abort)",
            call_name(id), th, who);
  else
    bg__msg("warning: blocking call %s() on guarded thread '%s' from %s", call_name(id), th, who);
}

/* The action of a call that is a violation (not allowed, action not off): counts a
 * refused call, prints what warn and abort print, asks the offload hook.  Returns the
 * verdict; abort does not return. */
static int act(bg__thread_t *t, bg__call_t *c, int id, uintptr_t caller) {
  if (!bg__opt.min_us) count_violation(c); /* see the counting rule */
  switch (c->action) {
  case BG_ACT_RAISE:
    count_refused(c);
    return BG_RAISE;
  case BG_ACT_ABORT:
    say(0, id, caller);
    count_refused(c);
    t->depth--;
    bg__ledger_killing(SIGABRT); /* the report says how it ends */
    bg__core_fini();
    abort();
  case BG_ACT_WARN:
    if (c->site && !__atomic_exchange_n(&c->site->warned, 1, __ATOMIC_RELAXED)) say(1, id, caller);
    return BG_GO;
  case BG_ACT_OFFLOAD:
    return bg__offload_hook && bg__offload_hook(c) ? BG_OFFLOAD : BG_GO;
  default:
    return BG_GO;
  }
}

/* The call about to run is in flight, for a reader of the ledger when the process dies
 * inside it; the thread's previous call in flight (a signal handler's call nests inside
 * another) is kept in c for inflight_pop.  t0 before the site (release): a reader that
 * sees the site sees its t0. */
static inline void inflight_push(bg__ledger_thread_t *r, bg__call_t *c, int id) {
  c->prev_site = r->inflight_site;
  c->prev_call = r->inflight_call;
  c->prev_t0 = r->inflight_t0;
  /* A call in flight whose frame is not above ours was abandoned (a signal handler
   * longjmp'ed out of it), not interrupted: forget it. */
  if ((c->prev_site || c->prev_call) && r->inflight_frame <= (uintptr_t)c)
    c->prev_site = c->prev_call = 0, c->prev_t0 = 0;
  uint64_t prev_frame = r->inflight_frame;
  r->inflight_frame = (uintptr_t)c;
  c->prev_frame = (c->prev_site || c->prev_call) ? prev_frame : 0;
  __atomic_store_n(&r->inflight_t0, c->t0, __ATOMIC_RELAXED);
  __atomic_store_n(&r->inflight_call, (uint32_t)id + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&r->inflight_site, c->site ? bg__site_index(c->site) + 1 : 0, __ATOMIC_RELEASE);
}

static inline void inflight_pop(bg__ledger_thread_t *r, const bg__call_t *c) {
  __atomic_store_n(&r->inflight_site, c->prev_site, __ATOMIC_RELEASE);
  __atomic_store_n(&r->inflight_call, c->prev_call, __ATOMIC_RELAXED);
  __atomic_store_n(&r->inflight_t0, c->prev_t0, __ATOMIC_RELAXED);
  r->inflight_frame = c->prev_frame;
}

/* The verdict, in phases: what cannot be a violation passes; the site (stack +
 * registry, whose rules decide the action); the action; the call in flight. */
int bg__enter(bg__call_t *c, int id, int category, int exempt, uintptr_t caller) {
  bg__thread_t *t = bg__self_ptr();
  if (t->depth || !bg__ready || exempt) return BG_PASS;
  /* The loop that guarded this thread ended (its fd closed, maybe on another thread). */
  if (BG_UNLIKELY(t->loop_fd >= 0) && bg__loop_gone(t) && !t->guarded) return BG_PASS;
  if (!(bg__opt.categories & (1u << category))) return BG_PASS;
  int *errp = &errno;
  int saved = *errp;
  t->depth++;
  c->id = id;
  c->category = category;
  c->caller = caller;
  c->allowed = t->allow > 0;
  c->action = bg__opt.mode;
  /* The stack is captured here, not deeper in the core: libunwind cannot start at a
   * given frame (1.6), so every core frame above the capture is walked for nothing. */
  uintptr_t pcs[BG_MAX_FRAMES];
  int npcs;
  BG_STACK_CAPTURE_HERE(pcs, bg__stack_depth(), 1, npcs);
  c->site = bg__site_of(id, category, c->allowed, bg__opt.mode, pcs, npcs);
  if (c->site && c->site->quiet) { /* a runtime working for the shim (guard/lang.h) */
    t->depth--;
    *errp = saved;
    return BG_PASS;
  }
  if (c->site) {
    c->action = c->site->action;
    c->allowed = c->site->allowed;
  }
  int verdict;
  if (c->action == BG_ACT_OFF) {
    verdict = BG_PASS;
  } else if (c->allowed) {
    c->action = BG_ACT_REPORT; /* allowed calls are counted, never acted on */
    verdict = BG_GO;
  } else {
    verdict = act(t, c, id, caller);
  }
  if (bg__opt.verbosity >= 2 && c->site && verdict != BG_PASS && c->action != BG_ACT_WARN &&
      !__atomic_exchange_n(&c->site->announced, 1, __ATOMIC_RELAXED))
    say(2, id, caller);
  t->depth--;
  *errp = saved;
  c->t0 = verdict == BG_GO ? bg__now_ns() : 0;
  if (verdict == BG_GO && t->rec)
    inflight_push(t->rec, c, id);
  else
    c->prev_t0 = UINT64_MAX; /* nothing to restore */
  return verdict;
}

void bg__leave(bg__call_t *c) {
  bg__ledger_thread_t *r = bg__self.rec;
  if (r && c->prev_t0 != UINT64_MAX) inflight_pop(r, c);
  /* Atomics only: no wrapped call, errno untouched (clock_gettime does not fail). */
  uint64_t now = bg__now_ns(), dt = now - c->t0;
  if (dt < bg__opt.min_us * 1000ull) return; /* the counting rule: not a violation */
  if (bg__opt.min_us) count_violation(c);
  if (c->site) bg__site_record(c->site, dt, now, bg__self.slot);
}
