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
 *   - every format of the table renders; SARIF is valid JSON, every /metrics line is
 *     well-formed exposition text, the pprof profile gunzips and decodes against
 *     profile.proto with every id it uses defined, every folded line is "stack N";
 *   - merging the report with itself doubles every count (`blockguard report DIR`);
 *     a baseline diff against itself finds nothing new;
 *   - the suggested allowlist (`report --suppressions`) parses as an allowlist, with
 *     exactly one rule line per distinct suggestion: program strings (function names,
 *     call names) never break out of a comment or a rule.
 * On rejected input the error message must be non-empty and name the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "guard/rules.h"
#include "report/http.h"
#include "report/format.h"
#include "profile.pb-c.h" /* generated from third_party/pprof/profile.proto */

static uint64_t total(const bg_model_t *m) {
  uint64_t n = 0;
  for (int i = 0; i < m->nsites; i++) n += m->sites[i].count;
  return n;
}

/* Prometheus text format, line by line: "# ..." or NAME[{k="v",...}] VALUE, label
 * values escaping only backslash, quote and newline.  A program string that broke out
 * of its label would corrupt every scrape of the endpoint. */
static int metric_name_char(char c, int first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

static void check_metrics(const char *text) {
  for (const char *l = text; *l;) {
    const char *e = strchr(l, '\n');
    if (!e) {
      fprintf(stderr, "metrics: last line not terminated\n");
      abort();
    }
    if (*l != '#' && e > l) {
      const char *p = l;
      if (!metric_name_char(*p, 1)) goto bad;
      while (metric_name_char(*p, 0)) p++;
      if (*p == '{') {
        p++;
        while (*p != '}') {
          if (!metric_name_char(*p, 1)) goto bad;
          while (metric_name_char(*p, 0)) p++;
          if (*p++ != '=' || *p++ != '"') goto bad;
          while (*p != '"') {
            if (p >= e) goto bad;
            if (*p == '\\') {
              p++;
              if (*p != '\\' && *p != '"' && *p != 'n') goto bad;
            }
            p++;
          }
          p++;
          if (*p == ',')
            p++;
          else if (*p != '}')
            goto bad;
        }
        p++;
      }
      if (*p++ != ' ') goto bad;
      char *end;
      strtod(p, &end);
      if (end != e) goto bad;
    }
    l = e + 1;
    continue;
  bad:
    fprintf(stderr, "metrics: malformed line: %.*s\n", (int)(e - l), l);
    abort();
  }
}

/* A profile decodes (gzip, then profile.proto) and every id it uses exists. */
static void check_pprof(const char *gz, size_t len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  size_t cap = 64 << 20;
  uint8_t *raw = malloc(cap);
  if (!raw || inflateInit2(&z, 15 + 16) != Z_OK) abort();
  z.next_in = (Bytef *)gz, z.avail_in = (uInt)len;
  z.next_out = raw, z.avail_out = (uInt)cap;
  if (inflate(&z, Z_FINISH) != Z_STREAM_END) {
    fprintf(stderr, "pprof: not a complete gzip stream\n");
    abort();
  }
  Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, z.total_out, raw);
  inflateEnd(&z);
  free(raw);
  if (!p || !p->n_string_table || p->string_table[0][0]) {
    fprintf(stderr, "pprof: does not decode, or string_table[0] is not empty\n");
    abort();
  }
  for (size_t i = 0; i < p->n_sample; i++) {
    if (p->sample[i]->n_value != p->n_sample_type) abort();
    for (size_t k = 0; k < p->sample[i]->n_location_id; k++)
      if (p->sample[i]->location_id[k] == 0 || p->sample[i]->location_id[k] > p->n_location)
        abort();
    for (size_t k = 0; k < p->sample[i]->n_label; k++)
      if ((size_t)p->sample[i]->label[k]->str >= p->n_string_table) abort();
  }
  for (size_t i = 0; i < p->n_location; i++)
    if (p->location[i]->mapping_id > p->n_mapping) abort();
  perftools__profiles__profile__free_unpacked(p, NULL);
}

/* Every folded line is "frames value": one blank before a number, no empty frame list. */
static void check_folded(const char *t) {
  for (const char *l = t; *l;) {
    const char *e = strchr(l, '\n');
    if (!e) abort();
    const char *sp = e;
    while (sp > l && sp[-1] != ' ') sp--;
    if (sp == l || sp == e || sp - 1 == l || strspn(sp, "0123456789") != (size_t)(e - sp)) {
      fprintf(stderr, "folded: malformed line: %.*s\n", (int)(e - l), l);
      abort();
    }
    l = e + 1;
  }
}

static void check_formats(const bg_model_t *m) {
  char *metrics = bg_render_metrics(m);
  if (!metrics) abort();
  check_metrics(metrics);
  free(metrics);
  /* every row of the format table renders whatever a report file held */
  for (int f = 0; f < BG_FMT_COUNT; f++) {
    size_t len = 0;
    char *out = bg_render_n(m, f, NULL, &len);
    if (!out || out[len] != 0) {
      fprintf(stderr, "format %s: %s\n", bg_formats[f].name, bg_render_error());
      abort();
    }
    if (f == BG_FMT_pprof) check_pprof(out, len);
    if (f == BG_FMT_folded) check_folded(out);
    free(out);
  }
  char *sarif = bg_render(m, "sarif");
  if (!sarif) abort();
  json_error_t je;
  json_t *j = json_loads(sarif, 0, &je);
  if (!j) {
    fprintf(stderr, "SARIF output is not JSON: %s\n%s\n", je.text, sarif);
    abort();
  }
  json_decref(j);
  free(sarif);
}

static void check_merge(const bg_model_t *m) {
  bg_merge_t g;
  bg_model_t out;
  bg_merge_init(&g);
  if (bg_merge_add(&g, m) < 0 || bg_merge_add(&g, m) < 0) abort();
  bg_merge_finish(&g, &out);
  /* counts are uint64 and may wrap on hostile input: compare modulo 2^64 */
  if (total(&out) != 2 * total(m)) {
    fprintf(stderr, "merge of a report with itself: %llu, expected 2 x %llu\n",
            (unsigned long long)total(&out), (unsigned long long)total(m));
    abort();
  }
  int *is_new = calloc((size_t)m->nsites + 1, sizeof *is_new);
  if (!is_new) abort();
  int n = bg_baseline_diff(m, m, is_new);
  if (n != 0) {
    fprintf(stderr, "baseline diff of a report against itself: %d new sites\n", n);
    abort();
  }
  free(is_new);
  bg_model_free(&out);
}

static void check_suppressions(const bg_model_t *m) {
  char *supp = bg_render_suppressions(m);
  if (!supp) abort();
  int lines = 0;
  for (const char *p = supp; *p; p++)
    if ((p == supp || p[-1] == '\n') && *p != '#' && *p != '\n') lines++;
  bg__rules_t rs;
  char err[512];
  if (bg__rules_parse(&rs, "suggested.supp", supp, strlen(supp), err, sizeof err) < 0) {
    fprintf(stderr, "suggested allowlist does not parse: %s\n%s\n", err, supp);
    abort();
  }
  if (rs.n != lines) {
    fprintf(stderr, "suggested allowlist: %d rules parsed from %d rule lines\n%s\n", rs.n, lines,
            supp);
    abort();
  }
  for (int i = 0; i < rs.n; i++)
    if (!rs.rules[i].allow) abort();
  bg__rules_free(&rs);
  free(supp);
}

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
    fprintf(stderr, "render/read cycle is not stable:\n--- 2\n%s\n--- 3\n%s\n", j2,
            j3 ? j3 : "(null)");
    abort();
  }
  check_formats(&m);
  check_merge(&m);
  check_suppressions(&m);
  for (int i = 0; i < m.nsites; i++) free(bg_render_site_json(&m.sites[i]));
  free(j1), free(j2), free(j3);
  bg_model_free(&m);
  bg_model_free(&m2);
  bg_model_free(&m3);
  return 0;
}
