/* custom_mem.c - unmapping and protection changes, followed for the readability cache.
 *
 * The Python frame reader (guard/lang_py.c) checks every pointer against a cache of
 * pages known readable (guard/readable.c), so the violation path makes no system call.
 * A page the program unmaps or makes unreadable must leave that cache: these three
 * BG_TRACK rows tell it, before the call (so no reader adds the page back from the
 * stale answer after it) and after (in case one did meanwhile).  They never block,
 * never report, and cost one load and a branch while the cache is empty - always,
 * outside programs whose Python frames were read.  Result and errno are the real
 * call's.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "guard/readable.h"
#include "preload/preload.h"

typedef int (*munmap_fn)(void *, size_t);
typedef int (*mprotect_fn)(void *, size_t, int);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);

BG_REAL_FN(munmap_fn, munmap)
BG_REAL_FN(mprotect_fn, mprotect)
BG_REAL_FN(mremap_fn, mremap)

static inline void forget(void *p, size_t n) {
  if (BG_UNLIKELY(__atomic_load_n(&bg__readable_used, __ATOMIC_RELAXED)))
    bg__readable_forget(p, n); /* plain memory operations: errno untouched */
}

BG_EXPORT int munmap(void *addr, size_t len) {
  forget(addr, len);
  int r = bg__get_munmap()(addr, len);
  forget(addr, len);
  return r;
}

BG_EXPORT int mprotect(void *addr, size_t len, int prot) {
  if (!(prot & PROT_READ)) forget(addr, len);
  int r = bg__get_mprotect()(addr, len, prot);
  if (!(prot & PROT_READ)) forget(addr, len);
  return r;
}

BG_EXPORT void *mremap(void *old, size_t old_size, size_t new_size, int flags, ...) {
  void *new_address = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_address = va_arg(ap, void *);
    va_end(ap);
  }
  forget(old, old_size);
  void *r = bg__get_mremap()(old, old_size, new_size, flags, new_address);
  forget(old, old_size);
  return r;
}
