/* timers.c - min-heap of coroutine deadlines (see timers.h). */
#include "guard/timers.h"

#include <stdlib.h>

void bg__heap_init(bg__heap_t *h) {
  h->v = NULL;
  h->n = h->cap = 0;
  h->seq = 0;
}

void bg__heap_fini(bg__heap_t *h) {
  free(h->v);
  bg__heap_init(h);
}

static int before(const bg__heap_ent_t *a, const bg__heap_ent_t *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(bg__heap_t *h, size_t i, bg__heap_ent_t e) {
  h->v[i] = e;
  e.t->idx = (int)i;
}

static void sift_up(bg__heap_t *h, size_t i) {
  bg__heap_ent_t e = h->v[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&e, &h->v[p])) break;
    place(h, i, h->v[p]);
    i = p;
  }
  place(h, i, e);
}

static void sift_down(bg__heap_t *h, size_t i) {
  bg__heap_ent_t e = h->v[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const bg__heap_ent_t *best = &e;
    if (l < h->n && before(&h->v[l], best)) m = l, best = &h->v[l];
    if (r < h->n && before(&h->v[r], best)) m = r;
    if (m == i) break;
    place(h, i, h->v[m]);
    i = m;
  }
  place(h, i, e);
}

int bg__heap_push(bg__heap_t *h, bg__timer_t *t, uint64_t deadline) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    bg__heap_ent_t *v = realloc(h->v, cap * sizeof *v);
    if (!v) return -1;
    h->v = v;
    h->cap = cap;
  }
  t->deadline = deadline;
  t->seq = h->seq++;
  place(h, h->n++, (bg__heap_ent_t){deadline, t->seq, t});
  sift_up(h, h->n - 1);
  return 0;
}

void bg__heap_remove(bg__heap_t *h, bg__timer_t *t) {
  if (t->idx < 0 || (size_t)t->idx >= h->n || h->v[t->idx].t != t) return;
  size_t i = (size_t)t->idx;
  t->idx = -1;
  bg__heap_ent_t last = h->v[--h->n];
  if (i == h->n) return;
  place(h, i, last);
  sift_down(h, i);
  sift_up(h, (size_t)last.t->idx);
}

bg__timer_t *bg__heap_top(const bg__heap_t *h) { return h->n ? h->v[0].t : NULL; }

bg__timer_t *bg__heap_pop(bg__heap_t *h) {
  bg__timer_t *t = bg__heap_top(h);
  if (t) bg__heap_remove(h, t);
  return t;
}
