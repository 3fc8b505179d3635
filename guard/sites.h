/* sites.h - the site registry: one entry per (wrapped call, stack) that violated.
 *
 * Hot path (a violation at a known site): capture the return addresses, hash them,
 * find the site in a small per-thread cache, bump atomics.  No lock, no allocation,
 * no symbolization.  A new site resolves each frame to (module, offset) with dladdr,
 * computes the stable id and lets the allowlist decide (bg__site_decide) - all before
 * taking the registry lock, because dladdr and the symbolizer take the dynamic
 * loader's lock, and a thread inside dlopen (holding that lock) can itself violate and
 * wait for ours.  The lock is then held only for the uthash find/insert (buckets come
 * from mmap, so the path stays free of malloc).  Site memory is a fixed pool of
 * max_sites entries, reserved at start-up and never freed: pointers stay valid for
 * readers, and overflow is counted in dropped, never silently lost.
 *
 * Identity: in memory a site is its raw return addresses (cheap to hash, exact), with
 * Python frames merged in as (code object, instruction) words (guard/lang.h).  In
 * reports it is `id`, a hash of the call name and each frame's module basename and
 * offset - or for a language frame its language, function, file and line: the same
 * code path has the same id in every run, whatever ASLR did, so a baseline from
 * yesterday matches today.  Two in-memory stacks with one id (an interpreter that took
 * a specialized path to the same Python line) are one site: the second is an alias
 * whose calls count in the first.
 *
 * Readers (reports, HTTP) never lock: the count of sites is published with a release
 * store after an entry is complete, entries never move, counters are read atomically.
 */
#ifndef BG_SITES_H
#define BG_SITES_H
#include <stdint.h>

#include "guard/guard.h"
#include "guard/ledger.h" /* bg__site_t */

/* bg__site_t, a site's record, is the ledger's (guard/ledger.h): sites live in it. */

/* Finds or creates the site for call `id` with the current stack above the shim.
 * NULL when the table is full (counted in bg__sites_dropped()). */
bg__site_t *bg__site_get(int id, int category, int allowed, int default_action);
/* The same for a stack already captured (pcs[0, n): return addresses above the shim). */
bg__site_t *bg__site_of(int id, int category, int allowed, int default_action,
                        const uintptr_t *pcs, int n);
int bg__stack_depth(void); /* stack_depth, within [1, BG_MAX_FRAMES] */
/* A capture written where it is used (BG_STACK_CAPTURE_HERE): libunwind's walk starts
 * in the function it is written in, so the fewer shim frames are above it, the fewer
 * are walked and thrown away.  begin/end keep a fork out meanwhile; keep drops the
 * shim's frames (or test_skip frames when the core is linked into a test). */
void bg__capture_begin(void);
void bg__capture_end(void);
int bg__capture_keep(void *const *raw, int n, uintptr_t *pcs, int max, int test_skip);
#define BG_STACK_CAPTURE_HERE(pcs, max, test_skip, n_out)                                \
  do {                                                                                  \
    void *bg_raw_[BG_MAX_FRAMES + 8];                                                   \
    int bg_want_ = (max) + 8;                                                           \
    bg__capture_begin();                                                                \
    int bg_n_ = bg__unw_backtrace(bg_raw_, bg_want_);                                   \
    bg__capture_end();                                                                  \
    (n_out) = bg__capture_keep(bg_raw_, bg_n_, (pcs), (max), (test_skip));              \
  } while (0)
/* The same for a stack captured earlier with its language frames already merged in (a
 * stall's, taken in a signal handler: guard/loop.c). */
bg__site_t *bg__site_get_stack(int id, int category, int allowed, int default_action,
                               const uintptr_t *pcs, int n);
/* Adds one call that blocked `ns` to the site (atomics only). */
void bg__site_add(bg__site_t *s, uint64_t ns, int thread_slot);
/* The same at a time already read (now: monotonic ns, the end of the call). */
void bg__site_record(bg__site_t *s, uint64_t ns, uint64_t now, int thread_slot);

/* Snapshot access for renderers: sites [0, n) are stable once visible. */
int bg__sites_count(void);
bg__site_t *bg__site_at(int i);
uint64_t bg__sites_dropped(void);   /* distinct sites refused because the table was full */
uint64_t bg__site_id(const bg__site_t *s); /* stable id */
uint32_t bg__site_index(const bg__site_t *s); /* position in the ledger's pool */
uintptr_t bg__site_offset(const bg__site_t *s, int frame); /* pc - module load bias */

void bg__sites_init(void);          /* reserves the pool (max_sites) */
void bg__sites_atfork_prepare(void); /* waits until no thread is unwinding */
void bg__sites_atfork_parent(void);
void bg__sites_drop_index(void);    /* child, before its ledger replaces the parent's */
void bg__sites_after_fork(void);    /* the child starts with an empty registry */
void bg__sites_set_own_text(uintptr_t lo, uintptr_t hi); /* frames to skip (the shim) */
int bg__stack_capture(uintptr_t *pcs, int max); /* return addresses above the shim */
/* From a signal handler: the interrupted code's frames (sites.c); 0 when it cannot.
 * libunwind's stepping functions, loaded with it (guard/unwind_lib.c). */
int bg__stack_capture_uc(void *ucontext, uintptr_t *pcs, int max);
#ifdef UNW_LOCAL_ONLY
extern int (*bg__unw_init_local2_fn)(unw_cursor_t *, unw_context_t *, int) BG_HIDDEN;
extern int (*bg__unw_get_reg_fn)(unw_cursor_t *, unw_regnum_t, unw_word_t *) BG_HIDDEN;
extern int (*bg__unw_step_fn)(unw_cursor_t *) BG_HIDDEN;
#endif

/* Hook the allowlist (guard/rules.c) uses to decide a new site once, before it is
 * published: may set s->action and s->allowed, returns the rule index or -1.  Called
 * without the registry lock.  NULL: the global mode. */
extern int (*bg__site_decide)(bg__site_t *s);
/* Hook the allowlist sets when some rule uses thread: (guard/rules.c), NULL
 * otherwise: the thread-name class of the calling thread.  Part of the site key, so a
 * site hit from threads that rules treat differently is two sites, each decided
 * correctly. */
extern uint32_t (*bg__site_thread_mask)(void);
#endif
