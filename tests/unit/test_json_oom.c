/* test_json_oom.c - the report reader turns an allocation failure into an error.
 *
 * bg_model_read_json allocates the model's arrays with calloc (frames, threads, argv,
 * options, modules, processes, loops, unmatched rules).  This test replaces the
 * program's calloc with one that fails the Nth call and reads one report that has every
 * array, for N = 0, 1, 2... until a read succeeds: each failing read must return -1
 * with "out of memory" in the message naming the file (never a crash, never a model
 * with a hole), and the first N that succeeds must give the whole model.
 *
 * Under AddressSanitizer the interposed calloc would hand ASan memory it did not
 * allocate, so the test says so and skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report/jx.h"
#include "report/model.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NO_INTERPOSE 1
#else
#define NO_INTERPOSE 0
extern void *__libc_calloc(size_t n, size_t size);
static int fail_at = -1; /* calls of calloc left before the one that fails; -1: never */
static int calls;

void *calloc(size_t n, size_t size) {
  calls++;
  if (fail_at >= 0 && fail_at-- == 0) return NULL;
  return __libc_calloc(n, size);
}
#endif

static const char report[] =
    "{\"tool\": \"blockguard\", \"version\": \"0.2.0\", \"schema\": 2, \"pid\": 7,\n"
    " \"started_ns\": 1, \"ended_ns\": 2, \"dropped_sites\": 0, \"argv\": [\"./srv\", \"-x\"],\n"
    " \"options\": {\"action\": \"report\"}, \"threads\": [{\"tid\": 7, \"name\": \"loop\", \"guarded\": true}],\n"
    " \"modules\": [{\"path\": \"/bin/srv\", \"build_id\": \"ab12\"}],\n"
    " \"processes\": [{\"pid\": 7, \"cmd\": \"./srv\"}],\n"
    " \"loops\": [{\"tid\": 7, \"name\": \"loop\", \"iterations\": 1, \"busy_ns\": 1, \"worst_ns\": 1,\n"
    "   \"utilization\": 0.5, \"hist_log2_ns\": [1], \"recent\": [{\"t_ns\": 1, \"iterations\": 1,\n"
    "   \"busy_ns\": 1, \"max_ns\": 1}]}],\n"
    " \"unmatched_rules\": [{\"file\": \"a.supp\", \"line\": 3, \"text\": \"allow read\"}],\n"
    " \"sites\": [{\"id\": \"beef\", \"call\": \"read\", \"category\": \"io\", \"count\": 1, \"allowed\": false,\n"
    "   \"action\": \"report\", \"rule\": null, \"total_ns\": 5, \"max_ns\": 5, \"hist_log2_ns\": [1],\n"
    "   \"threads\": [\"loop\"], \"frames\": [{\"pc\": \"0x10\", \"module\": \"/bin/srv\", \"offset\": \"0x10\",\n"
    "   \"function\": \"main\", \"file\": \"srv.c\", \"line\": 3}]}]}\n";

static void every_calloc_fails_once(void **state) {
  if (NO_INTERPOSE) skip();
#if !NO_INTERPOSE
  bg_model_t m;
  char err[512];
  /* Once unarmed: loads jansson (dlopen allocates too) and proves the report reads. */
  if (bg_model_read_json(report, sizeof report - 1, "r.json", &m, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_int_equal(m.nsites, 1);
  assert_int_equal(m.nloops, 1);
  assert_int_equal(m.loops[0].nrecent, 1);
  bg_model_free(&m);
  int failures = 0;
  for (int n = 0; n < 1000; n++) {
    err[0] = 0;
    fail_at = n;
    int rc = bg_model_read_json(report, sizeof report - 1, "r.json", &m, err, sizeof err);
    int hit = fail_at < 0; /* the Nth calloc came and failed */
    fail_at = -1;
    if (!hit) { /* fewer than n+1 callocs: this read was not disturbed */
      assert_int_equal(rc, 0);
      assert_int_equal(m.nsites, 1);
      assert_int_equal(m.sites[0].nframes, 1);
      assert_string_equal(m.sites[0].frames[0].function, "main");
      bg_model_free(&m);
      break;
    }
    failures++;
    if (rc != -1) fail_msg("calloc #%d failed but the read succeeded", n);
    if (!strstr(err, "r.json") || !strstr(err, "out of memory"))
      fail_msg("calloc #%d failed: expected 'out of memory' naming the file, got '%s'", n, err);
  }
  /* frames, site threads, argv, options, threads, modules, processes, loops, recent,
   * unmatched rules: one calloc each (the sites array is streamed, grown by realloc) */
  if (failures < 10) fail_msg("only %d callocs failed", failures);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_calloc_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
