/* test_ledger.c - the ledger (guard/ledger.h) and its reader (guard/ledger_read.h).
 *
 * What users rely on: what a process recorded can be read from its ledger by another
 * process - sites, threads, calls in flight, messages - even when the writer is gone
 * mid-record; a fork child writes its own ledger, never its parent's; a file-backed
 * ledger that cannot grow says so instead of crashing; and a reader fed garbage
 * answers with an error, never a crash.  Destructive cases run in a forked child so
 * the process's one ledger stays usable for the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard/guard.h"
#include "guard/ledger.h"
#include "guard/ledger_read.h"
#include "guard/options.h"
#include "guard/sites.h"

/* Under TSan (make check-tsan) the fork cases need die_after_fork=0: the child only
 * touches its own ledger and exits. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "die_after_fork=0"; }

static const bg__callinfo_t calls[] = {{.name = "read", .category = BG_CAT_io},
                                       {.name = "usleep", .category = BG_CAT_sleep}};

static int setup(void **state) {
  (void)state;
  bg__options_defaults(&bg__opt);
  bg__opt.stack_depth = 4;
  bg__set_calltable(calls, 2);
  bg__sites_init();
  bg__sites_after_fork(); /* empty registry */
  return 0;
}

/* Runs fn in a child (with its own ledger, as the shim's fork handler makes it); the
 * test fails unless it exits 0. */
static void in_child(void (*fn)(void)) {
  pid_t p = fork();
  assert_true(p >= 0);
  if (p == 0) {
    bg__core_atfork_child();
    fn();
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(p, &st, 0), p);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}
#define CHECK(x)                                                     \
  do {                                                               \
    if (!(x)) {                                                      \
      fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #x); \
      _exit(1);                                                      \
    }                                                                \
  } while (0)

static __attribute__((noipa)) bg__site_t *record(int call) {
  bg__site_t *s = bg__site_get(call, BG_CAT_io, 0, BG_ACT_REPORT);
  __asm__ volatile("" ::: "memory");
  return s;
}

static void test_alloc(void **state) {
  (void)state;
  bg__ledger_hdr_t *h = bg__ledger_get();
  assert_non_null(h);
  char *a = bg__ledger_alloc(3), *b = bg__ledger_alloc(17);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal((uintptr_t)a % 8, 0);
  assert_int_equal((uintptr_t)b % 8, 0);
  assert_true(b >= a + 8);
  for (int i = 0; i < 17; i++) assert_int_equal(b[i], 0);
  uint32_t off = bg__ledger_strdup("hello");
  assert_true(off > 0);
  assert_string_equal(bg__ledger_str(off), "hello");
  assert_int_equal(bg__ledger_off(bg__ledger_str(off)), off);
  assert_string_equal(bg__ledger_str(0), "");
  assert_int_equal(bg__ledger_off(&off), 0); /* not in the arena */
}

#define NT 4
#define PER 2000
static void *alloc_many(void *arg) {
  uintptr_t tag = (uintptr_t)arg;
  uint64_t **v = malloc(PER * sizeof *v);
  for (int i = 0; i < PER; i++) {
    v[i] = bg__ledger_alloc(16);
    if (v[i]) v[i][0] = v[i][1] = tag << 32 | (uint64_t)i;
  }
  return v;
}

static void test_alloc_concurrent(void **state) {
  (void)state;
  pthread_t th[NT];
  for (uintptr_t i = 0; i < NT; i++) pthread_create(&th[i], NULL, alloc_many, (void *)(i + 1));
  uint64_t **res[NT];
  for (int i = 0; i < NT; i++) pthread_join(th[i], (void **)&res[i]);
  /* every block still holds what its thread wrote: no two handed out twice */
  for (int t = 0; t < NT; t++) {
    for (int i = 0; i < PER; i++) {
      assert_non_null(res[t][i]);
      assert_true(res[t][i][0] == ((uint64_t)(t + 1) << 32 | (uint64_t)i));
      assert_true(res[t][i][1] == res[t][i][0]);
    }
    free(res[t]);
  }
}

static void arena_full(void) {
  bg__ledger_hdr_t *h = bg__ledger_get();
  uint64_t lost0 = h->lost;
  int n = 0;
  while (bg__ledger_alloc(4096)) n++;
  CHECK(n > 100); /* 1 MiB arena */
  CHECK(h->lost == lost0 + 1);
  while (bg__ledger_alloc(8)) n++; /* the last bytes */
  CHECK(h->lost == lost0 + 2);
  lost0++;
  CHECK(bg__ledger_strdup("x") == 0);
  CHECK(h->lost == lost0 + 2);
  /* the reader says data is missing */
  bg_model_t m;
  char err[256];
  bg__lread_t in = {.base = h, .size = h->size};
  CHECK(bg__ledger_model(&in, &m, err, sizeof err) == 0);
  CHECK(m.incomplete_reason && strstr(m.incomplete_reason, "allocations refused"));
  bg_model_free(&m);
}
static void test_arena_full(void **state) {
  (void)state;
  in_child(arena_full);
}

/* ---- messages ---------------------------------------------------------------------- */
struct msgs {
  int n;
  char last[256];
};
static void on_msg(const char *msg, size_t len, void *arg) {
  struct msgs *m = arg;
  m->n++;
  snprintf(m->last, sizeof m->last, "%.*s", (int)len, msg);
}

static void test_ring(void **state) {
  (void)state;
  bg__ledger_hdr_t *h = bg__ledger_get();
  uint64_t pos = __atomic_load_n(&h->ring_head, __ATOMIC_ACQUIRE);
  struct msgs got = {0};
  char buf[64];
  for (int i = 0; i < 10; i++) {
    int n = snprintf(buf, sizeof buf, "message %d", i);
    bg__ledger_msg(buf, (size_t)n);
  }
  assert_int_equal(bg__ledger_ring_read(h, h->size, &pos, 0, on_msg, &got), 0);
  assert_int_equal(got.n, 10);
  assert_string_equal(got.last, "message 9");
  /* wrap around many times: a reader that keeps up loses nothing */
  memset(&got, 0, sizeof got);
  char big[700];
  memset(big, 'x', sizeof big);
  for (int i = 0; i < 1000; i++) {
    bg__ledger_msg(big, sizeof big);
    assert_int_equal(bg__ledger_ring_read(h, h->size, &pos, 0, on_msg, &got), 0);
  }
  assert_int_equal(got.n, 1000);
  /* a reader far behind loses the oldest, says how much, and resynchronises */
  memset(&got, 0, sizeof got);
  for (int i = 0; i < 300; i++) bg__ledger_msg(big, sizeof big);
  bg__ledger_msg("last one", 8);
  assert_true(bg__ledger_ring_read(h, h->size, &pos, 0, on_msg, &got) > 0);
  assert_true(got.n > 10 && got.n < 300);
  assert_string_equal(got.last, "last one");
}

static void test_ring_writer_died(void **state) {
  (void)state;
  bg__ledger_hdr_t *h = bg__ledger_get();
  uint64_t pos = __atomic_load_n(&h->ring_head, __ATOMIC_ACQUIRE);
  /* a reservation whose writer never finished (killed between the CAS and the seq) */
  uint64_t at = __atomic_fetch_add(&h->ring_head, 16, __ATOMIC_ACQ_REL);
  (void)at;
  struct msgs got = {0};
  assert_int_equal(bg__ledger_ring_read(h, h->size, &pos, 0, on_msg, &got), 0);
  assert_int_equal(got.n, 0); /* still being written: wait */
  assert_true(bg__ledger_ring_read(h, h->size, &pos, 1, on_msg, &got) > 0);
  assert_int_equal(pos, __atomic_load_n(&h->ring_head, __ATOMIC_ACQUIRE)); /* final: skipped */
  bg__ledger_msg("after", 5);
  assert_int_equal(bg__ledger_ring_read(h, h->size, &pos, 0, on_msg, &got), 0);
  assert_string_equal(got.last, "after");
}

/* ---- the reader ---------------------------------------------------------------------- */
static bg_rsite_t *site_by_call(bg_model_t *m, const char *call) {
  for (int i = 0; i < m->nsites; i++)
    if (!strcmp(m->sites[i].call, call)) return &m->sites[i];
  return NULL;
}

/* Another process's view: a copy of the bytes, no access to this process's state. */
static void test_model_from_copy(void **state) {
  (void)state;
  bg__thread_register();
  bg__site_t *s = record(0);
  assert_non_null(s);
  bg__site_add(s, 5000, bg__self.slot);
  bg__site_add(s, 7000, bg__self.slot);
  bg__ledger_hdr_t *h = bg__ledger_get();
  void *copy = malloc(h->size);
  memcpy(copy, h, h->size);
  bg_model_t m;
  char err[256];
  bg__lread_t in = {.base = copy, .size = h->size};
  assert_int_equal(bg__ledger_model(&in, &m, err, sizeof err), 0);
  assert_int_equal(m.schema, 2);
  assert_int_equal(m.pid, getpid());
  bg_rsite_t *r = site_by_call(&m, "read");
  assert_non_null(r);
  assert_int_equal(r->count, 2);
  assert_int_equal(r->total_ns, 12000);
  assert_int_equal(r->max_ns, 7000);
  assert_true(r->nframes >= 1);
  assert_non_null(strstr(r->frames[0].module, "test_ledger"));
  assert_string_equal(r->frames[0].function, "record"); /* offline, from the file */
  assert_int_equal(r->nthreads, 1);
  assert_string_equal(m.exit.how, "vanished"); /* nobody said how it ended */
  if (m.incomplete_reason) fail_msg("incomplete: %s", m.incomplete_reason);
  bg_model_free(&m);
  free(copy);
}

static void test_in_flight(void **state) {
  (void)state;
  bg__thread_register();
  bg__site_t *s = record(1);
  assert_non_null(s);
  bg__ledger_thread_t *t = bg__thread_record(bg__self.slot);
  assert_non_null(t);
  uint64_t now = bg__now_ns();
  t->inflight_t0 = now - 2000000000ull; /* blocked for 2 s when it "died" */
  t->inflight_call = 2;
  __atomic_store_n(&t->inflight_site, bg__site_index(s) + 1, __ATOMIC_RELEASE);
  bg__ledger_hdr_t *h = bg__ledger_get();
  bg_model_t m;
  char err[256];
  bg__lread_t in = {.base = h,
                    .size = h->size,
                    .inflight = 1,
                    .ended = 2,
                    .signal = 9,
                    .end_wall_ns = h->start_wall_ns + (now - h->start_mono_ns)};
  assert_int_equal(bg__ledger_model(&in, &m, err, sizeof err), 0);
  bg_rsite_t *r = site_by_call(&m, "usleep");
  assert_non_null(r); /* listed although no call completed */
  assert_int_equal(r->count, 1);
  assert_int_equal(r->in_flight, 1);
  assert_true(r->total_ns >= 1990000000ull && r->total_ns <= 2010000000ull);
  assert_string_equal(m.exit.how, "signal");
  assert_int_equal(m.exit.signal, 9);
  bg_model_free(&m);
  t->inflight_site = 0;
  t->inflight_call = 0;
  t->inflight_t0 = 0;
}

static void test_check_rejects(void **state) {
  (void)state;
  bg__ledger_hdr_t *h = bg__ledger_get();
  char err[256];
  size_t n = h->size;
  char *copy = malloc(n);
  memcpy(copy, h, n);
  assert_int_equal(bg__ledger_check(copy, n, err, sizeof err), 0);
  assert_int_equal(bg__ledger_check(copy, 100, err, sizeof err), -1);
  assert_non_null(strstr(err, "too small"));
  assert_int_equal(bg__ledger_check(copy, n - 4096, err, sizeof err), -1);
  assert_non_null(strstr(err, "truncated"));
  ((bg__ledger_hdr_t *)copy)->layout = 99;
  assert_int_equal(bg__ledger_check(copy, n, err, sizeof err), -1);
  assert_non_null(strstr(err, "layout 99"));
  memcpy(copy, "NOTALEDG", 8);
  assert_int_equal(bg__ledger_check(copy, n, err, sizeof err), -1);
  assert_non_null(strstr(err, "not a blockguard ledger"));
  free(copy);
}

/* Garbage in every header field and string offset: an error or a model, never a crash. */
static void test_reader_garbage(void **state) {
  (void)state;
  record(0);
  bg__ledger_hdr_t *h = bg__ledger_get();
  size_t n = h->size;
  char *copy = malloc(n);
  srand(42);
  for (int round = 0; round < 300; round++) {
    memcpy(copy, h, n);
    bg__ledger_hdr_t *c = (bg__ledger_hdr_t *)copy;
    unsigned char *hb = (unsigned char *)copy + 16; /* keep magic and layout */
    for (int k = 0; k < 8; k++) hb[rand() % (sizeof *c - 16)] = (unsigned char)rand();
    /* and some site records */
    bg__site_t *pool = (bg__site_t *)(copy + h->region[BG_LR_SITES].off);
    for (int k = 0; k < 8; k++)
      ((unsigned char *)pool)[rand() % sizeof *pool] = (unsigned char)rand();
    bg_model_t m;
    char err[256];
    bg__lread_t in = {.base = copy, .size = n, .inflight = 1};
    if (bg__ledger_model(&in, &m, err, sizeof err) == 0) bg_model_free(&m);
    uint64_t pos = 0;
    struct msgs got = {0};
    bg__ledger_ring_read(copy, n, &pos, 1, on_msg, &got);
  }
  free(copy);
}

/* ---- fork ---------------------------------------------------------------------------- */
static void fork_child(void) {
  bg__ledger_hdr_t *h = bg__ledger_get();
  CHECK(h->pid == getpid());
  CHECK(h->nsites == 0 && h->nthreads == 0); /* its own, from zero */
  CHECK(!strcmp(bg__ledger_str(bg__ledger_strdup("probe")), "probe"));
}

static void test_fork(void **state) {
  (void)state;
  record(0);
  bg__ledger_hdr_t *h = bg__ledger_get();
  uint32_t before = bg__ledger_strdup("from the parent");
  uint32_t nsites = h->nsites;
  uint64_t used = h->arena_used;
  bg__core_atfork_prepare();
  pid_t p = fork();
  if (p == 0) {
    bg__core_atfork_child();
    /* same address, the parent's strings still there */
    CHECK(bg__ledger == h);
    CHECK(!strcmp(bg__ledger_str(before), "from the parent"));
    fork_child();
    record(0);
    CHECK(h->nsites == 1);
    for (int i = 0; i < 100; i++) bg__ledger_strdup("child's own");
    _exit(0);
  }
  bg__core_atfork_parent();
  int st;
  assert_int_equal(waitpid(p, &st, 0), p);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* the child wrote nothing here */
  assert_int_equal(h->nsites, nsites);
  assert_int_equal(h->arena_used, used);
  assert_int_equal(h->pid, getpid());
}

/* ---- a state file -------------------------------------------------------------------- */
static char state_prefix[256], state_path[300];
static void file_backing(void) {
  bg__ledger_close();
  /* a leftover of the same name (an earlier image of this pid) is not reused */
  snprintf(state_path, sizeof state_path, "%s.0.bgstate", state_prefix);
  CHECK(open(state_path, O_CREAT | O_WRONLY, 0600) >= 0);
  bg__ledger_spec_t spec = {BG_LB_FILE, 4096, 0, state_prefix};
  bg__ledger_hdr_t *h = bg__ledger_open(&spec);
  CHECK(h && h->backing == BG_LB_FILE);
  CHECK(h->image == 1);
  unlink(state_path);
  snprintf(state_path, sizeof state_path, "%s.1.bgstate", state_prefix);
  CHECK(!strcmp(bg__ledger_str(h->state_path), state_path));
  struct stat st;
  CHECK(stat(state_path, &st) == 0 && (uint64_t)st.st_size == h->size);
  /* only what is committed takes blocks */
  CHECK((uint64_t)st.st_blocks * 512 < h->size / 4);
  bg__sites_after_fork(); /* attach the registry to this ledger */
  /* grow the arena past its first chunk */
  uint64_t c0 = h->region[BG_LR_ARENA].committed;
  for (int i = 0; i < 40; i++) CHECK(bg__ledger_alloc(4096));
  CHECK(h->region[BG_LR_ARENA].committed > c0);
  /* sites past the first chunk */
  for (int i = 0; i < 100; i++) {
    bg__thread_register();
    record(i % 2);
  }
  /* a file that cannot grow (gone): allocations refused, counted, and said */
  unlink(state_path);
  uint64_t lost = h->lost;
  int refused = 0;
  for (int i = 0; i < 400 && !refused; i++) refused = bg__ledger_alloc(4096) == NULL;
  CHECK(refused && h->lost > lost);
  CHECK(h->incomplete && strstr(h->incomplete_text, "state file could not grow (arena)"));
}
static void test_file_backing(void **state) {
  (void)state;
  snprintf(state_prefix, sizeof state_prefix, "/tmp/test_ledger.%d", (int)getpid());
  in_child(file_backing);
  char p[300];
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s.%d.bgstate", state_prefix, i);
    unlink(p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_alloc, setup),
      cmocka_unit_test_setup(test_alloc_concurrent, setup),
      cmocka_unit_test_setup(test_arena_full, setup),
      cmocka_unit_test_setup(test_ring, setup),
      cmocka_unit_test_setup(test_ring_writer_died, setup),
      cmocka_unit_test_setup(test_model_from_copy, setup),
      cmocka_unit_test_setup(test_in_flight, setup),
      cmocka_unit_test_setup(test_check_rejects, setup),
      cmocka_unit_test_setup(test_reader_garbage, setup),
      cmocka_unit_test_setup(test_fork, setup),
      cmocka_unit_test_setup(test_file_backing, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
