/* init.c - the shim's lifecycle: constructor, exit, fork.
 *
 * The constructor resolves every real symbol (preload/resolve.c: no lookup runs later,
 * possibly in a signal handler), hands the call table to the core and parses
 * BLOCKGUARD_OPTIONS.
 * Bad options with strict=1 (the default) stop the program with exit status 2 before
 * main() runs: a CI job must never pass because the guard silently did not start.
 *
 * Exit: the core's fini (summary, report files, HTTP shutdown) runs from a destructor,
 * and from _exit/_Exit (dash, the usual /bin/sh, leaves through _exit) and quick_exit
 * when the core says it is safe: not a vfork child (see bg__core_fast_exit and
 * docs/design.md).  The exit code reaches the ledger through on_exit.  exec is marked
 * in the ledger by the exec wrappers (preload/custom_exec.c); LD_PRELOAD and
 * BLOCKGUARD_OPTIONS are inherited through the environment.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/options.h"
#include "guard/sites.h"
#include "preload/preload.h"

static int initialised;
typedef void (*exit_fn)(int) __attribute__((noreturn));
BG_REAL_FN(exit_fn, _exit)
BG_REAL_FN(exit_fn, _Exit)

void bg__die_unresolved(const char *name) {
  bg__msg("cannot resolve the real %s(): aborting", name);
  abort();
}

/* Finds the address range of our own text so stacks start at the program's frame. */
static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t me = (uintptr_t)arg, lo, hi;
  bg__object_range(info, &lo, &hi);
  if (me >= lo && me < hi) {
    bg__sites_set_own_text(lo, hi);
    return 1;
  }
  return 0;
}

/* exit(code) and the code main returned go through exit's handlers, not through any
 * symbol we could wrap (libc calls its own exit): on_exit tells us the code.  Ours is
 * registered first, so it runs after the program's own handlers (last in, first
 * out), which may still make blocking calls the destructor then reports. */
static void on_exit_code(int code, void *arg) {
  (void)arg;
  bg__core_exiting(code);
}

/* quick_exit runs at_quick_exit handlers, then libc's internal _exit, which skips our
 * wrapper: the report is written from a handler registered first (so it runs last);
 * the code comes from the quick_exit wrapper (preload/custom_exec.c). */
static void at_quick_exit_report(void) { bg__core_fast_exit(bg__quick_exit_code); }

static void atfork_prepare(void) { bg__core_atfork_prepare(); }
static void atfork_parent(void) { bg__core_atfork_parent(); }
static void atfork_child(void) { bg__core_atfork_child(); }

void bg__preload_init(void) {
  if (__atomic_exchange_n(&initialised, 1, __ATOMIC_ACQ_REL)) return;
  bg__self.depth++;
  bg__resolve_all();
  bg__set_calltable(bg__calltable, bg__ncalltable);
  dl_iterate_phdr(find_self, (void *)(uintptr_t)&bg__preload_init);
  const char *opts = getenv("BLOCKGUARD_OPTIONS");
  if (bg__core_init(opts, "BLOCKGUARD_OPTIONS") < 0) {
    /* The core printed the problem.  strict is read from the raw text because the
     * parse failed: only an explicit strict=0 lets the program run unguarded. */
    if (!opts || !strstr(opts, "strict=0")) {
      bg__msg("exiting with status 2 (set strict=0 to run unguarded instead)");
      _exit(2);
    }
    bg__msg("strict=0: running unguarded");
  } else if (bg__http_live_start() < 0) {
    /* A dashboard configuration mistake (non-loopback without http_token...) is a bad
     * option: same strict rule. */
    if (bg__opt.strict) {
      bg__msg("exiting with status 2 (set strict=0 to run without the dashboard)");
      _exit(2);
    }
    bg__msg("strict=0: running without the dashboard");
  }
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  on_exit(on_exit_code, NULL);
  at_quick_exit(at_quick_exit_report);
  bg__push_start(); /* after the core's fork handlers: a child's thread starts after them */
  bg__self.depth--;
}

/* glibc calls ELF constructors with (argc, argv, envp): the ledger records argv from
 * here instead of reading /proc/self/cmdline (a syscall each start-up). */
__attribute__((constructor(101))) static void bg__ctor(int argc, char **argv, char **envp) {
  (void)envp;
  bg__core_set_argv(argc, argv);
  bg__preload_init();
}
__attribute__((destructor(101))) static void bg__dtor(void) { bg__core_fini(); }

/* ---- exits that skip destructors --------------------------------------------------- */
BG_EXPORT void _exit(int status) {
  exit_fn f = bg__get__exit();
  bg__core_fast_exit(status);
  f(status);
}

BG_EXPORT void _Exit(int status) {
  exit_fn f = bg__get__Exit();
  bg__core_fast_exit(status);
  f(status);
}
