/* utf8.h - the one invalid-UTF-8 policy of every report format.
 *
 * Program strings (function, file, thread and module names, argv) are arbitrary bytes;
 * every report format is UTF-8 (JSON and SARIF by RFC 8259, JUnit by its XML
 * declaration, Prometheus label values, folded stacks and pprof's string table by
 * their consumers).  One rule for all of them, so the same bytes read the same in
 * every format: each byte that does not start a well-formed UTF-8 sequence (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence)
 * becomes U+FFFD, one replacement per byte, and the bytes after it are looked at
 * afresh.  Nothing is dropped, so a string never gets shorter in characters and two
 * different bad bytes never merge.  docs/report-schema.md ("Strings") says it to
 * readers; tests/unit/test_utf8.c feeds every format the same bad bytes.
 *
 * Static inline because report/pprof/pprof.c is built into its own object
 * (libblockguard-pprof.so) that cannot see the shim's hidden symbols.  Formats add
 * their own restrictions on top (XML 1.0 cannot carry most control characters:
 * bg_xml_escape replaces those too).
 */
#ifndef BG_REPORT_UTF8_H
#define BG_REPORT_UTF8_H
#include <stdlib.h>
#include <string.h>

#define BG__UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 when there is none. */
static inline size_t bg__utf8_seq(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  if (!n) return 0;
  if (p[0] < 0x80) return 1;
  size_t len = (p[0] & 0xE0) == 0xC0   ? 2
               : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
  if (!len || len > n || (len == 2 && p[0] < 0xC2)) return 0;
  for (size_t i = 1; i < len; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if (len == 3 && p[0] == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
  if (len == 3 && p[0] == 0xED && p[1] >= 0xA0) return 0; /* surrogates */
  if (len == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || p[0] > 0xF4 || (p[0] == 0xF4 && p[1] >= 0x90)))
    return 0;
  return len;
}

/* A malloc'd copy of s under the policy (*len its length, len may be NULL); NULL out
 * of memory. */
static inline char *bg__utf8_clean(const char *s, size_t *len) {
  if (!s) s = "";
  size_t n = strlen(s);
  char *buf = malloc(n * 3 + 1), *o = buf; /* worst case: every byte replaced */
  if (!buf) return NULL;
  for (size_t i = 0; i < n;) {
    size_t k = bg__utf8_seq(s + i, n - i);
    if (k) {
      memcpy(o, s + i, k), o += k, i += k;
    } else {
      memcpy(o, BG__UTF8_REPLACEMENT, 3), o += 3, i++;
    }
  }
  *o = 0;
  if (len) *len = (size_t)(o - buf);
  return buf;
}

/* s is well-formed UTF-8 already (the common case: no copy needed). */
static inline int bg__utf8_valid(const char *s) {
  for (size_t i = 0, n = strlen(s), k; i < n; i += k)
    if (!(k = bg__utf8_seq(s + i, n - i))) return 0;
  return 1;
}
#endif
