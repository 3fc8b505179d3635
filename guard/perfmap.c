/* perfmap.c - JIT frame names from /tmp/perf-PID.map (see perfmap.h).
 *
 * The map is read incrementally on the cold path: each new site with frames in no
 * object first reads what was appended since the last read (open, pread from the saved
 * offset, close: no fd of ours stays open in the program).  Entries and names go to
 * fixed MAP_NORESERVE mappings (no malloc: the cold path can be reached from a signal
 * handler that blocks); lookups scan newest first, since a later line for the same
 * addresses describes the code there now.
 */
#define _GNU_SOURCE
#include "guard/perfmap.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard/elfsyms.h"
#include "guard/guard.h"
#include "guard/lang.h"
#include "guard/options.h"

#define MAX_ENTRIES (1u << 20)
#define NAMES_BYTES (64u << 20)
#define MAX_LINE 4096

typedef struct entry {
  uintptr_t start, end;
  uint32_t name; /* offset into names */
  uint32_t frame; /* interned lframe id, 0 = not yet */
} entry_t;

static struct {
  pthread_mutex_t lock;
  entry_t *e;
  uint32_t n;
  char *names;
  size_t names_used;
  off_t pos;          /* bytes of the file consumed (whole lines) */
  int pid;            /* the map read belongs to this pid */
  int failed;
  int owned;          /* the shim turned node's map on: remove it at exit */
} pm = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int ready(void) {
  if (pm.e) return 1;
  if (pm.failed) return 0;
  void *a = mmap(NULL, MAX_ENTRIES * sizeof(entry_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void *b = mmap(NULL, NAMES_BYTES, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (a == MAP_FAILED || b == MAP_FAILED) {
    pm.failed = 1;
    return 0;
  }
  pm.e = a;
  pm.names = b;
  return 1;
}

static void map_path(char *buf, size_t n, int pid) { snprintf(buf, n, "/tmp/perf-%d.map", pid); }

int bg__perfmap_owned;
static dev_t map_dev;
static ino_t map_ino;

int bg__perfmap_is_map(dev_t dev, ino_t ino) {
  if (!map_ino) { /* V8 creates the file with the isolate: look once it exists */
    char path[64];
    struct stat st;
    map_path(path, sizeof path, pm.owned);
    if (stat(path, &st) < 0) return 0;
    map_dev = st.st_dev;
    __atomic_store_n(&map_ino, st.st_ino, __ATOMIC_RELEASE);
  }
  return dev == map_dev && ino == __atomic_load_n(&map_ino, __ATOMIC_ACQUIRE);
}


static int hexval(const char **p, uintptr_t *out) {
  uintptr_t v = 0;
  int digits = 0;
  for (;; (*p)++, digits++) {
    char c = **p;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) break;
    if (digits >= 16) return 0;
    v = v << 4 | (uintptr_t)d;
  }
  *out = v;
  return digits > 0;
}

static void add_line(const char *line, size_t len) {
  char buf[MAX_LINE];
  if (len >= sizeof buf) return;
  memcpy(buf, line, len);
  buf[len] = 0;
  const char *p = buf;
  if (p[0] == '0' && p[1] == 'x') p += 2;
  uintptr_t start, size;
  if (!hexval(&p, &start) || *p++ != ' ') return;
  if (p[0] == '0' && p[1] == 'x') p += 2;
  if (!hexval(&p, &size) || *p++ != ' ' || !size) return;
  size_t nl = strlen(p);
  if (pm.n >= MAX_ENTRIES || nl + 1 > NAMES_BYTES - pm.names_used) return;
  memcpy(pm.names + pm.names_used, p, nl + 1);
  pm.e[pm.n] = (entry_t){start, start + size, (uint32_t)pm.names_used, 0};
  pm.names_used += nl + 1;
  pm.n++;
}

/* Under pm.lock: reads the lines appended since the last call. */
static void refresh(void) {
  int pid = getpid();
  if (pid != pm.pid) { /* a fork child: its map is its own */
    pm.pid = pid;
    pm.n = 0;
    pm.names_used = 0;
    pm.pos = 0;
  }
  char path[64];
  map_path(path, sizeof path, pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  char buf[65536];
  for (;;) {
    ssize_t k = pread(fd, buf, sizeof buf, pm.pos);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    size_t used = 0;
    for (;;) {
      char *nl = memchr(buf + used, '\n', (size_t)k - used);
      if (!nl) break;
      add_line(buf + used, (size_t)(nl - (buf + used)));
      used = (size_t)(nl - buf) + 1;
    }
    if (used == 0) { /* a line longer than the buffer: skip it */
      if (k < (ssize_t)sizeof buf) break; /* or an unfinished last line: later */
      used = (size_t)k;
    }
    pm.pos += (off_t)used;
  }
  close(fd);
}

/* Start of the ":DIGITS" that ends [s, end) (just after the ':'), or NULL. */
static const char *number_before(const char *s, const char *end) {
  const char *p = end;
  while (p > s && p[-1] >= '0' && p[-1] <= '9') p--;
  return p < end && p > s + 1 && p[-1] == ':' ? p : NULL;
}

int bg__perfmap_parse_name(const char *name, char *func, size_t nfunc, char *file,
                           size_t nfile, int *line) {
  static const char *const js[] = {"JS:", "LazyCompile:", "Function:", "InterpretedFunction:"};
  *line = 0;
  snprintf(file, nfile, "%s", "");
  for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
    size_t pl = strlen(js[i]);
    if (strncmp(name, js[i], pl)) continue;
    /* V8: [*~^+]NAME SCRIPT:LINE:COL (tier marker: optimized, interpreted, ...) */
    const char *p = name + pl;
    if (*p && strchr("*~^+", *p)) p++;
    const char *sp = strrchr(p, ' ');
    size_t fl = sp ? (size_t)(sp - p) : strlen(p);
    snprintf(func, nfunc, "%.*s", (int)fl, fl ? p : "(anonymous)");
    if (!fl) snprintf(func, nfunc, "(anonymous)");
    if (sp) { /* SCRIPT:LINE:COL (V8 11+) or SCRIPT:LINE (V8 10); node:fs has a ':' too */
      const char *loc = sp + 1, *end = loc + strlen(loc);
      const char *n1 = number_before(loc, end), *n2 = n1 ? number_before(loc, n1 - 1) : NULL;
      const char *num = n2 ? n2 : n1; /* the line */
      if (num) {
        snprintf(file, nfile, "%.*s", (int)(num - 1 - loc), loc);
        *line = atoi(num);
      } else {
        snprintf(file, nfile, "%s", loc);
      }
    }
    return BG_LANG_JS;
  }
  if (!strncmp(name, "py::", 4)) { /* CPython -X perf: py::QUALNAME:FILE */
    const char *p = name + 4, *c = strchr(p, ':');
    snprintf(func, nfunc, "%.*s", c ? (int)(c - p) : (int)strlen(p), p);
    if (c) snprintf(file, nfile, "%s", c + 1);
    return BG_LANG_PYTHON;
  }
  snprintf(func, nfunc, "%s", name);
  return BG_LANG_JIT;
}

static uint32_t lookup(uintptr_t pc) {
  uintptr_t q = pc - 1; /* a return address: the call is just before it */
  for (uint32_t i = pm.n; i-- > 0;) {
    entry_t *e = &pm.e[i];
    if (q < e->start || q >= e->end) continue;
    if (!e->frame) {
      char func[512], file[1024];
      int line;
      int lang = bg__perfmap_parse_name(pm.names + e->name, func, sizeof func, file,
                                        sizeof file, &line);
      e->frame = bg__lframe_intern(lang, func, file, line);
    }
    return e->frame;
  }
  return 0;
}

void bg__perfmap_frames(const uintptr_t *pcs, int n, const uint16_t *mods, unsigned no_module,
                        uint32_t *out) {
  int any = 0;
  for (int i = 0; i < n; i++) any |= mods[i] == no_module;
  if (!any) return;
  bg__self.depth++; /* our own open/read of the map are never the program's calls */
  pthread_mutex_lock(&pm.lock);
  if (ready()) {
    refresh(); /* once per site: what was appended since (new code, or code moved) */
    for (int i = 0; i < n; i++)
      if (mods[i] == no_module) out[i] = lookup(pcs[i]);
  }
  pthread_mutex_unlock(&pm.lock);
  bg__self.depth--;
}

uint32_t bg__perfmap_frame(uintptr_t pc) {
  uint16_t mod = 0;
  uint32_t id = 0;
  bg__perfmap_frames(&pc, 1, &mod, 0, &id);
  return id;
}

/* ---- node ----------------------------------------------------------------------------- */

/* Did the user ask for a perf map themselves (command line or NODE_OPTIONS)?  Then the
 * file is theirs: left alone at exit. */
static int cmdline_has(const char *const *flags, size_t nflags) {
  const char *env = getenv("NODE_OPTIONS");
  for (size_t i = 0; env && i < nflags; i++)
    if (strstr(env, flags[i])) return 1;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1; /* cannot tell: assume the user asked */
  char buf[16384];
  ssize_t k = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (k <= 0) return 1;
  buf[k] = 0;
  for (char *p = buf; p < buf + k; p += strlen(p) + 1)
    for (size_t i = 0; i < nflags; i++)
      if (!strncmp(p, flags[i], strlen(flags[i]))) return 1;
  return 0;
}

/* V8 logging asked for (--prof, --log*, --logfile): then its log file is theirs. */
static int user_wants_log(void) {
  static const char *const f[] = {"--prof", "--log", "--logfile", "--ll-prof"};
  return cmdline_has(f, sizeof f / sizeof f[0]);
}

static int user_wants_map(void) {
  static const char *const f[] = {"--perf-basic-prof", "--perf-prof"};
  return cmdline_has(f, sizeof f / sizeof f[0]);
}

/* At exit: the map the shim made node write goes away with the process. */
static void remove_map(void) {
  if (!pm.owned || pm.owned != getpid()) return;
  char path[64];
  map_path(path, sizeof path, pm.owned);
  unlink(path);
}

void bg__perfmap_exit(void) { remove_map(); }

/* Calls V8 makes to write the perf map the shim asked for (open it, a vfprintf and an
 * fflush per piece of code, fclose) and the log that flag implies (to a temporary
 * file) are the shim's doing, never the program's violations.  They are recognised
 * by a frame inside V8's code-event loggers or logger set-up, found by symbol prefix
 * in the object that exports V8 (node itself, or Debian's libnode): the exact
 * functions differ between V8 versions (V8FileLogger/Logger, LinuxPerfBasicLogger/
 * PerfBasicLogger, inlined or not). */
#define QUIET_FUNCS 2048 /* V8FileLogger alone has a few hundred methods */
static uintptr_t quiet_lo[QUIET_FUNCS], quiet_hi[QUIET_FUNCS];
static int nquiet;

static void quiet_symbol(const char *name, uintptr_t addr, size_t size, void *arg) {
  (void)arg;
  static const char *const prefixes[] = {
      "_ZN2v88internal15CodeEventLogger",      /* base of the perf-map writer */
      "_ZN2v88internal20LinuxPerfBasicLogger", /* V8 11+ */
      "_ZN2v88internal15PerfBasicLogger",      /* V8 <= 10 */
      "_ZN2v88internal12V8FileLogger",         /* opens the map and the log; V8 11+ */
      "_ZN2v88internal6Logger",                /* V8 <= 10 */
      "_ZN2v88internal7LogFile",
      "_ZN2v88internal3Log"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    if (strncmp(name, prefixes[i], strlen(prefixes[i])) || nquiet >= QUIET_FUNCS) continue;
    quiet_lo[nquiet] = addr;
    quiet_hi[nquiet++] = addr + size;
    return;
  }
}

int bg__perfmap_quiet(const uintptr_t *pcs, int n) {
  if (!nquiet) return 0;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < nquiet; k++)
      if (pcs[i] - 1 >= quiet_lo[k] && pcs[i] - 1 < quiet_hi[k]) return 1;
  return 0;
}

void bg__perfmap_node_init(void) {
  if (bg__opt.mode == BG_ACT_OFF) return;
  /* V8's static v8::V8::SetFlagsFromString(const char*), exported by node (and by
   * Debian's libnode).  Called before main: V8 reads its flags when it creates the
   * isolate, so the perf map and interpreter trampolines are on from the start.
   * --perf-basic-prof implies V8's --log, which would write isolate-*-v8.log into the
   * working directory (an implication V8 applies when it initialises, so node's own
   * handling of the flag on its command line does not see it): the log goes to an
   * anonymous temporary file instead (--logfile=+ without the per-isolate prefix:
   * O_TMPFILE, no name, a few hundred bytes).  Every other way fails visibly: a name
   * that cannot be opened makes V8 log to stdout, /dev/null gets the prefix inserted
   * (/dev/isolate-...-null). */
  void (*set)(const char *) =
      (void (*)(const char *))bg__dlsym_quiet(RTLD_DEFAULT, "_ZN2v82V818SetFlagsFromStringEPKc");
  if (!set || user_wants_map()) return;
  bg__self.depth++;
  Dl_info di;
  struct link_map *lm = NULL;
  if (dladdr1((void *)set, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm) {
    char exe[4096];
    const char *path = lm->l_name && lm->l_name[0] ? lm->l_name : NULL;
    if (!path) {
      ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
      exe[k > 0 ? k : 0] = 0;
      path = exe;
    }
    bg__elf_functions(path, lm->l_addr, quiet_symbol, NULL);
  }
  set(user_wants_log() ? "--perf-basic-prof-only-functions --interpreted-frames-native-stack"
                       : "--perf-basic-prof-only-functions --interpreted-frames-native-stack "
                         "--no-logfile-per-isolate --logfile=+");
  pm.owned = getpid();
  __atomic_store_n(&bg__perfmap_owned, 1, __ATOMIC_RELEASE);
  bg__at_core_exit(remove_map);
  bg__self.depth--;
}

void bg__perfmap_after_fork(void) {
  if (pthread_mutex_trylock(&pm.lock) == 0)
    pthread_mutex_unlock(&pm.lock);
  else
    pthread_mutex_init(&pm.lock, NULL);
}
