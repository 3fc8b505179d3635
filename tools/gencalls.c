/* gencalls.c - prints docs/calls.md (and, for tests, the list of rows) from the one
 * call table, preload/calls.def (+ preload/syscalls.def), so docs and tests can never
 * drift from the wrappers.
 *
 *   gencalls markdown   the docs table
 *   gencalls list       "KIND NAME CATEGORY FLAGS EXEMPT OFFLOAD" per row, KIND one of
 *                       call, custom, track, sys; EXEMPT is "never" or "args"; OFFLOAD
 *                       the offload column (never, thread, timer, uring:SHAPE)
 */
#include <stdio.h>
#include <string.h>

#include "guard/guard.h"

#define BG__BASECAT_CAT(c) #c
#define BG__BASECAT_FDCAT(fd, c) #c "/file"
#define BG__BASECAT_NRCAT() "by-number"
#define BG__BASECAT_WAITSET(k, set, n) "wait"
#define BG__LOOPSET_CAT(c) NULL
#define BG__LOOPSET_FDCAT(fd, c) NULL
#define BG__LOOPSET_NRCAT() NULL
#define BG__LOOPSET_WAITSET(k, set, n) #k " set `" #set "`"
/* The offload column as the path a call takes under the offload action. */
#define BG__OFFDOC_OFF(p) #p
#define BG__OFFDOC_URING(shape) "uring:" #shape

enum { K_CALL, K_CUSTOM, K_TRACK, K_SYS };
static const char *const kind_names[] = {"call", "custom", "track", "sys"};

struct row {
  int kind;
  const char *name, *category, *ret, *fail, *params, *exempt, *offload;
  unsigned flags;
  const char *loopset; /* WAITSET rows: what loop detection looks at */
};

static const struct row rows[] = {
/* One initializer per row kind, columns as in struct row. */
/* clang-format off */
#define BG_CALL(name, cat, flags, off, ret, fail, n, params, exempt)                     \
  {K_CALL, #name, BG__BASECAT_##cat, #ret, #fail, #params, #exempt, BG__OFFDOC_##off, flags, \
   BG__LOOPSET_##cat},
#define BG_CUSTOM(name, cat, flags, off, ret, fail, n, params, exempt)                   \
  {K_CUSTOM, #name, BG__BASECAT_##cat, #ret, #fail, #params, #exempt, BG__OFFDOC_##off, flags, \
   BG__LOOPSET_##cat},
#define BG_TRACK(name, what) {K_TRACK, #name, "-", "", "", "", what, "never", 0, NULL},
#define BG_SYSCALL(name, cat, flags, exempt)                                            \
  {K_SYS, #name, BG__BASECAT_##cat, "long", "-1", "", #exempt, "never", flags, BG__LOOPSET_##cat},
/* clang-format on */
#include "preload/calls.def"
#include "preload/syscalls.def"
};
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_TRACK

static const struct {
  const char *name, *why;
} notwrapped[] = {
#define BG_CALL(...)
#define BG_CUSTOM(...)
#define BG_TRACK(...)
#undef BG_NOTWRAPPED
#define BG_NOTWRAPPED(name, why) {name, why},
#include "preload/calls.def"
};

#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* Prints an expression as inline code, on one line, with '|' escaped for tables. */
static void code(const char *s) {
  putchar('`');
  int space = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '\n' || *p == ' ') {
      space = 1;
      continue;
    }
    if (space) putchar(' ');
    space = 0;
    if (*p == '|')
      printf("\\|");
    else
      putchar(*p);
  }
  putchar('`');
}

/* The offload column as the docs say it. */
static void print_offload_path(const char *col) {
  if (!strcmp(col, "thread"))
    printf("worker");
  else if (!strcmp(col, "timer"))
    printf("timer");
  else if (!strcmp(col, "never"))
    printf("in place");
  else if (!strncmp(col, "uring:", 6))
    printf("io_uring `%s`", col + 6);
  else
    printf("%s", col);
}

static int count(int kind) {
  int n = 0;
  for (int i = 0; i < NROWS; i++) n += rows[i].kind == kind;
  return n;
}

static void markdown(void) {
  int nblock = count(K_CALL) + count(K_CUSTOM), ntrack = count(K_TRACK);
  printf("# Wrapped calls\n\n");
  printf(
      "Generated from `preload/calls.def` and `preload/syscalls.def` by `make docs`; do "
      "not edit.\n\n");
  printf(
      "%d wrapped entry points: %d that can block (and so can be violations) and %d that "
      "only keep the shim's state right; `syscall()` dispatches %d numbers.\n\n",
      nblock + ntrack, nblock, ntrack, count(K_SYS));
  printf(
      "*Category* `X/file` means `X`, or `file` when the fd is a regular file or block\n"
      "device. *Exempt when* is the expression over the arguments with which the call\n"
      "cannot block: such calls are never violations (docs/exemptions.md explains the\n"
      "helpers). *On raise* is what the call returns, with errno EDEADLK, when the\n"
      "action is `raise` and the call is not made. *Offload* is where the call runs\n"
      "when the action is `offload` inside a coroutine (docs/offload.md): `worker` (a\n"
      "thread of the pool), `timer` (the coroutine's scheduler; a worker for arguments a\n"
      "timer cannot take), `io_uring SHAPE` (the scheduler's io_uring, as the SQE\n"
      "`bg__ur_SHAPE` in preload/offload_uring.h builds it; a worker where the kernel or\n"
      "the arguments do not allow it), `in place` (the call depends on the calling\n"
      "thread; recorded as `report`).\n\n");
  printf(
      "| call | category | exempt when | on raise | offload | notes |\n"
      "|---|---|---|---|---|---|\n");
  for (int i = 0; i < NROWS; i++) {
    const struct row *r = &rows[i];
    if (r->kind != K_CALL && r->kind != K_CUSTOM) continue;
    printf("| `%s` | %s | ", r->name, r->category);
    if (!strcmp(r->exempt, "0"))
      printf("never");
    else
      code(r->exempt);
    printf(" | ");
    if (!strcmp(r->ret, "void"))
      printf("(not called)");
    else
      code(r->fail);
    printf(" | ");
    print_offload_path(r->offload);
    printf(" | %s", r->kind == K_CUSTOM ? "hand-written; " : "");
    if (r->loopset)
      printf("never a violation as the thread's event-loop wait (loop detection reads its %s); ",
             r->loopset);
    printf("%s |\n", (r->flags & BG_F_WRITE) ? "write (exempt_fds applies)" : "");
  }
  printf("\n## syscall() numbers\n\n");
  printf(
      "`syscall(SYS_x, ...)` is reported as the call `syscall(x)`. The real `syscall()`\n"
      "always receives the number and all six argument words; numbers not listed here\n"
      "pass straight through (futex included). Arguments are the kernel's (`a1`..`a6`).\n\n");
  printf("| number | category | exempt when |\n|---|---|---|\n");
  for (int i = 0; i < NROWS; i++) {
    const struct row *r = &rows[i];
    if (r->kind != K_SYS) continue;
    printf("| `SYS_%s` | %s | ", r->name, r->category);
    if (!strcmp(r->exempt, "0"))
      printf("never");
    else
      code(r->exempt);
    printf(" |\n");
  }
  printf(
      "\n## State tracking only\n\nThese never block and never report; they keep the "
      "O_NONBLOCK cache and the thread roles right, on every thread.\n\n");
  printf("| call | what it records |\n|---|---|\n");
  for (int i = 0; i < NROWS; i++)
    if (rows[i].kind == K_TRACK) printf("| `%s` | %s |\n", rows[i].name, rows[i].exempt);
  printf("\n## Not wrapped\n\n| call | why |\n|---|---|\n");
  for (size_t i = 0; i < sizeof notwrapped / sizeof notwrapped[0]; i++)
    printf("| `%s` | %s |\n", notwrapped[i].name, notwrapped[i].why);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "markdown";
  if (!strcmp(mode, "list")) {
    for (int i = 0; i < NROWS; i++)
      printf("%s %s %s %u %s %s\n", kind_names[rows[i].kind], rows[i].name,
             rows[i].kind == K_TRACK ? "-" : rows[i].category,
             rows[i].flags | (rows[i].loopset ? BG_F_LOOP : 0u),
             rows[i].kind == K_TRACK        ? "-"
             : !strcmp(rows[i].exempt, "0") ? "never"
                                            : "args",
             rows[i].offload);
    return 0;
  }
  if (!strcmp(mode, "markdown")) {
    markdown();
    return 0;
  }
  fprintf(stderr, "usage: gencalls markdown|list\n");
  return 2;
}
