/* dlerror_clean.c - the shim's own failed lookups must not show in the program's
 * dlerror().  A violation on the main thread makes the shim look for a Python runtime
 * and V8 (absent here: dlsym fails inside the shim); the program then asks dlerror(),
 * which must say "no error" as it does bare, and its own failed lookup afterwards must
 * still be reported with its own message. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  (void)dlerror();
  usleep(1000); /* a violation under threads=main: the site is captured */
  const char *e = dlerror();
  printf("after violation: %s\n", e ? e : "(none)");
  void *p = dlsym(RTLD_DEFAULT, "no_such_symbol_here");
  e = dlerror();
  printf("own lookup: %s %s\n", p ? "found" : "missing",
         e && strstr(e, "no_such_symbol_here") ? "own message" : "wrong message");
  return 0;
}
