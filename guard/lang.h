/* lang.h - language frames in sites: Python (guard/lang_py.c) and JIT code named by a
 * perf map (guard/perfmap.c), merged into the native stack and interned.
 *
 * A site's stack is one array of words (bg__site_key_t.pcs): native return addresses,
 * and for Python a tagged word per frame (code object + instruction, lang_py.h) put
 * where the interpreter's eval-loop frame was, like py-spy --native.  Once the Python
 * frames are in, the interpreter's own plumbing frames after the innermost Python frame
 * (call dispatch, the eval loop, start-up) are dropped: they vary with CPython's
 * specialization, not with the program; so are native frames after the outermost
 * Python frame (thread and process start-up).  Those before the innermost (time_sleep,
 * _Py_read...) are kept to show, but not part of the stable id (sites.c).
 *
 * A language frame's meaning - language, function, file, line - is interned once per
 * site in a table of records (bg__lframe) in the process's ledger, whose strings live
 * in the ledger's arena (bg__lang_alloc).  Records are append-only and never move, so
 * readers (snapshot, the dashboard, the CLI reading the ledger) take no lock.
 */
#ifndef BG_LANG_H
#define BG_LANG_H
#include <stddef.h>
#include <stdint.h>

#include "report/model.h" /* BG_LANG_*, bg_lang_name */

/* Module index (sites.h mods[]) of a frame that is a language frame, not an object. */
#define BG_LANG_MODULE 0xFFFEu
/* A frame kept in the key (it was captured) but shown nowhere and not in the stable id:
 * CPython's -X perf trampoline, named py::f by the perf map, when the real Python
 * frames it runs are already in the stack. */
#define BG_HIDDEN_MODULE 0xFFFDu

typedef struct bg__lframe {
  int lang;
  int line;             /* 0 when unknown */
  const char *function; /* never NULL */
  const char *file;     /* never NULL, "" when unknown */
} bg__lframe_t;

/* Interns a frame; returns its id (> 0), or 0 when the table or arena is full
 * (counted in bg__lang_dropped()). */
uint32_t bg__lframe_intern(int lang, const char *function, const char *file, int line);
/* 1 and *out filled for a valid id. */
int bg__lframe_get(uint32_t id, bg__lframe_t *out);
uint64_t bg__lang_dropped(void);
/* Variable-size storage for interned strings (never freed).  NULL when full. */
void *bg__lang_alloc(size_t n);

/* Start-up: look for language runtimes (cheap when there is none); in a V8 program
 * turn its perf map on (guard/perfmap.h). */
void bg__lang_init(void);
void bg__lang_after_fork(void); /* locks another thread may have held */
void bg__lang_exit(void);       /* _exit: remove what the shim made a runtime write */
/* The violation path: pcs[0..n) are native return addresses; rewrites them in place
 * into the merged stack (at most max words) and returns the new count. */
int bg__lang_capture(uintptr_t *pcs, int n, int max);
/* A new site (cold path): for each word, the lframe id it stands for (0 = native
 * frame of an object), with mods[i] = BG_LANG_MODULE for language words.  Also looks
 * for a runtime loaded since the last time. */
void bg__lang_resolve(const uintptr_t *pcs, int n, uint16_t *mods, uint32_t *lframes);
/* Is this stack the shim's own doing inside a runtime (V8 writing the perf map the
 * shim asked for)?  Such sites are never violations (guard/core.c). */
int bg__lang_quiet(const uintptr_t *pcs, int n);
/* Does a native frame in module `mod` belong to a language runtime (excluded from the
 * stable id of sites that have that language's frames)? */
int bg__lang_runtime_module(unsigned mod);
#endif
