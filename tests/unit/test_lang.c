/* test_lang.c - the pieces under the Python frame reader: the readability page cache
 * (guard/readable.c) and the interned language-frame table (guard/lang.c).
 *
 * The page cache may answer "readable" without a system call only for a page that is
 * still mapped: after munmap or mprotect(PROT_NONE) the wrappers forget it and the next
 * question goes to the kernel again.  The frame table hands out stable ids, the same
 * id for the same frame, and strings that outlive the caller's buffers.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "guard/lang.h"
#include "guard/lang_py.h"
#include "guard/perfmap.h"
#include "guard/readable.h"

static void readable_memory(void **s) {
  (void)s;
  long pg = sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, 3 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  p[0] = 42;
  assert_true(bg__readable(p, 2 * (size_t)pg));
  uint64_t before = bg__readable_probes();
  assert_true(bg__readable(p + 10, 100)); /* remembered: no probe */
  assert_int_equal(bg__readable_probes(), before);
  char c = 0;
  assert_true(bg__read(&c, p, 1));
  assert_int_equal(c, 42);
  /* the middle page becomes unreadable: forgotten, and the kernel says no */
  assert_int_equal(mprotect(p + pg, (size_t)pg, PROT_NONE), 0);
  bg__readable_forget(p + pg, (size_t)pg);
  assert_false(bg__readable(p, 2 * (size_t)pg));
  assert_true(bg__readable(p, 10));
  assert_int_equal(munmap(p, 3 * (size_t)pg), 0);
  bg__readable_forget(p, 3 * (size_t)pg);
  assert_false(bg__readable(p, 1));
  assert_false(bg__read(&c, p, 1));
  /* nonsense addresses never reach the kernel */
  before = bg__readable_probes();
  assert_false(bg__readable(NULL, 8));
  assert_false(bg__readable((void *)16, 8));
  assert_false(bg__readable((void *)(~(uintptr_t)0 - 4), 8));
  assert_int_equal(bg__readable_probes(), before);
}

static void readable_futex_fallback(void **s) {
  (void)s;
  bg__readable_use_futex(1);
  bg__readable_reset();
  static const char ro[] = "read-only";
  assert_true(bg__readable(ro, sizeof ro));
  void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_false(bg__readable(p, 1));
  munmap(p, 4096);
  bg__readable_use_futex(0);
}

/* A large range forgets by one pass over the table. */
static void readable_forget_large(void **s) {
  (void)s;
  size_t len = 1024 * 4096;
  char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (size_t off = 0; off < len; off += 64 * 4096) assert_true(bg__readable(p + off, 1));
  munmap(p, len);
  bg__readable_forget(p, len);
  for (size_t off = 0; off < len; off += 64 * 4096) assert_false(bg__readable(p + off, 1));
}

static void frames_interned(void **s) {
  (void)s;
  char func[32], file[32];
  strcpy(func, "handler");
  strcpy(file, "/srv/app.py");
  uint32_t a = bg__lframe_intern(BG_LANG_PYTHON, func, file, 12);
  uint32_t b = bg__lframe_intern(BG_LANG_PYTHON, "handler", "/srv/app.py", 12);
  uint32_t c = bg__lframe_intern(BG_LANG_PYTHON, "handler", "/srv/app.py", 13);
  uint32_t d = bg__lframe_intern(BG_LANG_JS, "handler", "/srv/app.py", 12);
  assert_true(a > 0);
  assert_int_equal(a, b);
  assert_true(c != a && d != a && c != d);
  memset(func, 'x', sizeof func - 1); /* the table owns its copies */
  bg__lframe_t f;
  assert_true(bg__lframe_get(a, &f));
  assert_string_equal(f.function, "handler");
  assert_string_equal(f.file, "/srv/app.py");
  assert_int_equal(f.line, 12);
  assert_int_equal(f.lang, BG_LANG_PYTHON);
  assert_true(bg__lframe_get(d, &f));
  assert_int_equal(f.lang, BG_LANG_JS);
  assert_false(bg__lframe_get(0, &f));
  assert_false(bg__lframe_get(1u << 30, &f));
  assert_true(bg__lframe_intern(BG_LANG_JIT, "anon", "", 0) > 0);
}

/* Without a Python runtime (this test program), capture leaves stacks alone. */
static void no_python_no_change(void **s) {
  (void)s;
  bg__lang_init();
  uintptr_t pcs[3] = {0x401000, 0x402000, 0x403000};
  assert_int_equal(bg__lang_capture(pcs, 3, 64), 3);
  assert_int_equal(pcs[1], 0x402000);
  assert_false(bg__py_active);
  assert_false(bg__py_is_word(pcs[0]));
  assert_true(bg__py_is_word(BG_PY_TAG | 5));
}

/* The layout parser refuses what it does not know rather than guess. */
static void debug_offsets_refused(void **s) {
  (void)s;
  uint64_t dbg[80] = {0};
  bg__py_layout_t l;
  assert_int_equal(bg__py_layout_from_debug(dbg, sizeof dbg, &l), -1); /* no cookie */
  memcpy(dbg, "xdebugpy", 8);
  dbg[1] = 0x030f00f0; /* 3.15: layout unknown here */
  assert_int_equal(bg__py_layout_from_debug(dbg, sizeof dbg, &l), -1);
  dbg[1] = 0x030d00f0; /* 3.13 but every offset 0 and sizes 0: fails the sanity checks */
  assert_int_equal(bg__py_layout_from_debug(dbg, sizeof dbg, &l), -1);
  assert_int_equal(bg__py_layout_for(7, &l), -1);
  assert_int_equal(bg__py_layout_for(12, &l), 0);
  assert_int_equal(l.minor, 12);
}

/* perf-map names: node's tiers and forms, CPython's trampolines, anything else. */
static void perfmap_names(void **s) {
  (void)s;
  char f[128], file[128];
  int line;
  assert_int_equal(
      bg__perfmap_parse_name("JS:*handler /srv/app.js:3:17", f, sizeof f, file, sizeof file, &line),
      BG_LANG_JS);
  assert_string_equal(f, "handler");
  assert_string_equal(file, "/srv/app.js");
  assert_int_equal(line, 3);
  assert_int_equal(bg__perfmap_parse_name("LazyCompile:~Module._load node:internal/modules/"
                                          "cjs/loader:1003:24",
                                          f, sizeof f, file, sizeof file, &line),
                   BG_LANG_JS);
  assert_string_equal(f, "Module._load");
  assert_string_equal(file, "node:internal/modules/cjs/loader");
  assert_int_equal(line, 1003);
  /* V8 10 (node 18): no column; node's own modules have a ':' in their name */
  assert_int_equal(bg__perfmap_parse_name("LazyCompile:~readFileSync node:fs:441", f, sizeof f,
                                          file, sizeof file, &line),
                   BG_LANG_JS);
  assert_string_equal(f, "readFileSync");
  assert_string_equal(file, "node:fs");
  assert_int_equal(line, 441);
  assert_int_equal(bg__perfmap_parse_name("LazyCompile:*readConfig /srv/app.js:7", f, sizeof f,
                                          file, sizeof file, &line),
                   BG_LANG_JS);
  assert_string_equal(file, "/srv/app.js");
  assert_int_equal(line, 7);
  assert_int_equal(bg__perfmap_parse_name("JS:~x node:internal/fs/utils:671:5", f, sizeof f, file,
                                          sizeof file, &line),
                   BG_LANG_JS);
  assert_string_equal(file, "node:internal/fs/utils");
  assert_int_equal(line, 671);
  assert_int_equal(
      bg__perfmap_parse_name("JS:^ /srv/app.js:1:1", f, sizeof f, file, sizeof file, &line),
      BG_LANG_JS);
  assert_string_equal(f, "(anonymous)");
  assert_int_equal(
      bg__perfmap_parse_name("py::Store.commit:/srv/app.py", f, sizeof f, file, sizeof file, &line),
      BG_LANG_PYTHON);
  assert_string_equal(f, "Store.commit");
  assert_string_equal(file, "/srv/app.py");
  assert_int_equal(
      bg__perfmap_parse_name("Builtin:ArrayMap", f, sizeof f, file, sizeof file, &line),
      BG_LANG_JIT);
  assert_string_equal(f, "Builtin:ArrayMap");
  assert_string_equal(file, "");
}

/* A map written while the process runs: later lines win, partial lines wait. */
static void perfmap_lookup(void **s) {
  (void)s;
  char path[64];
  snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)getpid());
  FILE *m = fopen(path, "w");
  assert_non_null(m);
  fprintf(m, "7f0000001000 100 JS:~first /a.js:1:1\n7f0000002000 80 JS:*second /a.js:9:1\n");
  fflush(m);
  bg__lframe_t lf;
  uint32_t id = bg__perfmap_frame(0x7f0000001010);
  assert_true(id && bg__lframe_get(id, &lf));
  assert_string_equal(lf.function, "first");
  assert_int_equal(bg__perfmap_frame(0x7f0000003000), 0); /* not mapped (yet) */
  fprintf(m, "7f0000001000 100 JS:*first_again /a.js:1:1\n7f0000003000 10 Stub:CEntry");
  fflush(m); /* the last line has no newline yet: not read */
  id = bg__perfmap_frame(0x7f0000001010);
  assert_true(id && bg__lframe_get(id, &lf));
  assert_string_equal(lf.function, "first_again");
  assert_int_equal(bg__perfmap_frame(0x7f0000003005), 0);
  fprintf(m, "\n");
  fflush(m);
  id = bg__perfmap_frame(0x7f0000003005);
  assert_true(id && bg__lframe_get(id, &lf));
  assert_string_equal(lf.function, "Stub:CEntry");
  assert_int_equal(lf.lang, BG_LANG_JIT);
  fclose(m);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(readable_memory),       cmocka_unit_test(readable_futex_fallback),
      cmocka_unit_test(readable_forget_large), cmocka_unit_test(frames_interned),
      cmocka_unit_test(no_python_no_change),   cmocka_unit_test(debug_offsets_refused),
      cmocka_unit_test(perfmap_names),         cmocka_unit_test(perfmap_lookup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
