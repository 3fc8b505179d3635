/* test_rules.c - allowlist parser (good files, bad files with exact positions),
 * matcher (last match wins, fun/lib/thread, actions) and the per-site decision
 * installed into the registry (fun: resolved from this binary's symbol table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/options.h"
#include "guard/rules.h"
#include "guard/sites.h"

static const bg__callinfo_t table[] = {
    {"read", BG_CAT_io, 0, BG_OFF_NEVER},      {"write", BG_CAT_io, 0, BG_OFF_NEVER},
    {"usleep", BG_CAT_sleep, 0, BG_OFF_NEVER}, {"connect", BG_CAT_connect, 0, BG_OFF_NEVER},
    {"wait", BG_CAT_proc, 0, BG_OFF_NEVER},    {"poll", BG_CAT_wait, 0, BG_OFF_NEVER},
};

static int parse(bg__rules_t *rs, const char *text, char *err, size_t n) {
  return bg__rules_parse(rs, "supp.txt", text, strlen(text), err, n);
}

static void expect_error(const char *text, const char *want) {
  bg__rules_t rs;
  char err[512] = "";
  assert_int_equal(parse(&rs, text, err, sizeof err), -1);
  if (strncmp(err, want, strlen(want)))
    fail_msg("for %s\n got '%s'\nwant '%s...'", text, err, want);
}

static void test_parse_good(void **state) {
  (void)state;
  bg__set_calltable(table, 6);
  const char *text =
      "# allowlist for the demo\n"
      "\n"
      "allow read fun:load_* lib:libfoo.so*   # config at start-up\n"
      "  deny io thread:loop-[0-9] action:raise\r\n"
      "allow\tsleep\n"
      "allow *\tfun:main\n"
      "deny connect";
  bg__rules_t rs;
  char err[512] = "";
  assert_int_equal(parse(&rs, text, err, sizeof err), 0);
  assert_int_equal(rs.n, 5);
  bg__rule_t *r = rs.rules;
  assert_true(r[0].allow);
  assert_string_equal(r[0].what, "read");
  assert_string_equal(r[0].fun, "load_*");
  assert_string_equal(r[0].lib, "libfoo.so*");
  assert_null(r[0].thread);
  assert_int_equal(r[0].line, 3);
  assert_string_equal(r[0].text, "allow read fun:load_* lib:libfoo.so*");
  assert_false(r[1].allow);
  assert_int_equal(r[1].action, BG_ACT_RAISE);
  assert_string_equal(r[1].thread, "loop-[0-9]");
  assert_int_equal(r[1].tbit, 0);
  assert_string_equal(r[1].text, "deny io thread:loop-[0-9] action:raise"); /* no \r */
  assert_int_equal(r[2].line, 5);
  assert_int_equal(r[2].action, -1);
  assert_string_equal(r[3].what, "*");
  assert_int_equal(r[4].line, 7); /* last line without a newline */
  assert_true(rs.need_functions);
  assert_int_equal(rs.nthread_globs, 1);
  bg__rules_free(&rs);
  /* empty and comment-only files are valid and have no rules */
  assert_int_equal(parse(&rs, "", err, sizeof err), 0);
  assert_int_equal(rs.n, 0);
  bg__rules_free(&rs);
  assert_int_equal(parse(&rs, "   # nothing\n#\n", err, sizeof err), 0);
  assert_int_equal(rs.n, 0);
  bg__rules_free(&rs);
}

static void test_parse_errors(void **state) {
  (void)state;
  bg__set_calltable(table, 6);
  expect_error("allow read\nalow write\n", "supp.txt:2:1: expected 'allow' or 'deny', got 'alow'");
  expect_error("allow\n", "supp.txt:1:6: missing call or category after 'allow'");
  expect_error("# x\n  allow raed\n", "supp.txt:2:9: unknown call or category 'raed'");
  expect_error("allow fun:main\n", "supp.txt:1:7: expected a call or category before 'fun:main'");
  expect_error("allow read func:main\n", "supp.txt:1:12: unknown field 'func:main'");
  expect_error("allow read main\n", "supp.txt:1:12: unknown field 'main'");
  expect_error("deny read fun:\n", "supp.txt:1:15: empty value after 'fun:'");
  expect_error("deny read action:explode\n", "supp.txt:1:18: unknown action 'explode'");
  expect_error("allow read action:raise\n", "supp.txt:1:12: action: applies to deny rules only");
  expect_error("deny read fun:a fun:b\n", "supp.txt:1:17: duplicate fun:");
  expect_error("deny read action:raise action:warn\n", "supp.txt:1:24: duplicate action:");
  expect_error("allow read lib:libc[.so\n", "supp.txt:1:20: unterminated '[' in glob");
  expect_error("allow read\n\n\n\tdeny   write  thread:  \n",
               "supp.txt:4:23: empty value after 'thread:'");
  /* a glob is not checked against the call table: it may match calls added later */
  bg__rules_t rs;
  char err[256];
  assert_int_equal(parse(&rs, "allow re*d\nallow __*_chk\n", err, sizeof err), 0);
  bg__rules_free(&rs);
  /* without a call table (the CLI) names cannot be checked, but syntax still is */
  bg__set_calltable(NULL, 0);
  assert_int_equal(parse(&rs, "allow anything\n", err, sizeof err), 0);
  bg__rules_free(&rs);
  expect_error("allow anything fun\n", "supp.txt:1:16: unknown field 'fun'");
}

static void test_load_file_errors(void **state) {
  (void)state;
  bg__rules_t rs;
  char err[512];
  assert_int_equal(bg__rules_load(&rs, "/nonexistent/supp.txt", err, sizeof err), -1);
  assert_non_null(strstr(err, "/nonexistent/supp.txt: cannot open allowlist"));
  char path[] = "/tmp/bg_rules_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "allow read\ndeny read action:nope\n", 33), 33);
  close(fd);
  assert_int_equal(bg__rules_load(&rs, path, err, sizeof err), -1);
  char want[128];
  snprintf(want, sizeof want, "%s:2:18: unknown action 'nope'", path);
  assert_non_null(strstr(err, want));
  unlink(path);
}

static int match(bg__rules_t *rs, const char *call, const char *cat, const char *thread,
                 const char *fun0, const char *lib0, int *action, int *allowed) {
  const char *funs[2] = {fun0, "main"}, *mods[2] = {lib0, "prog"};
  bg__rule_subject_t s = {call, cat, bg__rules_thread_mask_of(rs, thread), 2, funs, mods,
                          NULL, NULL};
  *action = BG_ACT_REPORT;
  *allowed = 0;
  return bg__rules_match(rs, &s, action, allowed);
}

static void test_matcher(void **state) {
  (void)state;
  bg__set_calltable(table, 6);
  const char *text =
      "allow io\n"                                 /* 0 */
      "deny read fun:handle_*\n"                   /* 1 */
      "deny read thread:loop action:raise\n"       /* 2 */
      "allow read lib:libcfg.so fun:load_config\n" /* 3 */
      "deny sleep action:abort\n"                  /* 4 */
      "allow connect\n";                           /* 5: never matches */
  bg__rules_t rs;
  char err[256];
  assert_int_equal(parse(&rs, text, err, sizeof err), 0);
  int action, allowed;
  /* category rule */
  assert_int_equal(match(&rs, "write", "io", "main", "f", "prog", &action, &allowed), 0);
  assert_true(allowed);
  /* a later deny wins over the category allow; no action: → the global mode */
  assert_int_equal(match(&rs, "read", "io", "main", "handle_req", "prog", &action, &allowed), 1);
  assert_false(allowed);
  assert_int_equal(action, BG_ACT_REPORT);
  /* fun: looks at every frame ("main" is frame 1) */
  rs.rules[1].fun[0] = 'm', strcpy(rs.rules[1].fun, "mai?");
  assert_int_equal(match(&rs, "read", "io", "main", "x", "prog", &action, &allowed), 1);
  strcpy(rs.rules[1].fun, "handle_*");
  /* thread: + per-rule action */
  assert_int_equal(match(&rs, "read", "io", "loop", "x", "prog", &action, &allowed), 2);
  assert_false(allowed);
  assert_int_equal(action, BG_ACT_RAISE);
  /* every field of a rule must match: lib matches, fun does not → rule 3 loses */
  assert_int_equal(match(&rs, "read", "io", "loop", "other", "libcfg.so", &action, &allowed), 2);
  /* both match → the last rule wins even over an earlier deny */
  assert_int_equal(match(&rs, "read", "io", "loop", "load_config", "libcfg.so", &action, &allowed),
                   3);
  assert_true(allowed);
  assert_int_equal(match(&rs, "usleep", "sleep", "main", "x", "prog", &action, &allowed), 4);
  assert_int_equal(action, BG_ACT_ABORT);
  /* nothing matches a file call */
  assert_int_equal(match(&rs, "fsync", "disk", "main", "x", "prog", &action, &allowed), -1);
  assert_false(allowed);
  assert_int_equal(action, BG_ACT_REPORT);
  /* match counts: which rules are stale */
  assert_true(rs.rules[0].matched > 0 && rs.rules[3].matched > 0);
  assert_int_equal(rs.rules[5].matched, 0);
  bg__rules_free(&rs);
}

/* ---- the installed allowlist decides new sites once ------------------------------- */
#define SITE_FN(name, call, cat)                               \
  static __attribute__((noipa)) bg__site_t *name(void) {       \
    bg__site_t *s = bg__site_get(call, cat, 0, BG_ACT_REPORT); \
    __asm__ volatile("" ::: "memory");                         \
    return s;                                                  \
  }
SITE_FN(load_config, 0, BG_CAT_io)   /* read from load_config: allowed by fun: */
SITE_FN(serve_request, 0, BG_CAT_io) /* read elsewhere: deny action:raise */
SITE_FN(take_a_nap, 2, BG_CAT_sleep) /* usleep: no rule matches */

static void test_installed(void **state) {
  (void)state;
  bg__set_calltable(table, 6);
  bg__options_defaults(&bg__opt);
  bg__opt.stack_depth = 4;
  bg__sites_init();
  char path[] = "/tmp/bg_rules_XXXXXX";
  int fd = mkstemp(path);
  const char *text = "deny read action:raise\nallow read fun:load_config\nallow connect\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  char err[512];
  assert_int_equal(bg__rules_install(path, err, sizeof err), 0);
  unlink(path);
  bg__site_t *a = load_config(), *c = take_a_nap(), *b = NULL;
  uint64_t m0 = 0;
  bg__rules_t *rs = bg__rules_active();
  assert_non_null(rs);
  for (int i = 0; i < 10; i++) { /* one call instruction: one stack, one site */
    bg__site_t *s = serve_request();
    if (!b) b = s, m0 = rs->rules[0].matched;
    assert_ptr_equal(s, b);
  }
  assert_int_equal(rs->rules[0].matched, m0); /* decided once per site, not per call */
  assert_true(a->allowed);
  assert_int_equal(a->rule, 1);
  assert_false(b->allowed);
  assert_int_equal(b->action, BG_ACT_RAISE);
  assert_int_equal(b->rule, 0);
  assert_false(c->allowed);
  assert_int_equal(c->action, BG_ACT_REPORT);
  assert_int_equal(c->rule, -1);
  assert_int_equal(rs->rules[2].matched, 0);
  bg__rules_after_fork();
  assert_int_equal(rs->rules[0].matched, 0);
  /* a bad file is refused and names the position */
  strcpy(path, "/tmp/bg_rules_XXXXXX");
  fd = mkstemp(path);
  assert_int_equal(write(fd, "allow read fun:[x\n", 18), 18);
  close(fd);
  assert_int_equal(bg__rules_install(path, err, sizeof err), -1);
  assert_non_null(strstr(err, ":1:16: unterminated '['"));
  unlink(path);
}

/* src: matches any frame's source file; fun: a C++ frame by its demangled or its
 * mangled name, a Python frame by its qualified name. */
static void test_src_and_names(void **state) {
  (void)state;
  bg__set_calltable(table, 6);
  bg__rules_t rs;
  char err[512];
  const char *text =
      "allow read src:*/vendor/client/*.py\n"               /* 0 */
      "deny read src:*/vendor/client/*.py fun:Client.get\n" /* 1 */
      "allow write fun:ns::Store::flush*\n"                 /* 2 */
      "allow write fun:_ZN2ns5Store6commitEv\n";            /* 3 */
  assert_int_equal(parse(&rs, text, err, sizeof err), 0);
  assert_true(rs.need_sources && rs.need_functions);
  const char *mods[3] = {"libc.so.6", "", "python3.11"};
  const char *funs[3] = {"_Py_read", "Client.fetch", "<module>"};
  const char *files[3] = {"Python/fileutils.c", "/srv/app/vendor/client/http.py",
                          "/srv/app/main.py"};
  bg__rule_subject_t s = {"read", "io", 0, 3, funs, mods, files, NULL};
  int action = BG_ACT_REPORT, allowed = 0;
  assert_int_equal(bg__rules_match(&rs, &s, &action, &allowed), 0);
  assert_true(allowed);
  funs[1] = "Client.get";
  allowed = 0;
  assert_int_equal(bg__rules_match(&rs, &s, &action, &allowed), 1);
  assert_false(allowed);
  files[1] = "/srv/app/client.py"; /* outside the vendored library: no rule */
  assert_int_equal(bg__rules_match(&rs, &s, &action, &allowed), -1);
  /* no files computed (no src: rule would need them): src: rules cannot match */
  s.files = NULL;
  assert_int_equal(bg__rules_match(&rs, &s, &action, &allowed), -1);
  const char *cfun[1] = {"ns::Store::flush(int)"}, *craw[1] = {"_ZN2ns5Store5flushEi"};
  const char *cmod[1] = {"libstore.so"}, *cfile[1] = {"store.cc"};
  bg__rule_subject_t c = {"write", "io", 0, 1, cfun, cmod, cfile, craw};
  assert_int_equal(bg__rules_match(&rs, &c, &action, &allowed), 2);
  cfun[0] = "ns::Store::commit()", craw[0] = "_ZN2ns5Store6commitEv";
  assert_int_equal(bg__rules_match(&rs, &c, &action, &allowed), 3);
  bg__rules_free(&rs);
  expect_error("allow read src:\n", "supp.txt:1:16: empty value after 'src:'");
  expect_error("allow read src:a src:b\n", "supp.txt:1:18: duplicate src:");
  expect_error("allow read src:[ab\n", "supp.txt:1:16: unterminated '[' in glob");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_good),       cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_load_file_errors), cmocka_unit_test(test_matcher),
      cmocka_unit_test(test_installed),        cmocka_unit_test(test_src_and_names),
  };
  return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
