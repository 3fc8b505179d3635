/* options.c - parse BLOCKGUARD_OPTIONS and CLI --key=value from one table.
 *
 * Syntax is sanitizer style, "key=value:key=value".  Values may themselves contain ':'
 * (http=127.0.0.1:8080, threads=name:worker-*), so a ':' only separates options when
 * what follows it up to the next '=' is a bare identifier: that keeps both readable and
 * still reports an unknown key instead of folding it into the previous value.
 *
 * Every value goes through the parser of its row (defaults too), so a table typo is
 * caught by the unit tests rather than by a user.  Nothing here allocates: it runs in
 * the shim's constructor before the program's own allocator may be usable.
 */
#include "guard/options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"

bg__options_t bg__opt;

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- value parsers: (field pointer, value text) → 0 or -1 with err ---------------- */
typedef int (*bg__opt_parser)(void *field, const char *key, const char *v, size_t n,
                              uint64_t lo, uint64_t hi, char *err, size_t errlen);

static int copy_text(char *dst, const char *key, const char *v, size_t n, char *err,
                     size_t errlen) {
  if (n >= BG_OPT_STR_MAX) return fail(err, errlen, "option '%s': value too long", key);
  memcpy(dst, v, n);
  dst[n] = 0;
  return 0;
}

static int p_text(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                  uint64_t hi, char *err, size_t errlen) {
  return copy_text(f, key, v, n, err, errlen);
}

static int p_path(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                  uint64_t hi, char *err, size_t errlen) {
  if (memchr(v, 0, n)) return fail(err, errlen, "option '%s': NUL in path", key);
  return copy_text(f, key, v, n, err, errlen);
}

static int p_uint(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                  uint64_t hi, char *err, size_t errlen) {
  char buf[32];
  if (n == 0 || n >= sizeof buf)
    return fail(err, errlen, "option '%s': expected a number, got '%.*s'", key, (int)n, v);
  memcpy(buf, v, n);
  buf[n] = 0;
  for (size_t i = 0; i < n; i++)
    if (buf[i] < '0' || buf[i] > '9')
      return fail(err, errlen, "option '%s': expected a number, got '%s'", key, buf);
  errno = 0;
  unsigned long long x = strtoull(buf, NULL, 10);
  if (errno || x < lo || x > hi)
    return fail(err, errlen, "option '%s': %s is out of range [%llu, %llu]", key, buf,
                (unsigned long long)lo, (unsigned long long)hi);
  *(uint64_t *)f = x;
  return 0;
}

static int p_bool(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                  uint64_t hi, char *err, size_t errlen) {
  static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (strlen(yes[i]) == n && !strncmp(v, yes[i], n)) return *(int *)f = 1, 0;
    if (strlen(no[i]) == n && !strncmp(v, no[i], n)) return *(int *)f = 0, 0;
  }
  return fail(err, errlen, "option '%s': expected 0 or 1, got '%.*s'", key, (int)n, v);
}

static int p_action(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                    uint64_t hi, char *err, size_t errlen) {
  int a = bg__action_parse(v, n);
  if (a < 0)
    return fail(err, errlen,
                "option '%s': unknown action '%.*s' (report, warn, raise, abort, offload, off)",
                key, (int)n, v);
  *(int *)f = a;
  return 0;
}

static int p_format(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                    uint64_t hi, char *err, size_t errlen) {
  int fmt = bg_format_find(v, n);
  if (fmt >= 0) return *(int *)f = fmt, 0;
  return fail(err, errlen, "option '%s': unknown format '%.*s' (%s)", key, (int)n, v,
              bg_format_names());
}

static int p_redact(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                    uint64_t hi, char *err, size_t errlen) {
  char why[160];
  if (bg_redact_parse(f, v, n, why, sizeof why) < 0)
    return fail(err, errlen, "option '%s': %s", key, why);
  return 0;
}

/* Iterates a comma list, calling item() for each non-empty element. */
static int each_item(const char *v, size_t n, int (*item)(void *, const char *, size_t),
                     void *arg) {
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && v[j] != ',') j++;
    if (j > i && item(arg, v + i, j - i) < 0) return -1;
    i = j + 1;
  }
  return 0;
}

struct list_ctx {
  const char *key;
  char *err;
  size_t errlen;
  void *out;
  int count;
};

static int threads_item(void *arg, const char *s, size_t n) {
  struct list_ctx *c = arg;
  bg__threads_spec_t *t = c->out;
  c->count++;
  if (n == 4 && !strncmp(s, "main", 4)) return t->main = 1, 0;
  if (n == 4 && !strncmp(s, "auto", 4)) return t->autodetect = 1, 0;
  if (n == 3 && !strncmp(s, "all", 3)) return t->all = 1, 0;
  if (n == 4 && !strncmp(s, "none", 4)) return 0;
  if (n > 5 && !strncmp(s, "name:", 5)) {
    if (t->nglobs == BG_MAX_NAME_GLOBS)
      return fail(c->err, c->errlen, "option '%s': at most %d name: globs", c->key,
                  BG_MAX_NAME_GLOBS);
    if (n - 5 >= sizeof t->globs[0])
      return fail(c->err, c->errlen, "option '%s': name glob too long", c->key);
    memcpy(t->globs[t->nglobs], s + 5, n - 5);
    t->globs[t->nglobs++][n - 5] = 0;
    return 0;
  }
  return fail(c->err, c->errlen,
              "option '%s': unknown thread selector '%.*s' (main, auto, name:GLOB, all, none)",
              c->key, (int)n, s);
}

static int p_threads(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                     uint64_t hi, char *err, size_t errlen) {
  bg__threads_spec_t t;
  memset(&t, 0, sizeof t);
  struct list_ctx c = {key, err, errlen, &t, 0};
  if (each_item(v, n, threads_item, &c) < 0) return -1;
  if (c.count == 0) return fail(err, errlen, "option '%s': empty (use 'none')", key);
  memcpy(f, &t, sizeof t);
  return 0;
}

static int cats_item(void *arg, const char *s, size_t n) {
  struct list_ctx *c = arg;
  unsigned *mask = c->out, all = (1u << BG_CAT_COUNT) - 1;
  int neg = (*s == '-' || *s == '!');
  if (neg) s++, n--;
  unsigned bits;
  if (n == 3 && !strncmp(s, "all", 3)) {
    bits = all;
  } else if (n == 4 && !strncmp(s, "none", 4)) {
    bits = all, neg = 1;
  } else {
    int cat = bg__category_parse(s, n);
    if (cat < 0)
      return fail(c->err, c->errlen, "option '%s': unknown category '%.*s'", c->key, (int)n,
                  s);
    bits = 1u << cat;
  }
  *mask = neg ? (*mask & ~bits) : (*mask | bits);
  return 0;
}

static int p_categories(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                        uint64_t hi, char *err, size_t errlen) {
  unsigned mask = 0;
  struct list_ctx c = {key, err, errlen, &mask, 0};
  /* A list that only removes ("-dns") starts from the default set. */
  if (n && (v[0] == '-' || v[0] == '!'))
    mask = ((1u << BG_CAT_COUNT) - 1) & ~(1u << BG_CAT_sync);
  if (each_item(v, n, cats_item, &c) < 0) return -1;
  *(unsigned *)f = mask;
  return 0;
}

static int p_addr(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                  uint64_t hi, char *err, size_t errlen) {
  if (n == 0) return *(char *)f = 0, 0;
  const char *colon = NULL;
  for (size_t i = 0; i < n; i++)
    if (v[i] == ':') colon = v + i;
  if (!colon || colon == v || colon == v + n - 1)
    return fail(err, errlen, "option '%s': expected ADDR:PORT, got '%.*s'", key, (int)n, v);
  uint64_t port;
  char perr[128];
  if (p_uint(&port, key, colon + 1, (size_t)(v + n - colon - 1), 0, 65535, perr,
             sizeof perr) < 0)
    return fail(err, errlen, "option '%s': bad port in '%.*s' (0-65535)", key, (int)n, v);
  return copy_text(f, key, v, n, err, errlen);
}

static int exempt_item(void *arg, const char *s, size_t n) {
  struct list_ctx *c = arg;
  unsigned *m = c->out;
  if (n == 6 && !strncmp(s, "stderr", 6)) return *m |= BG_EXEMPT_STDERR, 0;
  if (n == 6 && !strncmp(s, "stdout", 6)) return *m |= BG_EXEMPT_STDOUT, 0;
  if (n == 3 && !strncmp(s, "tty", 3)) return *m |= BG_EXEMPT_TTY, 0;
  if (n == 4 && !strncmp(s, "none", 4)) return 0;
  return fail(c->err, c->errlen, "option '%s': unknown fd class '%.*s' (stderr, stdout, tty, none)",
              c->key, (int)n, s);
}

/* FDCLASSES (exempt_fds): the mask the fd cache tests, and the text for reports. */
static int p_fdclasses(void *f, const char *key, const char *v, size_t n, uint64_t lo,
                       uint64_t hi, char *err, size_t errlen) {
  bg__fd_classes_t *fc = f;
  unsigned mask = 0;
  struct list_ctx c = {key, err, errlen, &mask, 0};
  if (each_item(v, n, exempt_item, &c) < 0) return -1;
  if (copy_text(fc->text, key, v, n, err, errlen) < 0) return -1;
  fc->mask = mask;
  return 0;
}

/* push=: an http or https URL without blanks or control characters (libcurl parses
 * the rest when the first push is made; a bad host is reported then). */
static int p_url(void *f, const char *key, const char *v, size_t n, uint64_t lo, uint64_t hi,
                 char *err, size_t errlen) {
  if (n && strncmp(v, "http://", n < 7 ? n : 7) && strncmp(v, "https://", n < 8 ? n : 8))
    return fail(err, errlen, "option '%s': expected an http:// or https:// URL, got '%.*s'", key, (int)n, v);
  if (n && (n < 8 || (v[4] == 's' && n < 9)))
    return fail(err, errlen, "option '%s': URL '%.*s' has no host", key, (int)n, v);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] <= ' ' || v[i] == 0x7f)
      return fail(err, errlen, "option '%s': blank or control character in the URL", key);
  return copy_text(f, key, v, n, err, errlen);
}

/* push_header=: "Name: value" items separated by '|'; the name is an HTTP token, the
 * value has no line break (it would end the header and start another). */
static int p_headers(void *f, const char *key, const char *v, size_t n, uint64_t lo, uint64_t hi,
                     char *err, size_t errlen) {
  static const char tchar[] = "!#$%&'*+-.^_`~";
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j] != '|') j++;
    size_t k = i;
    while (k < j && v[k] != ':') k++;
    if (k == i || k == j)
      return fail(err, errlen, "option '%s': expected 'Name: value' items separated by '|', got '%.*s'",
                  key, (int)(j - i), v + i);
    for (size_t c = i; c < k; c++)
      if (!((v[c] >= 'a' && v[c] <= 'z') || (v[c] >= 'A' && v[c] <= 'Z') || (v[c] >= '0' && v[c] <= '9') ||
            strchr(tchar, v[c])))
        return fail(err, errlen, "option '%s': bad header name '%.*s'", key, (int)(k - i), v + i);
    for (size_t c = k; c < j; c++)
      if (v[c] == '\r' || v[c] == '\n' || v[c] == 0)
        return fail(err, errlen, "option '%s': line break in header '%.*s'", key, (int)(k - i), v + i);
    i = j + 1;
  }
  return copy_text(f, key, v, n, err, errlen);
}

/* ---- value renderers: field → option text (reports, --help); parses back the same - */
#define BG__ADD(...) used += (size_t)snprintf(buf + used, used < n ? n - used : 0, __VA_ARGS__)

static void r_text(const void *f, char *buf, size_t n) { snprintf(buf, n, "%s", (const char *)f); }
/* The dashboard token is never echoed into reports or pages. */
static void r_secret(const void *f, char *buf, size_t n) {
  snprintf(buf, n, "%s", *(const char *)f ? "(set)" : "");
}
static void r_uint(const void *f, char *buf, size_t n) {
  snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)f);
}
static void r_bool(const void *f, char *buf, size_t n) { snprintf(buf, n, "%d", *(const int *)f); }
static void r_action(const void *f, char *buf, size_t n) {
  snprintf(buf, n, "%s", bg__action_name(*(const int *)f));
}
static void r_format(const void *f, char *buf, size_t n) {
  int fmt = *(const int *)f;
  snprintf(buf, n, "%s", fmt >= 0 && fmt < BG_FMT_COUNT ? bg_formats[fmt].name : "?");
}
static void r_redact(const void *f, char *buf, size_t n) { bg_redact_text(f, buf, n); }
static void r_fdclasses(const void *f, char *buf, size_t n) {
  snprintf(buf, n, "%s", ((const bg__fd_classes_t *)f)->text);
}
static void r_threads(const void *f, char *buf, size_t n) {
  const bg__threads_spec_t *t = f;
  size_t used = 0;
  buf[0] = 0;
  if (t->main) BG__ADD("%smain", used ? "," : "");
  if (t->autodetect) BG__ADD("%sauto", used ? "," : "");
  if (t->all) BG__ADD("%sall", used ? "," : "");
  for (int i = 0; i < t->nglobs; i++) BG__ADD("%sname:%s", used ? "," : "", t->globs[i]);
  if (!used) BG__ADD("none");
}
static void r_categories(const void *f, char *buf, size_t n) {
  unsigned m = *(const unsigned *)f;
  size_t used = 0;
  buf[0] = 0;
  for (int i = 0; i < BG_CAT_COUNT; i++)
    if (m & (1u << i)) BG__ADD("%s%s", used ? "," : "", bg__category_name(i));
  if (!used) BG__ADD("none");
}
#undef BG__ADD

/* ---- the table -------------------------------------------------------------------- */
/* A kind is how a row's value is parsed and rendered.  Its macro below also names the
 * type its bg__options_t field must have: each row gets a _Static_assert, so a field
 * whose type does not match its row's kind (an `int workers` for a UINT row, whose
 * parser stores a uint64_t) fails the build instead of writing past the field. */
typedef struct bg__optkind {
  bg__opt_parser parse;
  void (*render)(const void *field, char *buf, size_t n);
} bg__optkind_t;
#define BG__KIND(name, parse, render) static const bg__optkind_t bg__kind_##name = {parse, render};
BG__KIND(BOOL, p_bool, r_bool)
BG__KIND(UINT, p_uint, r_uint)
BG__KIND(ACTION, p_action, r_action)
BG__KIND(THREADS, p_threads, r_threads)
BG__KIND(CATEGORIES, p_categories, r_categories)
BG__KIND(FORMAT, p_format, r_format)
BG__KIND(PATH, p_path, r_text)
BG__KIND(ADDR, p_addr, r_text)
BG__KIND(TEXT, p_text, r_text)
BG__KIND(SECRET, p_text, r_secret)
BG__KIND(REDACT, p_redact, r_redact)
BG__KIND(FDCLASSES, p_fdclasses, r_fdclasses)
BG__KIND(URL, p_url, r_text)        /* credentials: redacted with argv (report/redact.c) */
BG__KIND(HEADERS, p_headers, r_secret)
#undef BG__KIND

/* kind → name, lo, hi, field type */
#define BG__KIND_BOOL BOOL, 0, 0, int
#define BG__KIND_UINT(lo, hi) UINT, lo, hi, uint64_t
#define BG__KIND_ACTION ACTION, 0, 0, int
#define BG__KIND_THREADS THREADS, 0, 0, bg__threads_spec_t
#define BG__KIND_CATEGORIES CATEGORIES, 0, 0, unsigned
#define BG__KIND_FORMAT FORMAT, 0, 0, int
#define BG__KIND_PATH PATH, 0, 0, char[BG_OPT_STR_MAX]
#define BG__KIND_ADDR ADDR, 0, 0, char[BG_OPT_STR_MAX]
#define BG__KIND_TEXT TEXT, 0, 0, char[BG_OPT_STR_MAX]
#define BG__KIND_SECRET SECRET, 0, 0, char[BG_OPT_STR_MAX]
#define BG__KIND_REDACT REDACT, 0, 0, bg_redact_t
#define BG__KIND_FDCLASSES FDCLASSES, 0, 0, bg__fd_classes_t
#define BG__KIND_URL URL, 0, 0, char[BG_OPT_STR_MAX]
#define BG__KIND_HEADERS HEADERS, 0, 0, char[BG_OPT_STR_MAX]

#define BG__FIELD(key) (((bg__options_t *)0)->key)
#define BG__CHECK(key, kind, lo, hi, type, def, help)                                    \
  _Static_assert(__builtin_types_compatible_p(__typeof__(BG__FIELD(key)), type) &&       \
                     sizeof BG__FIELD(key) == sizeof(type),                              \
                 "guard/options.def row '" #key "' is " #kind                            \
                 ": bg__options_t." #key " must be " #type);                             \
  _Static_assert((lo) <= (hi), "guard/options.def row '" #key "': UINT(lo, hi) with lo > hi");
#define BG__CHECK_(...) BG__CHECK(__VA_ARGS__)
#define BG_OPT(key, kind, def, help) BG__CHECK_(key, BG__KIND_##kind, def, help)
#include "guard/options.def"
#undef BG_OPT

typedef struct bg__optrow {
  const char *key;
  size_t offset;
  const bg__optkind_t *kind;
  uint64_t lo, hi;
  const char *def, *help;
} bg__optrow_t;

#define BG__ROW(key, kind, lo, hi, type, def, help)                                      \
  {#key, offsetof(bg__options_t, key), &bg__kind_##kind, lo, hi, def, help},
#define BG__ROW_(...) BG__ROW(__VA_ARGS__)
#define BG_OPT(key, kind, def, help) BG__ROW_(key, BG__KIND_##kind, def, help)
static const bg__optrow_t bg__rows[] = {
#include "guard/options.def"
};
#undef BG_OPT
#define BG__NROWS (sizeof bg__rows / sizeof bg__rows[0])

static const bg__optrow_t *find_row(const char *key, size_t n) {
  for (size_t i = 0; i < BG__NROWS; i++)
    if (strlen(bg__rows[i].key) == n && !strncmp(bg__rows[i].key, key, n)) return &bg__rows[i];
  return NULL;
}

int bg__options_known(const char *key, size_t keylen) { return find_row(key, keylen) != NULL; }

int bg__options_set(bg__options_t *o, const char *key, size_t keylen, const char *val,
                    size_t vallen, char *err, size_t errlen) {
  const bg__optrow_t *r = find_row(key, keylen);
  if (!r) return fail(err, errlen, "unknown option '%.*s' (see 'blockguard --help')", (int)keylen, key);
  return r->kind->parse((char *)o + r->offset, r->key, val, vallen, r->lo, r->hi, err, errlen);
}

/* Every process parses the defaults in its constructor, so this is start-up cost: each
 * row's parser is called directly (finding rows by name cost a third of the shim's
 * start-up instructions), and the first time, on bg__opt still as zeroed by the
 * loader, neither the struct is cleared nor empty text defaults written, which leaves
 * all but its first page untouched. */
void bg__options_defaults(bg__options_t *o) {
  static int global_used;
  int fresh = o == &bg__opt && !__atomic_exchange_n(&global_used, 1, __ATOMIC_RELAXED);
  if (!fresh) memset(o, 0, sizeof *o);
  for (size_t i = 0; i < BG__NROWS; i++) {
    char err[256];
    const bg__optrow_t *r = &bg__rows[i];
    bg__opt_parser pr = r->kind->parse;
    if (fresh && !r->def[0] && (pr == p_text || pr == p_path || pr == p_addr))
      continue; /* "" on zeroes */
    if (pr((char *)o + r->offset, r->key, r->def, strlen(r->def), r->lo, r->hi, err, sizeof err) < 0)
      abort(); /* a bad default is a build bug; test_options catches it */
  }
}

static int is_ident(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_';
}

/* Is s[i] == ':' the start of a new "key=" ? */
static int starts_option(const char *s, size_t i) {
  size_t j = i + 1;
  while (is_ident(s[j])) j++;
  return j > i + 1 && s[j] == '=';
}

int bg__options_parse(bg__options_t *o, const char *s, char *err, size_t errlen) {
  bg__options_defaults(o);
  if (!s) return 0;
  size_t len = strlen(s);
  if (len >= sizeof o->text) return fail(err, errlen, "options string too long (%zu bytes)", len);
  memcpy(o->text, s, len + 1);
  size_t i = 0;
  while (i < len) {
    if (s[i] == ':' || s[i] == ' ') { /* empty element, "a=1::b=2" */
      i++;
      continue;
    }
    size_t k = i;
    while (k < len && s[k] != '=' && s[k] != ':') k++;
    if (k == len || s[k] != '=')
      return fail(err, errlen, "option '%.*s': expected key=value", (int)(k - i), s + i);
    size_t v = k + 1, e = v;
    while (e < len && !(s[e] == ':' && starts_option(s, e))) e++;
    if (bg__options_set(o, s + i, k - i, s + v, e - v, err, errlen) < 0) return -1;
    i = e + 1;
  }
  return 0;
}

void bg__options_each(void (*fn)(const char *, const char *, const char *, void *), void *arg) {
  for (size_t i = 0; i < BG__NROWS; i++) fn(bg__rows[i].key, bg__rows[i].def, bg__rows[i].help, arg);
}

/* Classic recursive-free glob: '*' backtracks to the last star only. */
int bg__glob(const char *p, const char *s) {
  const char *star = NULL, *ss = NULL;
  while (*s) {
    if (*p == '[') {
      const char *q = p + 1;
      int neg = (*q == '!' || *q == '^'), hit = 0;
      if (neg) q++;
      for (; *q && (*q != ']' || q == p + 1 + neg); q++) {
        if (q[1] == '-' && q[2] && q[2] != ']') {
          if (*s >= q[0] && *s <= q[2]) hit = 1;
          q += 2;
        } else if (*q == *s) {
          hit = 1;
        }
      }
      if (*q == ']' && hit != neg) {
        p = q + 1, s++;
        continue;
      }
    } else if (*p == '?' || (*p != '*' && *p == *s)) {
      p++, s++;
      continue;
    }
    if (*p == '*') {
      star = p++, ss = s;
      continue;
    }
    if (!star) return 0;
    p = star + 1, s = ++ss;
  }
  while (*p == '*') p++;
  return *p == 0;
}

/* Renders the current value of `key` as option text (for reports and --help): what
 * its kind's renderer makes of the field (a SECRET is never echoed). */
void bg__options_value(const void *opts, const char *key, char *buf, size_t n) {
  const bg__optrow_t *r = find_row(key, strlen(key));
  buf[0] = 0;
  if (r) r->kind->render((const char *)opts + r->offset, buf, n);
}
