/* c_track.c - cases for the state-tracking wrappers (BG_TRACK rows).  Each makes its
 * tracked call (result compared with the bare run) and then one measured call whose
 * verdict depends on the tracking being right:
 *   BLOCK     the fd is blocking *now*, although the shim once knew it as O_NONBLOCK
 *             (closed and reused, flags cleared through a dup, FIONBIO 0...): the read
 *             must be a violation, a stale cache would call it exempt;
 *   NONBLOCK  the fd was created or made O_NONBLOCK by the tracked call: exempt.
 * Thread rows (pthread_create, pthread_setname_np, prctl) guard by name instead of by
 * the API (SELFGUARD): guard=1 runs under a name that threads=name:bgt-g* selects. */
#include <dirent.h>
#include <dlfcn.h>
#include <mqueue.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include "bgt.h"

int __close(int);
int __dup2(int, int);

/* A pipe created behind the shim's back (raw syscall: not tracked), data written. */
static void raw_pipe(int p[2], const char *data) {
  if (syscall(SYS_pipe2, p, 0) < 0) abort();
  if (data) write(p[1], data, strlen(data));
}

static void read_out(bgt_t *t, int fd) {
  char buf[32] = {0};
  long r = CALL(read(fd, buf, 8));
  OUT("buf='%.*s'", r > 0 ? (int)r : 0, buf);
}

/* ---- closing: an O_NONBLOCK fd closed, its number reused by a blocking pipe ------- */
#define CLOSE_CASE(name, closer)                                                        \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    int nb[2], p[2];                                                                    \
    if (pipe2(nb, O_NONBLOCK) < 0) abort();                                             \
    int fd = nb[0];                                                                     \
    close(nb[1]);                                                                       \
    OUT("close=%d", closer);                                                            \
    raw_pipe(p, "reused");                                                              \
    OUT("same_number=%d", p[0] == fd);                                                  \
    read_out(t, p[0]);                                                                  \
    close(p[0]), close(p[1]);                                                           \
  }
CLOSE_CASE(close, close(fd))
CLOSE_CASE(__close, __close(fd))
CLOSE_CASE(close_range, close_range((unsigned)fd, (unsigned)fd, 0))

CASE(closefrom) {
  NO_NONBLOCK();
  int nb[2], p[2];
  /* Make the O_NONBLOCK pair the highest fds, so closefrom takes only them. */
  if (pipe2(nb, O_NONBLOCK) < 0) abort();
  int fd = nb[0] < nb[1] ? nb[0] : nb[1];
  closefrom(fd);
  OUT("closed=%d", fcntl(nb[0], F_GETFD) < 0 && fcntl(nb[1], F_GETFD) < 0);
  raw_pipe(p, "reused");
  OUT("same_number=%d", p[0] == fd);
  read_out(t, p[0]);
  close(p[0]), close(p[1]);
}

CASE(closedir) {
  NO_NONBLOCK();
  DIR *d = opendir(bgt_path(""));
  if (!d) abort();
  int fd = dirfd(d);
  /* A directory fd from opendir has O_NONBLOCK: a guarded exempt call caches it. */
  char c;
  GUARDED(read(fd, &c, 0));
  OUT("closedir=%d", closedir(d));
  int p[2];
  raw_pipe(p, "reused");
  OUT("same_number=%d", p[0] == fd);
  read_out(t, p[0]);
  close(p[0]), close(p[1]);
}

/* ---- dup family: flags live in the shared open file description ------------------ */
#define DUP_CASE(name, dupexpr)                                                         \
  CASE(name) {                                                                          \
    int p[2], spare[2];                                                                 \
    if (pipe2(p, O_NONBLOCK) < 0 || pipe(spare) < 0) abort();                           \
    int old = p[0], target = spare[0];                                                  \
    (void)target;                                                                       \
    int d = dupexpr;                                                                    \
    OUT("dup_ok=%d", d >= 0);                                                           \
    char c_;                                                                            \
    GUARDED(read(d, &c_, 0)); /* exempt (O_NONBLOCK): the shim now knows d as such */   \
    if (!NB) {                                                                          \
      /* Clear O_NONBLOCK through the original: the duplicate is blocking now. */       \
      fcntl(old, F_SETFL, fcntl(old, F_GETFL) & ~O_NONBLOCK);                           \
      write(p[1], "shared", 6);                                                         \
    }                                                                                   \
    read_out(t, d);                                                                     \
    close(p[0]), close(p[1]), close(spare[0]), close(spare[1]);                         \
    if (d != target) close(d);                                                          \
  }
DUP_CASE(dup, dup(old))
DUP_CASE(dup2, dup2(old, target))
DUP_CASE(__dup2, __dup2(old, target))
DUP_CASE(dup3, dup3(old, target, O_CLOEXEC))

/* ---- ioctl(FIONBIO) ------------------------------------------------------------------ */
CASE(ioctl) {
  int p[2], on = NB;
  if (pipe2(p, NB ? 0 : O_NONBLOCK) < 0) abort();
  OUT("ioctl=%d", ioctl(p[0], FIONBIO, &on));
  if (!NB) write(p[1], "ioctl", 5);
  read_out(t, p[0]);
  close(p[0]), close(p[1]);
}

/* ---- creation flags ------------------------------------------------------------------ */
CASE(socket) {
  struct sockaddr_un a;
  int l = bgt_listener(&a);
  int s = socket(AF_UNIX, SOCK_STREAM | (NB ? SOCK_NONBLOCK : 0), 0);
  OUT("socket_ok=%d", s >= 0);
  CALL(connect(s, (struct sockaddr *)&a, sizeof a));
  close(s), close(l);
  unlink(a.sun_path);
}

CASE(socketpair) {
  int sv[2];
  OUT("r=%d", socketpair(AF_UNIX, SOCK_STREAM | (NB ? SOCK_NONBLOCK : 0), 0, sv));
  if (!NB) write(sv[1], "pair", 4);
  read_out(t, sv[0]);
  close(sv[0]), close(sv[1]);
}

CASE(pipe) {
  NO_NONBLOCK();
  int p[2];
  OUT("r=%d", pipe(p));
  write(p[1], "pipe", 4);
  read_out(t, p[0]);
  close(p[0]), close(p[1]);
}

CASE(pipe2) {
  int p[2];
  OUT("r=%d", pipe2(p, NB ? O_NONBLOCK : 0));
  if (!NB) write(p[1], "pipe2", 5);
  read_out(t, p[0]);
  close(p[0]), close(p[1]);
}

CASE(eventfd) {
  int fd = eventfd(NB ? 0 : 3, NB ? EFD_NONBLOCK : 0);
  uint64_t v = 0;
  CALL(read(fd, &v, sizeof v));
  OUT("value=%llu", (unsigned long long)v);
  close(fd);
}

CASE(timerfd_create) {
  int fd = timerfd_create(CLOCK_MONOTONIC, NB ? TFD_NONBLOCK : 0);
  if (!NB) {
    struct itimerspec its = {{0, 0}, {0, 1000000}};
    timerfd_settime(fd, 0, &its, NULL);
  }
  uint64_t v = 0;
  CALL(read(fd, &v, sizeof v));
  OUT("expirations=%llu", (unsigned long long)v);
  close(fd);
}

CASE(signalfd) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  if (!NB) raise(SIGUSR2);
  int fd = signalfd(-1, &set, NB ? SFD_NONBLOCK : 0);
  struct signalfd_siginfo si = {0};
  CALL(read(fd, &si, sizeof si));
  OUT("signo=%u", si.ssi_signo);
  close(fd);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&set, NULL, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- memory: the range leaves the Python reader's readability cache (no verdict
 * depends on it here; the result must be the real call's, then a blocking read is
 * still a violation) ---------------------------------------------------------------- */
CASE(munmap) {
  NO_NONBLOCK();
  char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  OUT("munmap=%d", munmap(p + 4096, 4096));
  errno = 0;
  OUT("bad=%d errno=%d", munmap((void *)1, 4096), errno);
  munmap(p, 4096);
  int q[2];
  raw_pipe(q, "unmapped");
  read_out(t, q[0]);
  close(q[0]), close(q[1]);
}

CASE(mprotect) {
  NO_NONBLOCK();
  char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  OUT("none=%d", mprotect(p, 4096, PROT_NONE));
  OUT("rw=%d", mprotect(p, 4096, PROT_READ | PROT_WRITE));
  p[0] = 'x';
  munmap(p, 4096);
  int q[2];
  raw_pipe(q, "protected");
  read_out(t, q[0]);
  close(q[0]), close(q[1]);
}

CASE(mremap) {
  NO_NONBLOCK();
  char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  p[0] = 'm';
  char *n = mremap(p, 4096, 8192, MREMAP_MAYMOVE);
  OUT("moved_ok=%d byte=%c", n != MAP_FAILED, n != MAP_FAILED ? n[0] : '?');
  if (n != MAP_FAILED) munmap(n, 8192);
  int q[2];
  raw_pipe(q, "remapped");
  read_out(t, q[0]);
  close(q[0]), close(q[1]);
}

static int inotify_event(int fd) {
  const char *dir = bgt_path("");
  inotify_add_watch(fd, dir, IN_CREATE);
  int c = creat(bgt_path("inotified"), 0644);
  close(c);
  return unlink(bgt_path("inotified"));
}

CASE(inotify_init) {
  NO_NONBLOCK();
  int fd = inotify_init();
  inotify_event(fd);
  char buf[256];
  CALLX(read(fd, buf, sizeof buf), r_ > 0);
  close(fd);
}

CASE(inotify_init1) {
  int fd = inotify_init1(NB ? IN_NONBLOCK : 0);
  if (!NB) inotify_event(fd);
  char buf[256];
  CALLX(read(fd, buf, sizeof buf), r_ > 0 ? 1 : r_);
  close(fd);
}

CASE(epoll_create1) {
  NO_NONBLOCK();
  int ep = epoll_create1(0);
  OUT("ok=%d", ep >= 0);
  char c;
  CALL(read(ep, &c, 1)); /* a blocking fd: counts, and fails with EINVAL */
  close(ep);
}

CASE(memfd_create) {
  NO_NONBLOCK();
  int fd = memfd_create("bgt", 0);
  write(fd, "memfd", 5);
  lseek(fd, 0, SEEK_SET);
  read_out(t, fd);
  close(fd);
}

CASE(mq_setattr) {
  NO_NONBLOCK();
  char name[64];
  snprintf(name, sizeof name, "/bgt.attr.%d", (int)getpid());
  struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
  mqd_t q = mq_open(name, O_CREAT | O_RDWR | O_NONBLOCK, 0600, &a);
  mq_unlink(name);
  char buf[16] = {0};
  GUARDED(mq_receive(q, buf, sizeof buf, NULL)); /* empty, exempt: caches O_NONBLOCK */
  struct mq_attr blocking = {.mq_flags = 0};
  OUT("setattr=%d", mq_setattr(q, &blocking, NULL));
  mq_send(q, "mq", 2, 0);
  CALL(mq_receive(q, buf, sizeof buf, NULL));
  OUT("buf='%s'", buf);
  mq_close(q);
}

/* mq_open with O_NONBLOCK: exempt; without: a violation (the flag recorded at creation). */
CASE(mq_open) {
  char name[64];
  snprintf(name, sizeof name, "/bgt.open.%d", (int)getpid());
  struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
  mqd_t q = mq_open(name, O_CREAT | O_RDWR | (NB ? O_NONBLOCK : 0), 0600, &a);
  mq_unlink(name);
  OUT("open_ok=%d", q >= 0);
  char buf[16] = {0};
  if (!NB) mq_send(q, "mq", 2, 0);
  CALL(mq_receive(q, buf, sizeof buf, NULL));
  mq_close(q);
}

/* mq_close: a blocking queue closed, its number reused by a queue the shim did not see
 * created (the raw system call), O_NONBLOCK in the exempt form: it must be probed, not
 * taken for the old blocking queue. */
CASE(mq_close) {
  char name[64];
  snprintf(name, sizeof name, "/bgt.close.%d", (int)getpid());
  struct mq_attr a = {.mq_maxmsg = 4, .mq_msgsize = 16};
  mqd_t q = mq_open(name, O_CREAT | O_RDWR, 0600, &a);
  OUT("close=%d", mq_close(q));
  int q2 = (int)syscall(SYS_mq_open, name + 1, O_RDWR | (NB ? O_NONBLOCK : 0), 0600, &a);
  mq_unlink(name);
  OUT("same_number=%d", q2 == q);
  char buf[16] = {0};
  if (!NB) mq_send(q2, "mq", 2, 0);
  CALL(mq_receive(q2, buf, sizeof buf, NULL)); /* exempt form: empty, EAGAIN */
  close(q2);
}

/* ---- threads, guarded by name ------------------------------------------------------ */
CASE_OPTS(pthread_setname_np, "threads=name:bgt-g*")
CASE_OPTS(prctl, "threads=name:bgt-g*")
CASE_OPTS(pthread_create, "threads=name:bgt-g*")

CASE(pthread_setname_np) {
  NO_NONBLOCK();
  SELFGUARD();
  int p[2];
  bgt_pipe(p, "named");
  OUT("setname=%d", pthread_setname_np(pthread_self(), t->guard ? "bgt-g1" : "bgt-u1"));
  read_out(t, p[0]);
  pthread_setname_np(pthread_self(), "bgt-main");
  close(p[0]), close(p[1]);
}

CASE(prctl) {
  NO_NONBLOCK();
  SELFGUARD();
  int p[2];
  bgt_pipe(p, "named");
  OUT("prctl=%d", prctl(PR_SET_NAME, t->guard ? "bgt-g2" : "bgt-u2", 0, 0, 0));
  read_out(t, p[0]);
  prctl(PR_SET_NAME, "bgt-main", 0, 0, 0);
  close(p[0]), close(p[1]);
}

struct child_arg {
  bgt_t *t;
  int fd;
};

static void *named_child(void *arg) {
  struct child_arg *c = arg;
  read_out(c->t, c->fd); /* guarded when the creator's name was bgt-g* */
  return NULL;
}

CASE(pthread_create) {
  NO_NONBLOCK();
  SELFGUARD();
  int p[2];
  bgt_pipe(p, "child");
  struct child_arg c = {t, p[0]};
  pthread_setname_np(pthread_self(), t->guard ? "bgt-g3" : "bgt-u3");
  pthread_t th;
  int r = pthread_create(&th, NULL, named_child, &c);
  pthread_setname_np(pthread_self(), "bgt-main"); /* the creator itself stops matching */
  pthread_join(th, NULL);
  OUT("create=%d", r);
  close(p[0]), close(p[1]);
}

/* ---- lookups by name through a libc handle: the guarded entry point --------------- */
#define LOOKUP_CASE(name, lookup)                                                       \
  CASE(name) {                                                                          \
    void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);                              \
    int (*us)(useconds_t) = (int (*)(useconds_t))(h ? lookup : NULL);                   \
    OUT("found=%d", us != NULL);                                                        \
    if (us) CALL(us(NB ? 0 : 1000));                                                    \
    if (h) dlclose(h);                                                                  \
  }
LOOKUP_CASE(dlsym, dlsym(h, "usleep"))
LOOKUP_CASE(dlvsym, dlvsym(h, "usleep", "GLIBC_2.2.5"))

/* ---- exits that skip destructors (the shim writes its report from them) ---------- */
#define EXIT_CASE(name)                                                                 \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    pid_t pid = fork();                                                                 \
    if (pid == 0) name(7);                                                              \
    int st = 0;                                                                         \
    CALLX(waitpid(pid, &st, 0), r_ == pid);                                             \
    OUT("exited=%d status=%d", WIFEXITED(st), WEXITSTATUS(st));                         \
  }
EXIT_CASE(_exit)
EXIT_CASE(_Exit)
EXIT_CASE(quick_exit)

/* ---- exec: the image is replaced; a failed exec returns exactly what libc says ------ */
static char *const sh_argv[] = {"sh", "-c", "exit 5", NULL};
static char *const bad_argv[] = {"bgt-none", NULL};
extern char **environ;
#define EXEC_CASE(name, bad, good)                                                      \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    errno = 0;                                                                          \
    int bad_r = (bad);                                                                  \
    OUT("failed=%d errno=%d ", bad_r, errno);                                           \
    pid_t pid = fork();                                                                 \
    if (pid == 0) {                                                                     \
      (good);                                                                           \
      _exit(99);                                                                        \
    }                                                                                   \
    int st = 0;                                                                         \
    CALLX(waitpid(pid, &st, 0), r_ == pid);                                             \
    OUT("exited=%d status=%d", WIFEXITED(st), WEXITSTATUS(st));                         \
  }
EXEC_CASE(execve, execve("/nonexistent/bgt", bad_argv, environ),
          execve("/bin/sh", sh_argv, environ))
EXEC_CASE(execv, execv("/nonexistent/bgt", bad_argv), execv("/bin/sh", sh_argv))
EXEC_CASE(execvp, execvp("bgt-no-such-command", bad_argv), execvp("sh", sh_argv))
EXEC_CASE(execvpe, execvpe("bgt-no-such-command", bad_argv, environ),
          execvpe("sh", sh_argv, environ))
EXEC_CASE(execl, execl("/nonexistent/bgt", "bgt", (char *)NULL),
          execl("/bin/sh", "sh", "-c", "exit 5", (char *)NULL))
EXEC_CASE(execle, execle("/nonexistent/bgt", "bgt", (char *)NULL, environ),
          execle("/bin/sh", "sh", "-c", "exit 5", (char *)NULL, environ))
EXEC_CASE(execlp, execlp("bgt-no-such-command", "bgt", (char *)NULL),
          execlp("sh", "sh", "-c", "exit 5", (char *)NULL))
EXEC_CASE(fexecve, fexecve(-1, bad_argv, environ),
          fexecve(open("/bin/sh", O_RDONLY), sh_argv, environ))
EXEC_CASE(execveat, execveat(AT_FDCWD, "/nonexistent/bgt", bad_argv, environ, 0),
          execveat(AT_FDCWD, "/bin/sh", sh_argv, environ, 0))
