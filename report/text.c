/* text.c - the report as text, in the style sanitizers made familiar:
 *
 *   ==1234==WARNING: blockguard: blocking call read() [io] on guarded thread 'loop'
 *       3 calls, blocked 4.6us total, 2.0us max, action report, site b7fcf2d850ac8bb7
 *       #0 0x55d0c1a2b1c7 in do_read /src/prog.c:6 (prog+0x11c7)
 *       #1 0x55d0c1a2b225 in main /src/prog.c:10 (prog+0x1225)
 *
 * Violations first, worst (most blocked time) on top; allowed sites after them, so
 * the allowlist can be audited; then allowlist rules that matched nothing, and a
 * one-line SUMMARY that CI logs can grep.
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

static void print_site(FILE *f, int pid, const bg_rsite_t *s) {
  char total[32], max[32], frame[2048];
  bg_fmt_ns(total, sizeof total, s->total_ns);
  bg_fmt_ns(max, sizeof max, s->max_ns);
  if (s->allowed)
    fprintf(f, "==%d==NOTE: blockguard: allowed blocking call %s() [%s]", pid, s->call, s->category);
  else
    fprintf(f, "==%d==%s: blockguard: blocking call %s() [%s]", pid,
            !strcmp(s->action, "raise") || !strcmp(s->action, "abort") ? "ERROR" : "WARNING",
            s->call, s->category);
  if (s->nthreads) {
    fprintf(f, " on guarded thread%s ", s->nthreads > 1 ? "s" : "");
    for (int i = 0; i < s->nthreads; i++) fprintf(f, "%s'%s'", i ? ", " : "", s->threads[i]);
  }
  fprintf(f, "\n    %" PRIu64 " call%s, blocked %s total, %s max, action %s", s->count,
          s->count == 1 ? "" : "s", total, max, s->action);
  if (s->rule) fprintf(f, ", %s by %s", s->allowed ? "allowed" : "decided", s->rule);
  fprintf(f, ", site %s\n", s->id);
  for (int i = 0; i < s->nframes; i++) {
    bg_fmt_frame(frame, sizeof frame, &s->frames[i]);
    if (s->frames[i].lang == BG_LANG_PYTHON) /* no pc: the interpreter's frame */
      fprintf(f, "    #%d %s\n", i, frame);
    else
      fprintf(f, "    #%d 0x%" PRIx64 " in %s\n", i, s->frames[i].pc, frame);
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
  if (m->unguarded_reason) fprintf(f, "==%d==ERROR: blockguard: NOT GUARDED: %s\n\n", pid, m->unguarded_reason);
  if (m->incomplete_reason)
    fprintf(f, "==%d==ERROR: blockguard: INCOMPLETE: %s\n\n", pid, m->incomplete_reason);
  const bg_rsite_t **rows = calloc((size_t)m->nsites + 1, sizeof *rows);
  int nviol = 0, nallowed = 0;
  uint64_t violations = 0, allowed_calls = 0;
  for (int i = 0; rows && i < m->nsites; i++)
    if (!m->sites[i].allowed) rows[nviol++] = &m->sites[i], violations += m->sites[i].count;
  if (rows) qsort(rows, (size_t)nviol, sizeof *rows, by_total_desc);
  for (int i = 0; i < nviol; i++) print_site(f, pid, rows[i]);
  for (int i = 0; rows && i < m->nsites; i++)
    if (m->sites[i].allowed) rows[nviol + nallowed++] = &m->sites[i], allowed_calls += m->sites[i].count;
  if (rows) qsort(rows + nviol, (size_t)nallowed, sizeof *rows, by_total_desc);
  for (int i = 0; i < nallowed; i++) print_site(f, pid, rows[nviol + i]);
  free(rows);
  if (m->nunmatched) {
    fprintf(f, "==%d==NOTE: blockguard: %d allowlist rule%s matched no site (stale?):\n", pid,
            m->nunmatched, m->nunmatched == 1 ? "" : "s");
    for (int i = 0; i < m->nunmatched; i++)
      fprintf(f, "    %s:%d: %s\n", m->unmatched_rules[i].file, m->unmatched_rules[i].line,
              m->unmatched_rules[i].text);
    fprintf(f, "\n");
  }
  if (m->dropped_sites)
    fprintf(f, "==%d==WARNING: blockguard: %" PRIu64 " site%s dropped (table full: raise max_sites)\n\n",
            pid, m->dropped_sites, m->dropped_sites == 1 ? "" : "s");
  fprintf(f, "SUMMARY: blockguard: %" PRIu64 " violation%s at %d site%s", violations,
          violations == 1 ? "" : "s", nviol, nviol == 1 ? "" : "s");
  if (nallowed)
    fprintf(f, "; %" PRIu64 " allowed call%s at %d site%s", allowed_calls, allowed_calls == 1 ? "" : "s",
            nallowed, nallowed == 1 ? "" : "s");
  fprintf(f, " (pid %d", pid);
  for (int i = 0; i < m->argc && i < 8; i++) fprintf(f, "%s%s", i ? " " : ": ", m->argv[i]);
  if (m->argc > 8) fprintf(f, " ...");
  fprintf(f, ")%s%s\n", m->unguarded_reason ? " NOT GUARDED" : "",
          m->incomplete_reason ? " INCOMPLETE" : "");
  return ferror(f) ? -1 : 0;
}
