/* cmd_run_tree.h - `blockguard run/check` collecting a whole process tree (tools/cmd_run_tree.c).
 *
 * The CLI listens on an abstract unix socket; every image of the tree (the program,
 * each fork child, each image after an exec) sends it the memfd behind its ledger.  The
 * CLI reaps what it can (it is a subreaper), reads each ledger when its image ends,
 * and keeps one merged model plus a short record per image: how it ended, what it
 * recorded, and what is missing and why.
 */
#ifndef BG_TOOLS_TREE_H
#define BG_TOOLS_TREE_H
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "report/model.h"

/* One image of the tree, after it ended (or at the end of the run). */
typedef struct bg_tree_proc {
  int pid, image;
  char *cmd;           /* argv joined, shortened */
  uint64_t violations; /* not allowed */
  int sites;           /* with violations */
  char *problem;       /* why its report is missing or incomplete, NULL: none */
  int invalid_options; /* the shim refused its options (problem says how) */
  int ledger;          /* its ledger was read (0: known only by its pid) */
} bg_tree_proc_t;

typedef struct bg_tree_opts {
  const char *report; /* report= pattern the CLI writes for each image, or NULL */
  int format;         /* BG_FMT_* of report= */
  FILE *msgs;         /* where the images' messages go (the CLI's stderr) */
  int keep_models;    /* keep ended images' models: a live view filters by process */
} bg_tree_opts_t;

typedef struct bg_tree bg_tree_t;

/* Binds the socket; *name gets the collect= value.  NULL with err. */
bg_tree_t *bg_tree_new(const bg_tree_opts_t *o, char *name, size_t namelen, char *err,
                       size_t errlen);
int bg_tree_fd(const bg_tree_t *t); /* readable: a ledger is arriving */
void bg_tree_accept(bg_tree_t *t);  /* takes every ledger sent so far */
/* A process this CLI reaped (waitpid status), at wall-clock ns `when`. */
void bg_tree_reaped(bg_tree_t *t, pid_t pid, int status, uint64_t when);
void bg_tree_poll(bg_tree_t *t); /* prints new messages, reads the ledgers of ended images */
/* The run is over: everything received is read.  wait_child: processes still running
 * (left behind by --wait=child) are reported as running, their reports incomplete. */
void bg_tree_finish(bg_tree_t *t, int wait_child);
/* The live view (`run --http`, another thread): the tree as it is now - ended images
 * merged, running ones read from their ledgers - with a `processes` list; pid > 0: that
 * process only.  0, 1 no such process, -1 with err. */
int bg_tree_snapshot(bg_tree_t *t, int pid, bg_model_t *out, char *err, size_t errlen);
/* Results after finish. */
const bg_model_t *bg_tree_merged(bg_tree_t *t);
int bg_tree_nprocs(const bg_tree_t *t);
const bg_tree_proc_t *bg_tree_proc(const bg_tree_t *t, int i);
int bg_tree_saw(const bg_tree_t *t, pid_t pid); /* a ledger came from pid */
void bg_tree_free(bg_tree_t *t);
#endif
