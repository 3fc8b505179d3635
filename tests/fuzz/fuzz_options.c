/* fuzz_options.c - libFuzzer harness for the options parser (guard/options.c).
 *
 * The parser runs in the shim's constructor of every process it is preloaded into,
 * with BLOCKGUARD_OPTIONS from the environment: whatever the bytes, it must return 0
 * or -1 with a message, never crash, never read past the string, never abort.
 *
 * Beyond "no crash" the harness checks properties a user relies on:
 *   - a rejected string leaves a non-empty error message (the user is told why);
 *   - an accepted string yields options whose rendered values (the text written into
 *     reports) parse back, key by key, to the same rendered value: what a report says
 *     was in force is what was in force;
 *   - bg__glob terminates and agrees with itself on the thread globs it accepted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/options.h"
#include "guard/snapshot.h"

struct ctx {
  const bg__options_t *o;
};

static void check_key(const char *key, const char *def, const char *help, void *arg) {
  (void)def, (void)help;
  const bg__options_t *o = ((struct ctx *)arg)->o;
  if (bg__options_secret(key)) return; /* rendered as "(set)", never echoed */
  char v1[BG_OPT_STR_MAX + 64], v2[BG_OPT_STR_MAX + 64], err[512];
  bg__options_value(o, key, v1, sizeof v1);
  bg__options_t *copy = malloc(sizeof *copy);
  if (!copy) abort();
  memcpy(copy, o, sizeof *copy);
  if (bg__options_set(copy, key, strlen(key), v1, strlen(v1), err, sizeof err) < 0) {
    fprintf(stderr, "rendered value of '%s' does not parse back: '%s': %s\n", key, v1, err);
    abort();
  }
  bg__options_value(copy, key, v2, sizeof v2);
  if (strcmp(v1, v2)) {
    fprintf(stderr, "option '%s' does not round-trip: '%s' -> '%s'\n", key, v1, v2);
    abort();
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The environment gives a NUL-terminated string: so does the harness, exactly
   * sized so ASan catches any read past its end. */
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  bg__options_t *o = malloc(sizeof *o);
  char err[512];
  err[0] = 0;
  if (!o) abort();
  if (bg__options_parse(o, s, err, sizeof err) < 0) {
    if (!err[0]) {
      fprintf(stderr, "parse failed without an error message\n");
      abort();
    }
  } else {
    struct ctx c = {o};
    bg__options_each(check_key, &c);
    /* Globs accepted for threads=name:GLOB are matched against thread names at run
     * time: they must terminate on any name, including the empty one. */
    for (int i = 0; i < o->threads.nglobs; i++) {
      (void)bg__glob(o->threads.globs[i], "");
      (void)bg__glob(o->threads.globs[i], s);
      if (!bg__glob(o->threads.globs[i], o->threads.globs[i]) &&
          !strpbrk(o->threads.globs[i], "*?["))
        abort(); /* a glob without metacharacters must match itself */
    }
  }
  free(o);
  free(s);
  return 0;
}
