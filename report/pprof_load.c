/* pprof_load.c - the pprof row of the format table: finds the renderer in
 * libblockguard-pprof.so (report/pprof/pprof.c) on first use.
 *
 * The renderer needs libprotobuf-c and zlib; linking them into the shim would load
 * them into every guarded program, most of which never ask for a profile.  So the shim
 * dlopens the object from its own directory the first time a pprof is rendered (the
 * report= file, /debug/pprof/block, push=).  The CLI and the tests link the renderer
 * in, which the weak reference below finds without a dlopen.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "report/format.h"

typedef char *(*pprof_fn)(const bg_model_t *, const bg_render_opt_t *, size_t *);

/* Defined when the renderer is linked in (CLI, tests); NULL in the shim.  Hidden: the
 * static link decides, the dynamic linker never looks the name up in the program. */
extern char *bg__pprof_render(const bg_model_t *, const bg_render_opt_t *, size_t *)
    __attribute__((weak, visibility("hidden")));

#define BG_PPROF_OBJECT "libblockguard-pprof.so"

static pprof_fn fn;
static char load_err[8400];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load_locked(void) {
  if (bg__pprof_render) {
    fn = bg__pprof_render;
    return;
  }
  /* next to this object (the shim): build/, or $PREFIX/lib when installed */
  Dl_info di;
  char path[4096];
  if (!dladdr((void *)&load_locked, &di) || !di.dli_fname) {
    snprintf(load_err, sizeof load_err, "pprof: cannot locate the shim to find %s",
             BG_PPROF_OBJECT);
    return;
  }
  const char *slash = strrchr(di.dli_fname, '/');
  snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - di.dli_fname + 1) : 0, di.dli_fname,
           BG_PPROF_OBJECT);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(load_err, sizeof load_err, "pprof: cannot load %s (%s)", path, dlerror());
    return;
  }
  if (!(*(void **)&fn = dlsym(h, "bg__pprof_render")))
    snprintf(load_err, sizeof load_err, "pprof: %s has no bg__pprof_render", path);
}

static void load(void) {
  bg_dl_gate_enter(); /* no fork while half loaded (report/dlgate.c) */
  load_locked();
  bg_dl_gate_leave();
}

char *bg_render_pprof(const bg_model_t *m, const bg_render_opt_t *o, size_t *len) {
  pthread_once(&once, load);
  if (!fn) {
    bg_render_fail("%s", load_err);
    return NULL;
  }
  char *out = fn(m, o, len);
  if (!out) bg_render_fail("pprof: out of memory");
  return out;
}
