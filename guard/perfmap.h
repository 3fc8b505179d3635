/* perfmap.h - names for JIT code from the process's perf map.
 *
 * Code a JIT compiler generated lives in anonymous memory: no object, no symbol.  The
 * convention `perf` reads is a text file /tmp/perf-PID.map, one line per piece of code,
 * "START SIZE NAME" (hex, hex, the rest), appended as code is made - written by node
 * (--perf-basic-prof[-only-functions]), CPython 3.12+ (-X perf), Java's perf-map-agent,
 * LuaJIT, .NET.  A later line for the same addresses wins (code is moved or freed).
 *
 * bg__perfmap_frame runs on the cold path (a new site with a frame in no object): it
 * reads what was appended since the last time and returns the interned frame
 * (guard/lang.h) for pc: node's "JS:*handler /srv/app.js:3:17" becomes a "js" frame
 * (function handler, file, line of the function), CPython's "py::f:/x.py" a "python"
 * frame, anything else a "jit" frame named as written.
 *
 * Node: the shim turns node's perf map on itself (bg__perfmap_node_init), so
 * `blockguard run -- node app.js` names JS functions without flags; see
 * docs/languages.md for how and what it changes.
 */
#ifndef BG_PERFMAP_H
#define BG_PERFMAP_H
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

uint32_t bg__perfmap_frame(uintptr_t pc);
/* The same for a site's frames: out[i] for each i with mods[i] == no_module, one read
 * of the map for all of them. */
void bg__perfmap_frames(const uintptr_t *pcs, int n, const uint16_t *mods, unsigned no_module,
                        uint32_t *out);
/* Set when the shim turned node's perf map on; then writes to the file (identified by
 * device and inode, guard/fdcache.c) are not violations: V8 writes it for us. */
extern int bg__perfmap_owned;
int bg__perfmap_is_map(dev_t dev, ino_t ino);
/* Parses one perf-map name into language, function, file, line (exposed for tests). */
int bg__perfmap_parse_name(const char *name, char *func, size_t nfunc, char *file,
                           size_t nfile, int *line);
/* Start-up: in a V8 program (node), turn on the perf map before V8 creates its isolate. */
void bg__perfmap_node_init(void);
void bg__perfmap_after_fork(void); /* the child has its own pid, so its own map */
void bg__perfmap_exit(void);
/* Is one of pcs inside V8's perf-map writer that the shim turned on (its I/O is ours)? */
int bg__perfmap_quiet(const uintptr_t *pcs, int n);       /* _exit path: remove the map the shim asked for */
#endif
