/* dlsym_host.c - dlopens libbgt_read.so RTLD_LOCAL and asks it for bgt_scope(): the
 * library's RTLD_DEFAULT and RTLD_NEXT lookups must see its own dependency, as without
 * the shim (glibc answers relative to the caller).  Then reads a pipe through the
 * program's own read (the preloaded interposers' business).  Prints both. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  void *h = dlopen(argc > 1 ? argv[1] : "libbgt_read.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  int (*scope)(void) = (int (*)(void))dlsym(h, "bgt_scope");
  printf("scope %d\n", scope ? scope() : -2);
  int p[2];
  char buf[8] = {0};
  if (pipe(p) < 0 || write(p[1], "abc", 3) != 3) return 1;
  printf("read %zd '%s'\n", read(p[0], buf, sizeof buf - 1), buf);
  return 0;
}
