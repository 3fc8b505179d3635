/* ledger_read.c - a ledger (guard/ledger.h) → a report model (see ledger_read.h).
 *
 * The ledger may belong to a live process that keeps writing, to one that died in the
 * middle of a record, or to something that is not blockguard at all (the CLI maps
 * whatever a peer sent).  So the header is copied once and checked (magic, layout,
 * record sizes, every region inside the mapping), counts are clamped to capacities,
 * every string offset must point at a NUL-terminated string inside the arena's used
 * part, and every index (module, call, rule, thread) is checked before use.  Fields a
 * live writer updates are read with atomic loads.
 *
 * Frames are symbolized from (module path, build id, offset) through guard/symbolize.c,
 * whose caches are per process: the CLI reading a whole tree symbolizes each object
 * once.  Only the process's own ledger (self) may fall back to dladdr on live pcs.
 */
#define _GNU_SOURCE
#include "guard/ledger_read.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/lang.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/sites.h"
#include "guard/symbolize.h"

typedef struct view {
  const char *b;
  size_t size;
  bg__ledger_hdr_t h; /* a copy, checked */
  const char *arena;
  uint64_t arena_used;
  const bg__ledger_module_t *mods;
  uint32_t nmods;
  const bg__ledger_rule_t *rules;
  const bg__ledger_lframe_t *lframes;
  uint32_t nlframes;
  const char *calls[1024]; /* call names by id, NULL past ncalls */
  uint32_t ncalls;
} view_t;

static int fail(char *err, size_t n, const char *what) {
  snprintf(err, n, "%s", what);
  return -1;
}

/* Inside the mapping, and aligned as the writer lays regions out (records are read in
 * place: a misaligned one would be undefined behaviour, not just garbage). */
static int region_ok(uint64_t off, uint64_t len, size_t size) {
  return off % 64 == 0 && off <= size && len <= size - off;
}

/* The live header's counters grow while we copy it (a thread registering, a site
 * added), so it is read with relaxed atomic word loads, never a plain memcpy that races
 * with those stores; the counters are then read again with acquire below. */
static void copy_live_header(bg__ledger_hdr_t *dst, const void *base) {
  _Static_assert(sizeof *dst % sizeof(uint32_t) == 0, "ledger header: whole 32-bit words");
  if ((uintptr_t)base % sizeof(uint32_t)) { /* not a mapping: a buffer handed to us */
    memcpy(dst, base, sizeof *dst);
    return;
  }
  const uint32_t *src = base;
  uint32_t words[sizeof *dst / sizeof(uint32_t)];
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    words[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
  memcpy(dst, words, sizeof words);
}

int bg__ledger_check(const void *base, size_t size, char *err, size_t errlen) {
  bg__ledger_hdr_t h;
  if (size < sizeof h) return fail(err, errlen, "too small for a ledger");
  copy_live_header(&h, base);
  if (memcmp(h.magic, BG_LEDGER_MAGIC, 8)) return fail(err, errlen, "not a blockguard ledger");
  if (h.layout != BG_LEDGER_LAYOUT) {
    snprintf(err, errlen, "ledger layout %u, this blockguard reads layout %u (use the same version "
             "of the CLI as of the library)", h.layout, BG_LEDGER_LAYOUT);
    return -1;
  }
  if (h.hdr_size != sizeof h || h.site_size != sizeof(bg__site_t) ||
      h.thread_size != sizeof(bg__ledger_thread_t) || h.module_size != sizeof(bg__ledger_module_t) ||
      h.rule_size != sizeof(bg__ledger_rule_t))
    return fail(err, errlen, "ledger record sizes differ from this build's");
  if (h.size > size) return fail(err, errlen, "ledger truncated");
  int ok = region_ok(h.rules_off, (uint64_t)h.nrules * sizeof(bg__ledger_rule_t), size) &&
           region_ok(h.modules_off, (uint64_t)h.modules_cap * sizeof(bg__ledger_module_t), size) &&
           region_ok(h.ring_off, h.ring_size, size) &&
           h.region[BG_LR_THREADS].size >= (uint64_t)h.threads_cap * sizeof(bg__ledger_thread_t) &&
           h.region[BG_LR_SITES].size >= (uint64_t)h.sites_cap * sizeof(bg__site_t) &&
           h.region[BG_LR_LFRAMES].size >= (uint64_t)h.lframes_cap * sizeof(bg__ledger_lframe_t) &&
           h.region[BG_LR_ARENA].size <= UINT32_MAX && (h.ring_size % 8) == 0;
  for (int r = 0; r < BG_LR_COUNT; r++) ok = ok && region_ok(h.region[r].off, h.region[r].size, size);
  return ok ? 0 : fail(err, errlen, "ledger regions outside the mapping");
}

/* A string of the arena, or "" when the offset is not a valid one. */
static const char *vstr(const view_t *v, uint32_t off) {
  if (!off || off >= v->arena_used) return "";
  const char *s = v->arena + off;
  return memchr(s, 0, v->arena_used - off) ? s : "";
}

static int view_open(view_t *v, const void *base, size_t size, char *err, size_t errlen) {
  memset(v, 0, sizeof *v);
  if (bg__ledger_check(base, size, err, errlen) < 0) return -1;
  v->b = base;
  v->size = size;
  copy_live_header(&v->h, base);
  const bg__ledger_hdr_t *live = base;
  v->h.nsites = __atomic_load_n(&live->nsites, __ATOMIC_ACQUIRE);
  v->h.nthreads = __atomic_load_n(&live->nthreads, __ATOMIC_ACQUIRE);
  v->h.nmodules = __atomic_load_n(&live->nmodules, __ATOMIC_ACQUIRE);
  v->h.arena_used = __atomic_load_n(&live->arena_used, __ATOMIC_ACQUIRE);
  v->arena = v->b + v->h.region[BG_LR_ARENA].off;
  v->arena_used = v->h.arena_used;
  if (v->arena_used > v->h.region[BG_LR_ARENA].committed) v->arena_used = v->h.region[BG_LR_ARENA].committed;
  if (v->h.nsites > v->h.sites_cap) v->h.nsites = v->h.sites_cap;
  if ((uint64_t)v->h.nsites * sizeof(bg__site_t) > v->h.region[BG_LR_SITES].committed)
    v->h.nsites = (uint32_t)(v->h.region[BG_LR_SITES].committed / sizeof(bg__site_t));
  if (v->h.nthreads > v->h.threads_cap) v->h.nthreads = v->h.threads_cap;
  if ((uint64_t)v->h.nthreads * sizeof(bg__ledger_thread_t) > v->h.region[BG_LR_THREADS].committed)
    v->h.nthreads = (uint32_t)(v->h.region[BG_LR_THREADS].committed / sizeof(bg__ledger_thread_t));
  v->mods = (const bg__ledger_module_t *)(v->b + v->h.modules_off);
  v->nmods = v->h.nmodules < v->h.modules_cap ? v->h.nmodules : v->h.modules_cap;
  v->rules = (const bg__ledger_rule_t *)(v->b + v->h.rules_off);
  v->lframes = (const bg__ledger_lframe_t *)(v->b + v->h.region[BG_LR_LFRAMES].off);
  v->nlframes = __atomic_load_n(&live->nlframes, __ATOMIC_ACQUIRE);
  if (v->nlframes > v->h.lframes_cap) v->nlframes = v->h.lframes_cap;
  if ((uint64_t)v->nlframes * sizeof(bg__ledger_lframe_t) > v->h.region[BG_LR_LFRAMES].committed)
    v->nlframes = (uint32_t)(v->h.region[BG_LR_LFRAMES].committed / sizeof(bg__ledger_lframe_t));
  /* call names: NUL-separated in one arena string block */
  uint32_t coff = __atomic_load_n(&live->calls, __ATOMIC_ACQUIRE);
  if (coff && coff < v->arena_used) {
    const char *p = v->arena + coff, *end = v->arena + v->arena_used;
    for (uint32_t i = 0; i < v->h.ncalls && i < sizeof v->calls / sizeof v->calls[0] && p < end; i++) {
      const char *z = memchr(p, 0, (size_t)(end - p));
      if (!z) break;
      v->calls[i] = p;
      v->ncalls = i + 1;
      p = z + 1;
    }
  }
  return 0;
}

static uint64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- options ------------------------------------------------------------------------ */
struct opt_ctx {
  bg_model_t *m;
  const bg__options_t *o;
};

static void count_opt(const char *key, const char *def, const char *help, void *arg) {
  (void)key, (void)def, (void)help;
  ++*(int *)arg;
}

static void add_opt(const char *key, const char *def, const char *help, void *arg) {
  (void)def, (void)help;
  struct opt_ctx *c = arg;
  char val[BG_OPT_STR_MAX + 32];
  bg__options_value(c->o, key, val, sizeof val);
  c->m->options[c->m->noptions].key = bg_model_strdup(key);
  c->m->options[c->m->noptions].value = bg_model_strdup(val);
  c->m->noptions++;
}

/* The options as the process applied them: its own (self), or its text parsed again,
 * or - when the text did not parse, or the process trusted no environment (setuid) -
 * the defaults it fell back to, with mode=off. */
static void fill_options(const view_t *v, const bg__lread_t *in, bg_model_t *m) {
  static bg__options_t o; /* 16 KiB: not on the stack of a program's thread */
  static int busy;
  bg__options_t local, *op = &o;
  if (in->self) {
    op = &bg__opt;
  } else if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) {
    op = &local; /* rare: two readers at once */
  }
  char err[256];
  if (in->self) {
    /* as applied */
  } else if (v->h.options_invalid ||
             bg__options_parse(op, vstr(v, v->h.options), err, sizeof err) < 0) {
    bg__options_defaults(op);
    op->mode = BG_ACT_OFF;
  }
  int n = 0;
  bg__options_each(count_opt, &n);
  m->options = calloc((size_t)n + 1, sizeof *m->options);
  struct opt_ctx c = {m, op};
  if (m->options) bg__options_each(add_opt, &c);
  if (op == &o) __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}

/* ---- sites -------------------------------------------------------------------------- */
static void fill_frame(const view_t *v, const bg__lread_t *in, bg_rframe_t *f, uintptr_t pc,
                       unsigned mod, uint32_t lframe) {
  memset(f, 0, sizeof *f);
  f->pc = pc;
  f->offset = pc;
  if (lframe && lframe < v->nlframes) {
    /* A language frame, named when the site was created (guard/lang.c).  A Python
     * frame has no pc or object; its offset is the instruction's in the bytecode. */
    const bg__ledger_lframe_t *lf = &v->lframes[lframe];
    if (mod == BG_LANG_MODULE) f->pc = 0;
    if (mod < v->nmods) f->offset = pc - v->mods[mod].bias;
    f->lang = lf->lang < BG_LANG_COUNT ? lf->lang : BG_LANG_C;
    f->module = bg_model_strdup(mod < v->nmods ? vstr(v, v->mods[mod].path) : "");
    f->function = bg_model_strdup(vstr(v, lf->function));
    f->file = bg_model_strdup(vstr(v, lf->file));
    f->line = lf->line > 0 ? lf->line : 0; /* 0: unknown, as for a native frame */
    return;
  }
  bg__sym_t sym;
  memset(&sym, 0, sizeof sym);
  if (mod < v->nmods) {
    const bg__ledger_module_t *m = &v->mods[mod];
    const char *path = vstr(v, m->path);
    f->offset = pc - m->bias;
    f->module = bg_model_strdup(path);
    if (in->self)
      bg__sym_pc(pc, mod, f->offset, &sym, 1);
    else
      bg__sym_lookup_id(path, m->build_id, m->build_id_len < sizeof m->build_id ? m->build_id_len : 0,
                        f->offset, &sym, 1);
  } else {
    f->module = bg_model_strdup("");
  }
  char name[1024];
  bg__sym_demangle(sym.function, name, sizeof name); /* C++: readable in every format */
  f->function = bg_model_strdup(name);
  f->file = bg_model_strdup(sym.file);
  f->line = sym.line;
}

/* The module table as the report's "modules": path and build id (hex) of each object
 * frames were found in, so a profile (pprof mappings) names the exact binary. */
static void fill_modules(const view_t *v, bg_model_t *m) {
  m->modules = calloc((size_t)v->nmods + 1, sizeof *m->modules);
  for (uint32_t i = 0; m->modules && i < v->nmods; i++) {
    const bg__ledger_module_t *md = &v->mods[i];
    char hex[2 * sizeof md->build_id + 1] = "";
    unsigned n = md->build_id_len < sizeof md->build_id ? md->build_id_len : sizeof md->build_id;
    for (unsigned k = 0; k < n; k++) snprintf(hex + 2 * k, 3, "%02x", md->build_id[k]);
    m->modules[m->nmodules].path = bg_model_strdup(vstr(v, md->path));
    m->modules[m->nmodules++].build_id = bg_model_strdup(hex);
  }
}

static const char *thread_name(const view_t *v, int32_t slot, char buf[16]) {
  if (slot < 0 || (uint32_t)slot >= v->h.nthreads) return "?";
  const bg__ledger_thread_t *t =
      (const bg__ledger_thread_t *)(v->b + v->h.region[BG_LR_THREADS].off) + slot;
  uint64_t w[2] = {__atomic_load_n((const uint64_t *)t->name, __ATOMIC_RELAXED),
                   __atomic_load_n((const uint64_t *)t->name + 1, __ATOMIC_RELAXED)};
  memcpy(buf, w, 16);
  buf[15] = 0;
  return buf;
}

/* Counters past 2^63 exist only in a corrupt ledger; reports carry signed 64-bit
 * integers (JSON): clamp, so the model still renders and reads back. */
static uint64_t sane(uint64_t v) { return v > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : v; }

/* wall = mono + delta, modulo 2^64 (delta = wall - mono taken the same way: a
 * corrupt ledger's clocks wrap instead of overflowing a signed type). */
static uint64_t to_wall(uint64_t mono, uint64_t delta) { return mono ? sane(mono + delta) : 0; }

static void fill_site(const view_t *v, const bg__lread_t *in, bg_rsite_t *r, const bg__site_t *live,
                      uint64_t wall_delta) {
  /* Everything up to `warned` is written once, before the site is published; warned,
   * announced and threads_more change later (atomic stores), so they are not copied. */
  bg__site_t s;
  memcpy(&s, live, offsetof(bg__site_t, warned));
  s.allowed = live->allowed;
  s.rule = live->rule;
  int nframes = s.key.nframes <= BG_MAX_FRAMES ? s.key.nframes : BG_MAX_FRAMES;
  snprintf(r->id, sizeof r->id, "%016" PRIx64, s.id);
  char num[24];
  const char *call = s.key.call < v->ncalls && v->calls[s.key.call] ? v->calls[s.key.call] : NULL;
  if (!call) snprintf(num, sizeof num, "#%u", s.key.call), call = num;
  r->call = bg_model_strdup(call);
  r->category = bg_model_strdup(bg__category_name(s.category));
  r->allowed = s.allowed != 0;
  r->action = bg_model_strdup(bg__action_name(s.action));
  r->count = sane(__atomic_load_n(&live->count, __ATOMIC_RELAXED));
  r->total_ns = sane(__atomic_load_n(&live->total_ns, __ATOMIC_RELAXED));
  r->max_ns = sane(__atomic_load_n(&live->max_ns, __ATOMIC_RELAXED));
  r->first_ns = to_wall(__atomic_load_n(&live->first_ns, __ATOMIC_RELAXED), wall_delta);
  r->last_ns = to_wall(__atomic_load_n(&live->last_ns, __ATOMIC_RELAXED), wall_delta);
  for (int i = 0; i < BG_HIST_BUCKETS && i < BG_MODEL_HIST; i++) {
    r->hist[i] = sane(__atomic_load_n(&live->hist[i], __ATOMIC_RELAXED));
    if (r->hist[i]) r->nhist = i + 1;
  }
  r->threads = calloc(BG_SITE_THREADS + 1, sizeof *r->threads);
  for (int i = 0; r->threads && i < BG_SITE_THREADS; i++) {
    int32_t slot = __atomic_load_n(&live->threads[i], __ATOMIC_RELAXED);
    char buf[16];
    if (slot >= 0) r->threads[r->nthreads++] = bg_model_strdup(thread_name(v, slot, buf));
  }
  if (r->threads && __atomic_load_n(&live->threads_more, __ATOMIC_RELAXED))
    r->threads[r->nthreads++] = bg_model_strdup("...");
  r->frames = calloc(nframes ? (size_t)nframes : 1, sizeof *r->frames);
  for (int i = 0; r->frames && i < nframes; i++)
    if (s.mods[i] != BG_HIDDEN_MODULE) /* kept in the key only (guard/lang.h) */
      fill_frame(v, in, &r->frames[r->nframes++], s.key.pcs[i], s.mods[i], s.lframes[i]);
  if (s.rule >= 0 && (uint32_t)s.rule < v->h.nrules) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s:%d", vstr(v, v->rules[s.rule].file), v->rules[s.rule].line);
    r->rule = bg_model_strdup(buf);
  }
}

/* A call still blocked when the process ended is one more call of its site, blocked
 * from its start until the end. */
static void add_in_flight(bg_rsite_t *r, uint64_t blocked) {
  blocked = sane(blocked);
  r->in_flight++;
  r->count = sane(r->count + 1);
  r->total_ns = sane(r->total_ns + blocked);
  if (blocked > r->max_ns) r->max_ns = blocked;
  int b = blocked ? 64 - __builtin_clzll(blocked) : 0;
  if (b >= BG_MODEL_HIST) b = BG_MODEL_HIST - 1;
  r->hist[b] = sane(r->hist[b] + 1);
  if (b + 1 > r->nhist) r->nhist = b + 1;
}

/* ---- the model ---------------------------------------------------------------------- */
/* Loop health (guard/loop.c): one entry per thread record with a stats block. */
static void fill_loops(const view_t *v, const bg__ledger_thread_t *threads, bg_model_t *m,
                       int64_t wall_delta) {
  m->loops = calloc((size_t)v->h.nthreads + 1, sizeof *m->loops);
  for (uint32_t i = 0; m->loops && i < v->h.nthreads; i++) {
    const bg__ledger_thread_t *t = &threads[i];
    if (!__atomic_load_n(&t->published, __ATOMIC_ACQUIRE)) continue;
    uint32_t off = __atomic_load_n(&t->loop_stats, __ATOMIC_ACQUIRE);
    if (!off || off % 8 || (uint64_t)off + sizeof(bg__ledger_loop_t) > v->arena_used) continue;
    const bg__ledger_loop_t *st = (const bg__ledger_loop_t *)(const void *)(v->arena + off);
    bg_rloop_t *l = &m->loops[m->nloops++];
    char buf[16];
    l->pid = m->pid;
    l->tid = t->tid;
    l->name = bg_model_strdup(thread_name(v, (int32_t)i, buf));
#define LD(f) __atomic_load_n(&st->f, __ATOMIC_RELAXED)
    /* a loop whose fd was closed has ended, whether or not its thread noticed yet */
    l->running = LD(running) != 0 && __atomic_load_n(&t->loop_fd1, __ATOMIC_RELAXED) != 0;
    l->iterations = LD(iterations);
    l->busy_ns = LD(busy_ns);
    l->idle_ns = LD(idle_ns);
    l->worst_ns = LD(worst_ns);
    l->worst_at_ns = to_wall(LD(worst_mono), wall_delta);
    l->utilization = l->busy_ns + l->idle_ns ? (double)l->busy_ns / (double)(l->busy_ns + l->idle_ns) : 0;
    l->stalls = LD(stalls);
    l->stalls_unsampled = LD(stalls_unsampled);
    for (int j = 0; j < BG_LOOP_HIST && j < BG_MODEL_HIST; j++) {
      l->hist[j] = LD(hist[j]);
      if (l->hist[j]) l->nhist = j + 1;
    }
    /* the last minute, oldest first, up to the loop's latest boundary */
    uint64_t last = LD(last_mono) / 1000000000ull;
    l->recent = calloc(BG_LOOP_RECENT, sizeof *l->recent);
    for (uint64_t sec = last >= 59 ? last - 59 : 0; l->recent && sec <= last; sec++) {
      const __typeof__(st->recent[0]) *r = &st->recent[sec % BG_LOOP_RECENT];
      if (LD(recent[sec % BG_LOOP_RECENT].sec) != sec || !r->iterations) continue;
      bg_rloop_second_t *o = &l->recent[l->nrecent++];
      o->t_ns = to_wall(sec * 1000000000ull, wall_delta);
      o->iterations = LD(recent[sec % BG_LOOP_RECENT].iterations);
      o->busy_ns = LD(recent[sec % BG_LOOP_RECENT].busy_ns);
      o->max_ns = (uint64_t)LD(recent[sec % BG_LOOP_RECENT].max_us) * 1000;
    }
#undef LD
  }
}

static char *dup_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_fmt(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return bg_model_strdup(buf);
}

static void fill_exit(const view_t *v, const bg__lread_t *in, bg_model_t *m) {
  uint32_t st = __atomic_load_n(&((const bg__ledger_hdr_t *)v->b)->status, __ATOMIC_ACQUIRE);
  bg_rexit_t *e = &m->exit;
  if (st == BG_LST_EXEC && !in->running) {
    e->how = bg_model_strdup("exec");
    e->exec = bg_model_strdup(vstr(v, v->h.exec_path));
  } else if (in->ended == 2 || (!in->ended && v->h.exit_signal > 0 && v->h.exit_signal < 65)) {
    e->how = bg_model_strdup("signal");
    e->signal = in->ended == 2 ? in->signal : v->h.exit_signal;
  } else if (in->ended == 1) {
    e->how = bg_model_strdup("exit");
    e->status = in->status;
  } else if (st == BG_LST_EXITING || st == BG_LST_EXITED) {
    e->how = bg_model_strdup("exit");
    e->status = v->h.exit_code;
  } else if (in->running) {
    e->how = bg_model_strdup("running");
  } else {
    e->how = bg_model_strdup("vanished");
  }
}

int bg__ledger_model(const bg__lread_t *in, bg_model_t *m, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  view_t *v = malloc(sizeof *v);
  if (!v) return fail(err, errlen, "out of memory");
  if (view_open(v, in->base, in->size, err, errlen) < 0) {
    free(v);
    return -1;
  }
  bg__self.depth++; /* symbolization opens files: never count that */
  m->schema = 2;
  m->tool = bg_model_strdup("blockguard");
  m->version = bg_model_strdup(BG_VERSION);
  m->pid = v->h.pid > 0 ? v->h.pid : 0; /* a corrupt ledger must still render */
  m->image = v->h.image < INT32_MAX ? (int)v->h.image : INT32_MAX;
  /* argv: argc NUL-separated strings */
  if (v->h.argv && v->h.argv < v->arena_used && v->h.argc < 65536) {
    m->argv = calloc((size_t)v->h.argc + 1, sizeof *m->argv);
    const char *p = v->arena + v->h.argv, *end = v->arena + v->arena_used;
    for (uint32_t i = 0; m->argv && i < v->h.argc && p < end; i++) {
      const char *z = memchr(p, 0, (size_t)(end - p));
      if (!z) break;
      m->argv[m->argc++] = bg_model_strdup(p);
      p = z + 1;
    }
  }
  int live_clock = in->self || in->running;
  uint64_t wall_delta = live_clock ? clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC)
                                   : v->h.start_wall_ns - v->h.start_mono_ns;
  m->started_ns = sane(v->h.start_wall_ns);
  uint64_t end_wall = in->end_wall_ns ? in->end_wall_ns
                      : v->h.end_wall_ns ? v->h.end_wall_ns
                      : live_clock ? clock_ns(CLOCK_REALTIME) : 0;
  fill_options(v, in, m);

  /* threads */
  const bg__ledger_thread_t *threads = (const bg__ledger_thread_t *)(v->b + v->h.region[BG_LR_THREADS].off);
  m->threads = calloc((size_t)v->h.nthreads + 1, sizeof *m->threads);
  for (uint32_t i = 0; m->threads && i < v->h.nthreads; i++) {
    const bg__ledger_thread_t *t = &threads[i];
    if (!__atomic_load_n(&t->published, __ATOMIC_ACQUIRE)) continue; /* being set up */
    bg_rthread_t *r = &m->threads[m->nthreads++];
    char buf[16];
    r->tid = t->tid > 0 ? t->tid : 0;
    r->name = bg_model_strdup(thread_name(v, (int32_t)i, buf));
    r->guarded = __atomic_load_n(&t->guarded, __ATOMIC_RELAXED) != 0;
    r->why = bg_model_strdup(bg__why_name(__atomic_load_n(&t->why, __ATOMIC_RELAXED)));
  }

  fill_loops(v, threads, m, wall_delta);

  /* sites (index i of the ledger → model index, for the calls in flight) */
  const bg__site_t *pool = (const bg__site_t *)(v->b + v->h.region[BG_LR_SITES].off);
  int *at = calloc((size_t)v->h.nsites + 1, sizeof *at);
  m->sites = calloc((size_t)v->h.nsites + 1, sizeof *m->sites);
  uint64_t latest_mono = v->h.start_mono_ns;
  for (uint32_t i = 0; m->sites && at && i < v->h.nsites; i++) {
    at[i] = -1;
    uint64_t last = __atomic_load_n(&pool[i].last_ns, __ATOMIC_RELAXED);
    if (last > latest_mono) latest_mono = last;
    if (!__atomic_load_n(&pool[i].count, __ATOMIC_RELAXED)) continue; /* all below min_us */
    at[i] = m->nsites;
    fill_site(v, in, &m->sites[m->nsites++], &pool[i], wall_delta);
  }
  if (in->inflight && m->sites && at) {
    uint64_t end_mono = end_wall ? end_wall - wall_delta : 0;
    for (uint32_t i = 0; i < v->h.nthreads; i++) {
      const bg__ledger_thread_t *t = &threads[i];
      uint32_t site = __atomic_load_n(&t->inflight_site, __ATOMIC_ACQUIRE);
      uint64_t t0 = __atomic_load_n(&t->inflight_t0, __ATOMIC_RELAXED);
      if (t0 > latest_mono) latest_mono = t0;
      if (!site || site > v->h.nsites || !t0) continue;
      uint64_t end = end_mono ? end_mono : latest_mono;
      uint64_t blocked = end > t0 ? end - t0 : 0;
      if (at[site - 1] < 0) { /* its calls so far were all shorter than min_us */
        at[site - 1] = m->nsites;
        fill_site(v, in, &m->sites[m->nsites++], &pool[site - 1], wall_delta);
      }
      add_in_flight(&m->sites[at[site - 1]], blocked);
    }
  }
  free(at);
  m->ended_ns = end_wall ? sane(end_wall) : to_wall(latest_mono, wall_delta);

  /* allowlist rules that matched nothing */
  if (v->h.nrules) {
    m->unmatched_rules = calloc(v->h.nrules, sizeof *m->unmatched_rules);
    for (uint32_t i = 0; m->unmatched_rules && i < v->h.nrules; i++) {
      if (__atomic_load_n(&v->rules[i].matched, __ATOMIC_RELAXED)) continue;
      bg_rrule_t *u = &m->unmatched_rules[m->nunmatched++];
      u->file = bg_model_strdup(vstr(v, v->rules[i].file));
      u->line = v->rules[i].line > 0 ? v->rules[i].line : 0; /* a corrupt ledger's: reports say 0 */
      u->text = bg_model_strdup(vstr(v, v->rules[i].text));
    }
  }
  m->dropped_sites = sane(__atomic_load_n(&((const bg__ledger_hdr_t *)v->b)->dropped_sites, __ATOMIC_RELAXED));
  if (v->h.unguarded) m->unguarded_reason = bg_model_strdup(vstr(v, v->h.unguarded));
  if (v->h.http_url) m->http_url = bg_model_strdup(vstr(v, v->h.http_url));

  /* argv secrets hidden as that process asked (redact=), in every model: own, a
   * child's read by the CLI, a state file */
  bg_model_redact_as_asked(m);
  fill_modules(v, m);

  /* complete unless something was refused storage, or the caller knows more */
  fill_exit(v, in, m);
  uint32_t inc = __atomic_load_n(&((const bg__ledger_hdr_t *)v->b)->incomplete, __ATOMIC_ACQUIRE);
  uint64_t lost = __atomic_load_n(&((const bg__ledger_hdr_t *)v->b)->lost, __ATOMIC_RELAXED);
  if (inc) {
    char text[sizeof v->h.incomplete_text + 1];
    memcpy(text, ((const bg__ledger_hdr_t *)v->b)->incomplete_text, sizeof v->h.incomplete_text);
    text[sizeof v->h.incomplete_text] = 0;
    m->incomplete_reason = bg_model_strdup(text[0] ? text : "data missing (reason not recorded)");
  } else if (lost) {
    m->incomplete_reason = dup_fmt("%" PRIu64 " ledger allocations refused (arena full)", lost);
  } else if (in->incomplete) {
    m->incomplete_reason = bg_model_strdup(in->incomplete);
  }
  bg__self.depth--;
  free(v);
  return 0;
}

/* ---- facts and ring ------------------------------------------------------------------ */
int bg__ledger_facts(const void *base, size_t size, bg__lfacts_t *f, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  view_t *v = malloc(sizeof *v);
  if (!v) return fail(err, errlen, "out of memory");
  if (view_open(v, base, size, err, errlen) < 0) {
    free(v);
    return -1;
  }
  f->pid = v->h.pid;
  f->ppid = v->h.ppid;
  f->status = __atomic_load_n(&((const bg__ledger_hdr_t *)base)->status, __ATOMIC_ACQUIRE);
  f->exit_code = v->h.exit_code;
  snprintf(f->exec_path, sizeof f->exec_path, "%s", vstr(v, v->h.exec_path));
  snprintf(f->cwd, sizeof f->cwd, "%s", vstr(v, v->h.cwd));
  f->exec_env = v->h.exec_env;
  snprintf(f->unguarded, sizeof f->unguarded, "%s", vstr(v, v->h.unguarded));
  f->options_invalid = (int)v->h.options_invalid;
  f->backing = v->h.backing;
  f->start_wall_ns = v->h.start_wall_ns;
  f->violations = __atomic_load_n(&((const bg__ledger_hdr_t *)base)->violations, __ATOMIC_RELAXED);
  free(v);
  return 0;
}

#define RING_PAD 0x80000000u
uint64_t bg__ledger_ring_read(const void *base, size_t size, uint64_t *pos, int final,
                              void (*fn)(const char *msg, size_t len, void *arg), void *arg) {
  char err[128];
  if (bg__ledger_check(base, size, err, sizeof err) < 0) return 0;
  const bg__ledger_hdr_t *h = base;
  uint64_t rsize = h->ring_size, lost = 0;
  if (!rsize) return 0;
  const char *ring = (const char *)base + h->ring_off;
  uint64_t head = __atomic_load_n(&h->ring_head, __ATOMIC_ACQUIRE);
  if (head - *pos > rsize) { /* lapped: what was between is gone */
    lost = head - *pos - rsize;
    *pos = head - rsize;
    /* the oldest byte still there may be mid-record: resynchronise at the next record
     * whose seq matches its position */
    while (*pos < head) {
      const uint32_t *rec = (const uint32_t *)(ring + *pos % rsize);
      if (__atomic_load_n(&rec[1], __ATOMIC_ACQUIRE) == (uint32_t)(*pos / 8 + 1)) break;
      *pos += 8;
      lost += 8;
    }
  }
  while (*pos < head) {
    const uint32_t *rec = (const uint32_t *)(ring + *pos % rsize);
    uint32_t seq = __atomic_load_n(&rec[1], __ATOMIC_ACQUIRE);
    uint32_t len = __atomic_load_n(&rec[0], __ATOMIC_RELAXED);
    if (seq != (uint32_t)(*pos / 8 + 1)) {
      if (!final) break; /* still being written */
      /* the writer died mid-record: nothing after it can be trusted in order */
      lost += head - *pos;
      *pos = head;
      break;
    }
    uint64_t body = len & ~RING_PAD;
    uint64_t step = 8 + ((body + 7) & ~(uint64_t)7);
    if (body > rsize - 8 - (*pos % rsize)) { /* corrupt */
      lost += head - *pos;
      *pos = head;
      break;
    }
    if (!(len & RING_PAD)) fn((const char *)(rec + 2), (size_t)body, arg);
    *pos += step;
  }
  return lost;
}

/* ---- state files ---------------------------------------------------------------------- */
/* Read with pread, not mapped: the file may be truncated under us (a mapped read past
 * its end would be SIGBUS), and only what the writer committed is read - a state file
 * is mostly holes. */
static int pread_all(int fd, void *buf, size_t n, off_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  memset((char *)buf + got, 0, n - got); /* past the end: zeros, like a hole */
  return 0;
}

int bg__ledger_is_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char magic[8];
  int yes = pread(fd, magic, 8, 0) == 8 && !memcmp(magic, BG_LEDGER_MAGIC, 8);
  close(fd);
  return yes;
}

int bg__ledger_load(const char *path, void **out, size_t *outsize, char *err, size_t errlen) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  bg__ledger_hdr_t h;
  struct stat st;
  if (fstat(fd, &st) < 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
      memcmp(h.magic, BG_LEDGER_MAGIC, 8)) {
    snprintf(err, errlen, "%s: not a blockguard state file", path);
    close(fd);
    return -1;
  }
  char why[256];
  if (h.hdr_size != sizeof h || h.layout != BG_LEDGER_LAYOUT || h.size > ((uint64_t)1 << 40) ||
      h.size < sizeof h) {
    snprintf(err, errlen, "%s: state file of another blockguard version (layout %u, this one "
             "reads %u)", path, h.layout, BG_LEDGER_LAYOUT);
    close(fd);
    return -1;
  }
  /* calloc of the whole size: untouched pages stay unmapped zeros */
  char *buf = calloc(1, (size_t)h.size);
  if (!buf) {
    snprintf(err, errlen, "%s: out of memory", path);
    close(fd);
    return -1;
  }
  memcpy(buf, &h, sizeof h);
  if (bg__ledger_check(buf, (size_t)h.size, why, sizeof why) < 0) {
    snprintf(err, errlen, "%s: %s", path, why);
    free(buf);
    close(fd);
    return -1;
  }
  /* header, rules, modules; then each region as far as it is committed */
  pread_all(fd, buf, (size_t)h.region[BG_LR_LFRAMES].off, 0);
  for (int r = 0; r < BG_LR_COUNT; r++) {
    uint64_t n = h.region[r].committed < h.region[r].size ? h.region[r].committed : h.region[r].size;
    if (n) pread_all(fd, buf + h.region[r].off, (size_t)n, (off_t)h.region[r].off);
  }
  close(fd);
  *out = buf;
  *outsize = (size_t)h.size;
  return 0;
}

/* When did process `pid` start (wall clock, s), from /proc; 0 when it is not running. */
static uint64_t proc_started(int pid) {
  char p[64], buf[1024];
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *rp = strrchr(buf, ')'); /* comm may contain anything */
  unsigned long long ticks = 0;
  char state = 0;
  if (!rp || sscanf(rp + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                            "%*d %*d %llu", &state, &ticks) != 2)
    return 0;
  if (state == 'Z' || state == 'X') return 0; /* dead, not yet reaped */
  f = fopen("/proc/stat", "r");
  if (!f) return 0;
  unsigned long long btime = 0;
  char line[256];
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "btime %llu", &btime) == 1) break;
  fclose(f);
  long hz = sysconf(_SC_CLK_TCK);
  return btime + ticks / (unsigned long long)(hz > 0 ? hz : 100);
}

int bg__ledger_alive(int pid, uint64_t start_wall_ns) {
  uint64_t s = proc_started(pid), want = start_wall_ns / 1000000000ull;
  return s && (s > want ? s - want : want - s) <= 2;
}

int bg__ledger_file_model(const char *path, bg_model_t *m, char *err, size_t errlen) {
  void *base;
  size_t size;
  if (bg__ledger_load(path, &base, &size, err, errlen) < 0) return -1;
  const bg__ledger_hdr_t *h = base;
  bg__lread_t in = {.base = base, .size = size, .inflight = 1};
  in.running = (h->status == BG_LST_RUNNING || h->status == BG_LST_EXITING) &&
               bg__ledger_alive(h->pid, h->start_wall_ns);
  int rc = bg__ledger_model(&in, m, err, errlen);
  if (rc < 0) {
    char inner[512];
    snprintf(inner, sizeof inner, "%s", err);
    snprintf(err, errlen, "%s: %s", path, inner);
  }
  free(base);
  return rc;
}
