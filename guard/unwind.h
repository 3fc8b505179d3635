/* unwind.h - return addresses of the running thread's stack, from DWARF CFI.
 *
 * The stack of every violation is captured, so this is on the violation path: a walk
 * costs ~20 instructions a frame once each return address has been seen (a lock-free
 * cache maps it to a compact rule: where the caller's stack pointer, return address
 * and frame pointer are), and parses the object's .eh_frame only the first time.  It
 * takes no lock, allocates nothing and makes no system call on the cached path, so it
 * is safe in a signal handler, in a fork child, and in a thread that another thread
 * stopped anywhere (guard/unwind.c says why libunwind could not be used here).
 */
#ifndef BG_UNWIND_H
#define BG_UNWIND_H
#include <stdint.h>

#include "guard/guard.h"

/* Walks up from frame f: records f.pc, then the return address of each caller, up to
 * max.  Leading frames for which skip(pc) is true are walked through but not recorded
 * (the shim's own).  Returns the number recorded. */
int bg__unwind(const bg__frame_t *f, uintptr_t *pcs, int max, int (*skip)(uintptr_t pc));

/* The same, also giving the rule applied at each frame (rules[i] for pcs[i]) and
 * whether the walk ended by itself (1) or at max (0): what bg__unwind_verify needs to
 * recognise the same stack again. */
int bg__unwind_ex(const bg__frame_t *f, uintptr_t *pcs, uint64_t *rules, int max,
                  int (*skip)(uintptr_t pc), int *ended);
/* 1 when the stack from f is exactly pcs[0..n), walked with the rules recorded then
 * (no cache lookup: ~15 instructions a frame).  A known site's stack is verified this
 * way instead of captured and hashed again (guard/sites.c). */
int bg__unwind_verify(const bg__frame_t *f, const uintptr_t *pcs, const uint64_t *rules, int n,
                      int ended);
/* Bumped whenever cached rules are dropped (an object unloaded: dlclose), so that rules
 * remembered elsewhere are dropped too. */
extern uint32_t bg__unwind_gen;

/* Statistics for tests and the bench (approximate under concurrency). */
typedef struct bg__unwind_stats {
  uint64_t misses, parse_fail, validated_reads;
} bg__unwind_stats_t;
void bg__unwind_stats(bg__unwind_stats_t *out);
void bg__unwind_flush(void); /* forget every cached rule (dlclose, tests) */
#endif
