/* test_concurrency.c - the core under concurrent writers and report readers.
 *
 * The shim's core is shared by every thread of a program while reports are read from
 * it (at exit, by the HTTP server, by `blockguard report`).  This drives it without
 * the shim: writer threads make "calls" through bg__enter/bg__leave exactly as a
 * wrapper does, on guarded and unguarded threads, while reader threads take
 * snapshots, render them to JSON and read the JSON back.  Checked:
 *   - each snapshot's total is monotonic and never above the calls made so far;
 *   - the final snapshot, bg__violations_total() and the JSON all equal exactly the
 *     number of calls made on guarded threads (nothing lost, nothing doubled);
 *   - thread names and guarded flags in the report match what the threads set.
 * Run it under TSan (make SANITIZER=thread check-unit) to catch data races.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/sites.h"
#include "guard/snapshot.h"
#include "report/model.h"

#define WRITERS 16
#define READERS 2
#define ROUNDS 100000

int bg__api_thread_guard(int on);

static const bg__callinfo_t rows[] = {{"read", BG_CAT_io, BG_F_FD, BG_OFF_NEVER},
                                      {"usleep", BG_CAT_sleep, 0, BG_OFF_NEVER},
                                      {"fsync", BG_CAT_disk, 0, BG_OFF_NEVER}};

static uint64_t made; /* calls made on guarded threads, added after each call */
static int writers_done;

static uint64_t snapshot_total(bg_model_t *m) {
  uint64_t n = 0;
  for (int i = 0; i < m->nsites; i++)
    if (!m->sites[i].allowed) n += m->sites[i].count;
  return n;
}

/* Distinct call sites per writer: three different lines, so three sites each. */
static __attribute__((noinline)) void one_call(int id, int cat) {
  bg__call_t c;
  int v = bg__enter(&c, id, cat, 0, (uintptr_t)__builtin_return_address(0));
  if (v == BG_GO) bg__leave(&c);
}

static void *writer(void *arg) {
  int idx = (int)(intptr_t)arg, guarded = idx % 2 == 0;
  char name[16];
  snprintf(name, sizeof name, "%s-%d", guarded ? "g" : "u", idx);
  pthread_setname_np(pthread_self(), name);
  bg__thread_name_changed(name); /* what the pthread_setname_np wrapper does next */
  bg__api_thread_guard(guarded);
  for (int r = 0; r < ROUNDS; r++) {
    /* the wrapper only asks the core on guarded threads; do the same */
    if (!bg__self.guarded) continue;
    one_call(0, BG_CAT_io);
    one_call(1, BG_CAT_sleep);
    if (r % 16 == 0) one_call(2, BG_CAT_disk);
    __atomic_fetch_add(&made, r % 16 == 0 ? 3 : 2, __ATOMIC_RELEASE);
  }
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  uint64_t last = 0;
  int rounds = 0;
  while (!__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE) || rounds < 3) {
    /* In flight: a call is counted by the core before the writer adds it to `made`,
     * at most 3 per writer. */
    bg_model_t m, back;
    bg__snapshot(&m);
    uint64_t after = __atomic_load_n(&made, __ATOMIC_ACQUIRE);
    uint64_t total = snapshot_total(&m);
    assert_true(total >= last);
    assert_true(total <= after + 3 * WRITERS);
    last = total;
    char *json = bg_render_json(&m);
    assert_non_null(json);
    char err[256];
    assert_int_equal(bg_model_read_json(json, strlen(json), "snapshot", &back, err, sizeof err), 0);
    assert_int_equal(snapshot_total(&back), total);
    free(json);
    bg_model_free(&back);
    bg_model_free(&m);
    rounds++;
  }
  return NULL;
}

static void writers_and_readers_agree(void **s) {
  (void)s;
  bg__set_calltable(rows, 3);
  memset(&bg__self, 0, sizeof bg__self);
  bg__self.slot = -1;
  bg__self.loop_fd = -1;
  assert_int_equal(bg__core_init("threads=none:verbosity=0:categories=all", "test"), 0);
  uint64_t base = bg__violations_total();
  pthread_t w[WRITERS], r[READERS];
  for (int i = 0; i < READERS; i++) assert_int_equal(pthread_create(&r[i], NULL, reader, NULL), 0);
  for (int i = 0; i < WRITERS; i++)
    assert_int_equal(pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i), 0);
  for (int i = 0; i < WRITERS; i++) pthread_join(w[i], NULL);
  __atomic_store_n(&writers_done, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);

  uint64_t expect = (uint64_t)(WRITERS / 2) * (ROUNDS * 2 + (ROUNDS + 15) / 16);
  assert_int_equal(__atomic_load_n(&made, __ATOMIC_ACQUIRE), expect);
  assert_int_equal(bg__violations_total() - base, expect);
  bg_model_t m;
  bg__snapshot(&m);
  assert_int_equal(snapshot_total(&m), expect);
  assert_int_equal(m.dropped_sites, 0);
  /* three sites per guarded writer at most (same code, different threads share a
   * site: the stack is the same), at least the three calls */
  assert_true(m.nsites >= 3);
  int guarded_seen = 0, unguarded_seen = 0;
  for (int i = 0; i < m.nthreads; i++) {
    if (!strncmp(m.threads[i].name, "g-", 2)) {
      assert_true(m.threads[i].guarded);
      assert_string_equal(m.threads[i].why, "api");
      guarded_seen++;
    } else if (!strncmp(m.threads[i].name, "u-", 2)) {
      assert_false(m.threads[i].guarded);
      unguarded_seen++;
    }
  }
  assert_int_equal(guarded_seen, WRITERS / 2);
  (void)unguarded_seen; /* unguarded threads are listed only if they ever registered */
  uint64_t hist = 0;
  for (int i = 0; i < m.nsites; i++)
    for (int b = 0; b < m.sites[i].nhist; b++) hist += m.sites[i].hist[b];
  assert_int_equal(hist, expect); /* every call is in exactly one histogram bucket */
  bg_model_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(writers_and_readers_agree)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
