/* fuzz_glob.c - libFuzzer harness for bg__glob (guard/options.c), checked against
 * POSIX fnmatch(3).
 *
 * Thread-name globs (threads=name:GLOB) and the allowlist's fun:/lib:/thread: globs
 * all go through bg__glob, which runs on the violation path and must not allocate or
 * recurse.  Input: PATTERN '\0' STRING.  Besides "terminates, never reads out of
 * bounds", its answer must equal fnmatch(PATTERN, STRING, 0) for the syntax we
 * document (*, ?, [set], [!set], [a-z]); patterns using what we do not support
 * (backslash escapes, an unterminated '[', character classes "[:alpha:]", a '/' that
 * fnmatch treats specially under some flags) are only run, not compared.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/options.h"

/* Is every '[' in p closed by a ']' and free of constructs we do not claim to support? */
static int comparable(const char *p) {
  if (strchr(p, '\\')) return 0;
  for (const char *q = p; *q; q++) {
    if (*q != '[') continue;
    const char *r = q + 1;
    if (*r == '!' || *r == '^') r++;
    if (*r == ']') r++; /* a leading ']' is literal */
    while (*r && *r != ']') {
      if (r[0] == '[' && (r[1] == ':' || r[1] == '.' || r[1] == '=')) return 0;
      r++;
    }
    if (!*r) return 0;
    /* a range whose end is before its start: implementations differ */
    for (const char *k = q + 1; k + 2 < r; k++)
      if (k[1] == '-' && k[2] != ']' && (unsigned char)k[2] < (unsigned char)k[0]) return 0;
    q = r;
  }
  /* bytes >= 0x80 are not a valid multibyte string in every locale fnmatch may use */
  for (const char *q = p; *q; q++)
    if ((unsigned char)*q >= 0x80) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 2);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = 0;
  buf[size + 1] = 0;
  const char *pat = buf, *str = buf + strlen(buf) + 1;
  if (str > buf + size) str = buf + size + 1; /* no separator: empty string */
  int ours = bg__glob(pat, str);
  if (comparable(pat)) {
    int ascii = 1;
    for (const char *q = str; *q; q++)
      if ((unsigned char)*q >= 0x80) ascii = 0;
    if (ascii) {
      int theirs = fnmatch(pat, str, 0) == 0;
      if (ours != theirs) {
        fprintf(stderr, "bg__glob(\"%s\", \"%s\") = %d, fnmatch says %d\n", pat, str, ours, theirs);
        abort();
      }
    }
  }
  free(buf);
  return 0;
}
