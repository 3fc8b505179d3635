/* lang.c - merging language frames into site stacks, and the interned frame table
 * (see lang.h).
 *
 * The table: records in the process's ledger (frame table) with their strings in its
 * arena, an open-addressing index for each in private memory (MAP_NORESERVE: only
 * touched pages cost memory), one mutex for inserts (cold path: once per new site and
 * frame), lock-free reads.  Reaching the
 * violation path from a signal handler is safe: the core is not re-entered on a thread
 * already inside it (bg__self.depth), so no thread waits for a lock it holds.
 */
#define _GNU_SOURCE
#include "guard/lang.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "guard/guard.h"
#include "guard/lang_py.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/perfmap.h"
#include "guard/symbolize.h"

/* ---- interned frames ---------------------------------------------------------------- */
/* Records and strings live in the process's ledger (guard/ledger.h): the records in its
 * frame table, the strings in its arena, so another process reading the ledger (the
 * CLI, `blockguard report` on a state file) names language frames too.  The indexes
 * below are the writer's own (private memory): a fork child inherits them together
 * with a copy of the records and arena at the same offsets. */
#define MAX_RECS 65536        /* distinct (function, file, line); the ledger's table */
#define REC_SLOTS (2 * MAX_RECS)
#define MAX_STRS 65536
#define STR_SLOTS (2 * MAX_STRS)

typedef bg__ledger_lframe_t rec_t;

static struct {
  pthread_mutex_t lock;
  rec_t *recs;              /* the ledger's table; [0] unused: id 0 means "none" */
  uint32_t cap;
  uint32_t *nrecs;          /* &ledger->nlframes, published with release */
  uint32_t *rec_index;      /* REC_SLOTS ids */
  uint32_t *str_index;      /* STR_SLOTS arena offsets */
  uint32_t nstrs;
  uint64_t dropped;
  int failed;               /* mmap failed: no language frames */
} t = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *map(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Under t.lock. */
static int table_ready(void) {
  if (t.recs && bg__ledger) return 1;
  if (t.failed || !bg__ledger_get()) return 0;
  t.recs = bg__ledger_lframes(&t.cap);
  if (t.cap > MAX_RECS) t.cap = MAX_RECS;
  t.nrecs = &bg__ledger->nlframes;
  if (!t.rec_index) t.rec_index = map(REC_SLOTS * sizeof(uint32_t));
  if (!t.str_index) t.str_index = map(STR_SLOTS * sizeof(uint32_t));
  if (!t.recs || !t.rec_index || !t.str_index) {
    t.failed = 1;
    return 0;
  }
  if (!*t.nrecs) __atomic_store_n(t.nrecs, 1, __ATOMIC_RELEASE);
  return 1;
}

void *bg__lang_alloc(size_t n) { return bg__ledger_alloc(n); }

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Under t.lock: arena offset of an interned copy of s, or UINT32_MAX. */
static uint32_t intern_str(const char *s) {
  if (!s || !s[0]) return 0;
  size_t len = strlen(s);
  uint64_t h = fnv(1469598103934665603ull, s, len);
  for (size_t i = h % STR_SLOTS;; i = (i + 1) % STR_SLOTS) {
    uint32_t off = t.str_index[i];
    if (!off) {
      if (t.nstrs >= MAX_STRS) return UINT32_MAX;
      char *p = bg__lang_alloc(len + 1);
      if (!p) return UINT32_MAX;
      memcpy(p, s, len + 1);
      t.str_index[i] = bg__ledger_off(p);
      t.nstrs++;
      return t.str_index[i];
    }
    if (!strcmp(bg__ledger_str(off), s)) return off;
  }
}

uint32_t bg__lframe_intern(int lang, const char *function, const char *file, int line) {
  uint32_t id = 0;
  pthread_mutex_lock(&t.lock);
  if (!table_ready()) goto out;
  uint32_t fo = intern_str(function), fi = intern_str(file);
  if (fo == UINT32_MAX || fi == UINT32_MAX) goto full;
  rec_t r = {fo, fi, line, (uint8_t)lang, {0, 0, 0}};
  uint64_t h = fnv(1469598103934665603ull, &r, sizeof r);
  for (size_t i = h % REC_SLOTS;; i = (i + 1) % REC_SLOTS) {
    uint32_t cur = t.rec_index[i];
    if (!cur) {
      uint32_t n = *t.nrecs;
      if (n >= t.cap || bg__ledger_commit(BG_LR_LFRAMES, (uint64_t)(n + 1) * sizeof(rec_t)) < 0)
        goto full;
      id = n;
      t.recs[id] = r;
      t.rec_index[i] = id;
      __atomic_store_n(t.nrecs, id + 1, __ATOMIC_RELEASE);
      goto out;
    }
    const rec_t *c = &t.recs[cur];
    if (c->function == fo && c->file == fi && c->line == line && c->lang == r.lang) {
      id = cur;
      goto out;
    }
  }
full:
  __atomic_fetch_add(&t.dropped, 1, __ATOMIC_RELAXED);
out:
  pthread_mutex_unlock(&t.lock);
  return id;
}

int bg__lframe_get(uint32_t id, bg__lframe_t *out) {
  if (!id || !t.nrecs || !bg__ledger || id >= __atomic_load_n(t.nrecs, __ATOMIC_ACQUIRE)) return 0;
  const rec_t *r = &t.recs[id];
  out->lang = r->lang;
  out->line = r->line;
  out->function = bg__ledger_str(r->function);
  out->file = bg__ledger_str(r->file);
  return 1;
}

uint64_t bg__lang_dropped(void) { return __atomic_load_n(&t.dropped, __ATOMIC_RELAXED); }

/* ---- merging ------------------------------------------------------------------------ */
#define PY_MAX_FRAMES 32

/* At exit, with the summary: say when language frames could not be named, so stacks of
 * native interpreter frames are not taken for all there is. */
static void exit_note(void) {
  /* no site recorded (the registry's count, published in the ledger): nothing to say */
  if (bg__opt.verbosity < 1 || !bg__ledger || !__atomic_load_n(&bg__ledger->nsites, __ATOMIC_ACQUIRE))
    return;
  if (bg__py_unusable()) bg__msg("Python frames not read: %s (docs/languages.md)", bg__py_status());
  uint64_t d = bg__lang_dropped();
  if (d) bg__msg("%llu language frames not named: frame table full", (unsigned long long)d);
}

void bg__lang_init(void) {
  if (!bg__opt.lang) return; /* lang=0: native stacks only, the program untouched */
  bg__py_detect();
  bg__perfmap_node_init();
  bg__at_core_exit(exit_note);
}

void bg__lang_after_fork(void) {
  if (pthread_mutex_trylock(&t.lock) == 0)
    pthread_mutex_unlock(&t.lock);
  else
    pthread_mutex_init(&t.lock, NULL); /* records past nrecs may be half-written: unseen */
  bg__py_after_fork();
  bg__perfmap_after_fork();
}

void bg__lang_exit(void) { bg__perfmap_exit(); }

int bg__lang_quiet(const uintptr_t *pcs, int n) { return bg__perfmap_quiet(pcs, n); }

int bg__lang_runtime_module(unsigned mod) {
  return __atomic_load_n(&bg__py_active, __ATOMIC_ACQUIRE) && (int)mod == bg__py_runtime_module();
}

int bg__lang_capture(uintptr_t *pcs, int n, int max) {
  if (!__atomic_load_n(&bg__py_active, __ATOMIC_ACQUIRE)) return n;
  uintptr_t words[PY_MAX_FRAMES];
  uint8_t ends[PY_MAX_FRAMES];
  int np = bg__py_frames(words, ends, PY_MAX_FRAMES);
  if (np <= 0) return n;
  /* Ranges in locals: the stores into out[] could alias the globals otherwise. */
  const bg__py_ranges_t r = bg__py_ranges;
  uintptr_t out[BG_MAX_FRAMES];
  if (max > BG_MAX_FRAMES) max = BG_MAX_FRAMES;
  int k = 0, gi = 0, merged = 0;
  for (int i = 0; i < n && k < max; i++) {
    uintptr_t q = pcs[i] - 1; /* a return address: the call is just before it */
    if (q < r.rt_lo || q >= r.rt_hi) { /* the eval loop is inside the runtime's object */
      out[k++] = pcs[i];
      continue;
    }
    int eval = 0;
    for (int e = 0; e < r.neval; e++) eval |= q >= r.eval_lo[e] && q < r.eval_hi[e];
    if (eval) {
      /* This invocation of the eval loop ran frames gi.. up to the next group end; one
       * eval frame more than Python groups happens while a frame is being torn down. */
      if (gi < np) {
        int e = gi;
        while (!ends[e]) e++; /* ends[np - 1] is always set */
        int take = e + 1 - gi < max - k ? e + 1 - gi : max - k;
        memcpy(out + k, words + gi, (size_t)take * sizeof *out);
        k += take;
        gi = e + 1;
      }
      merged = 1;
      /* Every Python frame placed: what is left is interpreter plumbing and thread or
       * process start-up (start_thread, __libc_start_main), dropped like py-spy does. */
      if (gi >= np) break;
      continue;
    }
    if (!merged) out[k++] = pcs[i]; /* after the first Python frame: interpreter plumbing */
  }
  /* Python frames whose eval-loop frame is beyond the captured depth (or in a part of
   * the eval loop we could not see: a stripped runtime's cold section) go last, still
   * in order. */
  if (gi < np && k < max) {
    int take = np - gi < max - k ? np - gi : max - k;
    memcpy(out + k, words + gi, (size_t)take * sizeof *out);
    k += take;
  }
  memcpy(pcs, out, (size_t)k * sizeof *pcs);
  return k;
}

void bg__lang_resolve(const uintptr_t *pcs, int n, uint16_t *mods, uint32_t *lframes) {
  if (!bg__opt.lang) {
    memset(lframes, 0, (size_t)n * sizeof *lframes);
    return;
  }
  bg__py_detect(); /* a runtime loaded since start-up is used from the next site on */
  for (int i = 0; i < n; i++) {
    lframes[i] = 0;
    if (bg__py_is_word(pcs[i])) {
      char func[256], file[1024];
      int line;
      mods[i] = BG_LANG_MODULE;
      if (bg__py_describe(pcs[i], func, sizeof func, file, sizeof file, &line))
        lframes[i] = bg__lframe_intern(BG_LANG_PYTHON, func, file, line);
      else
        lframes[i] = bg__lframe_intern(BG_LANG_PYTHON, "?", "", 0);
    }
  }
  bg__perfmap_frames(pcs, n, mods, BG_NO_MODULE, lframes); /* JIT code, by the perf map */
  int words = 0;
  for (int i = 0; i < n; i++) words |= mods[i] == BG_LANG_MODULE;
  for (int i = 0; words && i < n; i++) {
    bg__lframe_t lf;
    if (mods[i] == BG_NO_MODULE && lframes[i] && bg__lframe_get(lframes[i], &lf) &&
        lf.lang == BG_LANG_PYTHON) { /* -X perf trampoline: the real frame is there */
      mods[i] = BG_HIDDEN_MODULE;
      lframes[i] = 0;
    }
  }
}
