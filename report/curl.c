/* curl.c - libcurl, loaded on demand (see curl.h for why and which build). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "report/curl.h"
#include "report/model.h"

static bg_curl_t table;
static int loaded;
static char load_err[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load_locked(void) {
  static const char *names[] = {"libcurl-gnutls.so.4", "libcurl.so.4"};
  void *h = NULL;
  for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
    if ((h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL))) table.library = names[i];
  if (!h) {
    snprintf(load_err, sizeof load_err, "cannot load libcurl (libcurl3-gnutls or libcurl4): %s",
             dlerror());
    return;
  }
#define BG__SYM(field, name)                                                             \
  if (!(*(void **)&table.field = dlsym(h, #name))) {                                     \
    snprintf(load_err, sizeof load_err, "%s lacks %s (too old?)", table.library, #name); \
    return;                                                                              \
  }
  BG__SYM(global_init, curl_global_init)
  BG__SYM(easy_init, curl_easy_init)
  BG__SYM(easy_setopt, curl_easy_setopt)
  BG__SYM(easy_perform, curl_easy_perform)
  BG__SYM(easy_getinfo, curl_easy_getinfo)
  BG__SYM(easy_cleanup, curl_easy_cleanup)
  BG__SYM(easy_strerror, curl_easy_strerror)
  BG__SYM(easy_escape, curl_easy_escape)
  BG__SYM(free, curl_free)
  BG__SYM(slist_append, curl_slist_append)
  BG__SYM(slist_free_all, curl_slist_free_all)
  BG__SYM(mime_init, curl_mime_init)
  BG__SYM(mime_addpart, curl_mime_addpart)
  BG__SYM(mime_name, curl_mime_name)
  BG__SYM(mime_data, curl_mime_data)
  BG__SYM(mime_filename, curl_mime_filename)
  BG__SYM(mime_type, curl_mime_type)
  BG__SYM(mime_free, curl_mime_free)
#undef BG__SYM
  /* no SSL-library or Win32 socket init of anyone else's: only what curl needs, once */
  CURLcode rc = table.global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    snprintf(load_err, sizeof load_err, "curl_global_init failed (%d)", (int)rc);
    return;
  }
  loaded = 1;
}

static void load(void) {
  bg_dl_gate_enter(); /* no fork while half loaded (report/dlgate.c) */
  load_locked();
  bg_dl_gate_leave();
}

const bg_curl_t *bg_curl(char *err, size_t errlen) {
  pthread_once(&once, load);
  if (loaded) return &table;
  snprintf(err, errlen, "push: %s", load_err);
  return NULL;
}
