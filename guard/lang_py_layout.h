/* lang_py_layout.h - where CPython keeps what a frame walk reads, per minor version
 * (guard/lang_py_layout.c): a table for 3.8-3.12 (tests/lang/py_layout.c checks it
 * against each version's headers) and _Py_DebugOffsets from _PyRuntime for 3.13+.
 * guard/lang_py.c walks frames with it.
 */
#ifndef BG_LANG_PY_LAYOUT_H
#define BG_LANG_PY_LAYOUT_H
#include <stddef.h>

/* Offsets into the interpreter's structures for one minor version (-1: absent). */
typedef struct bg__py_layout {
  unsigned minor;         /* 8 for 3.8 ... */
  int frame_objects;      /* 1: chain of PyFrameObject (<= 3.10); 0: _PyInterpreterFrame */
  int ts_frame;           /* <= 3.10 tstate->frame */
  int ts_cframe, cframe_current; /* 3.11-3.12 tstate->cframe->current_frame */
  int ts_current_frame;   /* >= 3.13 tstate->current_frame */
  int f_previous;         /* f_back / previous */
  int f_code;             /* f_code / f_executable */
  int f_lasti;            /* <= 3.10: int f_lasti */
  int lasti_bytes;        /* <= 3.9: f_lasti counts bytes, not code units */
  int f_instr;            /* 3.11 prev_instr, 3.12 prev_instr, 3.13 instr_ptr */
  int f_owner, f_is_entry;
  int f_size;             /* bytes of a frame we read */
  int owner_shim;         /* owner value of the eval loop's entry frame (>= 3.12), -1 */
  int owner_max;          /* larger owner values are garbage */
  int exec_tagged;        /* >= 3.14: f_executable is a _PyStackRef (low bits tag) */
  int co_filename, co_name, co_qualname, co_lines, co_firstlineno, co_adaptive;
  int lines_format;       /* 1 lnotab (<= 3.9), 2 PEP 626 linetable (3.10), 3 locations */
  int bytes_size, bytes_sval;
  int str_length, str_state, str_ascii_size, str_compact_size;
} bg__py_layout_t;

/* The table (3.8-3.12): 0, or -1 for a version it does not hold. */
int bg__py_layout_for(unsigned minor, bg__py_layout_t *out);
/* From a copy of _PyRuntime's leading _Py_DebugOffsets (3.13+).  0 or -1 (wrong cookie,
 * version this code does not know, values that fail the sanity checks). */
int bg__py_layout_from_debug(const void *dbg, size_t n, bg__py_layout_t *out);
#endif
