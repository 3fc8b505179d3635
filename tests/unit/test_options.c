/* test_options.c - the options table: defaults, parsing, errors a user will see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "guard/guard.h"
#include "guard/options.h"

static bg__options_t o;
static char err[512];

static int parse(const char *s) {
  err[0] = 0;
  return bg__options_parse(&o, s, err, sizeof err);
}

static void defaults_match_design(void **state) {
  (void)state;
  assert_int_equal(parse(NULL), 0);
  assert_int_equal(o.mode, BG_ACT_REPORT);
  assert_true(o.threads.autodetect);
  assert_false(o.threads.main);
  assert_false(o.threads.all);
  assert_int_equal(o.categories, ((1u << BG_CAT_COUNT) - 1) & ~(1u << BG_CAT_sync));
  assert_int_equal(o.format, BG_FMT_json);
  assert_int_equal(o.min_us, 0);
  assert_int_equal(o.stack_depth, 16);
  assert_int_equal(o.max_sites, 4096);
  assert_int_equal(o.exitcode, 66);
  assert_int_equal(o.verbosity, 1);
  assert_int_equal(o.strict, 1);
  assert_int_equal(o.exempt_fds.mask, BG_EXEMPT_STDERR);
  assert_string_equal(o.report, "");
}

static void parses_every_kind(void **state) {
  (void)state;
  assert_int_equal(
      parse("mode=raise:threads=main,name:io-*:categories=sleep,dns:"
            "report=/tmp/r.%p.json:format=sarif:min_us=250:stack_depth=32:"
            "max_sites=10:exitcode=3:workers=4:verbosity=2:strict=0:exempt_fds=stdout,tty"),
      0);
  assert_int_equal(o.mode, BG_ACT_RAISE);
  assert_true(o.threads.main);
  assert_false(o.threads.autodetect);
  assert_int_equal(o.threads.nglobs, 1);
  assert_string_equal(o.threads.globs[0], "io-*");
  assert_int_equal(o.categories, (1u << BG_CAT_sleep) | (1u << BG_CAT_dns));
  assert_string_equal(o.report, "/tmp/r.%p.json");
  assert_int_equal(o.format, BG_FMT_sarif);
  assert_int_equal(o.min_us, 250);
  assert_int_equal(o.stack_depth, 32);
  assert_int_equal(o.max_sites, 10);
  assert_int_equal(o.exitcode, 3);
  assert_int_equal(o.workers, 4);
  assert_int_equal(o.verbosity, 2);
  assert_int_equal(o.strict, 0);
  assert_int_equal(o.exempt_fds.mask, BG_EXEMPT_STDOUT | BG_EXEMPT_TTY);
}

/* Values containing ':' (ADDR:PORT, name:GLOB) must not be split. */
static void colons_inside_values(void **state) {
  (void)state;
  assert_int_equal(parse("http=127.0.0.1:8080:mode=warn"), 0);
  assert_string_equal(o.http, "127.0.0.1:8080");
  assert_int_equal(o.mode, BG_ACT_WARN);
  assert_int_equal(parse("threads=name:w*:http=[::1]:0"), 0);
  assert_string_equal(o.threads.globs[0], "w*");
  assert_string_equal(o.http, "[::1]:0");
}

static void category_removal(void **state) {
  (void)state;
  assert_int_equal(parse("categories=-dns,-stdio"), 0);
  unsigned want = ((1u << BG_CAT_COUNT) - 1) & ~(1u << BG_CAT_sync) & ~(1u << BG_CAT_dns) &
                  ~(1u << BG_CAT_stdio);
  assert_int_equal(o.categories, want);
  assert_int_equal(parse("categories=all"), 0);
  assert_int_equal(o.categories, (1u << BG_CAT_COUNT) - 1);
}

static void expect_error(const char *s, const char *needle) {
  assert_int_equal(parse(s), -1);
  if (!strstr(err, needle))
    fail_msg("error for '%s' was '%s', expected to contain '%s'", s, err, needle);
}

static void errors_name_the_problem(void **state) {
  (void)state;
  expect_error("bogus=1", "unknown option 'bogus'");
  expect_error("mode=loud", "unknown action 'loud'");
  expect_error("stack_depth=0", "out of range");
  expect_error("stack_depth=65", "out of range");
  expect_error("min_us=12x", "expected a number");
  expect_error("min_us=", "expected a number");
  expect_error("threads=main,sometimes", "unknown thread selector 'sometimes'");
  expect_error("threads=", "empty");
  expect_error("categories=sleep,naps", "unknown category 'naps'");
  expect_error("format=xml", "unknown format 'xml'");
  expect_error("format=xml", bg_format_names()); /* the message lists the real table */
  expect_error("http=localhost", "expected ADDR:PORT");
  expect_error("http=127.0.0.1:99999", "bad port");
  expect_error("strict=maybe", "expected 0 or 1");
  expect_error("mode", "expected key=value");
  /* a ':' only separates when "key=" follows, so this reads as one odd value */
  expect_error("mode=warn:verbosity", "unknown action 'warn:verbosity'");
  expect_error("exempt_fds=stdin", "unknown fd class");
  expect_error("push=ftp://h/", "expected an http:// or https:// URL");
  expect_error("push=http://", "has no host");
  expect_error("push=http://h/a b", "blank or control character");
  expect_error("push_header=NoColon", "expected 'Name: value'");
  expect_error("push_header=Bad Name: x", "bad header name");
  expect_error("push_header=A: 1\r\nB: 2", "line break in header");
  expect_error("push_interval=0", "out of range");
  expect_error("redact=everything", "unknown redaction 'everything'");
}

static void value_rendering_round_trips(void **state) {
  (void)state;
  char buf[256];
  assert_int_equal(parse("threads=main,auto,name:x*:categories=sleep,io:http_token=secret"), 0);
  bg__options_value(&o, "threads", buf, sizeof buf);
  assert_string_equal(buf, "main,auto,name:x*");
  bg__options_value(&o, "categories", buf, sizeof buf);
  assert_string_equal(buf, "sleep,io");
  bg__options_value(&o, "http_token", buf, sizeof buf);
  assert_string_equal(buf, "(set)"); /* never echoed into reports */
  bg__options_value(&o, "stack_depth", buf, sizeof buf);
  assert_string_equal(buf, "16");
  /* push: the URL (its credentials are redacted in reports, docs/http.md), headers
   * never; several headers, a '|' between them */
  assert_int_equal(parse("push=https://u:p@pyro.example:4040/?name=app{env=prod}:push_interval=30:"
                         "push_header=Authorization: Bearer t0k|X-Scope-OrgID: team-1"),
                   0);
  assert_string_equal(o.push, "https://u:p@pyro.example:4040/?name=app{env=prod}");
  assert_int_equal(o.push_interval, 30);
  bg__options_value(&o, "push_header", buf, sizeof buf);
  assert_string_equal(buf, "(set)");
  bg__options_value(&o, "redact", buf, sizeof buf);
  assert_string_equal(buf, "secrets");
}

/* Every row of the format table parses and renders back by name: no format can be
 * silently written as another (the old "& 3" mask turned a fifth format into json). */
static void every_format_round_trips(void **state) {
  (void)state;
  char opt[64], buf[64];
  assert_true(BG_FMT_COUNT >= 5);
  for (int f = 0; f < BG_FMT_COUNT; f++) {
    snprintf(opt, sizeof opt, "format=%s", bg_formats[f].name);
    assert_int_equal(parse(opt), 0);
    assert_int_equal(o.format, f);
    bg__options_value(&o, "format", buf, sizeof buf);
    assert_string_equal(buf, bg_formats[f].name);
    assert_non_null(strstr(bg_format_names(), bg_formats[f].name));
  }
}

static void globs(void **state) {
  (void)state;
  assert_true(bg__glob("io-*", "io-worker-3"));
  assert_false(bg__glob("io-*", "xio-worker"));
  assert_true(bg__glob("*loop*", "main-loop-1"));
  assert_true(bg__glob("w?rk", "work"));
  assert_true(bg__glob("w[a-z]rk", "work"));
  assert_false(bg__glob("w[!o]rk", "work"));
  assert_true(bg__glob("*", ""));
  assert_false(bg__glob("a", ""));
  assert_true(bg__glob("a*b*c", "aXXbYYc"));
  assert_false(bg__glob("a*b*c", "aXXbYY"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_match_design),
      cmocka_unit_test(parses_every_kind),
      cmocka_unit_test(colons_inside_values),
      cmocka_unit_test(category_removal),
      cmocka_unit_test(errors_name_the_problem),
      cmocka_unit_test(value_rendering_round_trips),
      cmocka_unit_test(globs),
      cmocka_unit_test(every_format_round_trips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
