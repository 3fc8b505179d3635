/* test_redact.c - argv and option values under redact= (report/redact.c): what a user
 * would pass on a command line, and what must and must not come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/redact.h"

static bg_redact_t spec(const char *s) {
  bg_redact_t r;
  char err[200];
  if (bg_redact_parse(&r, s, strlen(s), err, sizeof err) < 0) fail_msg("%s: %s", s, err);
  return r;
}

/* Redacts the NULL-terminated list in and compares with want. */
static void expect(const char *how, const char *const *in, const char *const *want) {
  bg_redact_t r = spec(how);
  int n = 0;
  while (in[n]) n++;
  char **v = calloc((size_t)n + 1, sizeof *v);
  for (int i = 0; i < n; i++) v[i] = strdup(in[i]);
  bg_redact_argv(&r, v, n);
  for (int i = 0; i < n; i++) {
    if (strcmp(v[i], want[i]))
      fail_msg("redact=%s: argv[%d] '%s' became '%s', want '%s'", how, i, in[i], v[i], want[i]);
    free(v[i]);
  }
  free(v);
}

static void secrets_by_name(void **state) {
  (void)state;
  const char *in[] = {"./srv",
                      "--db-password=hunter2",
                      "--port=8080",
                      "--token",
                      "abc123",
                      "--verbose",
                      "MYSQL_PWD=pw1",
                      "--api-key=K",
                      "-v",
                      "X-Auth-Token: t0k",
                      "--user=alice",
                      "aws.secret_access_key=S",
                      "--keep-alive=5",
                      "pass=x",
                      "--sessionid",
                      "-q",
                      NULL};
  const char *want[] = {"./srv",
                        "--db-password=***",
                        "--port=8080",
                        "--token",
                        "***",
                        "--verbose",
                        "MYSQL_PWD=***",
                        "--api-key=***",
                        "-v",
                        "X-Auth-Token: ***",
                        "--user=alice",
                        "aws.secret_access_key=***",
                        "--keep-alive=5",
                        "pass=***",
                        "--sessionid",
                        "-q"};
  expect("secrets", in, want);
}

static void secrets_in_urls(void **state) {
  (void)state;
  const char *in[] = {"curl",
                      "https://user:pa55@db.example:5432/x?y=1",
                      "postgres://u@h/db",
                      "see http://plain.example/a@b",
                      "a=b",
                      "http://x:y@a/ and ftp://u:p@b/",
                      NULL};
  const char *want[] = {"curl",
                        "https://***@db.example:5432/x?y=1",
                        "postgres://***@h/db",
                        "see http://plain.example/a@b",
                        "a=b",
                        "http://***@a/ and ftp://***@b/"};
  expect("secrets", in, want);
}

static void argv_mode_and_none(void **state) {
  (void)state;
  const char *in[] = {"./srv", "--port=8080", "-v", "config.yml", "--name", "web", "-", NULL};
  const char *want[] = {"./srv", "--port=***", "-v", "***", "--name", "***", "***"};
  expect("argv", in, want);
  const char *in2[] = {"./srv", "--db-password=hunter2", NULL};
  expect("none", in2, in2);
  const char *in3[] = {"./srv", "--dsn-url=x", "--my-conn=y", NULL};
  const char *want3[] = {"./srv", "--dsn-url=***", "--my-conn=***"};
  expect("key:*conn*", in3, want3);
}

static void idempotent_and_options(void **state) {
  (void)state;
  /* redacting twice changes nothing (serve/report redact what the shim already did) */
  const char *in[] = {"p", "--password=***", "https://***@h/", NULL};
  expect("secrets", in, in);
  bg_redact_t r = spec("secrets");
  char *v = bg_redact_value(&r, "http://u:secret@pyroscope:4040");
  assert_string_equal(v, "http://***@pyroscope:4040");
  free(v);
  assert_null(bg_redact_value(&r, "/tmp/report.%p.json"));
  bg_redact_t none = spec("none");
  assert_null(bg_redact_value(&none, "http://u:secret@h/"));
}

static void parse_and_text(void **state) {
  (void)state;
  char buf[256], err[200];
  bg_redact_t r = spec("secrets,key:*DSN*");
  bg_redact_text(&r, buf, sizeof buf);
  assert_string_equal(buf, "secrets,key:*dsn*");
  r = spec("none");
  bg_redact_text(&r, buf, sizeof buf);
  assert_string_equal(buf, "none");
  assert_int_equal(bg_redact_parse(&r, "all", 3, err, sizeof err), -1);
  assert_non_null(strstr(err, "unknown redaction 'all'"));
  assert_int_equal(bg_redact_parse(&r, "", 0, err, sizeof err), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(secrets_by_name),    cmocka_unit_test(secrets_in_urls),
      cmocka_unit_test(argv_mode_and_none), cmocka_unit_test(idempotent_and_options),
      cmocka_unit_test(parse_and_text),
  };
  return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
