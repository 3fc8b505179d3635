/* json.c - the report model to and from JSON (docs/report-schema.md), with jansson.
 *
 * Writing: program strings (function, file, thread names, argv) are arbitrary bytes;
 * JSON needs UTF-8, so invalid bytes become U+FFFD (the one policy of report/utf8.h)
 * instead of being dropped or producing a file nobody can parse.  Reading: every field is
 * type-checked and a report from another tool, an incompatible major version, or a corrupt file
 * gets an error naming the file and the field - never a crash, never a silent zero.
 *
 * Size.  A merged report can hold 100,000 sites (hundreds of MB).  jansson's tree of a
 * whole document takes ~6x the text, so neither side builds one for the sites array:
 * the reader walks the top-level object itself - only the punctuation between values
 * ({ } [ ] , : and blanks) - and hands each member value, and each element of "sites",
 * to jansson separately (JSON_DISABLE_EOF_CHECK reports where the value ended), turning
 * a site into the model and freeing its tree at once.  The writer dumps the head, each
 * site and the tail separately, indented exactly as one json_dumps of the whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include "report/jx.h"
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "report/model.h"

/* ---- writing ------------------------------------------------------------------------ */

/* A program string as a JSON string, invalid UTF-8 replaced by the one policy
 * (bg__utf8_clean, report/utf8.h); sarif.c uses it too. */
json_t *bg__json_str(const char *s) {
  if (!s) s = "";
  json_t *j = json_stringn(s, strlen(s));
  if (j) return j;
  size_t n;
  char *buf = bg__utf8_clean(s, &n);
  if (!buf) return json_string("");
  j = json_stringn(buf, n);
  free(buf);
  return j;
}
#define jstr bg__json_str

static json_t *jint(uint64_t v) { return json_integer((json_int_t)v); }

static json_t *jhex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return json_string(buf);
}

static json_t *site_json(const bg_rsite_t *s) {
  json_t *o = json_object(), *hist = json_array(), *threads = json_array(), *frames = json_array();
  json_object_set_new(o, "id", json_string(s->id));
  json_object_set_new(o, "call", jstr(s->call));
  json_object_set_new(o, "category", jstr(s->category));
  json_object_set_new(o, "count", jint(s->count));
  json_object_set_new(o, "allowed", json_boolean(s->allowed));
  json_object_set_new(o, "action", jstr(s->action));
  json_object_set_new(o, "rule", s->rule ? jstr(s->rule) : json_null());
  json_object_set_new(o, "total_ns", jint(s->total_ns));
  json_object_set_new(o, "max_ns", jint(s->max_ns));
  for (int i = 0; i < s->nhist; i++) json_array_append_new(hist, jint(s->hist[i]));
  json_object_set_new(o, "hist_log2_ns", hist);
  for (int i = 0; i < s->nthreads; i++) json_array_append_new(threads, jstr(s->threads[i]));
  json_object_set_new(o, "threads", threads);
  json_object_set_new(o, "first_ns", jint(s->first_ns));
  json_object_set_new(o, "last_ns", jint(s->last_ns));
  json_object_set_new(o, "in_flight", jint(s->in_flight));
  for (int i = 0; i < s->nframes; i++) {
    const bg_rframe_t *f = &s->frames[i];
    json_t *jf = json_object();
    json_object_set_new(jf, "pc", jhex(f->pc));
    json_object_set_new(jf, "module", jstr(f->module));
    json_object_set_new(jf, "offset", jhex(f->offset));
    json_object_set_new(jf, "function", jstr(f->function));
    json_object_set_new(jf, "file", jstr(f->file));
    json_object_set_new(jf, "line", json_integer(f->line));
    json_object_set_new(jf, "lang", jstr(bg_lang_name(f->lang)));
    json_array_append_new(frames, jf);
  }
  json_object_set_new(o, "frames", frames);
  return o;
}

/* "loops": loop health per event-loop thread (docs/report-schema.md). */
static json_t *loops_json(const bg_model_t *m) {
  json_t *a = json_array();
  for (int i = 0; i < m->nloops; i++) {
    const bg_rloop_t *l = &m->loops[i];
    json_t *o = json_object(), *hist = json_array(), *recent = json_array();
    json_object_set_new(o, "pid", json_integer(l->pid));
    json_object_set_new(o, "tid", json_integer(l->tid));
    json_object_set_new(o, "name", jstr(l->name));
    json_object_set_new(o, "running", json_boolean(l->running));
    json_object_set_new(o, "iterations", jint(l->iterations));
    json_object_set_new(o, "busy_ns", jint(l->busy_ns));
    json_object_set_new(o, "idle_ns", jint(l->idle_ns));
    json_object_set_new(o, "utilization", json_real(l->utilization));
    json_object_set_new(o, "worst_ns", jint(l->worst_ns));
    json_object_set_new(o, "worst_at_ns", jint(l->worst_at_ns));
    for (int j = 0; j < l->nhist; j++) json_array_append_new(hist, jint(l->hist[j]));
    json_object_set_new(o, "hist_log2_ns", hist);
    json_object_set_new(o, "stalls", jint(l->stalls));
    json_object_set_new(o, "stalls_unsampled", jint(l->stalls_unsampled));
    for (int j = 0; j < l->nrecent; j++) {
      json_t *r = json_object();
      json_object_set_new(r, "t_ns", jint(l->recent[j].t_ns));
      json_object_set_new(r, "iterations", jint(l->recent[j].iterations));
      json_object_set_new(r, "busy_ns", jint(l->recent[j].busy_ns));
      json_object_set_new(r, "max_ns", jint(l->recent[j].max_ns));
      json_array_append_new(recent, r);
    }
    json_object_set_new(o, "recent", recent);
    json_array_append_new(a, o);
  }
  return a;
}

/* {"how": ..., and what that way of ending has: status, signal + name, exec path} */
static json_t *exit_json(const bg_rexit_t *e) {
  if (!e->how) return json_null();
  json_t *o = json_object();
  json_object_set_new(o, "how", jstr(e->how));
  if (!strcmp(e->how, "exit")) json_object_set_new(o, "status", json_integer(e->status));
  if (!strcmp(e->how, "signal")) {
    char name[32];
    const char *abbrev = e->signal > 0 && e->signal < 65 ? sigabbrev_np(e->signal) : NULL;
    if (abbrev)
      snprintf(name, sizeof name, "SIG%s", abbrev);
    else
      snprintf(name, sizeof name, "signal %d", e->signal);
    json_object_set_new(o, "signal", json_integer(e->signal));
    json_object_set_new(o, "signal_name", jstr(name));
  }
  if (!strcmp(e->how, "exec")) json_object_set_new(o, "exec", jstr(e->exec));
  return o;
}

/* The report with "sites": [] (bg_render_json dumps the sites into it one by one). */
static json_t *model_json(const bg_model_t *m) {
  json_t *o = json_object(), *argv = json_array(), *opts = json_object(), *threads = json_array(),
         *sites = json_array();
  json_object_set_new(o, "tool", jstr(m->tool ? m->tool : "blockguard"));
  json_object_set_new(o, "version", jstr(m->version));
  json_object_set_new(o, "schema", json_integer(2));
  json_object_set_new(o, "pid", json_integer(m->pid));
  json_object_set_new(o, "image", json_integer(m->image));
  for (int i = 0; i < m->argc; i++) json_array_append_new(argv, jstr(m->argv[i]));
  json_object_set_new(o, "argv", argv);
  json_object_set_new(o, "started_ns", jint(m->started_ns));
  json_object_set_new(o, "ended_ns", jint(m->ended_ns));
  for (int i = 0; i < m->noptions; i++)
    json_object_set_new(opts, m->options[i].key, jstr(m->options[i].value));
  json_object_set_new(o, "options", opts);
  for (int i = 0; i < m->nthreads; i++) {
    json_t *t = json_object();
    json_object_set_new(t, "tid", json_integer(m->threads[i].tid));
    json_object_set_new(t, "name", jstr(m->threads[i].name));
    json_object_set_new(t, "guarded", json_boolean(m->threads[i].guarded));
    json_object_set_new(t, "why", jstr(m->threads[i].why));
    json_array_append_new(threads, t);
  }
  json_object_set_new(o, "threads", threads);
  json_object_set_new(o, "loops", loops_json(m));
  json_object_set_new(o, "sites", sites);
  json_object_set_new(o, "dropped_sites", jint(m->dropped_sites));
  json_object_set_new(o, "unguarded_reason",
                      m->unguarded_reason ? jstr(m->unguarded_reason) : json_null());
  json_object_set_new(o, "complete", json_boolean(!m->incomplete_reason));
  json_object_set_new(o, "incomplete_reason",
                      m->incomplete_reason ? jstr(m->incomplete_reason) : json_null());
  json_object_set_new(o, "exit", exit_json(&m->exit));
  json_t *um = json_array();
  for (int i = 0; i < m->nunmatched; i++) {
    json_t *r = json_object();
    json_object_set_new(r, "file", jstr(m->unmatched_rules[i].file));
    json_object_set_new(r, "line", json_integer(m->unmatched_rules[i].line));
    json_object_set_new(r, "text", jstr(m->unmatched_rules[i].text));
    json_array_append_new(um, r);
  }
  json_object_set_new(o, "unmatched_rules", um);
  /* extension (docs/http.md): the dashboard this process served */
  if (m->http_url) json_object_set_new(o, "http_url", jstr(m->http_url));
  json_t *mods = json_array();
  for (int i = 0; i < m->nmodules; i++) {
    json_t *mo = json_object();
    json_object_set_new(mo, "path", jstr(m->modules[i].path));
    json_object_set_new(mo, "build_id", jstr(m->modules[i].build_id));
    json_array_append_new(mods, mo);
  }
  json_object_set_new(o, "modules", mods);
  if (m->nprocesses) { /* extension: a process tree's live view (docs/fleet.md) */
    json_t *ps = json_array();
    for (int i = 0; i < m->nprocesses; i++) {
      const bg_rproc_t *p = &m->processes[i];
      json_t *po = json_object();
      json_object_set_new(po, "pid", json_integer(p->pid));
      json_object_set_new(po, "image", json_integer(p->image));
      json_object_set_new(po, "cmd", jstr(p->cmd));
      json_object_set_new(po, "state", jstr(p->state));
      json_object_set_new(po, "violations", jint(p->violations));
      json_object_set_new(po, "sites", json_integer(p->sites));
      json_array_append_new(ps, po);
    }
    json_object_set_new(o, "processes", ps);
  }
  return o;
}

/* The output of bg_render_json: one growing buffer (jansson's dump callback is called
 * per token, too often for stdio), handed to `f` in 1 MB pieces when there is one. */
struct out {
  char *p;
  size_t len, cap;
  int failed;
  FILE *f;
};

static void put(struct out *o, const char *s, size_t n) {
  if (o->failed) return;
  if (o->f && o->len + n > (1u << 20) && o->len) {
    if (fwrite(o->p, 1, o->len, o->f) != o->len) o->failed = 1;
    o->len = 0;
  }
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + n + 1) cap *= 2;
    char *p = realloc(o->p, cap);
    if (!p) {
      o->failed = 1;
      return;
    }
    o->p = p, o->cap = cap;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = 0;
}

/* json_dump_callback sink for a site dumped alone: every line break is followed by two
 * more blanks, which places it at depth 2 of the report. */
static int site_sink(const char *buf, size_t n, void *arg) {
  struct out *o = arg;
  for (const char *p = buf, *e = buf + n; p < e;) {
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    if (!nl) {
      put(o, p, (size_t)(e - p));
      break;
    }
    put(o, p, (size_t)(nl - p));
    put(o, "\n  ", 3);
    p = nl + 1;
  }
  return o->failed ? -1 : 0;
}

/* Byte for byte what json_dumps(JSON_INDENT(1)) of the whole report gives, without its
 * tree: the report with an empty "sites" array is dumped, and the sites are dumped one
 * at a time into that array's place (see the top of this file).  Into a buffer
 * (returned, f NULL) or streamed to f (returns a non-NULL marker or NULL on failure). */
static char *render_json(const bg_model_t *m, FILE *f) {
  const size_t flags = JSON_INDENT(1) | JSON_PRESERVE_ORDER;
  json_t *o = model_json(m);
  char *head = o ? json_dumps(o, flags) : NULL;
  json_decref(o);
  if (!head) return NULL;
  /* Strings are escaped, so a line break followed by this can only be the member. */
  static const char mark[] = "\n \"sites\": []";
  char *at = m->nsites ? strstr(head, mark) : NULL;
  struct out out = {.f = f};
  if (!at && !f) return head;
  int with_sites = at != NULL;
  if (!at) at = head + strlen(head); /* no sites: the head is everything */
  put(&out, head, (size_t)(at - head));
  if (!with_sites) goto tail;
  put(&out, mark, sizeof mark - 2); /* without the "]" */
  for (int i = 0; !out.failed && i < m->nsites; i++) {
    json_t *js = site_json(&m->sites[i]);
    put(&out, i ? ",\n  " : "\n  ", i ? 4 : 3);
    if (!js || json_dump_callback(js, site_sink, &out, flags) < 0) out.failed = 1;
    json_decref(js);
  }
  put(&out, "\n ]", 3);
  at += sizeof mark - 1;
tail:
  put(&out, at, strlen(at));
  free(head);
  if (f && !out.failed && out.len && fwrite(out.p, 1, out.len, f) != out.len) out.failed = 1;
  if (out.failed) {
    free(out.p);
    return NULL;
  }
  if (f) {
    free(out.p);
    return (char *)"";
  }
  return out.p;
}

char *bg_render_json(const bg_model_t *m) { return render_json(m, NULL); }

int bg_render_json_file(const bg_model_t *m, FILE *f) { return render_json(m, f) ? 0 : -1; }

char *bg_render_site_json(const bg_rsite_t *site) {
  json_t *o = site_json(site);
  char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  json_decref(o);
  return s;
}

/* ---- reading ------------------------------------------------------------------------ */

struct rd {
  const char *name;
  char *err;
  size_t errlen;
  int failed;
  int sites_streamed; /* m->sites already read (bg_model_read_json) */
};

static void rd_fail(struct rd *r, const char *field, const char *what) {
  if (r->failed) return;
  r->failed = 1;
  snprintf(r->err, r->errlen, "%s: field '%s': %s", r->name, field, what);
}

/* Allocation failures are errors like any other ("FILE: field 'X': out of memory"):
 * the reader stops at the first one, and bg_model_read_json frees what was built. */
static char *rd_strdup(struct rd *r, const char *field, const char *s) {
  char *d = bg_model_strdup(s);
  if (!d) rd_fail(r, field, "out of memory");
  return d;
}

/* n elements plus a terminating zeroed one, NULL (and r failed) out of memory. */
static void *rd_calloc(struct rd *r, const char *field, size_t n, size_t size) {
  void *p = calloc(n + 1, size);
  if (!p) rd_fail(r, field, "out of memory");
  return p;
}

/* NULL only out of memory (r failed); "" for a missing or mistyped field. */
static char *get_str(struct rd *r, json_t *o, const char *key, int required) {
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) rd_fail(r, key, "missing");
    return rd_strdup(r, key, "");
  }
  if (!json_is_string(v)) {
    rd_fail(r, key, "expected a string");
    return rd_strdup(r, key, "");
  }
  return rd_strdup(r, key, json_string_value(v));
}

static uint64_t get_uint(struct rd *r, json_t *o, const char *key, int required) {
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) rd_fail(r, key, "missing");
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    rd_fail(r, key, "expected a non-negative integer");
    return 0;
  }
  return (uint64_t)json_integer_value(v);
}

static uint64_t get_hex(struct rd *r, json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v)) {
    rd_fail(r, key, "expected a hex string");
    return 0;
  }
  char *end;
  errno = 0;
  uint64_t x = strtoull(json_string_value(v), &end, 16);
  if (errno || *end) rd_fail(r, key, "expected a hex string");
  return x;
}

static json_t *get_array(struct rd *r, json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_array(v)) {
    rd_fail(r, key, v ? "expected an array" : "missing");
    return NULL;
  }
  return v;
}

/* "hist_log2_ns": log2 buckets of a site or a loop (the extra buckets of a newer
 * writer are ignored).  0 after a failure. */
static int read_hist(struct rd *r, json_t *js, uint64_t *hist, int *nhist) {
  json_t *a = get_array(r, js, "hist_log2_ns"), *v;
  size_t i;
  if (a) json_array_foreach(a, i, v) {
      if (i >= BG_MODEL_HIST) break;
      if (!json_is_integer(v) || json_integer_value(v) < 0) {
        rd_fail(r, "hist_log2_ns", "expected non-negative integers");
        return 0;
      }
      hist[i] = (uint64_t)json_integer_value(v);
      *nhist = (int)i + 1;
    }
  return 1;
}
static void read_loop(struct rd *r, json_t *js, bg_rloop_t *l) {
  if (!json_is_object(js)) return rd_fail(r, "loops[]", "expected an object");
  l->pid = (int)get_uint(r, js, "pid", 0);
  l->tid = (int)get_uint(r, js, "tid", 1);
  l->name = get_str(r, js, "name", 1);
  l->running = json_is_true(json_object_get(js, "running"));
  l->iterations = get_uint(r, js, "iterations", 1);
  l->busy_ns = get_uint(r, js, "busy_ns", 1);
  l->idle_ns = get_uint(r, js, "idle_ns", 0);
  l->worst_ns = get_uint(r, js, "worst_ns", 1);
  l->worst_at_ns = get_uint(r, js, "worst_at_ns", 0);
  json_t *u = json_object_get(js, "utilization");
  if (!json_is_number(u) || json_number_value(u) < 0 || json_number_value(u) > 1)
    return rd_fail(r, "utilization", "expected a number from 0 to 1");
  l->utilization = json_number_value(u);
  l->stalls = get_uint(r, js, "stalls", 0);
  l->stalls_unsampled = get_uint(r, js, "stalls_unsampled", 0);
  if (!read_hist(r, js, l->hist, &l->nhist)) return;
  json_t *v;
  size_t i;
  json_t *rec = json_object_get(js, "recent");
  if (rec && !json_is_array(rec)) return rd_fail(r, "recent", "expected an array");
  if (rec) {
    if (!(l->recent = rd_calloc(r, "recent", json_array_size(rec), sizeof *l->recent))) return;
    json_array_foreach(rec, i, v) {
      if (i >= BG_MODEL_RECENT) break;
      if (!json_is_object(v)) return rd_fail(r, "recent[]", "expected an object");
      bg_rloop_second_t *sec = &l->recent[l->nrecent++];
      sec->t_ns = get_uint(r, v, "t_ns", 1);
      sec->iterations = get_uint(r, v, "iterations", 1);
      sec->busy_ns = get_uint(r, v, "busy_ns", 1);
      sec->max_ns = get_uint(r, v, "max_ns", 1);
    }
  }
}

static void read_site(struct rd *r, json_t *js, bg_rsite_t *s) {
  if (!json_is_object(js)) return rd_fail(r, "sites[]", "expected an object");
  char *id = get_str(r, js, "id", 1);
  if (!id) return;
  size_t idlen = strlen(id);
  if (!r->failed &&
      (idlen == 0 || idlen >= sizeof s->id || strspn(id, "0123456789abcdefABCDEF") != idlen))
    rd_fail(r, "id", "expected a hex string of at most 31 digits");
  snprintf(s->id, sizeof s->id, "%s", id);
  free(id);
  s->call = get_str(r, js, "call", 1);
  s->category = get_str(r, js, "category", 1);
  s->action = get_str(r, js, "action", 1);
  json_t *rule = json_object_get(js, "rule");
  if (json_is_string(rule))
    s->rule = rd_strdup(r, "rule", json_string_value(rule));
  else if (rule && !json_is_null(rule))
    rd_fail(r, "rule", "expected a string or null");
  json_t *al = json_object_get(js, "allowed");
  if (!json_is_boolean(al)) rd_fail(r, "allowed", "expected true or false");
  s->allowed = json_is_true(al);
  s->count = get_uint(r, js, "count", 1);
  s->total_ns = get_uint(r, js, "total_ns", 1);
  s->max_ns = get_uint(r, js, "max_ns", 1);
  s->first_ns = get_uint(r, js, "first_ns", 0);
  s->last_ns = get_uint(r, js, "last_ns", 0);
  s->in_flight = get_uint(r, js, "in_flight", 0);
  if (!read_hist(r, js, s->hist, &s->nhist)) return;
  json_t *v;
  size_t i;
  json_t *th = get_array(r, js, "threads");
  if (th) {
    if (!(s->threads = rd_calloc(r, "threads", json_array_size(th), sizeof *s->threads))) return;
    json_array_foreach(th, i, v) {
      if (!json_is_string(v)) return rd_fail(r, "threads", "expected strings");
      if (!(s->threads[s->nthreads] = rd_strdup(r, "threads", json_string_value(v)))) return;
      s->nthreads++;
    }
  }
  json_t *fr = get_array(r, js, "frames");
  if (fr) {
    if (!(s->frames = rd_calloc(r, "frames", json_array_size(fr), sizeof *s->frames))) return;
    json_array_foreach(fr, i, v) {
      if (!json_is_object(v)) return rd_fail(r, "frames[]", "expected an object");
      bg_rframe_t *f = &s->frames[s->nframes++];
      f->pc = get_hex(r, v, "pc");
      f->module = get_str(r, v, "module", 0);
      f->offset = get_hex(r, v, "offset");
      f->function = get_str(r, v, "function", 0);
      f->file = get_str(r, v, "file", 0);
      json_t *ln = json_object_get(v, "line");
      f->line = json_is_integer(ln) ? (int)json_integer_value(ln) : 0;
      json_t *lg = json_object_get(v, "lang"); /* absent before schema 2: native */
      if (lg) {
        f->lang = json_is_string(lg) ? bg_lang_parse(json_string_value(lg)) : -1;
        if (f->lang < 0) return rd_fail(r, "frames[].lang", "expected c, python, js or jit");
      }
    }
  }
}

/* Schema 2 fields; absent in 0.1.0 reports (schema 1), which read as complete with no
 * word on how the process ended. */
static void read_schema(struct rd *r, json_t *o, bg_model_t *m) {
  json_t *v = json_object_get(o, "schema");
  m->schema = 1;
  if (v && (!json_is_integer(v) || json_integer_value(v) < 1))
    return rd_fail(r, "schema", "expected a positive integer");
  if (v) m->schema = (int)json_integer_value(v);
  if (m->schema > 2)
    return rd_fail(r, "schema", "schema newer than this reader (2): upgrade blockguard");
}

static void read_v2(struct rd *r, json_t *o, bg_model_t *m) {
  m->image = (int)get_uint(r, o, "image", 0);
  json_t *c = json_object_get(o, "complete"), *why = json_object_get(o, "incomplete_reason");
  if (c && !json_is_boolean(c)) return rd_fail(r, "complete", "expected true or false");
  if (why && !json_is_string(why) && !json_is_null(why))
    return rd_fail(r, "incomplete_reason", "expected a string or null");
  if (c && json_is_false(c))
    m->incomplete_reason = rd_strdup(r, "incomplete_reason",
                                     json_is_string(why) && json_string_value(why)[0]
                                         ? json_string_value(why)
                                         : "incomplete (no reason given)");
  json_t *e = json_object_get(o, "exit");
  if (e && !json_is_object(e) && !json_is_null(e))
    return rd_fail(r, "exit", "expected an object or null");
  if (json_is_object(e)) {
    m->exit.how = get_str(r, e, "how", 1);
    if (!m->exit.how) return;
    static const char *const hows[] = {"exit", "signal", "exec", "running", "vanished"};
    int known = 0;
    for (size_t k = 0; k < sizeof hows / sizeof hows[0]; k++)
      known |= !strcmp(m->exit.how, hows[k]);
    if (!r->failed && !known)
      return rd_fail(r, "exit.how", "expected exit, signal, exec, running or vanished");
    json_t *x;
    if ((x = json_object_get(e, "status")) && json_is_integer(x))
      m->exit.status = (int)json_integer_value(x);
    if ((x = json_object_get(e, "signal")) && json_is_integer(x))
      m->exit.signal = (int)json_integer_value(x);
    if ((x = json_object_get(e, "exec")) && json_is_string(x))
      m->exit.exec = rd_strdup(r, "exit.exec", json_string_value(x));
  }
}

static void read_model(struct rd *r, json_t *o, bg_model_t *m) {
  if (!json_is_object(o)) return rd_fail(r, "(top)", "expected a JSON object");
  m->tool = get_str(r, o, "tool", 1);
  if (r->failed) return;
  if (strcmp(m->tool, "blockguard")) return rd_fail(r, "tool", "not a blockguard report");
  m->version = get_str(r, o, "version", 1);
  if (r->failed) return;
  if (strncmp(m->version, "0.", 2))
    return rd_fail(r, "version", "unsupported report version (this reader handles 0.x)");
  read_schema(r, o, m);
  if (r->failed) return;
  m->pid = (int)get_uint(r, o, "pid", 1);
  m->started_ns = get_uint(r, o, "started_ns", 1);
  m->ended_ns = get_uint(r, o, "ended_ns", 1);
  m->dropped_sites = get_uint(r, o, "dropped_sites", 1);
  json_t *ur = json_object_get(o, "unguarded_reason");
  if (json_is_string(ur))
    m->unguarded_reason = rd_strdup(r, "unguarded_reason", json_string_value(ur));
  else if (ur && !json_is_null(ur))
    rd_fail(r, "unguarded_reason", "expected a string or null");
  json_t *hu = json_object_get(o, "http_url");
  if (json_is_string(hu)) m->http_url = rd_strdup(r, "http_url", json_string_value(hu));
  json_t *mods = json_object_get(o, "modules"), *mo; /* optional: schema 2 */
  size_t mi;
  if (mods && !json_is_array(mods)) return rd_fail(r, "modules", "expected an array");
  if (mods) {
    if (!(m->modules = rd_calloc(r, "modules", json_array_size(mods), sizeof *m->modules))) return;
    json_array_foreach(mods, mi, mo) {
      if (!json_is_object(mo)) return rd_fail(r, "modules[]", "expected an object");
      bg_rmodule_t *md = &m->modules[m->nmodules++];
      md->path = get_str(r, mo, "path", 1);
      md->build_id = get_str(r, mo, "build_id", 0);
      if (r->failed) return;
      if (strspn(md->build_id, "0123456789abcdef") != strlen(md->build_id))
        return rd_fail(r, "modules[].build_id", "expected lower-case hex");
    }
  }
  json_t *ps = json_object_get(o, "processes"), *po; /* optional: tree views */
  if (ps && !json_is_array(ps)) return rd_fail(r, "processes", "expected an array");
  if (ps) {
    if (!(m->processes = rd_calloc(r, "processes", json_array_size(ps), sizeof *m->processes)))
      return;
    json_array_foreach(ps, mi, po) {
      if (!json_is_object(po)) return rd_fail(r, "processes[]", "expected an object");
      bg_rproc_t *p = &m->processes[m->nprocesses++];
      p->pid = (int)get_uint(r, po, "pid", 1);
      p->image = (int)get_uint(r, po, "image", 0);
      p->cmd = get_str(r, po, "cmd", 0);
      p->state = get_str(r, po, "state", 0);
      p->violations = get_uint(r, po, "violations", 0);
      p->sites = (int)get_uint(r, po, "sites", 0);
    }
  }
  read_v2(r, o, m);
  json_t *a = get_array(r, o, "argv"), *v;
  size_t i;
  if (a) {
    if (!(m->argv = rd_calloc(r, "argv", json_array_size(a), sizeof *m->argv))) return;
    json_array_foreach(a, i, v) {
      if (!(m->argv[m->argc] = rd_strdup(r, "argv", json_string_value(v)))) return;
      m->argc++;
    }
  }
  json_t *opts = json_object_get(o, "options");
  if (json_is_object(opts)) {
    const char *k;
    if (!(m->options = rd_calloc(r, "options", json_object_size(opts), sizeof *m->options))) return;
    json_object_foreach(opts, k, v) {
      bg_rkv_t *kv = &m->options[m->noptions++];
      kv->key = rd_strdup(r, "options", k);
      kv->value = rd_strdup(r, "options", json_is_string(v) ? json_string_value(v) : "");
      if (r->failed) return;
    }
  } else {
    rd_fail(r, "options", "expected an object");
  }
  json_t *th = get_array(r, o, "threads");
  if (th) {
    if (!(m->threads = rd_calloc(r, "threads", json_array_size(th), sizeof *m->threads))) return;
    json_array_foreach(th, i, v) {
      if (!json_is_object(v)) return rd_fail(r, "threads[]", "expected an object");
      bg_rthread_t *t = &m->threads[m->nthreads++];
      t->tid = (int)get_uint(r, v, "tid", 1);
      t->name = get_str(r, v, "name", 1);
      t->guarded = json_is_true(json_object_get(v, "guarded"));
      t->why = get_str(r, v, "why", 0);
    }
  }
  json_t *lo = json_object_get(o, "loops"); /* schema 2 */
  if (lo && !json_is_array(lo)) {
    rd_fail(r, "loops", "expected an array");
  } else if (lo) {
    if (!(m->loops = rd_calloc(r, "loops", json_array_size(lo), sizeof *m->loops))) return;
    json_array_foreach(lo, i, v) {
      read_loop(r, v, &m->loops[m->nloops++]);
      if (r->failed) return;
    }
  }
  json_t *um = json_object_get(o, "unmatched_rules"); /* optional: older 0.x reports */
  if (um && !json_is_array(um)) {
    rd_fail(r, "unmatched_rules", "expected an array");
  } else if (um) {
    if (!(m->unmatched_rules =
              rd_calloc(r, "unmatched_rules", json_array_size(um), sizeof *m->unmatched_rules)))
      return;
    json_array_foreach(um, i, v) {
      if (!json_is_object(v)) return rd_fail(r, "unmatched_rules[]", "expected an object");
      bg_rrule_t *ru = &m->unmatched_rules[m->nunmatched++];
      ru->file = get_str(r, v, "file", 1);
      ru->line = (int)get_uint(r, v, "line", 1);
      ru->text = get_str(r, v, "text", 1);
    }
  }
  json_t *sites = r->sites_streamed ? NULL : get_array(r, o, "sites");
  if (sites) {
    if (!(m->sites = rd_calloc(r, "sites", json_array_size(sites), sizeof *m->sites))) return;
    json_array_foreach(sites, i, v) {
      read_site(r, v, &m->sites[m->nsites++]);
      if (r->failed) return;
    }
  }
}

/* Where jansson's sub-parse started in the whole text, for line:column messages. */
static void json_error_at(struct rd *r, const char *text, size_t at, const char *what) {
  if (r->failed) return;
  int line = 1, col = 1;
  for (size_t i = 0; i < at; i++) {
    if (text[i] == '\n')
      line++, col = 1;
    else
      col++;
  }
  r->failed = 1;
  snprintf(r->err, r->errlen, "%s:%d:%d: invalid JSON: %s", r->name, line, col, what);
}

static size_t skip_blanks(const char *t, size_t len, size_t i) {
  while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
  return i;
}

/* One JSON value starting at *pos (jansson), *pos advanced past it; NULL with r failed. */
static json_t *value_at(struct rd *r, const char *text, size_t len, size_t *pos) {
  json_error_t je;
  json_t *v = json_loadb(text + *pos, len - *pos,
                         JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
  if (!v) {
    json_error_at(r, text, *pos + (size_t)(je.position > 0 ? je.position : 0), je.text);
    return NULL;
  }
  *pos += (size_t)je.position;
  return v;
}

/* The "sites" array at *pos, one element at a time into m->sites. */
static void stream_sites(struct rd *r, const char *text, size_t len, size_t *pos, bg_model_t *m) {
  size_t i = skip_blanks(text, len, *pos + 1), cap = 0; /* past '[' */
  if (i < len && text[i] == ']') {
    *pos = i + 1;
    m->sites = rd_calloc(r, "sites", 0, sizeof *m->sites);
    return;
  }
  for (;;) {
    json_t *v = value_at(r, text, len, &i);
    if (!v) return;
    if ((size_t)m->nsites == cap) {
      cap = cap ? cap * 2 : 64;
      bg_rsite_t *ns = realloc(m->sites, (cap + 1) * sizeof *ns);
      if (!ns) {
        json_decref(v);
        return rd_fail(r, "sites", "out of memory");
      }
      m->sites = ns;
    }
    bg_rsite_t *s = &m->sites[m->nsites++];
    memset(s, 0, sizeof *s);
    read_site(r, v, s);
    json_decref(v);
    if (r->failed) return;
    i = skip_blanks(text, len, i);
    if (i < len && text[i] == ']') break;
    if (i >= len || text[i] != ',') return json_error_at(r, text, i, "',' or ']' expected");
    i = skip_blanks(text, len, i + 1);
  }
  *pos = i + 1;
}

/* The top-level object: every member but "sites" goes into *head for read_model. */
static json_t *read_top(struct rd *r, const char *text, size_t len, bg_model_t *m, int *streamed) {
  json_t *head = json_object();
  size_t i = skip_blanks(text, len, 0);
  if (!head) return rd_fail(r, "(top)", "out of memory"), NULL;
  i = skip_blanks(text, len, i + 1); /* past '{' */
  if (i < len && text[i] == '}') goto end;
  for (;;) {
    if (i >= len || text[i] != '"') {
      json_error_at(r, text, i, "string or '}' expected");
      break;
    }
    json_t *k = value_at(r, text, len, &i);
    if (!k) break;
    char key[64];
    snprintf(key, sizeof key, "%s", json_string_value(k));
    int dup = json_object_get(head, json_string_value(k)) != NULL ||
              (*streamed && !strcmp(json_string_value(k), "sites"));
    int long_key = strlen(json_string_value(k)) >= sizeof key;
    json_decref(k);
    if (dup) {
      json_error_at(r, text, i, "duplicate object key");
      break;
    }
    i = skip_blanks(text, len, i);
    if (i >= len || text[i] != ':') {
      json_error_at(r, text, i, "':' expected");
      break;
    }
    i = skip_blanks(text, len, i + 1);
    if (!long_key && !strcmp(key, "sites") && i < len && text[i] == '[') {
      *streamed = 1;
      stream_sites(r, text, len, &i, m);
    } else if (!long_key) {
      json_t *v = value_at(r, text, len, &i);
      if (v) json_object_set_new(head, key, v);
    } else {
      json_decref(value_at(r, text, len, &i)); /* no field of ours has such a name */
    }
    if (r->failed) break;
    i = skip_blanks(text, len, i);
    if (i < len && text[i] == '}') break;
    if (i >= len || text[i] != ',') {
      json_error_at(r, text, i, "',' or '}' expected");
      break;
    }
    i = skip_blanks(text, len, i + 1);
  }
end:
  if (!r->failed && skip_blanks(text, len, i + 1) < len)
    json_error_at(r, text, skip_blanks(text, len, i + 1), "end of file expected");
  return head;
}

int bg_model_read_json(const char *text, size_t len, const char *name, bg_model_t *m, char *err,
                       size_t errlen) {
  memset(m, 0, sizeof *m);
  struct rd r = {name, err, errlen, 0, 0};
  size_t start = skip_blanks(text, len, 0);
  json_t *o;
  if (start < len && text[start] == '{') {
    o = read_top(&r, text, len, m, &r.sites_streamed);
  } else { /* not an object: jansson says what it is (or why it is not JSON) */
    json_error_t je;
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!o) {
      snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
      return -1;
    }
  }
  /* A foreign file fails on "tool" even when its "sites" came first and failed. */
  json_t *tool = o ? json_object_get(o, "tool") : NULL;
  if (r.failed && json_is_string(tool) && strcmp(json_string_value(tool), "blockguard")) {
    r.failed = 0;
    rd_fail(&r, "tool", "not a blockguard report");
  }
  if (!r.failed && o) read_model(&r, o, m);
  json_decref(o);
  if (r.failed) {
    bg_model_free(m);
    return -1;
  }
  return 0;
}

int bg_model_read_file(const char *path, bg_model_t *m, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  /* sized from the file (+1: a read at the end sees EOF without growing); a file that
   * grows while we read still works, by doubling */
  struct stat st;
  size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 16;
  size_t len = 0;
  char *buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  int rerr = ferror(f);
  fclose(f);
  if (!buf || rerr) {
    free(buf);
    snprintf(err, errlen, "%s: %s", path, rerr ? "read error" : "out of memory");
    return -1;
  }
  int rc = bg_model_read_json(buf, len, path, m, err, errlen);
  free(buf);
  return rc;
}
