/* text.c - the report as text, in the style sanitizers made familiar:
 *
 *   ==1234==WARNING: blockguard: blocking call read() [io] on guarded thread 'loop'
 *       3 calls, blocked 4.6us total, 2.0us max, action report, site b7fcf2d850ac8bb7
 *       #0 0x55d0c1a2b1c7 in do_read /src/prog.c:6 (prog+0x11c7)
 *       #1 0x55d0c1a2b225 in main /src/prog.c:10 (prog+0x1225)
 *
 * Violations first, worst (most blocked time) on top; allowed sites after them, so
 * the allowlist can be audited; then allowlist rules that matched nothing, and a
 * one-line SUMMARY that CI logs can grep.  Program strings follow the one invalid-UTF-8
 * policy of report/utf8.h (a bad byte prints as U+FFFD), as in every other format.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

static int by_total_desc(const void *a, const void *b) {
  const bg_rsite_t *x = *(const bg_rsite_t *const *)a, *y = *(const bg_rsite_t *const *)b;
  if (x->total_ns != y->total_ns) return x->total_ns < y->total_ns ? 1 : -1;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->id, y->id);
}

/* Program strings: invalid UTF-8 becomes U+FFFD, the one policy of report/utf8.h. */
static void put(FILE *f, const char *s) { bg__utf8_fputs(s, f); }

static void print_site(FILE *f, int pid, const bg_rsite_t *s) {
  char total[32], max[32], frame[2048];
  bg_fmt_ns(total, sizeof total, s->total_ns);
  bg_fmt_ns(max, sizeof max, s->max_ns);
  if (s->allowed)
    fprintf(f, "==%d==NOTE: blockguard: allowed blocking call ", pid);
  else
    fprintf(f, "==%d==%s: blockguard: blocking call ", pid,
            !strcmp(s->action, "raise") || !strcmp(s->action, "abort") ? "ERROR" : "WARNING");
  put(f, s->call), fputs("() [", f), put(f, s->category), fputs("]", f);
  if (s->nthreads) {
    fprintf(f, " on guarded thread%s ", s->nthreads > 1 ? "s" : "");
    for (int i = 0; i < s->nthreads; i++)
      fputs(i ? ", '" : "'", f), put(f, s->threads[i]), fputc('\'', f);
  }
  fprintf(f, "\n    %" PRIu64 " call%s, blocked %s total, %s max, action ", s->count,
          s->count == 1 ? "" : "s", total, max);
  put(f, s->action);
  if (s->rule) fprintf(f, ", %s by ", s->allowed ? "allowed" : "decided"), put(f, s->rule);
  fprintf(f, ", site %s\n", s->id);
  for (int i = 0; i < s->nframes; i++) {
    bg_fmt_frame(frame, sizeof frame, &s->frames[i]);
    if (s->frames[i].lang == BG_LANG_PYTHON) /* no pc: the interpreter's frame */
      fprintf(f, "    #%d ", i);
    else
      fprintf(f, "    #%d 0x%" PRIx64 " in ", i, s->frames[i].pc);
    put(f, frame), fputc('\n', f);
  }
  if (!s->nframes) fprintf(f, "    (no stack)\n");
  fprintf(f, "\n");
}

char *bg_render_text(const bg_model_t *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  int bad = bg_render_text_file(m, f);
  if (fclose(f) != 0 || bad) {
    free(buf);
    return NULL;
  }
  return buf;
}

int bg_render_text_file(const bg_model_t *m, FILE *f) {
  int pid = m->pid;
  if (m->unguarded_reason)
    fprintf(f, "==%d==ERROR: blockguard: NOT GUARDED: ", pid), put(f, m->unguarded_reason),
        fputs("\n\n", f);
  if (m->incomplete_reason)
    fprintf(f, "==%d==ERROR: blockguard: INCOMPLETE: ", pid), put(f, m->incomplete_reason),
        fputs("\n\n", f);
  const bg_rsite_t **rows = calloc((size_t)m->nsites + 1, sizeof *rows);
  int nviol = 0, nallowed = 0;
  uint64_t violations = 0, allowed_calls = 0;
  for (int i = 0; rows && i < m->nsites; i++)
    if (!m->sites[i].allowed) rows[nviol++] = &m->sites[i], violations += m->sites[i].count;
  if (rows) qsort(rows, (size_t)nviol, sizeof *rows, by_total_desc);
  for (int i = 0; i < nviol; i++) print_site(f, pid, rows[i]);
  for (int i = 0; rows && i < m->nsites; i++)
    if (m->sites[i].allowed)
      rows[nviol + nallowed++] = &m->sites[i], allowed_calls += m->sites[i].count;
  if (rows) qsort(rows + nviol, (size_t)nallowed, sizeof *rows, by_total_desc);
  for (int i = 0; i < nallowed; i++) print_site(f, pid, rows[nviol + i]);
  free(rows);
  if (m->nunmatched) {
    fprintf(f, "==%d==NOTE: blockguard: %d allowlist rule%s matched no site (stale?):\n", pid,
            m->nunmatched, m->nunmatched == 1 ? "" : "s");
    for (int i = 0; i < m->nunmatched; i++) {
      fputs("    ", f), put(f, m->unmatched_rules[i].file);
      fprintf(f, ":%d: ", m->unmatched_rules[i].line), put(f, m->unmatched_rules[i].text),
          fputc('\n', f);
    }
    fprintf(f, "\n");
  }
  for (int i = 0; i < m->nloops; i++) {
    char line[512];
    bg_fmt_loop(line, sizeof line, &m->loops[i]);
    fprintf(f, "==%d==NOTE: blockguard: ", m->loops[i].pid ? m->loops[i].pid : pid), put(f, line),
        fputc('\n', f);
  }
  if (m->nloops) fprintf(f, "\n");
  if (m->dropped_sites)
    fprintf(f,
            "==%d==WARNING: blockguard: %" PRIu64
            " site%s dropped (table full: raise max_sites)\n\n",
            pid, m->dropped_sites, m->dropped_sites == 1 ? "" : "s");
  fprintf(f, "SUMMARY: blockguard: %" PRIu64 " violation%s at %d site%s", violations,
          violations == 1 ? "" : "s", nviol, nviol == 1 ? "" : "s");
  if (nallowed)
    fprintf(f, "; %" PRIu64 " allowed call%s at %d site%s", allowed_calls,
            allowed_calls == 1 ? "" : "s", nallowed, nallowed == 1 ? "" : "s");
  fprintf(f, " (pid %d", pid);
  for (int i = 0; i < m->argc && i < 8; i++) fputs(i ? " " : ": ", f), put(f, m->argv[i]);
  if (m->argc > 8) fprintf(f, " ...");
  fprintf(f, ")%s%s\n", m->unguarded_reason ? " NOT GUARDED" : "",
          m->incomplete_reason ? " INCOMPLETE" : "");
  return ferror(f) ? -1 : 0;
}
