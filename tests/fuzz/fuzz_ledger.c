/* fuzz_ledger.c - libFuzzer harness for the ledger reader (guard/ledger_read.c).
 *
 * `blockguard run/check` maps whatever memfd a peer of its process tree sends, and
 * `blockguard report` reads state files left on disk by processes that died at any
 * instruction: the reader must answer any bytes with an error or a model - never a
 * crash, an out-of-bounds read, or a hang.
 *
 * The input patches a real ledger (sites, threads, modules, rules, language frames,
 * arena strings, ring messages, made by the same code the shim runs): a list of
 * [region byte][offset u32][length byte][bytes...] records, each written into one
 * region of a copy at that offset (modulo the region's used size, so patches land
 * where readers look).  Then the model is built (as the CLI builds it: not self, calls
 * in flight counted), the ring is drained as after the writer's death, and the header
 * facts are read.  Property on success: the model renders to JSON that reads back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"
#include "guard/lang.h"
#include "guard/ledger.h"
#include "guard/ledger_read.h"
#include "guard/options.h"
#include "guard/sites.h"
#include "report/model.h"

static const bg__callinfo_t rows[] = {{.name = "read", .category = BG_CAT_io},
                                      {.name = "usleep", .category = BG_CAT_sleep}};

static char *tmpl, *copy;
static size_t size;

static __attribute__((noipa)) void record(int call) {
  bg__site_t *s = bg__site_get(call, BG_CAT_io, 0, BG_ACT_REPORT);
  if (s) bg__site_add(s, 1000 + (uint64_t)call, bg__self.slot);
  __asm__ volatile("" ::: "memory");
}

static void make_template(void) {
  bg__options_defaults(&bg__opt);
  bg__opt.max_sites = 8;
  bg__opt.stack_depth = 4;
  bg__set_calltable(rows, 2);
  bg__sites_init();
  bg__thread_register();
  record(0);
  record(1);
  bg__lframe_intern(BG_LANG_PYTHON, "handler", "/srv/app.py", 12);
  bg__ledger_hdr_t *h = bg__ledger_get();
  h->options = bg__ledger_strdup("threads=main:report=/tmp/x.json");
  bg__ledger_msg("blockguard: a message", 21);
  bg__thread_record(bg__self.slot)->inflight_site = 1;
  bg__thread_record(bg__self.slot)->inflight_t0 = bg__now_ns() - 1000;
  size = h->size;
  tmpl = malloc(size);
  copy = malloc(size);
  if (!tmpl || !copy) abort();
  memcpy(tmpl, h, size);
}

static void on_msg(const char *m, size_t n, void *arg) {
  (void)m, (void)arg;
  if (n > (64u << 10)) abort(); /* a message longer than the ring */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  if (!tmpl) make_template();
  memcpy(copy, tmpl, size);
  const bg__ledger_hdr_t *h = (const bg__ledger_hdr_t *)tmpl;
  /* where a patch may land: [start, start+len) of each region as the template uses it */
  const struct {
    uint64_t off, len;
  } where[] = {
      {0, sizeof *h},
      {h->rules_off, h->modules_off - h->rules_off},
      {h->modules_off, (uint64_t)(h->nmodules + 1) * sizeof(bg__ledger_module_t)},
      {h->region[BG_LR_LFRAMES].off, (uint64_t)(h->nlframes + 1) * sizeof(bg__ledger_lframe_t)},
      {h->region[BG_LR_ARENA].off, h->arena_used + 64},
      {h->region[BG_LR_THREADS].off, (uint64_t)(h->nthreads + 1) * sizeof(bg__ledger_thread_t)},
      {h->ring_off, 256},
      {h->region[BG_LR_SITES].off, (uint64_t)(h->nsites + 1) * sizeof(bg__site_t)},
  };
  for (size_t i = 0; i + 6 <= n;) {
    unsigned r = data[i] % (sizeof where / sizeof where[0]);
    uint32_t off;
    memcpy(&off, data + i + 1, 4);
    size_t len = data[i + 5];
    i += 6;
    if (len > n - i) len = n - i;
    uint64_t at = where[r].off + (where[r].len ? off % where[r].len : 0);
    if (at + len > size) len = size - at;
    memcpy(copy + at, data + i, len);
    i += len;
  }
  char err[512];
  bg_model_t m;
  bg__lread_t in = {.base = copy, .size = size, .inflight = 1};
  if (bg__ledger_model(&in, &m, err, sizeof err) == 0) {
    char *json = bg_render_json(&m);
    bg_model_t back;
    if (!json || bg_model_read_json(json, strlen(json), "fuzz", &back, err, sizeof err) < 0) {
      fprintf(stderr, "a model from a ledger does not survive JSON: %s\n", json ? err : "render");
      abort();
    }
    bg_model_free(&back);
    free(json);
    bg_model_free(&m);
  } else if (!err[0]) {
    abort(); /* an error must say what */
  }
  uint64_t pos = 0;
  bg__ledger_ring_read(copy, size, &pos, 1, on_msg, NULL);
  bg__lfacts_t f;
  bg__ledger_facts(copy, size, &f, err, sizeof err);
  return 0;
}
