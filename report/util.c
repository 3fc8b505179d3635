/* util.c - small helpers every renderer shares: which frame a person should look at,
 * durations for humans, program strings written under the one invalid-UTF-8 policy
 * (report/utf8.h), and escaped for XML.
 *
 * The "culprit" frame is the first one with source information outside the C
 * library, the dynamic loader and blockguard itself: a blocking read() is reported
 * where the program called it (or called the library that called it), not inside
 * libc.  SARIF uses it as the result's location, JUnit and text name it first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model.h"

const char *bg_basename(const char *path) {
  if (!path) return "";
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static const char *const lang_names[BG_LANG_COUNT] = {"c", "python", "js", "jit"};

const char *bg_lang_name(int lang) {
  return lang >= 0 && lang < BG_LANG_COUNT ? lang_names[lang] : "c";
}

int bg_lang_parse(const char *s) {
  for (int i = 0; s && i < BG_LANG_COUNT; i++)
    if (!strcmp(s, lang_names[i])) return i;
  return -1;
}

/* Objects whose frames are never the culprit. */
int bg_frame_is_system(const bg_rframe_t *f) {
  static const char *const prefixes[] = {"libc.so",     "libc-",         "ld-linux",  "ld64.so",
                                         "libpthread.", "libblockguard", "libstdc++", "libgcc_s",
                                         "libm.so",     "librt.so",      "libdl.so",  "libasan",
                                         "libtsan",     "libubsan",      "linux-vdso"};
  const char *b = bg_basename(f->module);
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (!strncmp(b, prefixes[i], strlen(prefixes[i]))) return 1;
  return 0;
}

int bg_frame_is_lang(const bg_rframe_t *f) {
  return (f->lang == BG_LANG_PYTHON || f->lang == BG_LANG_JS) && f->file && f->file[0] &&
         f->line > 0;
}

/* Code of the language runtime itself: node's built-in modules (node:fs), CPython's
 * frozen modules (<frozen importlib._bootstrap>). */
static int runtime_lang(const bg_rframe_t *f) {
  return !strncmp(f->file, "node:", 5) || !strncmp(f->file, "<frozen ", 8);
}

int bg_site_lang_caller(const bg_rsite_t *s) {
  for (int i = 0; i < s->nframes; i++)
    if (bg_frame_is_lang(&s->frames[i]) && !runtime_lang(&s->frames[i])) return i;
  for (int i = 0; i < s->nframes; i++)
    if (bg_frame_is_lang(&s->frames[i])) return i;
  return -1;
}

int bg_site_culprit(const bg_rsite_t *s) {
  /* Python or JavaScript code: the user's own line, not the interpreter's C code that
   * made the call for it (time_sleep, _Py_read), nor the runtime's own library code
   * (node:fs readFileSync) when the user's function is on the stack. */
  int l = bg_site_lang_caller(s);
  if (l >= 0) return l;
  for (int i = 0; i < s->nframes; i++)
    if (!bg_frame_is_system(&s->frames[i]) && s->frames[i].file && s->frames[i].file[0] &&
        s->frames[i].line > 0)
      return i;
  for (int i = 0; i < s->nframes; i++)
    if (!bg_frame_is_system(&s->frames[i])) return i;
  return s->nframes ? 0 : -1;
}

void bg_fmt_ns(char *buf, size_t n, uint64_t ns) {
  if (ns >= 1000000000ull)
    snprintf(buf, n, "%.2fs", ns / 1e9);
  else if (ns >= 1000000ull)
    snprintf(buf, n, "%.2fms", ns / 1e6);
  else if (ns >= 1000ull)
    snprintf(buf, n, "%.1fus", ns / 1e3);
  else
    snprintf(buf, n, "%" PRIu64 "ns", ns);
}

/* One loop thread's health on one line (text report and exit summary). */
void bg_fmt_loop(char *buf, size_t n, const bg_rloop_t *l) {
  char worst[32];
  bg_fmt_ns(worst, sizeof worst, l->worst_ns);
  snprintf(buf, n,
           "event loop '%s' (tid %d): %" PRIu64
           " iteration%s, utilization %.1f%%, worst %s, "
           "%" PRIu64 " stall%s%s",
           l->name ? l->name : "?", l->tid, l->iterations, l->iterations == 1 ? "" : "s",
           100.0 * l->utilization, worst, l->stalls, l->stalls == 1 ? "" : "s",
           l->running ? "" : " (ended)");
}

/* One frame as "fn file:line (module+0xoff)", parts left out when unknown; a language
 * frame as "fn file:line [python]". */
void bg_fmt_frame(char *buf, size_t n, const bg_rframe_t *f) {
  const char *fn = f->function && f->function[0] ? f->function : "??";
  const char *mod = bg_basename(f->module);
  if (f->lang != BG_LANG_C) { /* Python/JS: function file:line [lang] */
    if (f->file && f->file[0] && f->line > 0)
      snprintf(buf, n, "%s %s:%d [%s]", fn, f->file, f->line, bg_lang_name(f->lang));
    else if (f->file && f->file[0])
      snprintf(buf, n, "%s %s [%s]", fn, f->file, bg_lang_name(f->lang));
    else
      snprintf(buf, n, "%s [%s]", fn, bg_lang_name(f->lang));
    return;
  }
  if (f->file && f->file[0] && f->line > 0)
    snprintf(buf, n, "%s %s:%d (%s+0x%" PRIx64 ")", fn, f->file, f->line, mod[0] ? mod : "?",
             f->offset);
  else
    snprintf(buf, n, "%s (%s+0x%" PRIx64 ")", fn, mod[0] ? mod : "?", f->offset);
}

/* fputs under the one invalid-UTF-8 policy (report/utf8.h). */
void bg__utf8_fputs(const char *s, FILE *out) {
  if (!s) return;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t k = bg__utf8_seq(s + i, n - i);
    if (k) {
      size_t run = k; /* write the valid run in one go */
      while (i + run < n && (k = bg__utf8_seq(s + i + run, n - i - run))) run += k;
      fwrite(s + i, 1, run, out);
      i += run;
    } else {
      fputs(BG__UTF8_REPLACEMENT, out), i++;
    }
  }
}

/* XML 1.0 text (attr=0) or attribute (attr=1) escaping.  Invalid UTF-8 follows the one
 * policy above; characters XML 1.0 cannot carry even as references (most control
 * characters, U+FFFE, U+FFFF) become U+FFFD too, rather than producing a file CI rejects. */
void bg_xml_escape(FILE *out, const char *s, int attr) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)p);
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    switch (c) {
      case '&':
        fputs("&amp;", out), i++;
        continue;
      case '<':
        fputs("&lt;", out), i++;
        continue;
      case '>':
        fputs("&gt;", out), i++;
        continue;
      case '"':
        fputs("&quot;", out), i++;
        continue;
      case '\'':
        fputs("&apos;", out), i++;
        continue;
      case '\n':
        fputs(attr ? "&#10;" : "\n", out), i++;
        continue;
      case '\t':
        fputs(attr ? "&#9;" : "\t", out), i++;
        continue;
      case '\r':
        fputs("&#13;", out), i++;
        continue;
      default:
        break;
    }
    if (c < 0x20) {
      fputs(BG__UTF8_REPLACEMENT, out), i++;
      continue;
    }
    size_t k = bg__utf8_seq((const char *)p + i, n - i);
    /* U+FFFE/U+FFFF are not XML characters either */
    if (!k || (k == 3 && p[i] == 0xEF && p[i + 1] == 0xBF && p[i + 2] >= 0xBE)) {
      fputs(BG__UTF8_REPLACEMENT, out), i++;
      continue;
    }
    fwrite(p + i, 1, k, out);
    i += k;
  }
}
