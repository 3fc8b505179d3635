/* blockguard.c - the command-line front end (DESIGN.md "CLI").
 *
 *   blockguard run   [--key=value...] -- CMD ARGS   run under the shim, summary on stderr
 *   blockguard check [--key=value...] -- CMD ARGS   same; exit `exitcode` on violations
 *   blockguard report ... / serve ...               see tools/cmd_report.c, cmd_serve.c
 *
 * run/check validate every --key=value with the same option table the shim uses, so a
 * typo fails here with exit 2 before anything runs.  They preload the shim found next
 * to this binary (or ../lib, or $BLOCKGUARD_LIB), and point the `collect` option at a
 * private directory where every process of the tree drops <pid>.json at exit; those
 * files are how check counts violations across forks and execs.
 *
 * "No violations" must never hide "never looked": a static or setuid program ignores
 * LD_PRELOAD, so run/check inspect the ELF file first, and after the run they insist
 * on a report from the direct child; if there is none they say so and check fails.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/rules.h"
#include "report/format.h"
#include "tools/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: blockguard run   [--key=value...] [--] CMD [ARGS...]\n"
          "       blockguard check [--baseline=OLD.json] [--key=value...] [--] CMD [ARGS...]\n"
          "       blockguard report [--format F] [--baseline OLD.json] [--suppressions] FILE|DIR...\n"
          "       blockguard serve [--http ADDR:PORT] FILE|DIR...\n"
          "       blockguard --help | --version\n\n"
          "Options (--key=value, or BLOCKGUARD_OPTIONS=\"key=value:key=value\"):\n");
}

static void print_option(const char *key, const char *def, const char *help, void *arg) {
  fprintf(arg, "  --%-14s %s%s%s%s\n", key, help, def[0] ? " [" : "", def, def[0] ? "]" : "");
}

static void print_option_md(const char *key, const char *def, const char *help, void *arg) {
  fprintf(arg, "| `%s` | %s%s%s | ", key, def[0] ? "`" : "—", def, def[0] ? "`" : "");
  for (const char *p = help; *p; p++) /* a '|' in the help would end the table cell */
    fputs(*p == '|' ? "\\|" : (char[]){*p, 0}, arg);
  fputs(" |\n", arg);
}

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

/* ---- can LD_PRELOAD work on this program? ----------------------------------------- */
static int find_in_path(const char *cmd, char *out, size_t n) {
  if (strchr(cmd, '/')) {
    snprintf(out, n, "%s", cmd);
    return access(out, X_OK) == 0 ? 0 : -1;
  }
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path; *p;) {
    const char *e = strchr(p, ':');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    snprintf(out, n, "%.*s/%s", (int)l, l ? p : ".", cmd);
    struct stat st;
    if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return 0;
    p += l;
    if (*p == ':') p++;
  }
  return -1;
}

/* Returns NULL when the shim can see the program, else why it cannot. */
const char *bg_cli_unguardable(const char *cmd, char *why, size_t n) {
  char path[PATH_MAX];
  if (find_in_path(cmd, path, sizeof path) < 0) return NULL; /* exec will report it */
  for (int depth = 0; depth < 4; depth++) {
    struct stat st;
    if (stat(path, &st) < 0) return NULL;
    if ((st.st_mode & (S_ISUID | S_ISGID)) && geteuid() != 0) {
      snprintf(why, n, "%s is setuid/setgid: the dynamic loader ignores LD_PRELOAD", path);
      return why;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    unsigned char buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    close(fd);
    if (got >= 2 && buf[0] == '#' && buf[1] == '!') { /* script: look at its interpreter */
      buf[got < (ssize_t)sizeof buf ? got : (ssize_t)sizeof buf - 1] = 0;
      char *s = (char *)buf + 2;
      while (*s == ' ' || *s == '\t') s++;
      size_t l = strcspn(s, " \t\n");
      s[l] = 0;
      if (!strcmp(s, "/usr/bin/env") || !strcmp(s, "/bin/env")) {
        char *arg = s + l + 1;
        while (*arg == ' ' || *arg == '\t') arg++;
        arg[strcspn(arg, " \t\n")] = 0;
        if (find_in_path(arg, path, sizeof path) < 0) return NULL;
      } else {
        snprintf(path, sizeof path, "%s", s);
      }
      continue;
    }
    if (got < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG)) return NULL;
    if (buf[EI_CLASS] != ELFCLASS64) {
      snprintf(why, n, "%s is not a 64-bit program: the shim cannot be loaded into it", path);
      return why;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
    int has_interp = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    for (int i = 0; fd >= 0 && i < eh->e_phnum; i++) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, (off_t)(eh->e_phoff + (uint64_t)i * eh->e_phentsize)) != sizeof ph) break;
      if (ph.p_type == PT_INTERP) has_interp = 1;
    }
    if (fd >= 0) close(fd);
    if (!has_interp && eh->e_type == ET_EXEC) {
      snprintf(why, n, "%s is statically linked: LD_PRELOAD is ignored", path);
      return why;
    }
    if (!has_interp && eh->e_type == ET_DYN) {
      /* static-pie, or a shared library run directly (ld.so itself): no preload */
      snprintf(why, n, "%s has no program interpreter (static-pie?): LD_PRELOAD is ignored", path);
      return why;
    }
    return NULL;
  }
  return NULL;
}

/* ---- run/check ---------------------------------------------------------------------- */
static int rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  char p[PATH_MAX];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  return rmdir(dir);
}

struct tally {
  uint64_t violations, allowed;
  int sites, processes, child_seen, unguarded;
  char reason[1024];
};

static void tally_dir(const char *dir, pid_t child, struct tally *t) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
    char p[PATH_MAX], err[512];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    bg_model_t m;
    if (bg_model_read_file(p, &m, err, sizeof err) < 0) {
      fprintf(stderr, "blockguard: %s\n", err);
      t->unguarded = 1;
      snprintf(t->reason, sizeof t->reason, "unreadable report: %s", err);
      continue;
    }
    t->processes++;
    if (m.pid == child) t->child_seen = 1;
    if (m.unguarded_reason) {
      t->unguarded = 1;
      snprintf(t->reason, sizeof t->reason, "pid %d: %s", m.pid, m.unguarded_reason);
    }
    for (int i = 0; i < m.nsites; i++) {
      if (m.sites[i].allowed) {
        t->allowed += m.sites[i].count;
      } else if (m.sites[i].count) {
        t->violations += m.sites[i].count;
        t->sites++;
      }
    }
    bg_model_free(&m);
  }
  closedir(d);
}

/* Appends ":key=value" to the options string, validating against the table. */
static int add_flag(char *opts, size_t n, bg__options_t *check, const char *flag) {
  const char *kv = flag + 2, *eq = strchr(kv, '=');
  char err[512];
  if (!eq) {
    fprintf(stderr, "blockguard: option '%s': expected --key=value\n", flag);
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

static int cmd_run(int argc, char **argv, int checking) {
  bg__options_t o;
  char err[512], opts[8192] = "";
  const char *baseline = NULL; /* check --baseline=OLD: fail only on new sites */
  bg_model_t base = {0};
  const char *env = getenv("BLOCKGUARD_OPTIONS");
  if (bg__options_parse(&o, env, err, sizeof err) < 0) {
    fprintf(stderr, "blockguard: BLOCKGUARD_OPTIONS: %s\n", err);
    return 2;
  }
  if (env) snprintf(opts, sizeof opts, "%s", env);
  int i = 1;
  for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    }
    if (!strncmp(argv[i], "--baseline=", 11)) {
      baseline = argv[i] + 11;
      continue;
    }
    if (add_flag(opts, sizeof opts, &o, argv[i]) < 0) return 2;
  }
  if (o.suppressions[0]) { /* a broken allowlist fails here, before anything runs */
    bg__rules_t rs;
    char rerr[1200];
    if (bg__rules_load(&rs, o.suppressions, rerr, sizeof rerr) < 0) {
      fprintf(stderr, "blockguard: suppressions: %s\n", rerr);
      return 2;
    }
    bg__rules_free(&rs);
  }
  if (baseline && bg_cli_load(1, (char *const *)&baseline, &base) < 0) return 2;
  if (i >= argc) {
    fprintf(stderr, "blockguard %s: no command given\n", argv[0]);
    return 2;
  }
  char shim[PATH_MAX];
  if (find_shim(shim, sizeof shim) < 0) {
    fprintf(stderr, "blockguard: cannot find libblockguard.so (set BLOCKGUARD_LIB)\n");
    return 2;
  }
  char why[PATH_MAX + 128];
  const char *unguardable = bg_cli_unguardable(argv[i], why, sizeof why);
  if (unguardable)
    fprintf(stderr, "blockguard: NOT GUARDED: %s; %s\n", unguardable,
            checking ? "check fails" : "running it unguarded");

  char dir[] = "/tmp/blockguard.XXXXXX";
  const char *tmp = getenv("TMPDIR");
  char dirbuf[PATH_MAX];
  snprintf(dirbuf, sizeof dirbuf, "%s/blockguard.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  char *collect = mkdtemp(dirbuf);
  if (!collect) collect = mkdtemp(dir);
  if (!collect) {
    fprintf(stderr, "blockguard: cannot create a temp directory: %s\n", strerror(errno));
    return 2;
  }
  size_t used = strlen(opts);
  snprintf(opts + used, sizeof opts - used, "%scollect=%s", used ? ":" : "", collect);
  const char *old_preload = getenv("LD_PRELOAD");
  char preload[PATH_MAX * 3], asan[PATH_MAX];
  sanitizer_runtime(asan);
  snprintf(preload, sizeof preload, "%s%s%s%s%s", asan, asan[0] ? ":" : "", shim,
           old_preload && *old_preload ? ":" : "", old_preload ? old_preload : "");

  /* Like system(): the terminal's SIGINT/SIGQUIT go to the child; we stay to report. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "blockguard: fork: %s\n", strerror(errno));
    return 2;
  }
  if (pid == 0) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    setenv("LD_PRELOAD", preload, 1);
    setenv("BLOCKGUARD_OPTIONS", opts, 1);
    execvp(argv[i], argv + i);
    fprintf(stderr, "blockguard: cannot run %s: %s\n", argv[i], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);

  struct tally t = {0};
  tally_dir(collect, pid, &t);
  long new_sites = -1;
  if (baseline) { /* same gate as `blockguard report --baseline` */
    bg_model_t cur;
    if (t.processes && bg_cli_load(1, &collect, &cur) == 0) {
      new_sites = bg_cli_gate(&cur, &base, stderr, "text");
      bg_model_free(&cur);
    }
    bg_model_free(&base);
  }
  rm_tree(collect);

  int rc;
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    fprintf(stderr, "blockguard: %s was killed by signal %d (%s)%s\n", argv[i], sig,
            strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "");
    rc = 128 + sig;
  } else {
    rc = WEXITSTATUS(status);
  }
  int exec_failed = !WIFSIGNALED(status) && (rc == 126 || rc == 127) && !t.processes;
  if (!unguardable && !t.child_seen && !exec_failed && !WIFSIGNALED(status)) {
    t.unguarded = 1;
    snprintf(t.reason, sizeof t.reason,
             "no report from pid %d: the shim did not run in it (static or setuid program, "
             "LD_PRELOAD removed, or it left through _exit)",
             (int)pid);
  }
  if (unguardable) {
    t.unguarded = 1;
    snprintf(t.reason, sizeof t.reason, "%s", unguardable);
  }
  if (t.unguarded) fprintf(stderr, "blockguard: NOT GUARDED: %s\n", t.reason);
  fprintf(stderr, "blockguard: %" PRIu64 " violation%s at %d site%s in %d process%s%s\n",
          t.violations, t.violations == 1 ? "" : "s", t.sites, t.sites == 1 ? "" : "s",
          t.processes, t.processes == 1 ? "" : "es", t.unguarded ? " (incomplete: see above)" : "");
  int failing = baseline ? new_sites != 0 : t.violations != 0;
  if (checking && (failing || t.unguarded)) {
    fprintf(stderr, "blockguard: check failed (exit %d)\n", (int)o.exitcode);
    return (int)o.exitcode;
  }
  return rc;
}

static int cmd_run_main(int argc, char **argv) { return cmd_run(argc, argv, 0); }
static int cmd_check_main(int argc, char **argv) { return cmd_run(argc, argv, 1); }

static const struct {
  const char *name;
  int (*fn)(int, char **);
} commands[] = {
    {"run", cmd_run_main},
    {"check", cmd_check_main},
    BG_CLI_EXTRA_COMMANDS
};

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    FILE *out = argc < 2 ? stderr : stdout;
    usage(out);
    bg__options_each(print_option, out);
    fprintf(out, "\nFormats (format=, report --format, /api/report?format=):\n");
    for (int f = 0; f < BG_FMT_COUNT; f++)
      fprintf(out, "  %-16s %s\n", bg_formats[f].name, bg_formats[f].help);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--help=formats")) { /* docs/formats.md, via make docs */
    printf("# Formats\n\nGenerated from `report/formats.def` by `make docs`; do not edit.\n\n"
           "Every format is available as the report file format (`format=NAME`), from "
           "`blockguard report --format NAME` (or `-o FILE.EXT`), and over HTTP as "
           "`/api/report?format=NAME` (live dashboard and `blockguard serve`).\n\n"
           "| name | extension | content type | also served at | what |\n|---|---|---|---|---|\n");
    for (int f = 0; f < BG_FMT_COUNT; f++)
      printf("| `%s` | `.%s` | `%s` | %s%s%s | %s |\n", bg_formats[f].name, bg_formats[f].ext,
             bg_formats[f].content_type, bg_formats[f].path[0] ? "`" : "—", bg_formats[f].path,
             bg_formats[f].path[0] ? "`" : "", bg_formats[f].help);
    return 0;
  }
  if (!strcmp(argv[1], "--help=markdown")) { /* docs/options.md, via make docs */
    printf("# Options\n\nGenerated from `guard/options.def` by `make docs`; do not edit.\n\n"
           "Set them as `BLOCKGUARD_OPTIONS=\"key=value:key=value\"` or `blockguard run "
           "--key=value`.\nA `:` inside a value (`http=127.0.0.1:8080`, `threads=name:io-*`) "
           "is kept: only `:key=` starts a new option.\n\n| key | default | meaning |\n|---|---|---|\n");
    bg__options_each(print_option_md, stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("blockguard %s\n", BG_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "blockguard: unknown command '%s' (run, check, report, serve; see --help)\n", argv[1]);
  return 2;
}
