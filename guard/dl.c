/* dl.c - dlopen/dlsym for the shim's own optional lookups, leaving no trace.
 *
 * The shim asks the dynamic loader for things that are often absent: a Python runtime in
 * a program that is not Python, V8 in one that is not node, libdw, liburing, libunwind
 * on a machine without them.  Each failed dlopen/dlsym leaves an error in the calling
 * thread's dlerror state - a heap buffer glibc keeps until the next dlerror() - and
 * that thread is the program's.  Two things would follow: the program's next dlerror()
 * returns our message ("undefined symbol: PyGILState_GetThisThreadState") instead of
 * NULL, and a thread that never exits through pthread_exit (a forked child's threads)
 * leaks the buffer (valgrind: "indirectly lost ... _dl_exception_create_format").
 * So after a failure we read the message and read again: the first dlerror() marks it
 * returned, the second frees it and resets the state to "no error".
 *
 * What this cannot keep: an error of the program's own that it had not read yet when our
 * lookup ran is gone as well (a failing dl call replaces it anyway, in any library that
 * calls dlsym).  Our lookups run when a thread is first guarded or a site is first
 * captured, so that window is a blocking call between the program's failing dl call and
 * its dlerror(). */
#include <dlfcn.h>

#include "guard/guard.h"

static void forget_error(void) {
  (void)dlerror(); /* marks the message returned */
  (void)dlerror(); /* frees it */
}

void *bg__dlsym_quiet(void *handle, const char *name) {
  void *p = dlsym(handle, name);
  if (!p) forget_error();
  return p;
}

void *bg__dlopen_quiet(const char *path, int flags) {
  void *h = dlopen(path, flags);
  if (!h) forget_error();
  return h;
}
