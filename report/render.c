/* render.c - one entry point for every report file format, by name.
 *
 * The shim (report= at exit), `blockguard report --format` and the HTTP server all
 * go through bg_render, so a new format is added in one place.
 */
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

/* The text format is the summary rendered into memory. */
static char *render_text(const bg_model_t *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  bg_render_summary(f, m);
  fclose(f);
  return buf;
}

char *bg_render(const bg_model_t *m, const char *format) {
  if (!strcmp(format, "json")) return bg_render_json(m);
  if (!strcmp(format, "text")) return render_text(m);
  return NULL;
}
