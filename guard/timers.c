/* timers.c - intrusive pairing heap of coroutine deadlines (see timers.h).
 *
 * The classic structure (Fredman, Sedgewick, Sleator, Tarjan 1986), two-pass variant:
 * a timer's children are a doubly linked list (prev points to the previous sibling, or
 * to the parent for the first child), so any timer can be cut out in O(1) and its
 * subtree merged back; pop pairs the root's children left to right, then merges the
 * pairs right to left. */
#include "guard/timers.h"

void bg__heap_init(bg__heap_t *h) {
  h->root = NULL;
  h->n = 0;
  h->seq = 0;
}

void bg__heap_fini(bg__heap_t *h) { bg__heap_init(h); }

static int before(const bg__timer_t *a, const bg__timer_t *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

/* Merges two heap-ordered trees (roots without siblings); returns the new root. */
static bg__timer_t *meld(bg__timer_t *a, bg__timer_t *b) {
  if (!a) return b;
  if (!b) return a;
  if (before(b, a)) {
    bg__timer_t *t = a;
    a = b;
    b = t;
  }
  b->prev = a;
  b->next = a->child;
  if (a->child) a->child->prev = b;
  a->child = b;
  return a;
}

/* Two-pass pairing of a sibling list into one tree. */
static bg__timer_t *pair_up(bg__timer_t *first) {
  bg__timer_t *pairs = NULL; /* pass 1 results, last pair first */
  while (first) {
    bg__timer_t *a = first, *b = a->next;
    first = b ? b->next : NULL;
    a->next = a->prev = NULL;
    if (b) b->next = b->prev = NULL;
    bg__timer_t *w = meld(a, b);
    w->next = pairs;
    pairs = w;
  }
  bg__timer_t *root = NULL;
  while (pairs) {
    bg__timer_t *next = pairs->next;
    pairs->next = NULL;
    root = meld(root, pairs);
    pairs = next;
  }
  if (root) root->prev = NULL;
  return root;
}

int bg__heap_push(bg__heap_t *h, bg__timer_t *t, uint64_t deadline) {
  t->deadline = deadline;
  t->seq = h->seq++;
  t->child = t->next = t->prev = NULL;
  t->armed = 1;
  h->root = meld(h->root, t);
  h->n++;
  return 0;
}

void bg__heap_remove(bg__heap_t *h, bg__timer_t *t) {
  if (!t->armed) return;
  t->armed = 0;
  h->n--;
  if (t == h->root) {
    h->root = pair_up(t->child);
  } else {
    /* Cut t (with its subtree) out of its sibling list, then merge its children. */
    if (t->prev->child == t)
      t->prev->child = t->next;
    else
      t->prev->next = t->next;
    if (t->next) t->next->prev = t->prev;
    h->root = meld(h->root, pair_up(t->child));
  }
  t->child = t->next = t->prev = NULL;
}

bg__timer_t *bg__heap_pop(bg__heap_t *h) {
  bg__timer_t *t = h->root;
  if (t) bg__heap_remove(h, t);
  return t;
}
