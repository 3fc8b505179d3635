/* snapshot.c - build a report model (report/model.h) from the live registry.
 *
 * This is where raw return addresses become frames: module and offset were resolved
 * when the site was created (guard/symbolize.c), function and file:line come from the
 * symbol tables and DWARF here.  It runs at report time (exit, HTTP
 * request, SIGUSR1), never on the violation path, and always with bg__self.depth
 * raised so the allocations and I/O it does never count as violations.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/lang.h"
#include "guard/options.h"
#include "guard/rules.h"
#include "guard/sites.h"
#include "guard/snapshot.h"
#include "guard/symbolize.h"

/* A frame as reports show it: the module's full path (so the CLI or addr2line can
 * look at it later), the offset from its load bias, and function/file:line from the
 * symbolizer (DWARF when present, symbol tables otherwise). */
static void symbolize(bg_rframe_t *f, const bg__site_t *s, int i) {
  bg__sym_t sym;
  bg__lframe_t lf;
  memset(f, 0, sizeof *f);
  f->pc = s->key.pcs[i];
  f->offset = bg__site_offset(s, i);
  if (s->lframes[i] && bg__lframe_get(s->lframes[i], &lf)) {
    /* A language frame: named when the site was created (guard/lang.c).  A Python
     * frame has no pc or object; its offset is the instruction's in the bytecode. */
    if (s->mods[i] == BG_LANG_MODULE) f->pc = 0;
    f->lang = lf.lang;
    f->module = bg_model_strdup(s->mods[i] == BG_LANG_MODULE ? "" : bg__module_path(s->mods[i]));
    f->function = bg_model_strdup(lf.function);
    f->file = bg_model_strdup(lf.file);
    f->line = lf.line;
    return;
  }
  f->module = bg_model_strdup(bg__module_path(s->mods[i]));
  if (s->mods[i] != BG_NO_MODULE) {
    bg__sym_pc(f->pc, s->mods[i], f->offset, &sym, 1);
  } else {
    memset(&sym, 0, sizeof sym);
  }
  char name[1024];
  bg__sym_demangle(sym.function, name, sizeof name); /* C++: readable in every format */
  f->function = bg_model_strdup(name);
  f->file = bg_model_strdup(sym.file);
  f->line = sym.line;
}

/* Monotonic ns (what the registry records, immune to clock steps) → wall-clock ns
 * like started_ns/ended_ns, so a report's times can be compared with each other. */
static uint64_t to_wall(uint64_t mono, int64_t delta) {
  return mono ? (uint64_t)((int64_t)mono + delta) : 0;
}

static void fill_site(bg_rsite_t *r, bg__site_t *s, int64_t wall_delta) {
  const bg__callinfo_t *ci = bg__callinfo(s->key.call);
  snprintf(r->id, sizeof r->id, "%016" PRIx64, bg__site_id(s));
  r->call = bg_model_strdup(ci ? ci->name : "?");
  r->category = bg_model_strdup(bg__category_name(s->category));
  r->allowed = s->allowed;
  r->action = bg_model_strdup(bg__action_name(s->action));
  r->count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
  r->total_ns = __atomic_load_n(&s->total_ns, __ATOMIC_RELAXED);
  r->max_ns = __atomic_load_n(&s->max_ns, __ATOMIC_RELAXED);
  r->first_ns = to_wall(__atomic_load_n(&s->first_ns, __ATOMIC_RELAXED), wall_delta);
  r->last_ns = to_wall(__atomic_load_n(&s->last_ns, __ATOMIC_RELAXED), wall_delta);
  r->nhist = 0;
  for (int i = 0; i < BG_HIST_BUCKETS && i < BG_MODEL_HIST; i++) {
    r->hist[i] = __atomic_load_n(&s->hist[i], __ATOMIC_RELAXED);
    if (r->hist[i]) r->nhist = i + 1;
  }
  r->threads = calloc(BG_SITE_THREADS + 1, sizeof *r->threads);
  for (int i = 0; r->threads && i < BG_SITE_THREADS; i++) {
    int slot = __atomic_load_n(&s->threads[i], __ATOMIC_RELAXED);
    if (slot >= 0) r->threads[r->nthreads++] = bg_model_strdup(bg__thread_name_of_slot(slot));
  }
  if (r->threads && __atomic_load_n(&s->threads_more, __ATOMIC_RELAXED))
    r->threads[r->nthreads++] = bg_model_strdup("...");
  r->frames = calloc(s->key.nframes ? s->key.nframes : 1, sizeof *r->frames);
  for (int i = 0; r->frames && i < s->key.nframes; i++) symbolize(&r->frames[r->nframes++], s, i);
  bg__rules_t *rs = bg__rules_active();
  if (rs && s->rule >= 0 && s->rule < rs->n) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s:%d", rs->file, rs->rules[s->rule].line);
    r->rule = bg_model_strdup(buf);
  }
}

static void add_unmatched(bg_model_t *m) {
  bg__rules_t *rs = bg__rules_active();
  if (!rs || !rs->n) return;
  m->unmatched_rules = calloc((size_t)rs->n, sizeof *m->unmatched_rules);
  for (int i = 0; m->unmatched_rules && i < rs->n; i++) {
    if (__atomic_load_n(&rs->rules[i].matched, __ATOMIC_RELAXED)) continue;
    bg_rrule_t *u = &m->unmatched_rules[m->nunmatched++];
    u->file = bg_model_strdup(rs->file);
    u->line = rs->rules[i].line;
    u->text = bg_model_strdup(rs->rules[i].text);
  }
}

struct thr_ctx {
  bg_model_t *m;
  int cap;
};

static void add_thread(int tid, const char *name, int guarded, int why, void *arg) {
  struct thr_ctx *c = arg;
  if (c->m->nthreads == c->cap) {
    int cap = c->cap ? c->cap * 2 : 16;
    bg_rthread_t *t = realloc(c->m->threads, (size_t)cap * sizeof *t);
    if (!t) return;
    c->m->threads = t;
    c->cap = cap;
  }
  bg_rthread_t *t = &c->m->threads[c->m->nthreads++];
  t->tid = tid;
  t->name = bg_model_strdup(name);
  t->guarded = guarded;
  t->why = bg_model_strdup(bg__why_name(why));
}

struct opt_ctx {
  bg_model_t *m;
};

static void add_option(const char *key, const char *def, const char *help, void *arg) {
  (void)def, (void)help;
  bg_model_t *m = ((struct opt_ctx *)arg)->m;
  char val[BG_OPT_STR_MAX + 32];
  bg__options_value(&bg__opt, key, val, sizeof val);
  m->options[m->noptions].key = bg_model_strdup(key);
  m->options[m->noptions].value = bg_model_strdup(val);
  m->noptions++;
}

static void count_cb(const char *key, const char *def, const char *help, void *arg) {
  (void)key, (void)def, (void)help;
  ++*(int *)arg;
}

void bg__snapshot(bg_model_t *m) {
  bg__self.depth++;
  memset(m, 0, sizeof *m);
  m->tool = bg_model_strdup("blockguard");
  m->version = bg_model_strdup(BG_VERSION);
  m->pid = getpid();
  bg__process_argv(&m->argv, &m->argc);
  m->started_ns = bg__started_ns();
  m->ended_ns = bg__wall_ns();
  int nopt = 0;
  bg__options_each(count_cb, &nopt);
  m->options = calloc((size_t)nopt, sizeof *m->options);
  struct opt_ctx oc = {m};
  if (m->options) bg__options_each(add_option, &oc);
  struct thr_ctx tc = {m, 0};
  bg__threads_each(add_thread, &tc);
  int n = bg__sites_count();
  int64_t wall_delta = (int64_t)bg__wall_ns() - (int64_t)bg__now_ns();
  m->sites = calloc((size_t)n + 1, sizeof *m->sites);
  for (int i = 0; m->sites && i < n; i++) {
    bg__site_t *s = bg__site_at(i);
    if (!__atomic_load_n(&s->count, __ATOMIC_RELAXED)) continue; /* all below min_us */
    fill_site(&m->sites[m->nsites++], s, wall_delta);
  }
  add_unmatched(m);
  m->dropped_sites = bg__sites_dropped();
  const char *why = bg__unguarded_reason();
  m->unguarded_reason = why ? bg_model_strdup(why) : NULL;
  const char *url = bg__http_live_url();
  m->http_url = url ? bg_model_strdup(url) : NULL;
  bg_model_redact(m, &bg__opt.redact); /* every report and endpoint starts here */
  bg__self.depth--;
}
