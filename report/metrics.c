/* metrics.c - Prometheus text exposition (format 0.0.4) of a report model.
 *
 * Served at /metrics by the dashboard server so a running service's blocking calls can
 * be scraped and alerted on like any other counter.  Every family has HELP and TYPE
 * lines, label values are escaped (backslash, double quote, newline) because function
 * and call names come from the program, and a label set never appears twice in a
 * family (Prometheus rejects duplicate series): sites that share call, category and
 * id (the allowed and the unallowed variant of one stack) are summed.
 *
 * Violations (calls outside any allow) and allowed calls are separate families, as in
 * DESIGN.md's vocabulary: an allowed call is counted but is not a violation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/http.h"

static void put_label(FILE *f, const char *name, const char *v, int first) {
  fprintf(f, "%s%s=\"", first ? "" : ",", name);
  for (const char *p = v ? v : ""; *p; p++) {
    if (*p == '\\')
      fputs("\\\\", f);
    else if (*p == '"')
      fputs("\\\"", f);
    else if (*p == '\n')
      fputs("\\n", f);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
  fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

typedef struct row {
  const char *call, *category, *id;
  int allowed;
  uint64_t count, total_ns, max_ns;
} row_t;

static int row_cmp(const void *a, const void *b) {
  const row_t *x = a, *y = b;
  int c;
  if (x->allowed != y->allowed) return x->allowed - y->allowed;
  if ((c = strcmp(x->id, y->id))) return c;
  if ((c = strcmp(x->call, y->call))) return c;
  return strcmp(x->category, y->category);
}

static int same_series(const row_t *x, const row_t *y) {
  return x->allowed == y->allowed && !strcmp(x->id, y->id) && !strcmp(x->call, y->call) &&
         !strcmp(x->category, y->category);
}

static void series(FILE *f, const char *name, const row_t *r) {
  fputs(name, f);
  fputc('{', f);
  put_label(f, "call", r->call, 1);
  put_label(f, "category", r->category, 0);
  put_label(f, "site", r->id, 0);
  fputc('}', f);
}

/* One family over the rows with allowed == want; what: 0 count, 1 seconds, 2 max. */
static void emit(FILE *f, const row_t *rows, int n, int want, const char *name,
                 const char *type, const char *help, int what) {
  family(f, name, type, help);
  for (int i = 0; i < n; i++) {
    if (rows[i].allowed != want) continue;
    if (what == 0) {
      series(f, name, &rows[i]);
      fprintf(f, " %" PRIu64 "\n", rows[i].count);
    } else {
      series(f, name, &rows[i]);
      uint64_t ns = what == 1 ? rows[i].total_ns : rows[i].max_ns;
      fprintf(f, " %" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
    }
  }
}

char *bg_render_metrics(const bg_model_t *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  row_t *rows = calloc((size_t)m->nsites + 1, sizeof *rows);
  int n = 0;
  if (!rows) {
    fclose(f);
    free(buf);
    return NULL;
  }
  for (int i = 0; i < m->nsites; i++) {
    const bg_rsite_t *s = &m->sites[i];
    rows[n++] = (row_t){s->call ? s->call : "", s->category ? s->category : "", s->id,
                        s->allowed != 0, s->count, s->total_ns, s->max_ns};
  }
  qsort(rows, (size_t)n, sizeof *rows, row_cmp);
  int k = 0; /* fold duplicate series into one */
  for (int i = 0; i < n; i++) {
    if (k && same_series(&rows[k - 1], &rows[i])) {
      rows[k - 1].count += rows[i].count;
      rows[k - 1].total_ns += rows[i].total_ns;
      if (rows[i].max_ns > rows[k - 1].max_ns) rows[k - 1].max_ns = rows[i].max_ns;
    } else {
      rows[k++] = rows[i];
    }
  }
  n = k;
  emit(f, rows, n, 0, "blockguard_violations_total", "counter",
       "Blocking calls made on guarded threads outside any allow, per site.", 0);
  emit(f, rows, n, 0, "blockguard_blocked_seconds_total", "counter",
       "Seconds guarded threads spent blocked in violating calls, per site.", 1);
  emit(f, rows, n, 0, "blockguard_max_blocked_seconds", "gauge",
       "Longest single violating call, per site.", 2);
  emit(f, rows, n, 1, "blockguard_allowed_calls_total", "counter",
       "Blocking calls on guarded threads permitted by an allow rule or scope, per site.", 0);
  emit(f, rows, n, 1, "blockguard_allowed_blocked_seconds_total", "counter",
       "Seconds guarded threads spent blocked in allowed calls, per site.", 1);
  free(rows);

  int guarded = 0;
  for (int i = 0; i < m->nthreads; i++) guarded += m->threads[i].guarded != 0;
  family(f, "blockguard_sites", "gauge", "Distinct blocking sites recorded.");
  fprintf(f, "blockguard_sites %d\n", m->nsites);
  family(f, "blockguard_dropped_sites_total", "counter",
         "Sites not recorded because the site table (max_sites) was full.");
  fprintf(f, "blockguard_dropped_sites_total %" PRIu64 "\n", m->dropped_sites);
  family(f, "blockguard_guarded_threads", "gauge", "Threads currently guarded.");
  fprintf(f, "blockguard_guarded_threads %d\n", guarded);
  family(f, "blockguard_unguarded", "gauge",
         "1 when blockguard could not guard this process (see unguarded_reason).");
  fprintf(f, "blockguard_unguarded %d\n", m->unguarded_reason ? 1 : 0);
  family(f, "blockguard_info", "gauge", "blockguard version and process id (always 1).");
  fputs("blockguard_info{", f);
  put_label(f, "version", m->version, 1);
  char pid[32];
  snprintf(pid, sizeof pid, "%d", m->pid);
  put_label(f, "pid", pid, 0);
  fputs("} 1\n", f);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}
