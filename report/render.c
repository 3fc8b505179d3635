/* render.c - one entry point for every report file format, by name.
 *
 * The shim (report= at exit), `blockguard report --format` and the HTTP server all
 * go through bg_render, so a new format is added in one place.
 */
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

char *bg_render(const bg_model_t *m, const char *format) {
  if (!strcmp(format, "json")) return bg_render_json(m);
  if (!strcmp(format, "text")) return bg_render_text(m);
  if (!strcmp(format, "sarif")) return bg_render_sarif(m);
  if (!strcmp(format, "junit")) return bg_render_junit(m);
  return NULL;
}
