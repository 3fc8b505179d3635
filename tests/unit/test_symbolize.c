/* test_symbolize.c - function names from guard/symbolize.c's symbol index are libdw's.
 *
 * The index replaces libdw's linear scan (dwfl_module_addrname) for speed, and must
 * pick the same name among aliases, globals and their local twins, nested and
 * overlapping symbols: compared at sampled addresses in every object loaded here and
 * in a few large ones on the machine.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/options.h"
#include "guard/sites.h"
#include "guard/symbolize.h"

static unsigned char open_at_start[4096]; /* fds the test was started with */

static int compare(const char *path, int *checked) {
  char diff[512];
  int bad = bg__sym_check_index(path, 300, diff, sizeof diff);
  if (bad > 0) print_error("%d differences, first: %s\n", bad, diff);
  if (bad >= 0) ++*checked;
  return bad;
}

static int each_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const char *path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe";
  if (access(path, R_OK) == 0) assert_true(compare(path, arg) <= 0);
  return 0;
}

static void test_same_names_as_libdw(void **state) {
  (void)state;
  if (!bg__sym_have_dwarf()) skip();
  int checked = 0;
  dl_iterate_phdr(each_object, &checked);
  assert_true(checked >= 2); /* at least the test and libc have symbols */
  static const char *const big[] = {"/usr/bin/python3", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                                    "/usr/bin/redis-server",
                                    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3"};
  for (size_t i = 0; i < sizeof big / sizeof *big; i++)
    if (access(big[i], R_OK) == 0) assert_true(compare(big[i], &checked) <= 0);
}

/* A lookup through the index names the function holding the return address. */
static __attribute__((noinline)) uintptr_t here(void) {
  return (uintptr_t)__builtin_return_address(0);
}

static void test_lookup(void **state) {
  (void)state;
  if (!bg__sym_have_dwarf()) skip();
  uintptr_t pc = here();
  uintptr_t off;
  unsigned mod = bg__module_of(pc, &off);
  (void)mod;
  Dl_info di;
  struct link_map *lm;
  assert_true(dladdr1((void *)pc, &di, (void **)&lm, RTLD_DL_LINKMAP));
  bg__sym_t sym;
  assert_true(bg__sym_lookup("/proc/self/exe", pc - lm->l_addr, &sym));
  assert_string_equal(sym.function, "test_lookup");
}

/* libdw keeps the files it read open: never at the numbers the program would get next,
 * never inherited across exec. */
static void test_fds_out_of_the_way(void **state) {
  (void)state;
  if (!bg__sym_have_dwarf()) skip();
  bg__sym_t sym;
  uintptr_t pc = (uintptr_t)__builtin_return_address(0);
  Dl_info di;
  struct link_map *lm;
  assert_true(dladdr1((void *)pc, &di, (void **)&lm, RTLD_DL_LINKMAP));
  bg__sym_lookup(di.dli_fname, pc - lm->l_addr, &sym); /* opens the object (and debug file) */
  int probe = dup(0);
  assert_true(probe >= 0);
  close(probe);
  for (int fd = probe; fd < 4096; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fd == probe || open_at_start[fd]) continue;
    assert_true(fd >= 900);       /* moved out of the way */
    assert_true(fl & FD_CLOEXEC); /* never inherited by an exec'd program */
  }
}

/* In the process, lines come only from DWARF that is cheap to open: libc's frames from
 * libc6-dbg's compressed debug file get a function name and no line, unless asked. */
static void test_lines_if_cheap(void **state) {
  (void)state;
  if (!bg__sym_have_dwarf()) skip();
  Dl_info di;
  struct link_map *lm;
  void *fn = dlsym(RTLD_DEFAULT, "getpid");
  assert_true(dladdr1(fn, &di, (void **)&lm, RTLD_DL_LINKMAP));
  uintptr_t pc = (uintptr_t)fn + 1;
  uintptr_t off;
  unsigned mod = bg__module_of(pc, &off);
  bg__sym_t cheap, full;
  assert_true(bg__sym_pc(pc, mod, off, &cheap, 1));
  assert_true(bg__sym_pc(pc, mod, off, &full, BG_SYM_LINES_ALWAYS));
  assert_string_equal(cheap.function, full.function);
  if (!full.file[0]) skip(); /* no libc debug info here */
  /* either libc's DWARF is cheap here (same answer) or the cheap call skipped it */
  assert_true(!cheap.file[0] || (!strcmp(cheap.file, full.file) && cheap.line == full.line));
}

int main(void) {
  for (int fd = 0; fd < 4096; fd++) open_at_start[fd] = fcntl(fd, F_GETFD) >= 0;
  bg__options_defaults(&bg__opt);
  bg__sites_init(); /* the module table lives in the ledger */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_names_as_libdw),
      cmocka_unit_test(test_lookup),
      cmocka_unit_test(test_fds_out_of_the_way),
      cmocka_unit_test(test_lines_if_cheap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
