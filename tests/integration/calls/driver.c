/* driver.c - runs the case of one call-table row (tests/integration/calls/bgt.h).
 *
 *   calls ROW           run ROW's case: BLOCK and NONBLOCK forms, unguarded then
 *                       guarded; one result line per run on stdout
 *   calls --raise ROW   the guarded BLOCK run only, expecting action=raise: the call
 *                       must fail with errno EDEADLK and the row's fail value
 *   calls --opts ROW    extra BLOCKGUARD_OPTIONS the case needs
 *   calls --offload ROW the same runs as `calls ROW`, inside a bg_sched coroutine: under
 *                       mode=offload the guarded BLOCK call goes to a worker (or a
 *                       timer), and the output must still equal the bare run's
 *   calls --rows        every row the driver knows
 *
 * The case table is expanded from preload/calls.def and syscalls.def: a row without a
 * case is an undefined symbol, so adding a row without its test breaks the build.
 * Under the shim (detected through the public API) the driver also checks the verdicts:
 * no violation unguarded or in the NONBLOCK form; at least one in the guarded BLOCK form
 * (none when the case is the thread's loop wait).  It also checks each case against the
 * table: a row whose exempt column is "0" has no NONBLOCK form, any other row must test
 * its exemption.
 */
#include <stdarg.h>
#include <sys/time.h>
#include <threads.h>

#include "bgt.h"

typedef void (*case_fn)(bgt_t *);
struct row {
  const char *name, *kind, *exempt, *fail;
  case_fn fn;
  const char *const *opts;
};

#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  void bgt_case_##name(bgt_t *);                                                        \
  extern const char *bgt_opts_##name __attribute__((weak));
#define BG_TRACK(name, what) BG_CALL(name, , , , , , , , )
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  void bgt_case_sys_##name(bgt_t *);                                                    \
  extern const char *bgt_opts_sys_##name __attribute__((weak));
#include "preload/calls.def"
#include "preload/syscalls.def"
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_TRACK
#undef BG_SYSCALL

static const struct row rows[] = {
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  {#name, "call", #exempt, #fail, bgt_case_##name, &bgt_opts_##name},
#define BG_TRACK(name, what) {#name, "track", "", "", bgt_case_##name, &bgt_opts_##name},
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  {"sys_" #name, "sys", #exempt, "-1", bgt_case_sys_##name, &bgt_opts_sys_##name},
#include "preload/calls.def"
#include "preload/syscalls.def"
};

int bgt_outfd = -1;
static int loaded, failed;
static const char *cur_row;

void bgt_fail(bgt_t *t, const char *what) {
  dprintf(2, "FAIL: %s: %s\n", t ? t->row : cur_row, what);
  failed = 1;
}

void bgt_begin(bgt_t *t) {
  if (t->ncalls++) bgt_fail(t, "the case made more than one CALL");
  t->v0 = bg_violations();
  if (t->guard && !t->selfguard) bg_thread_guard(1);
}

void bgt_end(bgt_t *t, int err, long long ret) {
  if (t->guard && !t->selfguard) bg_thread_guard(0);
  t->v1 = bg_violations();
  t->err = err;
  t->ret = ret;
}

void bgt_out(bgt_t *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->out + t->outlen, sizeof t->out - t->outlen, fmt, ap);
  va_end(ap);
  if (n > 0) t->outlen += (size_t)n < sizeof t->out - t->outlen ? (size_t)n : sizeof t->out - t->outlen - 1;
  if (t->outlen < sizeof t->out - 1) t->out[t->outlen++] = ' ';
  t->out[t->outlen] = 0;
}

static const struct row *find(const char *name) {
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (!strcmp(rows[i].name, name)) return &rows[i];
  return NULL;
}

/* The fail column's value when it is a plain constant (or ends in one: "(x, EOF)"). */
static int fail_value(const char *fail, long long *v) {
  const char *s = strrchr(fail, ',');
  s = s ? s + 1 : fail;
  while (*s == ' ' || *s == '(') s++;
  char tok[32];
  size_t n = 0;
  while (*s && *s != ')' && n < sizeof tok - 1) tok[n++] = *s++;
  tok[n] = 0;
  static const struct {
    const char *name;
    long long v;
  } names[] = {{"EOF", EOF}, {"NULL", 0}, {"EDEADLK", EDEADLK}, {"EAI_SYSTEM", -11},
               {"thrd_error", thrd_error}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(tok, names[i].name)) return *v = names[i].v, 1;
  char *end;
  long long x = strtoll(tok, &end, 10);
  if (end == tok || *end) return 0;
  return *v = x, 1;
}

/* Runs one form; returns 1 when the case has no such form. */
static int run(const struct row *r, int form, int guard, int raise) {
  bgt_t t = {.row = r->name, .form = form, .guard = guard};
  cur_row = r->name;
  r->fn(&t);
  struct itimerval off = {{0, 0}, {0, 0}}; /* a case's SIGALRM that did not fire */
  setitimer(ITIMER_REAL, &off, NULL);
  if (t.skip) {
    if (form == BGT_BLOCK) bgt_fail(&t, "a case cannot skip its BLOCK form");
    if (!guard) dprintf(bgt_outfd, "%s form=%d skip\n", r->name, form);
    return 1;
  }
  if (t.ncalls != 1) {
    bgt_fail(&t, "the case made no CALL");
    return 0;
  }
  if (!raise)
    dprintf(bgt_outfd, "%s form=%d guard=%d ret=%lld errno=%d %s\n", r->name, form, guard, t.ret,
            t.err, t.out);
  if (!loaded) return 0;
  uint64_t d = t.v1 - t.v0;
  char msg[160];
  if (raise) {
    if (t.loopwait || t.selfguard || !strcmp(r->kind, "track")) return 0;
    long long want;
    if (t.err != EDEADLK) {
      snprintf(msg, sizeof msg, "mode=raise: errno %d, expected EDEADLK", t.err);
      bgt_fail(&t, msg);
    } else if ((t.retkind == 0 || t.retkind == 1 || t.retkind == 2) && fail_value(r->fail, &want) &&
               t.ret != (t.retkind == 1 ? want != 0 : want)) {
      snprintf(msg, sizeof msg, "mode=raise: returned %lld, the table says %s", t.ret, r->fail);
      bgt_fail(&t, msg);
    }
    return 0;
  }
  int want_violation = guard && form == BGT_BLOCK && !t.loopwait;
  if (want_violation && d == 0) bgt_fail(&t, "guarded blocking call recorded no violation");
  if (!want_violation && d != 0) {
    snprintf(msg, sizeof msg, "%s %s call recorded %llu violation(s)",
             guard ? "guarded" : "unguarded", form == BGT_BLOCK ? "blocking" : "non-blocking",
             (unsigned long long)d);
    bgt_fail(&t, msg);
  }
  return 0;
}

static void run_all_forms(const struct row *r, int *nb_skipped) {
  for (int form = BGT_BLOCK; form <= BGT_NONBLOCK; form++)
    for (int guard = 0; guard <= 1; guard++)
      if (run(r, form, guard, 0)) {
        *nb_skipped = 1;
        break;
      }
}

static void run_all(void *r) {
  int nb_skipped = 0;
  run_all_forms(r, &nb_skipped);
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--rows")) {
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) printf("%s\n", rows[i].name);
    return 0;
  }
  int raise = argc == 3 && !strcmp(argv[1], "--raise");
  int opts = argc == 3 && !strcmp(argv[1], "--opts");
  int offload = argc == 3 && !strcmp(argv[1], "--offload");
  if (argc != 2 && !raise && !opts && !offload) {
    fprintf(stderr, "usage: %s [--raise|--opts|--offload] ROW | --rows\n", argv[0]);
    return 2;
  }
  const struct row *r = find(argv[argc - 1]);
  if (!r) {
    fprintf(stderr, "%s: no case for row '%s'\n", argv[0], argv[argc - 1]);
    return 2;
  }
  if (opts) {
    printf("%s\n", r->opts && *r->opts ? *r->opts : ""); /* weak: NULL when absent */
    return 0;
  }
  umask(022);
  bgt_outfd = dup(1);
  /* Loaded?  Asked without bg_thread_guard(), whose answer would also pin this
   * thread's guard and override threads=name for the SELFGUARD cases. */
  loaded = dlsym(RTLD_DEFAULT, "bg__api_violations") != NULL;
  bg_violations();
  if (raise) {
    /* Calls that were not made leave buffers to flush at exit into closed pipes. */
    signal(SIGPIPE, SIG_IGN);
    run(r, BGT_BLOCK, 1, 1);
    return failed;
  }
  if (offload) {
    bg_sched_t *s = bg_sched_new(0);
    if (!s) {
      fprintf(stderr, "%s: --offload needs libblockguard.so\n", argv[0]);
      return 2;
    }
    bg_co_spawn(s, run_all, (void *)r);
    bg_sched_run(s);
    bg_sched_free(s);
    struct bg_offload_stats st;
    bg_offload_stats(&st);
    fprintf(stderr, "offloaded: jobs=%llu timers=%llu ring=%llu\n", (unsigned long long)st.jobs,
            (unsigned long long)st.timers, (unsigned long long)st.ring_ops);
    return failed;
  }
  int nb_skipped = 0;
  run_all_forms(r, &nb_skipped);
  /* The NONBLOCK form exists exactly when the table gives the row an exemption. */
  int has_rule = strcmp(r->exempt, "0") != 0;
  if (strcmp(r->kind, "track")) {
    if (has_rule && nb_skipped) bgt_fail(NULL, "the row has an exempt rule but its case never tests it");
    if (!has_rule && !nb_skipped) bgt_fail(NULL, "the row is never exempt but its case has a NONBLOCK form");
  }
  return failed;
}
