/* summary.c - the one-screen summary printed on stderr at exit (verbosity >= 1).
 *
 * Sorted by blocked time so the site that hurts most is on top; each line names the
 * call, how often, how long in total and at worst, and the first frame in the program
 * (the immediate caller, or the innermost Python/JavaScript frame), which is usually
 * enough to find the culprit without opening the full report.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

#define SUMMARY_ROWS 20
#define SUMMARY_LOOPS 8

/* The frame named in the caller column: the immediate caller, or on a stack with
 * Python or JavaScript frames the innermost of those (the user's line, not the
 * interpreter's C function that made the call for it). */
static const bg_rframe_t *caller(const bg_rsite_t *s) {
  int l = bg_site_lang_caller(s);
  if (l >= 0) return &s->frames[l];
  /* A stall's first frame is wherever the CPU was (often libc or the vDSO): name the
   * first frame of the program instead. */
  if (s->category && !strcmp(s->category, "stall") && (l = bg_site_culprit(s)) >= 0)
    return &s->frames[l];
  return s->nframes ? &s->frames[0] : NULL;
}

static void fmt_caller(char *buf, size_t n, const bg_rsite_t *s) {
  const bg_rframe_t *f = caller(s);
  if (!f) {
    snprintf(buf, n, "?");
    return;
  }
  const char *mod = strrchr(f->module, '/');
  mod = mod ? mod + 1 : f->module;
  if (f->function[0] && f->file[0] && f->line)
    snprintf(buf, n, "%s %s:%d", f->function, f->file, f->line);
  else if (f->function[0])
    snprintf(buf, n, "%s (%s+0x%" PRIx64 ")", f->function, mod, f->offset);
  else
    snprintf(buf, n, "%s+0x%" PRIx64, mod[0] ? mod : "?", f->offset);
}

/* One summary row: sites that share call, category and immediate caller are folded
 * together (different deeper stacks, same line to fix). */
typedef struct row {
  const bg_rsite_t *first;
  uint64_t count, total_ns, max_ns;
  int sites;
} row_t;

static int same_row(const bg_rsite_t *a, const bg_rsite_t *b) {
  if (strcmp(a->call, b->call) || strcmp(a->category, b->category) || strcmp(a->action, b->action))
    return 0;
  const bg_rframe_t *x = caller(a), *y = caller(b);
  if (!x || !y) return x == y;
  if (x->lang != y->lang) return 0;
  if (x->lang != BG_LANG_C)
    return x->line == y->line && !strcmp(x->function, y->function) && !strcmp(x->file, y->file);
  return x->offset == y->offset && !strcmp(x->module, y->module);
}

static int row_by_total_desc(const void *a, const void *b) {
  const row_t *x = a, *y = b;
  if (x->total_ns != y->total_ns) return x->total_ns < y->total_ns ? 1 : -1;
  return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

void bg_render_summary(FILE *out, const bg_model_t *m) { bg_render_summary_tree(out, m, 0); }

void bg_render_summary_tree(FILE *out, const bg_model_t *m, int nprocs) {
  if (m->unguarded_reason && !nprocs) {
    fprintf(out, "blockguard: NOT GUARDED: %s\n", m->unguarded_reason);
    return;
  }
  uint64_t violations = 0, allowed = 0;
  int nviol = 0, nrows = 0;
  row_t *rows = calloc((size_t)m->nsites + 1, sizeof *rows);
  if (!rows) return;
  for (int i = 0; i < m->nsites; i++) {
    const bg_rsite_t *s = &m->sites[i];
    if (s->allowed) {
      allowed += s->count;
      continue;
    }
    violations += s->count;
    nviol++;
    int r = 0;
    while (r < nrows && !same_row(rows[r].first, s)) r++;
    if (r == nrows) rows[nrows++].first = s;
    rows[r].count += s->count;
    rows[r].total_ns += s->total_ns;
    if (s->max_ns > rows[r].max_ns) rows[r].max_ns = s->max_ns;
    rows[r].sites++;
  }
  qsort(rows, (size_t)nrows, sizeof *rows, row_by_total_desc);
  if (nprocs)
    fprintf(out, "blockguard: %" PRIu64 " violation%s at %d site%s in %d process%s", violations,
            violations == 1 ? "" : "s", nviol, nviol == 1 ? "" : "s", nprocs,
            nprocs == 1 ? "" : "es");
  else
    fprintf(out, "blockguard: pid %d: %" PRIu64 " violation%s at %d site%s", m->pid, violations,
            violations == 1 ? "" : "s", nviol, nviol == 1 ? "" : "s");
  if (allowed) fprintf(out, " (%" PRIu64 " allowed calls not counted)", allowed);
  if (m->dropped_sites)
    fprintf(out, " (%" PRIu64 " sites dropped: raise max_sites)", m->dropped_sites);
  if (m->incomplete_reason && !nprocs) fprintf(out, " (INCOMPLETE: %s)", m->incomplete_reason);
  fprintf(out, "\n");
  if (nrows)
    fprintf(out, "  %-16s %-8s %8s %10s %10s  %s\n", "call", "category", "count", "blocked", "max",
            "caller");
  for (int i = 0; i < nrows && i < SUMMARY_ROWS; i++) {
    const row_t *r = &rows[i];
    char total[32], max[32], caller[512];
    bg_fmt_ns(total, sizeof total, r->total_ns);
    bg_fmt_ns(max, sizeof max, r->max_ns);
    fmt_caller(caller, sizeof caller, r->first);
    fprintf(out, "  %-16s %-8s %8" PRIu64 " %10s %10s  %s", r->first->call, r->first->category,
            r->count, total, max, caller);
    if (r->sites > 1) fprintf(out, "  (%d stacks)", r->sites);
    if (strcmp(r->first->action, "report")) fprintf(out, "  [%s]", r->first->action);
    fprintf(out, "\n");
  }
  if (nrows > SUMMARY_ROWS)
    fprintf(out, "  ... %d more callers in the report\n", nrows - SUMMARY_ROWS);
  free(rows);
  for (int i = 0; i < m->nloops && i < SUMMARY_LOOPS; i++) {
    char line[512];
    bg_fmt_loop(line, sizeof line, &m->loops[i]);
    fprintf(out, "  %s\n", line);
  }
  if (m->nloops > SUMMARY_LOOPS)
    fprintf(out, "  ... %d more event loops in the report\n", m->nloops - SUMMARY_LOOPS);
}
