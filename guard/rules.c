/* rules.c - allowlist parser, matcher and the per-site decision hook (see rules.h).
 *
 * Parsing is strict on purpose: an allowlist that silently ignores a typo allows or
 * denies the wrong thing, so every problem is an error naming FILE:LINE:COLUMN, and
 * the shim stops the program like a bad option (strict=1).
 *
 * Matching runs once per new site (bg__site_decide), never per call.  Function names
 * are only computed when some rule has fun: or src:, through the symbolizer (ELF symbol
 * table, so static functions of a program match too; C++ names demangled), source
 * files (DWARF line tables) only when some rule has src:; a Python or JavaScript
 * frame's name and file were interned when the site was made.  Module basenames come
 * from the site's module table entries.  All happens outside the registry lock.
 */
#define _GNU_SOURCE
#include "guard/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/lang.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/sites.h"
#include "guard/symbolize.h"

#define MAX_TOKENS 16
#define MAX_VALUE 512

/* ---- parsing ----------------------------------------------------------------------- */

struct tok {
  const char *s;
  size_t n;
  int col;
};

/* Where the parser is, for errors naming FILE:LINE:COLUMN. */
struct at {
  const char *file;
  int line;
  char *err;
  size_t errlen;
};

static int perr(const struct at *at, int col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(const struct at *at, int col, const char *fmt, ...) {
  int k = snprintf(at->err, at->errlen, "%s:%d:%d: ", at->file, at->line, col);
  if (k < 0 || (size_t)k >= at->errlen) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(at->err + k, at->errlen - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

static int has_glob(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '*' || s[i] == '?' || s[i] == '[') return 1;
  return 0;
}

/* Offset of an unterminated '[' in the glob, or -1 when the glob is well formed. */
static int bad_bracket(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '[') continue;
    size_t j = i + 1;
    if (j < n && (s[j] == '!' || s[j] == '^')) j++;
    if (j < n && s[j] == ']') j++; /* a leading ']' is literal */
    while (j < n && s[j] != ']') j++;
    if (j >= n) return (int)i;
    i = j;
  }
  return -1;
}

static int known_what(const char *s, size_t n) {
  if (has_glob(s, n) || bg__category_parse(s, n) >= 0) return 1;
  int nc = bg__ncalls();
  if (nc == 0) return 1; /* no call table (CLI, unit tests): cannot tell */
  for (int i = 0; i < nc; i++) {
    const bg__callinfo_t *ci = bg__callinfo(i);
    if (ci && strlen(ci->name) == n && !strncmp(ci->name, s, n)) return 1;
  }
  return 0;
}

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

static void rule_free(bg__rule_t *r) {
  free(r->what), free(r->fun), free(r->src), free(r->lib), free(r->thread), free(r->text);
}

static int thread_bit(bg__rules_t *rs, const char *glob) {
  for (int i = 0; i < rs->nthread_globs; i++)
    if (!strcmp(rs->thread_globs[i], glob)) return i;
  if (rs->nthread_globs == BG_RULE_MAX_THREAD_GLOBS) return -1;
  rs->thread_globs[rs->nthread_globs] = strdup(glob);
  return rs->thread_globs[rs->nthread_globs] ? rs->nthread_globs++ : -1;
}

/* ---- one line, in phases: tokens, verb, call or category, fields, the rule --------- */

/* Splits a line into blank-separated tokens up to a '#' comment.  '\r' separates too:
 * a stray CR (an editor's CRLF mixed with trailing blanks) must not end up inside a
 * glob, invisible in the error message.  Returns the token count, or -1. */
static int tokenize(const struct at *at, const char *line, size_t len, struct tok *t) {
  int nt = 0;
  for (size_t i = 0;;) {
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i >= len || line[i] == '#') return nt;
    size_t b = i;
    while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') i++;
    if (nt == MAX_TOKENS) return perr(at, (int)b + 1, "too many fields (at most %d)", MAX_TOKENS);
    t[nt++] = (struct tok){line + b, i - b, (int)b + 1};
  }
}

/* `allow` or `deny`. */
static int parse_verb(const struct at *at, const struct tok *t, bg__rule_t *r) {
  if (t->n == 5 && !strncmp(t->s, "allow", 5)) return r->allow = 1, 0;
  if (t->n == 4 && !strncmp(t->s, "deny", 4)) return 0;
  return perr(at, t->col, "expected 'allow' or 'deny', got '%.*s'", (int)t->n, t->s);
}

/* The call or category the rule is about (a name of the call table, a category, or a
 * glob over them).  t[0] is the verb, t[1] the name if there is one. */
static int parse_what(const struct at *at, const struct tok *t, int nt, bg__rule_t *r) {
  if (nt < 2)
    return perr(at, (int)(t[0].col + t[0].n), "missing call or category after '%.*s'",
                (int)t[0].n, t[0].s);
  const struct tok *w = &t[1];
  if (memchr(w->s, ':', w->n))
    return perr(at, w->col, "expected a call or category before '%.*s' (e.g. 'allow read %.*s')",
                (int)w->n, w->s, (int)w->n, w->s);
  if (w->n >= MAX_VALUE) return perr(at, w->col, "name too long");
  int bb = bad_bracket(w->s, w->n);
  if (bb >= 0) return perr(at, w->col + bb, "unterminated '[' in glob");
  if (!known_what(w->s, w->n)) {
    char cats[256];
    size_t used = 0;
    cats[0] = 0;
    for (int c = 0; c < BG_CAT_COUNT && used < sizeof cats; c++)
      used += (size_t)snprintf(cats + used, sizeof cats - used, "%s%s", c ? ", " : "",
                               bg__category_name(c));
    return perr(at, w->col,
                "unknown call or category '%.*s' (categories: %s; calls: see docs/calls.md)",
                (int)w->n, w->s, cats);
  }
  r->what = dupn(w->s, w->n);
  return r->what ? 0 : perr(at, 1, "out of memory");
}

/* One KEY:VALUE field: fun:, src:, lib:, thread: (globs) or action: (deny rules). */
static int parse_field(const struct at *at, const struct tok *t, bg__rule_t *r) {
  const char *colon = memchr(t->s, ':', t->n);
  size_t kl = colon ? (size_t)(colon - t->s) : 0, vl = colon ? t->n - kl - 1 : 0;
  const char *v = colon ? colon + 1 : NULL;
  int vcol = t->col + (int)kl + 1;
  char **slot = NULL;
  int is_action = 0;
  if (!colon)
    ;
  else if (kl == 3 && !strncmp(t->s, "fun", 3))
    slot = &r->fun;
  else if (kl == 3 && !strncmp(t->s, "src", 3))
    slot = &r->src;
  else if (kl == 3 && !strncmp(t->s, "lib", 3))
    slot = &r->lib;
  else if (kl == 6 && !strncmp(t->s, "thread", 6))
    slot = &r->thread;
  else if (kl == 6 && !strncmp(t->s, "action", 6))
    is_action = 1;
  if (!slot && !is_action)
    return perr(at, t->col,
                "unknown field '%.*s' (expected fun:GLOB, src:GLOB, lib:GLOB, thread:GLOB or "
                "action:ACTION)",
                (int)t->n, t->s);
  if (vl == 0) return perr(at, vcol, "empty value after '%.*s:'", (int)kl, t->s);
  if (vl >= MAX_VALUE) return perr(at, vcol, "value too long");
  if (is_action) {
    if (r->allow)
      return perr(at, t->col, "action: applies to deny rules only (allowed calls are never acted on)");
    if (r->action >= 0) return perr(at, t->col, "duplicate action:");
    r->action = bg__action_parse(v, vl);
    if (r->action < 0)
      return perr(at, vcol, "unknown action '%.*s' (report, warn, raise, abort, offload, off)",
                  (int)vl, v);
    return 0;
  }
  if (*slot) return perr(at, t->col, "duplicate %.*s: (give each field once)", (int)kl, t->s);
  int bb = bad_bracket(v, vl);
  if (bb >= 0) return perr(at, vcol + bb, "unterminated '[' in glob");
  *slot = dupn(v, vl);
  return *slot ? 0 : perr(at, 1, "out of memory");
}

/* One line → a rule.  Returns 1 (rule), 0 (blank/comment) or -1 with the error. */
static int parse_line(bg__rules_t *rs, const struct at *at, const char *line, size_t len,
                      bg__rule_t *r) {
  struct tok t[MAX_TOKENS];
  /* Before any error return: the caller frees whatever r holds (fuzz_rules found a
   * free of uninitialised pointers after "too many fields"). */
  memset(r, 0, sizeof *r);
  int nt = tokenize(at, line, len, t);
  if (nt <= 0) return nt;
  r->action = -1;
  r->tbit = -1;
  r->line = at->line;
  if (parse_verb(at, &t[0], r) < 0 || parse_what(at, t, nt, r) < 0) return -1;
  for (int k = 2; k < nt; k++)
    if (parse_field(at, &t[k], r) < 0) return -1;
  if (r->thread && (r->tbit = thread_bit(rs, r->thread)) < 0)
    return perr(at, 1, "more than %d distinct thread: globs", BG_RULE_MAX_THREAD_GLOBS);
  /* The rule as written, first token to last (reports quote it). */
  r->text = dupn(t[0].s, (size_t)(t[nt - 1].s + t[nt - 1].n - t[0].s));
  return r->text ? 1 : perr(at, 1, "out of memory");
}

void bg__rules_free(bg__rules_t *rs) {
  for (int i = 0; i < rs->n; i++) rule_free(&rs->rules[i]);
  for (int i = 0; i < rs->nthread_globs; i++) free(rs->thread_globs[i]);
  free(rs->rules);
  free(rs->file);
  memset(rs, 0, sizeof *rs);
}

int bg__rules_parse(bg__rules_t *rs, const char *file, const char *text, size_t len, char *err,
                    size_t errlen) {
  memset(rs, 0, sizeof *rs);
  rs->file = strdup(file);
  int cap = 0, lineno = 0;
  for (size_t pos = 0; pos < len;) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
    lineno++;
    const char *line = text + pos;
    pos += l + (nl ? 1 : 0);
    if (l && line[l - 1] == '\r') l--;
    struct at at = {file, lineno, err, errlen};
    if (memchr(line, 0, l)) {
      bg__rules_free(rs);
      return perr(&at, (int)((const char *)memchr(line, 0, l) - line) + 1,
                  "NUL byte (not a text file?)");
    }
    if (rs->n == cap) {
      cap = cap ? cap * 2 : 16;
      bg__rule_t *nr = realloc(rs->rules, (size_t)cap * sizeof *nr);
      if (!nr) {
        bg__rules_free(rs);
        return perr(&at, 1, "out of memory");
      }
      rs->rules = nr;
    }
    bg__rule_t *r = &rs->rules[rs->n];
    int rc = parse_line(rs, &at, line, l, r);
    if (rc < 0) {
      rule_free(r);
      bg__rules_free(rs);
      return -1;
    }
    if (rc > 0) {
      rs->n++;
      if (r->fun) rs->need_functions = 1;
      if (r->src) rs->need_sources = 1;
    }
  }
  return 0;
}

int bg__rules_load(bg__rules_t *rs, const char *path, char *err, size_t errlen) {
  memset(rs, 0, sizeof *rs);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot open allowlist: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20)) {
    snprintf(err, errlen, "%s: not a regular file of at most 16 MiB", path);
    close(fd);
    return -1;
  }
  size_t len = (size_t)st.st_size, got = 0;
  char *buf = malloc(len + 1);
  while (buf && got < len) {
    ssize_t n = read(fd, buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (!buf) {
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  int rc = bg__rules_parse(rs, path, buf, got, err, errlen);
  free(buf);
  return rc;
}

/* ---- matching ---------------------------------------------------------------------- */

static int any_frame(const char *glob, const char *const *names, int n) {
  if (!names) return 0;
  for (int i = 0; i < n; i++)
    if (names[i] && names[i][0] && bg__glob(glob, names[i])) return 1;
  return 0;
}

int bg__rules_match(bg__rules_t *rs, const bg__rule_subject_t *subj, int *action, int *allowed) {
  int win = -1;
  for (int i = 0; i < rs->n; i++) {
    bg__rule_t *r = &rs->rules[i];
    if (!bg__glob(r->what, subj->call) && !bg__glob(r->what, subj->category)) continue;
    if (r->thread && !(subj->tmask & (1u << r->tbit))) continue;
    if (r->lib && !any_frame(r->lib, subj->modules, subj->nframes)) continue;
    if (r->fun && !any_frame(r->fun, subj->functions, subj->nframes) &&
        !any_frame(r->fun, subj->functions_raw, subj->nframes))
      continue;
    if (r->src && !any_frame(r->src, subj->files, subj->nframes)) continue;
    __atomic_fetch_add(&r->matched, 1, __ATOMIC_RELAXED);
    if (rs->ledger) __atomic_fetch_add(&rs->ledger[i].matched, 1, __ATOMIC_RELAXED);
    win = i;
  }
  if (win >= 0) {
    const bg__rule_t *r = &rs->rules[win];
    *allowed = r->allow;
    if (!r->allow && r->action >= 0) *action = r->action;
  }
  return win;
}

uint32_t bg__rules_thread_mask_of(const bg__rules_t *rs, const char *name) {
  uint32_t m = 0;
  for (int i = 0; i < rs->nthread_globs; i++)
    if (bg__glob(rs->thread_globs[i], name)) m |= 1u << i;
  return m;
}

/* ---- the process's allowlist --------------------------------------------------------- */

static bg__rules_t active;
int bg__rules_thread_globs; /* copy of active.nthread_globs read on the hot path (sites.c) */
static uint32_t active_gen;
static pthread_mutex_t decide_lock = PTHREAD_MUTEX_INITIALIZER;
static char fnames[BG_MAX_FRAMES][256]; /* function names of the site being decided */
static char snames[BG_MAX_FRAMES][1024]; /* and source files */
static char rnames[BG_MAX_FRAMES][256];  /* and names as in the symbol table */

static __thread struct {
  char name[16];
  uint32_t gen, mask;
} tmc __attribute__((tls_model("initial-exec")));

bg__rules_t *bg__rules_active(void) { return active.n || active.file ? &active : NULL; }
int bg__rules_active_count(void) { return active.n; }

void bg__rules_to_ledger(void) {
  bg__ledger_hdr_t *h = bg__ledger;
  bg__ledger_rule_t *lr = bg__ledger_rules();
  if (!h || !lr || h->nrules < (uint32_t)active.n) return;
  uint32_t file = bg__ledger_strdup(active.file);
  h->rules_file = file;
  for (int i = 0; i < active.n; i++) {
    lr[i].file = file;
    lr[i].line = active.rules[i].line;
    lr[i].allow = active.rules[i].allow;
    lr[i].text = bg__ledger_strdup(active.rules[i].text);
  }
  active.ledger = lr;
}

uint32_t bg__rules_thread_mask(void) {
  if (!bg__rules_thread_globs) return 0;
  char name[16] = {0};
  int slot = bg__thread_register();
  if (slot >= 0)
    memcpy(name, bg__thread_name_of_slot(slot), sizeof name);
  else
    prctl(PR_GET_NAME, name, 0, 0, 0);
  name[15] = 0;
  uint32_t gen = __atomic_load_n(&active_gen, __ATOMIC_ACQUIRE);
  if (tmc.gen == gen && !strncmp(tmc.name, name, sizeof name)) return tmc.mask;
  tmc.mask = bg__rules_thread_mask_of(&active, name);
  memcpy(tmc.name, name, sizeof name);
  tmc.gen = gen;
  return tmc.mask;
}

static int decide(bg__site_t *s) {
  if (s->key.allowed || !active.n) return -1; /* an allow scope in the code wins */
  const char *mods[BG_MAX_FRAMES], *funs[BG_MAX_FRAMES];
  int n = s->key.nframes;
  for (int i = 0; i < n; i++) mods[i] = bg__module_base(s->mods[i]);
  const bg__callinfo_t *ci = bg__callinfo(s->key.call);
  bg__rule_subject_t subj = {ci ? ci->name : "", bg__category_name(s->category), s->key.tmask, n,
                             NULL, mods, NULL, NULL};
  int action = s->action, allowed = 0;
  const char *files[BG_MAX_FRAMES], *raw[BG_MAX_FRAMES];
  pthread_mutex_lock(&decide_lock);
  if (active.need_functions || active.need_sources) {
    for (int i = 0; i < n; i++) {
      bg__lframe_t lf;
      if (s->lframes[i] && bg__lframe_get(s->lframes[i], &lf)) {
        funs[i] = raw[i] = lf.function; /* Python/JS: named when the site was made */
        files[i] = lf.file;
        continue;
      }
      bg__sym_t sym;
      bg__sym_pc(s->key.pcs[i], s->mods[i], bg__site_offset(s, i), &sym,
                 active.need_sources ? BG_SYM_LINES_ALWAYS : 0);
      bg__sym_demangle(sym.function, fnames[i], sizeof fnames[i]);
      snprintf(rnames[i], sizeof rnames[i], "%s", sym.function);
      snprintf(snames[i], sizeof snames[i], "%s", sym.file);
      funs[i] = fnames[i];
      raw[i] = rnames[i];
      files[i] = snames[i];
    }
    subj.functions = funs;
    subj.functions_raw = raw;
    subj.files = files;
  }
  int r = bg__rules_match(&active, &subj, &action, &allowed);
  pthread_mutex_unlock(&decide_lock);
  s->action = (uint8_t)action;
  s->allowed = (uint8_t)allowed;
  return r;
}

int bg__rules_install(const char *path, char *err, size_t errlen) {
  if (!path || !path[0]) return 0;
  bg__rules_t rs;
  if (bg__rules_load(&rs, path, err, errlen) < 0) return -1;
  bg__site_decide = NULL;
  bg__rules_free(&active);
  active = rs;
  bg__rules_thread_globs = active.nthread_globs;
  __atomic_store_n(&bg__site_thread_mask, active.nthread_globs ? bg__rules_thread_mask : NULL,
                   __ATOMIC_RELEASE);
  __atomic_fetch_add(&active_gen, 1, __ATOMIC_RELEASE);
  bg__site_decide = decide;
  return 0;
}

void bg__rules_after_fork(void) {
  if (pthread_mutex_trylock(&decide_lock) == 0)
    pthread_mutex_unlock(&decide_lock);
  else
    pthread_mutex_init(&decide_lock, NULL);
  for (int i = 0; i < active.n; i++) active.rules[i].matched = 0;
  /* the child's ledger is at the same address with its counts zeroed (ledger.c), or
   * there is none */
  if (!bg__ledger) active.ledger = NULL;
}
