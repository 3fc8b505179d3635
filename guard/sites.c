/* sites.c - site registry (see sites.h for the design).
 *
 * Lookup order on a violation: per-thread direct-mapped cache (no lock) → uthash under
 * the registry lock → insert a pool entry.  A fork bumps the generation so every cached
 * pointer from before is ignored and the child starts empty, writing its own report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

static void *bg__uthash_alloc(size_t sz);
static void bg__uthash_free(void *p, size_t sz);
#define uthash_malloc(sz) bg__uthash_alloc(sz)
#define uthash_free(p, sz) bg__uthash_free(p, sz)
#define HASH_NONFATAL_OOM 1

#include "guard/options.h"
#include "guard/sites.h"

#define CACHE_SLOTS 32

typedef struct cache_entry {
  uint64_t hash;
  uint32_t gen;
  bg__site_t *site;
} cache_entry_t;

static __thread cache_entry_t tcache[CACHE_SLOTS] __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bg__site_t *pool;        /* max_sites entries, mmap'd at first use */
static size_t pool_cap;
static int nsites;              /* published with release: entries below are complete */
static bg__site_t *table;       /* uthash head */
static uint64_t dropped;
static uint32_t generation = 1;
static uintptr_t own_lo, own_hi;

int (*bg__site_decide)(bg__site_t *s);

static void *bg__uthash_alloc(size_t sz) {
  void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}
static void bg__uthash_free(void *p, size_t sz) { munmap(p, sz); }

void bg__sites_set_own_text(uintptr_t lo, uintptr_t hi) {
  own_lo = lo;
  own_hi = hi;
}

void bg__sites_init(void) {
  /* Per-thread unwind caches: libunwind's global cache takes a mutex (and a
   * sigprocmask) per backtrace, and a fork while another thread holds it leaves the
   * child deadlocked in its first violation. */
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  pthread_mutex_lock(&lock);
  if (!pool) {
    size_t cap = bg__opt.max_sites ? bg__opt.max_sites : 4096;
    void *p = mmap(NULL, cap * sizeof(bg__site_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      pool = p;
      pool_cap = cap;
    }
  }
  pthread_mutex_unlock(&lock);
}

/* Return addresses above the shim: frames inside libblockguard are skipped. */
int bg__stack_capture(uintptr_t *pcs, int max) {
  void *raw[BG_MAX_FRAMES + 16];
  int want = max + 16 > (int)(sizeof raw / sizeof raw[0]) ? (int)(sizeof raw / sizeof raw[0]) : max + 16;
  int n = unw_backtrace(raw, want);
  int i = 0, out = 0;
  while (i < n && (uintptr_t)raw[i] >= own_lo && (uintptr_t)raw[i] < own_hi) i++;
  if (own_hi == 0) i = n > 2 ? 2 : 0; /* core linked into a test: skip capture+get */
  for (; i < n && out < max; i++) pcs[out++] = (uintptr_t)raw[i];
  return out;
}

static uint64_t hash_key(const void *key, size_t len) {
  const unsigned char *p = key; /* FNV-1a: tiny and good enough for addresses */
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static size_t key_len(int nframes) {
  return offsetof(bg__site_t, key.pcs) + (size_t)nframes * sizeof(uintptr_t);
}

bg__site_t *bg__site_get(int id, int category, int allowed, int default_action) {
  bg__site_t probe;
  memset(&probe.key, 0, sizeof probe.key);
  probe.key.call = (uint16_t)id;
  probe.key.allowed = (uint8_t)allowed;
  int depth = (int)bg__opt.stack_depth;
  if (depth > BG_MAX_FRAMES) depth = BG_MAX_FRAMES;
  probe.key.nframes = (uint8_t)bg__stack_capture(probe.key.pcs, depth);
  size_t klen = key_len(probe.key.nframes);
  uint64_t h = hash_key(&probe.key, klen);

  uint32_t gen = __atomic_load_n(&generation, __ATOMIC_RELAXED);
  cache_entry_t *ce = &tcache[h % CACHE_SLOTS];
  if (ce->hash == h && ce->gen == gen && !memcmp(&ce->site->key, &probe.key, klen))
    return ce->site;

  bg__site_t *s = NULL;
  pthread_mutex_lock(&lock);
  HASH_FIND(hh, table, &probe.key, klen, s);
  if (!s) {
    if (!pool || nsites >= (int)pool_cap) {
      dropped++;
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    s = &pool[nsites];
    memset(s, 0, sizeof *s);
    memcpy(&s->key, &probe.key, klen);
    s->hash = h;
    s->category = (uint8_t)category;
    s->action = (uint8_t)default_action;
    s->allowed = (uint8_t)allowed;
    s->rule = -1;
    for (int i = 0; i < BG_SITE_THREADS; i++) s->threads[i] = -1;
    if (bg__site_decide) s->rule = bg__site_decide(s);
    HASH_ADD(hh, table, key, klen, s);
    __atomic_store_n(&nsites, nsites + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&lock);
  ce->hash = h;
  ce->gen = gen;
  ce->site = s;
  return s;
}

static void atomic_max(uint64_t *p, uint64_t v) {
  uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

static void atomic_min_nonzero(uint64_t *p, uint64_t v) {
  uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
  while ((cur == 0 || v < cur) &&
         !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

void bg__site_add(bg__site_t *s, uint64_t ns, int thread_slot) {
  uint64_t now = bg__now_ns();
  __atomic_fetch_add(&s->count, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&s->total_ns, ns, __ATOMIC_RELAXED);
  atomic_max(&s->max_ns, ns);
  atomic_min_nonzero(&s->first_ns, now);
  atomic_max(&s->last_ns, now);
  int b = ns ? 64 - __builtin_clzll(ns) : 0;
  if (b >= BG_HIST_BUCKETS) b = BG_HIST_BUCKETS - 1;
  __atomic_fetch_add(&s->hist[b], 1, __ATOMIC_RELAXED);
  if (thread_slot < 0) return;
  for (int i = 0; i < BG_SITE_THREADS; i++) {
    int32_t cur = __atomic_load_n(&s->threads[i], __ATOMIC_RELAXED);
    if (cur == thread_slot) return;
    if (cur == -1) {
      int32_t expect = -1;
      if (__atomic_compare_exchange_n(&s->threads[i], &expect, thread_slot, 0,
                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED) ||
          expect == thread_slot)
        return;
    }
  }
}

int bg__sites_count(void) { return __atomic_load_n(&nsites, __ATOMIC_ACQUIRE); }
bg__site_t *bg__site_at(int i) { return &pool[i]; }
uint64_t bg__sites_dropped(void) { return __atomic_load_n(&dropped, __ATOMIC_RELAXED); }
uint64_t bg__site_id(const bg__site_t *s) { return s->hash; }

void bg__sites_after_fork(void) {
  pthread_mutex_init(&lock, NULL);
  table = NULL; /* the buckets of the parent's table stay mapped; a one-off cost */
  nsites = 0;
  dropped = 0;
  __atomic_fetch_add(&generation, 1, __ATOMIC_RELAXED);
}
