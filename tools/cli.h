/* cli.h - subcommands of the blockguard CLI that live in their own files
 * (tools/cmd_*.c).  Each is int fn(int argc, char **argv) with argv[0] = the
 * subcommand name; add the function here and one line to BG_CLI_EXTRA_COMMANDS.
 */
#ifndef BG_CLI_H
#define BG_CLI_H
#include <stddef.h>

/* Why the shim cannot see CMD (static, setuid...), or NULL (tools/blockguard.c). */
const char *bg_cli_unguardable(const char *cmd, char *why, size_t n);

#define BG_CLI_EXTRA_COMMANDS
#endif
