/* unwind_lib.c - libunwind, loaded with dlopen when a thread is first guarded.
 *
 * Stacks are captured with libunwind (unw_backtrace: its per-thread trace cache, see
 * guard/sites.c), but most guarded-by-default processes never capture one: under
 * threads=auto a thread is only guarded once it is seen running an event loop, and
 * `make test` starts thousands of processes that never do.  Linking libunwind mapped
 * and relocated it and liblzma in every one of them: ~120,000 instructions and a third
 * of the start-up time of a small program.  So it is opened the first time any thread
 * becomes guarded (bg__thread_refresh): in the constructor under threads=main/all or a
 * matching name, when loop detection finds an event loop (a poll/epoll wrapper), when
 * the program calls bg_thread_guard(1), when a new or renamed thread matches.  Those
 * are ordinary calls in ordinary thread context: a process becomes a loop, or calls the
 * API, from its own code, not from a signal handler (a signal handler that makes a
 * thread guarded for the first time would run dlopen there; we accept that case, which
 * needs a timed poll repeated from one call site inside a handler).  No stack is ever
 * needed before that, since only guarded threads record violations; if libunwind
 * cannot be loaded at all (not installed), sites keep only their caller's return
 * address, and the report says which call each is.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "guard/guard.h"

int (*bg__unw_backtrace_fn)(void **, int);
/* Stepping from a signal context, for the stall detector (guard/loop.c, sites.c). */
int (*bg__unw_init_local2_fn)(unw_cursor_t *, unw_context_t *, int);
int (*bg__unw_get_reg_fn)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
int (*bg__unw_step_fn)(unw_cursor_t *);
/* Not pthread_once: a fork while another thread is inside load() left the child with
 * libunwind's cache lock held (taken in set_caching_policy) and glibc re-running the
 * once routine there - the child hung on it (t_threads' fork_threads, ~1 run in 8).  A
 * mutex that fork's prepare step takes (bg__unw_atfork_*) means a fork happens either
 * before a load starts or after it is done. */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static int load_done; /* tried, whatever came of it */

static void load(void) {
  static const char *names[] = {"libunwind.so.8", "libunwind.so"};
  void *h = NULL;
  for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
    h = bg__dlopen_quiet(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  int (*bt)(void **, int) = (int (*)(void **, int))bg__dlsym_quiet(h, "unw_backtrace");
  int (*policy)(unw_addr_space_t, unw_caching_policy_t) =
      (int (*)(unw_addr_space_t, unw_caching_policy_t))bg__dlsym_quiet(h, "_ULx86_64_set_caching_policy");
  unw_addr_space_t *local = (unw_addr_space_t *)bg__dlsym_quiet(h, "_ULx86_64_local_addr_space");
  if (!bt || !policy || !local) return;
  /* libunwind's default (global) cache of unwind rules is guarded by a mutex taken with
   * all signals blocked: a fork while another thread unwinds leaves the child stuck on
   * it forever (and unkillable but by SIGKILL).  The per-thread cache takes no lock. */
  bg__unwinding++; /* libunwind initialises here and opens its pipe: guard/unwind_io.c */
  policy(*local, UNW_CACHE_PER_THREAD);
  bg__unwinding--;
  bg__unw_init_local2_fn = (int (*)(unw_cursor_t *, unw_context_t *, int))bg__dlsym_quiet(h, "_ULx86_64_init_local2");
  bg__unw_get_reg_fn = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))bg__dlsym_quiet(h, "_ULx86_64_get_reg");
  if (bg__unw_init_local2_fn && bg__unw_get_reg_fn) /* set last: it says the three are */
    __atomic_store_n(&bg__unw_step_fn, (int (*)(unw_cursor_t *))bg__dlsym_quiet(h, "_ULx86_64_step"),
                     __ATOMIC_RELEASE);
  __atomic_store_n(&bg__unw_backtrace_fn, bt, __ATOMIC_RELEASE);
}

void bg__unw_load(void) {
  if (__atomic_load_n(&load_done, __ATOMIC_ACQUIRE)) return;
  bg__self.depth++; /* whatever the loader and libunwind's start-up call passes through */
  pthread_mutex_lock(&load_mu);
  if (!load_done) {
    load();
    __atomic_store_n(&load_done, 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&load_mu);
  bg__self.depth--;
}

/* Before fork's own locks (glibc runs atfork prepare handlers first), so a load in
 * progress - dlopen included - finishes. */
void bg__unw_atfork_prepare(void) { pthread_mutex_lock(&load_mu); }
void bg__unw_atfork_parent(void) { pthread_mutex_unlock(&load_mu); }
void bg__unw_atfork_child(void) { pthread_mutex_init(&load_mu, NULL); }
