/* delta.c - what happened between two snapshots of the same process: the model behind
 * `?seconds=N` (/debug/pprof/block?seconds=30, as Go's endpoint does, and every other
 * format path).
 *
 * A site's counters only grow, so the window's calls are after minus before, matched by
 * site id; sites without a new call leave the model.  The latency histogram subtracts
 * the same way.  max_ns cannot (the largest call of the window is not recorded), so the
 * window keeps the site's maximum so far - documented on /debug/pprof/block.  The
 * model's started_ns/ended_ns become the window, which is what pprof shows as its time
 * and duration.
 */
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (oom = 1)
#include <uthash.h>

#include "report/model.h"

static __thread int oom;

struct seen {
  UT_hash_handle hh;
  const bg_rsite_t *s;
};

static uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

int bg_model_delta(bg_model_t *after, const bg_model_t *before) {
  struct seen *idx = NULL, *e, *tmp;
  struct seen *ents = calloc((size_t)before->nsites + 1, sizeof *ents);
  if (!ents) return -1;
  int rc = 0;
  for (int i = 0; i < before->nsites && !rc; i++) {
    ents[i].s = &before->sites[i];
    oom = 0;
    HASH_ADD_KEYPTR(hh, idx, ents[i].s->id, strlen(ents[i].s->id), &ents[i]);
    if (oom) rc = -1;
  }
  int keep = 0;
  for (int i = 0; i < after->nsites && !rc; i++) {
    bg_rsite_t *s = &after->sites[i];
    HASH_FIND(hh, idx, s->id, strlen(s->id), e);
    if (e) {
      const bg_rsite_t *b = e->s;
      s->count = minus(s->count, b->count);
      s->total_ns = minus(s->total_ns, b->total_ns);
      for (int k = 0; k < s->nhist && k < BG_MODEL_HIST; k++)
        s->hist[k] = minus(s->hist[k], k < b->nhist ? b->hist[k] : 0);
      while (s->nhist && !s->hist[s->nhist - 1]) s->nhist--;
      if (b->last_ns >= s->first_ns) s->first_ns = 0; /* not known for the window */
    }
    if (s->count) {
      if (keep != i) after->sites[keep] = *s, memset(s, 0, sizeof *s);
      keep++;
    } else {
      bg_rsite_free(s);
    }
  }
  if (!rc) after->nsites = keep;
  HASH_ITER(hh, idx, e, tmp) HASH_DEL(idx, e);
  free(ents);
  if (!rc && before->ended_ns && before->ended_ns < after->ended_ns)
    after->started_ns = before->ended_ns;
  return rc;
}
