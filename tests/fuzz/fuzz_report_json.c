/* fuzz_report_json.c - libFuzzer harness for the report reader (report/json.c).
 *
 * `blockguard report DIR` and `serve` read files other processes wrote - possibly
 * truncated by a crash, possibly from another version, possibly hostile.  Whatever the
 * bytes: an error naming the file, or a model.  Never a crash or a leak.
 *
 * Properties checked on accepted input:
 *   - rendering the model to JSON and reading it back succeeds (we always read what we
 *     write), and a second render is byte-identical to the first (nothing is lost or
 *     changed in a merge/re-render cycle);
 *   - the text summary renders (it sorts and formats every site).
 * On rejected input the error message must be non-empty and name the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bg_model_t m, m2;
  char err[512];
  err[0] = 0;
  if (bg_model_read_json((const char *)data, size, "fuzz.json", &m, err, sizeof err) < 0) {
    if (strncmp(err, "fuzz.json", 9)) {
      fprintf(stderr, "error does not name the file: '%s'\n", err);
      abort();
    }
    return 0;
  }
  char *j1 = bg_render_json(&m);
  if (!j1) abort();
  if (bg_model_read_json(j1, strlen(j1), "render1", &m2, err, sizeof err) < 0) {
    fprintf(stderr, "cannot read back our own rendering: %s\n%s\n", err, j1);
    abort();
  }
  char *j2 = bg_render_json(&m2);
  if (!j2) abort();
  /* The first render may normalise (truncated ids, defaulted fields); from then on the
   * cycle must be stable. */
  bg_model_t m3;
  if (bg_model_read_json(j2, strlen(j2), "render2", &m3, err, sizeof err) < 0) abort();
  char *j3 = bg_render_json(&m3);
  if (!j3 || strcmp(j2, j3)) {
    fprintf(stderr, "render/read cycle is not stable:\n--- 2\n%s\n--- 3\n%s\n", j2, j3 ? j3 : "(null)");
    abort();
  }
  char *text = bg_render(&m, "text");
  free(text);
  for (int i = 0; i < m.nsites; i++) free(bg_render_site_json(&m.sites[i]));
  free(j1), free(j2), free(j3);
  bg_model_free(&m);
  bg_model_free(&m2);
  bg_model_free(&m3);
  return 0;
}
