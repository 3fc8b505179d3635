/* symbolize.h - return addresses → (module, offset) → function, file:line.
 *
 * Two steps with very different costs, used at different times:
 *
 *  1. bg__module_of(pc): which loaded object holds pc, and its offset from the
 *     object's load bias: an append-only table of objects and their address ranges
 *     (dl_iterate_phdr on a miss, no malloc, no dladdr symbol scan).  Done
 *     once per frame when a site is created, so a site keeps naming its frames even if
 *     a library is dlclose'd before the report, and so the site's stable id (call +
 *     module basename + offset per frame) can be computed without ASLR noise.
 *
 *  2. bg__sym_lookup(module path, offset): function name from the ELF symbol table and
 *     file:line from DWARF, through elfutils' libdwfl.  libdw is dlopen'ed on first use
 *     (not linked): processes that never write a report never load it, and a machine
 *     without libdw1 still gets function/module/offset from dladdr.  Runs at report
 *     time, or at site creation only when an allowlist rule needs function names.
 *
 * The offset is pc minus the object's load bias (link_map l_addr), i.e. the ELF
 * virtual address: for PIE executables and shared libraries that is the usual
 * "module+0x..." offset, for non-PIE executables it equals the pc.  Either way
 * `addr2line -e MODULE OFFSET` and the symbolizer here read it the same way, in the
 * process or offline (the CLI).
 */
#ifndef BG_SYMBOLIZE_H
#define BG_SYMBOLIZE_H
#include <stddef.h>
#include <stdint.h>

#define BG_NO_MODULE 0xFFFFu

/* Module index of pc (a return address) and *offset = pc - load bias, or BG_NO_MODULE
 * (JIT code, unmapped).  Thread-safe; takes a lock only to add a new module. */
unsigned bg__module_of(uintptr_t pc, uintptr_t *offset);
/* Call once before resolving a new site's frames: notices unloaded objects. */
void bg__modules_sync(void);
const char *bg__module_path(unsigned idx); /* full path; "" for BG_NO_MODULE */
const char *bg__module_base(unsigned idx); /* basename */
uintptr_t bg__module_bias(unsigned idx);   /* load bias at the time it was seen */

typedef struct bg__sym {
  char function[256]; /* "" when unknown */
  char file[1024];    /* "" when unknown */
  int line;           /* 0 when unknown */
} bg__sym_t;

/* Symbolizes the return address at `offset` in the object at `path` (looks up
 * offset-1 so a call at the very end of a function is attributed to it).  Fills what
 * it can; returns 1 when a function name was found.  Thread-safe (one lock). */
int bg__sym_lookup(const char *path, uintptr_t offset, bg__sym_t *out);
/* Same, for an object that ran with GNU build id `id` (idlen bytes; 0: unknown): 1
 * found, 0 nothing found, -1 the file at path is another build (nothing filled). */
int bg__sym_lookup_id(const char *path, const unsigned char *id, int idlen, uintptr_t offset,
                      bg__sym_t *out, int want_line);
/* Same for a live pc: module table + lookup, dladdr's dynamic symbol as fallback.
 * want_line=0 skips the line table (rule matching needs function names only); 1 reads
 * it where that is cheap (not from compressed debug files: see symbolize.c, "what a
 * line table costs"), BG_SYM_LINES_ALWAYS everywhere. */
#define BG_SYM_LINES_ALWAYS 2
int bg__sym_pc(uintptr_t pc, unsigned mod, uintptr_t offset, bg__sym_t *out, int want_line);
/* C++ names: "_ZN2v82V818SetFlagsFromStringEPKc" → "v8::V8::SetFlagsFromString(char
 * const*)" through libstdc++'s __cxa_demangle (found in the process, else libstdc++.so.6
 * loaded on first use, like libdw).  Anything else, or a failure, is copied as is.
 * Returns 1 when out differs from in. */
int bg__sym_demangle(const char *in, char *out, size_t n);
/* Is libdw usable (for tests and the report's notes)? */
int bg__sym_have_dwarf(void);
/* For tests: function names from the symbol index against libdw's own lookup at
 * `samples` addresses of the object at path: the number that differ (-1: no symbols). */
int bg__sym_check_index(const char *path, int samples, char *diff, size_t n);
/* Child after fork: locks re-initialised (another thread may have held them). */
void bg__sym_after_fork(void);
#endif
