/* cli.h - subcommands of the blockguard CLI that live in their own files
 * (tools/cmd_*.c).  Each is int fn(int argc, char **argv) with argv[0] = the
 * subcommand name; add the function here and one line to BG_CLI_EXTRA_COMMANDS.
 */
#ifndef BG_CLI_H
#define BG_CLI_H
#include <stddef.h>
#include <stdio.h>

/* Exit status of `blockguard check` (and `report --baseline`) when a report is missing
 * or incomplete and no violation decided the verdict (docs/reports.md). */
#define BG_EXIT_INCOMPLETE 67

/* Why the shim cannot see CMD (static, setuid...), or NULL (tools/blockguard.c). */
const char *bg_cli_unguardable(const char *cmd, char *why, size_t n);

/* tools/cmd_run.c: run and check */
int bg_cmd_run(int argc, char **argv);
int bg_cmd_check(int argc, char **argv);

/* tools/cmd_report.c */
struct bg_model;
int bg_cmd_report(int argc, char **argv);
/* Reads and merges report FILEs and DIRs (their *.json).  0, or -1 after printing
 * the problem (unreadable, corrupt, foreign version, empty directory). */
int bg_cli_load(int n, char *const *paths, struct bg_model *out);
/* A report file a DIR contributes: *.json, or *.bgstate (a state file), not hidden. */
int bg_cli_is_report_name(const char *name);
/* Reads a JSON report or a state file (guard/ledger_read.h) into a model; 0 or -1. */
int bg_cli_read_report(const char *path, struct bg_model *m, char *err, size_t errlen);
/* The baseline gate shared by `report --baseline` and `check --baseline`: drops from
 * cur every site that is allowed or known to base, renders what is left to out in
 * format (when both are given), prints a one-line verdict on stderr, and returns the
 * number of new sites (-1 on error). */
int bg_cli_gate(struct bg_model *cur, const struct bg_model *base, FILE *out, const char *format);

int bg_cmd_serve(int argc, char **argv); /* tools/cmd_serve.c */

/* tools/cli_load.c: reads files (JSON reports, state files) on worker threads and merges
 * them into g in the given order; notes (NULL: none) gets a line per incomplete report
 * and per state file of a running process.  0, or -1 with the first failing file's
 * error in err. */
struct bg_merge;
int bg_cli_read_merge(char *const *files, int n, struct bg_merge *g, FILE *notes, char *err,
                      size_t errlen);

#define BG_CLI_EXTRA_COMMANDS {"report", bg_cmd_report}, {"serve", bg_cmd_serve},
#define BG_CLI_RUN_COMMANDS {"run", bg_cmd_run}, {"check", bg_cmd_check},
#endif
