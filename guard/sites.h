/* sites.h - the site registry: one entry per (wrapped call, stack) that violated.
 *
 * Hot path (a violation at a known site): capture the return addresses, hash them,
 * find the site in a small per-thread cache, bump atomics.  No lock, no allocation,
 * no symbolization.  A new site takes the registry lock once to insert (uthash, whose
 * buckets come from mmap, so the path stays free of malloc and usable when a signal
 * handler interrupts the program's own malloc).  Site memory is a fixed pool of
 * max_sites entries, reserved at the first violation and never freed: pointers stay
 * valid for readers, and overflow is counted in dropped, never silently lost.
 *
 * Readers (reports, HTTP) take a consistent-enough snapshot: the list of sites is
 * append-only and each counter is read atomically; they take the lock only to read the
 * list length, so they never stall a writer for longer than that.
 */
#ifndef BG_SITES_H
#define BG_SITES_H
#include <stdint.h>

#include <uthash.h>

#include "guard/guard.h"

#define BG_MAX_FRAMES 64
#define BG_HIST_BUCKETS 48
#define BG_SITE_THREADS 4

typedef struct bg__site {
  /* key: call, allowed and the return addresses (compared byte for byte) */
  struct {
    uint16_t call;
    uint8_t allowed;
    uint8_t nframes;
    uint32_t pad;
    uintptr_t pcs[BG_MAX_FRAMES];
  } key;
  uint64_t hash;
  uint8_t category;
  uint8_t action;          /* action applied to this site (global mode or a rule) */
  uint8_t warned;          /* warn: message printed once */
  uint8_t allowed;         /* allowed by scope (key.allowed) or by an allow rule */
  int rule;                /* index of the allowlist rule that decided, -1 = none */
  uint64_t count, total_ns, max_ns, first_ns, last_ns;
  uint64_t hist[BG_HIST_BUCKETS]; /* hist[i]: calls that blocked in [2^(i-1), 2^i) ns */
  int32_t threads[BG_SITE_THREADS]; /* thread-table slots, -1 = empty */
  UT_hash_handle hh;
} bg__site_t;

/* Finds or creates the site for call `id` with the current stack above the shim.
 * NULL when the table is full (counted in bg__sites_dropped()). */
bg__site_t *bg__site_get(int id, int category, int allowed, int default_action);
/* Adds one call that blocked `ns` to the site (atomics only). */
void bg__site_add(bg__site_t *s, uint64_t ns, int thread_slot);

/* Snapshot access for renderers: sites [0, n) are stable once visible. */
int bg__sites_count(void);
bg__site_t *bg__site_at(int i);
uint64_t bg__sites_dropped(void);
uint64_t bg__site_id(const bg__site_t *s); /* stable id: hash of call + frames */

void bg__sites_init(void);          /* reserves the pool (max_sites) */
void bg__sites_after_fork(void);    /* the child starts with an empty registry */
void bg__sites_set_own_text(uintptr_t lo, uintptr_t hi); /* frames to skip (the shim) */
int bg__stack_capture(uintptr_t *pcs, int max); /* return addresses above the shim */

/* Hook the allowlist (guard/rules.c) uses to decide a new site once: sets action and
 * allowed, returns the rule index or -1.  Default: the global mode. */
extern int (*bg__site_decide)(bg__site_t *s);
#endif
