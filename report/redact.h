/* redact.h - keep secrets in a program's argv out of reports and endpoints.
 *
 * A report carries the program's argv and options; a dashboard serves them to any
 * client that may connect.  `redact=` (guard/options.def) says what to hide:
 *   secrets  (default) values whose name says they are secret: --db-password=X,
 *            --token X, API_KEY=X, "Authorization: Bearer X", and the user:password@
 *            part of URLs; the name stays, the value becomes "***"
 *   argv     every argument after argv[0] except bare flags (-v, --verbose)
 *   key:GLOB one more secret name (matched like the built-in ones, see redact.c)
 *   none     nothing
 * Applied when a model is built (guard/ledger_read.c: files, summary, live endpoints,
 * the CLI's view of its children) and
 * by the CLI to whatever it serves or renders, so a saved report written with
 * redact=none is still redacted on `blockguard serve` unless asked otherwise.
 */
#ifndef BG_REPORT_REDACT_H
#define BG_REPORT_REDACT_H
#include <stddef.h>

#include "report/model.h"

#define BG_REDACT_KEYS 8
#define BG_REDACTED "***"

typedef struct bg_redact {
  unsigned secrets : 1, argv : 1;
  int nkeys;
  char keys[BG_REDACT_KEYS][64]; /* extra secret names (globs), lower case */
} bg_redact_t;

/* Parses "secrets,argv,key:GLOB,none" (comma list).  0, or -1 with a message. */
int bg_redact_parse(bg_redact_t *r, const char *s, size_t n, char *err, size_t errlen);
/* The option text back ("secrets,key:*dsn*", "none"). */
void bg_redact_text(const bg_redact_t *r, char *buf, size_t n);
/* Redacts argv in place (strings replaced, never lengthened beyond a new malloc). */
void bg_redact_argv(const bg_redact_t *r, char **argv, int argc);
/* Redacts one free-form value (an option value): URL credentials and KEY=VALUE.
 * Returns a malloc'd string, or NULL when nothing changed. */
char *bg_redact_value(const bg_redact_t *r, const char *value);
/* argv and option values of a model, in place. */
void bg_model_redact(bg_model_t *m, const bg_redact_t *r);
/* Same, as the model's own "redact" option says (secrets when absent or unreadable:
 * a report from before the option hides secrets too). */
void bg_model_redact_as_asked(bg_model_t *m);
#endif
