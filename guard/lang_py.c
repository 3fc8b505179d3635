/* lang_py.c - CPython frames of the calling thread (see lang_py.h for the design).
 *
 * Detection runs at start-up and again, on the cold path, when objects were loaded
 * since (an embedding program may dlopen libpython).  It needs only dynamic symbols.
 *
 * Reading is bounded (at most `max` frames, no loop can revisit a frame more often) and
 * every load goes through bg__readable() first, so a frame chain that is garbage for
 * any reason ends the walk early instead of crashing the program.  No lock, no GIL, no
 * allocation: it runs on the violation path, possibly in a signal handler.
 */
#define _GNU_SOURCE
#include "guard/lang_py.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/elfsyms.h"
#include "guard/guard.h"
#include "guard/readable.h"
#include "guard/symbolize.h"

int bg__py_active;

static struct {
  bg__py_layout_t l;
  void *(*this_tstate)(void); /* PyGILState_GetThisThreadState */
  uintptr_t code_type, str_type, bytes_type, frame_type;
  int module;                 /* runtime's module index */
  uint64_t adds;              /* dlpi_adds at the last detection */
  int tried;
  int bad_describes;          /* consecutive type-check failures (layout wrong?) */
  int unusable;               /* a runtime is there but its frames are not read */
  char status[160];
} py = {.module = -1};

const char *bg__py_status(void) { return py.status[0] ? py.status : "no CPython runtime seen"; }
int bg__py_unusable(void) { return __atomic_load_n(&py.unusable, __ATOMIC_RELAXED); }
int bg__py_runtime_module(void) { return py.module; }

static int read_adds(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)info;
  if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof info->dlpi_adds)
    *(uint64_t *)arg = info->dlpi_adds;
  return 1;
}

/* A libpython loaded RTLD_LOCAL (embedders) is not in the global scope: ask it.  The
 * name is taken inside dl_iterate_phdr, the dlopen made after it returns. */
static void *runtime_handle;
static int find_libpython(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const char *b = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
  b = b ? b + 1 : info->dlpi_name;
  if (!b || strncmp(b, "libpython3", 10)) return 0;
  snprintf(arg, 4096, "%s", info->dlpi_name);
  return 1;
}

static void *open_libpython(void) {
  char path[4096] = "";
  if (!dl_iterate_phdr(find_libpython, path) || !path[0]) return NULL;
  void *h = bg__dlopen_quiet(path, RTLD_NOLOAD | RTLD_LAZY);
  if (h && !bg__dlsym_quiet(h, "PyGILState_GetThisThreadState")) {
    dlclose(h);
    h = NULL;
  }
  return h; /* kept open: the object is loaded anyway */
}

/* A symbol of the object that holds the runtime (an embedder could hold two). */
static void *runtime_sym(const char *name) {
  void *p = bg__dlsym_quiet(RTLD_DEFAULT, name);
  uintptr_t off;
  if (p && py.module >= 0 && bg__module_of((uintptr_t)p + 1, &off) == (unsigned)py.module)
    return p;
  return runtime_handle ? bg__dlsym_quiet(runtime_handle, name) : NULL;
}

static int find_range(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t f = *(uintptr_t *)arg, lo, hi;
  bg__object_range(info, &lo, &hi);
  if (f < lo || f >= hi) return 0;
  bg__py_ranges.rt_lo = lo, bg__py_ranges.rt_hi = hi;
  return 1;
}


bg__py_ranges_t bg__py_ranges;

static void add_eval_range(uintptr_t lo, uintptr_t hi) {
  bg__py_ranges_t *r = &bg__py_ranges;
  if (r->neval < BG_PY_EVAL_RANGES && hi > lo) {
    r->eval_lo[r->neval] = lo;
    r->eval_hi[r->neval++] = hi;
  }
}

/* The eval loop's cold part (_PyEval_EvalFrameDefault.cold, GCC's hot/cold split) is a
 * local symbol: only in .symtab, so only when the runtime is not stripped (pyenv). */
static void cold_part(const char *name, uintptr_t addr, size_t size, void *arg) {
  (void)arg;
  static const char want[] = "_PyEval_EvalFrameDefault.";
  if (!strncmp(name, want, sizeof want - 1)) add_eval_range(addr, addr + size);
}

static unsigned runtime_minor(void) {
  const unsigned long *hex = runtime_sym("Py_Version"); /* 3.11+ */
  if (hex && (*hex >> 24) == 3) return (unsigned)((*hex >> 16) & 0xff);
  const char *(*getver)(void) = (const char *(*)(void))runtime_sym("Py_GetVersion");
  const char *v = getver ? getver() : NULL;
  unsigned major = 0, minor = 0;
  if (!v || sscanf(v, "%u.%u", &major, &minor) != 2 || major != 3) return 0;
  return minor;
}

static int detect(void) {
  py.this_tstate = NULL;
  bg__py_ranges.neval = 0;
  void *f = bg__dlsym_quiet(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
  if (!f && (runtime_handle || (runtime_handle = open_libpython())))
    f = bg__dlsym_quiet(runtime_handle, "PyGILState_GetThisThreadState");
  if (!f) return 0;
  py.this_tstate = (void *(*)(void))f;
  uintptr_t off;
  unsigned mod = bg__module_of((uintptr_t)f + 1, &off);
  py.module = mod == BG_NO_MODULE ? -1 : (int)mod;
  uintptr_t fa = (uintptr_t)f;
  dl_iterate_phdr(find_range, &fa);
  unsigned minor = runtime_minor();
  bg__py_layout_t l;
  int ok = -1;
  if (minor >= 8 && minor <= 12) {
    ok = bg__py_layout_for(minor, &l);
  } else if (minor >= 13) {
    const void *rt = runtime_sym("_PyRuntime");
    char dbg[8 * 80];
    if (rt && bg__read(dbg, rt, sizeof dbg)) ok = bg__py_layout_from_debug(dbg, sizeof dbg, &l);
  }
  if (ok < 0) {
    snprintf(py.status, sizeof py.status, "CPython 3.%u: frame layout not known to this version",
             minor);
    py.unusable = 1;
    return 0;
  }
  py.l = l;
  py.code_type = (uintptr_t)runtime_sym("PyCode_Type");
  py.str_type = (uintptr_t)runtime_sym("PyUnicode_Type");
  py.bytes_type = (uintptr_t)runtime_sym("PyBytes_Type");
  py.frame_type = (uintptr_t)runtime_sym("PyFrame_Type");
  void *eval = runtime_sym("_PyEval_EvalFrameDefault");
  Dl_info di;
  const ElfW(Sym) *sym = NULL;
  if (eval && dladdr1(eval, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_size)
    add_eval_range((uintptr_t)eval, (uintptr_t)eval + sym->st_size);
  if (py.module >= 0)
    bg__elf_functions(bg__module_path((unsigned)py.module), bg__module_bias((unsigned)py.module),
                      cold_part, NULL);
  if (!py.code_type || !py.str_type || !py.bytes_type || (l.frame_objects && !py.frame_type)) {
    snprintf(py.status, sizeof py.status, "CPython 3.%u: type objects not exported", minor);
    py.unusable = 1;
    return 0;
  }
  snprintf(py.status, sizeof py.status, "CPython 3.%u (%s, %d eval range%s)", minor,
           py.module >= 0 ? bg__module_base((unsigned)py.module) : "?", bg__py_ranges.neval,
           bg__py_ranges.neval == 1 ? "" : "s");
  return 1;
}

/* Threads creating their first sites at once would detect together, each writing
 * `py` and the eval ranges (TSan, test_concurrency): one at a time.  Never taken from
 * a signal handler (sites are resolved in thread context); re-initialised in a fork
 * child, where its holder does not exist. */
static pthread_mutex_t detect_mu = PTHREAD_MUTEX_INITIALIZER;

int bg__py_detect(void) {
  if (__atomic_load_n(&bg__py_active, __ATOMIC_ACQUIRE)) return 1;
  uint64_t adds = 0;
  dl_iterate_phdr(read_adds, &adds);
  pthread_mutex_lock(&detect_mu);
  int ok = __atomic_load_n(&bg__py_active, __ATOMIC_ACQUIRE);
  if (!ok && !(py.tried && adds == py.adds)) {
    bg__self.depth++; /* dlopen/open/mmap below are ours, never the program's */
    py.tried = 1;
    py.adds = adds;
    ok = detect();
    bg__self.depth--;
    if (ok) __atomic_store_n(&bg__py_active, 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&detect_mu);
  return ok;
}

void bg__py_after_fork(void) { pthread_mutex_init(&detect_mu, NULL); }


/* ---- the violation path ------------------------------------------------------------- */

static inline uintptr_t load_ptr(uintptr_t base, int off) {
  uintptr_t v;
  memcpy(&v, (const void *)(base + (uintptr_t)off), sizeof v);
  return v;
}

static inline int plausible(uintptr_t p) { return p >= 4096 && p < ((uintptr_t)1 << 47) && !(p & 7); }

static inline uintptr_t make_word(uintptr_t code, long lasti) {
  if (lasti < 0) lasti = 0;
  return BG_PY_TAG | ((code >> 3) << BG_PY_LASTI_BITS) |
         ((uintptr_t)lasti & ((1u << BG_PY_LASTI_BITS) - 1));
}

/* Pages this thread's walks found readable, kept across violations (a thread's frames,
 * thread state and C stack live on the same few pages call after call), valid while
 * no page was forgotten since (bg__readable_gen).  Misses go to the shared cache. */
#define MEMO_PAGES 4
typedef struct walk_pages {
  uint64_t gen;
  uintptr_t page[MEMO_PAGES];
  unsigned next;
} walk_pages_t;
static __thread walk_pages_t memo __attribute__((tls_model("initial-exec")));

static inline int memo_has(const walk_pages_t *w, uintptr_t pg) {
  return pg == w->page[0] || pg == w->page[1] || pg == w->page[2] || pg == w->page[3];
}

static inline int frame_readable(walk_pages_t *w, uintptr_t f, size_t n) {
  uintptr_t p0 = f >> 12, p1 = (f + n - 1) >> 12;
  if (memo_has(w, p0) && memo_has(w, p1)) return 1;
  if (!bg__readable((const void *)f, n)) return 0;
  if (!memo_has(w, p0)) w->page[w->next++ % MEMO_PAGES] = p0;
  if (!memo_has(w, p1)) w->page[w->next++ % MEMO_PAGES] = p1;
  return 1;
}

static inline walk_pages_t *memo_get(void) {
  uint64_t gen = __atomic_load_n(&bg__readable_gen, __ATOMIC_ACQUIRE);
  if (memo.gen != gen) {
    memo.gen = gen;
    for (int i = 0; i < MEMO_PAGES; i++) memo.page[i] = 0; /* page 0 is never valid */
  }
  return &memo;
}

/* The walk for 3.8-3.10: a chain of PyFrameObjects, one eval invocation each. */
static int walk_frame_objects(const bg__py_layout_t *lp, uintptr_t f, uintptr_t *words,
                              uint8_t *ends, int max) {
  const int o_prev = lp->f_previous, o_code = lp->f_code, o_lasti = lp->f_lasti;
  const size_t size = (size_t)lp->f_size;
  const int shift = lp->lasti_bytes;
  const uintptr_t frame_type = py.frame_type;
  walk_pages_t *wp = memo_get();
  int n = 0;
  while (f && n < max) {
    if (!plausible(f) || !frame_readable(wp, f, size)) break;
    if (load_ptr(f, 8) != frame_type) break; /* a PyFrameObject says it is one */
    int lasti;
    memcpy(&lasti, (const void *)(f + (uintptr_t)o_lasti), sizeof lasti);
    words[n] = make_word(load_ptr(f, o_code), lasti >> shift);
    ends[n++] = 1;
    f = load_ptr(f, o_prev);
  }
  return n;
}

/* The walk for 3.11+: _PyInterpreterFrames.  Kept tight (it runs on every violation):
 * a handful of loads per frame, the code object is not touched (the cold path checks
 * it), the instruction offset is computed without a branch (a frame that has not
 * started yet gives a masked nonsense offset, harmless in a key).  One copy per shape
 * of frame (3.11: is_entry flag; 3.12+: entry shim frames; 3.14: tagged f_executable),
 * so the loop tests only what its version has. */
static inline __attribute__((always_inline)) int
walk_interp(const bg__py_layout_t *lp, uintptr_t f, uintptr_t *words, uint8_t *ends, int max,
            const int has_entry, const int has_shim, const int tagged) {
  const uintptr_t o_prev = (uintptr_t)lp->f_previous, o_code = (uintptr_t)lp->f_code,
                  o_instr = (uintptr_t)lp->f_instr, o_owner = (uintptr_t)lp->f_owner,
                  o_entry = (uintptr_t)lp->f_is_entry;
  const unsigned shim = (unsigned)lp->owner_shim, omax = (unsigned)lp->owner_max;
  const uintptr_t adaptive = (uintptr_t)lp->co_adaptive;
  const uintptr_t size = (uintptr_t)lp->f_size;
  walk_pages_t *wp = memo_get();
  int n = 0;
  for (int steps = 2 * max + 8; f && n < max && --steps;) {
    if (!plausible(f) || !frame_readable(wp, f, size)) break;
    unsigned owner = *(const uint8_t *)(f + o_owner);
    uintptr_t prev = load_ptr(f, (int)o_prev);
    if (has_shim && owner >= shim) { /* the eval loop's entry frame ends an invocation */
      if (n > 0) ends[n - 1] = 1;
      f = prev;
      continue;
    }
    if (owner > omax) break;
    uintptr_t code = load_ptr(f, (int)o_code);
    if (tagged) code &= ~(uintptr_t)7;
    uintptr_t lasti = (load_ptr(f, (int)o_instr) - code - adaptive) >> 1;
    words[n] = BG_PY_TAG | ((code >> 3) << BG_PY_LASTI_BITS) |
               (lasti & ((1u << BG_PY_LASTI_BITS) - 1));
    ends[n++] = has_entry ? *(const uint8_t *)(f + o_entry) != 0 : 0;
    f = prev;
  }
  if (n > 0) ends[n - 1] = 1;
  return n;
}

static int walk_interp_frames(const bg__py_layout_t *lp, uintptr_t f, uintptr_t *words,
                              uint8_t *ends, int max) {
  if (lp->f_is_entry >= 0) return walk_interp(lp, f, words, ends, max, 1, 0, 0);
  if (lp->exec_tagged) return walk_interp(lp, f, words, ends, max, 0, 1, 1);
  return walk_interp(lp, f, words, ends, max, 0, 1, 0);
}

int bg__py_frames(uintptr_t *words, uint8_t *ends, int max) {
  const bg__py_layout_t *l = &py.l;
  uintptr_t ts = (uintptr_t)py.this_tstate();
  if (!plausible(ts)) return 0;
  walk_pages_t *wp = memo_get();
  if (l->frame_objects) {
    if (!frame_readable(wp, ts, (size_t)l->ts_frame + 8)) return 0;
    return walk_frame_objects(l, load_ptr(ts, l->ts_frame), words, ends, max);
  }
  uintptr_t f;
  if (l->ts_cframe >= 0) {
    if (!frame_readable(wp, ts, (size_t)l->ts_cframe + 8)) return 0;
    uintptr_t cf = load_ptr(ts, l->ts_cframe);
    if (!plausible(cf) || !frame_readable(wp, cf, (size_t)l->cframe_current + 8)) return 0;
    f = load_ptr(cf, l->cframe_current);
  } else {
    if (!frame_readable(wp, ts, (size_t)l->ts_current_frame + 8)) return 0;
    f = load_ptr(ts, l->ts_current_frame);
  }
  return walk_interp_frames(l, f, words, ends, max);
}

/* ---- the cold path: names and lines --------------------------------------------------- */

static int typed(uintptr_t obj, uintptr_t type, size_t size) {
  uintptr_t t;
  return plausible(obj) && bg__readable((void *)obj, size) && bg__read(&t, (void *)(obj + 8), 8) &&
         t == type;
}

static size_t put_utf8(char *out, size_t cap, size_t k, uint32_t c) {
  char b[4];
  size_t n;
  if (c < 0x80) b[0] = (char)c, n = 1;
  else if (c < 0x800) b[0] = (char)(0xC0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3F)), n = 2;
  else if (c < 0x10000)
    b[0] = (char)(0xE0 | c >> 12), b[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
    b[2] = (char)(0x80 | (c & 0x3F)), n = 3;
  else
    b[0] = (char)(0xF0 | c >> 18), b[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
    b[2] = (char)(0x80 | ((c >> 6) & 0x3F)), b[3] = (char)(0x80 | (c & 0x3F)), n = 4;
  if (k + n >= cap) return k;
  memcpy(out + k, b, n);
  return k + n;
}

/* A str object → UTF-8 (compact strings only: every name and file name is one). */
static int read_str(uintptr_t s, char *out, size_t cap) {
  const bg__py_layout_t *l = &py.l;
  out[0] = 0;
  if (!typed(s, py.str_type, (size_t)l->str_compact_size)) return 0;
  int64_t len;
  uint32_t state;
  memcpy(&len, (const void *)(s + (uintptr_t)l->str_length), 8);
  memcpy(&state, (const void *)(s + (uintptr_t)l->str_state), 4);
  unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
  if (!compact || (kind != 1 && kind != 2 && kind != 4) || len < 0 || len > 4096) return 0;
  uintptr_t data = s + (uintptr_t)(ascii ? l->str_ascii_size : l->str_compact_size);
  if (!bg__readable((void *)data, (size_t)len * kind + 1)) return 0;
  size_t k = 0;
  for (int64_t i = 0; i < len; i++) {
    uint32_t c;
    if (kind == 1) c = ((const uint8_t *)data)[i];
    else if (kind == 2) c = ((const uint16_t *)data)[i];
    else c = ((const uint32_t *)data)[i];
    if (c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) c = 0xFFFD;
    size_t nk = put_utf8(out, cap, k, c);
    if (nk == k) break;
    k = nk;
  }
  out[k] = 0;
  return 1;
}

static int read_varint(const uint8_t *t, size_t n, size_t *i, unsigned *out) {
  unsigned v = 0, shift = 0;
  for (;;) {
    if (*i >= n || shift > 28) return 0;
    uint8_t b = t[(*i)++];
    v |= (unsigned)(b & 63) << shift;
    shift += 6;
    if (!(b & 64)) break;
  }
  *out = v;
  return 1;
}

static int read_svarint(const uint8_t *t, size_t n, size_t *i, int *out) {
  unsigned v;
  if (!read_varint(t, n, i, &v)) return 0;
  *out = (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
  return 1;
}

/* Line of the instruction at code unit `lasti`, by the version's table format (the
 * same walks as CPython's PyCode_Addr2Line). */
static int addr2line(const uint8_t *t, size_t n, int first, long lasti, int format) {
  long addr = 0, target = lasti * 2; /* bytes */
  int line = first;
  if (format == 1) { /* co_lnotab: (byte delta, signed line delta) pairs */
    for (size_t i = 0; i + 1 < n; i += 2) {
      addr += t[i];
      if (addr > target) break;
      line += (int8_t)t[i + 1];
    }
    return line;
  }
  if (format == 2) { /* 3.10 co_linetable: (byte delta, line delta; -128 = none) */
    int cur = first;
    for (size_t i = 0; i + 1 < n; i += 2) {
      int ldelta = (int8_t)t[i + 1];
      if (ldelta != -128) cur += ldelta;
      long end = addr + t[i];
      if (target >= addr && target < end) return ldelta == -128 ? -1 : cur;
      addr = end;
    }
    return cur;
  }
  /* 3.11+ location table: entries of (code, length in code units) with varints. */
  long unit = 0;
  for (size_t i = 0; i < n;) {
    uint8_t b = t[i++];
    if (!(b & 0x80)) return line; /* not at an entry start: corrupt */
    int code = (b >> 3) & 15, len = (b & 7) + 1, delta = 0, this_line = line;
    unsigned skip;
    switch (code) {
    case 15: this_line = -1; break;
    case 14:
      if (!read_svarint(t, n, &i, &delta)) return line;
      line += delta, this_line = line;
      for (int k = 0; k < 3; k++)
        if (!read_varint(t, n, &i, &skip)) return line;
      break;
    case 13:
      if (!read_svarint(t, n, &i, &delta)) return line;
      line += delta, this_line = line;
      break;
    case 12: case 11: case 10:
      line += code - 10, this_line = line;
      i += 2;
      break;
    default: i += 1; break;
    }
    if (lasti >= unit && lasti < unit + len) return this_line;
    unit += len;
  }
  return line;
}

int bg__py_describe(uintptr_t w, char *func, size_t nfunc, char *file, size_t nfile, int *line) {
  const bg__py_layout_t *l = &py.l;
  func[0] = file[0] = 0;
  *line = 0;
  if (!bg__py_is_word(w) || !__atomic_load_n(&bg__py_active, __ATOMIC_ACQUIRE)) return 0;
  uintptr_t code = ((w & ~BG_PY_TAG) >> BG_PY_LASTI_BITS) << 3;
  long lasti = (long)(w & ((1u << BG_PY_LASTI_BITS) - 1));
  size_t need = (size_t)l->co_lines + 8;
  if (l->co_qualname + 8 > (int)need) need = (size_t)l->co_qualname + 8;
  if (!typed(code, py.code_type, need)) {
    if (++py.bad_describes >= 16) { /* layout wrong for this build: stop reading */
      __atomic_store_n(&bg__py_active, 0, __ATOMIC_RELEASE);
      py.unusable = 1;
      snprintf(py.status, sizeof py.status, "CPython 3.%u: frames do not point at code objects "
               "(unusual build?); Python frames turned off", l->minor);
    }
    return 0;
  }
  py.bad_describes = 0;
  uintptr_t name = load_ptr(code, l->co_qualname >= 0 ? l->co_qualname : l->co_name);
  read_str(name, func, nfunc);
  read_str(load_ptr(code, l->co_filename), file, nfile);
  int first;
  memcpy(&first, (const void *)(code + (uintptr_t)l->co_firstlineno), sizeof first);
  uintptr_t tab = load_ptr(code, l->co_lines);
  *line = first;
  if (typed(tab, py.bytes_type, (size_t)l->bytes_sval)) {
    int64_t n;
    memcpy(&n, (const void *)(tab + (uintptr_t)l->bytes_size), 8);
    const uint8_t *t = (const uint8_t *)(tab + (uintptr_t)l->bytes_sval);
    if (n > 0 && n < (1 << 24) && bg__readable(t, (size_t)n)) {
      /* bg__readable refuses spans over 64 pages: long tables are checked in pieces */
      *line = addr2line(t, (size_t)n, first, lasti, l->lines_format);
    } else if (n >= (1 << 24)) {
      *line = first;
    } else {
      size_t ok = 1;
      for (int64_t off = 0; off < n && ok; off += 4096 * 32)
        ok = (size_t)bg__readable(t + off, (size_t)(n - off < 4096 * 32 ? n - off : 4096 * 32));
      if (ok) *line = addr2line(t, (size_t)n, first, lasti, l->lines_format);
    }
  }
  return func[0] != 0;
}
