/* dlsym_self.c - a program that wraps libc itself, the way interposers do: its own
 * read() counts calls and forwards to the next read found with dlsym(RTLD_NEXT).
 * Under the shim the next read is the shim's wrapper (so the read is still guarded),
 * and nothing recurses.  Also looks usleep up through an explicit libc handle.
 * Prints what it read and how many reads it saw; exits 0. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blockguard.h"

static int reads;

ssize_t read(int fd, void *buf, size_t n) {
  static ssize_t (*next)(int, void *, size_t);
  if (!next) next = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  reads++;
  return next(fd, buf, n);
}

int main(void) {
  int p[2];
  if (pipe(p) < 0) return 1;
  if (write(p[1], "hello", 5) != 5) return 1;
  char buf[16] = {0};
  ssize_t r = read(p[0], buf, sizeof buf - 1); /* blocking pipe: a violation if guarded */
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  int (*us)(useconds_t) = libc ? (int (*)(useconds_t))dlsym(libc, "usleep") : NULL;
  if (!us) return 2;
  us(1000); /* through the handle: a violation if guarded */
  printf("read %zd '%s', reads seen %d, violations %s\n", r, buf, reads,
         bg_violations() >= 2 ? "ok" : bg_violations() ? "some" : "none");
  return 0;
}
