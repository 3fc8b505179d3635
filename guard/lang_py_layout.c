/* lang_py_layout.c - where CPython keeps what we read, per minor version.
 *
 * 3.8-3.12 have no self-description, so their offsets are a table; the values are
 * offsetof() of the version's own structures and tests/lang/py_layout.c compiles
 * against each installed version's headers (pyenv, Debian's python3-dev) to check
 * every entry (make check: t_lang_layout).  x86-64, default (non-debug,
 * GIL) builds: a debug or free-threaded build has other offsets, and the start-up
 * check in lang_py.c (a code object must have ob_type == &PyCode_Type) turns reading
 * off for it instead of reading garbage.
 *
 * 3.13+ describe themselves: _PyRuntime starts with _Py_DebugOffsets ("xdebugpy",
 * PY_VERSION_HEX, then offsets grouped by structure), kept for out-of-process
 * debuggers.  The grouping itself changes between minor versions (it is stable only
 * within one), so where each offset sits in it is known here per minor version.
 */
#include <stdint.h>
#include <string.h>

#include "guard/lang_py_layout.h"

/* Unicode state bits (kind:3 at bit 2, compact at 5, ascii at 6) and the bytes/str
 * headers are the same in every version we read; only the struct sizes move. */
static void common(bg__py_layout_t *l, unsigned minor) {
  memset(l, -1, sizeof *l);
  l->minor = minor;
  l->frame_objects = minor <= 10;
  l->lasti_bytes = minor <= 9;
  l->exec_tagged = 0;
  l->bytes_size = 16;
  l->bytes_sval = 32;
  l->str_length = 16;
  l->str_state = 32;
  l->str_ascii_size = minor <= 11 ? 48 : 40;
  l->str_compact_size = minor <= 11 ? 72 : 56;
  l->lines_format = minor <= 9 ? 1 : minor == 10 ? 2 : 3;
}

int bg__py_layout_for(unsigned minor, bg__py_layout_t *l) {
  common(l, minor);
  switch (minor) {
  case 8:
  case 9:
  case 10:
    l->ts_frame = 24;
    l->f_previous = 24; /* f_back */
    l->f_code = 32;
    l->f_lasti = minor == 10 ? 96 : 104;
    l->f_size = l->f_lasti + 4;
    l->co_filename = 104;
    l->co_name = 112;
    l->co_lines = 120; /* co_lnotab (3.8, 3.9), co_linetable (3.10) */
    l->co_firstlineno = 40;
    return 0;
  case 11:
    l->ts_cframe = 56;
    l->cframe_current = 8;
    l->f_code = 32;
    l->f_previous = 48;
    l->f_instr = 56; /* prev_instr */
    l->f_is_entry = 68;
    l->f_owner = 69;
    l->f_size = 80;
    l->owner_max = 2;
    l->co_filename = 112;
    l->co_name = 120;
    l->co_qualname = 128;
    l->co_lines = 136;
    l->co_firstlineno = 72;
    l->co_adaptive = 184;
    return 0;
  case 12:
    l->ts_cframe = 56;
    l->cframe_current = 0;
    l->f_code = 0;
    l->f_previous = 8;
    l->f_instr = 56; /* prev_instr */
    l->f_owner = 70;
    l->f_size = 80;
    l->owner_shim = 3; /* FRAME_OWNED_BY_CSTACK */
    l->owner_max = 3;
    l->co_filename = 112;
    l->co_name = 120;
    l->co_qualname = 128;
    l->co_lines = 136;
    l->co_firstlineno = 68;
    l->co_adaptive = 192;
    return 0;
  default:
    return -1;
  }
}

/* ---- _Py_DebugOffsets (3.13+) ---------------------------------------------------------
 * The structure is a cookie, the version, free_threaded, then groups of uint64_t.  The
 * index of each offset we use, counted in 8-byte words from the start: */
typedef struct dbg_index {
  unsigned minor;
  int ts_size, ts_current_frame;
  int f_size, f_previous, f_executable, f_instr_ptr, f_owner;
  int co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno, co_adaptive;
  int ob_type;
  int bytes_size, bytes_sval;
  int str_state, str_length, str_ascii_size;
} dbg_index_t;

/* 3.13, in words: cookie 0, version 1, free_threaded 2, runtime_state 3-5,
 * interpreter_state 6-18, thread_state{size 19, prev, next, interp, current_frame 23,
 * thread_id, native_thread_id, datastack_chunk, status} 19-27,
 * interpreter_frame{size 28, previous 29, executable 30, instr_ptr 31, localsplus,
 * owner 33} 28-33, code_object{size 34, filename 35, name 36, qualname 37, linetable 38,
 * firstlineno 39, argcount, localsplusnames, localspluskinds, co_code_adaptive 43}
 * 34-43, pyobject{size, ob_type 45} 44-45, type 46-49, tuple 50-52, list 53-55,
 * dict 56-58, float 59-60, long 61-63, bytes{size, ob_size 65, ob_sval 66} 64-66,
 * unicode{size, state 68, length 69, asciiobject_size 70} 67-70, gc 71-72. */
static const dbg_index_t idx313 = {13, 19, 23, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 39, 43,
                                   45, 65, 66, 68, 69, 70};

static uint64_t word(const void *dbg, int i) {
  uint64_t v;
  memcpy(&v, (const char *)dbg + (size_t)i * 8, sizeof v);
  return v;
}

static int small(uint64_t v, uint64_t limit) { return v < limit; }

int bg__py_layout_from_debug(const void *dbg, size_t n, bg__py_layout_t *l) {
  if (n < 8 * 71 || memcmp(dbg, "xdebugpy", 8)) return -1;
  uint64_t version = word(dbg, 1);
  if ((version >> 24) != 3) return -1;
  unsigned minor = (unsigned)((version >> 16) & 0xff);
  if (word(dbg, 2) != 0) return -1; /* free-threaded: other object headers */
  const dbg_index_t *x = minor == 13 ? &idx313 : NULL;
  if (!x) return -1;
  common(l, minor);
  uint64_t ts_size = word(dbg, x->ts_size), f_size = word(dbg, x->f_size),
           co_size = word(dbg, x->co_size);
  /* Sanity: every offset inside its structure, sizes of the right order. */
  if (!small(ts_size, 4096) || !small(f_size, 256) || !small(co_size, 1024)) return -1;
  uint64_t v[] = {word(dbg, x->ts_current_frame), word(dbg, x->f_previous),
                  word(dbg, x->f_executable),     word(dbg, x->f_instr_ptr),
                  word(dbg, x->f_owner),          word(dbg, x->co_filename),
                  word(dbg, x->co_name),          word(dbg, x->co_qualname),
                  word(dbg, x->co_linetable),     word(dbg, x->co_firstlineno),
                  word(dbg, x->co_adaptive)};
  uint64_t lim[] = {ts_size, f_size, f_size, f_size, f_size, co_size,
                    co_size, co_size, co_size, co_size, co_size + 1};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (v[i] >= lim[i]) return -1;
  if (word(dbg, x->ob_type) != 8 || word(dbg, x->bytes_sval) != 32 ||
      word(dbg, x->bytes_size) != 16 || word(dbg, x->str_state) != 32 ||
      word(dbg, x->str_length) != 16)
    return -1;
  l->ts_current_frame = (int)v[0];
  l->f_previous = (int)v[1];
  l->f_code = (int)v[2];
  l->f_instr = (int)v[3];
  l->f_owner = (int)v[4];
  l->f_size = (int)f_size;
  l->co_filename = (int)v[5];
  l->co_name = (int)v[6];
  l->co_qualname = (int)v[7];
  l->co_lines = (int)v[8];
  l->co_firstlineno = (int)v[9];
  l->co_adaptive = (int)v[10];
  l->str_ascii_size = (int)word(dbg, x->str_ascii_size);
  l->str_compact_size = l->str_ascii_size + 16; /* + utf8_length, utf8 */
  l->owner_shim = 3; /* FRAME_OWNED_BY_CSTACK */
  l->owner_max = 3;
  return 0;
}
