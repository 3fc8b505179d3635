/* test_utf8.c - one invalid-UTF-8 policy, the same string in every report format.
 *
 * report/utf8.h decides: each byte that does not start a well-formed UTF-8 sequence
 * becomes U+FFFD.  The first test pins that rule on the classic bad inputs (a lone
 * byte, a truncated sequence, an overlong form, a surrogate, a code point above
 * U+10FFFF).  The second puts one hostile string into a site's call, thread and
 * function names and renders every format of report/formats.def: each must contain
 * exactly the replacement the rule gives, never the raw bad bytes, and (the text
 * formats) be valid UTF-8 from the first byte to the last.  A renderer that keeps its
 * own policy ('?' for every non-ASCII byte, bytes passed through) fails here.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "report/format.h"

#define R BG__UTF8_REPLACEMENT
/* lone 0xff; E2 82 cut short; overlong C0 AF; surrogate ED A0 80; F4 90 80 80 above
 * U+10FFFF; then a valid euro sign, which must survive. */
#define BAD "rd\xffx\xE2\x82y\xC0\xAFz\xED\xA0\x80w\xF4\x90\x80\x80v\xE2\x82\xAC"
#define GOOD "rd" R "x" R R "y" R R "z" R R R "w" R R R R "v\xE2\x82\xAC"

static void policy(void **state) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"", ""},
      {"plain ascii", "plain ascii"},
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"\xff", R},
      {"a\x80\x42", "a" R "B"}, /* \x42: 'B' */
      {"\xE2\x82", R R},        /* truncated at the end */
      {"\xC0\xAF", R R},        /* overlong '/' */
      {"\xE0\x80\xAF", R R R},
      {"\xED\xA0\x80", R R R},       /* U+D800 */
      {"\xF4\x90\x80\x80", R R R R}, /* U+110000 */
      {"\xF8\x88\x80\x80\x80", R R R R R},
      {"\xEF\xBF\xBF", "\xEF\xBF\xBF"}, /* U+FFFF is well-formed UTF-8 */
      {BAD, GOOD},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t len = 0;
    char *c = bg__utf8_clean(cases[i].in, &len);
    assert_non_null(c);
    assert_string_equal(c, cases[i].out);
    assert_int_equal(len, strlen(cases[i].out));
    assert_int_equal(bg__utf8_valid(cases[i].in), !strcmp(cases[i].in, cases[i].out));
    assert_true(bg__utf8_valid(c));
    free(c);
  }
}

static void make_model(bg_model_t *m) {
  memset(m, 0, sizeof *m);
  m->tool = strdup("blockguard");
  m->version = strdup("0.2.0");
  m->pid = 77;
  m->argc = 1;
  m->argv = calloc(2, sizeof *m->argv);
  m->argv[0] = strdup("./srv-" BAD);
  m->started_ns = 1, m->ended_ns = 2000000000ull;
  m->nsites = 1;
  m->sites = calloc(1, sizeof *m->sites);
  bg_rsite_t *s = &m->sites[0];
  strcpy(s->id, "00000000deadbeef");
  s->call = strdup(BAD);
  s->category = strdup("io");
  s->action = strdup("report");
  s->count = 3, s->total_ns = 3000000, s->max_ns = 1000000;
  s->threads = calloc(1, sizeof *s->threads);
  s->threads[s->nthreads++] = strdup("loop-" BAD);
  s->frames = calloc(1, sizeof *s->frames);
  bg_rframe_t *f = &s->frames[s->nframes++];
  f->pc = 0x555500001000, f->offset = 0x1000, f->line = 42;
  f->module = strdup("/opt/srv/bin/srv");
  f->function = strdup("fn_" BAD);
  f->file = strdup("/src/srv.c");
}

/* The decompressed profile: its string table holds the names as they are. */
static char *gunzip(const char *gz, size_t len, size_t *out) {
  size_t cap = 1 << 20;
  char *raw = malloc(cap);
  z_stream z = {0};
  assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)gz, z.avail_in = (uInt)len;
  z.next_out = (Bytef *)raw, z.avail_out = (uInt)cap;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  *out = z.total_out;
  inflateEnd(&z);
  return raw;
}

static void every_format(void **state) {
  bg_model_t m;
  make_model(&m);
  for (int fmt = 0; fmt < BG_FMT_COUNT; fmt++) {
    size_t len = 0;
    char *out = bg_render_n(&m, fmt, NULL, &len);
    if (!out) fail_msg("%s: %s", bg_formats[fmt].name, bg_render_error());
    char *text = out;
    size_t n = len;
    if (fmt == BG_FMT_pprof) text = gunzip(out, len, &n);
    if (!memmem(text, n, GOOD, strlen(GOOD)))
      fail_msg("%s: the replaced string is missing:\n%.*s", bg_formats[fmt].name, (int)n, text);
    if (memmem(text, n, "rd\xffx", 4) || memmem(text, n, "y\xC0\xAFz", 4))
      fail_msg("%s: the raw bytes are in the output", bg_formats[fmt].name);
    /* Text formats are valid UTF-8 throughout (pprof is protobuf: binary by nature). */
    if (fmt != BG_FMT_pprof && !bg__utf8_valid(text))
      fail_msg("%s: the output is not valid UTF-8", bg_formats[fmt].name);
    if (text != out) free(text);
    free(out);
  }
  bg_model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(policy),
      cmocka_unit_test(every_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
