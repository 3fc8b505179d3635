/* pprof_render.c - time to render a pprof profile (gzipped profile.proto) of a full
 * site table: SITES sites (4096, max_sites' default) x FRAMES frames (16, stack_depth's
 * default), as /debug/pprof/block, push= and format=pprof do.  The renderer is
 * build/libblockguard-pprof.so, loaded with dlopen like the shim does.  Stacks look
 * like a server's: the frames near the root are shared by every site (main, the event
 * loop), the leaf side is distinct, 8 objects, names and file:line per frame.
 * Prints the fastest of RUNS renders in ms, then the profile's size in bytes.
 * Usage: pprof_render LIBBLOCKGUARD-PPROF.so [SITES FRAMES RUNS]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report/format.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int nsites = argc > 2 ? atoi(argv[2]) : 4096, nframes = argc > 3 ? atoi(argv[3]) : 16;
  int runs = argc > 4 ? atoi(argv[4]) : 15;
  void *h = dlopen(argv[1], RTLD_NOW);
  char *(*render)(const bg_model_t *, const bg_render_opt_t *, size_t *) =
      h ? (char *(*)(const bg_model_t *, const bg_render_opt_t *, size_t *))dlsym(h, "bg__pprof_render") : NULL;
  if (!render) {
    fprintf(stderr, "pprof_render: %s\n", dlerror());
    return 1;
  }
  static const char *mods[8] = {"/usr/sbin/server", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                "/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/libstorage.so.2",
                                "/usr/lib/libproto.so.1", "/usr/lib/libevent-2.1.so.7",
                                "/usr/lib/libz.so.1", "/usr/lib/libjson.so.4"};
  bg_model_t m;
  memset(&m, 0, sizeof m);
  m.version = strdup("0.2.0");
  m.pid = 1;
  m.argc = 1;
  m.argv = calloc(2, sizeof *m.argv);
  m.argv[0] = strdup("/usr/sbin/server");
  m.started_ns = 1, m.ended_ns = 60000000000ull;
  m.sites = calloc((size_t)nsites, sizeof *m.sites);
  m.nsites = nsites;
  char buf[256];
  for (int i = 0; i < nsites; i++) {
    bg_rsite_t *s = &m.sites[i];
    snprintf(s->id, sizeof s->id, "%016x", i * 2654435761u);
    s->call = strdup(i % 3 ? "read" : "fsync");
    s->category = strdup(i % 3 ? "io" : "disk");
    s->action = strdup("report");
    s->count = 100 + (uint64_t)i;
    s->total_ns = 1000000 + (uint64_t)i * 1000;
    s->threads = calloc(1, sizeof *s->threads);
    s->threads[0] = strdup("loop");
    s->nthreads = 1;
    s->frames = calloc((size_t)nframes, sizeof *s->frames);
    s->nframes = nframes;
    for (int k = 0; k < nframes; k++) {
      bg_rframe_t *f = &s->frames[k];
      /* leaf side distinct per site, root side shared by all */
      int shared = k >= nframes - 4, key = shared ? k : (i * nframes + k) % 20000;
      int mod = shared ? 0 : key % 8;
      f->offset = 0x1000 + (uint64_t)key * 64;
      f->pc = 0x7f0000000000ull + (uint64_t)mod * 0x10000000 + f->offset;
      f->module = strdup(mods[mod]);
      snprintf(buf, sizeof buf, "function_%d", key);
      f->function = strdup(buf);
      snprintf(buf, sizeof buf, "/src/project/module_%d.c", key % 300);
      f->file = strdup(buf);
      f->line = 10 + key % 900;
      f->lang = BG_LANG_C;
    }
  }
  m.modules = calloc(8, sizeof *m.modules);
  for (int i = 0; i < 8; i++) {
    m.modules[i].path = strdup(mods[i]);
    m.modules[i].build_id = strdup("3a6e1bb1fd32d38c8cf216d7d0b75ff9bdff0a36");
  }
  m.nmodules = 8;
  bg_render_opt_t o = {.value = BG_VALUE_BLOCKED};
  double best = 1e9;
  size_t len = 0;
  for (int r = 0; r < runs; r++) {
    double t0 = now_ms();
    char *out = render(&m, &o, &len);
    double dt = now_ms() - t0;
    if (!out) return 1;
    const char *keep = getenv("PPROF_RENDER_OUT"); /* to look at the profile */
    FILE *f = keep && r == 0 ? fopen(keep, "wb") : NULL;
    if (f) fwrite(out, 1, len, f), fclose(f);
    free(out);
    if (dt < best) best = dt;
  }
  printf("%.3f\n%zu\n", best, len);
  return 0;
}
