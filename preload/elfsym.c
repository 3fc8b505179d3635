/* elfsym.c - symbol lookup in loaded objects' own tables, without dlsym.
 *
 * The shim needs ~250 real functions at start-up.  dlsym(RTLD_NEXT) costs ~1,400
 * instructions each (error catching with setjmp, the caller's object, the scope walk),
 * about a third of what a small program like /bin/true runs in total.  The dynamic
 * loader has already mapped every object and its symbol tables, so the same answer
 * is a GNU-hash probe per object: ~100 instructions.
 *
 * What is searched is what dlsym(RTLD_NEXT) from the shim searches, as far as the
 * public link_map lets us see it: the objects after ours in load order.  For objects
 * loaded at start-up (the program's preloads and dependencies) load order is the
 * global search order.  The walk stops at libc: every wrapped name is defined there,
 * and everything up to libc was loaded at start-up (the list is append-only and libc
 * is always an initial object), so a dlopen'ed RTLD_LOCAL object, which dlsym would
 * not search, is never looked at.  Anything unusual (not found by then, an IFUNC, a
 * shim that was itself dlopen'ed after libc) returns NULL and the caller asks dlsym.
 *
 * Matching follows the dynamic loader's rules (elf/dl-lookup.c, do_lookup_x): a
 * defined FUNC/OBJECT/NOTYPE symbol; without a version, the default (non-hidden)
 * version, or the only version an object has; with a version, that version's name.
 *
 * Everything here only reads memory the loader mapped and never changes: no lock, no
 * allocation, safe in a constructor that runs before libc is fully set up, and from a
 * signal handler.  The table of objects is built once (first caller wins the race;
 * others walk without it meanwhile).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>

#include "preload/preload.h"

typedef struct elfobj {
  uintptr_t base;            /* l_addr */
  const ElfW(Sym) *symtab;
  const char *strtab;
  const uint32_t *gnu_hash;  /* DT_GNU_HASH, or NULL */
  const uint32_t *sysv_hash; /* DT_HASH when there is no GNU hash */
  const ElfW(Half) *versym;  /* DT_VERSYM, or NULL (unversioned object) */
  const ElfW(Verdef) *verdef;
  int is_libc;
} elfobj_t;

#define MAX_NEXT 32
static elfobj_t next_objs[MAX_NEXT]; /* the objects after the shim, up to libc */
static int nnext;
static elfobj_t self_obj;
static int table_state; /* 0 not built, 1 building, 2 built, 3 unusable */

/* d_ptr values are relocated in place by ld.so on x86-64; a value below the load
 * address (a read-only .dynamic elsewhere) still needs the bias. */
static const void *dynptr(uintptr_t base, ElfW(Addr) p) {
  return (const void *)(p < base ? p + base : p);
}

static int parse(const struct link_map *l, elfobj_t *o) {
  *o = (elfobj_t){.base = l->l_addr};
  if (!l->l_ld) return -1;
  for (const ElfW(Dyn) *d = l->l_ld; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
    case DT_SYMTAB: o->symtab = dynptr(o->base, d->d_un.d_ptr); break;
    case DT_STRTAB: o->strtab = dynptr(o->base, d->d_un.d_ptr); break;
    case DT_GNU_HASH: o->gnu_hash = dynptr(o->base, d->d_un.d_ptr); break;
    case DT_HASH: o->sysv_hash = dynptr(o->base, d->d_un.d_ptr); break;
    case DT_VERSYM: o->versym = dynptr(o->base, d->d_un.d_ptr); break;
    case DT_VERDEF: o->verdef = dynptr(o->base, d->d_un.d_ptr); break;
    default: break;
    }
  }
  if (l->l_name) { /* basename starts with "libc.so" */
    const char *b = l->l_name;
    for (const char *p = b; *p; p++)
      if (*p == '/') b = p + 1;
    const char *want = "libc.so";
    while (*want && *b == *want) b++, want++;
    o->is_libc = !*want;
  }
  return o->symtab && o->strtab && (o->gnu_hash || o->sysv_hash) ? 0 : -1;
}

static uint32_t gnu_hash(const char *s) {
  uint32_t h = 5381;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = h * 33 + *p;
  return h;
}

static uint32_t sysv_hash(const char *s) {
  uint32_t h = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h = (h << 4) + *p;
    uint32_t g = h & 0xf0000000u;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  return h;
}

/* Name of version index ndx in the object's version definitions, or NULL. */
static const char *verdef_name(const elfobj_t *o, unsigned ndx) {
  const ElfW(Verdef) *vd = o->verdef;
  while (vd) {
    if (vd->vd_ndx == ndx) {
      const ElfW(Verdaux) *a = (const ElfW(Verdaux) *)((const char *)vd + vd->vd_aux);
      return o->strtab + a->vda_name;
    }
    if (!vd->vd_next) break;
    vd = (const ElfW(Verdef) *)((const char *)vd + vd->vd_next);
  }
  return NULL;
}

typedef struct match {
  const ElfW(Sym) *sym;  /* the accepted definition */
  const ElfW(Sym) *only; /* a hidden (non-default) one, accepted if it is the only one */
  int hidden;            /* how many hidden versions were seen */
} match_t;

/* One candidate symbol (name already compared).  Returns 1 when it is the answer. */
static int consider(const elfobj_t *o, uint32_t i, const char *version, match_t *m) {
  const ElfW(Sym) *s = &o->symtab[i];
  int type = ELF64_ST_TYPE(s->st_info);
  if (s->st_shndx == SHN_UNDEF || (s->st_value == 0 && s->st_shndx != SHN_ABS)) return 0;
  if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE && type != STT_GNU_IFUNC)
    return 0;
  int bind = ELF64_ST_BIND(s->st_info);
  if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) return 0;
  if (!o->versym) { /* unversioned object: any request matches, as for ld.so */
    m->sym = s;
    return 1;
  }
  ElfW(Half) v = o->versym[i];
  unsigned ndx = v & 0x7fff;
  if (version) {
    const char *vn = ndx >= 2 ? verdef_name(o, ndx) : NULL;
    if (vn && bg__streq(vn, version)) {
      m->sym = s;
      return 1;
    }
    return 0;
  }
  if (!(v & 0x8000)) {
    m->sym = s;
    return 1;
  }
  if (!m->hidden++) m->only = s;
  return 0;
}

/* Looks name up in one object's own definitions.  *ifunc is set for an IFUNC. */
static const ElfW(Sym) *lookup_obj(const elfobj_t *o, const char *name, uint32_t gh,
                                   const char *version) {
  match_t m = {NULL, NULL, 0};
  if (o->gnu_hash) {
    const uint32_t *h = o->gnu_hash;
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2], shift = h[3];
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(h + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    if (!nbuckets || !bloom_size) return NULL;
    const unsigned bits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(gh / bits) & (bloom_size - 1)];
    ElfW(Addr) mask = ((ElfW(Addr))1 << (gh % bits)) | ((ElfW(Addr))1 << ((gh >> shift) % bits));
    if ((word & mask) != mask) return NULL;
    uint32_t i = buckets[gh % nbuckets];
    if (i < symoffset) return NULL;
    for (;; i++) {
      uint32_t h2 = chain[i - symoffset];
      if ((h2 | 1) == (gh | 1) && bg__streq(name, o->strtab + o->symtab[i].st_name) &&
          consider(o, i, version, &m))
        break;
      if (h2 & 1) break;
    }
  } else {
    const uint32_t *h = o->sysv_hash;
    uint32_t nbucket = h[0];
    const uint32_t *bucket = h + 2, *chain = bucket + nbucket;
    if (!nbucket) return NULL;
    for (uint32_t i = bucket[sysv_hash(name) % nbucket]; i != STN_UNDEF; i = chain[i])
      if (bg__streq(name, o->strtab + o->symtab[i].st_name) && consider(o, i, version, &m)) break;
  }
  if (!m.sym && !version && m.hidden == 1) m.sym = m.only; /* the only version it has */
  return m.sym;
}

static int is_vdso(const struct link_map *l) {
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  return vdso && (uintptr_t)l->l_ld >= vdso && (uintptr_t)l->l_ld < vdso + 65536;
}

static const struct link_map *self_map(void) {
  struct dl_find_object f;
  if (_dl_find_object((void *)(uintptr_t)&self_map, &f) != 0) return NULL;
  return f.dlfo_link_map;
}

/* Fills next_objs once.  Returns 1 when the table can be used. */
static int build(void) {
  int st = __atomic_load_n(&table_state, __ATOMIC_ACQUIRE);
  if (st >= 2) return st == 2;
  int zero = 0;
  if (!__atomic_compare_exchange_n(&table_state, &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return 0; /* someone else is building: the caller walks without the table */
  const struct link_map *self = self_map();
  int ok = 0, n = 0;
  if (self && parse(self, &self_obj) == 0) {
    for (const struct link_map *l = self->l_next; l && n < MAX_NEXT; l = l->l_next) {
      if (is_vdso(l)) continue;
      if (parse(l, &next_objs[n]) == 0) n++;
      if (n && next_objs[n - 1].is_libc) {
        ok = 1;
        break;
      }
    }
  }
  nnext = n;
  __atomic_store_n(&table_state, ok ? 2 : 3, __ATOMIC_RELEASE);
  return ok;
}

static void *answer(const elfobj_t *o, const ElfW(Sym) *s) {
  if (!s || ELF64_ST_TYPE(s->st_info) == STT_GNU_IFUNC) return NULL; /* dlsym runs it */
  return (void *)(o->base + s->st_value);
}

void *bg__elf_next(const char *name, const char *version) {
  uint32_t gh = gnu_hash(name);
  if (build()) {
    for (int i = 0; i < nnext; i++) {
      const ElfW(Sym) *s = lookup_obj(&next_objs[i], name, gh, version);
      if (s) return answer(&next_objs[i], s);
    }
    return NULL;
  }
  if (__atomic_load_n(&table_state, __ATOMIC_ACQUIRE) == 3) return NULL;
  /* Being built by another thread (only before our constructor): same walk, no table. */
  const struct link_map *self = self_map();
  for (const struct link_map *l = self ? self->l_next : NULL; l; l = l->l_next) {
    elfobj_t o;
    if (is_vdso(l) || parse(l, &o) < 0) continue;
    const ElfW(Sym) *s = lookup_obj(&o, name, gh, version);
    if (s) return answer(&o, s);
    if (o.is_libc) break;
  }
  return NULL;
}

/* libc's own definition, wherever libc is in the list (the real dlsym and dlvsym are
 * found this way, since asking dlsym is what the shim's own dlsym cannot do). */
void *bg__elf_libc(const char *name, const char *version) {
  static elfobj_t libc_obj;
  static int libc_state; /* 0 unknown, 1 found, -1 none */
  if (!__atomic_load_n(&libc_state, __ATOMIC_ACQUIRE)) {
    const struct link_map *l = self_map();
    while (l && l->l_prev) l = l->l_prev;
    elfobj_t o;
    int st = -1;
    for (; l; l = l->l_next)
      if (!is_vdso(l) && parse(l, &o) == 0 && o.is_libc) {
        libc_obj = o;
        st = 1;
        break;
      }
    __atomic_store_n(&libc_state, st, __ATOMIC_RELEASE);
  }
  if (libc_state < 0) return NULL;
  return answer(&libc_obj, lookup_obj(&libc_obj, name, gnu_hash(name), version));
}

int bg__elf_is_self(const void *p) {
  struct dl_find_object f;
  return _dl_find_object((void *)p, &f) == 0 && f.dlfo_link_map == self_map();
}

int bg__elf_ready(void) { return build() || __atomic_load_n(&table_state, __ATOMIC_ACQUIRE) == 2; }

void *bg__elf_self(const char *name) {
  if (!build() && __atomic_load_n(&table_state, __ATOMIC_ACQUIRE) != 3) return NULL;
  if (!self_obj.symtab) return NULL;
  return answer(&self_obj, lookup_obj(&self_obj, name, gnu_hash(name), NULL));
}
