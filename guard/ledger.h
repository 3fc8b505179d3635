/* ledger.h - everything a guarded process records, in one shared mapping.
 *
 * Why: a report written at exit is lost whenever exit does not happen the usual way
 * (SIGKILL, SIGTERM, _exit, quick_exit, exec, a privilege drop that forbids writing,
 * a full disk).  So the process never keeps its state only in private memory: the
 * site pool, thread table, module table, allowlist match counts, the calls in flight
 * and the messages live in a *ledger*, a mapping another process can read while the
 * writer runs or after it died by any means.  Nothing a reader needs is a pointer:
 * regions are found by offsets in the header, records have fixed sizes, strings are
 * offsets into the ledger's arena.
 *
 * Layout (offsets in the header, each region 64-byte aligned):
 *
 *   header | rules | modules | lframes | arena ..... | threads | ring | sites .......
 *   \________ copied into a fork child's ledger ___/ \___ reset in the child _____/
 *
 * Backing (bg__ledger_open): anonymous shared memory; a memfd handed to the CLI
 * (collect=); or a state file next to the report= path.  A file-backed ledger is
 * sized up front but backed with disk blocks region by region as it fills
 * (bg__ledger_commit), so a mapped write can never SIGBUS on a full disk: a region
 * that cannot grow refuses (counted, and the ledger says why it is incomplete).
 *
 * Fork: the child builds a fresh ledger, copies the header, rules, modules and arena
 * into it and mremaps it over the parent's at the same address before anything records
 * (bg__ledger_after_fork, async-signal-safe).  Pointers into the ledger stay valid in
 * the child; thread table, ring and sites start empty.  A vfork/posix_spawn child
 * shares the parent's memory and never writes (callers check bg__ledger_mine()).
 *
 * Extending it (other subsystems): per-thread data goes into bg__ledger_thread_t,
 * per-site data into bg__site_t (below; guard/sites.c keeps them); variable-size data into the arena
 * (bg__ledger_alloc), referenced by offset (bg__ledger_off).  Bump BG_LEDGER_LAYOUT
 * whenever a record or the header changes: readers refuse other layouts by name.
 */
#ifndef BG_LEDGER_H
#define BG_LEDGER_H
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "guard/guard.h" /* BG_MAX_FRAMES */

#define BG_LEDGER_MAGIC "BGLEDGR\0"
#define BG_LEDGER_LAYOUT 3u

/* ---- a site's record (guard/sites.c fills them; guard/sites.h) ------------------ */
#define BG_HIST_BUCKETS 48
#define BG_SITE_THREADS 4

typedef struct bg__site_key {
  uint16_t call;
  uint8_t allowed;   /* inside bg_allow_begin/end */
  uint8_t nframes;
  uint32_t tmask;    /* which thread: globs of the allowlist the thread's name matches */
  uintptr_t pcs[BG_MAX_FRAMES];
} bg__site_key_t;

typedef struct bg__site {
  bg__site_key_t key;      /* compared over offsetof(pcs) + nframes words */
  uint64_t hash;           /* of the raw key: in-memory identity */
  uint64_t id;             /* stable id (call + module basename + offset per frame) */
  uint16_t mods[BG_MAX_FRAMES]; /* module index per frame (symbolize.h), offsets follow;
                                   BG_LANG_MODULE for a language frame (guard/lang.h) */
  uint32_t lframes[BG_MAX_FRAMES]; /* interned language frame per frame, 0 = native */
  int32_t alias;           /* index of the site with the same stable id that counts this
                              stack's calls (CPython specialization...), -1 = itself */
  uint8_t haslang;         /* some frame is a language frame */
  uint8_t quiet;           /* made by a runtime for the shim (node's perf map): never
                              a violation, never reported */
  uint8_t category;
  uint8_t action;          /* action applied to this site (global mode or a rule) */
  uint8_t warned;          /* warn: message printed once */
  uint8_t allowed;         /* allowed by scope (key.allowed) or by an allow rule */
  uint8_t announced;       /* verbosity=2: "new site" printed once */
  uint8_t threads_more;    /* hit by more threads than BG_SITE_THREADS */
  int rule;                /* index of the allowlist rule that decided, -1 = none */
  uint64_t count, total_ns, max_ns, first_ns, last_ns; /* first/last: monotonic ns */
  uint64_t hist[BG_HIST_BUCKETS]; /* hist[i]: calls that blocked in [2^(i-1), 2^i) ns */
  int32_t threads[BG_SITE_THREADS]; /* thread-table slots, -1 = empty */
  UT_hash_handle hh;
} bg__site_t;

/* How this image ended so far (hdr.status). */
enum {
  BG_LST_RUNNING = 1, /* or died without a word (killed): the reader decides */
  BG_LST_EXITING,     /* exit() called: exit_code is known, handlers still run */
  BG_LST_EXITED,      /* the shim's last act before the process ends (exit, _exit) */
  BG_LST_EXEC,        /* execve in progress or succeeded: exec_path */
};

/* The environment an exec passes on (hdr.exec_env): will the new image be guarded, and
 * report to the same CLI? */
enum {
  BG_LEXEC_SAME = 1,     /* LD_PRELOAD with the shim, the same options (collect=) */
  BG_LEXEC_OTHER_CLI,    /* collect= of another blockguard CLI (a nested run/check) */
  BG_LEXEC_NO_OPTIONS,   /* BLOCKGUARD_OPTIONS removed or without our collect= */
  BG_LEXEC_NO_PRELOAD,   /* LD_PRELOAD without the shim */
};

/* Where the ledger lives (hdr.backing). */
enum { BG_LB_ANON = 1, BG_LB_MEMFD, BG_LB_FILE };

/* Regions that grow (bg__ledger_commit). */
enum { BG_LR_ARENA, BG_LR_THREADS, BG_LR_SITES, BG_LR_LFRAMES, BG_LR_COUNT };

typedef struct bg__ledger_region {
  uint64_t off, size;      /* where, and how many bytes reserved */
  uint64_t committed;      /* bytes from off backed by storage (== size unless a file) */
} bg__ledger_region_t;

/* One registered thread.  Everything a reader uses is written with atomics and only
 * read once `published` is set.  pthread_id and tls mean something in the writer only. */
typedef struct bg__ledger_thread {
  int32_t tid;
  volatile int32_t alive;
  uint8_t why, guarded, published, pad0;
  uint32_t pad1;
  _Alignas(8) char name[16];
  uint64_t pthread_id;     /* writer only */
  uint64_t tls;            /* writer only: its bg__thread_t */
  /* The blocking call this thread is inside right now, so a process killed in a long
   * sleep still shows that call and since when.  inflight_site is the site index + 1
   * (0: none, or the site was dropped: inflight_call then still names the call, +1). */
  uint32_t inflight_site, inflight_call;
  uint64_t inflight_t0;    /* monotonic ns when the call started */
  uint64_t inflight_frame; /* writer only: where its bg__call_t lives on the stack */
  /* Event loop (guard/loop.c): the fd that identifies the thread's loop, + 1 (0: none,
   * or ended).  Written by the owner when it takes a loop; cleared by whichever thread
   * closes that fd, which is how the owner learns its loop ended. */
  int32_t loop_fd1;
  uint32_t loop_stats;     /* arena offset of the thread's bg__ledger_loop_t, 0: none */
  uint64_t reserved[5];    /* for per-thread data of other subsystems */
} bg__ledger_thread_t;

/* Loop health of one event-loop thread (guard/loop.c, docs/loop-health.md), a block in
 * the arena named by its thread record.  An iteration is the time from the loop's wait
 * returning to the next wait starting (busy); idle is the time inside the wait.
 * Written only by the loop thread (and its stall signal handler), with relaxed atomic
 * stores; counters only grow, so a reader racing the writer sees a slightly old value,
 * never a torn one. */
#define BG_LOOP_HIST 48   /* hist[i]: iterations busy for [2^(i-1), 2^i) ns */
#define BG_LOOP_RECENT 64 /* one-second buckets, the last minute (ring by second) */
#define BG_LOOP_FRAMES 64
typedef struct bg__ledger_loop {
  uint64_t iterations;
  uint64_t busy_ns, idle_ns;
  uint64_t worst_ns, worst_mono;  /* the longest iteration and when it ended */
  uint64_t first_mono, last_mono; /* first loop wait, latest iteration boundary */
  uint64_t stalls;                /* iterations that ran stall_ms on CPU */
  uint64_t stalls_unsampled;      /* ... of which no stack was taken (rate limit) */
  uint32_t running, pad0;         /* 1 while the loop exists (its fd open) */
  uint64_t hist[BG_LOOP_HIST];
  struct {
    uint64_t sec;                 /* monotonic second this bucket holds */
    uint64_t busy_ns;
    uint32_t iterations, max_us;  /* iterations ended in that second, the longest */
  } recent[BG_LOOP_RECENT];
  /* The stall in flight: the signal handler fills pcs and then sets stall_state; the
   * loop thread records it as a site when the iteration ends, or a reader does, if the
   * process died first. */
  volatile uint32_t stall_state;  /* 0: none, 1: stack taken, 2: stalled, no stack */
  uint32_t stall_n;
  uint64_t stall_t0;              /* monotonic ns the stalled iteration started */
  uint64_t stall_pcs[BG_LOOP_FRAMES];
} bg__ledger_loop_t;

typedef struct bg__ledger_module {
  uint64_t bias, lo, hi;   /* load bias and mapped range when it was seen */
  uint64_t epoch;          /* writer only: range valid while no object was unloaded */
  uint32_t path, base;     /* arena offsets: full path, basename */
  uint8_t build_id_len;    /* 0: none */
  uint8_t build_id[31];
} bg__ledger_module_t;

/* An interned language frame (guard/lang.c): a site's lframes[i] is an index here. */
typedef struct bg__ledger_lframe {
  uint32_t function, file; /* arena offsets */
  int32_t line;
  uint8_t lang;            /* BG_LANG_* (report/model.h) */
  uint8_t pad[3];
} bg__ledger_lframe_t;

typedef struct bg__ledger_rule {
  uint32_t file, text;     /* arena offsets */
  int32_t line, allow;
  uint64_t matched;        /* sites the rule matched (atomic) */
} bg__ledger_rule_t;

typedef struct bg__ledger_hdr {
  char magic[8];
  uint32_t layout, hdr_size;
  uint64_t size;           /* bytes mapped */
  uint32_t site_size, thread_size, module_size, rule_size; /* record sizes, checked */

  bg__ledger_region_t region[BG_LR_COUNT];
  uint64_t rules_off, modules_off, ring_off, ring_size;
  uint32_t nrules, modules_cap, threads_cap, sites_cap;
  uint32_t nmodules, nthreads, nsites, pad0; /* published counts (release) */
  uint64_t ring_head;      /* bytes ever reserved in the ring */
  uint64_t arena_used;     /* bytes handed out from the arena (offset 0 means none) */
  uint64_t dropped_sites;  /* distinct stacks refused: pool full or no storage */
  uint64_t lost;           /* arena allocations refused, messages lost */
  uint32_t calls, ncalls;  /* arena: the call table's names, NUL separated */
  uint32_t lframes_cap, nlframes; /* language frames (published count; 0 and 1: none) */

  /* this image */
  int32_t pid, ppid;
  uint32_t image;          /* 0 for a process's first image, +1 per exec */
  uint32_t backing;        /* BG_LB_* */
  uint64_t start_wall_ns, start_mono_ns;
  uint32_t status;         /* BG_LST_* */
  int32_t exit_code;       /* valid from BG_LST_EXITING */
  int32_t exit_signal;     /* the shim itself ends the process with this signal (abort) */
  uint32_t pad1;
  uint64_t end_wall_ns;    /* set with BG_LST_EXITED / BG_LST_EXEC */
  uint64_t violations;     /* not allowed, counted (what bg_violations() returns) */
  uint32_t options;        /* arena: BLOCKGUARD_OPTIONS as given */
  uint32_t options_invalid;/* 1: the options did not parse; the process ran unguarded */
  uint32_t argv, argc;     /* arena: argc strings, NUL separated */
  uint32_t cwd, exe;       /* arena */
  uint32_t unguarded;      /* arena: why nothing was guarded, 0 = guarded */
  uint32_t exec_path;      /* arena: BG_LST_EXEC target */
  uint32_t http_url;       /* arena: the live dashboard this process served */
  uint32_t rules_file;     /* arena: the allowlist's path */
  uint32_t state_path;     /* arena: BG_LB_FILE: the state file */
  uint32_t incomplete;     /* 1: data is missing, incomplete_text says why */
  uint32_t final_written;  /* the final report file was written from this ledger */
  /* In the header, not the arena: saying why must not need room that may be gone. */
  char incomplete_text[192];
  char final_error[192];   /* why the final report could not be written ("" = none) */
  uint32_t exec_env;       /* BG_LEXEC_*: what the exec'd image's environment says */
  uint32_t pad2;
  uint64_t reserved[7];
} bg__ledger_hdr_t;

/* ---- the process's own ledger ------------------------------------------------------ */
typedef struct bg__ledger_spec {
  int backing;             /* BG_LB_* wanted; falls back to anonymous memory */
  uint32_t sites, rules;   /* capacities */
  const char *state_path;  /* BG_LB_FILE */
} bg__ledger_spec_t;

extern bg__ledger_hdr_t *bg__ledger; /* NULL until bg__ledger_open */

/* Maps this process's ledger (once; later calls return the existing one).  Fills the
 * header's process facts.  NULL when no memory could be mapped at all. */
bg__ledger_hdr_t *bg__ledger_open(const bg__ledger_spec_t *spec);
/* Sized like the last open, anonymous: for code that records before the core ran
 * (unit tests). */
bg__ledger_hdr_t *bg__ledger_get(void);
/* Child after fork: a fresh ledger at the same address (see the top).  Async-signal-
 * safe. */
void bg__ledger_after_fork(void);
/* Unmaps it (tests; a process keeps its ledger to the end). */
void bg__ledger_close(void);
/* 1 when the calling process owns the ledger (0 in a vfork child sharing memory). */
int bg__ledger_mine(void);

/* Hooks the core sets: hand a new memfd ledger to the CLI (the fd is closed after);
 * name the state file of a fork child (async-signal-safe; 0 or -1). */
extern void (*bg__ledger_publish)(int fd);
extern int (*bg__ledger_child_path)(char *out, size_t n);

/* Arena: `n` bytes, 8-byte aligned, zeroed; lock-free and async-signal-safe.  NULL
 * when the arena is full or cannot be backed (counted in hdr.lost). */
void *bg__ledger_alloc(size_t n);
uint32_t bg__ledger_strdup(const char *s); /* arena offset of a copy, 0 on failure */
uint32_t bg__ledger_off(const void *p);    /* arena offset of p (0: not in the arena) */
const char *bg__ledger_str(uint32_t off);  /* "" for 0 */

/* Makes sure [0, bytes) of region r is backed; 0 or -1 (recorded as incomplete). */
int bg__ledger_commit(int r, uint64_t bytes);

/* Records and tables. */
bg__ledger_thread_t *bg__ledger_threads(void);
void *bg__ledger_sites(uint32_t *cap);
bg__ledger_module_t *bg__ledger_modules(uint32_t *cap);
bg__ledger_rule_t *bg__ledger_rules(void);
bg__ledger_lframe_t *bg__ledger_lframes(uint32_t *cap);
/* Copies the call table's names in (once; at the first site, not at start-up). */
void bg__ledger_calls_sync(void);
/* Sets a header string once (last writer wins); safe from any thread. */
void bg__ledger_set_str(uint32_t *field, const char *s);
/* Marks data missing (first reason kept). */
void bg__ledger_incomplete(const char *why);
/* Why the final report could not be written (the state file stays and says so). */
void bg__ledger_final_error(const char *why);

/* Message ring: one message, no newline needed.  Async-signal-safe; a full ring
 * overwrites the oldest (the reader counts what it lost). */
void bg__ledger_msg(const char *text, size_t len);

/* Lifecycle marks. */
void bg__ledger_exiting(int code);
void bg__ledger_exited(int code);
void bg__ledger_killing(int sig);         /* the shim ends the process (mode=abort) */
void bg__ledger_exec(const char *path, uint32_t env); /* before execve (BG_LEXEC_*) */
void bg__ledger_exec_failed(void);        /* execve returned */

/* ---- reading any ledger (guard/ledger_read.c) -------------------------------------- */
/* Checks a mapping of `size` bytes: magic, layout, record sizes, every region inside.
 * 0, or -1 with the problem in err. */
int bg__ledger_check(const void *base, size_t size, char *err, size_t errlen);
#endif
