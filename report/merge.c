/* merge.c - many reports → one model, baseline diffs and suggested allow rules.
 *
 * Merging: a process tree run with report=DIR/%p.json leaves one file per process;
 * sites are merged by their stable id (same call + module basename + offset per
 * frame, whatever the pid and ASLR), counters added, histograms summed, thread names
 * united.  A site counts as allowed only if it was allowed in every process.  The
 * merged report's pid/argv are the earliest-started process's (the root of the
 * tree).  An allowlist rule is "unmatched" only if no process that used that
 * allowlist file matched it.
 *
 * Baseline: a site is new when the baseline has neither its id nor (as a fallback
 * that survives rebuilds, where offsets move) a site with the same signature: call +
 * module basename and function name per frame.  The signature match is one-to-one,
 * so a second site with an old signature is still new.
 *
 * Scale: every lookup (site by id, unmatched rule by file:line, baseline id and
 * signature, suggested rule already printed) goes through a uthash table, so merging
 * 100,000 sites is linear (it was quadratic: 73 s).  bg_merge_add_owned moves a
 * report's sites into the merge instead of copying them, so a merge costs no more
 * memory than the reports it reads.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out of memory is an error the callers report, not an exit (uthash's default). */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (oom = 1)
#include <uthash.h>

#include "report/model.h"

static __thread int oom; /* set by uthash when an insert could not allocate */

/* Index entry: a string key (site id, "file:line", signature, rule) → position. */
typedef struct bg__ix {
  int at;              /* index in the array the table indexes */
  struct bg__ix *same; /* further entries with the same key (baseline: ids may repeat) */
  UT_hash_handle hh;
  char key[]; /* NUL-terminated */
} ix_t;

static ix_t *ix_find(ix_t *head, const char *key) {
  ix_t *e = NULL;
  HASH_FIND_STR(head, key, e);
  return e;
}

/* Adds key → at; a repeated key is chained behind the first.  0, or -1 out of memory. */
static int ix_add(ix_t **head, const char *key, int at) {
  size_t n = strlen(key);
  ix_t *e = malloc(sizeof *e + n + 1), *first;
  if (!e) return -1;
  e->at = at;
  e->same = NULL;
  memcpy(e->key, key, n + 1);
  if ((first = ix_find(*head, key))) {
    while (first->same) first = first->same;
    first->same = e;
    return 0;
  }
  oom = 0;
  HASH_ADD_KEYPTR(hh, *head, e->key, n, e);
  if (oom) {
    free(e);
    return -1;
  }
  return 0;
}

static void ix_free(ix_t **head) {
  ix_t *e, *tmp;
  HASH_ITER(hh, *head, e, tmp) {
    HASH_DEL(*head, e);
    for (ix_t *s = e->same, *next; s; s = next) next = s->same, free(s);
    free(e);
  }
}

static char *dup(const char *s) { return s ? bg_model_strdup(s) : NULL; }

static char **dup_strv(char *const *v, int n) {
  char **o = calloc((size_t)n + 1, sizeof *o);
  for (int i = 0; o && i < n; i++) o[i] = bg_model_strdup(v[i]);
  return o;
}

static void site_copy(bg_rsite_t *d, const bg_rsite_t *s) {
  *d = *s; /* scalars and the id; every pointer replaced below */
  d->call = dup(s->call);
  d->category = dup(s->category);
  d->action = dup(s->action);
  d->rule = dup(s->rule);
  d->threads = dup_strv(s->threads, s->nthreads);
  if (!d->threads) d->nthreads = 0;
  d->frames = calloc((size_t)s->nframes + 1, sizeof *d->frames);
  if (!d->frames) d->nframes = 0;
  for (int i = 0; d->frames && i < s->nframes; i++) {
    d->frames[i] = s->frames[i];
    d->frames[i].module = dup(s->frames[i].module);
    d->frames[i].function = dup(s->frames[i].function);
    d->frames[i].file = dup(s->frames[i].file);
  }
}

static void add_thread_name(bg_rsite_t *d, const char *name) {
  for (int i = 0; i < d->nthreads; i++)
    if (!strcmp(d->threads[i], name)) return;
  char **t = realloc(d->threads, (size_t)(d->nthreads + 2) * sizeof *t);
  if (!t) return;
  d->threads = t;
  d->threads[d->nthreads++] = bg_model_strdup(name);
}

static void site_merge(bg_rsite_t *d, const bg_rsite_t *s) {
  d->count += s->count;
  d->in_flight += s->in_flight;
  d->total_ns += s->total_ns;
  if (s->max_ns > d->max_ns) d->max_ns = s->max_ns;
  if (s->first_ns && (!d->first_ns || s->first_ns < d->first_ns)) d->first_ns = s->first_ns;
  if (s->last_ns > d->last_ns) d->last_ns = s->last_ns;
  for (int i = 0; i < s->nhist && i < BG_MODEL_HIST; i++) d->hist[i] += s->hist[i];
  if (s->nhist > d->nhist) d->nhist = s->nhist;
  for (int i = 0; i < s->nthreads; i++) add_thread_name(d, s->threads[i]);
  if (d->allowed && !s->allowed) { /* a violation anywhere is a violation */
    d->allowed = 0;
    free(d->action), free(d->rule);
    d->action = dup(s->action);
    d->rule = dup(s->rule);
  }
}

static const char *option(const bg_model_t *m, const char *key) {
  for (int i = 0; i < m->noptions; i++)
    if (!strcmp(m->options[i].key, key)) return m->options[i].value;
  return "";
}

static void copy_head(bg_model_t *d, const bg_model_t *s) {
  free(d->tool), free(d->version);
  for (int i = 0; i < d->argc; i++) free(d->argv[i]);
  free(d->argv);
  for (int i = 0; i < d->noptions; i++) free(d->options[i].key), free(d->options[i].value);
  free(d->options);
  d->tool = dup(s->tool);
  d->version = dup(s->version);
  d->pid = s->pid;
  free(d->exit.how), free(d->exit.exec);
  d->exit = s->exit; /* how the root of the tree ended */
  d->exit.how = s->exit.how ? dup(s->exit.how) : NULL;
  d->exit.exec = s->exit.exec ? dup(s->exit.exec) : NULL;
  d->argv = dup_strv(s->argv, s->argc);
  d->argc = d->argv ? s->argc : 0;
  d->options = calloc((size_t)s->noptions + 1, sizeof *d->options);
  d->noptions = d->options ? s->noptions : 0;
  for (int i = 0; i < d->noptions; i++) {
    d->options[i].key = dup(s->options[i].key);
    d->options[i].value = dup(s->options[i].value);
  }
}

void bg_merge_init(bg_merge_t *g) { memset(g, 0, sizeof *g); }

/* steal: s is the caller's to free, but its sites may be moved out (zeroed). */
static int merge_add(bg_merge_t *g, bg_model_t *s, int steal) {
  bg_model_t *d = &g->m;
  if (!g->nreports || (s->started_ns && s->started_ns < d->started_ns)) copy_head(d, s);
  if (!g->nreports || (s->started_ns && s->started_ns < d->started_ns))
    d->started_ns = s->started_ns;
  if (s->ended_ns > d->ended_ns) d->ended_ns = s->ended_ns;
  g->nreports++;
  d->dropped_sites += s->dropped_sites;
  if (s->unguarded_reason && !d->unguarded_reason) {
    char buf[1200];
    snprintf(buf, sizeof buf, "pid %d: %s", s->pid, s->unguarded_reason);
    d->unguarded_reason = bg_model_strdup(buf);
  }
  /* one incomplete report makes the merge incomplete: the first reason, with its pid */
  if (s->incomplete_reason && !d->incomplete_reason) {
    char buf[1200];
    if (!strncmp(s->incomplete_reason, "pid ", 4)) /* a merged report merged again */
      snprintf(buf, sizeof buf, "%s", s->incomplete_reason);
    else
      snprintf(buf, sizeof buf, "pid %d: %s", s->pid, s->incomplete_reason);
    d->incomplete_reason = bg_model_strdup(buf);
  }
  d->schema = 2;
  if (s->nprocesses) { /* a tree's process list: all of them */
    bg_rproc_t *np = realloc(d->processes, (size_t)(d->nprocesses + s->nprocesses) * sizeof *np);
    if (!np) return -1;
    d->processes = np;
    for (int i = 0; i < s->nprocesses; i++) {
      bg_rproc_t *p = &d->processes[d->nprocesses++];
      *p = s->processes[i];
      p->cmd = bg_model_strdup(s->processes[i].cmd);
      p->state = bg_model_strdup(s->processes[i].state);
    }
  } else if (g->track_processes) { /* one report, one process (blockguard serve DIR) */
    bg_rproc_t *np = realloc(d->processes, (size_t)(d->nprocesses + 1) * sizeof *np);
    if (!np) return -1;
    d->processes = np;
    bg_rproc_from_model(&d->processes[d->nprocesses++], s, 0);
  }
  for (int i = 0; i < s->nmodules; i++) { /* by path; the first build id seen wins */
    if (!s->modules[i].path || ix_find(g->mods_ix, s->modules[i].path)) continue;
    if ((d->nmodules & (d->nmodules - 1)) == 0) { /* capacity doubles at powers of two */
      bg_rmodule_t *nm =
          realloc(d->modules, (size_t)(d->nmodules ? 2 * d->nmodules : 1) * sizeof *nm);
      if (!nm) return -1;
      d->modules = nm;
    }
    if (ix_add(&g->mods_ix, s->modules[i].path, d->nmodules) < 0) return -1;
    d->modules[d->nmodules].path = bg_model_strdup(s->modules[i].path);
    d->modules[d->nmodules++].build_id = bg_model_strdup(s->modules[i].build_id);
  }
  if (s->nthreads) {
    bg_rthread_t *t = realloc(d->threads, (size_t)(d->nthreads + s->nthreads) * sizeof *t);
    if (!t) return -1;
    d->threads = t;
    for (int i = 0; i < s->nthreads; i++) {
      bg_rthread_t *o = &d->threads[d->nthreads++];
      *o = s->threads[i];
      o->name = dup(s->threads[i].name);
      o->why = dup(s->threads[i].why);
    }
  }
  if (s->nloops) {
    bg_rloop_t *l = realloc(d->loops, (size_t)(d->nloops + s->nloops) * sizeof *l);
    if (!l) return -1;
    d->loops = l;
    for (int i = 0; i < s->nloops; i++) {
      bg_rloop_t *o = &d->loops[d->nloops++];
      *o = s->loops[i];
      if (!o->pid) o->pid = s->pid;
      o->name = dup(s->loops[i].name);
      o->recent = NULL;
      if (s->loops[i].nrecent) {
        o->recent = malloc((size_t)s->loops[i].nrecent * sizeof *o->recent);
        if (o->recent)
          memcpy(o->recent, s->loops[i].recent, (size_t)s->loops[i].nrecent * sizeof *o->recent);
        else
          o->nrecent = 0;
      }
    }
  }
  for (int i = 0; i < s->nsites; i++) {
    ix_t *e = ix_find(g->sites_ix, s->sites[i].id);
    if (e) {
      site_merge(&d->sites[e->at], &s->sites[i]);
      continue;
    }
    if (d->nsites == g->cap_sites) {
      int cap = g->cap_sites ? g->cap_sites * 2 : 64;
      bg_rsite_t *ns = realloc(d->sites, (size_t)cap * sizeof *ns);
      if (!ns) return -1;
      d->sites = ns;
      g->cap_sites = cap;
    }
    if (ix_add(&g->sites_ix, s->sites[i].id, d->nsites) < 0) return -1;
    if (steal) {
      d->sites[d->nsites++] = s->sites[i];
      memset(&s->sites[i], 0, sizeof s->sites[i]);
    } else {
      site_copy(&d->sites[d->nsites++], &s->sites[i]);
    }
  }
  /* unmatched rules: remember how many reports used each allowlist file and how many
   * of them listed each rule as unmatched */
  const char *supp = option(s, "suppressions");
  if (supp[0]) {
    int k = 0;
    while (k < g->nuses && strcmp(g->uses[k].file, supp)) k++;
    if (k == g->nuses) {
      void *nu = realloc(g->uses, (size_t)(g->nuses + 1) * sizeof *g->uses);
      if (!nu) return -1;
      g->uses = nu;
      g->uses[g->nuses].file = bg_model_strdup(supp);
      g->uses[g->nuses++].count = 0;
    }
    g->uses[k].count++;
  }
  for (int i = 0; i < s->nunmatched; i++) {
    const bg_rrule_t *r = &s->unmatched_rules[i];
    char *key = NULL;
    if (asprintf(&key, "%d:%s", r->line, r->file) < 0) return -1;
    ix_t *e = ix_find(g->um_ix, key);
    int k = e ? e->at : g->num;
    if (!e && ix_add(&g->um_ix, key, g->num) < 0) k = -1;
    free(key);
    if (k < 0) return -1;
    if (k == g->num) {
      if ((g->num & (g->num - 1)) == 0) { /* capacity doubles at powers of two */
        void *nu = realloc(g->um, (size_t)(g->num ? 2 * g->num : 1) * sizeof *g->um);
        if (!nu) return -1;
        g->um = nu;
      }
      g->um[g->num].rule.file = bg_model_strdup(r->file);
      g->um[g->num].rule.line = r->line;
      g->um[g->num].rule.text = bg_model_strdup(r->text);
      g->um[g->num++].count = 0;
    }
    g->um[k].count++;
  }
  return 0;
}

int bg_merge_add(bg_merge_t *g, const bg_model_t *s) { return merge_add(g, (bg_model_t *)s, 0); }
int bg_merge_add_owned(bg_merge_t *g, bg_model_t *s) { return merge_add(g, s, 1); }

void bg_merge_finish(bg_merge_t *g, bg_model_t *out) {
  bg_model_t *d = &g->m;
  d->unmatched_rules = calloc((size_t)g->num + 1, sizeof *d->unmatched_rules);
  for (int k = 0; k < g->num; k++) {
    int uses = 0;
    for (int u = 0; u < g->nuses; u++)
      if (!strcmp(g->uses[u].file, g->um[k].rule.file)) uses = g->uses[u].count;
    /* no report said it used the file (older reports): trust the listing */
    if (d->unmatched_rules && (g->um[k].count >= uses)) {
      d->unmatched_rules[d->nunmatched++] = g->um[k].rule;
    } else {
      free(g->um[k].rule.file), free(g->um[k].rule.text);
    }
  }
  for (int u = 0; u < g->nuses; u++) free(g->uses[u].file);
  free(g->uses), free(g->um);
  ix_free(&g->sites_ix);
  ix_free(&g->um_ix);
  ix_free(&g->mods_ix);
  if (!d->tool) d->tool = bg_model_strdup("blockguard");
  if (!d->version) d->version = bg_model_strdup(BG_VERSION);
  *out = *d;
  memset(g, 0, sizeof *g);
}

/* The command line, arguments joined by spaces, "..." where it did not fit (n >= 8). */
void bg_model_cmdline(const bg_model_t *m, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < m->argc && k + 4 < n; i++) {
    int w = snprintf(buf + k, n - k, "%s%s", i ? " " : "", m->argv[i]);
    k += w > 0 ? (size_t)w : 0;
  }
  if (k >= n - 4) strcpy(buf + n - 4, "...");
}

void bg_rproc_from_model(bg_rproc_t *p, const bg_model_t *m, int running) {
  char cmd[256], state[64];
  bg_model_cmdline(m, cmd, sizeof cmd);
  const char *how = m->exit.how ? m->exit.how : "";
  if (running || !strcmp(how, "running"))
    snprintf(state, sizeof state, "running");
  else if (!strcmp(how, "exit"))
    snprintf(state, sizeof state, "exited %d", m->exit.status);
  else if (!strcmp(how, "signal"))
    snprintf(state, sizeof state, "killed by %s",
             sigabbrev_np(m->exit.signal) ? sigabbrev_np(m->exit.signal) : "signal");
  else if (!strcmp(how, "exec"))
    snprintf(state, sizeof state, "exec'd");
  else
    snprintf(state, sizeof state, "%s", how[0] ? how : "ended");
  memset(p, 0, sizeof *p);
  p->pid = m->pid;
  p->image = m->image;
  p->cmd = bg_model_strdup(cmd[0] ? cmd : "?");
  p->state = bg_model_strdup(state);
  for (int i = 0; i < m->nsites; i++)
    if (!m->sites[i].allowed && m->sites[i].count) p->violations += m->sites[i].count, p->sites++;
}

int bg_model_copy(bg_model_t *out, const bg_model_t *in) {
  bg_merge_t g;
  bg_merge_init(&g);
  int rc = bg_merge_add(&g, in); /* a merge of one report is its deep copy */
  bg_merge_finish(&g, out);
  if (rc < 0) bg_model_free(out);
  return rc;
}

/* ---- baseline ---------------------------------------------------------------------- */

void bg_site_signature(const bg_rsite_t *s, char *buf, size_t n) {
  size_t o = (size_t)snprintf(buf, n, "%s", s->call);
  for (int i = 0; i < s->nframes && o < n; i++) {
    const bg_rframe_t *f = &s->frames[i];
    if (f->function && f->function[0])
      o += (size_t)snprintf(buf + o, n - o, "|%s!%s", bg_basename(f->module), f->function);
    else
      o += (size_t)snprintf(buf + o, n - o, "|%s+0x%" PRIx64, bg_basename(f->module), f->offset);
  }
}

/* Index of the first base site under key not yet matched, or -1. */
static int take(ix_t *head, const char *key, char *used) {
  for (ix_t *e = ix_find(head, key); e; e = e->same)
    if (!used[e->at]) return used[e->at] = 1, e->at;
  return -1;
}

int bg_baseline_diff(const bg_model_t *cur, const bg_model_t *base, int *is_new) {
  char *used = calloc((size_t)base->nsites + 1, 1);
  char *known = calloc((size_t)cur->nsites + 1, 1);
  char *sig = malloc(8192);
  ix_t *ids = NULL, *sigs = NULL;
  int rc = used && known && sig ? 0 : -1;
  for (int j = 0; !rc && j < base->nsites; j++) rc = ix_add(&ids, base->sites[j].id, j);
  for (int i = 0; !rc && i < cur->nsites; i++) known[i] = take(ids, cur->sites[i].id, used) >= 0;
  /* then, among what is left on both sides, by signature */
  for (int j = 0; !rc && j < base->nsites; j++) {
    if (used[j]) continue;
    bg_site_signature(&base->sites[j], sig, 8192);
    rc = ix_add(&sigs, sig, j);
  }
  for (int i = 0; !rc && i < cur->nsites; i++) {
    if (known[i]) continue;
    bg_site_signature(&cur->sites[i], sig, 8192);
    known[i] = take(sigs, sig, used) >= 0;
  }
  int nnew = 0;
  for (int i = 0; !rc && i < cur->nsites; i++) {
    is_new[i] = !known[i] && !cur->sites[i].allowed;
    nnew += is_new[i];
  }
  ix_free(&ids);
  ix_free(&sigs);
  free(used), free(known), free(sig);
  return rc < 0 ? -1 : nnew;
}

void bg_model_keep_sites(bg_model_t *m, const int *keep) {
  int o = 0;
  for (int i = 0; i < m->nsites; i++) {
    if (keep[i])
      m->sites[o++] = m->sites[i];
    else
      bg_rsite_free(&m->sites[i]);
  }
  m->nsites = o;
}

/* ---- suggested allow rules --------------------------------------------------------- */

/* Rule tokens are blank-separated globs: blanks and glob characters in a name become
 * '?' so the rule still matches exactly that name (or a near twin). */
static void glob_safe(char *dst, size_t n, const char *src) {
  size_t o = 0;
  for (; *src && o + 1 < n; src++)
    dst[o++] = (strchr(" \t*?[]#", *src) || (unsigned char)*src < 0x20) ? '?' : *src;
  dst[o] = 0;
}

char *bg_render_suppressions(const bg_model_t *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  fprintf(f,
          "# blockguard allowlist suggestions: one rule per site that is not allowed.\n"
          "# Review each: an allow rule hides every matching call, now and later.\n");
  ix_t *seen = NULL;
  for (int i = 0; i < m->nsites; i++) {
    const bg_rsite_t *s = &m->sites[i];
    if (s->allowed) continue;
    char rule[2000], name[600], call[128], where[2048] = "", total[32], comment[2600];
    int c = bg_site_culprit(s);
    /* Report files are input: a call or function name with a blank, ':' or a newline
     * must not turn into a different rule or break out of its comment (fuzz_report_json). */
    glob_safe(call, sizeof call, s->call[0] ? s->call : "?");
    for (char *p = call; *p; p++)
      if (*p == ':') *p = '?';
    if (c >= 0 && s->frames[c].lang != BG_LANG_C && s->frames[c].function[0] &&
        s->frames[c].file[0]) {
      /* Python/JS: the function in that file (module-level names like <module> or
       * handle are common; the file makes the rule mean this code). */
      char file[600];
      glob_safe(name, sizeof name, s->frames[c].function);
      glob_safe(file, sizeof file, bg_basename(s->frames[c].file));
      snprintf(rule, sizeof rule, "allow %s fun:%s src:%s%s", call, name,
               strchr(s->frames[c].file, '/') ? "*/" : "", file);
    } else if (c >= 0 && s->frames[c].function[0]) {
      glob_safe(name, sizeof name, s->frames[c].function);
      snprintf(rule, sizeof rule, "allow %s fun:%s", call, name);
    } else if (c >= 0 && bg_basename(s->frames[c].module)[0]) {
      glob_safe(name, sizeof name, bg_basename(s->frames[c].module));
      snprintf(rule, sizeof rule, "allow %s lib:%s", call, name);
    } else {
      snprintf(rule, sizeof rule, "allow %s", call);
    }
    if (c >= 0) bg_fmt_frame(where, sizeof where, &s->frames[c]);
    bg_fmt_ns(total, sizeof total, s->total_ns);
    snprintf(comment, sizeof comment, "# %s() [%s] %" PRIu64 " call%s, %s blocked, site %s%s%s",
             s->call, s->category, s->count, s->count == 1 ? "" : "s", total, s->id,
             where[0] ? ": " : "", where);
    for (char *p = comment; *p; p++)
      if ((unsigned char)*p < 0x20) *p = '?';
    fprintf(f, "%s\n", comment);
    if (ix_find(seen, rule)) {
      fprintf(f, "#   (covered by the same rule above)\n");
      continue;
    }
    fprintf(f, "%s\n", rule);
    if (ix_add(&seen, rule, i) < 0) {
      ix_free(&seen);
      fclose(f);
      free(buf);
      return NULL;
    }
  }
  ix_free(&seen);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}
