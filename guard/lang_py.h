/* lang_py.h - CPython frames of the calling thread, read in-process.
 *
 * When a site is captured on a thread that runs Python, the interleaving code
 * (guard/lang.c) asks for the thread's Python frames and puts them where the
 * interpreter's eval-loop frames are in the native stack, like py-spy --native.
 *
 * Two speeds, like the site registry itself:
 *  - bg__py_frames (every violation on a Python thread): walks the frame chain from the
 *    thread state and returns one word per frame: the code object's address and the
 *    instruction offset, tagged (BG_PY_TAG).  A handful of loads per frame, each
 *    validated through guard/readable.h; no string, no line table.  That word is what
 *    the in-memory site key holds: exact, cheap, and the same whether CPython's
 *    specializing interpreter took the generic or a specialized path to the call.
 *  - bg__py_describe (once per new site): word → qualified name, file, line (the line
 *    table walked up to the instruction).  Every object is type-checked (ob_type ==
 *    &PyCode_Type, &PyUnicode_Type, &PyBytes_Type) before it is read.
 *
 * Finding the runtime: the dynamic symbols every CPython exports for extension modules
 * (PyGILState_GetThisThreadState, _PyEval_EvalFrameDefault, PyCode_Type, _PyRuntime...),
 * so a stripped /usr/bin/python3 with libpython linked in works like a pyenv
 * --enable-shared build.  The thread state is the one PyGILState bound to the thread
 * (pthread_getspecific of the runtime's autoTSSkey): unlike the "current" thread state
 * it stays set while the thread has released the GIL, which a blocking call usually
 * has.  Layouts: a table per minor version for 3.8-3.12 (tests/lang/py_layout.c checks
 * it against each version's headers), _Py_DebugOffsets from _PyRuntime for 3.13+.
 */
#ifndef BG_LANG_PY_H
#define BG_LANG_PY_H
#include <stddef.h>
#include <stdint.h>

#include "guard/lang_py_layout.h" /* bg__py_layout_t */

/* A Python frame in a site key: bit 63 set, code object address >> 3 in bits 19..62,
 * instruction offset in code units (2 bytes) in bits 0..18.  Native return addresses
 * are user-space addresses below 2^47, so they never have bit 63 set. */
#define BG_PY_TAG (1ull << 63)
#define BG_PY_LASTI_BITS 19
static inline int bg__py_is_word(uintptr_t w) { return (w & BG_PY_TAG) != 0; }

/* Looks for a CPython runtime among the loaded objects (cheap when there is none or it
 * was found before).  Returns 1 when Python frames can be read. */
int bg__py_detect(void);
void bg__py_after_fork(void);     /* fork child: detection's lock is free again */
extern int bg__py_active;           /* detected and usable */
const char *bg__py_status(void);    /* one line: the version, or why frames are not read */
int bg__py_unusable(void);          /* a CPython is there, but its frames are not read */

/* Frames of the calling thread, innermost first: words[i] as above; ends[i] = 1 when
 * frame i is the last one run by its eval-loop invocation (so the merge knows which
 * Python frames replace which _PyEval_EvalFrameDefault frame).  Returns the count. */
int bg__py_frames(uintptr_t *words, uint8_t *ends, int max);
/* Address ranges of the eval loop and of the object holding the runtime (set by
 * detection, read inline on the violation path). */
#define BG_PY_EVAL_RANGES 4
typedef struct bg__py_ranges {
  uintptr_t eval_lo[BG_PY_EVAL_RANGES], eval_hi[BG_PY_EVAL_RANGES];
  int neval;
  uintptr_t rt_lo, rt_hi;
} bg__py_ranges_t;
extern bg__py_ranges_t bg__py_ranges;
/* Is pc (a return address) inside the eval loop? */
static inline int bg__py_is_eval_pc(uintptr_t pc) {
  uintptr_t q = pc - 1; /* a return address: the call is just before it */
  for (int i = 0; i < bg__py_ranges.neval; i++)
    if (q >= bg__py_ranges.eval_lo[i] && q < bg__py_ranges.eval_hi[i]) return 1;
  return 0;
}
/* Is pc inside the object that holds the runtime (libpython, or a static python)? */
static inline int bg__py_in_runtime(uintptr_t pc) {
  return pc - 1 >= bg__py_ranges.rt_lo && pc - 1 < bg__py_ranges.rt_hi;
}
/* Module index (guard/symbolize.h) of the object holding the runtime, or -1. */
int bg__py_runtime_module(void);

/* Cold path: name (co_qualname, co_name before 3.11), file and line of a word. */
int bg__py_describe(uintptr_t word, char *func, size_t nfunc, char *file, size_t nfile,
                    int *line);
#endif
