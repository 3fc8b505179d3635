/* symbolize.c - module table (dladdr) and DWARF symbolization (libdwfl, dlopen'ed).
 *
 * See symbolize.h for the two steps and why the offset is the ELF virtual address.
 *
 * Module table: records in the process's ledger (guard/ledger.h), append-only,
 * published with a release store of the count, so readers never lock and entries never
 * move.  A module is identified by (path, load bias): a library dlclose'd and reloaded
 * elsewhere gets a new entry, and the old sites keep pointing at the old one.  Each
 * record keeps the object's GNU build id, read from its mapped notes.
 *
 * DWARF: one Dwfl per object file, reported at bias 0 so that the lookup address IS
 * the offset - the same code symbolizes a live process, a report file read later by
 * the CLI, and the ledger of another process (bg__sym_lookup_id checks the build id
 * first: a file replaced since the run is not symbolized with the wrong names).  The
 * cache and memo are per process, so the CLI reading a whole tree's ledgers
 * symbolizes each object once.  libdwfl is not thread-safe, so one mutex serialises it; it is only taken
 * on report paths and on site creation when a rule needs function names, never while
 * the registry lock is held.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/ledger.h"
#include "guard/symbolize.h"

/* ---- module table ------------------------------------------------------------------ */
/* The table is the ledger's (guard/ledger.h): fixed records, append-only, published
 * with a release store of the count, paths in the ledger's arena, so a reader in
 * another process can symbolize a frame from (path, build id, offset) alone. */
static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static char exe_path[4096];
static uint64_t mod_epoch; /* dlpi_subs at the last bg__modules_sync */

static const char *exe_name(void) {
  if (!exe_path[0]) {
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (n <= 0) n = 0;
    exe_path[n] = 0;
  }
  return exe_path;
}

static bg__ledger_module_t *mod_table(uint32_t **n, uint32_t *cap) {
  bg__ledger_module_t *t = bg__ledger_modules(cap);
  if (t) *n = &bg__ledger->nmodules;
  return t;
}

static int find_module(bg__ledger_module_t *mods, uint32_t n, uintptr_t bias, const char *path) {
  for (int i = (int)n - 1; i >= 0; i--)
    if (mods[i].bias == bias && !strcmp(bg__ledger_str(mods[i].path), path)) return i;
  return -1;
}

static int read_subs(struct dl_phdr_info *info, size_t size, void *arg) {
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
    *(uint64_t *)arg = info->dlpi_subs;
  return 1; /* the counters are the same in every entry: stop at the first */
}

/* Cached ranges stay valid until an object is unloaded (something else could then be
 * mapped at its addresses): one cheap dl_iterate_phdr step per new site notices. */
void bg__modules_sync(void) {
  uint64_t subs = 0;
  dl_iterate_phdr(read_subs, &subs);
  if (subs != __atomic_load_n(&mod_epoch, __ATOMIC_RELAXED))
    __atomic_store_n(&mod_epoch, subs, __ATOMIC_RELEASE);
}

struct find_ctx {
  uintptr_t pc, bias, lo, hi;
  const char *name;
  unsigned char build_id[31];
  int build_id_len;
  int found;
};

/* The GNU build id from the object's PT_NOTE segments, already mapped: no file I/O.
 * It lets an offline reader check that the file at `path` is still the one that ran. */
static void note_build_id(const struct dl_phdr_info *info, struct find_ctx *c) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
      const char *name = p + sizeof *nh;
      const char *desc = name + ((nh->n_namesz + 3) & ~3u);
      if (desc + nh->n_descsz > end) break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
        c->build_id_len = nh->n_descsz < sizeof c->build_id ? (int)nh->n_descsz : (int)sizeof c->build_id;
        memcpy(c->build_id, desc, (size_t)c->build_id_len);
        return;
      }
      p = desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
}

static int find_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct find_ctx *c = arg;
  uintptr_t lo, hi;
  bg__object_range(info, &lo, &hi);
  /* ld.so reserves an object's whole span, so a pc between its segments is its too */
  if (c->pc < lo || c->pc >= hi) return 0;
  c->bias = info->dlpi_addr;
  c->lo = lo, c->hi = hi;
  c->name = info->dlpi_name;
  note_build_id(info, c);
  c->found = 1;
  return 1;
}

/* dladdr would do, but it also searches the nearest symbol (a linear scan of the
 * object's dynamic symbols): 30x the cost.  Ranges are cached per object instead. */
unsigned bg__module_of(uintptr_t pc, uintptr_t *offset) {
  *offset = pc;
  if (!pc) return BG_NO_MODULE;
  uint32_t *np, cap;
  bg__ledger_module_t *mods = mod_table(&np, &cap);
  if (!mods) return BG_NO_MODULE;
  uintptr_t q = pc - 1; /* a return address: the call instruction is just before it */
  uint64_t epoch = __atomic_load_n(&mod_epoch, __ATOMIC_ACQUIRE);
  uint32_t n = __atomic_load_n(np, __ATOMIC_ACQUIRE);
  for (int i = (int)n - 1; i >= 0; i--) {
    const bg__ledger_module_t *m = &mods[i];
    if (q >= m->lo && q < m->hi && __atomic_load_n(&m->epoch, __ATOMIC_ACQUIRE) == epoch) {
      *offset = pc - m->bias;
      return (unsigned)i;
    }
  }
  struct find_ctx c;
  memset(&c, 0, sizeof c);
  c.pc = q;
  dl_iterate_phdr(find_object, &c);
  if (!c.found) return BG_NO_MODULE;
  const char *path = c.name && c.name[0] ? c.name : exe_name();
  *offset = pc - c.bias;
  pthread_mutex_lock(&mod_lock);
  n = __atomic_load_n(np, __ATOMIC_RELAXED);
  int i = find_module(mods, n, c.bias, path);
  if (i >= 0) { /* seen before an unload: same object, same place, range valid again */
    mods[i].lo = c.lo, mods[i].hi = c.hi;
    __atomic_store_n(&mods[i].epoch, epoch, __ATOMIC_RELEASE);
  } else if (n < cap) {
    uint32_t poff = bg__ledger_strdup(path);
    if (poff) {
      bg__ledger_module_t *m = &mods[n];
      m->bias = c.bias;
      m->lo = c.lo, m->hi = c.hi;
      m->epoch = epoch;
      m->path = poff;
      const char *slash = strrchr(path, '/');
      m->base = poff + (uint32_t)(slash ? (size_t)(slash + 1 - path) : 0);
      m->build_id_len = (uint8_t)c.build_id_len;
      memcpy(m->build_id, c.build_id, sizeof m->build_id);
      i = (int)n;
      __atomic_store_n(np, n + 1, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&mod_lock);
  return i < 0 ? BG_NO_MODULE : (unsigned)i;
}

static const bg__ledger_module_t *module_at(unsigned idx) {
  uint32_t *np, cap;
  bg__ledger_module_t *mods = mod_table(&np, &cap);
  return mods && idx < __atomic_load_n(np, __ATOMIC_ACQUIRE) ? &mods[idx] : NULL;
}
const char *bg__module_path(unsigned idx) {
  const bg__ledger_module_t *m = module_at(idx);
  return m ? bg__ledger_str(m->path) : "";
}
const char *bg__module_base(unsigned idx) {
  const bg__ledger_module_t *m = module_at(idx);
  return m ? bg__ledger_str(m->base) : "";
}
uintptr_t bg__module_bias(unsigned idx) {
  const bg__ledger_module_t *m = module_at(idx);
  return m ? m->bias : 0;
}

/* ---- libdwfl, loaded on first use --------------------------------------------------- */
#define DW_FUNCS(X)                                                                        \
  X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_elf) X(dwfl_report_end)    \
  X(dwfl_module_addrname) X(dwfl_module_getsrc) X(dwfl_lineinfo)                          \
  X(dwfl_build_id_find_debuginfo) X(dwfl_offline_section_address) X(dwfl_module_build_id)
static struct {
#define DW_PTR(f) __typeof__(f) *f;
  DW_FUNCS(DW_PTR)
#undef DW_PTR
} dw;
static int dw_state; /* 0 untried, 1 loaded, -1 unavailable */

#define CACHE_MODULES 64
typedef struct dw_entry {
  char path[1024];
  Dwfl *dwfl;
  Dwfl_Module *mod; /* NULL: the file could not be read (cached failure) */
  int idlen;        /* the file's GNU build id; -1: not read yet, 0: none */
  unsigned char id[32];
} dw_entry_t;
static dw_entry_t dwcache[CACHE_MODULES];
static int ndwcache, dwcache_next;
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static char *debuginfo_path;
static Dwfl_Callbacks callbacks;

/* Separate debug files are looked up by build id only (/usr/lib/debug/.build-id, where
 * Debian's -dbgsym packages put them).  Not dwfl_standard_find_debuginfo: it ends with
 * a debuginfod query, and libdw 0.188 dlopens libdebuginfod, which initialises
 * libcurl, libssh2 and OpenSSL inside the program - at exit, after the program's own
 * OpenSSL cleanup had run, that crashed CPython (test_asyncio, SIGSEGV in
 * CRYPTO_THREAD_write_lock) - and with DEBUGINFOD_URLS set would go to the network. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name) {
  return dw.dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                         debuglink_crc, debuginfo_file_name);
}

static int dw_load(void) {
  if (dw_state) return dw_state > 0;
  dw_state = -1;
  void *h = bg__dlopen_quiet("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return 0;
#define DW_SYM(f) if (!(dw.f = (__typeof__(f) *)bg__dlsym_quiet(h, #f))) return 0;
  DW_FUNCS(DW_SYM)
#undef DW_SYM
  callbacks.find_debuginfo = find_debuginfo;
  callbacks.section_address = dw.dwfl_offline_section_address;
  callbacks.debuginfo_path = &debuginfo_path;
  dw_state = 1;
  return 1;
}

int bg__sym_have_dwarf(void) {
  bg__self.depth++;
  pthread_mutex_lock(&sym_lock);
  int ok = dw_load();
  pthread_mutex_unlock(&sym_lock);
  bg__self.depth--;
  return ok;
}

static dw_entry_t *dw_entry(const char *path) {
  for (int i = 0; i < ndwcache; i++)
    if (!strcmp(dwcache[i].path, path)) return &dwcache[i];
  if (strlen(path) >= sizeof dwcache[0].path) return NULL;
  dw_entry_t *e;
  if (ndwcache < CACHE_MODULES) {
    e = &dwcache[ndwcache++];
  } else { /* full: recycle round robin (rare: more than 64 objects in stacks) */
    e = &dwcache[dwcache_next];
    dwcache_next = (dwcache_next + 1) % CACHE_MODULES;
    if (e->dwfl) dw.dwfl_end(e->dwfl);
  }
  snprintf(e->path, sizeof e->path, "%s", path);
  e->mod = NULL;
  e->idlen = -1;
  e->dwfl = dw.dwfl_begin(&callbacks);
  if (e->dwfl) {
    dw.dwfl_report_begin(e->dwfl);
    const char *base = strrchr(path, '/');
    e->mod = dw.dwfl_report_elf(e->dwfl, base ? base + 1 : path, path, -1, 0, false);
    dw.dwfl_report_end(e->dwfl, NULL, NULL);
  }
  return e;
}

static Dwfl_Module *dw_module(const char *path) {
  dw_entry_t *e = dw_entry(path);
  return e ? e->mod : NULL;
}

/* Is the file at `path` still the object that ran (same GNU build id)?  A program
 * rebuilt or upgraded between the run and the report would otherwise get another
 * build's names.  Objects without a build id (either side) cannot be checked: yes. */
static int same_build(const char *path, const unsigned char *id, int idlen) {
  if (!id || idlen <= 0 || !dw_load()) return 1;
  dw_entry_t *e = dw_entry(path);
  if (!e || !e->mod) return 1; /* unreadable: the lookup finds nothing anyway */
  if (e->idlen < 0) {
    const unsigned char *bits = NULL;
    GElf_Addr va;
    int n = dw.dwfl_module_build_id(e->mod, &bits, &va);
    e->idlen = n > 0 && bits ? (n < (int)sizeof e->id ? n : (int)sizeof e->id) : 0;
    if (e->idlen) memcpy(e->id, bits, (size_t)e->idlen);
  }
  if (!e->idlen) return 1;
  int cmp = idlen < e->idlen ? idlen : e->idlen;
  return !memcmp(e->id, id, (size_t)cmp);
}

/* ---- lookup memo ------------------------------------------------------------------- */
/* Every report symbolizes every frame of every site, and the live dashboard asks for a
 * report each second: with libdwfl a lookup costs tens to hundreds of microseconds
 * (line tables, debuginfo search), i.e. ~1 ms per site.  A frame's meaning never
 * changes while its object is the same file, so results are remembered per (path,
 * offset, want_line).  Bounded: past MEMO_MAX entries lookups simply go uncached.
 * Guarded by sym_lock like the rest of the libdwfl state. */
#define MEMO_SLOTS 16384 /* power of two */
#define MEMO_MAX (MEMO_SLOTS / 4 * 3)
typedef struct memo {
  uint64_t hash;
  uintptr_t offset;
  int want_line, line;
  char *path, *function, *file;
} memo_t;
static memo_t *memo[MEMO_SLOTS];
static int nmemo;

static uint64_t memo_hash(const char *path, uintptr_t offset, int want_line) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = path; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return (h ^ offset * 0x9E3779B97F4A7C15ull) + (uint64_t)want_line;
}

static memo_t **memo_slot(uint64_t h, const char *path, uintptr_t offset, int want_line) {
  for (size_t i = h & (MEMO_SLOTS - 1);; i = (i + 1) & (MEMO_SLOTS - 1)) {
    memo_t *e = memo[i];
    if (!e || (e->hash == h && e->offset == offset && e->want_line == want_line &&
               !strcmp(e->path, path)))
      return &memo[i];
  }
}

static void memo_put(memo_t **slot, uint64_t h, const char *path, uintptr_t offset,
                     int want_line, const bg__sym_t *sym) {
  if (nmemo >= MEMO_MAX) return;
  memo_t *e = malloc(sizeof *e);
  if (!e) return;
  e->path = strdup(path);
  e->function = strdup(sym->function);
  e->file = strdup(sym->file);
  if (!e->path || !e->function || !e->file) {
    free(e->path), free(e->function), free(e->file), free(e);
    return;
  }
  e->hash = h, e->offset = offset, e->want_line = want_line, e->line = sym->line;
  *slot = e;
  nmemo++;
}

static int lookup(const char *path, const unsigned char *id, int idlen, uintptr_t offset,
                  bg__sym_t *out, int want_line) {
  out->function[0] = out->file[0] = 0;
  out->line = 0;
  if (!path || !path[0] || !offset) return 0;
  bg__self.depth++; /* libdw opens and reads files: never count that */
  pthread_mutex_lock(&sym_lock);
  if (!same_build(path, id, idlen)) {
    pthread_mutex_unlock(&sym_lock);
    bg__self.depth--;
    return -1;
  }
  uint64_t h = memo_hash(path, offset, want_line);
  memo_t **slot = memo_slot(h, path, offset, want_line);
  if (*slot) {
    snprintf(out->function, sizeof out->function, "%s", (*slot)->function);
    snprintf(out->file, sizeof out->file, "%s", (*slot)->file);
    out->line = (*slot)->line;
    pthread_mutex_unlock(&sym_lock);
    bg__self.depth--;
    return out->function[0] != 0;
  }
  Dwfl_Module *m = dw_load() ? dw_module(path) : NULL;
  if (m) {
    Dwarf_Addr a = offset - 1;
    const char *fn = dw.dwfl_module_addrname(m, a);
    if (fn) { /* "memcpy@@GLIBC_2.14" → "memcpy": versions are noise in reports/rules */
      size_t l = strcspn(fn, "@");
      snprintf(out->function, sizeof out->function, "%.*s", (int)l, fn);
    }
    Dwfl_Line *l = want_line ? dw.dwfl_module_getsrc(m, a) : NULL;
    int line = 0;
    const char *file = l ? dw.dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
    if (file) {
      snprintf(out->file, sizeof out->file, "%s", file);
      out->line = line;
    }
  }
  memo_put(slot, h, path, offset, want_line, out);
  pthread_mutex_unlock(&sym_lock);
  bg__self.depth--;
  return out->function[0] != 0;
}

int bg__sym_lookup(const char *path, uintptr_t offset, bg__sym_t *out) {
  return lookup(path, NULL, 0, offset, out, 1) > 0;
}

int bg__sym_lookup_id(const char *path, const unsigned char *id, int idlen, uintptr_t offset,
                      bg__sym_t *out, int want_line) {
  return lookup(path, id, idlen, offset, out, want_line);
}

int bg__sym_pc(uintptr_t pc, unsigned mod, uintptr_t offset, bg__sym_t *out, int want_line) {
  const bg__ledger_module_t *m = module_at(mod);
  if (lookup(bg__module_path(mod), m ? m->build_id : NULL, m ? m->build_id_len : 0, offset, out,
             want_line) > 0)
    return 1;
  /* No symbol table entry (stripped, or no libdw): the dynamic symbol, if the object
   * is still mapped where it was when the site was recorded. */
  Dl_info di;
  struct link_map *lm = NULL;
  if (pc && dladdr1((void *)(pc - 1), &di, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
      lm->l_addr == bg__module_bias(mod) && di.dli_sname) {
    snprintf(out->function, sizeof out->function, "%s", di.dli_sname);
    return 1;
  }
  return 0;
}

/* ---- C++ demangling ------------------------------------------------------------------ */
typedef char *(*cxa_demangle_fn)(const char *, char *, size_t *, int *);
static cxa_demangle_fn cxa_demangle;
static int cxa_state; /* 0 untried, 1 found, -1 unavailable */
static pthread_mutex_t cxa_lock = PTHREAD_MUTEX_INITIALIZER;

static cxa_demangle_fn demangler(void) {
  int st = __atomic_load_n(&cxa_state, __ATOMIC_ACQUIRE);
  if (st) return st > 0 ? cxa_demangle : NULL;
  pthread_mutex_lock(&cxa_lock);
  if (!cxa_state) {
    void *f = bg__dlsym_quiet(RTLD_DEFAULT, "__cxa_demangle");
    if (!f) {
      void *h = bg__dlopen_quiet("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
      f = h ? bg__dlsym_quiet(h, "__cxa_demangle") : NULL;
    }
    cxa_demangle = (cxa_demangle_fn)f;
    __atomic_store_n(&cxa_state, f ? 1 : -1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&cxa_lock);
  return cxa_demangle;
}

int bg__sym_demangle(const char *in, char *out, size_t n) {
  if (!n) return 0;
  snprintf(out, n, "%s", in ? in : "");
  if (!in || strncmp(in, "_Z", 2)) return 0;
  bg__self.depth++; /* dlopen, malloc: never the program's calls */
  cxa_demangle_fn d = demangler();
  int status = -1;
  char *r = d ? d(in, NULL, NULL, &status) : NULL;
  int ok = r && status == 0;
  if (ok) snprintf(out, n, "%s", r);
  free(r);
  bg__self.depth--;
  return ok;
}

void bg__sym_after_fork(void) {
  /* A lock held at fork time belongs to a thread the child does not have: re-create
   * it, and if it guarded libdwfl state, forget that state (it may be half-updated). */
  if (pthread_mutex_trylock(&sym_lock) == 0) {
    pthread_mutex_unlock(&sym_lock);
  } else {
    pthread_mutex_init(&sym_lock, NULL);
    ndwcache = 0;
    dwcache_next = 0;
    memset(memo, 0, sizeof memo); /* possibly half-inserted: start over (leaked) */
    nmemo = 0;
  }
  if (pthread_mutex_trylock(&cxa_lock) == 0)
    pthread_mutex_unlock(&cxa_lock);
  else
    pthread_mutex_init(&cxa_lock, NULL);
  if (pthread_mutex_trylock(&mod_lock) == 0)
    pthread_mutex_unlock(&mod_lock);
  else
    pthread_mutex_init(&mod_lock, NULL);
}
