/* test_render.c - every report format from one hand-built model.
 *
 * JSON is parsed back with the strict reader and compared field by field; text is
 * checked for the sanitizer-style frame lines; SARIF is checked by structure and, when
 * python3-jsonschema is installed, validated against the vendored official 2.1.0
 * schema (tests/validate_sarif.py); JUnit is checked by structure and, when python3
 * is there, parsed by a real XML parser.  Program strings are hostile on purpose:
 * invalid UTF-8, quotes, XML/JSON specials and control characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "report/format.h"

static void frame(bg_rframe_t *f, uint64_t pc, const char *mod, uint64_t off, const char *fn,
                  const char *file, int line) {
  f->pc = pc;
  f->module = strdup(mod);
  f->offset = off;
  f->function = strdup(fn);
  f->file = strdup(file);
  f->line = line;
}

static void make_model(bg_model_t *m) {
  memset(m, 0, sizeof *m);
  m->tool = strdup("blockguard");
  m->version = strdup("0.1.0");
  m->pid = 4242;
  m->argc = 2;
  m->argv = calloc(3, sizeof *m->argv);
  m->argv[0] = strdup("./srv");
  m->argv[1] = strdup("--name=<\"x&y\">");
  m->started_ns = 1000;
  m->ended_ns = 5000000000ull;
  m->nsites = 2;
  m->sites = calloc(2, sizeof *m->sites);
  bg_rsite_t *s = &m->sites[0];
  strcpy(s->id, "00000000deadbeef");
  s->call = strdup("read");
  s->category = strdup("io");
  s->action = strdup("report");
  s->count = 5;
  s->total_ns = 5000000;
  s->max_ns = 2000000;
  s->first_ns = 2000, s->last_ns = 3000;
  s->hist[21] = 5, s->nhist = 22;
  s->threads = calloc(2, sizeof *s->threads);
  s->threads[s->nthreads++] = strdup("loop\x01\xff");
  s->nframes = 3;
  s->frames = calloc(3, sizeof *s->frames);
  frame(&s->frames[0], 0x7f0000012345, "/lib/x86_64-linux-gnu/libc.so.6", 0x12345, "read", "", 0);
  frame(&s->frames[1], 0x555500001000, "/opt/srv/bin/srv", 0x1000, "handle_req<int>", "/src/s rv.c",
        42);
  frame(&s->frames[2], 0x555500002000, "/opt/srv/bin/srv", 0x2000, "main", "/src/s rv.c", 90);
  s = &m->sites[1];
  strcpy(s->id, "0000000000c0ffee");
  s->call = strdup("usleep");
  s->category = strdup("sleep");
  s->action = strdup("report");
  s->allowed = 1;
  s->rule = strdup("supp.txt:3");
  s->count = 1;
  s->nframes = 1;
  s->frames = calloc(1, sizeof *s->frames);
  frame(&s->frames[0], 0x555500003000, "/opt/srv/bin/srv", 0x3000, "load_config", "/src/cfg.c", 7);
  m->nunmatched = 1;
  m->unmatched_rules = calloc(1, sizeof *m->unmatched_rules);
  m->unmatched_rules[0].file = strdup("supp.txt");
  m->unmatched_rules[0].line = 9;
  m->unmatched_rules[0].text = strdup("allow connect fun:old_*");
}

static void test_json_roundtrip(void **state) {
  (void)state;
  bg_model_t m, r;
  make_model(&m);
  char *text = bg_render_json(&m), err[256];
  assert_non_null(text);
  assert_int_equal(bg_model_read_json(text, strlen(text), "mem", &r, err, sizeof err), 0);
  assert_int_equal(r.pid, 4242);
  assert_string_equal(r.argv[1], "--name=<\"x&y\">");
  assert_int_equal(r.nsites, 2);
  assert_string_equal(r.sites[0].id, "00000000deadbeef");
  assert_int_equal(r.sites[0].count, 5);
  assert_int_equal(r.sites[0].hist[21], 5);
  assert_int_equal(r.sites[0].nframes, 3);
  assert_string_equal(r.sites[0].frames[1].function, "handle_req<int>");
  assert_int_equal(r.sites[0].frames[1].offset, 0x1000);
  assert_int_equal(r.sites[0].frames[1].pc, 0x555500001000);
  assert_int_equal(r.sites[0].frames[1].line, 42);
  assert_string_equal(r.sites[0].threads[0], "loop\x01\xEF\xBF\xBD"); /* bad byte → U+FFFD */
  assert_null(r.sites[0].rule);
  assert_string_equal(r.sites[1].rule, "supp.txt:3");
  assert_true(r.sites[1].allowed);
  assert_int_equal(r.nunmatched, 1);
  assert_string_equal(r.unmatched_rules[0].text, "allow connect fun:old_*");
  assert_int_equal(r.unmatched_rules[0].line, 9);
  assert_null(r.unguarded_reason);
  /* re-rendering the parsed model gives the same document */
  char *again = bg_render_json(&r);
  assert_string_equal(again, text);
  free(again);
  free(text);
  bg_model_free(&r);
  bg_model_free(&m);
}

static void test_text(void **state) {
  (void)state;
  bg_model_t m;
  make_model(&m);
  char *t = bg_render(&m, "text");
  assert_non_null(t);
  assert_non_null(
      strstr(t, "==4242==WARNING: blockguard: blocking call read() [io] on guarded thread 'loop"));
  assert_non_null(strstr(t, "    #0 0x7f0000012345 in read (libc.so.6+0x12345)\n"));
  assert_non_null(
      strstr(t, "    #1 0x555500001000 in handle_req<int> /src/s rv.c:42 (srv+0x1000)\n"));
  assert_non_null(
      strstr(t, "5 calls, blocked 5.00ms total, 2.00ms max, action report, site 00000000deadbeef"));
  assert_non_null(strstr(t, "allowed blocking call usleep() [sleep]"));
  assert_non_null(strstr(t, "allowed by supp.txt:3"));
  assert_non_null(strstr(t, "    supp.txt:9: allow connect fun:old_*\n"));
  assert_non_null(
      strstr(t, "SUMMARY: blockguard: 5 violations at 1 site; 1 allowed call at 1 site (pid 4242"));
  /* violations come before allowed sites */
  assert_true(strstr(t, "read()") < strstr(t, "usleep()"));
  free(t);
  bg_model_free(&m);
}

static int run_python(const char *script, const char *file) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "python3 %s %s >/dev/null 2>&1", script, file);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *write_tmp(const char *text, const char *suffix) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/bg_render_XXXXXX%s", suffix);
  int fd = mkstemps(path, (int)strlen(suffix));
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static void test_sarif(void **state) {
  (void)state;
  bg_model_t m;
  make_model(&m);
  char *t = bg_render(&m, "sarif");
  assert_non_null(t);
  json_error_t je;
  json_t *doc = json_loads(t, 0, &je);
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "version")), "2.1.0");
  json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
  json_t *results = json_object_get(run, "results");
  assert_int_equal(json_array_size(results), 1); /* the allowed site is not a result */
  json_t *res = json_array_get(results, 0);
  assert_string_equal(json_string_value(json_object_get(res, "ruleId")), "blocking-call/io");
  json_t *phys =
      json_object_get(json_array_get(json_object_get(res, "locations"), 0), "physicalLocation");
  /* first frame with source outside libc: frame 1, path percent-encoded */
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(phys, "artifactLocation"), "uri")),
      "file:///src/s%20rv.c");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(phys, "region"), "startLine")), 42);
  assert_string_equal(json_string_value(json_object_get(json_object_get(res, "partialFingerprints"),
                                                        "blockguardSiteId/v1")),
                      "00000000deadbeef");
  json_t *frames = json_object_get(json_array_get(json_object_get(res, "stacks"), 0), "frames");
  assert_int_equal(json_array_size(frames), 3);
  json_t *rules = json_object_get(json_object_get(json_object_get(run, "tool"), "driver"), "rules");
  assert_int_equal(json_array_size(rules), 1);
  json_decref(doc);
  char *path = write_tmp(t, ".sarif");
  int rc = run_python("tests/validate_sarif.py", path);
  if (rc == 0)
    printf("  SARIF validated against the 2.1.0 schema\n");
  else if (rc == 77 || rc == 127)
    printf("  (python3-jsonschema not installed: SARIF checked by structure only)\n");
  else
    fail_msg("SARIF failed schema validation (python3 tests/validate_sarif.py %s)", path);
  unlink(path);
  free(t);
  bg_model_free(&m);
}

static void test_junit(void **state) {
  (void)state;
  bg_model_t m;
  make_model(&m);
  char *t = bg_render(&m, "junit");
  assert_non_null(t);
  assert_non_null(strstr(
      t, "<testsuites name=\"blockguard\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"1\""));
  assert_non_null(
      strstr(t, "name=\"read() in handle_req&lt;int&gt; /src/s rv.c:42 [00000000deadbeef]\""));
  assert_non_null(strstr(t, "<skipped message=\"allowed by supp.txt:3\"/>"));
  assert_non_null(strstr(t, "--name=&lt;&quot;x&amp;y&quot;&gt;"));
  assert_null(strchr(t, '\x01')); /* not an XML character */
  assert_null(strstr(t, "\xff"));
  char *path = write_tmp(t, ".xml");
  char cmd[512];
  snprintf(
      cmd, sizeof cmd,
      "command -v python3 >/dev/null || exit 77; python3 -c \"import sys, xml.etree.ElementTree as E;"
      " r = E.parse(sys.argv[1]).getroot(); tc = r.findall('.//testcase');"
      " sys.exit(0 if len(tc) == 2 and len(r.findall('.//failure')) == 1 else 1)\" %s",
      path);
  int st = system(cmd);
  assert_true(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77));
  unlink(path);
  free(t);
  /* an empty run still has one passing test, an unguarded one an error */
  bg_model_t e = {0};
  e.pid = 1;
  e.unguarded_reason = strdup("static binary");
  t = bg_render(&e, "junit");
  assert_non_null(strstr(t, "tests=\"1\" failures=\"0\" errors=\"1\""));
  assert_non_null(strstr(t, "<error type=\"not-guarded\" message=\"static binary\"/>"));
  free(t);
  free(e.unguarded_reason);
  e.unguarded_reason = NULL;
  t = bg_render(&e, "junit");
  assert_non_null(strstr(t, "name=\"no blocking calls on guarded threads\""));
  free(t);
  assert_null(bg_render(&e, "html5"));
  bg_model_free(&m);
}

/* Every row of the format table renders the model (and an empty one) into something
 * that names the site where the format carries sites; out-of-range indexes are refused. */
static void test_every_format(void **state) {
  (void)state;
  bg_model_t m, e = {0};
  make_model(&m);
  e.pid = 7;
  for (int f = 0; f < BG_FMT_COUNT; f++) {
    size_t len = 0;
    char *t = bg_render_n(&m, f, NULL, &len);
    if (!t) fail_msg("format %s rendered nothing", bg_formats[f].name);
    assert_true(len > 0);
    assert_int_equal(t[len], 0); /* always NUL-terminated */
    if (!bg_formats[f].binary) assert_int_equal(strlen(t), len);
    assert_non_null(bg_formats[f].content_type);
    assert_true(bg_formats[f].ext[0] && bg_formats[f].ext[0] != '.');
    /* streamed (bg_render_file) gives the same bytes as the buffer */
    char *sbuf = NULL;
    size_t slen = 0;
    FILE *sf = open_memstream(&sbuf, &slen);
    assert_int_equal(bg_render_file(&m, f, NULL, sf), 0);
    fclose(sf);
    assert_int_equal(slen, len);
    assert_memory_equal(sbuf, t, len);
    free(sbuf);
    free(t);
    t = bg_render_n(&e, f, NULL, &len);
    if (!t) fail_msg("format %s failed on an empty report", bg_formats[f].name);
    free(t);
    assert_int_equal(bg_format_find(bg_formats[f].name, strlen(bg_formats[f].name)), f);
  }
  assert_null(bg_render_n(&m, BG_FMT_COUNT, NULL, NULL));
  assert_null(bg_render_n(&m, -1, NULL, NULL));
  assert_int_equal(bg_format_find("jso", 3), -1);
  bg_model_free(&m);
}

/* The JSON writer dumps sites one at a time (report/json.c) but must give exactly what
 * one json_dumps of the whole document gives: same bytes, same indentation. */
static void test_json_streamed_layout(void **state) {
  (void)state;
  bg_model_t m, e = {0};
  make_model(&m);
  m.http_url = strdup("http://127.0.0.1:1/");
  bg_model_t *ms[] = {&m, &e};
  for (int k = 0; k < 2; k++) {
    char *t = bg_render_json(ms[k]);
    assert_non_null(t);
    json_error_t je;
    json_t *doc = json_loads(t, 0, &je);
    if (!doc) fail_msg("not JSON: %s", je.text);
    char *again = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    assert_string_equal(t, again);
    free(again), free(t);
    json_decref(doc);
  }
  bg_model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_streamed_layout),
      cmocka_unit_test(test_every_format),
      cmocka_unit_test(test_json_roundtrip),
      cmocka_unit_test(test_text),
      cmocka_unit_test(test_sarif),
      cmocka_unit_test(test_junit),
  };
  return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
