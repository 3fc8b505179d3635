/* snapshot.c - build a report model (report/model.h) from the live registry.
 *
 * This is where raw return addresses become frames: module and offset from dladdr,
 * function from the dynamic symbol table.  It runs at report time (exit, HTTP
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

#include "guard/options.h"
#include "guard/sites.h"
#include "guard/snapshot.h"

static void symbolize(bg_rframe_t *f, uintptr_t pc) {
  Dl_info di;
  memset(f, 0, sizeof *f);
  f->pc = pc;
  /* pc is a return address: look up pc-1 so a call at the end of a function is not
   * attributed to the next one. */
  if (pc && dladdr((void *)(pc - 1), &di)) {
    f->module = bg_model_strdup(di.dli_fname);
    f->offset = pc - (uintptr_t)di.dli_fbase;
    f->function = bg_model_strdup(di.dli_sname);
  } else {
    f->module = bg_model_strdup("");
    f->function = bg_model_strdup("");
  }
  f->file = bg_model_strdup("");
}

static void fill_site(bg_rsite_t *r, bg__site_t *s) {
  const bg__callinfo_t *ci = bg__callinfo(s->key.call);
  snprintf(r->id, sizeof r->id, "%016" PRIx64, bg__site_id(s));
  r->call = bg_model_strdup(ci ? ci->name : "?");
  r->category = bg_model_strdup(bg__category_name(s->category));
  r->allowed = s->allowed;
  r->action = bg_model_strdup(bg__action_name(s->action));
  r->count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
  r->total_ns = __atomic_load_n(&s->total_ns, __ATOMIC_RELAXED);
  r->max_ns = __atomic_load_n(&s->max_ns, __ATOMIC_RELAXED);
  r->first_ns = __atomic_load_n(&s->first_ns, __ATOMIC_RELAXED);
  r->last_ns = __atomic_load_n(&s->last_ns, __ATOMIC_RELAXED);
  r->nhist = 0;
  for (int i = 0; i < BG_HIST_BUCKETS && i < BG_MODEL_HIST; i++) {
    r->hist[i] = __atomic_load_n(&s->hist[i], __ATOMIC_RELAXED);
    if (r->hist[i]) r->nhist = i + 1;
  }
  r->threads = calloc(BG_SITE_THREADS, sizeof *r->threads);
  for (int i = 0; r->threads && i < BG_SITE_THREADS; i++) {
    int slot = __atomic_load_n(&s->threads[i], __ATOMIC_RELAXED);
    if (slot >= 0) r->threads[r->nthreads++] = bg_model_strdup(bg__thread_name_of_slot(slot));
  }
  r->frames = calloc(s->key.nframes ? s->key.nframes : 1, sizeof *r->frames);
  for (int i = 0; r->frames && i < s->key.nframes; i++) symbolize(&r->frames[r->nframes++], s->key.pcs[i]);
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
  m->sites = calloc((size_t)n + 1, sizeof *m->sites);
  for (int i = 0; m->sites && i < n; i++) {
    bg__site_t *s = bg__site_at(i);
    if (!__atomic_load_n(&s->count, __ATOMIC_RELAXED)) continue; /* all below min_us */
    fill_site(&m->sites[m->nsites++], s);
  }
  m->dropped_sites = bg__sites_dropped();
  const char *why = bg__unguarded_reason();
  m->unguarded_reason = why ? bg_model_strdup(why) : NULL;
  const char *url = bg__http_live_url();
  m->http_url = url ? bg_model_strdup(url) : NULL;
  bg__self.depth--;
}
