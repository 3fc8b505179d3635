/* model.h - the report data model: what every renderer and the HTTP server consume.
 *
 * It mirrors the JSON schema (docs/report-schema.md) one to one.  guard/ builds a model from a
 * ledger (guard/ledger_read.c: the process's own for the live snapshot and the report
 * at exit, another process's for the CLI), the CLI also from report files
 * (bg_model_read_json in report/json.c), and the renderers (report/formats.def) and
 * the HTTP server only ever see this: that is what keeps the dependency arrow pointing
 * from guard/ to report/ and never back.  All strings are owned by the model (bg_model_free).
 */
#ifndef BG_REPORT_MODEL_H
#define BG_REPORT_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/utf8.h"

#define BG_MODEL_HIST 48

/* Language of a frame ("lang" in the JSON schema, docs/languages.md). */
enum { BG_LANG_C, BG_LANG_PYTHON, BG_LANG_JS, BG_LANG_JIT, BG_LANG_COUNT };
const char *bg_lang_name(int lang); /* "c", "python", "js", "jit" */
int bg_lang_parse(const char *s);   /* -1 when unknown */

typedef struct bg_rframe {
  uint64_t pc;
  char *module;    /* path or basename of the object, "" when unknown */
  uint64_t offset; /* pc - module load base */
  char *function;  /* "" when unknown */
  char *file;      /* "" when unknown */
  int line;        /* 0 when unknown */
  int lang;        /* BG_LANG_*: c (native code of an object), python, js, jit */
} bg_rframe_t;

typedef struct bg_rsite {
  char id[32]; /* hex */
  char *call;
  char *category;
  int allowed;
  char *action;
  uint64_t count, total_ns, max_ns, first_ns, last_ns;
  uint64_t hist[BG_MODEL_HIST];
  int nhist; /* buckets present (trailing zeros trimmed) */
  char **threads;
  int nthreads;
  bg_rframe_t *frames;
  int nframes;
  char *rule;         /* allowlist rule that decided, "FILE:LINE"; NULL: none (extension) */
  uint64_t in_flight; /* of count: calls still blocked when the process ended (schema 2) */
} bg_rsite_t;

/* An allowlist rule that matched no site (extension, docs/report-schema.md). */
typedef struct bg_rrule {
  char *file;
  int line;
  char *text;
} bg_rrule_t;

typedef struct bg_rthread {
  int tid;
  char *name;
  int guarded;
  char *why;
} bg_rthread_t;

/* An object the report's frames name, with its GNU build id (hex, "" unknown): what a
 * profile viewer or symbol server needs to find the exact binary (docs/report-schema.md). */
typedef struct bg_rmodule {
  char *path, *build_id;
} bg_rmodule_t;

/* One process image of a tree (`blockguard run --http`, docs/fleet.md): the dashboard's
 * process list and filter. */
typedef struct bg_rproc {
  int pid, image;
  char *cmd;           /* argv joined, shortened */
  char *state;         /* "running", "exited 0", "killed by SIGTERM"... */
  uint64_t violations; /* not allowed */
  int sites;           /* with violations */
} bg_rproc_t;

typedef struct bg_rkv {
  char *key, *value;
} bg_rkv_t;

/* Loop health of one event-loop thread (schema 2 "loops", docs/loop-health.md).  An
 * iteration is the time between the loop's wait returning and its next wait (busy);
 * idle is the time inside the wait. */
#define BG_MODEL_RECENT 64
typedef struct bg_rloop_second {
  uint64_t t_ns; /* wall-clock start of the second */
  uint64_t iterations, busy_ns, max_ns;
} bg_rloop_second_t;
typedef struct bg_rloop {
  int pid, tid;
  char *name;
  int running; /* the loop still existed when the report was made */
  uint64_t iterations, busy_ns, idle_ns, worst_ns;
  uint64_t worst_at_ns;         /* wall clock, when the worst iteration ended */
  double utilization;           /* busy / (busy + idle), 0..1 */
  uint64_t hist[BG_MODEL_HIST]; /* iterations busy for [2^(i-1), 2^i) ns */
  int nhist;
  uint64_t stalls, stalls_unsampled;
  bg_rloop_second_t *recent; /* the last minute, one entry per second, oldest first */
  int nrecent;
} bg_rloop_t;

/* How a process image ended (schema 2, docs/report-schema.md). */
typedef struct bg_rexit {
  char *how;  /* exit, signal, exec, running, vanished; NULL: not said (schema 1) */
  int status; /* exit: the status */
  int signal; /* signal: the number */
  char *exec; /* exec: the path it exec'd */
} bg_rexit_t;

typedef struct bg_model {
  char *tool, *version;
  int pid;
  char **argv;
  int argc;
  uint64_t started_ns, ended_ns;
  bg_rkv_t *options;
  int noptions;
  bg_rthread_t *threads;
  int nthreads;
  bg_rloop_t *loops; /* schema 2: one per event-loop thread */
  int nloops;
  bg_rsite_t *sites;
  int nsites;
  uint64_t dropped_sites;
  char *unguarded_reason;      /* NULL: guarded */
  bg_rrule_t *unmatched_rules; /* allowlist rules that never matched (extension) */
  int nunmatched;
  char *http_url;        /* live dashboard this process served, NULL: none (docs/http.md) */
  bg_rmodule_t *modules; /* objects named by frames, with build ids (may be empty) */
  int nmodules;
  bg_rproc_t *processes; /* the processes a tree view covers, none otherwise */
  int nprocesses;
  /* schema 2 (docs/report-schema.md) */
  int schema;              /* 1 for files without the field */
  char *incomplete_reason; /* NULL: complete; else data may be missing, and why */
  bg_rexit_t exit;         /* how.. NULL: not said */
  int image;               /* 0: the pid's first program, +1 per exec (state files) */
} bg_model_t;

void bg_model_free(bg_model_t *m);
void bg_rsite_free(bg_rsite_t *s); /* one site's strings and arrays */
/* Small helpers for builders: strdup that never returns NULL for NULL input. */
char *bg_model_strdup(const char *s);

/* Renders the one-screen summary printed at exit (stderr by default). */
void bg_render_summary(FILE *out, const bg_model_t *m);
/* The same for a merged process tree (blockguard run/check): "N violations at M sites
 * in P processes"; what is missing or not guarded is the caller's to say. */
void bg_render_summary_tree(FILE *out, const bg_model_t *m, int nprocs);

/* JSON per docs/report-schema.md (report/json.c, jansson).  malloc'd, NUL-terminated;
 * NULL on allocation failure. */
char *bg_render_json(const bg_model_t *m);
int bg_render_json_file(const bg_model_t *m, FILE *f); /* streamed: 0, -1 write error */
char *bg_render_site_json(const bg_rsite_t *s);
/* Reads a report file / text back into a model (report/json.c).  0, or -1 with a
 * message naming the file and problem in err (wrong tool, version, corrupt JSON). */
int bg_model_read_file(const char *path, bg_model_t *m, char *err, size_t errlen);
int bg_model_read_json(const char *text, size_t len, const char *name, bg_model_t *m, char *err,
                       size_t errlen);
/* Merging many reports (report/merge.c): init, add each, finish into a model.
 * Linear in the number of sites (hash tables), 100,000 sites in a few seconds. */
typedef struct bg_merge {
  bg_model_t m;
  int nreports, cap_sites;
  struct {
    char *file;
    int count;
  } * uses; /* reports per allowlist file */
  int nuses;
  struct {
    bg_rrule_t rule;
    int count;
  } * um; /* reports listing a rule unmatched */
  int num;
  struct bg__ix *sites_ix, *um_ix, *mods_ix; /* by site id, rule "line:file", path */
  int track_processes; /* set after init: every report added becomes a `processes` entry */
} bg_merge_t;
void bg_merge_init(bg_merge_t *g);
int bg_merge_add(bg_merge_t *g, const bg_model_t *src); /* 0, -1 out of memory */
/* Same, but src's sites may be moved into the merge (src is left valid for
 * bg_model_free, minus what was taken): reading a report and merging it costs no
 * second copy. */
int bg_merge_add_owned(bg_merge_t *g, bg_model_t *src);
void bg_merge_finish(bg_merge_t *g, bg_model_t *out);
/* The process record of one report: its pid, command, how it ended ("running" when
 * running is set), its violations (report/merge.c). */
void bg_rproc_from_model(bg_rproc_t *p, const bg_model_t *m, int running);
void bg_model_cmdline(const bg_model_t *m, char *buf, size_t n); /* argv joined, "..." past n */
/* A deep copy of in (report/merge.c).  0, or -1 out of memory (out then empty). */
int bg_model_copy(bg_model_t *out, const bg_model_t *in);
/* Baseline diff: is_new[i] = cur site i is not allowed and not in base (by id, then
 * by signature, one to one).  Returns how many are new, -1 out of memory. */
int bg_baseline_diff(const bg_model_t *cur, const bg_model_t *base, int *is_new);
void bg_site_signature(const bg_rsite_t *s, char *buf, size_t n);
void bg_model_keep_sites(bg_model_t *m, const int *keep); /* drops sites with !keep[i] */
/* after becomes the window since before (report/delta.c): per site the calls made in
 * between, sites without any dropped, started_ns = before's end.  0, -1 out of memory
 * (after unchanged). */
int bg_model_delta(bg_model_t *after, const bg_model_t *before);
/* Ready-to-paste allow rules, one per site that is not allowed (with comments). */
char *bg_render_suppressions(const bg_model_t *m);

/* Shared renderer helpers (report/util.c). */
const char *bg_basename(const char *path);
int bg_frame_is_system(const bg_rframe_t *f); /* libc, loader, blockguard, runtimes */
/* Index of the frame a person should look at: first with file:line outside system
 * objects, else first outside them, else 0; -1 without frames. */
int bg_site_culprit(const bg_rsite_t *s);
/* Python/JavaScript frames with file:line: is f one; index of the first of a site's
 * that is the user's code (not node:* or <frozen ...> modules), else the first, -1. */
int bg_frame_is_lang(const bg_rframe_t *f);
int bg_site_lang_caller(const bg_rsite_t *s);
void bg_fmt_ns(char *buf, size_t n, uint64_t ns);
void bg_fmt_loop(char *buf, size_t n, const bg_rloop_t *l);   /* one line of loop health */
void bg_fmt_frame(char *buf, size_t n, const bg_rframe_t *f); /* fn file:line (mod+0x) */
void bg_xml_escape(FILE *out, const char *s, int attr);
/* fputs with invalid UTF-8 replaced: the one policy of report/utf8.h. */
void bg__utf8_fputs(const char *s, FILE *out);
/* Renderers of the format table (report/formats.def, report/format.h); malloc'd text. */
char *bg_render_text(const bg_model_t *m);
int bg_render_text_file(const bg_model_t *m, FILE *f); /* streamed: 0, -1 write error */
char *bg_render_sarif(const bg_model_t *m);
char *bg_render_junit(const bg_model_t *m);
char *bg_render_metrics(const bg_model_t *m); /* Prometheus text exposition (metrics.c) */

/* Around a dlopen of a library loaded on demand (report/dlgate.c): a fork waits for
 * it to finish, so no child inherits a half-loaded library. */
void bg_dl_gate_enter(void);
void bg_dl_gate_leave(void);

/* Writes data to path atomically: a temp file in the same directory created with
 * O_EXCL|O_NOFOLLOW (never follows a planted symlink), fsync'd, renamed over path.
 * mode is the file mode (0600 by default for reports), optionally | BG_WRITE_NOSYNC
 * to skip the fsync (a placeholder replaced later).  0 or -1 with err. */
#define BG_WRITE_NOSYNC 0x10000
int bg_write_atomic(const char *path, const char *data, size_t len, int mode, char *err,
                    size_t errlen);
/* Same, the content written by fill(f, arg) (0, or -1 on failure). */
int bg_write_atomic_fn(const char *path, int mode, int (*fill)(FILE *f, void *arg), void *arg,
                       char *err, size_t errlen);
#endif
