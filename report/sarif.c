/* sarif.c - the report as SARIF 2.1.0 (OASIS), for code-scanning UIs.
 *
 * One result per site that is not allowed.  Its location is the site's culprit frame
 * (bg_site_culprit: first frame with source info outside libc, the loader and the
 * shim); without source info it points into the module by offset.  The whole stack
 * goes into result.stacks, the stable site id into partialFingerprints so a viewer
 * tracks the same site across runs.  Rules are one per category
 * ("blocking-call/io"...).  Program strings go through bg__json_str (invalid UTF-8
 * becomes U+FFFD, the one policy of report/utf8.h); file paths become URIs with
 * percent-encoding.  tests/unit/test_render.c checks the
 * output against the official 2.1.0 schema when python3-jsonschema is installed.
 */
#include <inttypes.h>
#include "report/jx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

#define jstr bg__json_str /* report/json.c: invalid UTF-8 per report/utf8.h */

/* RFC 3986: absolute paths become file:// URIs, relative ones stay relative
 * references; everything but unreserved characters and '/' is percent-encoded. */
static json_t *path_uri(const char *path) {
  size_t n = strlen(path);
  char *u = malloc(n * 3 + 8), *o = u;
  if (!u) return json_string("");
  if (path[0] == '/') o += sprintf(o, "file://");
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~/", *p))
      *o++ = (char)*p;
    else
      o += sprintf(o, "%%%02X", *p);
  }
  *o = 0;
  json_t *j = json_string(u);
  free(u);
  return j;
}

static json_t *frame_location(const bg_rframe_t *f) {
  json_t *loc = json_object(), *phys = json_object(), *art = json_object();
  if (f->file && f->file[0] && f->line > 0) {
    json_object_set_new(art, "uri", path_uri(f->file));
    json_object_set_new(phys, "artifactLocation", art);
    json_t *region = json_object();
    json_object_set_new(region, "startLine", json_integer(f->line));
    json_object_set_new(phys, "region", region);
  } else {
    json_object_set_new(art, "uri", path_uri(f->module && f->module[0] ? f->module : "unknown"));
    json_object_set_new(phys, "artifactLocation", art);
    json_t *addr = json_object();
    json_object_set_new(addr, "relativeAddress", json_integer((json_int_t)f->offset));
    json_object_set_new(addr, "name", jstr(bg_basename(f->module)));
    json_object_set_new(phys, "address", addr);
  }
  json_object_set_new(loc, "physicalLocation", phys);
  if (f->function && f->function[0]) {
    json_t *ll = json_array(), *l = json_object();
    json_object_set_new(l, "name", jstr(f->function));
    json_object_set_new(l, "kind", json_string("function"));
    json_array_append_new(ll, l);
    json_object_set_new(loc, "logicalLocations", ll);
  }
  return loc;
}

static int rule_index(json_t *rules, const char *category) {
  char id[128];
  snprintf(id, sizeof id, "blocking-call/%s", category);
  size_t i;
  json_t *r;
  json_t *jid = jstr(id); /* compared as stored: after the UTF-8 policy */
  const char *want = jid ? json_string_value(jid) : "";
  json_array_foreach(rules, i, r) {
    const char *have = json_string_value(json_object_get(r, "id"));
    if (have && !strcmp(have, want)) return json_decref(jid), (int)i;
  }
  json_t *nr = json_object(), *sd = json_object(), *fd = json_object(), *cfg = json_object();
  json_object_set_new(nr, "id", jid);
  json_object_set_new(nr, "name", json_string("BlockingCallOnGuardedThread"));
  char text[512];
  snprintf(text, sizeof text, "Blocking '%s' call on a thread that must not block", category);
  json_object_set_new(sd, "text", jstr(text));
  json_object_set_new(nr, "shortDescription", sd);
  json_object_set_new(fd, "text",
                      json_string("A wrapped libc call that can block was made on a guarded thread "
                                  "(an event loop or a thread marked with bg_thread_guard). Move "
                                  "it off the thread, make it non-blocking, or allowlist it."));
  json_object_set_new(nr, "fullDescription", fd);
  json_object_set_new(cfg, "level", json_string("error"));
  json_object_set_new(nr, "defaultConfiguration", cfg);
  json_array_append_new(rules, nr);
  return (int)json_array_size(rules) - 1;
}

static json_t *site_result(const bg_rsite_t *s, json_t *rules) {
  json_t *res = json_object();
  char id[128];
  snprintf(id, sizeof id, "blocking-call/%s", s->category);
  json_object_set_new(res, "ruleId", jstr(id));
  json_object_set_new(res, "ruleIndex", json_integer(rule_index(rules, s->category)));
  json_object_set_new(res, "level", json_string("error"));
  char total[32], max[32], where[2048] = "", msg[4096];
  bg_fmt_ns(total, sizeof total, s->total_ns);
  bg_fmt_ns(max, sizeof max, s->max_ns);
  int c = bg_site_culprit(s);
  if (c >= 0) bg_fmt_frame(where, sizeof where, &s->frames[c]);
  snprintf(msg, sizeof msg,
           "Blocking call %s() [%s] on a guarded thread%s%s: %" PRIu64
           " call%s, %s blocked in total, "
           "%s at most (action %s).",
           s->call, s->category, where[0] ? " in " : "", where, s->count, s->count == 1 ? "" : "s",
           total, max, s->action);
  json_t *m = json_object();
  json_object_set_new(m, "text", jstr(msg));
  json_object_set_new(res, "message", m);
  json_t *locs = json_array();
  if (c >= 0) json_array_append_new(locs, frame_location(&s->frames[c]));
  json_object_set_new(res, "locations", locs);
  json_t *fp = json_object();
  json_object_set_new(fp, "blockguardSiteId/v1", json_string(s->id));
  json_object_set_new(res, "partialFingerprints", fp);
  if (s->nframes) {
    json_t *stacks = json_array(), *st = json_object(), *frames = json_array(), *sm = json_object();
    json_object_set_new(sm, "text", json_string("call stack of the blocking call"));
    json_object_set_new(st, "message", sm);
    for (int i = 0; i < s->nframes; i++) {
      json_t *fr = json_object();
      json_object_set_new(fr, "location", frame_location(&s->frames[i]));
      json_object_set_new(fr, "module", jstr(bg_basename(s->frames[i].module)));
      if (s->frames[i].lang != BG_LANG_C) { /* Python/JS frame: say which */
        json_t *fprops = json_object();
        json_object_set_new(fprops, "lang", json_string(bg_lang_name(s->frames[i].lang)));
        json_object_set_new(fr, "properties", fprops);
      }
      json_array_append_new(frames, fr);
    }
    json_object_set_new(st, "frames", frames);
    json_array_append_new(stacks, st);
    json_object_set_new(res, "stacks", stacks);
  }
  json_t *props = json_object(), *threads = json_array();
  json_object_set_new(props, "call", jstr(s->call));
  json_object_set_new(props, "category", jstr(s->category));
  json_object_set_new(props, "count", json_integer((json_int_t)s->count));
  json_object_set_new(props, "total_ns", json_integer((json_int_t)s->total_ns));
  json_object_set_new(props, "max_ns", json_integer((json_int_t)s->max_ns));
  json_object_set_new(props, "action", jstr(s->action));
  for (int i = 0; i < s->nthreads; i++) json_array_append_new(threads, jstr(s->threads[i]));
  json_object_set_new(props, "threads", threads);
  json_object_set_new(res, "properties", props);
  return res;
}

char *bg_render_sarif(const bg_model_t *m) {
  json_t *log = json_object(), *runs = json_array(), *run = json_object(), *tool = json_object(),
         *driver = json_object(), *rules = json_array(), *results = json_array();
  json_object_set_new(log, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"));
  json_object_set_new(log, "version", json_string("2.1.0"));
  json_object_set_new(driver, "name", json_string("blockguard"));
  json_object_set_new(driver, "version", jstr(m->version));
  json_object_set_new(driver, "semanticVersion", jstr(m->version));
  for (int i = 0; i < m->nsites; i++)
    if (!m->sites[i].allowed) json_array_append_new(results, site_result(&m->sites[i], rules));
  json_object_set_new(driver, "rules", rules);
  json_object_set_new(tool, "driver", driver);
  json_object_set_new(run, "tool", tool);
  json_t *inv = json_object(), *invs = json_array(), *args = json_array();
  json_object_set_new(inv, "executionSuccessful",
                      json_boolean(!m->unguarded_reason && !m->incomplete_reason));
  for (int i = 0; i < m->argc; i++) json_array_append_new(args, jstr(m->argv[i]));
  json_object_set_new(inv, "arguments", args);
  if (m->unguarded_reason || m->incomplete_reason) {
    json_t *notes = json_array();
    for (int k = 0; k < 2; k++) {
      const char *why = k ? m->incomplete_reason : m->unguarded_reason;
      if (!why) continue;
      json_t *n = json_object(), *msg = json_object();
      char text[1200];
      snprintf(text, sizeof text, "%s: %s", k ? "INCOMPLETE" : "NOT GUARDED", why);
      json_object_set_new(msg, "text", jstr(text));
      json_object_set_new(n, "message", msg);
      json_object_set_new(n, "level", json_string("error"));
      json_array_append_new(notes, n);
    }
    json_object_set_new(inv, "toolExecutionNotifications", notes);
  }
  json_array_append_new(invs, inv);
  json_object_set_new(run, "invocations", invs);
  json_object_set_new(run, "results", results);
  json_t *props = json_object();
  json_object_set_new(props, "pid", json_integer(m->pid));
  json_object_set_new(props, "dropped_sites", json_integer((json_int_t)m->dropped_sites));
  json_object_set_new(run, "properties", props);
  json_array_append_new(runs, run);
  json_object_set_new(log, "runs", runs);
  char *s = json_dumps(log, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(log);
  return s;
}
