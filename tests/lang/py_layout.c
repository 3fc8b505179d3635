/* py_layout.c - checks guard/lang_py_layout.c against one CPython version's headers.
 *
 * Compiled once per installed Python (tests/integration/t_lang_layout.sh) with that
 * version's include directory and Py_BUILD_CORE, linked with the layout table: every
 * offset the frame reader uses is compared with offsetof() of the real structure.  For
 * 3.13+ the table is not used at run time: the reader parses _Py_DebugOffsets, so the
 * check loads the version's libpython (argv[1]), hands the parser the start of its
 * _PyRuntime, as the shim does, and compares the result.
 * Prints each mismatch; exit status 1 when there is one.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#if PY_VERSION_HEX >= 0x030b0000
#include <internal/pycore_frame.h>
#endif
#if PY_VERSION_HEX >= 0x030d0000
#include <internal/pycore_runtime.h>
#endif
#if PY_VERSION_HEX < 0x030b0000
#include <frameobject.h>
#endif

#include "guard/lang_py.h"

static int bad;
#define CHECK(field, want)                                                                  \
  do {                                                                                      \
    if ((long)l.field != (long)(want)) {                                                    \
      printf("3.%d: %s is %ld in the table, %ld in the headers\n", PY_MINOR_VERSION, #field, \
             (long)l.field, (long)(want));                                                  \
      bad = 1;                                                                              \
    }                                                                                       \
  } while (0)

static unsigned state_mask(int which) {
  union {
    PyASCIIObject a;
    unsigned char b[sizeof(PyASCIIObject)];
  } u;
  memset(&u, 0, sizeof u);
  if (which == 0) u.a.state.kind = 7;
  if (which == 1) u.a.state.compact = 1;
  if (which == 2) u.a.state.ascii = 1;
  unsigned s;
  memcpy(&s, u.b + offsetof(PyASCIIObject, state), sizeof s);
  return s;
}

int main(int argc, char **argv) {
  bg__py_layout_t l;
#if PY_VERSION_HEX >= 0x030d0000
  void *h = argc > 1 ? dlopen(argv[1], RTLD_LAZY) : NULL;
  const void *rt = h ? dlsym(h, "_PyRuntime") : NULL;
  if (!rt) {
    printf("3.%d: cannot load _PyRuntime from %s: %s\n", PY_MINOR_VERSION,
           argc > 1 ? argv[1] : "(no libpython given)", dlerror());
    return 1;
  }
  if (bg__py_layout_from_debug(rt, sizeof(_Py_DebugOffsets), &l) < 0) {
    printf("3.%d: _Py_DebugOffsets rejected\n", PY_MINOR_VERSION);
    return 1;
  }
#else
  (void)argc, (void)argv;
  if (bg__py_layout_for(PY_MINOR_VERSION, &l) < 0) {
    printf("3.%d: no table entry\n", PY_MINOR_VERSION);
    return 1;
  }
#endif
  CHECK(minor, PY_MINOR_VERSION);
#if PY_VERSION_HEX < 0x030b0000
  CHECK(frame_objects, 1);
  CHECK(ts_frame, offsetof(PyThreadState, frame));
  CHECK(f_previous, offsetof(PyFrameObject, f_back));
  CHECK(f_code, offsetof(PyFrameObject, f_code));
  CHECK(f_lasti, offsetof(PyFrameObject, f_lasti));
  CHECK(f_size, offsetof(PyFrameObject, f_lasti) + sizeof(int));
#if PY_VERSION_HEX < 0x030a0000
  CHECK(co_lines, offsetof(PyCodeObject, co_lnotab));
  CHECK(lines_format, 1);
  CHECK(lasti_bytes, 1);
#else
  CHECK(co_lines, offsetof(PyCodeObject, co_linetable));
  CHECK(lines_format, 2);
  CHECK(lasti_bytes, 0);
#endif
  CHECK(co_qualname, -1);
#else
  CHECK(frame_objects, 0);
#if PY_VERSION_HEX < 0x030d0000
  CHECK(ts_cframe, offsetof(PyThreadState, cframe));
  CHECK(cframe_current, offsetof(_PyCFrame, current_frame));
  CHECK(f_code, offsetof(_PyInterpreterFrame, f_code));
  CHECK(f_instr, offsetof(_PyInterpreterFrame, prev_instr));
#else
  CHECK(ts_current_frame, offsetof(PyThreadState, current_frame));
  CHECK(f_code, offsetof(_PyInterpreterFrame, f_executable));
  CHECK(f_instr, offsetof(_PyInterpreterFrame, instr_ptr));
#endif
  CHECK(f_previous, offsetof(_PyInterpreterFrame, previous));
  CHECK(f_owner, offsetof(_PyInterpreterFrame, owner));
  CHECK(f_size, sizeof(_PyInterpreterFrame));
#if PY_VERSION_HEX < 0x030c0000
  CHECK(f_is_entry, offsetof(_PyInterpreterFrame, is_entry));
  CHECK(owner_shim, -1);
  CHECK(owner_max, FRAME_OWNED_BY_FRAME_OBJECT);
#else
  CHECK(owner_shim, FRAME_OWNED_BY_CSTACK);
  CHECK(owner_max, FRAME_OWNED_BY_CSTACK);
#endif
  CHECK(co_qualname, offsetof(PyCodeObject, co_qualname));
  CHECK(co_lines, offsetof(PyCodeObject, co_linetable));
  CHECK(co_adaptive, offsetof(PyCodeObject, co_code_adaptive));
  CHECK(lines_format, 3);
#endif
  CHECK(co_filename, offsetof(PyCodeObject, co_filename));
  CHECK(co_name, offsetof(PyCodeObject, co_name));
  CHECK(co_firstlineno, offsetof(PyCodeObject, co_firstlineno));
  CHECK(bytes_size, offsetof(PyVarObject, ob_size));
  CHECK(bytes_sval, offsetof(PyBytesObject, ob_sval));
  CHECK(str_length, offsetof(PyASCIIObject, length));
  CHECK(str_state, offsetof(PyASCIIObject, state));
  CHECK(str_ascii_size, sizeof(PyASCIIObject));
  CHECK(str_compact_size, sizeof(PyCompactUnicodeObject));
  /* The reader decodes the state bits itself (kind at bit 2, compact 5, ascii 6). */
  if (state_mask(0) != 0x1c || state_mask(1) != 0x20 || state_mask(2) != 0x40) {
    printf("3.%d: str state bits moved (kind %#x compact %#x ascii %#x)\n", PY_MINOR_VERSION,
           state_mask(0), state_mask(1), state_mask(2));
    bad = 1;
  }
  if (offsetof(PyObject, ob_type) != 8) {
    printf("3.%d: ob_type is not at 8 (debug or free-threaded headers?)\n", PY_MINOR_VERSION);
    bad = 1;
  }
  if (!bad) printf("3.%d: layout matches the headers\n", PY_MINOR_VERSION);
  return bad;
}
