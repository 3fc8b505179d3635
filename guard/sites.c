/* sites.c - site registry (see sites.h for the design).
 *
 * Lookup order on a violation: per-thread direct-mapped cache (no lock) → uthash under
 * the registry lock → build a candidate site without the lock (dladdr per frame,
 * stable id, allowlist decision) → insert it under the lock unless another thread
 * inserted the same key meanwhile.  A full table is remembered in the per-thread cache
 * too, so a program that overflows max_sites does not take the lock on every call.
 *
 * A fork bumps the generation so every cached pointer from before is ignored and the
 * child starts empty, writing its own report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h> /* types only: libunwind itself is dlopen'ed (guard/unwind_lib.c) */

static void *bg__uthash_alloc(size_t sz);
static void bg__uthash_free(void *p, size_t sz);
static int add_failed;
#define uthash_malloc(sz) bg__uthash_alloc(sz)
#define uthash_free(p, sz) bg__uthash_free(p, sz)
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (add_failed = 1)

#include "guard/lang.h"
#include "guard/lang_py.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/sites.h"
#include "guard/symbolize.h"

#define CACHE_SLOTS 32
#define DROP_SLOTS 4096

typedef struct cache_entry {
  uint64_t hash;
  uint32_t gen;
  bg__site_t *site; /* NULL with a matching hash/gen: this stack was dropped */
} cache_entry_t;

static __thread cache_entry_t tcache[CACHE_SLOTS] __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* The pool is the ledger's site region (guard/ledger.h): max_sites entries, backed as
 * they fill.  Its count is published with release (entries below it are complete),
 * and the dropped count lives in the ledger header too, so another process reading
 * the ledger sees exactly what a report would. */
static bg__site_t *pool;
static size_t pool_cap;
static uint32_t *nsites_p;    /* &ledger->nsites */
static uint64_t *dropped_p;    /* &ledger->dropped_sites */
static bg__site_t *table;       /* uthash head */
static uint64_t drop_set[DROP_SLOTS]; /* hashes of dropped stacks, open addressing */
static uint32_t generation = 1;
static uintptr_t own_lo, own_hi;
static int32_t *id_index;       /* see find_id_locked */
static size_t id_slots;

int (*bg__site_decide)(bg__site_t *s);
uint32_t (*bg__site_thread_mask)(void);

/* The thread part of a site key: 0 unless the allowlist has thread: rules. */
static inline uint32_t site_thread_mask(void) {
  uint32_t (*mask)(void) = __atomic_load_n(&bg__site_thread_mask, __ATOMIC_ACQUIRE);
  return mask ? mask() : 0;
}

static void *bg__uthash_alloc(size_t sz) {
  void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}
static void bg__uthash_free(void *p, size_t sz) { munmap(p, sz); }

void bg__sites_set_own_text(uintptr_t lo, uintptr_t hi) {
  own_lo = lo;
  own_hi = hi;
}

/* Sanitizer runtimes preloaded before us (ASan must come first in LD_PRELOAD)
 * intercept the program's call and then call ours: their frames sit between the shim
 * and the program and are skipped like the shim's own. */
#define MAX_SKIP 4
static uintptr_t skip_lo[MAX_SKIP], skip_hi[MAX_SKIP];
static int nskip;

static int find_runtime(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size, (void)arg;
  static const char *const names[] = {"libasan.", "libtsan.", "libubsan.", "liblsan.", "libhwasan."};
  const char *b = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
  b = b ? b + 1 : info->dlpi_name ? info->dlpi_name : "";
  int hit = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) hit |= !strncmp(b, names[i], strlen(names[i]));
  if (!hit || nskip == MAX_SKIP) return 0;
  uintptr_t lo, hi;
  bg__object_range(info, &lo, &hi);
  if (hi) skip_lo[nskip] = lo, skip_hi[nskip++] = hi;
  return 0;
}

static int skipped(uintptr_t pc) {
  if (pc >= own_lo && pc < own_hi) return 1;
  for (int i = 0; i < nskip; i++)
    if (pc >= skip_lo[i] && pc < skip_hi[i]) return 1;
  return 0;
}

/* The pool and counters of the current ledger (none: every new site is dropped). */
static void attach(void) {
  uint32_t cap = 0;
  bg__site_t *p = bg__ledger_get() ? bg__ledger_sites(&cap) : NULL;
  pool = p;
  pool_cap = p ? cap : 0;
  nsites_p = p ? &bg__ledger->nsites : NULL;
  dropped_p = p ? &bg__ledger->dropped_sites : NULL;
}

void bg__sites_init(void) {
  if (!nskip) dl_iterate_phdr(find_runtime, NULL);
  pthread_mutex_lock(&lock);
  if (!pool) {
    attach();
    size_t cap = pool_cap ? pool_cap : 1;
    void *ix = mmap(NULL, 2 * cap * sizeof(int32_t), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ix != MAP_FAILED) {
      id_index = ix;
      id_slots = 2 * cap;
    }
  }
  pthread_mutex_unlock(&lock);
}

static int nsites_get(int order) { return nsites_p ? (int)__atomic_load_n(nsites_p, order) : 0; }

/* libunwind takes internal locks while it unwinds (caches of unwind info, address
 * validation).  A fork while another thread is in there leaves the child blocked on
 * a lock whose owner does not exist in it - with signals masked, so only SIGKILL ends
 * it.  So fork waits (bg__sites_atfork_prepare) until no thread is unwinding, and no
 * thread starts unwinding until the fork is done.  Cost on the hot path: two atomic
 * adds.  A thread's own unfinished capture (fork from a signal handler that
 * interrupted it) is not waited for. */
static int capturing;       /* threads inside unw_backtrace */
static int fork_gate;       /* a fork is in progress */
static __thread int my_capture __attribute__((tls_model("initial-exec")));

void bg__capture_begin(void) {
  for (;;) {
    __atomic_fetch_add(&capturing, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&fork_gate, __ATOMIC_SEQ_CST)) break;
    __atomic_fetch_sub(&capturing, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&fork_gate, __ATOMIC_ACQUIRE)) sched_yield();
  }
  my_capture++;
  bg__unwinding++; /* libunwind's pipe is emulated meanwhile (guard/unwind_io.c) */
}

void bg__capture_end(void) {
  bg__unwinding--;
  my_capture--;
  __atomic_fetch_sub(&capturing, 1, __ATOMIC_RELEASE);
}

void bg__sites_atfork_prepare(void) {
  __atomic_store_n(&fork_gate, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&capturing, __ATOMIC_SEQ_CST) > my_capture) sched_yield();
}

void bg__sites_atfork_parent(void) { __atomic_store_n(&fork_gate, 0, __ATOMIC_RELEASE); }

int bg__capture_keep(void *const *raw, int n, uintptr_t *pcs, int max, int test_skip) {
  int i = 0, out = 0;
  if (n < 0) n = 0; /* libunwind could not be loaded: no frames */
  if (own_hi == 0)
    i = n > test_skip ? test_skip : 0; /* core linked into a test: skip the core's frames */
  else
    while (i < n && skipped((uintptr_t)raw[i])) i++;
  for (; i < n && out < max; i++) pcs[out++] = (uintptr_t)raw[i];
  return out;
}

/* Return addresses above the shim: frames inside libblockguard are skipped.  noinline:
 * the unit tests (core linked without the shim) skip exactly this frame and its
 * caller's.  libunwind is loaded when a thread becomes guarded (guard/unwind_lib.c); a
 * test program that captures without guarding loads it here. */
__attribute__((noinline)) int bg__stack_capture(uintptr_t *pcs, int max) {
  void *raw[BG_MAX_FRAMES + 16];
  int want = max + 16 > (int)(sizeof raw / sizeof raw[0]) ? (int)(sizeof raw / sizeof raw[0]) : max + 16;
  if (own_hi == 0) bg__unw_load();
  bg__capture_begin();
  int n = bg__unw_backtrace(raw, want);
  bg__capture_end();
  return bg__capture_keep(raw, n, pcs, max, 2);
}

/* From a signal handler: the frames of the code the signal interrupted, from its
 * context (libunwind steps over the signal frame).  Frame 0 is the interrupted
 * instruction + 1, so that symbolization, which looks up pc - 1 for return addresses,
 * names the line that was running.  Returns 0 when the thread was already unwinding
 * (libunwind is not reentrant) or libunwind is not loaded (the caller loaded it, in
 * ordinary context, before arming the signal): the caller tries again later.
 * Async-signal-safe as far as libunwind's local unwinding with a per-thread cache is. */
int bg__stack_capture_uc(void *uc, uintptr_t *pcs, int max) {
  if (bg__unwinding || !__atomic_load_n(&bg__unw_step_fn, __ATOMIC_ACQUIRE)) return 0;
  unw_cursor_t c;
  bg__capture_begin();
  int out = 0;
  if (bg__unw_init_local2_fn(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
    do {
      unw_word_t ip = 0;
      if (bg__unw_get_reg_fn(&c, UNW_REG_IP, &ip) < 0 || !ip) break;
      pcs[out] = (uintptr_t)ip + (out == 0);
      out++;
    } while (out < max && bg__unw_step_fn(&c) > 0);
  }
  bg__capture_end();
  return out;
}

/* Word-wise multiply-xorshift: the key is 8-byte words (header + return addresses),
 * and this is on the hot path, so no byte loop. */
typedef uint64_t __attribute__((may_alias)) word_t;
static uint64_t hash_key(const bg__site_key_t *k, int nframes) {
  const word_t *w = (const word_t *)k;
  size_t n = 1 + (size_t)nframes;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  for (size_t i = 0; i < n; i++) {
    h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 32);
}

static size_t key_len(int nframes) {
  return offsetof(bg__site_key_t, pcs) + (size_t)nframes * sizeof(uintptr_t);
}

static unsigned bucket_hash(uint64_t h) { return (unsigned)(h ^ (h >> 32)); }

/* FNV-1a over the parts of the identity that survive ASLR and re-runs. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static uint64_t stable_id(const bg__site_t *s) {
  uint64_t h = 1469598103934665603ull;
  const bg__callinfo_t *ci = bg__callinfo(s->key.call);
  char num[16];
  const char *name = ci ? ci->name : (snprintf(num, sizeof num, "#%u", s->key.call), num);
  h = fnv(h, name, strlen(name) + 1);
  if (s->key.allowed) h = fnv(h, "scope", 6);
  if (s->key.tmask) h = fnv(h, &s->key.tmask, sizeof s->key.tmask);
  /* With language frames, the native frames that count are those the call went
   * through below the innermost language frame (a C extension, libsqlite3...).  Native
   * frames further out (an extension calling back into Python, thread start-up) follow
   * from the language frames around them, and whether they fit in stack_depth depends
   * on how many other native frames there were (CPython's -X perf trampolines): not
   * part of the id. */
  int first = s->key.nframes;
  if (s->haslang)
    for (int i = 0; i < s->key.nframes && first == s->key.nframes; i++)
      if (s->lframes[i]) first = i;
  for (int i = 0; i < s->key.nframes; i++) {
    if (i > first && !s->lframes[i]) continue;
    bg__lframe_t lf;
    if (s->lframes[i] && bg__lframe_get(s->lframes[i], &lf)) {
      /* A language frame is its function, file and line: not the code object's
       * address, which differs every run, nor the instruction (specialization). */
      const char *lang = bg_lang_name(lf.lang);
      h = fnv(h, lang, strlen(lang) + 1);
      h = fnv(h, lf.function, strlen(lf.function) + 1);
      h = fnv(h, lf.file, strlen(lf.file) + 1);
      h = fnv(h, &lf.line, sizeof lf.line);
      continue;
    }
    if (s->mods[i] == BG_HIDDEN_MODULE) continue; /* guard/lang.h */
    if (s->mods[i] == BG_NO_MODULE || s->mods[i] == BG_LANG_MODULE) {
      h = fnv(h, "?", 2); /* JIT or unmapped: the address would differ every run */
      continue;
    }
    /* The interpreter's own frames under Python code depend on its dispatch path
     * (specialization), not on the program: the Python frames identify the site. */
    if (s->haslang && bg__lang_runtime_module(s->mods[i])) continue;
    const char *base = bg__module_base(s->mods[i]);
    uint64_t off = bg__site_offset(s, i);
    h = fnv(h, base, strlen(base) + 1);
    h = fnv(h, &off, sizeof off);
  }
  return h ? h : 1;
}

uintptr_t bg__site_offset(const bg__site_t *s, int frame) {
  if (frame < 0 || frame >= s->key.nframes) return 0;
  if (s->mods[frame] == BG_LANG_MODULE) /* Python: the instruction's byte offset */
    return (s->key.pcs[frame] & ((1u << BG_PY_LASTI_BITS) - 1)) * 2;
  if (s->mods[frame] == BG_NO_MODULE) return s->key.pcs[frame];
  return s->key.pcs[frame] - bg__module_bias(s->mods[frame]);
}

/* Under the lock: remember a refused stack once, so dropped counts distinct sites
 * (exact up to DROP_SLOTS distinct ones, an upper bound beyond). */
static void note_dropped(uint64_t h) {
  if (!h) h = 1;
  for (size_t i = 0, j = h % DROP_SLOTS; i < DROP_SLOTS; i++, j = (j + 1) % DROP_SLOTS) {
    if (drop_set[j] == h) return;
    if (!drop_set[j]) {
      drop_set[j] = h;
      break;
    }
  }
  if (dropped_p) __atomic_store_n(dropped_p, *dropped_p + 1, __ATOMIC_RELAXED);
}

/* Stable id → first site with it (open addressing over site indexes + 1, mmap'd with
 * the pool, 2 slots per site), under the lock. */

static bg__site_t *find_id_locked(uint64_t id) {
  if (!id_index) return NULL;
  for (size_t i = id % id_slots, k = 0; k < id_slots; i = (i + 1) % id_slots, k++) {
    int32_t v = id_index[i];
    if (!v) return NULL;
    if (pool[v - 1].id == id) return &pool[v - 1];
  }
  return NULL;
}

static void add_id_locked(uint64_t id, int32_t idx) {
  if (!id_index) return;
  for (size_t i = id % id_slots, k = 0; k < id_slots; i = (i + 1) % id_slots, k++)
    if (!id_index[i]) {
      id_index[i] = idx + 1;
      return;
    }
}

/* The site whose counters a stack's calls go to. */
static inline bg__site_t *counted(bg__site_t *s) {
  return s && s->alias >= 0 ? &pool[s->alias] : s;
}

static bg__site_t *find_locked(const bg__site_key_t *k, size_t klen, uint64_t h) {
  bg__site_t *s = NULL;
  HASH_FIND_BYHASHVALUE(hh, table, k, klen, bucket_hash(h), s);
  return s;
}

/* The cold path: a stack never seen.  `*was_dropped` tells the caller to cache the
 * refusal. */
static __attribute__((noinline)) bg__site_t *create(const bg__site_key_t *k, size_t klen,
                                                    uint64_t h, int category,
                                                    int default_action, int *was_dropped) {
  bg__site_t cand;
  memset(&cand, 0, sizeof cand);
  memcpy(&cand.key, k, klen);
  cand.hash = h;
  cand.category = (uint8_t)category;
  cand.action = (uint8_t)default_action;
  cand.allowed = k->allowed;
  cand.rule = -1;
  cand.alias = -1;
  for (int i = 0; i < BG_SITE_THREADS; i++) cand.threads[i] = -1;
  bg__modules_sync();
  for (int i = 0; i < k->nframes; i++) {
    uintptr_t off;
    cand.mods[i] = (uint16_t)bg__module_of(k->pcs[i], &off);
  }
  bg__lang_resolve(k->pcs, k->nframes, cand.mods, cand.lframes);
  for (int i = 0; i < k->nframes; i++) cand.haslang |= cand.lframes[i] != 0;
  cand.quiet = (uint8_t)bg__lang_quiet(k->pcs, k->nframes);
  cand.id = stable_id(&cand);
  if (bg__site_decide && nsites_get(__ATOMIC_RELAXED) < (int)pool_cap)
    cand.rule = bg__site_decide(&cand);
  bg__ledger_calls_sync(); /* a reader names the call from the ledger's own table */

  pthread_mutex_lock(&lock);
  bg__site_t *s = find_locked(k, klen, h);
  int n = nsites_get(__ATOMIC_RELAXED);
  if (!s) {
    if (!pool || n >= (int)pool_cap ||
        bg__ledger_commit(BG_LR_SITES, (uint64_t)(n + 1) * sizeof *pool) < 0) {
      note_dropped(h);
      *was_dropped = 1;
    } else {
      /* Same stable id as a site we have: this stack is an alias counted there, so
       * reports, rules and warnings see one site. */
      bg__site_t *primary = find_id_locked(cand.id);
      if (primary) {
        cand.alias = (int32_t)(primary - pool);
        cand.action = primary->action;
        cand.allowed = primary->allowed;
        cand.rule = primary->rule;
      }
      s = &pool[n];
      memcpy(s, &cand, sizeof cand);
      add_failed = 0;
      HASH_ADD_BYHASHVALUE(hh, table, key, klen, bucket_hash(h), s);
      if (add_failed) { /* no memory for buckets: count it, do not publish */
        note_dropped(h);
        *was_dropped = 1;
        s = NULL;
      } else {
        if (!primary) add_id_locked(cand.id, n);
        __atomic_store_n(nsites_p, (uint32_t)n + 1, __ATOMIC_RELEASE);
      }
    }
  }
  pthread_mutex_unlock(&lock);
  return s;
}

int bg__stack_depth(void) {
  int depth = (int)bg__opt.stack_depth;
  if (depth > BG_MAX_FRAMES) depth = BG_MAX_FRAMES;
  if (depth < 1) depth = 1;
  return depth;
}

__attribute__((noinline)) bg__site_t *bg__site_get(int id, int category, int allowed,
                                                   int default_action) {
  uintptr_t pcs[BG_MAX_FRAMES];
  int n = bg__stack_capture(pcs, bg__stack_depth());
  return bg__site_of(id, category, allowed, default_action, pcs, n);
}

static bg__site_t *lookup(bg__site_key_t *keyp, int n, int category, int default_action);

bg__site_t *bg__site_of(int id, int category, int allowed, int default_action,
                        const uintptr_t *pcs, int n) {
  bg__site_key_t key;
  key.call = (uint16_t)id;
  key.allowed = (uint8_t)(allowed != 0);
  key.tmask = site_thread_mask();
  memcpy(key.pcs, pcs, (size_t)n * sizeof pcs[0]);
  n = bg__lang_capture(key.pcs, n, BG_MAX_FRAMES); /* Python frames merged in */
  return lookup(&key, n, category, default_action);
}

bg__site_t *bg__site_get_stack(int id, int category, int allowed, int default_action,
                               const uintptr_t *pcs, int n) {
  bg__site_key_t key;
  key.call = (uint16_t)id;
  key.allowed = (uint8_t)(allowed != 0);
  key.tmask = site_thread_mask();
  if (n > BG_MAX_FRAMES) n = BG_MAX_FRAMES;
  if (n < 0) n = 0;
  memcpy(key.pcs, pcs, (size_t)n * sizeof pcs[0]); /* language frames already in */
  return lookup(&key, n, category, default_action);
}

static bg__site_t *lookup(bg__site_key_t *keyp, int n, int category, int default_action) {
  bg__site_key_t key = *keyp;
  key.nframes = (uint8_t)n;
  size_t klen = key_len(n);
  uint64_t h = hash_key(&key, n);

  uint32_t gen = __atomic_load_n(&generation, __ATOMIC_RELAXED);
  cache_entry_t *ce = &tcache[h % CACHE_SLOTS];
  if (ce->hash == h && ce->gen == gen) {
    if (!ce->site) return NULL; /* table full and this stack already counted */
    if (!memcmp(&ce->site->key, &key, klen)) return counted(ce->site);
  }

  pthread_mutex_lock(&lock);
  bg__site_t *s = find_locked(&key, klen, h);
  pthread_mutex_unlock(&lock);
  int was_dropped = 0;
  if (!s) s = create(&key, klen, h, category, default_action, &was_dropped);
  if (s || was_dropped) {
    ce->hash = h;
    ce->gen = gen;
    ce->site = s;
  }
  return counted(s);
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
  bg__site_record(s, ns, bg__now_ns(), thread_slot);
}

void bg__site_record(bg__site_t *s, uint64_t ns, uint64_t now, int thread_slot) {
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
  if (!__atomic_load_n(&s->threads_more, __ATOMIC_RELAXED))
    __atomic_store_n(&s->threads_more, 1, __ATOMIC_RELAXED);
}

int bg__sites_count(void) { return nsites_get(__ATOMIC_ACQUIRE); }
bg__site_t *bg__site_at(int i) { return &pool[i]; }
uint64_t bg__sites_dropped(void) { return dropped_p ? __atomic_load_n(dropped_p, __ATOMIC_RELAXED) : 0; }
uint64_t bg__site_id(const bg__site_t *s) { return s->id; }
uint32_t bg__site_index(const bg__site_t *s) { return (uint32_t)(s - pool); }

/* The uthash index lives partly in the pool (each site's handle points at the table
 * and buckets): drop it while the pool is still the parent's, before the child's new
 * ledger replaces it.  Only the forking thread survives: if the lock was free at the
 * fork, the index is consistent and its buckets can be unmapped; if another thread
 * held it, the index may be half-updated: re-create the lock and leave the old
 * buckets mapped. */
void bg__sites_drop_index(void) {
  if (pthread_mutex_trylock(&lock) == 0) {
    HASH_CLEAR(hh, table);
    pthread_mutex_unlock(&lock);
  } else {
    pthread_mutex_init(&lock, NULL);
  }
  table = NULL;
}

void bg__sites_after_fork(void) {
  capturing = my_capture; /* only this thread exists */
  __atomic_store_n(&fork_gate, 0, __ATOMIC_RELEASE);
  bg__sites_drop_index(); /* done already after a real fork (a no-op then) */
  /* After a real fork the ledger is the child's new one at the same address
   * (bg__ledger_after_fork ran first: counts are 0 already), or none when it could not
   * be made; the unit tests call this without a fork. */
  if (pool) attach();
  if (nsites_p) __atomic_store_n(nsites_p, 0, __ATOMIC_RELEASE);
  if (id_index) memset(id_index, 0, id_slots * sizeof *id_index);
  memset(drop_set, 0, sizeof drop_set);
  if (dropped_p) *dropped_p = 0;
  __atomic_fetch_add(&generation, 1, __ATOMIC_RELAXED);
  bg__sym_after_fork();
  bg__lang_after_fork();
}
