/* cli.h - subcommands of the blockguard CLI that live in their own files
 * (tools/cmd_*.c).  Each is int fn(int argc, char **argv) with argv[0] = the
 * subcommand name; add the function here and one line to BG_CLI_EXTRA_COMMANDS.
 */
#ifndef BG_CLI_H
#define BG_CLI_H
#include <stddef.h>
#include <stdio.h>

/* Why the shim cannot see CMD (static, setuid...), or NULL (tools/blockguard.c). */
const char *bg_cli_unguardable(const char *cmd, char *why, size_t n);

/* tools/cmd_report.c */
struct bg_model;
int bg_cmd_report(int argc, char **argv);
/* Reads and merges report FILEs and DIRs (their *.json).  0, or -1 after printing
 * the problem (unreadable, corrupt, foreign version, empty directory). */
int bg_cli_load(int n, char *const *paths, struct bg_model *out);
/* The baseline gate shared by `report --baseline` and `check --baseline`: drops from
 * cur every site that is allowed or known to base, renders what is left to out in
 * format (when both are given), prints a one-line verdict on stderr, and returns the
 * number of new sites (-1 on error). */
int bg_cli_gate(struct bg_model *cur, const struct bg_model *base, FILE *out, const char *format);

int bg_cmd_serve(int argc, char **argv); /* tools/cmd_serve.c */

/* tools/cli_load.c: reads files (JSON reports) on worker threads and merges them into g
 * in the given order.  0, or -1 with the first failing file's error in err. */
struct bg_merge;
int bg_cli_read_merge(char *const *files, int n, struct bg_merge *g, char *err, size_t errlen);

#define BG_CLI_EXTRA_COMMANDS {"report", bg_cmd_report}, {"serve", bg_cmd_serve},
#endif
