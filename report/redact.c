/* redact.c - hide secrets in argv and option values (see redact.h for the option).
 *
 * What counts as a secret name.  A name is normalised (lower case, leading dashes
 * dropped, '-' and '.' read as '_') and is secret when it contains password, passwd,
 * passphrase, secret, token, apikey, credential, privatekey or cookie, or when one of
 * its '_'-separated words is pass, pwd, pw, key, auth, authorization, session, bearer,
 * dsn, otp, signature, private or creds - so --db-password, MYSQL_PWD, --api-key,
 * X-Auth-Token and aws.secret_access_key all are, and --port, --user, --keep-alive are
 * not.  key:GLOB adds names (fnmatch on the normalised name).
 *
 * Where a secret value is.  In one argument: NAME=VALUE (any number of leading dashes,
 * also environment-style assignments such as `env DB_PASSWORD=x prog`), and
 * "NAME: VALUE" (a header given to curl -H and the like).  Across two: --NAME VALUE,
 * when NAME is secret and the next argument does not start with '-'.  Anywhere: the
 * user:password@ part of a URL (scheme://...@), which becomes ***@ - tokens are often
 * passed as the user part alone (https://TOKEN@host/).
 *
 * False positives (--sort-key=name shown as --sort-key=***) cost a little readability;
 * false negatives leak.  The heuristic errs on the first side, and redact=argv is
 * there for programs that take secrets positionally.
 */
#define _GNU_SOURCE
#include "report/redact.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_name_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Normalised copy of name[0..n) into out (size 128): lower case, '-'/'.' -> '_',
 * leading dashes and underscores dropped. */
static void normalise(const char *name, size_t n, char *out) {
  size_t o = 0;
  while (n && (*name == '-' || *name == '_')) name++, n--;
  for (size_t i = 0; i < n && o < 127; i++) {
    char c = (char)tolower((unsigned char)name[i]);
    out[o++] = (c == '-' || c == '.') ? '_' : c;
  }
  out[o] = 0;
}

static int is_secret_name(const bg_redact_t *r, const char *name, size_t n) {
  static const char *const parts[] = {"password", "passwd",     "passphrase", "secret", "token",
                                      "apikey",   "credential", "privatekey", "cookie"};
  static const char *const words[] = {"pass",          "pwd",     "pw",     "key", "auth",
                                      "authorization", "session", "bearer", "dsn", "otp",
                                      "signature",     "private", "creds"};
  char k[128];
  normalise(name, n, k);
  if (!k[0]) return 0;
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
    if (strstr(k, parts[i])) return 1;
  for (const char *w = k; *w;) {
    size_t len = strcspn(w, "_");
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
      if (strlen(words[i]) == len && !strncmp(w, words[i], len)) return 1;
    w += len;
    while (*w == '_') w++;
  }
  for (int i = 0; i < r->nkeys; i++)
    if (!fnmatch(r->keys[i], k, 0)) return 1;
  return 0;
}

/* s with [from, to) replaced by "***"; malloc'd. */
static char *splice(const char *s, size_t from, size_t to) {
  size_t n = strlen(s), len = from + sizeof BG_REDACTED - 1 + (n - to);
  char *o = malloc(len + 1);
  if (!o) return NULL;
  memcpy(o, s, from);
  memcpy(o + from, BG_REDACTED, sizeof BG_REDACTED - 1);
  memcpy(o + from + sizeof BG_REDACTED - 1, s + to, n - to + 1);
  return o;
}

/* The user[:password]@ of every URL in s; NULL when there is none. */
static char *redact_urls(const char *s) {
  char *out = NULL;
  const char *cur = s;
  for (size_t at = 0;;) {
    const char *p = strstr(cur + at, "://");
    if (!p) break;
    size_t start = (size_t)(p - cur) + 3;
    size_t auth = strcspn(cur + start, "/?#"); /* the authority */
    const char *amp = memrchr(cur + start, '@', auth);
    at = start;
    if (!amp || (amp == cur + start + 3 && !strncmp(cur + start, BG_REDACTED, 3))) continue;
    char *next = splice(cur, start, (size_t)(amp - cur));
    if (!next) break;
    free(out);
    out = next, cur = next;
  }
  return out;
}

/* One argument under redact=secrets; *next_secret is set when it is "--NAME" with a
 * secret NAME (the value is the next argument).  NULL: unchanged. */
static char *redact_one(const bg_redact_t *r, const char *a, int *next_secret) {
  size_t name = 0;
  while (is_name_char(a[name])) name++;
  char *out = NULL;
  if (name && a[name] == '=' && is_secret_name(r, a, name)) {
    out = splice(a, name + 1, strlen(a)); /* NAME=VALUE */
  } else if (name && a[name] == ':' && a[name + 1] == ' ' && is_secret_name(r, a, name)) {
    out = splice(a, name + 2, strlen(a)); /* NAME: VALUE */
  } else if (a[0] == '-' && !a[name] && is_secret_name(r, a, name)) {
    *next_secret = 1; /* --NAME VALUE */
  }
  char *u = redact_urls(out ? out : a);
  if (u) {
    free(out);
    out = u;
  }
  return out;
}

void bg_redact_argv(const bg_redact_t *r, char **argv, int argc) {
  int next_secret = 0;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i], *n = NULL;
    if (!a) continue;
    if (r->argv) {
      const char *eq = strchr(a, '=');
      if (a[0] == '-' && eq)
        n = splice(a, (size_t)(eq - a) + 1, strlen(a));
      else if (a[0] != '-' || !a[1])
        n = strcmp(a, BG_REDACTED) ? strdup(BG_REDACTED) : NULL;
    } else if (r->secrets) {
      if (next_secret && a[0] != '-') {
        next_secret = 0;
        n = strcmp(a, BG_REDACTED) ? strdup(BG_REDACTED) : NULL;
      } else {
        next_secret = 0;
        n = redact_one(r, a, &next_secret);
      }
    }
    if (n) {
      free(argv[i]);
      argv[i] = n;
    }
  }
}

char *bg_redact_value(const bg_redact_t *r, const char *value) {
  if (!r->secrets && !r->argv) return NULL;
  int ignored = 0;
  return redact_one(r, value, &ignored);
}

void bg_model_redact(bg_model_t *m, const bg_redact_t *r) {
  if (!r->secrets && !r->argv) return;
  bg_redact_argv(r, m->argv, m->argc);
  for (int i = 0; i < m->noptions; i++) {
    char *v = m->options[i].value ? bg_redact_value(r, m->options[i].value) : NULL;
    if (v) {
      free(m->options[i].value);
      m->options[i].value = v;
    }
  }
}

void bg_model_redact_as_asked(bg_model_t *m) {
  bg_redact_t r;
  char err[160];
  const char *want = "secrets";
  for (int i = 0; i < m->noptions; i++)
    if (m->options[i].key && !strcmp(m->options[i].key, "redact") && m->options[i].value)
      want = m->options[i].value;
  if (bg_redact_parse(&r, want, strlen(want), err, sizeof err) < 0)
    bg_redact_parse(&r, "secrets", 7, err, sizeof err);
  bg_model_redact(m, &r);
}

int bg_redact_parse(bg_redact_t *r, const char *s, size_t n, char *err, size_t errlen) {
  bg_redact_t t;
  memset(&t, 0, sizeof t);
  int items = 0;
  for (size_t i = 0; i <= n;) {
    size_t j = i;
    while (j < n && s[j] != ',') j++;
    const char *w = s + i;
    size_t len = j - i;
    i = j + 1;
    if (!len) continue;
    items++;
    if (len == 7 && !strncmp(w, "secrets", 7)) {
      t.secrets = 1;
    } else if (len == 4 && !strncmp(w, "argv", 4)) {
      t.argv = 1;
    } else if (len == 4 && !strncmp(w, "none", 4)) {
      /* nothing */
    } else if (len > 4 && !strncmp(w, "key:", 4)) {
      if (t.nkeys == BG_REDACT_KEYS || len - 4 >= sizeof t.keys[0]) {
        snprintf(err, errlen, "at most %d key: globs of up to %zu characters", BG_REDACT_KEYS,
                 sizeof t.keys[0] - 1);
        return -1;
      }
      char raw[64];
      memcpy(raw, w + 4, len - 4);
      raw[len - 4] = 0;
      for (char *p = raw; *p; p++) *p = (char)tolower((unsigned char)*p);
      memcpy(t.keys[t.nkeys++], raw, len - 3);
      t.secrets = 1; /* a key: list is about secret names */
    } else {
      snprintf(err, errlen, "unknown redaction '%.*s' (secrets, argv, key:GLOB, none)", (int)len,
               w);
      return -1;
    }
  }
  if (!items) {
    snprintf(err, errlen, "empty (use 'none')");
    return -1;
  }
  *r = t;
  return 0;
}

void bg_redact_text(const bg_redact_t *r, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
#define BG__ADD(...) used += (size_t)snprintf(buf + used, used < n ? n - used : 0, __VA_ARGS__)
  if (r->secrets) BG__ADD("secrets");
  if (r->argv) BG__ADD("%sargv", used ? "," : "");
  for (int i = 0; i < r->nkeys; i++) BG__ADD("%skey:%s", used ? "," : "", r->keys[i]);
  if (!used) BG__ADD("none");
#undef BG__ADD
}
