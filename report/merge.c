/* merge.c - fold report models into one (several processes of a tree, saved runs).
 *
 * Two sites are the same when they have the same call, allowed flag and frames.
 * Frames compare by module and offset rather than by raw pc: the processes of a tree
 * load the same binaries at different addresses (ASLR, exec), and the site id (a hash
 * of raw pcs) differs between them for the very same line of code.  Counts, blocked
 * time and histograms add; max, first and last combine; thread names are unioned.
 * Process facts (pid, argv, options) come from the first model merged; threads from
 * all, start the earliest and end the latest.
 *
 * Merging into an empty model is a deep copy, which `blockguard serve` uses to hand
 * the server a fresh model per request from its cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "report/model.h"

typedef struct site_ix {
  char *key;
  int idx;
  UT_hash_handle hh;
} site_ix_t;

static char *site_key(const bg_rsite_t *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  fprintf(f, "%s|%d", s->call ? s->call : "", s->allowed != 0);
  for (int i = 0; i < s->nframes; i++) {
    const bg_rframe_t *fr = &s->frames[i];
    if (fr->module && fr->module[0])
      fprintf(f, "|%s+%llx", fr->module, (unsigned long long)fr->offset);
    else
      fprintf(f, "|@%llx", (unsigned long long)fr->pc);
  }
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

static char **copy_strv(char *const *v, int n) {
  char **out = calloc((size_t)n + 1, sizeof *out);
  for (int i = 0; out && i < n; i++) out[i] = bg_model_strdup(v[i]);
  return out;
}

static void copy_site(bg_rsite_t *d, const bg_rsite_t *s) {
  *d = *s; /* scalars, id and histogram */
  d->call = bg_model_strdup(s->call);
  d->category = bg_model_strdup(s->category);
  d->action = bg_model_strdup(s->action);
  d->threads = copy_strv(s->threads, s->nthreads);
  d->nthreads = d->threads ? s->nthreads : 0;
  d->frames = calloc((size_t)s->nframes + 1, sizeof *d->frames);
  d->nframes = d->frames ? s->nframes : 0;
  for (int i = 0; i < d->nframes; i++) {
    d->frames[i] = s->frames[i];
    d->frames[i].module = bg_model_strdup(s->frames[i].module);
    d->frames[i].function = bg_model_strdup(s->frames[i].function);
    d->frames[i].file = bg_model_strdup(s->frames[i].file);
  }
}

static void add_site(bg_rsite_t *d, const bg_rsite_t *s) {
  d->count += s->count;
  d->total_ns += s->total_ns;
  if (s->max_ns > d->max_ns) d->max_ns = s->max_ns;
  if (s->first_ns && (!d->first_ns || s->first_ns < d->first_ns)) d->first_ns = s->first_ns;
  if (s->last_ns > d->last_ns) d->last_ns = s->last_ns;
  for (int i = 0; i < s->nhist && i < BG_MODEL_HIST; i++) d->hist[i] += s->hist[i];
  if (s->nhist > d->nhist) d->nhist = s->nhist;
  for (int i = 0; i < s->nthreads; i++) {
    int have = 0;
    for (int j = 0; j < d->nthreads && !have; j++) have = !strcmp(d->threads[j], s->threads[i]);
    if (have) continue;
    char **t = realloc(d->threads, (size_t)(d->nthreads + 2) * sizeof *t);
    if (!t) return;
    d->threads = t;
    d->threads[d->nthreads++] = bg_model_strdup(s->threads[i]);
  }
}

int bg_model_merge(bg_model_t *dst, const bg_model_t *src) {
  int first = dst->tool == NULL;
  if (first) {
    dst->tool = bg_model_strdup(src->tool ? src->tool : "blockguard");
    dst->version = bg_model_strdup(src->version);
    dst->pid = src->pid;
    dst->argv = copy_strv(src->argv, src->argc);
    dst->argc = dst->argv ? src->argc : 0;
    dst->options = calloc((size_t)src->noptions + 1, sizeof *dst->options);
    for (int i = 0; dst->options && i < src->noptions; i++) {
      dst->options[i].key = bg_model_strdup(src->options[i].key);
      dst->options[i].value = bg_model_strdup(src->options[i].value);
      dst->noptions++;
    }
    dst->started_ns = src->started_ns;
    dst->ended_ns = src->ended_ns;
    dst->http_url = src->http_url ? bg_model_strdup(src->http_url) : NULL;
  } else {
    if (src->started_ns && (!dst->started_ns || src->started_ns < dst->started_ns))
      dst->started_ns = src->started_ns;
    if (src->ended_ns > dst->ended_ns) dst->ended_ns = src->ended_ns;
  }
  if (src->unguarded_reason && !dst->unguarded_reason)
    dst->unguarded_reason = bg_model_strdup(src->unguarded_reason);
  dst->dropped_sites += src->dropped_sites;

  if (src->nthreads) {
    bg_rthread_t *t = realloc(dst->threads, (size_t)(dst->nthreads + src->nthreads) * sizeof *t);
    if (!t) return -1;
    dst->threads = t;
    for (int i = 0; i < src->nthreads; i++) {
      bg_rthread_t *d = &dst->threads[dst->nthreads++];
      *d = src->threads[i];
      d->name = bg_model_strdup(src->threads[i].name);
      d->why = bg_model_strdup(src->threads[i].why);
    }
  }

  if (!src->nsites) return 0;
  bg_rsite_t *ns = realloc(dst->sites, (size_t)(dst->nsites + src->nsites) * sizeof *ns);
  if (!ns) return -1;
  dst->sites = ns;
  site_ix_t *ix = NULL, *e, *tmp;
  int rc = 0;
  for (int i = 0; i < dst->nsites && !rc; i++) {
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = site_key(&dst->sites[i]))) {
      free(e);
      rc = -1;
      break;
    }
    e->idx = i;
    HASH_ADD_KEYPTR(hh, ix, e->key, strlen(e->key), e);
  }
  for (int i = 0; i < src->nsites && !rc; i++) {
    char *k = site_key(&src->sites[i]);
    if (!k) {
      rc = -1;
      break;
    }
    HASH_FIND_STR(ix, k, e);
    if (e) {
      add_site(&dst->sites[e->idx], &src->sites[i]);
      free(k);
      continue;
    }
    copy_site(&dst->sites[dst->nsites], &src->sites[i]);
    e = calloc(1, sizeof *e);
    if (!e) {
      free(k);
      dst->nsites++;
      rc = -1;
      break;
    }
    e->key = k;
    e->idx = dst->nsites++;
    HASH_ADD_KEYPTR(hh, ix, e->key, strlen(e->key), e);
  }
  HASH_ITER(hh, ix, e, tmp) {
    HASH_DEL(ix, e);
    free(e->key);
    free(e);
  }
  return rc;
}
