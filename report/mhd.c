/* mhd.c - libmicrohttpd, loaded on demand (see mhd.h for why). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "report/mhd.h"
#include "report/model.h"

static bg_mhd_t table;
static int loaded;
static char load_err[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load_locked(void) {
  /* The runtime package ships the versioned name; the -dev symlink is a fallback. */
  static const char *names[] = {"libmicrohttpd.so.12", "libmicrohttpd.so"};
  void *h = NULL;
  for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
    h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(load_err, sizeof load_err, "cannot load libmicrohttpd (%s)", dlerror());
    return;
  }
#define BG__SYM(field, name)                                                         \
  if (!(*(void **)&table.field = dlsym(h, #name))) {                                 \
    snprintf(load_err, sizeof load_err, "libmicrohttpd lacks %s (too old?)", #name); \
    return;                                                                          \
  }
  BG__SYM(start_daemon, MHD_start_daemon)
  BG__SYM(stop_daemon, MHD_stop_daemon)
  BG__SYM(quiesce_daemon, MHD_quiesce_daemon)
  BG__SYM(create_response_from_buffer, MHD_create_response_from_buffer)
  BG__SYM(add_response_header, MHD_add_response_header)
  BG__SYM(queue_response, MHD_queue_response)
  BG__SYM(destroy_response, MHD_destroy_response)
  BG__SYM(lookup_connection_value, MHD_lookup_connection_value)
  BG__SYM(suspend_connection, MHD_suspend_connection)
  BG__SYM(resume_connection, MHD_resume_connection)
  BG__SYM(get_connection_info, MHD_get_connection_info)
#undef BG__SYM
  loaded = 1;
}

static void load(void) {
  bg_dl_gate_enter(); /* no fork while half loaded (report/dlgate.c) */
  load_locked();
  bg_dl_gate_leave();
}

const bg_mhd_t *bg_mhd(char *err, size_t errlen) {
  pthread_once(&once, load);
  if (loaded) return &table;
  snprintf(err, errlen, "http: %s", load_err);
  return NULL;
}
