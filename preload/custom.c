/* custom.c - hand-written wrappers that follow threads (names, start), and the eager
 * resolution of every hand-written wrapper's real symbol.
 *
 * The other themes: custom_fd.c (open, fcntl, ioctl, dup, close, fd creation),
 * custom_stdio.c (printf/scanf variadics, fclose, popen), custom_syscall.c.  All are
 * listed in calls.def (BG_CUSTOM rows can block and report; BG_TRACK rows only keep
 * guard/ informed).  Each is transparent: the real call is made exactly once with the
 * same arguments, and its result and errno are returned untouched.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "preload/preload.h"

typedef int (*setname_fn)(pthread_t, const char *);
typedef int (*prctl_fn)(int, unsigned long, unsigned long, unsigned long, unsigned long);
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

BG_REAL_FN(setname_fn, pthread_setname_np)
BG_REAL_FN(prctl_fn, prctl)
BG_REAL_FN(create_fn, pthread_create)

BG_EXPORT int pthread_setname_np(pthread_t th, const char *name) {
  int r = bg__get_pthread_setname_np()(th, name);
  if (r == 0 && bg__core_ready()) {
    int saved = errno;
    if (pthread_equal(th, pthread_self()))
      bg__thread_name_changed(name);
    else
      bg__thread_name_changed_other((unsigned long)th, name);
    errno = saved;
  }
  return r;
}

BG_EXPORT int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  int r = bg__get_prctl()(option, a2, a3, a4, a5);
  if (r == 0 && option == PR_SET_NAME && bg__core_ready()) {
    int saved = errno;
    char name[16] = {0};
    strncpy(name, (const char *)a2, sizeof name - 1);
    bg__thread_name_changed(name);
    errno = saved;
  }
  return r;
}

/* pthread_create: the start routine is wrapped only when threads= needs to see new
 * threads start (all, name:GLOB), or when the creator is inside the core (depth > 0:
 * the dashboard server, offload workers): such a thread is a core sidecar and must
 * never be guarded.  Otherwise the call passes straight through. */
struct start_arg {
  void *(*fn)(void *);
  void *arg;
  int slot;
  int sidecar;
};

/* Blocks of threads not yet started stay referenced from here.  A fork while another
 * thread is between malloc and its new thread's start gives the child a copy of the
 * block and no thread to free it; referenced, leak checkers (valgrind, LSan) running
 * the child call it reachable instead of reporting a leak of ours.  Full table (256
 * threads starting at once): the block is simply not referenced. */
#define BG_INFLIGHT 256
static struct start_arg *inflight[BG_INFLIGHT];

static void *start_trampoline(void *p) {
  struct start_arg a = *(struct start_arg *)p;
  if (a.slot >= 0) __atomic_store_n(&inflight[a.slot], NULL, __ATOMIC_RELEASE);
  free(p);
  if (a.sidecar)
    bg__thread_start_sidecar();
  else
    bg__thread_start();
  return a.fn(a.arg);
}

BG_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg) {
  int sidecar = bg__self.depth > 0;
  if (!sidecar && !bg__thread_needs_start_hook())
    return bg__get_pthread_create()(th, attr, fn, arg);
  struct start_arg *a = malloc(sizeof *a);
  if (!a) return bg__get_pthread_create()(th, attr, fn, arg);
  a->fn = fn;
  a->arg = arg;
  a->slot = -1;
  for (int i = 0; i < BG_INFLIGHT && a->slot < 0; i++) {
    struct start_arg *none = NULL;
    if (__atomic_compare_exchange_n(&inflight[i], &none, a, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
      a->slot = i;
  }
  a->sidecar = sidecar;
  int r = bg__get_pthread_create()(th, attr, start_trampoline, a);
  if (r != 0) {
    if (a->slot >= 0) __atomic_store_n(&inflight[a->slot], NULL, __ATOMIC_RELEASE);
    free(a);
  }
  return r;
}
