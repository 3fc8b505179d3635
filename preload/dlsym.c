/* dlsym.c - dlsym/dlvsym: a wrapped function looked up by name is the guarded one.
 *
 * A program that takes a libc function through a handle - ctypes'
 * CDLL("libc.so.6").sleep, a plugin host's dlsym(dlopen("libc.so.6"), "read") - gets
 * libc's own address and would bypass the shim.  So for a name the shim wraps (every
 * bg_real descriptor: calls.def rows, hand-written and tracking wrappers, dlsym
 * itself) looked up through an explicit handle, the answer is translated: when libc's
 * function comes back, the shim's exported wrapper of that name is returned instead.
 * Anything else (a library's own function of that name, a name we do not wrap) is
 * returned untouched.
 *
 * What must not change is *who asks*.  glibc takes the caller from dlsym's return
 * address: RTLD_NEXT searches the objects after the caller's, RTLD_DEFAULT the
 * caller's scope (a dlopen'ed RTLD_LOCAL library sees its own dependencies).  A C
 * wrapper that calls the real dlsym would make every lookup the shim's: a library
 * that wraps read() itself and asks dlsym(RTLD_NEXT, "read") for the next one would
 * get its own read back and recurse forever.  So dlsym and dlvsym are two small
 * assembly entry points that ask bg__dlsym_route which function should answer and
 * *jump* to it with the caller's return address still on the stack:
 *   - RTLD_NEXT, RTLD_DEFAULT, or a name we do not wrap: libc's dlsym, exactly as
 *     without the shim.  These need no translation: a program (or a library before
 *     us) that asks RTLD_NEXT or RTLD_DEFAULT already gets the shim's wrapper, because
 *     the shim comes before libc in the search order; a library after the shim asking
 *     RTLD_NEXT wants what comes after itself, and gets it.
 *   - an explicit handle and a wrapped name: bg__dlsym_handle, which calls libc's
 *     dlsym and translates.  The result of a lookup by handle does not depend on the
 *     caller; the only trace of the caller glibc keeps is a dependency it records so
 *     that the object found stays loaded while the caller is: here that is libc
 *     (never unloaded), or an object defining a libc name itself, which the shim then
 *     keeps loaded until exit.
 * The real dlsym/dlvsym are found in libc's symbol table directly (preload/elfsym.c):
 * asking dlsym for them would ask us.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "preload/preload.h"

typedef void *(*dlsym_fn)(void *, const char *);
typedef void *(*dlvsym_fn)(void *, const char *, const char *);

/* Not BG_REAL_FN: these must come from libc itself (see above), whatever is loaded
 * between us and libc.  The descriptors make dlsym(libc, "dlsym") return ours too. */
static dlsym_fn real_dlsym;
static dlvsym_fn real_dlvsym;
BG__REAL_DESC(dlsym, "dlsym", &real_dlsym)
BG__REAL_DESC(dlvsym, "dlvsym", &real_dlvsym)

static dlsym_fn get_dlsym(void) {
  dlsym_fn f = __atomic_load_n(&real_dlsym, __ATOMIC_ACQUIRE);
  if (BG_UNLIKELY(!f)) {
    if (!(f = (dlsym_fn)bg__elf_libc("dlsym", NULL))) bg__die_unresolved("dlsym");
    __atomic_store_n(&real_dlsym, f, __ATOMIC_RELEASE);
  }
  return f;
}

static dlvsym_fn get_dlvsym(void) {
  dlvsym_fn f = __atomic_load_n(&real_dlvsym, __ATOMIC_ACQUIRE);
  if (BG_UNLIKELY(!f)) {
    if (!(f = (dlvsym_fn)bg__elf_libc("dlvsym", NULL))) bg__die_unresolved("dlvsym");
    __atomic_store_n(&real_dlvsym, f, __ATOMIC_RELEASE);
  }
  return f;
}

/* The real function the shim calls for d: its slot once resolved (a lazy resolver
 * still in place lies in our own text, and does not count). */
static void *real_of(const bg__real_t *d) {
  void *p = __atomic_load_n(d->slot, __ATOMIC_ACQUIRE);
  if (!p || bg__elf_is_self(p)) p = bg__resolve(d->name);
  return p;
}

/* found is what libc's dlsym answered for name: the shim's wrapper when that is the
 * function the wrapper calls, found itself otherwise. */
static void *translate(const char *name, void *found) {
  if (!found) return found;
  const bg__real_t *d = bg__real_find(name);
  if (!d || found != real_of(d)) return found;
  void *w = bg__elf_self(name);
  return w ? w : found;
}

static void *bg__dlsym_handle(void *handle, const char *name) {
  return translate(name, get_dlsym()(handle, name));
}

static void *bg__dlvsym_handle(void *handle, const char *name, const char *version) {
  return translate(name, get_dlvsym()(handle, name, version));
}

static int pass_through(void *handle, const char *name) {
  return handle == RTLD_NEXT || handle == RTLD_DEFAULT || !name || !bg__real_find(name);
}

/* Which function answers (called by the entry points below, which jump to it). */
BG_HIDDEN void *bg__dlsym_route(void *handle, const char *name);
BG_HIDDEN void *bg__dlvsym_route(void *handle, const char *name);
void *bg__dlsym_route(void *handle, const char *name) {
  return pass_through(handle, name) ? (void *)get_dlsym() : (void *)bg__dlsym_handle;
}

void *bg__dlvsym_route(void *handle, const char *name) {
  return pass_through(handle, name) ? (void *)get_dlvsym() : (void *)bg__dlvsym_handle;
}

/* The exported entry points: arguments saved, the route asked, arguments restored,
 * then a jump, so the function that answers sees the program's return address. */
__asm__(".text\n"
        ".globl dlsym\n"
        ".type dlsym, @function\n"
        "dlsym:\n"
        ".cfi_startproc\n"
        "  push %rdi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  push %rsi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  sub $8, %rsp\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  call bg__dlsym_route\n"
        "  add $8, %rsp\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  pop %rsi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  pop %rdi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  jmp *%rax\n"
        ".cfi_endproc\n"
        ".size dlsym, .-dlsym\n"
        "\n"
        ".globl dlvsym\n"
        ".type dlvsym, @function\n"
        "dlvsym:\n"
        ".cfi_startproc\n"
        "  push %rdi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  push %rsi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  push %rdx\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  call bg__dlvsym_route\n"
        "  pop %rdx\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  pop %rsi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  pop %rdi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  jmp *%rax\n"
        ".cfi_endproc\n"
        ".size dlvsym, .-dlvsym\n");
