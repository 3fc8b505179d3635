/* cmd_run_tree.c - `blockguard run/check` collects the ledgers of a whole process tree
 * (cmd_run_tree.h).
 *
 * Receiving: an abstract SOCK_SEQPACKET socket named by a random 128-bit name.  Each
 * image connects, sends one message with its ledger's memfd attached and hangs up.
 * A peer is accepted when SO_PEERCRED names a descendant of this CLI (its parent
 * chain in /proc reaches us; as a subreaper we adopt every orphan, so the chain holds)
 * or, for a peer already gone, one of our own uid; the abstract name is visible to
 * every user in /proc/net/unix.  The memfd must be sealed against shrinking (a peer
 * that truncated it under our read-only mapping would SIGBUS the CLI), and its content
 * must check as a ledger (guard/ledger_read.c validates everything it reads anyway).
 * The mapping is kept, the fd closed: a tree of thousands of processes costs no fds.
 *
 * Reading: an image's ledger is turned into a report model when the image has ended -
 * when we reap its process, when its ledger says it finished (exited, or exec'd and the
 * next image arrived), or at the end of the run.  Then its report= file is written
 * (symbolization happens here, once per object for the whole tree: the symbolizer's
 * caches are this process's), it is merged, and the mapping is released: memory stays
 * bounded by the images still running.
 *
 * Messages the images put in their ledger's ring (warnings, errors) are printed on the
 * CLI's stderr as they come, prefixed with the pid: the program's own streams stay
 * untouched.
 */
#define _GNU_SOURCE
#include "tools/cmd_run_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard/ledger.h"
#include "guard/ledger_read.h"
#include "report/format.h"
#include "tools/cli.h"

typedef struct entry {
  int pid, image; /* image: order of arrival among this pid's ledgers */
  const char *map;
  size_t size;
  uint64_t ring_pos;
  int done;
  int reaped, status; /* waitpid status when we reaped it */
  uint64_t end_wall;
} entry_t;

typedef struct pending {
  int fd;
} pending_t;

struct bg_tree {
  bg_tree_opts_t o;
  int lfd;
  pid_t self;
  uid_t uid;
  entry_t *e;
  int ne, cape;
  pending_t *p;
  int np, capp;
  struct {
    int pid, status;
    uint64_t when;
  } * orphans; /* reaped, no ledger of theirs */
  int norph, caporph;
  bg_merge_t merge;
  bg_model_t merged;
  int finished;
  bg_tree_proc_t *procs;
  int nprocs, capprocs;
  /* The live view (bg_tree_snapshot, `run --http`): its server thread reads what the
   * main loop changes, so every entry point holds mu; ended images' models are kept
   * (at most BG_TREE_KEEP of them) for its process filter. */
  pthread_mutex_t mu;
  bg_model_t *kept;
  int nkept, capkept;
};

#define BG_TREE_KEEP 4096

#define GROW(arr, n, cap)                                                            \
  do {                                                                               \
    if ((n) == (cap)) {                                                              \
      int nc_ = (cap) ? (cap)*2 : 16;                                                \
      void *na_ = realloc((arr), (size_t)nc_ * sizeof *(arr));                       \
      if (!na_) abort(); /* the CLI, not the program: out of memory is fatal here */ \
      (arr) = na_, (cap) = nc_;                                                      \
    }                                                                                \
  } while (0)

bg_tree_t *bg_tree_new(const bg_tree_opts_t *o, char *name, size_t namelen, char *err,
                       size_t errlen) {
  bg_tree_t *t = calloc(1, sizeof *t);
  if (!t) return snprintf(err, errlen, "out of memory"), NULL;
  t->o = *o;
  pthread_mutex_init(&t->mu, NULL);
  t->self = getpid();
  t->uid = geteuid();
  bg_merge_init(&t->merge);
  unsigned char rnd[16];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
    snprintf(err, errlen, "getrandom: %s", strerror(errno));
    free(t);
    return NULL;
  }
  int k = snprintf(name, namelen, "blockguard-%d-", (int)t->self);
  for (size_t i = 0; i < sizeof rnd && k + 2 < (int)namelen; i++)
    k += snprintf(name + k, namelen - (size_t)k, "%02x", rnd[i]);
  t->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  size_t n = strlen(name);
  memcpy(a.sun_path + 1, name, n);
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
  if (t->lfd < 0 || bind(t->lfd, (struct sockaddr *)&a, len) < 0 || listen(t->lfd, SOMAXCONN) < 0) {
    snprintf(err, errlen, "cannot listen for the process tree's ledgers: %s", strerror(errno));
    if (t->lfd >= 0) close(t->lfd);
    free(t);
    return NULL;
  }
  return t;
}

int bg_tree_fd(const bg_tree_t *t) { return t->lfd; }

/* ---- receiving ---------------------------------------------------------------------- */
static int parent_of(int pid) {
  char p[64], buf[512];
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *rp = strrchr(buf, ')');
  int ppid;
  return rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 ? ppid : -1;
}

static int descendant(const bg_tree_t *t, int pid) {
  for (int i = 0; i < 256 && pid > 1; i++) {
    pid = parent_of(pid);
    if (pid == t->self) return 1;
  }
  return 0;
}

static void reject(bg_tree_t *t, int pid, const char *why) {
  fprintf(t->o.msgs, "blockguard: ignored a ledger from pid %d: %s\n", pid, why);
}

/* One connection: its message, the memfd, the checks.  1 done, 0 not yet readable. */
static int receive(bg_tree_t *t, int c) {
  char payload[8];
  struct iovec iov = {payload, sizeof payload};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n = recvmsg(c, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  int fd = -1;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); n > 0 && h; h = CMSG_NXTHDR(&msg, h))
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
        h->cmsg_len == CMSG_LEN(sizeof(int)))
      memcpy(&fd, CMSG_DATA(h), sizeof fd);
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) cred.pid = -1, cred.uid = (uid_t)-1;
  if (n <= 0 || fd < 0) {
    if (fd >= 0) close(fd);
    return 1; /* hung up without a ledger (killed between connect and send) */
  }
  int pid;
  memcpy(&pid, payload + 4, sizeof pid);
  if (n != (ssize_t)sizeof payload || memcmp(payload, "BGL1", 4) || pid != cred.pid) {
    reject(t, cred.pid, "not a blockguard message");
    close(fd);
    return 1;
  }
  if (!descendant(t, pid) && !(cred.uid == t->uid && kill(pid, 0) < 0)) {
    reject(t, pid, "not a descendant of this blockguard");
    close(fd);
    return 1;
  }
  struct stat st;
  int seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) < 0 || seals < 0 || !(seals & F_SEAL_SHRINK) || st.st_size <= 0) {
    reject(t, pid, "not a sealed memfd");
    close(fd);
    return 1;
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  char err[256];
  if (map == MAP_FAILED) {
    reject(t, pid, strerror(errno));
    return 1;
  }
  if (bg__ledger_check(map, (size_t)st.st_size, err, sizeof err) < 0 ||
      ((const bg__ledger_hdr_t *)map)->pid != pid) {
    reject(t, pid, err);
    munmap(map, (size_t)st.st_size);
    return 1;
  }
  GROW(t->e, t->ne, t->cape);
  entry_t *e = &t->e[t->ne++];
  memset(e, 0, sizeof *e);
  e->pid = pid;
  e->map = map;
  e->size = (size_t)st.st_size;
  for (int i = 0; i < t->ne - 1; i++) e->image += t->e[i].pid == pid;
  return 1;
}

static void accept_all(bg_tree_t *t) {
  for (;;) {
    int c = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) break;
    GROW(t->p, t->np, t->capp);
    t->p[t->np++].fd = c;
  }
  /* In accept order, and kept in that order: an image's ledger is sent before it
   * exec's, so its connection was accepted before the next image's; taking them in
   * that order is what numbers a pid's images right.  (A swap-remove here let a
   * pending pre-exec ledger be taken after the new image's: the new image counted as
   * the first, and `sort` in `seq | sort` was reported as "ran without the shim".) */
  int kept = 0;
  for (int i = 0; i < t->np; i++) {
    if (receive(t, t->p[i].fd))
      close(t->p[i].fd);
    else
      t->p[kept++] = t->p[i];
  }
  t->np = kept;
}

/* ---- messages ------------------------------------------------------------------------- */
struct msg_ctx {
  bg_tree_t *t;
  int pid;
};

static void print_msg(const char *msg, size_t len, void *arg) {
  struct msg_ctx *c = arg;
  if (len >= 12 && !memcmp(msg, "blockguard: ", 12)) msg += 12, len -= 12;
  while (len && msg[len - 1] == '\n') len--;
  fprintf(c->t->o.msgs, "blockguard: [pid %d] %.*s\n", c->pid, (int)len, msg);
}

static void drain_ring(bg_tree_t *t, entry_t *e, int final) {
  struct msg_ctx c = {t, e->pid};
  uint64_t lost = bg__ledger_ring_read(e->map, e->size, &e->ring_pos, final, print_msg, &c);
  if (lost)
    fprintf(t->o.msgs,
            "blockguard: [pid %d] (%" PRIu64 " bytes of messages lost: the ring was full)\n",
            e->pid, lost);
  fflush(t->o.msgs);
}

/* ---- an image ends ----------------------------------------------------------------------- */
static char *cmd_of(const bg_model_t *m) {
  char buf[256];
  bg_model_cmdline(m, buf, sizeof buf);
  return strdup(buf[0] ? buf : "?");
}

static bg_tree_proc_t *new_proc(bg_tree_t *t) {
  GROW(t->procs, t->nprocs, t->capprocs);
  bg_tree_proc_t *p = &t->procs[t->nprocs++];
  memset(p, 0, sizeof *p);
  return p;
}

static int later_image(const bg_tree_t *t, const entry_t *e) {
  for (int i = 0; i < t->ne; i++)
    if (t->e[i].pid == e->pid && t->e[i].image > e->image) return 1;
  return 0;
}

/* report= for one image: the pattern with its pid, relative to the cwd it started in;
 * an image that exec'd into another one of the same pid gets ".imageN" before the
 * extension (both are reports of that pid). */
static int write_report(bg_tree_t *t, const entry_t *e, const bg_model_t *m, int exec_before,
                        char *why, size_t whylen) {
  if (!t->o.report) return 0;
  char path[4096], expanded[4096];
  size_t o = 0;
  for (const char *p = t->o.report; *p && o + 16 < sizeof expanded; p++) {
    if (p[0] == '%' && p[1] == 'p')
      o += (size_t)snprintf(expanded + o, sizeof expanded - o, "%d", e->pid), p++;
    else if (p[0] == '%' && p[1] == '%')
      expanded[o++] = '%', p++;
    else
      expanded[o++] = *p;
  }
  expanded[o] = 0;
  static bg__lfacts_t f; /* 8 KiB */
  char err[256];
  if (expanded[0] != '/' && bg__ledger_facts(e->map, e->size, &f, err, sizeof err) == 0 &&
      f.cwd[0] == '/')
    snprintf(path, sizeof path, "%.2000s/%.2000s", f.cwd, expanded);
  else
    snprintf(path, sizeof path, "%.4000s", expanded);
  if (exec_before) {
    char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    char tail[4096] = "";
    if (dot && (!slash || dot > slash + 1)) snprintf(tail, sizeof tail, "%s", dot), *dot = 0;
    size_t l = strlen(path);
    snprintf(path + l, sizeof path - l, ".image%d%s", e->image, tail);
  }
  size_t len = 0;
  char *text = bg_render_n(m, t->o.format, NULL, &len), werr[1024];
  int rc = 0;
  if (!text || bg_write_atomic(path, text, len, 0600 | BG_WRITE_NOSYNC, werr, sizeof werr) < 0) {
    snprintf(why, whylen, "its report could not be written: %s", text ? werr : "out of memory");
    rc = -1;
  }
  free(text);
  return rc;
}

static void finalize(bg_tree_t *t, entry_t *e, int running, int wait_child) {
  if (e->done) return;
  e->done = 1;
  drain_ring(t, e, !running);
  bg__lread_t in = {.base = e->map, .size = e->size, .inflight = 1, .running = running};
  if (e->reaped) {
    in.ended = WIFSIGNALED(e->status) ? 2 : 1;
    in.signal = WIFSIGNALED(e->status) ? WTERMSIG(e->status) : 0;
    in.status = WIFEXITED(e->status) ? WEXITSTATUS(e->status) : 0;
    in.end_wall_ns = e->end_wall;
  }
  if (running)
    in.incomplete = wait_child ? "still running when the program exited (--wait=child)"
                               : "still running when the tree ended (another subreaper adopted it)";
  bg_model_t m;
  char err[256];
  bg_tree_proc_t *p = new_proc(t);
  p->pid = e->pid;
  p->image = e->image;
  p->ledger = 1;
  if (bg__ledger_model(&in, &m, err, sizeof err) < 0) {
    p->cmd = strdup("?");
    char buf[400];
    snprintf(buf, sizeof buf, "its ledger could not be read: %s", err);
    p->problem = strdup(buf);
  } else {
    m.image = e->image;
    int exec_before = m.exit.how && !strcmp(m.exit.how, "exec") && later_image(t, e);
    char werr[1200];
    int written = write_report(t, e, &m, exec_before, werr, sizeof werr);
    p->cmd = cmd_of(&m);
    for (int i = 0; i < m.nsites; i++)
      if (!m.sites[i].allowed && m.sites[i].count) p->violations += m.sites[i].count, p->sites++;
    const bg__ledger_hdr_t *h = (const bg__ledger_hdr_t *)e->map;
    char buf[1200];
    if (h->options_invalid && m.unguarded_reason) {
      p->invalid_options = 1;
      p->problem = strdup(m.unguarded_reason);
    } else if (m.unguarded_reason) {
      snprintf(buf, sizeof buf, "not guarded: %s", m.unguarded_reason);
      p->problem = strdup(buf);
    } else if (m.incomplete_reason) {
      snprintf(buf, sizeof buf, "incomplete: %s", m.incomplete_reason);
      p->problem = strdup(buf);
    } else if (written < 0) {
      p->problem = strdup(werr);
    }
    bg_merge_add(&t->merge, &m);
    if (t->o.keep_models && t->nkept < BG_TREE_KEEP) {
      GROW(t->kept, t->nkept, t->capkept);
      t->kept[t->nkept++] = m; /* the live view's process filter */
    } else {
      bg_model_free(&m);
    }
  }
  munmap((void *)e->map, e->size);
  e->map = NULL;
}

/* An image that exec'd and whose pid sent nothing after: the new program ran without
 * the shim.  Why, when the file says so. */
static void exec_unguarded(bg_tree_t *t, const entry_t *e, const bg__lfacts_t *f) {
  if (f->exec_env == BG_LEXEC_OTHER_CLI) return; /* a nested run/check reports that one */
  const char *path = f->exec_path;
  char why[2400], reason[1100];
  const char *r = path[0] ? bg_cli_unguardable(path, reason, sizeof reason) : NULL;
  if (!r)
    r = f->exec_env == BG_LEXEC_NO_PRELOAD ? "LD_PRELOAD removed from its environment"
        : f->exec_env == BG_LEXEC_NO_OPTIONS
            ? "BLOCKGUARD_OPTIONS removed from its environment, or set without this run's collect="
            : "the shim did not start in it";
  snprintf(why, sizeof why,
           "exec'd %.1000s, which ran without the shim (%s): its blocking calls "
           "were not seen",
           path[0] ? path : "?", r);
  bg_tree_proc_t *p = new_proc(t);
  p->pid = e->pid;
  p->image = e->image + 1;
  p->cmd = strdup(path[0] ? path : "?");
  p->problem = strdup(why);
}

static void reaped(bg_tree_t *t, pid_t pid, int status, uint64_t when) {
  accept_all(t); /* a ledger it sent is already queued: take it first */
  entry_t *last = NULL;
  for (int i = 0; i < t->ne; i++)
    if (t->e[i].pid == pid && (!last || t->e[i].image > last->image)) last = &t->e[i];
  if (last && last->done) return; /* it said it exited (bg_tree_poll read it already) */
  if (!last) {
    GROW(t->orphans, t->norph, t->caporph);
    t->orphans[t->norph].pid = pid;
    t->orphans[t->norph].status = status;
    t->orphans[t->norph++].when = when;
    return;
  }
  last->reaped = 1;
  last->status = status;
  last->end_wall = when;
  /* its last ledger says it exec'd, and the new image sent nothing (taken above) */
  bg__lfacts_t *f = malloc(sizeof *f);
  char err[128];
  if (f && bg__ledger_facts(last->map, last->size, f, err, sizeof err) == 0 &&
      f->status == BG_LST_EXEC)
    exec_unguarded(t, last, f);
  free(f);
  for (int i = 0; i < t->ne; i++) /* its earlier images (exec'd) end with it */
    if (t->e[i].pid == pid && !t->e[i].done) finalize(t, &t->e[i], 0, 0);
}

static void poll_all(bg_tree_t *t) {
  accept_all(t);
  for (int i = 0; i < t->ne; i++) {
    entry_t *e = &t->e[i];
    if (e->done) continue;
    drain_ring(t, e, 0);
    uint32_t st = __atomic_load_n(&((const bg__ledger_hdr_t *)e->map)->status, __ATOMIC_ACQUIRE);
    /* ended by its own word: exited (its last act), or exec'd and the next image came */
    if (st == BG_LST_EXITED || (st == BG_LST_EXEC && later_image(t, e))) finalize(t, e, 0, 0);
  }
}

/* Our children still running (adopted daemons, with --wait=child): pids into out. */
static int children(pid_t self, int *out, int max) {
  DIR *d = opendir("/proc");
  int n = 0;
  struct dirent *de;
  while (d && n < max && (de = readdir(d))) {
    char *end;
    long pid = strtol(de->d_name, &end, 10);
    if (*end || pid <= 1) continue;
    if (parent_of((int)pid) == (int)self) out[n++] = (int)pid;
  }
  if (d) closedir(d);
  return n;
}

static void finish(bg_tree_t *t, int wait_child) {
  accept_all(t);
  if (wait_child) {
    /* Processes left running may not have sent their ledger yet (a daemon forked a
     * moment before its parent exited): give them a second. */
    int kids[256], nk = children(t->self, kids, 256);
    for (int tries = 0; tries < 100; tries++) {
      int missing = 0;
      for (int i = 0; i < nk; i++) missing += !bg_tree_saw(t, kids[i]) && kill(kids[i], 0) == 0;
      if (!missing) break;
      struct timespec ms = {0, 10000000};
      nanosleep(&ms, NULL);
      accept_all(t);
    }
    for (int i = 0; i < nk; i++) {
      if (bg_tree_saw(t, kids[i]) || kill(kids[i], 0) < 0) continue;
      bg_tree_proc_t *p = new_proc(t);
      p->pid = kids[i];
      p->cmd = strdup("?");
      p->problem = strdup(
          "still running when the program exited (--wait=child), and no ledger "
          "came from it: the shim did not run in it");
    }
  }
  poll_all(t);
  for (int i = 0; i < t->ne; i++) {
    entry_t *e = &t->e[i];
    if (e->done) continue;
    const bg__ledger_hdr_t *h = (const bg__ledger_hdr_t *)e->map;
    uint32_t st = __atomic_load_n(&h->status, __ATOMIC_ACQUIRE);
    int alive = !e->reaped && bg__ledger_alive(e->pid, h->start_wall_ns);
    /* still running: left behind by --wait=child, or it left the tree (adopted by a
     * nearer subreaper): its report so far is incomplete either way */
    if (st == BG_LST_EXEC && !later_image(t, e)) {
      static bg__lfacts_t f;
      char err[128];
      if (bg__ledger_facts(e->map, e->size, &f, err, sizeof err) == 0 && (!alive || !wait_child))
        exec_unguarded(t, e, &f);
    }
    finalize(t, e, alive && st != BG_LST_EXEC, wait_child);
  }
  for (int i = 0; i < t->norph; i++) {
    bg_tree_proc_t *p = new_proc(t);
    char why[300];
    int s = t->orphans[i].status;
    snprintf(why, sizeof why,
             "no ledger came from it (%s %d): the shim did not run in it - a "
             "static or setuid program, LD_PRELOAD removed from its environment, or another "
             "network namespace",
             WIFSIGNALED(s) ? "killed by signal" : "exit status",
             WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s));
    p->pid = t->orphans[i].pid;
    p->cmd = strdup("?");
    p->problem = strdup(why);
  }
  bg_merge_finish(&t->merge, &t->merged);
  t->finished = 1;
}

/* ---- entry points: the main loop's, and the live view's ------------------------------- */
void bg_tree_accept(bg_tree_t *t) {
  pthread_mutex_lock(&t->mu);
  accept_all(t);
  pthread_mutex_unlock(&t->mu);
}

void bg_tree_reaped(bg_tree_t *t, pid_t pid, int status, uint64_t when) {
  pthread_mutex_lock(&t->mu);
  reaped(t, pid, status, when);
  pthread_mutex_unlock(&t->mu);
}

void bg_tree_poll(bg_tree_t *t) {
  pthread_mutex_lock(&t->mu);
  poll_all(t);
  pthread_mutex_unlock(&t->mu);
}

void bg_tree_finish(bg_tree_t *t, int wait_child) {
  pthread_mutex_lock(&t->mu);
  finish(t, wait_child);
  pthread_mutex_unlock(&t->mu);
}

/* Adds one image's model (copied unless owned) and its process record to g. */
static int add_image(bg_merge_t *g, bg_model_t *m, int owned, int running, bg_rproc_t **procs,
                     int *nprocs) {
  bg_rproc_t *np = realloc(*procs, (size_t)(*nprocs + 1) * sizeof *np);
  if (!np) return -1;
  *procs = np;
  bg_rproc_from_model(&np[(*nprocs)++], m, running);
  return owned ? bg_merge_add_owned(g, m) : bg_merge_add(g, m);
}

int bg_tree_snapshot(bg_tree_t *t, int pid, bg_model_t *out, char *err, size_t errlen) {
  bg_merge_t g;
  bg_merge_init(&g);
  bg_rproc_t *procs = NULL;
  int nprocs = 0, rc = 0, found = 0;
  pthread_mutex_lock(&t->mu);
  /* ended images: all of them merged so far, or the filtered process's kept models */
  if (!pid && (t->finished || t->merge.nreports)) /* none ended yet: nothing to add */
    rc = bg_merge_add(&g, t->finished ? &t->merged : &t->merge.m);
  for (int i = 0; i < t->nkept && !rc; i++) {
    if (pid && t->kept[i].pid != pid) continue;
    found = 1;
    if (pid) {
      rc = add_image(&g, &t->kept[i], 0, 0, &procs, &nprocs);
    } else { /* merged above: only its record */
      bg_rproc_t *np = realloc(procs, (size_t)(nprocs + 1) * sizeof *np);
      if (!np)
        rc = -1;
      else
        procs = np, bg_rproc_from_model(&procs[nprocs++], &t->kept[i], 0);
    }
  }
  /* running images: their ledgers as they are now (calls in flight included) */
  for (int i = 0; i < t->ne && !rc; i++) {
    entry_t *e = &t->e[i];
    if (e->done || !e->map || (pid && e->pid != pid)) continue;
    bg__lread_t in = {.base = e->map, .size = e->size, .inflight = 1, .running = 1};
    bg_model_t m;
    char lerr[256];
    if (bg__ledger_model(&in, &m, lerr, sizeof lerr) < 0) continue; /* half-written: next poll */
    m.image = e->image;
    found = 1;
    rc = add_image(&g, &m, 1, 1, &procs, &nprocs);
    bg_model_free(&m);
  }
  pthread_mutex_unlock(&t->mu);
  bg_merge_finish(&g, out);
  if (rc < 0) snprintf(err, errlen, "out of memory");
  if (pid && !found && !rc) rc = 1;
  if (rc) {
    for (int i = 0; i < nprocs; i++) free(procs[i].cmd), free(procs[i].state);
    free(procs);
    bg_model_free(out);
    return rc < 0 ? -1 : 1;
  }
  /* the merge's own list (images merged before) is replaced by the full one */
  for (int i = 0; i < out->nprocesses; i++)
    free(out->processes[i].cmd), free(out->processes[i].state);
  free(out->processes);
  out->processes = procs;
  out->nprocesses = nprocs;
  return 0;
}

const bg_model_t *bg_tree_merged(bg_tree_t *t) { return &t->merged; }
int bg_tree_nprocs(const bg_tree_t *t) { return t->nprocs; }
const bg_tree_proc_t *bg_tree_proc(const bg_tree_t *t, int i) { return &t->procs[i]; }

int bg_tree_saw(const bg_tree_t *t, pid_t pid) {
  for (int i = 0; i < t->ne; i++)
    if (t->e[i].pid == pid) return 1;
  return 0;
}

/* Reaped processes without a ledger that were only the program failing to start (the
 * CLI's own exec of a missing command) are not worth a word: the caller drops them. */
void bg_tree_free(bg_tree_t *t) {
  if (!t) return;
  for (int i = 0; i < t->ne; i++)
    if (t->e[i].map) munmap((void *)t->e[i].map, t->e[i].size);
  for (int i = 0; i < t->np; i++) close(t->p[i].fd);
  for (int i = 0; i < t->nprocs; i++) free(t->procs[i].cmd), free(t->procs[i].problem);
  free(t->procs);
  free(t->e), free(t->p), free(t->orphans);
  if (t->finished) bg_model_free(&t->merged);
  for (int i = 0; i < t->nkept; i++) bg_model_free(&t->kept[i]);
  free(t->kept);
  pthread_mutex_destroy(&t->mu);
  close(t->lfd);
  free(t);
}
