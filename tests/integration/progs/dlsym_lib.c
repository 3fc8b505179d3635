/* dlsym_lib.c - an interposing library (built as libbgt_read.so): its read() counts
 * calls and forwards to dlsym(RTLD_NEXT, "read").  Preloaded after the shim, the next
 * read is libc's; had the shim's dlsym answered as the shim, it would be this very
 * function, and every read would recurse until the stack overflowed.  Also exports
 * bgt_scope(): dlsym(RTLD_DEFAULT) of a symbol only its own dependency defines, which
 * only the caller's scope can see when it is dlopen'ed RTLD_LOCAL. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

int bgt_lib_reads;

ssize_t read(int fd, void *buf, size_t n) {
  static ssize_t (*next)(int, void *, size_t);
  if (!next) next = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  if (next == read) abort(); /* what a wrong RTLD_NEXT would give */
  bgt_lib_reads++;
  return next(fd, buf, n);
}

int bgt_scope(void) {
  int (*dep)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "bgt_dep_value");
  int (*nxt)(void) = (int (*)(void))dlsym(RTLD_NEXT, "bgt_dep_value");
  return (dep ? dep() : -1) * 100 + (nxt ? nxt() : -1);
}
