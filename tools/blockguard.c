/* blockguard.c - the command-line front end (DESIGN.md "CLI").
 *
 *   blockguard run   [--key=value...] -- CMD ARGS   run under the shim, summary on stderr
 *   blockguard check [--key=value...] -- CMD ARGS   same; exit `exitcode` on violations
 *   blockguard report ... / serve ...               see tools/cmd_report.c, cmd_serve.c
 *
 * run/check live in tools/cmd_run.c (the process tree: cmd_run_tree.c).  This file has
 * the entry point, --help, and what run/check ask before anything runs: can
 * LD_PRELOAD work on this program at all?  "No violations" must never hide "never
 * looked": a static or setuid program ignores LD_PRELOAD, so the ELF file is inspected
 * first (and a script by its interpreter).
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
  fprintf(
      out,
      "usage: blockguard run   [--wait=all|child] [--http=ADDR:PORT] [--key=value...] [--] CMD [ARGS...]\n"
      "       blockguard check [--wait=all|child] [--baseline=OLD.json] [--key=value...] [--] CMD [ARGS...]\n"
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
      if (pread(fd, &ph, sizeof ph, (off_t)(eh->e_phoff + (uint64_t)i * eh->e_phentsize)) !=
          sizeof ph)
        break;
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

static const struct {
  const char *name;
  int (*fn)(int, char **);
} commands[] = {BG_CLI_RUN_COMMANDS BG_CLI_EXTRA_COMMANDS};

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    FILE *out = argc < 2 ? stderr : stdout;
    usage(out);
    bg__options_each(print_option, out);
    fprintf(out, "\nFormats (format=, report --format, /api/report?format=):\n");
    for (int f = 0; f < BG_FMT_COUNT; f++)
      fprintf(out, "  %-16s %s\n", bg_formats[f].name, bg_formats[f].help);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--help=formats")) { /* docs/formats.md, via make docs */
    printf(
        "# Formats\n\nGenerated from `report/formats.def` by `make docs`; do not edit.\n\n"
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
    printf(
        "# Options\n\nGenerated from `guard/options.def` by `make docs`; do not edit.\n\n"
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
  fprintf(stderr, "blockguard: unknown command '%s' (run, check, report, serve; see --help)\n",
          argv[1]);
  return 2;
}
