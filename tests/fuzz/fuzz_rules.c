/* fuzz_rules.c - libFuzzer harness for the allowlist parser and matcher (guard/rules.c).
 *
 * A suppressions file is read by the shim's constructor in every process it guards;
 * it is user-written text, often edited by hand, sometimes generated.  Whatever the
 * bytes: a rule set, or an error "FILE:LINE:COL: problem" - never a crash, an
 * out-of-bounds read, a leak or a silent partial load.
 *
 * Properties on accepted input:
 *   - re-parsing the rules' own texts (each rule as written, one per line) gives the
 *     same rules field by field: what the report shows as the deciding rule means
 *     what it meant in the file;
 *   - matching subjects built from the rules' own values terminates and returns a
 *     valid index; the winning rule is the last one that matches.
 * The call table is set (as in the shim) so unknown call names are errors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/rules.h"

static const bg__callinfo_t rows[] = {{"read", BG_CAT_io, BG_F_FD, BG_OFF_NEVER},
                                      {"write", BG_CAT_io, BG_F_FD | BG_F_WRITE, BG_OFF_NEVER},
                                      {"usleep", BG_CAT_sleep, 0, BG_OFF_NEVER},
                                      {"poll", BG_CAT_wait, BG_F_LOOP, BG_OFF_NEVER},
                                      {"fsync", BG_CAT_disk, 0, BG_OFF_NEVER},
                                      {"getaddrinfo", BG_CAT_dns, 0, BG_OFF_NEVER}};

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void check_reparse(const bg__rules_t *rs) {
  size_t cap = 1;
  for (int i = 0; i < rs->n; i++) cap += strlen(rs->rules[i].text) + 1;
  char *text = malloc(cap), *p = text;
  if (!text) abort();
  for (int i = 0; i < rs->n; i++) p += sprintf(p, "%s\n", rs->rules[i].text);
  bg__rules_t again;
  char err[512];
  if (bg__rules_parse(&again, "again.supp", text, (size_t)(p - text), err, sizeof err) < 0) {
    fprintf(stderr, "rule texts do not parse back: %s\n%s", err, text);
    abort();
  }
  if (again.n != rs->n) abort();
  for (int i = 0; i < rs->n; i++) {
    const bg__rule_t *a = &rs->rules[i], *b = &again.rules[i];
    if (a->allow != b->allow || a->action != b->action || !same(a->what, b->what) ||
        !same(a->fun, b->fun) || !same(a->lib, b->lib) || !same(a->thread, b->thread) ||
        !same(a->src, b->src)) {
      fprintf(stderr, "rule %d changed on re-parse: '%s'\n", i, a->text);
      abort();
    }
  }
  bg__rules_free(&again);
  free(text);
}

static void check_match(bg__rules_t *rs) {
  for (int i = 0; i < rs->n; i++) {
    const bg__rule_t *r = &rs->rules[i];
    /* A subject whose names are the rule's own globs taken literally. */
    const char *funcs[2] = {r->fun ? r->fun : "main", ""};
    const char *mods[2] = {r->lib ? r->lib : "prog", "libc.so.6"};
    const char *files[2] = {r->src ? r->src : "prog.c", ""};
    bg__rule_subject_t subj = {.call = r->what,
                               .category = "io",
                               .tmask = r->thread ? bg__rules_thread_mask_of(rs, r->thread) : 0,
                               .nframes = 2,
                               .functions = funcs,
                               .files = files,
                               .modules = mods};
    int action = BG_ACT_REPORT, allowed = 0;
    int win = bg__rules_match(rs, &subj, &action, &allowed);
    if (win < -1 || win >= rs->n) abort();
    if (win >= 0 && allowed != rs->rules[win].allow) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bg__set_calltable(rows, (int)(sizeof rows / sizeof rows[0]));
  bg__rules_t rs;
  char err[512];
  err[0] = 0;
  if (bg__rules_parse(&rs, "fuzz.supp", (const char *)data, size, err, sizeof err) < 0) {
    if (strncmp(err, "fuzz.supp:", 10)) {
      fprintf(stderr, "error does not name FILE:LINE: '%s'\n", err);
      abort();
    }
    return 0;
  }
  check_reparse(&rs);
  check_match(&rs);
  bg__rules_free(&rs);
  return 0;
}
