/* timers.h - the coroutine scheduler's timers: an intrusive pairing heap.
 *
 * A timer is embedded in its owner (a coroutine's control block, which sits in the
 * top page of the coroutine's stack), and the heap is made of links between timers: no
 * array, no allocation, so 10,000 sleeping coroutines cost their stack pages and
 * nothing else (an array heap kept 24 bytes a timer in a separate buffer, 240 kB for
 * them).  Arming is O(1) and touches two timers; taking the earliest is O(log n)
 * amortized, and about 7 timers touched per pop when deadlines arrive in the order
 * they were armed (the common case: equal sleeps started one after another).  Equal
 * deadlines fire in arming order (seq), which keeps scheduler tests deterministic.
 */
#ifndef BG_TIMERS_H
#define BG_TIMERS_H
#include <stddef.h>
#include <stdint.h>

typedef struct bg__timer {
  uint64_t deadline; /* scheduler clock, ns */
  uint64_t seq;      /* arming order, breaks ties */
  struct bg__timer *child, *next;
  struct bg__timer *prev; /* previous sibling, or the parent for a first child */
  int armed;
} bg__timer_t;

typedef struct bg__heap {
  bg__timer_t *root;
  size_t n;
  uint64_t seq;
} bg__heap_t;

void bg__heap_init(bg__heap_t *h);
void bg__heap_fini(bg__heap_t *h);
int bg__heap_push(bg__heap_t *h, bg__timer_t *t, uint64_t deadline); /* 0 (cannot fail) */
void bg__heap_remove(bg__heap_t *h, bg__timer_t *t);                 /* no-op if unarmed */
static inline bg__timer_t *bg__heap_top(const bg__heap_t *h) { return h->root; }
bg__timer_t *bg__heap_pop(bg__heap_t *h);                            /* NULL when empty */
#endif
