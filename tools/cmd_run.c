/* cmd_run.c - `blockguard run` and `blockguard check`: a program and its whole process
 * tree under the shim, one verdict.
 *
 *   blockguard run   [--wait=all|child] [--key=value...] [--] CMD ARGS
 *   blockguard check [--wait=all|child] [--baseline=OLD] [--key=value...] [--] CMD ARGS
 *
 * A run, phase by phase (cmd_run calls one function per phase):
 *   1. check_input: every --key=value against the option table the shim uses, the
 *      allowlist against the call table (names embedded from preload/calls.def), so a
 *      typo exits 2 here, before anything runs;
 *   2. listen_tree: listen for the tree's ledgers (cmd_run_tree.c), become a subreaper
 *      (PR_SET_CHILD_SUBREAPER: daemonized descendants are adopted, not lost to init);
 *   3. start_program: CMD with the shim preloaded and collect=NAME in BLOCKGUARD_OPTIONS;
 *   4. wait_tree: reap every child (--wait=all, the default, until none is left: a program
 *      that daemonizes is waited for; --wait=child stops when CMD itself exits), take
 *      the ledgers as they arrive, print the tree's messages as they come, forward
 *      SIGTERM/SIGINT/SIGHUP/SIGQUIT sent to us by another process;
 *   5. report_tree: read every ledger, write report= files for the tree, print one
 *      merged summary and what is missing, by pid and why;
 *   6. verdict (check): 2 bad input, `exitcode` (66) violations, 67 a report is
 *      missing or incomplete, else the program's own status (128+N when killed by
 *      signal N, like a shell).  docs/reports.md.
 *
 * --http=ADDR:PORT (with --http_token, --http_hosts) is the CLI's own: one dashboard,
 * one /metrics, one /debug/pprof/block for the whole tree, served from the images'
 * ledgers as they are (cmd_run_tree.c, bg_tree_snapshot), with a process filter
 * (?pid=N); the programs do not serve one each.  An http= in BLOCKGUARD_OPTIONS still
 * reaches them (each process its own dashboard).  docs/fleet.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/rules.h"
#include "report/format.h"
#include "report/http.h"
#include "tools/cli.h"
#include "tools/cmd_run_tree.h"

/* ---- the call table's names (allowlist pre-check) ------------------------------------ */
/* The rows the shim's own table has (preload/wrappers.c): a rule naming anything else
 * stops the program inside the shim, so it is refused here first, with FILE:LINE. */
static const bg__callinfo_t cli_calls[] = {
#define BG_CALL(call, ...) {.name = #call},
#define BG_SYSCALL(call, ...) {.name = "syscall(" #call ")"},
#include "preload/calls.def"
#include "preload/syscalls.def"
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_SYSCALL
};

/* ---- locating the shim ------------------------------------------------------------ */
static int find_shim(char *out, size_t n) {
  const char *env = getenv("BLOCKGUARD_LIB");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return access(out, R_OK) == 0 ? 0 : -1;
  }
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return -1;
  self[len] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return -1;
  *slash = 0;
  const char *cands[] = {"%s/libblockguard.so", "%s/../lib/libblockguard.so",
                         "%s/../lib/x86_64-linux-gnu/libblockguard.so"};
  for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
    snprintf(out, n, cands[i], self);
    if (access(out, R_OK) == 0) {
      char real[PATH_MAX];
      if (realpath(out, real)) snprintf(out, n, "%s", real);
      return 0;
    }
  }
  return -1;
}

#if defined(__SANITIZE_ADDRESS__)
#include <link.h>
/* A sanitizer build of the shim needs the ASan runtime first in LD_PRELOAD; this CLI,
 * built the same way, has it loaded already. */
static int find_asan(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  if (strstr(info->dlpi_name, "libasan.so")) {
    snprintf(arg, PATH_MAX, "%s", info->dlpi_name);
    return 1;
  }
  return 0;
}
#endif

static void sanitizer_runtime(char *out) {
  out[0] = 0;
#if defined(__SANITIZE_ADDRESS__)
  dl_iterate_phdr(find_asan, out);
#endif
}

/* ---- 1. input ------------------------------------------------------------------------- */
/* Appends ":key=value" to the options string, validating against the table. */
static int add_flag(char *opts, size_t n, bg__options_t *check, const char *flag) {
  const char *kv = flag + 2, *eq = strchr(kv, '=');
  char err[512];
  if (!eq) {
    fprintf(stderr, "blockguard: option '%s': expected --key=value\n", flag);
    return -1;
  }
  if (!strncmp(kv, "collect=", 8)) {
    fprintf(stderr, "blockguard: option 'collect' is set by run/check itself\n");
    return -1;
  }
  if (bg__options_set(check, kv, (size_t)(eq - kv), eq + 1, strlen(eq + 1), err, sizeof err) < 0) {
    fprintf(stderr, "blockguard: %s\n", err);
    return -1;
  }
  size_t used = strlen(opts);
  if ((size_t)snprintf(opts + used, n - used, "%s%s", used ? ":" : "", kv) >= n - used) {
    fprintf(stderr, "blockguard: options too long\n");
    return -1;
  }
  return 0;
}

typedef struct run_args {
  int checking;
  const char *http, *http_token, *http_hosts; /* the tree's dashboard (--http=...) */
  int wait_child;                             /* --wait=child */
  const char *baseline;                       /* --baseline=OLD */
  bg__options_t o;                            /* as the shim will parse them */
  char opts[8192];                            /* BLOCKGUARD_OPTIONS for the program */
  char **cmd;                                 /* CMD ARGS */
  bg_model_t base;                            /* the baseline's sites (--baseline) */
  char shim[PATH_MAX];                        /* libblockguard.so */
  const char *unguardable; /* why CMD cannot be guarded (static, setuid...), or NULL */
  char why[PATH_MAX + 128];
} run_args_t;

/* 0, or 2 after printing the problem. */
static int parse_args(int argc, char **argv, run_args_t *a) {
  char err[512];
  const char *env = getenv("BLOCKGUARD_OPTIONS");
  if (bg__options_parse(&a->o, env, err, sizeof err) < 0) {
    fprintf(stderr, "blockguard: BLOCKGUARD_OPTIONS: %s\n", err);
    return 2;
  }
  if (env) snprintf(a->opts, sizeof a->opts, "%s", env);
  int i = 1;
  for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    }
    if (!strncmp(argv[i], "--baseline=", 11) && a->checking) {
      a->baseline = argv[i] + 11;
    } else if (!strcmp(argv[i], "--wait=all")) {
      a->wait_child = 0;
    } else if (!strcmp(argv[i], "--wait=child")) {
      a->wait_child = 1;
    } else if (!strncmp(argv[i], "--http=", 7)) { /* the CLI serves the tree: not passed on */
      a->http = argv[i] + 7;
    } else if (!strncmp(argv[i], "--http_token=", 13)) {
      a->http_token = argv[i] + 13;
    } else if (!strncmp(argv[i], "--http_hosts=", 13)) {
      a->http_hosts = argv[i] + 13;
    } else if (!strncmp(argv[i], "--wait", 6)) {
      fprintf(stderr, "blockguard: %s: expected --wait=all or --wait=child\n", argv[i]);
      return 2;
    } else if (add_flag(a->opts, sizeof a->opts, &a->o, argv[i]) < 0) {
      return 2;
    }
  }
  if (a->o.suppressions[0]) { /* a broken allowlist fails here, before anything runs */
    bg__rules_t rs;
    char rerr[1200];
    bg__set_calltable(cli_calls, (int)(sizeof cli_calls / sizeof cli_calls[0]));
    int rc = bg__rules_load(&rs, a->o.suppressions, rerr, sizeof rerr);
    bg__set_calltable(NULL, 0);
    if (rc < 0) {
      fprintf(stderr, "blockguard: suppressions: %s\n", rerr);
      return 2;
    }
    bg__rules_free(&rs);
  }
  if (i >= argc) {
    fprintf(stderr, "blockguard %s: no command given\n", argv[0]);
    return 2;
  }
  a->cmd = argv + i;
  return 0;
}

/* 1. The input, all of it checked before anything runs: options and allowlist
 * (parse_args), the baseline, the shim, whether CMD can be guarded at all.  0, or 2
 * after printing the problem. */
static int check_input(int argc, char **argv, run_args_t *a) {
  int rc = parse_args(argc, argv, a);
  if (rc) return rc;
  if (a->baseline && bg_cli_load(1, (char *const *)&a->baseline, &a->base) < 0) return 2;
  if (find_shim(a->shim, sizeof a->shim) < 0) {
    fprintf(stderr, "blockguard: cannot find libblockguard.so (set BLOCKGUARD_LIB)\n");
    return 2;
  }
  a->unguardable = bg_cli_unguardable(a->cmd[0], a->why, sizeof a->why);
  if (a->unguardable)
    fprintf(stderr, "blockguard: NOT GUARDED: %s; %s\n", a->unguardable,
            a->checking ? "check fails" : "running it unguarded");
  return 0;
}

/* 2. Listen for the tree's ledgers (collect=NAME goes into the program's options) and
 * adopt whatever the tree daemonizes.  NULL after printing the problem. */
static bg_tree_t *listen_tree(run_args_t *a) {
  char name[128], err[512];
  bg_tree_opts_t to = {a->o.report[0] ? a->o.report : NULL, a->o.format, stderr, a->http != NULL};
  bg_tree_t *t = bg_tree_new(&to, name, sizeof name, err, sizeof err);
  if (!t) {
    fprintf(stderr, "blockguard: %s\n", err);
    return NULL;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  size_t used = strlen(a->opts);
  snprintf(a->opts + used, sizeof a->opts - used, "%scollect=%s", used ? ":" : "", name);
  return t;
}

/* ---- the tree's dashboard (--http) ------------------------------------------------------ */
static int tree_snapshot(bg_model_t *m, void *arg, const bg_http_query_t *q, char *err,
                         size_t errlen) {
  int rc = bg_tree_snapshot(arg, q->pid, m, err, errlen);
  return rc == 1 ? BG_HTTP_NO_SUCH_PROCESS : rc;
}

static void dash_log(const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "blockguard: dashboard: %s\n", msg);
}

/* Serves the tree on --http (a bad address or a missing token: exit 2, nothing run). */
static bg_http_t *start_dashboard(const run_args_t *a, bg_tree_t *t) {
  char err[512];
  bg_http_config_t cfg = {.addr = a->http,
                          .token = a->http_token,
                          .hosts = a->http_hosts,
                          .snapshot = tree_snapshot,
                          .arg = t,
                          .mode = "live",
                          .log = a->o.verbosity >= 2 ? dash_log : NULL};
  bg_http_t *h = bg_http_start(&cfg, NULL, err, sizeof err);
  if (!h) {
    fprintf(stderr, "blockguard: %s\n", err);
    return NULL;
  }
  fprintf(stderr, "blockguard: dashboard at %s (every process of the tree)\n", bg_http_url(h));
  fflush(stderr);
  return h;
}

/* ---- 3. running ------------------------------------------------------------------------ */
typedef struct run_state {
  pid_t child;
  int child_done, child_status;
  int exec_errno; /* CMD could not be executed */
  int sfd;        /* signalfd: SIGCHLD and the signals we forward */
  sigset_t old_mask;
  bg_http_t *dash; /* --http: the tree's dashboard */
} run_state_t;

/* Starts CMD with the shim (after a sanitizer runtime we run under, before the
 * caller's own LD_PRELOAD) and the options; the signals we wait for come through a
 * signalfd from here on.  0, or -1 after printing the problem.  A CMD that cannot be
 * executed is not an error here: r->exec_errno says why (127/126 like a shell). */
static int start_program(const run_args_t *a, bg_tree_t *t, run_state_t *r) {
  const char *old_preload = getenv("LD_PRELOAD");
  char preload[PATH_MAX * 3], asan[PATH_MAX];
  sanitizer_runtime(asan);
  snprintf(preload, sizeof preload, "%s%s%s%s%s", asan, asan[0] ? ":" : "", a->shim,
           old_preload && *old_preload ? ":" : "", old_preload ? old_preload : "");
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD), sigaddset(&mask, SIGINT), sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP), sigaddset(&mask, SIGQUIT);
  sigprocmask(SIG_BLOCK, &mask, &r->old_mask);
  r->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  int ep[2]; /* the child's exec errno, if exec fails */
  if (r->sfd < 0 || pipe2(ep, O_CLOEXEC) < 0) {
    fprintf(stderr, "blockguard: %s\n", strerror(errno));
    return -1;
  }
  /* after the signal mask: the server's threads must not take our signals */
  if (a->http && !(r->dash = start_dashboard(a, t))) return -1;
  r->child = fork();
  if (r->child < 0) {
    fprintf(stderr, "blockguard: fork: %s\n", strerror(errno));
    return -1;
  }
  if (r->child == 0) {
    close(ep[0]);
    sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
    setenv("LD_PRELOAD", preload, 1);
    setenv("BLOCKGUARD_OPTIONS", a->opts, 1);
    execvp(a->cmd[0], a->cmd);
    int e = errno;
    if (write(ep[1], &e, sizeof e) < 0) _exit(127);
    _exit(e == ENOENT ? 127 : 126);
  }
  close(ep[1]);
  if (read(ep[0], &r->exec_errno, sizeof r->exec_errno) != (ssize_t)sizeof r->exec_errno)
    r->exec_errno = 0;
  close(ep[0]);
  if (r->exec_errno)
    fprintf(stderr, "blockguard: cannot run %s: %s\n", a->cmd[0], strerror(r->exec_errno));
  return 0;
}

/* ---- 4. waiting ------------------------------------------------------------------------- */
static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A termination signal another process sent us goes to the program: to CMD while it
 * runs, then to every process we adopted (a daemon left behind).  One the kernel sent
 * (a terminal's ^C, a hangup) reached the foreground process group already: not again. */
static void kill_children(int sig) {
  DIR *d = opendir("/proc");
  if (!d) return;
  int self = (int)getpid();
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 1) continue;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    int ppid;
    if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == self) kill((pid_t)pid, sig);
  }
  closedir(d);
}

static void forward(const struct signalfd_siginfo *si, pid_t child, int child_done) {
  if (si->ssi_code != SI_USER && si->ssi_code != SI_QUEUE && si->ssi_code != SI_TKILL) return;
  int sig = (int)si->ssi_signo;
  if (!child_done)
    kill(child, sig);
  else
    kill_children(sig); /* the daemons we adopted */
}

static void reap(bg_tree_t *t, run_state_t *r) {
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p <= 0) break;
    bg_tree_reaped(t, p, st, wall_ns());
    if (p == r->child) r->child_done = 1, r->child_status = st;
  }
}

/* Until no child is left (--wait=all: a program that daemonizes is waited for) or CMD
 * itself has exited (--wait=child): forward signals, take the ledgers as they arrive,
 * reap, print the tree's messages as they come. */
static void wait_tree(bg_tree_t *t, run_state_t *r, int wait_child) {
  for (;;) {
    struct pollfd pf[2] = {{bg_tree_fd(t), POLLIN, 0}, {r->sfd, POLLIN, 0}};
    poll(pf, 2, 250);
    struct signalfd_siginfo si;
    while (read(r->sfd, &si, sizeof si) == (ssize_t)sizeof si)
      if (si.ssi_signo != SIGCHLD) forward(&si, r->child, r->child_done);
    bg_tree_accept(t);
    reap(t, r);
    bg_tree_poll(t);
    if (r->child_done && wait_child) break;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD) break;
  }
  close(r->sfd);
  sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
}

/* ---- 5. the tree's reports ------------------------------------------------------------- */
typedef struct run_outcome {
  uint64_t violations; /* not allowed, over the whole tree */
  long new_sites;      /* sites not in the baseline; -1 without --baseline */
  int problems;        /* processes without a complete report, CMD unguardable */
} run_outcome_t;

/* Reads every ledger (report= files are written), prints the merged summary, the
 * baseline gate and what is missing, by pid and why.  0, or 2 when a process of the
 * tree refused its options. */
static int report_tree(bg_tree_t *t, run_args_t *a, const run_state_t *r, run_outcome_t *out) {
  bg_tree_finish(t, a->wait_child);
  const bg_model_t *m = bg_tree_merged(t);
  int problems = 0, invalid = 0, procs = 0;
  for (int i = 0; i < bg_tree_nprocs(t); i++) {
    const bg_tree_proc_t *p = bg_tree_proc(t, i);
    procs += p->ledger;
    if (!p->problem) continue;
    if (p->pid == r->child && r->exec_errno) continue; /* said above */
    if (p->invalid_options) {
      if (!invalid++) fprintf(stderr, "blockguard: %s (pid %d)\n", p->problem, p->pid);
      continue;
    }
    problems++;
    const char *cmd = strcmp(p->cmd, "?") ? p->cmd : p->pid == r->child ? a->cmd[0] : "?";
    fprintf(stderr, "blockguard: pid %d (%s): %s\n", p->pid, cmd, p->problem);
  }
  if (invalid) return 2;
  out->violations = 0;
  for (int i = 0; i < m->nsites; i++)
    if (!m->sites[i].allowed) out->violations += m->sites[i].count;
  bg_render_summary_tree(stderr, m, procs);
  out->new_sites = -1;
  if (a->baseline) { /* same gate as `blockguard report --baseline` */
    bg_model_t cur;
    bg_merge_t g;
    bg_merge_init(&g);
    bg_merge_add(&g, m);
    bg_merge_finish(&g, &cur);
    out->new_sites = bg_cli_gate(&cur, &a->base, stderr, "text");
    bg_model_free(&cur);
  }
  if (a->unguardable) problems++;
  if (problems)
    fprintf(stderr, "blockguard: %d process%s %s no complete report (see above)\n", problems,
            problems == 1 ? "" : "es", problems == 1 ? "has" : "have");
  out->problems = problems;
  return 0;
}

/* ---- 6. the verdict -------------------------------------------------------------------- */
/* run: the program's own status (128+N when killed by signal N, like a shell; 127/126
 * when it could not be executed).  check: `exitcode` on violations (new sites with
 * --baseline), else BG_EXIT_INCOMPLETE when a report is missing or incomplete, else
 * the program's status (docs/reports.md). */
static int verdict(const run_args_t *a, const run_state_t *r, const run_outcome_t *out) {
  int status = r->exec_errno ? (r->exec_errno == ENOENT ? 127 : 126) : 0;
  if (!r->exec_errno && r->child_done && WIFSIGNALED(r->child_status)) {
    int sig = WTERMSIG(r->child_status);
    fprintf(stderr, "blockguard: %s was killed by signal %d (%s)%s\n", a->cmd[0], sig,
            strsignal(sig), WCOREDUMP(r->child_status) ? ", core dumped" : "");
    status = 128 + sig;
  } else if (!r->exec_errno && r->child_done) {
    status = WEXITSTATUS(r->child_status);
  }
  if (!a->checking) return status;
  int failing = a->baseline ? out->new_sites != 0 : out->violations != 0;
  if (failing) {
    fprintf(stderr, "blockguard: check failed: blocking calls on guarded threads (exit %d)\n",
            (int)a->o.exitcode);
    return (int)a->o.exitcode;
  }
  if (out->problems) {
    fprintf(stderr, "blockguard: check failed: a report is missing or incomplete (exit %d)\n",
            BG_EXIT_INCOMPLETE);
    return BG_EXIT_INCOMPLETE;
  }
  return status;
}

/* ---- the command: the phases of the head comment, in order ---------------------------- */
static int cmd_run(int argc, char **argv, int checking) {
  static run_args_t a; /* 26 KiB of paths and options: not on the stack */
  memset(&a, 0, sizeof a);
  a.checking = checking;
  int rc = check_input(argc, argv, &a);       /* 1 */
  bg_tree_t *t = rc ? NULL : listen_tree(&a); /* 2 */
  run_state_t r = {0};
  if (!rc && (!t || start_program(&a, t, &r) < 0)) rc = 2; /* 3 */
  run_outcome_t out;
  if (!rc) {
    wait_tree(t, &r, a.wait_child);    /* 4 */
    rc = report_tree(t, &a, &r, &out); /* 5 */
  }
  if (r.dash) bg_http_stop(r.dash, 1000);
  if (t) bg_tree_free(t);
  bg_model_free(&a.base);
  return rc ? rc : verdict(&a, &r, &out); /* 6 */
}

int bg_cmd_run(int argc, char **argv) { return cmd_run(argc, argv, 0); }
int bg_cmd_check(int argc, char **argv) { return cmd_run(argc, argv, 1); }
