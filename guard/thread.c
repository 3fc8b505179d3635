/* thread.c - which threads are guarded, and why.
 *
 * A thread's state lives in initial-exec TLS (bg__self), zero-initialised, so a thread
 * blockguard never heard of is unguarded and its wrappers cost one TLS load.  A thread
 * collects roles (main, name match, event loop, all) as they are discovered; `guarded`
 * is recomputed from the roles and threads= whenever one changes, and an explicit
 * bg_thread_guard() call overrides everything.
 *
 * The event-loop role is found and ended by guard/loop.c (docs/design.md "Event
 * loops"); this file only turns roles into a guard.
 *
 * Registered threads get a slot in a fixed table (no allocation, usable from a signal
 * handler) that reports read for thread names; a pthread key marks the slot dead when
 * the thread exits so nobody touches its TLS afterwards.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/ledger.h"
#include "guard/options.h"

/* bg__self, the thread's state, is defined in guard/base.c. */

/* Slots live in the ledger (guard/ledger.h) and are read by report snapshots on other
 * threads - and by other processes - while their owner renames or re-guards itself:
 * every field a reader looks at after publication is accessed with atomics (the name
 * as two 8-byte words), and a slot is only listed once `published` (release) says its
 * fields are set.  No locks: readers run in signal handlers too. */
typedef bg__ledger_thread_t bg__thread_slot_t;

static void slot_name_store(bg__thread_slot_t *sl, const char *name) {
  uint64_t w[2] = {0, 0};
  memcpy(w, name, strnlen(name, sizeof w - 1));
  __atomic_store_n((uint64_t *)sl->name, w[0], __ATOMIC_RELAXED);
  __atomic_store_n((uint64_t *)sl->name + 1, w[1], __ATOMIC_RELAXED);
}

static void slot_name_load(const bg__thread_slot_t *sl, char out[16]) {
  uint64_t w[2] = {__atomic_load_n((const uint64_t *)sl->name, __ATOMIC_RELAXED),
                   __atomic_load_n((const uint64_t *)sl->name + 1, __ATOMIC_RELAXED)};
  memcpy(out, w, 16);
  out[15] = 0;
}

/* The table and its published count (both in the ledger; NULL without one). */
static bg__thread_slot_t *table(uint32_t **n, uint32_t *cap) {
  bg__ledger_hdr_t *h = bg__ledger_get();
  if (!h) return NULL;
  *n = &h->nthreads;
  *cap = h->threads_cap;
  return bg__ledger_threads();
}

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
int bg__loops_watched;

static void on_thread_exit(void *arg) {
  (void)arg;
  uint32_t *n, cap;
  bg__thread_slot_t *slots = table(&n, &cap);
  int s = bg__self.slot;
  if (slots && s >= 0 && (uint32_t)s < cap) {
    slots[s].tls = 0;
    __atomic_store_n(&slots[s].alive, 0, __ATOMIC_RELEASE);
  }
}

static void make_exit_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

static int name_matches(const char *name) {
  for (int i = 0; i < bg__opt.threads.nglobs; i++)
    if (bg__glob(bg__opt.threads.globs[i], name)) return 1;
  return 0;
}

static int why_of(const bg__thread_t *t) {
  const bg__threads_spec_t *spec = &bg__opt.threads;
  if (t->api == 1) return BG_WHY_API;
  if (t->api == 2) return BG_WHY_NONE;
  if (spec->all) return BG_WHY_ALL;
  if ((t->roles & BG_ROLE_MAIN) && spec->main) return BG_WHY_MAIN;
  if (t->roles & BG_ROLE_NAME) return BG_WHY_NAME;
  if ((t->roles & BG_ROLE_LOOP) && spec->autodetect) return BG_WHY_AUTO;
  return BG_WHY_NONE;
}

int bg__thread_register(void) {
  bg__thread_t *t = bg__self_ptr();
  if (t->slot >= 0) return t->slot;
  uint32_t *n, cap;
  bg__thread_slot_t *slots = table(&n, &cap);
  if (!slots) return -1;
  uint32_t s = __atomic_load_n(n, __ATOMIC_RELAXED);
  do { /* claim the next slot; a full table leaves the thread unregistered */
    if (s >= cap) return -1;
  } while (!__atomic_compare_exchange_n(n, &s, s + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  /* the count is published before the slot is filled: readers skip it until
   * `published`; the slot's storage must exist before anyone looks */
  if (bg__ledger_commit(BG_LR_THREADS, (uint64_t)(s + 1) * sizeof *slots) < 0) return -1;
  t->depth++;
  bg__thread_slot_t *sl = &slots[s];
  __atomic_store_n(&sl->published, 0, __ATOMIC_RELAXED);
  sl->tid = gettid();
  sl->pthread_id = (unsigned long)pthread_self();
  sl->tls = (uint64_t)(uintptr_t)t;
  char name[16] = {0};
  prctl(PR_GET_NAME, name, 0, 0, 0);
  slot_name_store(sl, name);
  pthread_once(&exit_key_once, make_exit_key);
  pthread_setspecific(exit_key, (void *)1);
  __atomic_store_n(&sl->alive, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&sl->published, 1, __ATOMIC_RELEASE);
  t->slot = (int32_t)s;
  t->rec = sl;
  t->depth--;
  return (int)s;
}

void bg__thread_refresh(bg__thread_t *t) {
  int why = why_of(t);
  if (why != BG_WHY_NONE && t == bg__self_ptr()) bg__thread_register();
  t->why = (uint8_t)why;
  uint32_t *n, cap;
  bg__thread_slot_t *slots = t->slot >= 0 ? table(&n, &cap) : NULL;
  if (slots && (uint32_t)t->slot < cap) {
    __atomic_store_n(&slots[t->slot].why, (uint8_t)why, __ATOMIC_RELAXED);
    __atomic_store_n(&slots[t->slot].guarded, (uint8_t)(why != BG_WHY_NONE), __ATOMIC_RELAXED);
  }
  t->guarded = why != BG_WHY_NONE && bg__opt.mode != BG_ACT_OFF && bg__core_ready();
  if (t->guarded) bg__unw_load(); /* stacks are needed from now on (guard/unwind_lib.c) */
}

void bg__thread_guard_main(void) {
  bg__self.roles |= BG_ROLE_MAIN;
  /* Every thread's event loop is found (loop health covers all of them); threads=auto
   * decides which are guarded.  mode=off turns everything off. */
  bg__loops_watched = bg__opt.mode != BG_ACT_OFF;
  if (bg__opt.threads.nglobs) {
    char name[16] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (name_matches(name)) bg__self.roles |= BG_ROLE_NAME;
  }
  bg__thread_refresh(bg__self_ptr());
}

int bg__thread_needs_start_hook(void) {
  return bg__core_ready() && (bg__opt.threads.all || bg__opt.threads.nglobs > 0);
}

void bg__thread_start(void) {
  bg__thread_t *t = bg__self_ptr();
  t->depth++;
  /* Register before reading the name: a rename by another thread either lands before
   * we read it, or finds us in the table. */
  bg__thread_register();
  char name[16] = {0};
  prctl(PR_GET_NAME, name, 0, 0, 0); /* a new thread inherits its creator's name */
  if (name_matches(name)) __atomic_or_fetch(&t->roles, BG_ROLE_NAME, __ATOMIC_RELAXED);
  t->depth--;
  bg__thread_refresh(t);
}

/* api=2 pins the thread unguarded whatever threads= says (and survives renames);
 * depth=1 makes every wrapper it calls take the pass-through path at once, so even
 * loop detection never looks at it.  It is deliberately not registered: the thread
 * table lists the program's threads, not ours.  All signals are blocked: the
 * program's handlers must run on the program's threads, never on ours (a handler
 * calling exit/_exit on the server thread would have it wait for itself). */
void bg__thread_start_sidecar(void) {
  bg__self.api = 2;
  bg__self.depth = 1;
  bg__self.guarded = 0;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
}

void bg__thread_name_changed(const char *name) {
  bg__thread_t *t = bg__self_ptr();
  uint32_t *n, cap;
  bg__thread_slot_t *slots = t->slot >= 0 ? table(&n, &cap) : NULL;
  if (slots && (uint32_t)t->slot < cap) slot_name_store(&slots[t->slot], name);
  if (name_matches(name))
    t->roles |= BG_ROLE_NAME;
  else
    t->roles &= (uint8_t)~BG_ROLE_NAME;
  bg__thread_refresh(t);
}

void bg__thread_name_changed_other(unsigned long pthread_id, const char *name) {
  uint32_t *np, cap;
  bg__thread_slot_t *slots = table(&np, &cap);
  uint32_t n = slots ? __atomic_load_n(np, __ATOMIC_ACQUIRE) : 0;
  for (uint32_t i = 0; i < n && i < cap; i++) {
    bg__thread_slot_t *sl = &slots[i];
    if (!__atomic_load_n(&sl->alive, __ATOMIC_ACQUIRE) || sl->pthread_id != pthread_id) continue;
    slot_name_store(sl, name);
    bg__thread_t *t = (bg__thread_t *)(uintptr_t)sl->tls;
    if (!t) return;
    if (name_matches(name))
      t->roles |= BG_ROLE_NAME;
    else
      t->roles &= (uint8_t)~BG_ROLE_NAME;
    bg__thread_refresh(t);
    return;
  }
}

/* A copy (the slot may be renamed while the caller formats it), valid until this
 * thread's next call. */
const char *bg__thread_name_of_slot(int slot) {
  static __thread char buf[16] __attribute__((tls_model("initial-exec")));
  uint32_t *n, cap;
  bg__thread_slot_t *slots = table(&n, &cap);
  if (!slots || slot < 0 || (uint32_t)slot >= cap) return "?";
  slot_name_load(&slots[slot], buf);
  return buf;
}

/* After fork only the forking thread exists; it is the child's main thread.  It is no
 * longer taken for an event loop: a forked child of a loop (redis' bgsave, a worker
 * about to exec) rarely runs that loop, and if it does, its first loop wait says so
 * again (the epoll fd it inherited is shared with the parent: not a reason to guard).
 * A guard set through the API is kept. */
void bg__threads_after_fork(void) {
  bg__thread_t *t = bg__self_ptr();
  t->slot = -1; /* the child's ledger has an empty thread table (ledger.c) */
  t->rec = NULL;
  t->roles = (uint8_t)((t->roles | BG_ROLE_MAIN) & ~BG_ROLE_LOOP);
  t->loop_fd = -1;
  t->loop_closed = t->loop_marked = t->loop_foreign = 0;
  /* the loop table was reset before (bg__loops_after_fork, guard/core.c) */
  bg__thread_refresh(t);
}

bg__ledger_thread_t *bg__thread_record(int slot) {
  uint32_t *n, cap;
  bg__thread_slot_t *slots = slot >= 0 ? table(&n, &cap) : NULL;
  return slots && (uint32_t)slot < cap ? &slots[slot] : NULL;
}

/* ---- public API (exported; see include/blockguard.h) ------------------------------ */
BG_EXPORT int bg__api_thread_guard(int on) {
  bg__thread_t *t = bg__self_ptr();
  int prev = t->guarded != 0;
  t->api = on ? 1 : 2;
  bg__thread_refresh(t);
  return prev;
}

BG_EXPORT void bg__api_allow_begin(void) { bg__self.allow++; }

BG_EXPORT void bg__api_allow_end(void) {
  if (bg__self.allow) bg__self.allow--;
}
