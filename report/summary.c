/* summary.c - the one-screen summary printed on stderr at exit (verbosity >= 1).
 *
 * Sorted by blocked time so the site that hurts most is on top; each line names the
 * call, how often, how long in total and at worst, and the first frame in the program
 * (the first frame with source outside libc and the shim), which is usually enough to find the culprit without opening
 * the full report.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

#define SUMMARY_ROWS 20

static int by_total_desc(const void *a, const void *b) {
  const bg_rsite_t *x = *(const bg_rsite_t *const *)a, *y = *(const bg_rsite_t *const *)b;
  if (x->total_ns != y->total_ns) return x->total_ns < y->total_ns ? 1 : -1;
  return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void fmt_caller(char *buf, size_t n, const bg_rsite_t *s) {
  int c = bg_site_culprit(s);
  if (c < 0) {
    snprintf(buf, n, "?");
    return;
  }
  const bg_rframe_t *f = &s->frames[c];
  const char *mod = bg_basename(f->module);
  if (f->function[0] && f->file[0] && f->line)
    snprintf(buf, n, "%s %s:%d", f->function, f->file, f->line);
  else if (f->function[0])
    snprintf(buf, n, "%s (%s+0x%" PRIx64 ")", f->function, mod, f->offset);
  else
    snprintf(buf, n, "%s+0x%" PRIx64, mod[0] ? mod : "?", f->offset);
}

void bg_render_summary(FILE *out, const bg_model_t *m) {
  if (m->unguarded_reason) {
    fprintf(out, "blockguard: NOT GUARDED: %s\n", m->unguarded_reason);
    return;
  }
  uint64_t violations = 0, allowed = 0;
  int nviol = 0;
  const bg_rsite_t **rows = calloc((size_t)m->nsites + 1, sizeof *rows);
  if (!rows) return;
  for (int i = 0; i < m->nsites; i++) {
    if (m->sites[i].allowed) {
      allowed += m->sites[i].count;
      continue;
    }
    violations += m->sites[i].count;
    rows[nviol++] = &m->sites[i];
  }
  qsort(rows, (size_t)nviol, sizeof *rows, by_total_desc);
  fprintf(out, "blockguard: pid %d: %" PRIu64 " violation%s at %d site%s", m->pid, violations,
          violations == 1 ? "" : "s", nviol, nviol == 1 ? "" : "s");
  if (allowed) fprintf(out, " (%" PRIu64 " allowed calls not counted)", allowed);
  if (m->dropped_sites) fprintf(out, " (%" PRIu64 " sites dropped: raise max_sites)", m->dropped_sites);
  fprintf(out, "\n");
  if (nviol) fprintf(out, "  %-16s %-8s %8s %10s %10s  %s\n", "call", "category", "count", "blocked", "max", "caller");
  for (int i = 0; i < nviol && i < SUMMARY_ROWS; i++) {
    const bg_rsite_t *s = rows[i];
    char total[32], max[32], caller[512];
    bg_fmt_ns(total, sizeof total, s->total_ns);
    bg_fmt_ns(max, sizeof max, s->max_ns);
    fmt_caller(caller, sizeof caller, s);
    fprintf(out, "  %-16s %-8s %8" PRIu64 " %10s %10s  %s", s->call, s->category, s->count,
            total, max, caller);
    if (strcmp(s->action, "report")) fprintf(out, "  [%s]", s->action);
    fprintf(out, "\n");
  }
  if (nviol > SUMMARY_ROWS) fprintf(out, "  ... %d more sites in the report\n", nviol - SUMMARY_ROWS);
  free(rows);
}
