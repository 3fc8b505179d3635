/* resolve.c - every real function the shim calls, resolved without dlsym.
 *
 * Each real pointer of the shim (one per calls.def row in wrappers.c, one per
 * BG_REAL_FN in the hand-written wrappers, _exit, dlsym...) is described by a
 * bg__real_t {name, slot} placed in the bg_real section, so this file sees them all
 * without a hand-kept list.
 *
 * Resolution is lazy: a slot resolves itself the first time its wrapper needs it,
 * through preload/elfsym.c - a GNU-hash probe of the objects after the shim, which
 * only reads what the loader mapped (no lock, no allocation), so it is safe from a
 * signal handler and before our constructor.  A program pays only for the calls it
 * makes (/bin/true makes none), where resolving all ~250 names with dlsym cost ~1,400
 * instructions each at start-up.  The constructor checks that elfsym can answer
 * (libc found after the shim, the usual case); when it cannot (the shim dlopen'ed
 * after libc, an exotic loader) every slot is filled eagerly with dlsym there, as
 * before, so no dlsym ever runs later, possibly in a signal handler.
 *
 * The same table answers "is this name wrapped, and what is its real function?" for
 * the dlsym/dlvsym wrappers (preload/dlsym.c): a hash over the names, built on the
 * first such question.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "preload/preload.h"

extern const bg__real_t __start_bg_real[] __attribute__((visibility("hidden")));
extern const bg__real_t __stop_bg_real[] __attribute__((visibility("hidden")));

#define HASH_SLOTS 1024 /* power of two, > 2x the descriptors */
static uint16_t hash_tab[HASH_SLOTS]; /* descriptor index + 1, 0 = empty */
static int hash_ready;

static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 16777619u;
  return h;
}

static int ndesc(void) { return (int)(__stop_bg_real - __start_bg_real); }

void *bg__resolve_ver(const char *name, const char *version) {
  void *p = bg__elf_next(name, version);
  if (p) return p;
  if (version && (p = dlvsym(RTLD_NEXT, name, version))) return p;
  return dlsym(RTLD_NEXT, name);
}

void *bg__resolve(const char *name) { return bg__resolve_ver(name, bg__symver(name)); }

static void hash_build(void) {
  static int building;
  int n = ndesc();
  _Static_assert(HASH_SLOTS < 65536, "uint16 slots");
  if (n * 2 > HASH_SLOTS) return; /* lookups stay linear: never wrong, only slower */
  if (__atomic_exchange_n(&building, 1, __ATOMIC_ACQ_REL)) return; /* another thread */
  for (int i = 0; i < n; i++) {
    uint32_t j = name_hash(__start_bg_real[i].name) & (HASH_SLOTS - 1);
    while (hash_tab[j]) j = (j + 1) & (HASH_SLOTS - 1);
    hash_tab[j] = (uint16_t)(i + 1);
  }
  __atomic_store_n(&hash_ready, 1, __ATOMIC_RELEASE);
}

const bg__real_t *bg__real_find(const char *name) {
  if (!__atomic_load_n(&hash_ready, __ATOMIC_ACQUIRE)) hash_build();
  if (__atomic_load_n(&hash_ready, __ATOMIC_ACQUIRE)) {
    for (uint32_t j = name_hash(name) & (HASH_SLOTS - 1); hash_tab[j]; j = (j + 1) & (HASH_SLOTS - 1)) {
      const bg__real_t *d = &__start_bg_real[hash_tab[j] - 1];
      if (bg__streq(d->name, name)) return d;
    }
    return NULL;
  }
  for (const bg__real_t *d = __start_bg_real; d < __stop_bg_real; d++)
    if (bg__streq(d->name, name)) return d;
  return NULL;
}

/* In the constructor: nothing to do when elfsym can answer lazily; otherwise every
 * slot now, with dlsym, at the version calls.def asks for.  A name that cannot be
 * resolved is left as it is (lazy resolver or NULL): fatal only if the program calls
 * it. */
void bg__resolve_all(void) {
  if (bg__elf_ready()) return;
  for (const bg__real_t *d = __start_bg_real; d < __stop_bg_real; d++) {
    const char *v = bg__symver(d->name);
    void *p = v ? dlvsym(RTLD_NEXT, d->name, v) : NULL;
    if (!p) p = dlsym(RTLD_NEXT, d->name);
    if (p) __atomic_store_n(d->slot, p, __ATOMIC_RELEASE);
  }
}
