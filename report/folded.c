/* folded.c - the report as folded stacks, the input of flame graph tools
 * (flamegraph.pl, speedscope, inferno, Grafana's flame graph panel):
 *
 *   main;serve;handle;drain;read 5000000
 *
 * One line per distinct stack, root first, the blocking call itself as the leaf (so
 * the widest leaves are the calls that blocked), then a blank and the value: blocked
 * nanoseconds (default) or the number of violations (value=violations), summed over
 * sites that fold to the same names.  Stall sites (loop health) are left out: a stall
 * is not a blocking call, and its time would count twice.  Allowed sites too: they are
 * not violations.  A frame is its function name (language frames included, C++
 * demangled as the report has it), or module+0xOFFSET when the report could not
 * resolve it; ';' and line breaks inside names become '?' so a line always parses,
 * and invalid UTF-8 becomes U+FFFD (the one policy of report/utf8.h).
 * Lines are sorted, so the output of one report is stable.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (oom = 1)
#include <uthash.h>

#include "report/format.h"

static __thread int oom;

struct line {
  UT_hash_handle hh;
  uint64_t value;
  char stack[];
};

static void put_frame(FILE *f, const char *s) {
  for (size_t i = 0, n = strlen(s), k; i < n; i += k ? k : 1) {
    k = bg__utf8_seq(s + i, n - i); /* invalid UTF-8: U+FFFD (report/utf8.h) */
    if (!k)
      fputs(BG__UTF8_REPLACEMENT, f);
    else if (k == 1)
      fputc(s[i] == ';' || s[i] == '\n' || s[i] == '\r' ? '?' : s[i], f);
    else
      fwrite(s + i, 1, k, f);
  }
}

/* The stack of s as "root;...;leaf" (malloc'd). */
static char *fold(const bg_rsite_t *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  for (int i = s->nframes - 1; i >= 0; i--) {
    const bg_rframe_t *fr = &s->frames[i];
    if (fr->function && fr->function[0]) {
      put_frame(f, fr->function);
    } else {
      put_frame(f, bg_basename(fr->module)[0] ? bg_basename(fr->module) : "?");
      fprintf(f, "+0x%llx", (unsigned long long)fr->offset);
    }
    fputc(';', f);
  }
  put_frame(f, s->call && s->call[0] ? s->call : "?");
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

static int by_stack(const void *a, const void *b) {
  return strcmp((*(struct line *const *)a)->stack, (*(struct line *const *)b)->stack);
}

char *bg_render_folded(const bg_model_t *m, const bg_render_opt_t *o, size_t *len) {
  struct line *lines = NULL, *l, *tmp;
  int failed = 0;
  for (int i = 0; i < m->nsites && !failed; i++) {
    const bg_rsite_t *s = &m->sites[i];
    if (s->allowed || (s->category && !strcmp(s->category, "stall"))) continue;
    uint64_t v = o->value == BG_VALUE_VIOLATIONS ? s->count : s->total_ns;
    char *st = fold(s);
    if (!st) {
      failed = 1;
      break;
    }
    HASH_FIND_STR(lines, st, l);
    if (!l) {
      size_t n = strlen(st);
      if ((l = malloc(sizeof *l + n + 1))) {
        memcpy(l->stack, st, n + 1);
        l->value = 0;
        oom = 0;
        HASH_ADD_STR(lines, stack, l);
        if (oom) free(l), l = NULL;
      }
      if (!l) failed = 1;
    }
    if (l) l->value += v;
    free(st);
  }
  size_t n = HASH_COUNT(lines), k = 0;
  struct line **v = calloc(n + 1, sizeof *v);
  HASH_ITER(hh, lines, l, tmp) {
    if (v) v[k++] = l;
  }
  char *buf = NULL;
  size_t blen = 0;
  FILE *f = failed || !v ? NULL : open_memstream(&buf, &blen);
  if (f) {
    qsort(v, n, sizeof *v, by_stack);
    for (size_t i = 0; i < n; i++)
      if (v[i]->value) fprintf(f, "%s %llu\n", v[i]->stack, (unsigned long long)v[i]->value);
    if (fclose(f) != 0) {
      free(buf);
      buf = NULL;
    }
  }
  HASH_ITER(hh, lines, l, tmp) {
    HASH_DEL(lines, l);
    free(l);
  }
  free(v);
  if (!buf) return NULL;
  *len = blen;
  return buf;
}
