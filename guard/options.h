/* options.h - parsed blockguard options (the table is guard/options.def).
 *
 * One table, sanitizer style: each row names its key, kind, default and help; the
 * parser, the renderer of values for reports, --help and docs/options.md are expanded
 * from it.  The struct below is written by hand (a field per row, same name), and the
 * build checks each field's type against its row's kind (guard/options.c), so a field
 * and its parser cannot disagree.  Parsing never allocates: strings are copied into
 * fixed buffers, so the same code runs in the shim's constructor and in the CLI.
 */
#ifndef BG_OPTIONS_H
#define BG_OPTIONS_H
#include <stddef.h>
#include <stdint.h>

#include "report/format.h" /* BG_FMT_*: the format table */
#include "report/redact.h" /* bg_redact_t */

#define BG_OPT_STR_MAX 1024
#define BG_MAX_NAME_GLOBS 8

typedef struct bg__threads_spec {
  unsigned main : 1, autodetect : 1, all : 1;
  int nglobs;
  char globs[BG_MAX_NAME_GLOBS][64];
} bg__threads_spec_t;

/* exempt_fds (kind FDCLASSES): the classes of fds whose writes never count. */
enum { BG_EXEMPT_STDERR = 1, BG_EXEMPT_STDOUT = 2, BG_EXEMPT_TTY = 4 };
typedef struct bg__fd_classes {
  unsigned mask;                /* BG_EXEMPT_* */
  char text[BG_OPT_STR_MAX];    /* as given, for reports */
} bg__fd_classes_t;

typedef struct bg__options {
  /* Fields every process sets from the defaults come first, so that parsing them in
   * the constructor touches one page of this 12 KiB struct (start-up cost). */
  int mode;                    /* BG_ACT_* */
  unsigned categories;         /* bit per BG_CAT_* */
  int format;                  /* BG_FMT_* */
  int strict;
  uint64_t min_us;
  uint64_t stall_ms;           /* loop stall threshold, CPU ms (guard/loop.c); 0: off */
  uint64_t stack_depth;
  uint64_t max_sites;
  uint64_t exitcode;
  uint64_t workers;
  uint64_t verbosity;
  uint64_t push_interval;
  int io_uring;
  int lang;                    /* read language frames (guard/lang.c) */
  bg__fd_classes_t exempt_fds;
  bg__threads_spec_t threads;
  bg_redact_t redact;
  /* Empty by default: left untouched by the constructor. */
  char suppressions[BG_OPT_STR_MAX];
  char report[BG_OPT_STR_MAX];
  char http[BG_OPT_STR_MAX];
  char http_token[BG_OPT_STR_MAX];
  char http_hosts[BG_OPT_STR_MAX];
  char push[BG_OPT_STR_MAX];
  char push_header[BG_OPT_STR_MAX];
  char log_path[BG_OPT_STR_MAX];  /* "" (or "auto"): see guard/base.c bg__emit() */
  char collect[BG_OPT_STR_MAX];
  char text[4096];             /* the option string as given, for reports */
} bg__options_t;

extern bg__options_t bg__opt;

/* Parses "key=value:key=value" over defaults into *o.  Returns 0, or -1 with a
 * message naming the key/value problem in err. */
int bg__options_parse(bg__options_t *o, const char *s, char *err, size_t errlen);
/* Defaults only. */
void bg__options_defaults(bg__options_t *o);
/* Sets one key from text (CLI --key=value).  Returns 0 or -1 with err. */
int bg__options_set(bg__options_t *o, const char *key, size_t keylen, const char *val,
                    size_t vallen, char *err, size_t errlen);
/* Does `key` name an option? */
int bg__options_known(const char *key, size_t keylen);
/* 1 for an option whose value is never echoed (rendered "(set)"): tokens, headers. */
int bg__options_secret(const char *key);
/* Calls fn(key, default, help) for every row (for --help and docs). */
void bg__options_each(void (*fn)(const char *key, const char *def, const char *help, void *),
                      void *arg);
/* Text of option `key` as set in o (the dashboard token is never echoed). */
void bg__options_value(const void *o, const char *key, char *buf, size_t n);
/* Shell-style glob match (*, ?, [...]) without allocation. */
int bg__glob(const char *pat, const char *s);
#endif
