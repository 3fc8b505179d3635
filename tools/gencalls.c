/* gencalls.c - prints docs/calls.md (and, for tests, the list of rows) from the one
 * call table, preload/calls.def, so docs and tests can never drift from the wrappers.
 *
 *   gencalls markdown   the docs table
 *   gencalls list       "name category flags" per row (used by the test runner)
 */
#include <stdio.h>
#include <string.h>

#include "guard/guard.h"

#define BG__BASECAT_CAT(c) #c
#define BG__BASECAT_FDCAT(fd, c) #c "/file"
#define BG__STR(...) #__VA_ARGS__

struct row {
  const char *name, *category, *ret, *params, *exempt;
  unsigned flags;
  int custom;
};

static const struct row rows[] = {
#define BG_CALL(name, cat, flags, ret, fail, n, params, exempt)                          \
  {#name, BG__BASECAT_##cat, #ret, #params, #exempt, flags, 0},
#define BG_CUSTOM(name, cat, flags, ret, fail, n, params, exempt)                        \
  {#name, BG__BASECAT_##cat, #ret, #params, #exempt, flags, 1},
#include "preload/calls.def"
};

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "markdown";
  int n = (int)(sizeof rows / sizeof rows[0]);
  if (!strcmp(mode, "list")) {
    for (int i = 0; i < n; i++) printf("%s %s %u\n", rows[i].name, rows[i].category, rows[i].flags);
    return 0;
  }
  printf("# Wrapped calls\n\n");
  printf("Generated from `preload/calls.def` by `make docs`; do not edit.\n\n");
  printf("%d wrapped entry points. *Category* `X/file` means `X`, or `file` when the fd is a\n"
         "regular file or block device. *Exempt when* lists the arguments with which the call\n"
         "cannot block: such calls are never violations.\n\n", n);
  printf("| call | category | exempt when | notes |\n|---|---|---|---|\n");
  for (int i = 0; i < n; i++) {
    const struct row *r = &rows[i];
    printf("| `%s` | %s | ", r->name, r->category);
    if (!strcmp(r->exempt, "0"))
      printf("never");
    else {
      putchar('`');
      for (const char *p = r->exempt; *p; p++) {
        if (*p == '|') printf("\\|");
        else if (*p == '\n') putchar(' ');
        else putchar(*p);
      }
      putchar('`');
    }
    printf(" | %s%s%s |\n", r->custom ? "hand-written wrapper; " : "",
           (r->flags & BG_F_LOOP) ? "event-loop wait (auto detection); " : "",
           (r->flags & BG_F_WRITE) ? "write (stderr exemption applies)" : "");
  }
  return 0;
}
