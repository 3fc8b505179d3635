/* rules.h - the allowlist (suppressions file, DESIGN.md "Allowlist").
 *
 *   allow  CALL-OR-CATEGORY  [fun:GLOB] [src:GLOB] [lib:GLOB] [thread:GLOB]
 *   deny   CALL-OR-CATEGORY  [fun:GLOB] [src:GLOB] [lib:GLOB] [thread:GLOB] [action:ACTION]
 *
 * CALL-OR-CATEGORY is a wrapped call's name, a category name, or a glob matched
 * against both.  fun: matches any frame's function name (C, C++ demangled or not,
 * Python, JavaScript), src: any frame's source file (DWARF file of native code, the
 * .py or .js file of a language frame), lib: any frame's module basename, thread: the
 * name of the thread making the call.  Every given field must
 * match; the last matching rule wins.  `allow` marks the site allowed (counted, never
 * acted on); `deny` makes it a violation again, with its own action if given.
 *
 * The decision is made once per site, when the site is created (bg__site_decide), and
 * cached in it.  thread: rules split sites by thread class instead of deciding by
 * whichever thread came first: see bg__rules_thread_mask below and docs/rules.md.
 */
#ifndef BG_RULES_H
#define BG_RULES_H
#include <stddef.h>
#include <stdint.h>

#define BG_RULE_MAX_THREAD_GLOBS 32

typedef struct bg__rule {
  int allow;        /* 1 allow, 0 deny */
  int action;       /* BG_ACT_* for deny action:, -1 = the global mode */
  char *what;       /* call, category or glob */
  char *fun, *src, *lib, *thread; /* NULL = not given */
  int tbit;         /* bit of `thread` in the thread mask, -1 = none */
  int line;         /* line in the file */
  char *text;       /* the rule as written (comment and blanks trimmed) */
  uint64_t matched; /* sites this rule matched (atomic) */
} bg__rule_t;

typedef struct bg__rules {
  char *file;
  bg__rule_t *rules;
  int n;
  struct bg__ledger_rule *ledger; /* the process's allowlist: match counts mirrored
                                     into its ledger (guard/ledger.h), else NULL */
  int need_functions;        /* some rule has fun: (symbolize at site creation) */
  int need_sources;          /* some rule has src: (line tables at site creation) */
  int nthread_globs;
  char *thread_globs[BG_RULE_MAX_THREAD_GLOBS];
} bg__rules_t;

/* What a rule is matched against.  functions/files/modules have nframes entries (""
 * when unknown); functions and files may be NULL when no rule needs them. */
typedef struct bg__rule_subject {
  const char *call, *category;
  uint32_t tmask;            /* bg__rules_thread_mask_of(rules, thread name) */
  int nframes;
  const char *const *functions;      /* demangled for C++ */
  const char *const *modules;
  const char *const *files;
  const char *const *functions_raw;  /* as in the symbol table (mangled), may be NULL */
} bg__rule_subject_t;

/* Parses rules text.  `file` names it in errors ("FILE:LINE:COL: problem").  Unknown
 * call names are errors when the call table is known (in the shim).  0 or -1. */
int bg__rules_parse(bg__rules_t *rs, const char *file, const char *text, size_t len, char *err,
                    size_t errlen);
int bg__rules_load(bg__rules_t *rs, const char *path, char *err, size_t errlen);
void bg__rules_free(bg__rules_t *rs);

/* Last matching rule: its index, or -1.  Sets *allowed, and *action for a deny rule
 * with action: (left alone otherwise).  Counts the match in every rule that matched. */
int bg__rules_match(bg__rules_t *rs, const bg__rule_subject_t *subj, int *action, int *allowed);
uint32_t bg__rules_thread_mask_of(const bg__rules_t *rs, const char *thread_name);

/* The process's allowlist (suppressions= option): loads it and installs the
 * bg__site_decide hook.  NULL/"" path: no rules.  0 or -1 with err. */
int bg__rules_install(const char *path, char *err, size_t errlen);
bg__rules_t *bg__rules_active(void);
int bg__rules_active_count(void);  /* rules of the process's allowlist (0: none) */
/* Copies the process's allowlist (file, line, text) into its ledger, which has room
 * for bg__rules_active_count() rules; match counts are kept there from now on. */
void bg__rules_to_ledger(void);
void bg__rules_after_fork(void); /* the child's sites are new: match counts restart */
/* Thread-name class of the calling thread for thread: rules; 0 when no rule uses
 * thread:.  Installed as the registry's bg__site_thread_mask hook (guard/sites.h). */
uint32_t bg__rules_thread_mask(void);
extern int bg__rules_thread_globs; /* 0: no rule uses thread: */
#endif
