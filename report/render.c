/* render.c - the format table (report/formats.def) expanded, and one entry point for
 * every format.  The shim (report= at exit, guard/report_file.c; pushes, guard/push.c),
 * the CLI (`blockguard report`, tools/cmd_report.c; `blockguard run`'s tree report,
 * tools/cmd_run_tree.c) and the HTTP server (report/http.c, also behind `blockguard
 * serve`) all render through bg_render_n (a buffer) or bg_render_file (a stream:
 * STREAM rows write a big merged report without holding it).  Each row's renderer has
 * one of three signatures (TEXT, FULL, STREAM: formats.def says which); the BG__FMT_*
 * adapters below give every row the FULL one, so bg_formats[] is uniform.  Why a
 * render failed is kept per thread (bg_render_fail / bg_render_error).
 */
#define _GNU_SOURCE /* open_memstream */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/format.h"

/* Each row gets an adapter with the full signature, so the table is uniform. */
#define BG__FMT_TEXT(name, render)                                                      \
  static char *fmt_##name(const bg_model_t *m, const bg_render_opt_t *o, size_t *len) { \
    (void)o;                                                                            \
    char *s = render(m);                                                                \
    if (s) *len = strlen(s);                                                            \
    return s;                                                                           \
  }
#define BG__FMT_FULL(name, render)                                                      \
  static char *fmt_##name(const bg_model_t *m, const bg_render_opt_t *o, size_t *len) { \
    return render(m, o, len);                                                           \
  }
#define BG__FMT_STREAM(name, render)                                                    \
  static int file_##name(const bg_model_t *m, const bg_render_opt_t *o, FILE *f) {      \
    (void)o;                                                                            \
    return render(m, f);                                                                \
  }                                                                                     \
  static char *fmt_##name(const bg_model_t *m, const bg_render_opt_t *o, size_t *len) { \
    char *buf = NULL;                                                                   \
    FILE *f = open_memstream(&buf, len);                                                \
    if (!f) return NULL;                                                                \
    int bad = file_##name(m, o, f);                                                     \
    if (fclose(f) != 0 || bad) return free(buf), (char *)NULL;                          \
    return buf;                                                                         \
  }
#define BG_FORMAT(name, kind, render, ctype, ext, path, help) BG__FMT_##kind(name, render)
#include "report/formats.def"
#undef BG_FORMAT

#define BG__BINARY_TEXT 0
#define BG__BINARY_FULL 1
#define BG__BINARY_STREAM 0
#define BG__FILE_TEXT(name) NULL
#define BG__FILE_FULL(name) NULL
#define BG__FILE_STREAM(name) file_##name
const bg_format_t bg_formats[BG_FMT_COUNT] = {
#define BG_FORMAT(name, kind, render, ctype, ext, path, help) \
  {#name, ctype, ext, path, help, BG__BINARY_##kind, fmt_##name, BG__FILE_##kind(name)},
#include "report/formats.def"
#undef BG_FORMAT
};

int bg_format_find(const char *s, size_t n) {
  for (int i = 0; i < BG_FMT_COUNT; i++)
    if (strlen(bg_formats[i].name) == n && !strncmp(bg_formats[i].name, s, n)) return i;
  return -1;
}

const char *bg_format_names(void) {
  static const char names[] =
#define BG_FORMAT(name, kind, render, ctype, ext, path, help) ", " #name
#include "report/formats.def"
#undef BG_FORMAT
      ;
  return names + 2;
}

static const char *const value_names[BG_VALUE_COUNT] = {"blocked", "violations"};

int bg_value_find(const char *s, size_t n) {
  for (int i = 0; i < BG_VALUE_COUNT; i++)
    if (strlen(value_names[i]) == n && !strncmp(value_names[i], s, n)) return i;
  return -1;
}

const char *bg_value_name(int v) { return v >= 0 && v < BG_VALUE_COUNT ? value_names[v] : "?"; }

static __thread char last_error[1024];

void bg_render_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
}

const char *bg_render_error(void) { return last_error[0] ? last_error : "out of memory"; }

char *bg_render_n(const bg_model_t *m, int fmt, const bg_render_opt_t *o, size_t *len) {
  static const bg_render_opt_t defaults = {.value = BG_VALUE_BLOCKED};
  size_t dummy;
  last_error[0] = 0;
  if (fmt < 0 || fmt >= BG_FMT_COUNT) {
    bg_render_fail("unknown format %d", fmt);
    return NULL;
  }
  return bg_formats[fmt].render(m, o ? o : &defaults, len ? len : &dummy);
}

int bg_render_file(const bg_model_t *m, int fmt, const bg_render_opt_t *o, FILE *f) {
  static const bg_render_opt_t defaults = {.value = BG_VALUE_BLOCKED};
  last_error[0] = 0;
  if (fmt < 0 || fmt >= BG_FMT_COUNT) {
    bg_render_fail("unknown format %d", fmt);
    return -1;
  }
  if (bg_formats[fmt].render_file) return bg_formats[fmt].render_file(m, o ? o : &defaults, f);
  size_t len = 0;
  char *buf = bg_render_n(m, fmt, o, &len);
  if (!buf) return -1;
  int rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
  free(buf);
  return rc;
}

char *bg_render(const bg_model_t *m, const char *format) {
  return bg_render_n(m, bg_format_find(format, strlen(format)), NULL, NULL);
}
