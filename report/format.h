/* format.h - report formats by name: the table (report/formats.def) and bg_render.
 *
 * Everything that names a format - the format= option, `blockguard report --format`,
 * the HTTP server's /api/report?format= and per-format paths, docs/formats.md - goes
 * through this table, so a format exists everywhere or nowhere.
 */
#ifndef BG_REPORT_FORMAT_H
#define BG_REPORT_FORMAT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/model.h"

enum {
#define BG_FORMAT(name, kind, render, ctype, ext, path, help) BG_FMT_##name,
#include "report/formats.def"
#undef BG_FORMAT
  BG_FMT_COUNT
};

/* What one number per stack means, for formats that carry one (folded) and for the
 * sample type pprof viewers show first.  Names: blocked (ns, default), violations. */
enum { BG_VALUE_BLOCKED, BG_VALUE_VIOLATIONS, BG_VALUE_COUNT };

typedef struct bg_render_opt {
  int value; /* BG_VALUE_* */
} bg_render_opt_t;

typedef struct bg_format {
  const char *name, *content_type, *ext, *path, *help;
  int binary; /* may contain NUL bytes: use the length bg_render_n returns */
  char *(*render)(const bg_model_t *m, const bg_render_opt_t *o, size_t *len);
  int (*render_file)(const bg_model_t *m, const bg_render_opt_t *o, FILE *f); /* streamed */
} bg_format_t;

extern const bg_format_t bg_formats[BG_FMT_COUNT];

/* Index of the format named s[0..n), or -1. */
int bg_format_find(const char *s, size_t n);
/* "json, text, sarif, ...": every row's name, for messages and usage lines. */
const char *bg_format_names(void);
/* Value names ("blocked", "violations"): index or -1; the name of an index. */
int bg_value_find(const char *s, size_t n);
const char *bg_value_name(int v);

/* Renders m in format fmt (BG_FMT_*).  malloc'd, always NUL-terminated, *len (may be
 * NULL) is its length; NULL on allocation failure or an unknown fmt.  o may be NULL
 * (defaults). */
char *bg_render_n(const bg_model_t *m, int fmt, const bg_render_opt_t *o, size_t *len);
/* Renders m in format fmt into f, streamed where the format can (STREAM rows), else
 * through a buffer.  0, or -1 (bg_render_error() says why, or errno for a write). */
int bg_render_file(const bg_model_t *m, int fmt, const bg_render_opt_t *o, FILE *f);
/* Same by name with default options, for text formats; NULL for an unknown name. */
char *bg_render(const bg_model_t *m, const char *format);
/* Why the last bg_render_n on this thread returned NULL ("out of memory" unless a
 * renderer said more, e.g. the pprof object could not be loaded). */
const char *bg_render_error(void);
/* For renderers: records the reason of a failure (printf style). */
void bg_render_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Renderers with options (report/folded.c, report/pprof_load.c). */
char *bg_render_folded(const bg_model_t *m, const bg_render_opt_t *o, size_t *len);
char *bg_render_pprof(const bg_model_t *m, const bg_render_opt_t *o, size_t *len);
#endif
