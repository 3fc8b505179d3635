/* junit.c - the report as JUnit XML, the format every CI system shows as tests.
 *
 * One failing testcase per site that is not allowed (classname blockguard.CATEGORY,
 * name "CALL() in FUNCTION FILE:LINE [site id]", the stack in the failure body);
 * allowed sites are skipped testcases, so they stay visible.  A run without any
 * violation still has one passing testcase, and a run that was not guarded has one
 * erroring testcase: CI must never show "0 tests" for "never looked".  Program strings
 * go through bg_xml_escape (report/util.c): invalid UTF-8 becomes U+FFFD as in every
 * format (report/utf8.h), and so do the control characters XML 1.0 cannot carry.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

static void testcase(FILE *f, const bg_rsite_t *s) {
  char where[2048] = "", frame[2048], total[32], max[32];
  int c = bg_site_culprit(s);
  if (c >= 0) {
    const bg_rframe_t *cf = &s->frames[c];
    if (cf->file && cf->file[0] && cf->line > 0)
      snprintf(where, sizeof where, " in %s %s:%d", cf->function[0] ? cf->function : "??", cf->file,
               cf->line);
    else
      snprintf(where, sizeof where, " in %s (%s+0x%" PRIx64 ")",
               cf->function[0] ? cf->function : "??", bg_basename(cf->module), cf->offset);
  }
  bg_fmt_ns(total, sizeof total, s->total_ns);
  bg_fmt_ns(max, sizeof max, s->max_ns);
  char name[2300];
  snprintf(name, sizeof name, "%s()%s [%s]", s->call, where, s->id);
  fprintf(f, "    <testcase classname=\"blockguard.");
  bg_xml_escape(f, s->category, 1);
  fprintf(f, "\" name=\"");
  bg_xml_escape(f, name, 1);
  fprintf(f, "\" time=\"%.6f\">\n", s->total_ns / 1e9);
  if (s->allowed) {
    fprintf(f, "      <skipped message=\"allowed");
    if (s->rule) fprintf(f, " by "), bg_xml_escape(f, s->rule, 1);
    fprintf(f, "\"/>\n");
  } else {
    char msg[4096];
    snprintf(msg, sizeof msg,
             "blocking call %s() on a guarded thread: %" PRIu64 " call%s, %s blocked, %s max",
             s->call, s->count, s->count == 1 ? "" : "s", total, max);
    fprintf(f, "      <failure type=\"blocking-call\" message=\"");
    bg_xml_escape(f, msg, 1);
    fprintf(f, "\">");
    bg_xml_escape(f, msg, 0);
    fprintf(f, " (action "), bg_xml_escape(f, s->action, 0), fprintf(f, ", threads:");
    for (int i = 0; i < s->nthreads; i++) fprintf(f, " "), bg_xml_escape(f, s->threads[i], 0);
    fprintf(f, ")\n");
    for (int i = 0; i < s->nframes; i++) {
      bg_fmt_frame(frame, sizeof frame, &s->frames[i]);
      fprintf(f, "#%d 0x%" PRIx64 " in ", i, s->frames[i].pc);
      bg_xml_escape(f, frame, 0);
      fprintf(f, "\n");
    }
    fprintf(f, "</failure>\n");
  }
  fprintf(f, "    </testcase>\n");
}

char *bg_render_junit(const bg_model_t *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  int failures = 0, skipped = 0;
  for (int i = 0; i < m->nsites; i++) m->sites[i].allowed ? skipped++ : failures++;
  int errors = (m->unguarded_reason ? 1 : 0) + (m->incomplete_reason ? 1 : 0);
  int extra = (!failures && !errors) ? 1 : 0; /* the passing "no blocking calls" case */
  int tests = m->nsites + errors + extra;
  double secs = m->ended_ns > m->started_ns ? (m->ended_ns - m->started_ns) / 1e9 : 0;
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(
      f,
      "<testsuites name=\"blockguard\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
      tests, failures, errors, skipped, secs);
  fprintf(f, "  <testsuite name=\"blockguard: pid %d", m->pid);
  for (int i = 0; i < m->argc && i < 8; i++)
    fprintf(f, "%s", i ? " " : " "), bg_xml_escape(f, m->argv[i], 1);
  fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n", tests,
          failures, errors, skipped, secs);
  if (m->unguarded_reason) {
    fprintf(
        f,
        "    <testcase classname=\"blockguard\" name=\"guarded\">\n      <error type=\"not-guarded\" message=\"");
    bg_xml_escape(f, m->unguarded_reason, 1);
    fprintf(f, "\"/>\n    </testcase>\n");
  }
  if (m->incomplete_reason) { /* data may be missing: never a silent pass */
    fprintf(
        f,
        "    <testcase classname=\"blockguard\" name=\"complete\">\n      <error type=\"incomplete\" message=\"");
    bg_xml_escape(f, m->incomplete_reason, 1);
    fprintf(f, "\"/>\n    </testcase>\n");
  }
  for (int i = 0; i < m->nsites; i++)
    if (!m->sites[i].allowed) testcase(f, &m->sites[i]);
  for (int i = 0; i < m->nsites; i++)
    if (m->sites[i].allowed) testcase(f, &m->sites[i]);
  if (extra)
    fprintf(
        f,
        "    <testcase classname=\"blockguard\" name=\"no blocking calls on guarded threads\"/>\n");
  fprintf(f, "  </testsuite>\n</testsuites>\n");
  /* A failed write or close means a torn document: no report rather than half of one. */
  if (ferror(f) | fclose(f)) {
    free(buf);
    return NULL;
  }
  return buf;
}
