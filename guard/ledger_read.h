/* ledger_read.h - one reader for every ledger: the process's own (live snapshot, report
 * at exit), another process's memfd mapped read-only by the CLI, a state file left
 * by a process that died.  It turns a ledger into a report model (report/model.h);
 * everything it reads is bounds-checked, because the writer may be gone half-way
 * through a record, still writing, or not a blockguard process at all.
 */
#ifndef BG_LEDGER_READ_H
#define BG_LEDGER_READ_H
#include <stddef.h>
#include <stdint.h>

#include "report/model.h"

typedef struct bg__lread {
  const void *base;     /* the mapping */
  size_t size;          /* its size */
  int self;             /* this process's own ledger: live pcs may be resolved with dladdr */
  int inflight;         /* count the calls in flight (the process is gone, or a final report) */
  /* What the caller knows better than the ledger (the CLI from waitpid). */
  int ended;            /* 0: unknown, 1: exited with `status`, 2: killed by `signal` */
  int status, signal;
  uint64_t end_wall_ns; /* when it ended (0: unknown) */
  int running;          /* still running when read */
  const char *incomplete; /* an extra reason the caller knows data is missing, or NULL */
} bg__lread_t;

/* Builds the model.  0, or -1 with err (not a ledger, other layout, truncated). */
int bg__ledger_model(const bg__lread_t *in, bg_model_t *m, char *err, size_t errlen);

/* Messages in the ring from byte position *pos on: calls fn for each complete one and
 * advances *pos.  `final` (the writer is gone): a record it left half-written is
 * skipped instead of waited for.  Returns how many bytes of messages were lost
 * (overwritten before they were read). */
uint64_t bg__ledger_ring_read(const void *base, size_t size, uint64_t *pos, int final,
                              void (*fn)(const char *msg, size_t len, void *arg), void *arg);

/* State files (a ledger on disk, PATH.PID.N.bgstate next to a report= path). */
int bg__ledger_is_file(const char *path); /* starts with the ledger magic */
/* Reads one into memory (only what its writer committed); *out freed by the caller.
 * 0, or -1 with err naming the file. */
int bg__ledger_load(const char *path, void **out, size_t *size, char *err, size_t errlen);
/* Its report model: calls in flight counted, "running" when the process still runs,
 * else how its ledger says it ended ("vanished" when it does not say). */
int bg__ledger_file_model(const char *path, bg_model_t *m, char *err, size_t errlen);
/* Is process pid, started at start_wall_ns, still running (/proc, 2 s tolerance)? */
int bg__ledger_alive(int pid, uint64_t start_wall_ns);

/* Header facts a caller needs without building a model. */
typedef struct bg__lfacts {
  int pid, ppid;
  uint32_t status;      /* BG_LST_* */
  int exit_code;
  char exec_path[4096];
  char cwd[4096];         /* where it started */
  uint32_t exec_env;      /* BG_LEXEC_*: what its exec passed on */
  char unguarded[512];
  int options_invalid;
  uint32_t backing;
  uint64_t start_wall_ns, violations;
} bg__lfacts_t;
int bg__ledger_facts(const void *base, size_t size, bg__lfacts_t *f, char *err, size_t errlen);
#endif
