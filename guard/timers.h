/* timers.h - a binary min-heap of deadlines for the coroutine scheduler.
 *
 * Timers are embedded in their owner (a coroutine), so arming one allocates nothing
 * beyond the heap's array, which grows by doubling.  The array holds the keys next to
 * the pointers: sifting compares without touching the timers, which live on as many
 * different coroutine stacks (a TLB miss each).  Each timer remembers its index so
 * cancelling is O(log n); equal deadlines fire in arming order (seq), which keeps
 * scheduler tests deterministic.
 */
#ifndef BG_TIMERS_H
#define BG_TIMERS_H
#include <stddef.h>
#include <stdint.h>

typedef struct bg__timer {
  uint64_t deadline; /* scheduler clock, ns */
  uint64_t seq;      /* arming order, breaks ties */
  int idx;           /* position in the heap, -1 when not armed */
} bg__timer_t;

typedef struct bg__heap_ent {
  uint64_t deadline, seq;
  bg__timer_t *t;
} bg__heap_ent_t;

typedef struct bg__heap {
  bg__heap_ent_t *v;
  size_t n, cap;
  uint64_t seq;
} bg__heap_t;

void bg__heap_init(bg__heap_t *h);
void bg__heap_fini(bg__heap_t *h);
int bg__heap_push(bg__heap_t *h, bg__timer_t *t, uint64_t deadline); /* -1: no memory */
void bg__heap_remove(bg__heap_t *h, bg__timer_t *t);                 /* no-op if unarmed */
bg__timer_t *bg__heap_top(const bg__heap_t *h);                      /* NULL when empty */
bg__timer_t *bg__heap_pop(bg__heap_t *h);
#endif
