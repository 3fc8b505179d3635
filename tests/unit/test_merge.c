/* test_merge.c - merging per-process reports, the baseline diff, suggested allow
 * rules, and the reader refusing corrupt or foreign files without crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/model.h"

static bg_rsite_t site(const char *id, const char *call, const char *fn, uint64_t off,
                       uint64_t count, int allowed, const char *thread) {
  bg_rsite_t s;
  memset(&s, 0, sizeof s);
  snprintf(s.id, sizeof s.id, "%s", id);
  s.call = strdup(call);
  s.category = strdup("io");
  s.action = strdup("report");
  s.allowed = allowed;
  s.count = count;
  s.total_ns = count * 100;
  s.max_ns = count * 10;
  s.first_ns = 1000 + count;
  s.last_ns = 2000 + count;
  s.hist[3] = count, s.nhist = 4;
  s.threads = calloc(2, sizeof *s.threads);
  s.threads[s.nthreads++] = strdup(thread);
  s.frames = calloc(2, sizeof *s.frames);
  s.nframes = 2;
  s.frames[0] = (bg_rframe_t){
      0x1000 + off, strdup("/bin/prog"), off, strdup(fn), strdup("prog.c"), 10, BG_LANG_C};
  s.frames[1] = (bg_rframe_t){
      0x2000, strdup("/bin/prog"), 0x2000, strdup("main"), strdup("prog.c"), 20, BG_LANG_C};
  return s;
}

static void model(bg_model_t *m, int pid, uint64_t started, int n, const bg_rsite_t *sites) {
  memset(m, 0, sizeof *m);
  m->tool = strdup("blockguard");
  m->version = strdup("0.1.0");
  m->pid = pid;
  m->started_ns = started;
  m->ended_ns = started + 10;
  m->argv = calloc(2, sizeof *m->argv);
  m->argv[m->argc++] = strdup(pid == 1 ? "root" : "child");
  m->options = calloc(1, sizeof *m->options);
  m->options[0].key = strdup("suppressions");
  m->options[0].value = strdup("supp.txt");
  m->noptions = 1;
  m->sites = calloc((size_t)n + 1, sizeof *m->sites);
  for (int i = 0; i < n; i++) m->sites[m->nsites++] = sites[i];
}

static void add_unmatched(bg_model_t *m, int line) {
  m->unmatched_rules =
      realloc(m->unmatched_rules, (size_t)(m->nunmatched + 1) * sizeof *m->unmatched_rules);
  m->unmatched_rules[m->nunmatched++] = (bg_rrule_t){strdup("supp.txt"), line, strdup("allow x")};
}

static void test_merge(void **state) {
  (void)state;
  bg_model_t child, root, out;
  bg_rsite_t cs[] = {site("aa", "read", "f", 0x10, 3, 0, "worker"),
                     site("bb", "write", "g", 0x20, 1, 1, "loop")};
  bg_rsite_t rs[] = {site("aa", "read", "f", 0x10, 2, 0, "loop"),
                     site("bb", "write", "g", 0x20, 4, 0, "loop"),
                     site("cc", "poll", "h", 0x30, 1, 0, "loop")};
  model(&child, 2, 500, 2, cs); /* read in child first: the root started earlier */
  model(&root, 1, 100, 3, rs);
  add_unmatched(&child, 4), add_unmatched(&child, 5);
  add_unmatched(&root, 5), add_unmatched(&root, 6);
  child.dropped_sites = 2, root.dropped_sites = 1;
  bg_merge_t g;
  bg_merge_init(&g);
  assert_int_equal(bg_merge_add(&g, &child), 0);
  assert_int_equal(bg_merge_add(&g, &root), 0);
  bg_merge_finish(&g, &out);
  assert_int_equal(out.pid, 1); /* the earliest-started process is the tree's root */
  assert_string_equal(out.argv[0], "root");
  assert_int_equal(out.started_ns, 100);
  assert_int_equal(out.ended_ns, 510);
  assert_int_equal(out.dropped_sites, 3);
  assert_int_equal(out.nsites, 3); /* merged by id */
  bg_rsite_t *a = &out.sites[0], *b = &out.sites[1];
  assert_string_equal(a->id, "aa");
  assert_int_equal(a->count, 5);
  assert_int_equal(a->total_ns, 500);
  assert_int_equal(a->max_ns, 30);
  assert_int_equal(a->first_ns, 1002);
  assert_int_equal(a->last_ns, 2003);
  assert_int_equal(a->hist[3], 5);
  assert_int_equal(a->nthreads, 2); /* worker + loop, united */
  assert_false(b->allowed);         /* allowed in the child only: still a violation */
  assert_int_equal(b->count, 5);
  /* only line 5 was unmatched in every process that used supp.txt */
  assert_int_equal(out.nunmatched, 1);
  assert_int_equal(out.unmatched_rules[0].line, 5);
  /* the merged model renders and reads back */
  char *j = bg_render_json(&out), err[256];
  bg_model_t back;
  assert_int_equal(bg_model_read_json(j, strlen(j), "merged", &back, err, sizeof err), 0);
  assert_int_equal(back.nsites, 3);
  free(j);
  bg_model_free(&back);
  bg_model_free(&out);
  bg_model_free(&child);
  bg_model_free(&root);
}

static void test_baseline(void **state) {
  (void)state;
  bg_model_t base, cur;
  bg_rsite_t bs[] = {site("aa", "read", "f", 0x10, 3, 0, "loop"),
                     site("bb", "write", "g", 0x20, 1, 0, "loop")};
  /* today: aa unchanged; bb rebuilt (offset moved → new id, same functions); dd new;
   * ee allowed (never new); ff has bb's signature too but bb's baseline entry is
   * taken: one-to-one, so ff is new */
  bg_rsite_t cs[] = {
      site("aa", "read", "f", 0x10, 9, 0, "loop"), site("b2", "write", "g", 0x28, 1, 0, "loop"),
      site("dd", "read", "new_fn", 0x40, 1, 0, "loop"), site("ee", "poll", "h", 0x50, 1, 1, "loop"),
      site("ff", "write", "g", 0x2c, 1, 0, "loop")};
  model(&base, 1, 1, 2, bs);
  model(&cur, 1, 1, 5, cs);
  int is_new[5];
  assert_int_equal(bg_baseline_diff(&cur, &base, is_new), 2);
  assert_int_equal(is_new[0], 0);
  assert_int_equal(is_new[1], 0);
  assert_int_equal(is_new[2], 1);
  assert_int_equal(is_new[3], 0);
  assert_int_equal(is_new[4], 1);
  bg_model_keep_sites(&cur, is_new);
  assert_int_equal(cur.nsites, 2);
  assert_string_equal(cur.sites[0].id, "dd");
  assert_string_equal(cur.sites[1].id, "ff");
  /* suggestions: one allow rule per site, anchored on the culprit's function */
  char *sup = bg_render_suppressions(&cur);
  assert_non_null(strstr(sup, "\nallow read fun:new_fn\n"));
  assert_non_null(strstr(sup, "\nallow write fun:g\n"));
  assert_non_null(strstr(sup, "site dd: new_fn prog.c:10"));
  free(sup);
  bg_model_free(&cur);
  bg_model_free(&base);
}

static void expect_read_error(const char *text, const char *want) {
  bg_model_t m;
  char err[512] = "";
  assert_int_equal(bg_model_read_json(text, strlen(text), "r.json", &m, err, sizeof err), -1);
  if (!strstr(err, want)) fail_msg("for %s: got '%s', want '%s'", text, err, want);
}

static void test_corrupt(void **state) {
  (void)state;
  expect_read_error("", "r.json:");
  expect_read_error("{\"tool\":\"blockguard\",", "invalid JSON");
  expect_read_error("[1,2]", "expected a JSON object");
  expect_read_error("{\"tool\":\"asan\"}", "not a blockguard report");
  expect_read_error("{\"tool\":\"blockguard\",\"version\":\"1.0.0\"}",
                    "unsupported report version");
  const char *head =
      "{\"tool\":\"blockguard\",\"version\":\"0.1.0\",\"pid\":1,\"argv\":[],\"started_ns\":1,"
      "\"ended_ns\":2,\"options\":{},\"threads\":[],\"dropped_sites\":0,\"unguarded_reason\":null,";
  char buf[4096];
  snprintf(buf, sizeof buf, "%s\"sites\":{}}", head);
  expect_read_error(buf, "field 'sites': expected an array");
  snprintf(buf, sizeof buf, "%s\"sites\":[{\"id\":\"zz\"}]}", head);
  expect_read_error(buf, "field 'id'");
  snprintf(
      buf, sizeof buf,
      "%s\"sites\":[{\"id\":\"ab\",\"call\":\"read\",\"category\":\"io\",\"action\":\"report\","
      "\"allowed\":false,\"count\":-1,\"total_ns\":0,\"max_ns\":0,\"hist_log2_ns\":[],"
      "\"threads\":[],\"frames\":[]}]}",
      head);
  expect_read_error(buf, "field 'count': expected a non-negative integer");
  snprintf(
      buf, sizeof buf,
      "%s\"sites\":[{\"id\":\"ab\",\"call\":\"read\",\"category\":\"io\",\"action\":\"report\","
      "\"allowed\":false,\"count\":1,\"total_ns\":0,\"max_ns\":0,\"hist_log2_ns\":[],"
      "\"threads\":[],\"frames\":[{\"pc\":12}]}]}",
      head);
  expect_read_error(buf, "field 'pc': expected a hex string");
  snprintf(buf, sizeof buf, "%s\"sites\":[],\"unmatched_rules\":[{\"file\":\"s\"}]}", head);
  expect_read_error(buf, "field 'line': missing");
  snprintf(buf, sizeof buf, "%s\"sites\":[]}", head); /* a pre-extension 0.x report is fine */
  bg_model_t m;
  char err[256];
  assert_int_equal(bg_model_read_json(buf, strlen(buf), "r.json", &m, err, sizeof err), 0);
  bg_model_free(&m);
  /* deep nesting is refused by jansson, not by a stack overflow */
  size_t n = 100000;
  char *deep = malloc(2 * n + 1);
  memset(deep, '[', n);
  memset(deep + n, ']', n);
  deep[2 * n] = 0;
  expect_read_error(deep, "invalid JSON");
  free(deep);
  assert_int_equal(bg_model_read_file("/nonexistent.json", &m, err, sizeof err), -1);
  assert_non_null(strstr(err, "/nonexistent.json: No such file"));
}

/* Schema 2: complete/incomplete_reason, exit, in_flight survive a write and a read; a
 * schema 1 (0.1.0) report reads as complete with no word on how it ended; one
 * incomplete report makes a merge incomplete. */
static void test_schema2(void **state) {
  (void)state;
  bg_model_t a, b, c = {0};
  bg_rsite_t as[] = {site("aa", "read", "f", 0x10, 5, 0, "main")};
  model(&a, 100, 1, 1, as);
  a.incomplete_reason =
      strdup("state file could not grow (site table): no space left on the device");
  a.exit.how = strdup("signal");
  a.exit.signal = 15;
  a.sites[0].in_flight = 1;
  char *json = bg_render_json(&a), err[256];
  assert_non_null(strstr(json, "\"schema\": 2"));
  assert_non_null(strstr(json, "\"signal_name\": \"SIGTERM\""));
  assert_non_null(strstr(json, "\"complete\": false"));
  assert_int_equal(bg_model_read_json(json, strlen(json), "a.json", &b, err, sizeof err), 0);
  assert_int_equal(b.schema, 2);
  assert_string_equal(b.incomplete_reason, a.incomplete_reason);
  assert_string_equal(b.exit.how, "signal");
  assert_int_equal(b.exit.signal, 15);
  assert_int_equal(b.sites[0].in_flight, 1);
  free(json);
  const char *v1 =
      "{\"tool\":\"blockguard\",\"version\":\"0.1.0\",\"pid\":7,\"argv\":[],"
      "\"started_ns\":1,\"ended_ns\":2,\"options\":{},\"threads\":[],\"sites\":[],"
      "\"dropped_sites\":0,\"unguarded_reason\":null}";
  assert_int_equal(bg_model_read_json(v1, strlen(v1), "v1.json", &c, err, sizeof err), 0);
  assert_int_equal(c.schema, 1);
  assert_null(c.incomplete_reason);
  assert_null(c.exit.how);
  bg_merge_t g;
  bg_merge_init(&g);
  assert_int_equal(bg_merge_add(&g, &c), 0);
  assert_int_equal(bg_merge_add(&g, &b), 0);
  bg_model_t m;
  bg_merge_finish(&g, &m);
  assert_non_null(m.incomplete_reason);
  assert_non_null(strstr(m.incomplete_reason, "pid 100: state file could not grow"));
  assert_int_equal(m.sites[0].in_flight, 1);
  const char *future = "{\"tool\":\"blockguard\",\"version\":\"0.9.0\",\"schema\":3}";
  expect_read_error(future, "upgrade blockguard");
  const char *bad_how =
      "{\"tool\":\"blockguard\",\"version\":\"0.2.0\",\"pid\":1,\"argv\":[],"
      "\"started_ns\":1,\"ended_ns\":2,\"options\":{},\"threads\":[],\"sites\":[],"
      "\"dropped_sites\":0,\"exit\":{\"how\":\"teleported\"}}";
  expect_read_error(bad_how, "exit.how");
  bg_model_free(&a), bg_model_free(&b), bg_model_free(&c), bg_model_free(&m);
}

/* The reader walks the top level and the sites array itself (report/json.c): the JSON
 * rules still hold there - duplicate keys, trailing commas, garbage after the
 * document - and errors point at the right line:column of the whole file. */
static void test_streamed_reader(void **state) {
  (void)state;
  const char *head =
      "{\"tool\":\"blockguard\",\"version\":\"0.1.0\",\"pid\":1,\"argv\":[],\"started_ns\":1,"
      "\"ended_ns\":2,\"options\":{},\"threads\":[],\"dropped_sites\":0,\"unguarded_reason\":null,";
  const char *one =
      "{\"id\":\"ab\",\"call\":\"read\",\"category\":\"io\",\"action\":\"report\","
      "\"allowed\":false,\"count\":1,\"total_ns\":0,\"max_ns\":0,\"hist_log2_ns\":[],"
      "\"threads\":[],\"frames\":[]}";
  char buf[4096];
  snprintf(buf, sizeof buf, "%s\"sites\":[%s,%s]}", head, one, one);
  bg_model_t m;
  char err[256];
  assert_int_equal(bg_model_read_json(buf, strlen(buf), "r.json", &m, err, sizeof err), 0);
  assert_int_equal(m.nsites, 2);
  bg_model_free(&m);
  snprintf(buf, sizeof buf, "%s\"sites\":[%s,]}", head, one);
  expect_read_error(buf, "invalid JSON");
  snprintf(buf, sizeof buf, "%s\"sites\":[%s] x}", head, one);
  expect_read_error(buf, "',' or '}' expected");
  snprintf(buf, sizeof buf, "%s\"sites\":[],\"sites\":[]}", head);
  expect_read_error(buf, "duplicate object key");
  snprintf(buf, sizeof buf, "%s\"pid\":2,\"sites\":[]}", head);
  expect_read_error(buf, "duplicate object key");
  snprintf(buf, sizeof buf, "%s\"sites\":[]} {}", head);
  expect_read_error(buf, "end of file expected");
  snprintf(buf, sizeof buf, "%s\"sites\":[]", head);
  expect_read_error(buf, "invalid JSON");
  /* a bad value on line 4 of the file (not line 1 of the element) */
  snprintf(buf, sizeof buf, "%s\n\"sites\": [\n  %s,\n  {\"id\": tru}]}", head, one);
  expect_read_error(buf, "r.json:4:1");
  /* the foreign-tool check wins over its odd sites */
  expect_read_error("{\"tool\":\"other\",\"sites\":[1]}", "not a blockguard report");
}

/* 20,000 sites, two reports sharing half of them: linear-time merge (hash by id),
 * every id once, counters added; the baseline matches each base site once even when
 * base ids repeat; suggestions print each distinct rule once. */
static void test_merge_many(void **state) {
  (void)state;
  enum { N = 20000 };
  bg_rsite_t *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
  char id[32], fn[32];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "%x", i);
    snprintf(fn, sizeof fn, "fn%d", i % 100);
    a[i] = site(id, "read", fn, (uint64_t)i, 1, 0, "loop");
    snprintf(id, sizeof id, "%x", i + N / 2);
    b[i] = site(id, "read", fn, (uint64_t)i, 2, 0, "loop");
  }
  bg_model_t ma, mb, out;
  model(&ma, 1, 100, N, a);
  model(&mb, 2, 200, N, b);
  bg_merge_t g;
  bg_merge_init(&g);
  assert_int_equal(bg_merge_add(&g, &ma), 0);
  assert_int_equal(bg_merge_add_owned(&g, &mb), 0);
  bg_merge_finish(&g, &out);
  assert_int_equal(out.nsites, N + N / 2);
  uint64_t total = 0;
  for (int i = 0; i < out.nsites; i++) total += out.sites[i].count;
  assert_int_equal(total, N * 1 + N * 2);
  /* ids N/2..N-1 are in both: 1 + 2 calls */
  snprintf(id, sizeof id, "%x", N - 1);
  for (int i = 0; i < out.nsites; i++)
    if (!strcmp(out.sites[i].id, id)) assert_int_equal(out.sites[i].count, 3);
  assert_non_null(mb.sites);         /* moved-from sites are zeroed, still freeable */
  assert_non_null(mb.sites[0].call); /* merged into ma's, not moved */
  assert_null(mb.sites[N - 1].call);
  /* baseline: ma again, but listing its first site twice; one-to-one by id */
  int *is_new = calloc((size_t)out.nsites, sizeof *is_new);
  assert_int_equal(bg_baseline_diff(&out, &ma, is_new), N / 2);
  free(is_new);
  char *sup = bg_render_suppressions(&out);
  assert_non_null(sup);
  int rules = 0;
  for (const char *p = sup; (p = strstr(p, "\nallow ")); p++) rules++;
  assert_int_equal(rules, 100); /* one per distinct function */
  free(sup);
  bg_model_free(&out);
  bg_model_free(&ma);
  bg_model_free(&mb);
  free(a), free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streamed_reader), cmocka_unit_test(test_merge_many),
      cmocka_unit_test(test_merge),           cmocka_unit_test(test_baseline),
      cmocka_unit_test(test_corrupt),         cmocka_unit_test(test_schema2),
  };
  return cmocka_run_group_tests_name("merge", tests, NULL, NULL);
}
