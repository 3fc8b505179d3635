/* ledger.c - the process's ledger: creation, backing, arena, ring, fork (see ledger.h).
 *
 * Everything here that runs after start-up is async-signal-safe and lock-free: the
 * arena and the ring reserve space with a CAS on a counter in the header, a
 * file-backed region grows with open/fallocate/close (syscalls only), and the fork
 * child's new ledger is built with memcpy, mmap and mremap.  That matters because the
 * callers include the violation path (a signal handler may violate), _exit, and the
 * fork child of a multithreaded program.
 *
 * Sizes: the mapping reserves room for every region at its maximum (max_sites sites,
 * 4096 threads, 1024 modules, 65536 language frames, 8 MiB of arena) with
 * MAP_NORESERVE; only pages written cost memory.  A file-backed ledger allocates disk
 * blocks per region as it fills (first chunks at creation), so the state file of a
 * typical process takes ~250 KiB of disk, however large it looks.
 */
#define _GNU_SOURCE
#include "guard/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"

#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)
#define ARENA_SIZE (8u << 20)  /* language frames' strings live here too */
#define LFRAMES_CAP 65536u
#define THREADS_CAP 4096u
#define MODULES_CAP 1024u
#define RING_SIZE (64u << 10)
#define FILE_CHUNK (64u << 10) /* smallest growth of a file-backed region */

bg__ledger_hdr_t *bg__ledger;
static pid_t owner;            /* pid that owns the mapping (not a vfork child) */
static bg__ledger_spec_t last; /* capacities of the last open, for the fork child */
static uint64_t arena_used_init = 8; /* offset 0 of the arena means "none" */

/* ---- small async-signal-safe helpers ----------------------------------------------- */
static uint64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char *base_of(const bg__ledger_hdr_t *h) { return (char *)h; }

static bg__ledger_region_t *arena_region(bg__ledger_hdr_t *h) { return &h->region[BG_LR_ARENA]; }


/* ---- layout ------------------------------------------------------------------------ */
static uint64_t layout(bg__ledger_hdr_t *h, const bg__ledger_spec_t *s) {
  uint64_t off = ALIGN64(sizeof *h);
  h->rules_off = off;
  h->nrules = s->rules;
  off = ALIGN64(off + (uint64_t)s->rules * sizeof(bg__ledger_rule_t));
  h->modules_off = off;
  h->modules_cap = MODULES_CAP;
  off = ALIGN64(off + (uint64_t)MODULES_CAP * sizeof(bg__ledger_module_t));
  h->region[BG_LR_LFRAMES].off = off;
  h->region[BG_LR_LFRAMES].size = (uint64_t)LFRAMES_CAP * sizeof(bg__ledger_lframe_t);
  h->lframes_cap = LFRAMES_CAP;
  off = ALIGN64(off + h->region[BG_LR_LFRAMES].size);
  h->region[BG_LR_ARENA].off = off;
  h->region[BG_LR_ARENA].size = ARENA_SIZE;
  off = ALIGN64(off + ARENA_SIZE);
  h->region[BG_LR_THREADS].off = off;
  h->region[BG_LR_THREADS].size = (uint64_t)THREADS_CAP * sizeof(bg__ledger_thread_t);
  h->threads_cap = THREADS_CAP;
  off = ALIGN64(off + h->region[BG_LR_THREADS].size);
  h->ring_off = off;
  h->ring_size = RING_SIZE;
  off = ALIGN64(off + RING_SIZE);
  h->region[BG_LR_SITES].off = off;
  h->region[BG_LR_SITES].size = (uint64_t)s->sites * sizeof(bg__site_t);
  h->sites_cap = s->sites;
  off = ALIGN64(off + h->region[BG_LR_SITES].size);
  return (off + 4095) & ~(uint64_t)4095;
}

static void header_init(bg__ledger_hdr_t *h, const bg__ledger_spec_t *s, uint64_t size, int backing) {
  memcpy(h->magic, BG_LEDGER_MAGIC, 8);
  h->layout = BG_LEDGER_LAYOUT;
  h->hdr_size = sizeof *h;
  h->size = size;
  h->site_size = sizeof(bg__site_t);
  h->thread_size = sizeof(bg__ledger_thread_t);
  h->module_size = sizeof(bg__ledger_module_t);
  h->rule_size = sizeof(bg__ledger_rule_t);
  layout(h, s);
  h->backing = (uint32_t)backing;
  for (int r = 0; r < BG_LR_COUNT; r++)
    h->region[r].committed = backing == BG_LB_FILE ? 0 : h->region[r].size;
  h->arena_used = arena_used_init;
}

static void facts_init(bg__ledger_hdr_t *h) {
  h->pid = getpid();
  h->ppid = getppid();
  h->start_wall_ns = clock_ns(CLOCK_REALTIME);
  h->start_mono_ns = clock_ns(CLOCK_MONOTONIC);
  h->status = BG_LST_RUNNING;
}

static uint64_t spec_size(const bg__ledger_spec_t *s) {
  bg__ledger_hdr_t tmp;
  memset(&tmp, 0, sizeof tmp);
  return layout(&tmp, s);
}

/* ---- backing ----------------------------------------------------------------------- */
/* Backs [from, to) of the file with blocks so a mapped write cannot SIGBUS.  The file
 * is opened again by path: no fd is kept in the program (it may close every fd, or
 * count them). */
static int file_reserve(const char *path, uint64_t from, uint64_t to) {
  int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  int rc = fallocate(fd, 0, (off_t)from, (off_t)(to - from));
  if (rc < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
    /* No fallocate here (some FUSE or network file systems): write the zeros. */
    static const char zero[4096];
    rc = 0;
    for (uint64_t o = from; o < to && rc == 0; o += sizeof zero) {
      size_t n = to - o < sizeof zero ? (size_t)(to - o) : sizeof zero;
      if (pwrite(fd, zero, n, (off_t)o) != (ssize_t)n) rc = -1;
    }
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

int bg__ledger_commit(int r, uint64_t bytes) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || r < 0 || r >= BG_LR_COUNT) return -1;
  bg__ledger_region_t *rg = &h->region[r];
  uint64_t have = __atomic_load_n(&rg->committed, __ATOMIC_ACQUIRE);
  if (bytes <= have) return 0;
  if (bytes > rg->size || h->backing != BG_LB_FILE) return -1;
  uint64_t want = have * 2 > bytes ? have * 2 : bytes;
  if (want < FILE_CHUNK) want = FILE_CHUNK;
  want = (want + 4095) & ~(uint64_t)4095;
  if (want > rg->size) want = rg->size;
  int saved = errno;
  int rc = file_reserve(bg__ledger_str(h->state_path), rg->off + have, rg->off + want);
  if (rc < 0) {
    static const char *const what[] = {"arena", "thread table", "site table", "frame table"};
    char msg[160];
    /* strerror is not async-signal-safe; the errno number says enough here */
    int e = errno, n = 0;
    const char *p = "state file could not grow (";
    while (*p && n < 100) msg[n++] = *p++;
    for (p = what[r]; *p && n < 120; p++) msg[n++] = *p;
    for (p = "): "; *p; p++) msg[n++] = *p;
    for (p = e == ENOSPC ? "no space left on the device" : e == EACCES || e == EPERM ? "permission denied" : e == EDQUOT ? "disk quota exceeded" : "I/O error"; *p && n < 158; p++) msg[n++] = *p;
    msg[n] = 0;
    bg__ledger_incomplete(msg);
    errno = saved;
    return -1;
  }
  uint64_t cur = have;
  while (cur < want && !__atomic_compare_exchange_n(&rg->committed, &cur, want, 0,
                                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
  }
  errno = saved;
  return 0;
}

/* Commits the first pieces of a new state file: everything before the frame table
 * (header, rules, modules), and a first chunk of arena, threads and sites. */
static int file_initial(bg__ledger_hdr_t *h, const char *path) {
  static const struct { int r; uint64_t bytes; } first[] = {
      {BG_LR_ARENA, FILE_CHUNK},
      {BG_LR_THREADS, 16 * sizeof(bg__ledger_thread_t)},
      {BG_LR_SITES, 64 * sizeof(bg__site_t)},
  };
  if (file_reserve(path, 0, h->region[BG_LR_LFRAMES].off) < 0) return -1;
  for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
    bg__ledger_region_t *rg = &h->region[first[i].r];
    uint64_t n = (first[i].bytes + 4095) & ~(uint64_t)4095;
    if (n > rg->size) n = rg->size;
    if (n && file_reserve(path, rg->off, rg->off + n) < 0) return -1;
    rg->committed = n;
  }
  return 0;
}

/* Appends ".N.bgstate" to prefix; 0 or -1 (too long).  No snprintf: this runs in a
 * fork child. */
static int state_name(char *out, size_t n, const char *prefix, unsigned img) {
  size_t l = strlen(prefix);
  char num[12];
  int k = 0;
  do num[k++] = (char)('0' + img % 10); while ((img /= 10) && k < 11);
  if (l + 1 + (size_t)k + 9 > n) return -1;
  memcpy(out, prefix, l);
  out[l++] = '.';
  while (k) out[l++] = num[--k];
  memcpy(out + l, ".bgstate", 9);
  return 0;
}

/* Maps `size` bytes for a new ledger: a state file (created exclusively as
 * PREFIX.N.bgstate, the first free N being the image number), a memfd, or anonymous
 * memory, falling back in that order.  *backing says what it got, *fd is the memfd
 * (the caller closes it), path/image the state file.  tmpl holds the layout; its
 * committed counts are set for a state file. */
static void *map_new(const bg__ledger_spec_t *s, uint64_t size, int *backing, int *fd,
                     bg__ledger_hdr_t *tmpl, char *path, size_t pathlen, unsigned *image) {
  void *p = MAP_FAILED;
  *fd = -1;
  *image = 0;
  if (s->backing == BG_LB_FILE && s->state_path && s->state_path[0]) {
    int f = -1;
    for (unsigned img = 0; img < 100 && f < 0; img++) {
      if (state_name(path, pathlen, s->state_path, img) < 0) break;
      f = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (f < 0 && errno != EEXIST) break;
      *image = img;
    }
    if (f >= 0) {
      if (ftruncate(f, (off_t)size) == 0 &&
          (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, f, 0)) != MAP_FAILED &&
          (madvise(p, size, MADV_RANDOM), file_initial(tmpl, path) < 0)) {
        munmap(p, size); /* no room on the disk even for the first chunks */
        p = MAP_FAILED;
      }
      close(f);
      if (p == MAP_FAILED) unlink(path);
    }
    if (p != MAP_FAILED) *backing = BG_LB_FILE;
  }
  if (p == MAP_FAILED && s->backing == BG_LB_MEMFD) {
    int f = memfd_create("blockguard-ledger", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (f >= 0 && ftruncate(f, (off_t)size) == 0 &&
        fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0 &&
        (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, f, 0)) != MAP_FAILED) {
      *backing = BG_LB_MEMFD;
      *fd = f;
    } else if (f >= 0) {
      close(f);
    }
  }
  if (p == MAP_FAILED) {
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) *backing = BG_LB_ANON;
  }
  if (*backing != BG_LB_FILE)
    for (int r = 0; r < BG_LR_COUNT; r++) tmpl->region[r].committed = tmpl->region[r].size;
  return p == MAP_FAILED ? NULL : p;
}

/* Hook the core sets: hands a memfd ledger to the CLI, or NULL. */
void (*bg__ledger_publish)(int fd);

/* A new ledger for spec, header laid out, committed counts right; NULL: no memory. */
static bg__ledger_hdr_t *create(const bg__ledger_spec_t *spec, uint64_t size, int *fd,
                                char *path, size_t pathlen) {
  bg__ledger_spec_t s = *spec;
  if (!s.sites) s.sites = 1;
  bg__ledger_hdr_t tmpl;
  memset(&tmpl, 0, sizeof tmpl);
  header_init(&tmpl, &s, size, BG_LB_FILE);
  int backing = BG_LB_ANON;
  unsigned image;
  bg__ledger_hdr_t *h = map_new(&s, size, &backing, fd, &tmpl, path, pathlen, &image);
  if (!h) return NULL;
  tmpl.backing = (uint32_t)backing;
  tmpl.image = image;
  memcpy(h, &tmpl, sizeof tmpl);
  return h;
}

bg__ledger_hdr_t *bg__ledger_open(const bg__ledger_spec_t *spec) {
  if (bg__ledger) return bg__ledger;
  int saved = errno, fd = -1;
  char path[4096];
  bg__ledger_spec_t s = *spec;
  if (!s.sites) s.sites = 1;
  bg__ledger_hdr_t *h = create(&s, spec_size(&s), &fd, path, sizeof path);
  if (h) {
    last = s;
    facts_init(h);
    owner = h->pid;
    __atomic_store_n(&bg__ledger, h, __ATOMIC_RELEASE);
    if (h->backing == BG_LB_FILE) h->state_path = bg__ledger_strdup(path);
  }
  if (fd >= 0) {
    if (bg__ledger_publish) bg__ledger_publish(fd);
    close(fd);
  }
  errno = saved;
  return h;
}

bg__ledger_hdr_t *bg__ledger_get(void) {
  bg__ledger_hdr_t *h = __atomic_load_n(&bg__ledger, __ATOMIC_ACQUIRE);
  if (h) return h;
  bg__ledger_spec_t s = {BG_LB_ANON, (uint32_t)(bg__opt.max_sites ? bg__opt.max_sites : 4096), 0,
                         NULL};
  return bg__ledger_open(&s);
}

int bg__ledger_mine(void) { return bg__ledger && getpid() == owner; }

void bg__ledger_close(void) {
  bg__ledger_hdr_t *h = __atomic_exchange_n(&bg__ledger, NULL, __ATOMIC_ACQ_REL);
  if (h) munmap(h, h->size);
}

/* ---- fork --------------------------------------------------------------------------- */
/* The child's state file prefix comes from the core (report path with the child's
 * pid); NULL or a failure: anonymous memory. */
int (*bg__ledger_child_path)(char *out, size_t n);

/* Copies into the new ledger h what stays true in the child: header, rules, modules,
 * language frames, arena.  A state file must first back what is copied; -1 when the
 * disk refuses (the caller falls back to memory). */
static int copy_parent(bg__ledger_hdr_t *h, const bg__ledger_hdr_t *old, const char *path) {
  uint32_t nmod = __atomic_load_n(&old->nmodules, __ATOMIC_ACQUIRE);
  uint32_t nlf = __atomic_load_n(&old->nlframes, __ATOMIC_ACQUIRE);
  uint64_t used = __atomic_load_n(&old->arena_used, __ATOMIC_ACQUIRE);
  if (nmod > old->modules_cap) nmod = old->modules_cap;
  if (nlf > old->lframes_cap) nlf = old->lframes_cap;
  uint64_t lfbytes = (uint64_t)nlf * sizeof(bg__ledger_lframe_t);
  const bg__ledger_region_t *ra = &old->region[BG_LR_ARENA], *rl = &old->region[BG_LR_LFRAMES];
  uint64_t arena_commit = h->region[BG_LR_ARENA].committed, lf_commit = h->region[BG_LR_LFRAMES].committed;
  if (h->backing == BG_LB_FILE) {
    uint64_t an = (used + 4095) & ~(uint64_t)4095, ln = (lfbytes + 4095) & ~(uint64_t)4095;
    if ((an > arena_commit && file_reserve(path, ra->off, ra->off + an) < 0) ||
        (ln > lf_commit && file_reserve(path, rl->off, rl->off + ln) < 0))
      return -1;
    if (an > arena_commit) arena_commit = an;
    if (ln > lf_commit) lf_commit = ln;
  }
  bg__ledger_region_t regions[BG_LR_COUNT];
  memcpy(regions, h->region, sizeof regions);
  uint32_t backing = h->backing, image = h->image;
  memcpy(h, old, old->modules_off); /* header and rules */
  memcpy(h->region, regions, sizeof regions);
  h->region[BG_LR_ARENA].committed = arena_commit;
  h->region[BG_LR_LFRAMES].committed = lf_commit;
  h->backing = backing;
  h->image = image;
  memcpy(base_of(h) + old->modules_off, base_of(old) + old->modules_off, (size_t)nmod * sizeof(bg__ledger_module_t));
  if (lfbytes) memcpy(base_of(h) + rl->off, base_of(old) + rl->off, lfbytes);
  if (used) memcpy(base_of(h) + ra->off, base_of(old) + ra->off, used);
  h->nmodules = nmod;
  h->nlframes = nlf;
  h->arena_used = used;
  /* What is the child's own starts from zero. */
  h->nthreads = h->nsites = 0;
  h->ring_head = h->dropped_sites = h->lost = h->violations = 0;
  h->exit_code = h->exit_signal = 0;
  h->end_wall_ns = 0;
  h->exec_path = h->http_url = h->incomplete = h->final_written = 0;
  h->incomplete_text[0] = h->final_error[0] = 0;
  h->state_path = 0;
  bg__ledger_rule_t *rules = (bg__ledger_rule_t *)(base_of(h) + h->rules_off);
  for (uint32_t i = 0; i < h->nrules; i++) rules[i].matched = 0;
  facts_init(h);
  return 0;
}

void bg__ledger_after_fork(void) {
  bg__ledger_hdr_t *old = bg__ledger;
  if (!old) return;
  int saved = errno, fd = -1;
  bg__ledger_spec_t s = last;
  char prefix[4096], path[4096];
  s.state_path = NULL;
  if (old->backing == BG_LB_FILE && bg__ledger_child_path &&
      bg__ledger_child_path(prefix, sizeof prefix) == 0)
    s.state_path = prefix;
  if (s.backing == BG_LB_FILE && !s.state_path) s.backing = BG_LB_ANON;
  uint64_t size = old->size;
  bg__ledger_hdr_t *h = create(&s, size, &fd, path, sizeof path);
  if (h && copy_parent(h, old, path) < 0) { /* the disk is full: memory instead */
    munmap(h, size);
    unlink(path);
    s.backing = BG_LB_ANON;
    h = create(&s, size, &fd, path, sizeof path);
    if (h) copy_parent(h, old, NULL);
  }
  /* Over the parent's mapping, at the same address: pointers into it stay valid. */
  if (!h || mremap(h, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, old) == MAP_FAILED) {
    /* No memory for a ledger: this child must not write into its parent's.  Recording
     * stops (sites dropped, threads unregistered); the process runs on. */
    if (h) munmap(h, size);
    if (fd >= 0) close(fd);
    __atomic_store_n(&bg__ledger, NULL, __ATOMIC_RELEASE);
    munmap(old, size);
    errno = saved;
    return;
  }
  owner = old->pid; /* `old` now reads the child's header */
  if (old->backing == BG_LB_FILE) old->state_path = bg__ledger_strdup(path);
  if (fd >= 0) {
    if (bg__ledger_publish) bg__ledger_publish(fd);
    close(fd);
  }
  errno = saved;
}

/* ---- arena -------------------------------------------------------------------------- */
void *bg__ledger_alloc(size_t n) {
  bg__ledger_hdr_t *h = __atomic_load_n(&bg__ledger, __ATOMIC_ACQUIRE);
  if (!h) return NULL;
  bg__ledger_region_t *a = arena_region(h);
  uint64_t sz = n ? ((uint64_t)n + 7) & ~(uint64_t)7 : 8;
  uint64_t used = __atomic_load_n(&h->arena_used, __ATOMIC_RELAXED);
  do {
    if (used + sz > a->size || used + sz < used) {
      __atomic_fetch_add(&h->lost, 1, __ATOMIC_RELAXED);
      return NULL;
    }
  } while (!__atomic_compare_exchange_n(&h->arena_used, &used, used + sz, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  if (bg__ledger_commit(BG_LR_ARENA, used + sz) < 0) {
    __atomic_fetch_add(&h->lost, 1, __ATOMIC_RELAXED);
    return NULL; /* the space stays reserved: never handed out twice */
  }
  return base_of(h) + a->off + used; /* fresh: never handed out before, so zero */
}

uint32_t bg__ledger_strdup(const char *s) {
  if (!s) return 0;
  size_t n = strlen(s);
  char *p = bg__ledger_alloc(n + 1);
  if (!p) return 0;
  memcpy(p, s, n + 1);
  return bg__ledger_off(p);
}

uint32_t bg__ledger_off(const void *p) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !p) return 0;
  const char *a = base_of(h) + arena_region(h)->off;
  if ((const char *)p <= a || (const char *)p >= a + arena_region(h)->size) return 0;
  return (uint32_t)((const char *)p - a);
}

const char *bg__ledger_str(uint32_t off) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !off || off >= arena_region(h)->size) return "";
  return base_of(h) + arena_region(h)->off + off;
}

void bg__ledger_set_str(uint32_t *field, const char *s) {
  uint32_t off = bg__ledger_strdup(s);
  if (off) __atomic_store_n(field, off, __ATOMIC_RELEASE);
}

void bg__ledger_incomplete(const char *why) {
  bg__ledger_hdr_t *h = bg__ledger;
  uint32_t none = 0;
  if (!h || !__atomic_compare_exchange_n(&h->incomplete, &none, 2, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
    return; /* the first reason stays */
  size_t n = strnlen(why, sizeof h->incomplete_text - 1);
  memcpy(h->incomplete_text, why, n);
  h->incomplete_text[n] = 0;
  __atomic_store_n(&h->incomplete, 1, __ATOMIC_RELEASE);
}

void bg__ledger_final_error(const char *why) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h) return;
  size_t n = strnlen(why, sizeof h->final_error - 1);
  memcpy(h->final_error, why, n);
  h->final_error[n] = 0;
}

/* ---- tables ------------------------------------------------------------------------- */
bg__ledger_thread_t *bg__ledger_threads(void) {
  bg__ledger_hdr_t *h = bg__ledger_get();
  return h ? (bg__ledger_thread_t *)(base_of(h) + h->region[BG_LR_THREADS].off) : NULL;
}

void *bg__ledger_sites(uint32_t *cap) {
  bg__ledger_hdr_t *h = bg__ledger_get();
  *cap = h ? h->sites_cap : 0;
  return h ? base_of(h) + h->region[BG_LR_SITES].off : NULL;
}

bg__ledger_module_t *bg__ledger_modules(uint32_t *cap) {
  bg__ledger_hdr_t *h = bg__ledger;
  *cap = h ? h->modules_cap : 0;
  return h ? (bg__ledger_module_t *)(base_of(h) + h->modules_off) : NULL;
}

bg__ledger_lframe_t *bg__ledger_lframes(uint32_t *cap) {
  bg__ledger_hdr_t *h = bg__ledger;
  *cap = h ? h->lframes_cap : 0;
  return h ? (bg__ledger_lframe_t *)(base_of(h) + h->region[BG_LR_LFRAMES].off) : NULL;
}

bg__ledger_rule_t *bg__ledger_rules(void) {
  bg__ledger_hdr_t *h = bg__ledger;
  return h ? (bg__ledger_rule_t *)(base_of(h) + h->rules_off) : NULL;
}

void bg__ledger_calls_sync(void) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || __atomic_load_n(&h->calls, __ATOMIC_ACQUIRE)) return;
  int n = bg__ncalls();
  size_t len = 0;
  for (int i = 0; i < n; i++) len += strlen(bg__callinfo(i)->name) + 1;
  char *p = len ? bg__ledger_alloc(len) : NULL;
  if (!p) return;
  char *o = p;
  for (int i = 0; i < n; i++) {
    size_t l = strlen(bg__callinfo(i)->name) + 1;
    memcpy(o, bg__callinfo(i)->name, l);
    o += l;
  }
  uint32_t none = 0;
  /* several threads may race here: same table, last one wins */
  __atomic_store_n(&h->ncalls, (uint32_t)n, __ATOMIC_RELAXED);
  __atomic_compare_exchange_n(&h->calls, &none, bg__ledger_off(p), 0, __ATOMIC_RELEASE,
                              __ATOMIC_RELAXED);
}

/* ---- message ring -------------------------------------------------------------------- */
/* Record: {uint32 len, uint32 seq} then the text, padded to 8.  seq = (position / 8) + 1
 * truncated to 32 bits, stored last with release: a reader that finds the seq it
 * expects at a position knows the text before it is complete, and an old record of an
 * earlier lap never matches.  len's top bit marks padding to the end of the ring. */
#define RING_PAD 0x80000000u
void bg__ledger_msg(const char *text, size_t len) {
  bg__ledger_hdr_t *h = __atomic_load_n(&bg__ledger, __ATOMIC_ACQUIRE);
  if (!h || !h->ring_size) return;
  uint64_t size = h->ring_size;
  if (len > size / 4) len = size / 4;
  uint64_t need = 8 + (((uint64_t)len + 7) & ~(uint64_t)7);
  uint64_t head = __atomic_load_n(&h->ring_head, __ATOMIC_RELAXED), pad;
  do {
    uint64_t pos = head % size;
    pad = pos + need > size ? size - pos : 0;
  } while (!__atomic_compare_exchange_n(&h->ring_head, &head, head + pad + need, 1,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  char *ring = base_of(h) + h->ring_off;
  if (pad) {
    uint32_t *rec = (uint32_t *)(ring + head % size);
    __atomic_store_n(&rec[0], (uint32_t)(pad - 8) | RING_PAD, __ATOMIC_RELAXED);
    __atomic_store_n(&rec[1], (uint32_t)(head / 8 + 1), __ATOMIC_RELEASE);
    head += pad;
  }
  uint32_t *rec = (uint32_t *)(ring + head % size);
  __atomic_store_n(&rec[0], (uint32_t)len, __ATOMIC_RELAXED);
  memcpy(rec + 2, text, len);
  __atomic_store_n(&rec[1], (uint32_t)(head / 8 + 1), __ATOMIC_RELEASE);
}

/* ---- lifecycle marks ------------------------------------------------------------------ */
void bg__ledger_exiting(int code) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !bg__ledger_mine()) return;
  h->exit_code = code;
  __atomic_store_n(&h->status, BG_LST_EXITING, __ATOMIC_RELEASE);
}

void bg__ledger_exited(int code) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !bg__ledger_mine()) return;
  h->exit_code = code;
  h->end_wall_ns = clock_ns(CLOCK_REALTIME);
  __atomic_store_n(&h->status, BG_LST_EXITED, __ATOMIC_RELEASE);
}

void bg__ledger_killing(int sig) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !bg__ledger_mine()) return;
  h->exit_signal = sig;
  h->end_wall_ns = clock_ns(CLOCK_REALTIME);
}

static uint32_t status_before_exec = BG_LST_RUNNING;

void bg__ledger_exec(const char *path, uint32_t env) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !bg__ledger_mine()) return;
  uint32_t st = __atomic_load_n(&h->status, __ATOMIC_ACQUIRE);
  if (st != BG_LST_EXEC) status_before_exec = st;
  bg__ledger_set_str(&h->exec_path, path);
  h->exec_env = env;
  h->end_wall_ns = clock_ns(CLOCK_REALTIME);
  __atomic_store_n(&h->status, BG_LST_EXEC, __ATOMIC_RELEASE);
}

void bg__ledger_exec_failed(void) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || !bg__ledger_mine()) return;
  h->end_wall_ns = 0;
  __atomic_store_n(&h->status, status_before_exec, __ATOMIC_RELEASE);
}
