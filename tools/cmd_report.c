/* cmd_report.c - `blockguard report`: merge saved reports, render, diff a baseline.
 *
 *   blockguard report [--format F] [--baseline OLD] [--suppressions] [--exitcode=N]
 *                     [-o FILE] FILE|DIR...
 *
 * Every FILE is a JSON report or a state file; every DIR contributes its *.json and
 * *.bgstate files (a process tree run with report=DIR/%p.json: the state files are
 * left by processes that did not write their report - killed, exec'd, or the write
 * failed - and hold everything they recorded).  They are merged by stable site id and rendered in
 * any format of the table (report/formats.def; default text) on stdout, or to -o FILE
 * (written atomically; without --format, FILE's extension picks the format).
 *
 * --baseline OLD (a report or a directory of them): only sites that are not allowed
 * and not in OLD are rendered, and the exit status is `exitcode` (66) when there is
 * one - the CI gate for legacy code: today's known sites pass, a new one fails.
 * `blockguard check --baseline=OLD` uses the same gate (bg_cli_gate).
 * --suppressions prints ready-to-paste allow rules instead, one per site.
 *
 * A corrupt or foreign file, or a report from an incompatible version, is an error
 * naming the file (exit 2): a gate must never pass because it could not read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/ledger_read.h"
#include "report/format.h"
#include "report/redact.h"
#include "tools/cli.h"

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends path to the list; -1 out of memory. */
static int push(char ***v, int *n, int *cap, char *path) {
  if (!path) return -1;
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 32;
    char **nv = realloc(*v, (size_t)*cap * sizeof *nv);
    if (!nv) return free(path), -1;
    *v = nv;
  }
  (*v)[(*n)++] = path;
  return 0;
}

int bg_cli_is_report_name(const char *name) {
  size_t l = strlen(name);
  if (name[0] == '.') return 0; /* temp files of atomic writes */
  return (l > 5 && !strcmp(name + l - 5, ".json")) || (l > 8 && !strcmp(name + l - 8, ".bgstate"));
}

int bg_cli_read_report(const char *path, bg_model_t *m, char *err, size_t errlen) {
  if (bg__ledger_is_file(path)) return bg__ledger_file_model(path, m, err, errlen);
  return bg_model_read_file(path, m, err, errlen);
}

/* The *.json and *.bgstate files directly in dir, in name order, appended to the list. */
static int list_dir(const char *dir, char ***v, int *n, int *cap) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "blockguard: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  int first = *n, rc = 0;
  struct dirent *e;
  while (!rc && (e = readdir(d))) {
    if (!bg_cli_is_report_name(e->d_name)) continue;
    char *path = NULL;
    rc = push(v, n, cap, asprintf(&path, "%s/%s", dir, e->d_name) < 0 ? NULL : path);
  }
  closedir(d);
  if (rc) fprintf(stderr, "blockguard: %s: out of memory\n", dir);
  if (!rc && *n == first) {
    fprintf(stderr, "blockguard: %s: no *.json reports or *.bgstate files in this directory\n",
            dir);
    rc = -1;
  }
  if (!rc) qsort(*v + first, (size_t)(*n - first), sizeof **v, by_name);
  return rc;
}

int bg_cli_load(int n, char *const *paths, bg_model_t *out) {
  char **files = NULL;
  int nfiles = 0, cap = 0, rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    struct stat st;
    if (stat(paths[i], &st) < 0) {
      fprintf(stderr, "blockguard: %s: %s\n", paths[i], strerror(errno));
      rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
      rc = list_dir(paths[i], &files, &nfiles, &cap);
    } else if ((rc = push(&files, &nfiles, &cap, strdup(paths[i]))) < 0) {
      fprintf(stderr, "blockguard: out of memory\n");
    }
  }
  bg_merge_t g;
  bg_merge_init(&g);
  char err[1200];
  if (!rc && (rc = bg_cli_read_merge(files, nfiles, &g, stderr, err, sizeof err)) < 0)
    fprintf(stderr, "blockguard: %s\n", err);
  for (int i = 0; i < nfiles; i++) free(files[i]);
  free(files);
  bg_merge_finish(&g, out);
  if (rc) bg_model_free(out);
  return rc;
}

int bg_cli_gate(bg_model_t *cur, const bg_model_t *base, FILE *out, const char *format) {
  int *is_new = calloc((size_t)cur->nsites + 1, sizeof *is_new);
  int nnew = is_new ? bg_baseline_diff(cur, base, is_new) : -1;
  if (nnew < 0) {
    free(is_new);
    fprintf(stderr, "blockguard: out of memory\n");
    return -1;
  }
  int known = 0;
  for (int i = 0; i < cur->nsites; i++) known += !is_new[i] && !cur->sites[i].allowed;
  bg_model_keep_sites(cur, is_new);
  free(is_new);
  if (out && format) {
    char *text = bg_render(cur, format);
    if (text) fputs(text, out);
    free(text);
  }
  fprintf(stderr, "blockguard: %d new site%s since the baseline (%d known site%s not counted)\n",
          nnew, nnew == 1 ? "" : "s", known, known == 1 ? "" : "s");
  return nnew;
}

static int usage_error(const char *msg, const char *arg) {
  fprintf(stderr, "blockguard report: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
  fprintf(stderr,
          "usage: blockguard report [--format F] [--value V] [--baseline OLD] [--suppressions]\n"
          "                         [--exitcode=N] [--redact R] [-o FILE] FILE|DIR...\n"
          "  formats: %s (default text; -o FILE.ext picks the format of that extension)\n"
          "  --value blocked|violations: what folded stacks count, pprof's default sample type\n",
          bg_format_names());
  return 2;
}

/* --name VALUE or --name=VALUE; returns the value and advances *i, or NULL. */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
  size_t l = strlen(name);
  if (strncmp(argv[*i], name, l)) return NULL;
  if (argv[*i][l] == '=') return argv[*i] + l + 1;
  if (argv[*i][l] == 0 && *i + 1 < argc) return argv[++*i];
  return NULL;
}

struct out_ctx {
  const bg_model_t *m;
  int fmt;
  const bg_render_opt_t *o;
  int suppressions, failed; /* failed: rendering (not writing) failed */
};

static int write_out(FILE *f, void *arg) {
  struct out_ctx *c = arg;
  if (c->suppressions) {
    char *text = bg_render_suppressions(c->m);
    if (!text) return c->failed = 1, -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    free(text);
    return rc;
  }
  errno = 0;
  if (bg_render_file(c->m, c->fmt, c->o, f) < 0) return c->failed = !errno, -1;
  return 0;
}

/* The format whose extension ends path ("out.sarif" -> sarif), or -1. */
static int format_of_path(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  for (int f = 0; f < BG_FMT_COUNT; f++) {
    size_t e = strlen(bg_formats[f].ext);
    if (n > e + 1 && base[n - e - 1] == '.' && !strcmp(base + n - e, bg_formats[f].ext)) return f;
  }
  return -1;
}

int bg_cmd_report(int argc, char **argv) {
  const char *format = NULL, *baseline = NULL, *output = NULL, *v;
  int suppressions = 0, exitcode = 66, i = 1;
  bg_render_opt_t ropt = {.value = BG_VALUE_BLOCKED};
  char rerr[200];
  bg_redact_t redact;
  bg_redact_parse(&redact, "secrets", 7, rerr, sizeof rerr);
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    }
    if ((v = flag_value(argc, argv, &i, "--format"))) {
      format = v;
    } else if ((v = flag_value(argc, argv, &i, "--value"))) {
      if ((ropt.value = bg_value_find(v, strlen(v))) < 0)
        return usage_error("unknown --value (blocked, violations)", v);
    } else if ((v = flag_value(argc, argv, &i, "--redact"))) {
      if (bg_redact_parse(&redact, v, strlen(v), rerr, sizeof rerr) < 0)
        return usage_error(rerr, v);
    } else if ((v = flag_value(argc, argv, &i, "--baseline"))) {
      baseline = v;
    } else if ((v = flag_value(argc, argv, &i, "--output")) ||
               (v = flag_value(argc, argv, &i, "-o"))) {
      output = v;
    } else if ((v = flag_value(argc, argv, &i, "--exitcode"))) {
      char *end;
      long x = strtol(v, &end, 10);
      if (*end || x < 1 || x > 255) return usage_error("--exitcode must be 1..255", v);
      exitcode = (int)x;
    } else if (!strcmp(argv[i], "--suppressions")) {
      suppressions = 1;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage_error("help", NULL);
      return 0;
    } else {
      return usage_error("unknown or incomplete option", argv[i]);
    }
  }
  int fmt = format ? bg_format_find(format, strlen(format)) : -1;
  if (format && fmt < 0) return usage_error("unknown format", format);
  if (!format) fmt = output && format_of_path(output) >= 0 ? format_of_path(output) : BG_FMT_text;
  if (bg_formats[fmt].binary && !output && isatty(STDOUT_FILENO) && !suppressions)
    return usage_error("not writing a binary format to a terminal (use -o FILE or redirect)",
                       bg_formats[fmt].name);
  if (i >= argc) return usage_error("no report files or directories given", NULL);

  bg_model_t base = {0}, cur;
  if (baseline && bg_cli_load(1, (char *const *)&baseline, &base) < 0) return 2;
  if (bg_cli_load(argc - i, argv + i, &cur) < 0) {
    bg_model_free(&base);
    return 2;
  }
  bg_model_redact(&cur,
                  &redact); /* a report written with redact=none stays as it was only on request */
  int rc = 0;
  if (baseline) {
    int nnew = bg_cli_gate(&cur, &base, NULL, NULL);
    rc = nnew < 0 ? 2 : nnew > 0 ? exitcode : 0;
  }
  /* A gate never reads "never looked" or "data missing" as "no new sites": a distinct
   * status (docs/reports.md) when nothing new was found either. */
  if (cur.unguarded_reason) {
    fprintf(stderr, "blockguard: NOT GUARDED: %s\n", cur.unguarded_reason);
    if (baseline && !rc) rc = BG_EXIT_INCOMPLETE;
  }
  if (cur.incomplete_reason && baseline && !rc) {
    fprintf(stderr, "blockguard: the reports are incomplete (%s): exit %d\n", cur.incomplete_reason,
            BG_EXIT_INCOMPLETE);
    rc = BG_EXIT_INCOMPLETE;
  }
  /* Streamed to the file (or stdout): a merged report of 100,000 sites is never held
   * in memory a second time as text. */
  struct out_ctx oc = {&cur, fmt, &ropt, suppressions, 0};
  if (output) {
    char err[1024];
    if (bg_write_atomic_fn(output, 0644, write_out, &oc, err, sizeof err) < 0) {
      fprintf(stderr, "blockguard: %s\n", oc.failed ? bg_render_error() : err);
      rc = 2;
    }
  } else if (write_out(stdout, &oc) < 0 || fflush(stdout) != 0) {
    fprintf(stderr, "blockguard: %s\n", oc.failed ? bg_render_error() : strerror(errno));
    rc = 2;
  }
  bg_model_free(&cur);
  bg_model_free(&base);
  return rc;
}
