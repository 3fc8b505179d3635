/* metrics.c - Prometheus text exposition (format 0.0.4) of a report model.
 *
 * Served at /metrics by the dashboard server so a running service's blocking calls can
 * be scraped and alerted on like any other counter.  Every family has HELP and TYPE
 * lines, label values are escaped (backslash, double quote, newline; invalid UTF-8
 * becomes U+FFFD, report/utf8.h) because function and call names come from the
 * program, and a label set never appears twice in a
 * family (Prometheus rejects duplicate series): sites that share call, category and
 * id (the allowed and the unallowed variant of one stack) are summed.
 *
 * Violations (calls outside any allow) and allowed calls are separate families, as in
 * docs/report-schema.md's vocabulary: an allowed call is counted but is not a violation.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/http.h"

static void put_label(FILE *f, const char *name, const char *v, int first) {
  fprintf(f, "%s%s=\"", first ? "" : ",", name);
  if (!v) v = "";
  for (size_t i = 0, n = strlen(v), k; i < n; i += k ? k : 1) {
    k = bg__utf8_seq(v + i, n - i); /* label values are UTF-8: report/utf8.h's policy */
    if (!k)
      fputs(BG__UTF8_REPLACEMENT, f);
    else if (v[i] == '\\')
      fputs("\\\\", f);
    else if (v[i] == '"')
      fputs("\\\"", f);
    else if (v[i] == '\n')
      fputs("\\n", f);
    else
      fwrite(v + i, 1, k, f);
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
static void emit(FILE *f, const row_t *rows, int n, int want, const char *name, const char *type,
                 const char *help, int what) {
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

/* Loop health (docs/loop-health.md): one histogram per event-loop thread, its buckets
 * the log2 buckets of the report (le = 2^i ns, from 1 us; shorter iterations count in
 * the first), plus utilization, idle time, the worst iteration and stalls. */
static void loop_labels(FILE *f, const bg_rloop_t *l) {
  char v[32];
  snprintf(v, sizeof v, "%d", l->pid);
  put_label(f, "pid", v, 1);
  snprintf(v, sizeof v, "%d", l->tid);
  put_label(f, "tid", v, 0);
  put_label(f, "thread", l->name, 0);
}

static void loop_value(FILE *f, const char *name, const bg_rloop_t *l, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void loop_value(FILE *f, const char *name, const bg_rloop_t *l, const char *fmt, ...) {
  fprintf(f, "%s{", name);
  loop_labels(f, l);
  fputs("} ", f);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
}

static void put_seconds(char *buf, size_t n, uint64_t ns) {
  snprintf(buf, n, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

static void loops(FILE *f, const bg_model_t *m) {
  if (!m->nloops) return;
  const char *h = "blockguard_loop_iteration_seconds";
  family(f, h, "histogram", "Time each event-loop iteration ran between two waits of its loop.");
  for (int i = 0; i < m->nloops; i++) {
    const bg_rloop_t *l = &m->loops[i];
    int top = l->nhist > 31 ? l->nhist : 31; /* up to ~1 s at least */
    uint64_t cum = 0;
    for (int b = 0; b <= top && b < BG_MODEL_HIST; b++) {
      cum += l->hist[b];
      if (b < 10) continue; /* below 1 us: folded into le=2^10 ns */
      char le[48];
      put_seconds(le, sizeof le, 1ull << b);
      fprintf(f, "%s_bucket{", h);
      loop_labels(f, l);
      put_label(f, "le", le, 0);
      fprintf(f, "} %" PRIu64 "\n", cum);
    }
    fprintf(f, "%s_bucket{", h);
    loop_labels(f, l);
    fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n", l->iterations);
    char sec[48];
    put_seconds(sec, sizeof sec, l->busy_ns);
    loop_value(f, "blockguard_loop_iteration_seconds_sum", l, "%s", sec);
    loop_value(f, "blockguard_loop_iteration_seconds_count", l, "%" PRIu64, l->iterations);
  }
  family(f, "blockguard_loop_idle_seconds_total", "counter",
         "Seconds event loops spent waiting for events (inside their wait).");
  for (int i = 0; i < m->nloops; i++) {
    char sec[48];
    put_seconds(sec, sizeof sec, m->loops[i].idle_ns);
    loop_value(f, "blockguard_loop_idle_seconds_total", &m->loops[i], "%s", sec);
  }
  family(f, "blockguard_loop_utilization", "gauge",
         "Fraction of its time an event loop spent running (busy / (busy + idle)).");
  for (int i = 0; i < m->nloops; i++)
    loop_value(f, "blockguard_loop_utilization", &m->loops[i], "%.6f", m->loops[i].utilization);
  family(f, "blockguard_loop_worst_iteration_seconds", "gauge",
         "Longest single event-loop iteration.");
  for (int i = 0; i < m->nloops; i++) {
    char sec[48];
    put_seconds(sec, sizeof sec, m->loops[i].worst_ns);
    loop_value(f, "blockguard_loop_worst_iteration_seconds", &m->loops[i], "%s", sec);
  }
  family(f, "blockguard_loop_stalls_total", "counter",
         "Event-loop iterations that ran longer than stall_ms on CPU.");
  for (int i = 0; i < m->nloops; i++)
    loop_value(f, "blockguard_loop_stalls_total", &m->loops[i], "%" PRIu64, m->loops[i].stalls);
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
    rows[n++] = (row_t){s->call ? s->call : "",
                        s->category ? s->category : "",
                        s->id,
                        s->allowed != 0,
                        s->count,
                        s->total_ns,
                        s->max_ns};
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

  loops(f, m);

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
