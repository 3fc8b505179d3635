/* jx.c - the jansson trampolines of jx.h: each loads the library on first use (once,
 * pthread_once) and calls the real function; without the library, constructors give
 * NULL and the rest fail as jansson does on a NULL argument. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "report/jx.h"

static struct {
#define JX_PTR(f) __typeof__(bg_jx_##f) *f;
  BG_JX_FUNCS(JX_PTR)
#undef JX_PTR
} real;
static int loaded;
static char load_err[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  static const char *names[] = {"libjansson.so.4", "libjansson.so"};
  void *h = NULL;
  for (size_t i = 0; !h && i < sizeof names / sizeof *names; i++)
    h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(load_err, sizeof load_err, "cannot load libjansson (%s)", dlerror());
    return;
  }
#define JX_SYM(f)                                                              \
  if (!(*(void **)&real.f = dlsym(h, #f))) {                                   \
    snprintf(load_err, sizeof load_err, "libjansson lacks %s (too old?)", #f); \
    return;                                                                    \
  }
  BG_JX_FUNCS(JX_SYM)
#undef JX_SYM
  loaded = 1;
}

static int ready(void) {
  pthread_once(&once, load);
  return loaded;
}

const char *bg_jx_error(void) { return load_err; }
int bg_jx_load(void) { return ready(); }

/* Trampolines: jansson's own prototypes (jx.h renamed them), NULL / -1 / 0 without it. */
json_t *bg_jx_json_object(void) { return ready() ? real.json_object() : NULL; }
json_t *bg_jx_json_array(void) { return ready() ? real.json_array() : NULL; }
json_t *bg_jx_json_string(const char *v) { return ready() ? real.json_string(v) : NULL; }
json_t *bg_jx_json_stringn(const char *v, size_t n) {
  return ready() ? real.json_stringn(v, n) : NULL;
}
json_t *bg_jx_json_integer(json_int_t v) { return ready() ? real.json_integer(v) : NULL; }
json_t *bg_jx_json_real(double v) { return ready() ? real.json_real(v) : NULL; }
double bg_jx_json_number_value(const json_t *j) { return ready() ? real.json_number_value(j) : 0; }
json_t *bg_jx_json_true(void) { return ready() ? real.json_true() : NULL; }
json_t *bg_jx_json_false(void) { return ready() ? real.json_false() : NULL; }
json_t *bg_jx_json_null(void) { return ready() ? real.json_null() : NULL; }
int bg_jx_json_object_set_new(json_t *o, const char *k, json_t *v) {
  return ready() ? real.json_object_set_new(o, k, v) : -1;
}
json_t *bg_jx_json_object_get(const json_t *o, const char *k) {
  return ready() ? real.json_object_get(o, k) : NULL;
}
size_t bg_jx_json_object_size(const json_t *o) { return ready() ? real.json_object_size(o) : 0; }
void *bg_jx_json_object_iter(json_t *o) { return ready() ? real.json_object_iter(o) : NULL; }
const char *bg_jx_json_object_iter_key(void *it) {
  return ready() ? real.json_object_iter_key(it) : NULL;
}
json_t *bg_jx_json_object_iter_value(void *it) {
  return ready() ? real.json_object_iter_value(it) : NULL;
}
void *bg_jx_json_object_iter_next(json_t *o, void *it) {
  return ready() ? real.json_object_iter_next(o, it) : NULL;
}
void *bg_jx_json_object_key_to_iter(const char *k) {
  return ready() ? real.json_object_key_to_iter(k) : NULL;
}
int bg_jx_json_array_append_new(json_t *a, json_t *v) {
  return ready() ? real.json_array_append_new(a, v) : -1;
}
size_t bg_jx_json_array_size(const json_t *a) { return ready() ? real.json_array_size(a) : 0; }
json_t *bg_jx_json_array_get(const json_t *a, size_t i) {
  return ready() ? real.json_array_get(a, i) : NULL;
}
const char *bg_jx_json_string_value(const json_t *v) {
  return ready() ? real.json_string_value(v) : NULL;
}
json_int_t bg_jx_json_integer_value(const json_t *v) {
  return ready() ? real.json_integer_value(v) : 0;
}
char *bg_jx_json_dumps(const json_t *v, size_t flags) {
  return ready() ? real.json_dumps(v, flags) : NULL;
}
int bg_jx_json_dump_callback(const json_t *v, json_dump_callback_t cb, void *data, size_t flags) {
  return ready() ? real.json_dump_callback(v, cb, data, flags) : -1;
}
json_t *bg_jx_json_loadb(const char *b, size_t n, size_t flags, json_error_t *e) {
  if (ready()) return real.json_loadb(b, n, flags, e);
  if (e) snprintf(e->text, sizeof e->text, "%.*s", (int)sizeof e->text - 1, load_err);
  return NULL;
}
void bg_jx_json_delete(json_t *v) {
  if (ready()) real.json_delete(v);
}
