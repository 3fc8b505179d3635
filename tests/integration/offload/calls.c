/* calls.c - an offloaded call returns exactly what the direct call returns.
 *
 * Run under the shim with mode=offload:threads=main:categories=all.  Every case makes
 * one representative blocking call of a category twice: first on the main thread
 * outside any coroutine (the action falls back to report: the call runs in place),
 * then inside a coroutine (it runs on a worker or through the scheduler's io_uring, or
 * as a timer for sleeps).  Return value, errno and output must be identical, and the
 * offload counters must show the second call really went to a worker or the ring (or
 * a timer) and the first did not.  t_offload_calls.sh runs it with io_uring on and off.  Setup and
 * cleanup run in an allow scope so that only the call under test is offloaded.
 * NONE cases must not be offloaded: arguments that cannot block (exempt), or a
 * stream this thread has locked (a worker would wait for the lock forever).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <blockguard.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  long ret;
  int err;
  char out[96];
} res_t;

enum { JOB, TIMER, NONE };
typedef struct {
  const char *name;
  void (*fn)(res_t *);
  int kind; /* JOB: on a worker; TIMER: a scheduler timer; NONE: runs in place */
  int n;    /* jobs expected (JOB), default 1 */
} case_t;

#define SENTINEL 4242 /* errno before each call: a success must leave it alone */
#define CALL(expr)                                                                      \
  do {                                                                                  \
    errno = SENTINEL;                                                                   \
    r->ret = (long)(expr);                                                              \
    r->err = errno;                                                                     \
  } while (0)

static char dir[] = "/tmp/bg-offload-calls-XXXXXX";
static char fpath[256];
static int listen_fd;
static struct sockaddr_in listen_addr, closed_addr;

static void setup_pipe(int p[2], const char *data) {
  if (pipe(p) < 0) abort();
  if (data && write(p[1], data, strlen(data)) != (ssize_t)strlen(data)) abort();
}

/* ---- sleep --------------------------------------------------------------------------- */
static void c_usleep(res_t *r) { CALL(usleep(2000)); }
static void c_nanosleep(res_t *r) {
  struct timespec ts = {0, 1000000};
  CALL(nanosleep(&ts, NULL));
}
static void c_nanosleep_einval(res_t *r) {
  struct timespec ts = {0, 2000000000L};
  CALL(nanosleep(&ts, NULL));
}
static void c_clock_nanosleep(res_t *r) {
  struct timespec ts = {0, 1000000};
  CALL(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL));
}
static void c_clock_nanosleep_abs(res_t *r) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += 1000000;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  CALL(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL));
}
static void c_clock_nanosleep_cpu(res_t *r) {
  struct timespec ts = {0, 1000};
  CALL(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL));
}

/* ---- io -------------------------------------------------------------------------------- */
static void c_read_pipe(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, "hello pipe");
  bg_allow_end();
  CALL(read(p[0], r->out, sizeof r->out - 1));
  bg_allow_begin();
  close(p[0]), close(p[1]);
  bg_allow_end();
}
static void c_read_eof(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, NULL);
  close(p[1]);
  bg_allow_end();
  CALL(read(p[0], r->out, sizeof r->out - 1));
  bg_allow_begin();
  close(p[0]);
  bg_allow_end();
}
static void c_read_ebadf(res_t *r) { CALL(read(1000, r->out, 4)); }
static void c_write_pipe(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, NULL);
  bg_allow_end();
  CALL(write(p[1], "written", 7));
  bg_allow_begin();
  if (read(p[0], r->out, sizeof r->out - 1) < 0) abort();
  close(p[0]), close(p[1]);
  bg_allow_end();
}
static void c_write_epipe(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, NULL);
  close(p[0]);
  bg_allow_end();
  CALL(write(p[1], "x", 1)); /* SIGPIPE is ignored in main() */
  bg_allow_begin();
  close(p[1]);
  bg_allow_end();
}
static void c_send(res_t *r) {
  int sv[2];
  bg_allow_begin();
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) abort();
  bg_allow_end();
  CALL(send(sv[0], "over socket", 11, 0));
  bg_allow_begin();
  if (recv(sv[1], r->out, sizeof r->out - 1, 0) < 0) abort();
  close(sv[0]), close(sv[1]);
  bg_allow_end();
}
static void c_recv(res_t *r) {
  int sv[2];
  bg_allow_begin();
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || send(sv[0], "socket in", 9, 0) != 9) abort();
  bg_allow_end();
  CALL(recv(sv[1], r->out, sizeof r->out - 1, 0));
  bg_allow_begin();
  close(sv[0]), close(sv[1]);
  bg_allow_end();
}

/* ---- file ------------------------------------------------------------------------------ */
static void c_file_read(res_t *r) {
  bg_allow_begin();
  int fd = open(fpath, O_RDONLY);
  bg_allow_end();
  CALL(read(fd, r->out, sizeof r->out - 1));
  bg_allow_begin();
  close(fd);
  bg_allow_end();
}
static void c_file_write(res_t *r) {
  char p[300];
  snprintf(p, sizeof p, "%s/w", dir);
  bg_allow_begin();
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  bg_allow_end();
  CALL(write(fd, "file data", 9));
  bg_allow_begin();
  close(fd);
  fd = open(p, O_RDONLY);
  if (read(fd, r->out, sizeof r->out - 1) < 0) abort();
  close(fd);
  bg_allow_end();
}

/* ---- connect / accept ------------------------------------------------------------------ */
static void c_connect_ok(res_t *r) {
  bg_allow_begin();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  bg_allow_end();
  CALL(connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr));
  bg_allow_begin();
  int c = accept(listen_fd, NULL, NULL);
  close(c), close(fd);
  bg_allow_end();
}
static void c_connect_refused(res_t *r) {
  bg_allow_begin();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  bg_allow_end();
  CALL(connect(fd, (struct sockaddr *)&closed_addr, sizeof closed_addr));
  bg_allow_begin();
  close(fd);
  bg_allow_end();
}
static void c_accept(res_t *r) {
  bg_allow_begin();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0) abort();
  bg_allow_end();
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  CALL(accept(listen_fd, (struct sockaddr *)&peer, &len));
  bg_allow_begin();
  if (r->ret >= 0) close((int)r->ret), r->ret = 1; /* fd numbers may differ */
  snprintf(r->out, sizeof r->out, "%s len=%u", inet_ntoa(peer.sin_addr), (unsigned)len);
  close(fd);
  bg_allow_end();
}

/* ---- wait ------------------------------------------------------------------------------ */
static void c_poll_ready(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, "x");
  bg_allow_end();
  struct pollfd pf = {p[0], POLLIN, 0};
  CALL(poll(&pf, 1, 1000));
  snprintf(r->out, sizeof r->out, "revents=%d", pf.revents);
  bg_allow_begin();
  close(p[0]), close(p[1]);
  bg_allow_end();
}
static void c_poll_timeout(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, NULL);
  bg_allow_end();
  struct pollfd pf = {p[0], POLLIN, 0};
  CALL(poll(&pf, 1, 20));
  bg_allow_begin();
  close(p[0]), close(p[1]);
  bg_allow_end();
}
static void c_select(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, "x");
  bg_allow_end();
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(p[0], &rs);
  struct timeval tv = {1, 0};
  CALL(select(p[0] + 1, &rs, NULL, NULL, &tv));
  snprintf(r->out, sizeof r->out, "isset=%d", FD_ISSET(p[0], &rs));
  bg_allow_begin();
  close(p[0]), close(p[1]);
  bg_allow_end();
}

/* ---- dns ----------------------------------------------------------------------------- */
static void c_getaddrinfo(res_t *r) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  CALL(getaddrinfo("localhost", "80", &hints, &res));
  if (r->ret == 0 && res) {
    struct sockaddr_in *sa = (struct sockaddr_in *)res->ai_addr;
    snprintf(r->out, sizeof r->out, "%s:%d", inet_ntoa(sa->sin_addr), ntohs(sa->sin_port));
    freeaddrinfo(res);
  }
}
static void c_getaddrinfo_fail(res_t *r) {
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST}, *res = NULL;
  CALL(getaddrinfo("not-a-number", NULL, &hints, &res));
}

/* ---- proc ------------------------------------------------------------------------------ */
static void c_system(res_t *r) { CALL(system("exit 3")); }
static void c_waitpid(res_t *r) {
  bg_allow_begin();
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  bg_allow_end();
  int st = 0;
  CALL(waitpid(pid, &st, 0) == pid);
  snprintf(r->out, sizeof r->out, "exit=%d", WEXITSTATUS(st));
}
static void c_waitpid_echild(res_t *r) { CALL(waitpid(999999, NULL, 0)); }

/* ---- sync ------------------------------------------------------------------------------- */
static void *thread_fn(void *arg) {
  (void)arg;
  return (void *)(intptr_t)42;
}
static void c_pthread_join(res_t *r) {
  pthread_t th;
  bg_allow_begin();
  pthread_create(&th, NULL, thread_fn, NULL);
  bg_allow_end();
  void *v = NULL;
  CALL(pthread_join(th, &v));
  snprintf(r->out, sizeof r->out, "value=%ld", (long)(intptr_t)v);
}

/* ---- disk --------------------------------------------------------------------------------- */
static void c_fsync(res_t *r) {
  bg_allow_begin();
  int fd = open(fpath, O_RDONLY);
  bg_allow_end();
  CALL(fsync(fd));
  bg_allow_begin();
  close(fd);
  bg_allow_end();
}
static void c_fsync_ebadf(res_t *r) { CALL(fsync(1000)); }
static void c_fdatasync(res_t *r) {
  bg_allow_begin();
  int fd = open(fpath, O_RDONLY);
  bg_allow_end();
  CALL(fdatasync(fd));
  bg_allow_begin();
  close(fd);
  bg_allow_end();
}

/* ---- stdio ------------------------------------------------------------------------------ */
static void c_fgets(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, "line one\nline two\n");
  FILE *f = fdopen(p[0], "r");
  bg_allow_end();
  CALL(fgets(r->out, sizeof r->out, f) == r->out);
  bg_allow_begin();
  fclose(f);
  close(p[1]);
  bg_allow_end();
}
static void c_fread(res_t *r) {
  bg_allow_begin();
  FILE *f = fopen(fpath, "r");
  bg_allow_end();
  CALL(fread(r->out, 1, 5, f));
  bg_allow_begin();
  fclose(f);
  bg_allow_end();
}
static void c_fwrite(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, NULL);
  FILE *f = fdopen(p[1], "w");
  setvbuf(f, NULL, _IONBF, 0); /* a buffered write that fits cannot block: exempt */
  bg_allow_end();
  CALL(fwrite("stdio!", 1, 6, f));
  bg_allow_begin();
  fclose(f);
  if (read(p[0], r->out, sizeof r->out - 1) < 0) abort();
  close(p[0]);
  bg_allow_end();
}

/* ---- hand-written wrappers (BG_RUN) ------------------------------------------------ */
static void c_open(res_t *r) {
  CALL(open(fpath, O_RDONLY));
  bg_allow_begin();
  if (r->ret >= 0) {
    if (read((int)r->ret, r->out, 7) != 7) abort();
    close((int)r->ret);
    r->ret = 1;
  }
  bg_allow_end();
}
static void c_open_enoent(res_t *r) { CALL(open("/nonexistent/bg-offload", O_RDONLY)); }
static void c_fopen(res_t *r) {
  FILE *f;
  CALL((f = fopen(fpath, "r")) != NULL);
  bg_allow_begin();
  if (f) {
    if (!fgets(r->out, 8, f)) abort();
    fclose(f);
  }
  bg_allow_end();
}
static void c_fprintf(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, NULL);
  FILE *f = fdopen(p[1], "w");
  setvbuf(f, NULL, _IONBF, 0);
  bg_allow_end();
  CALL(fprintf(f, "%s=%d", "answer", 42));
  bg_allow_begin();
  fclose(f);
  if (read(p[0], r->out, sizeof r->out - 1) < 0) abort();
  close(p[0]);
  bg_allow_end();
}
static void c_fscanf(res_t *r) {
  int p[2], x = 0;
  bg_allow_begin();
  setup_pipe(p, "17 apples\n");
  FILE *f = fdopen(p[0], "r");
  bg_allow_end();
  char word[16] = "";
  CALL(fscanf(f, "%d %15s", &x, word));
  snprintf(r->out, sizeof r->out, "%d %s", x, word);
  bg_allow_begin();
  fclose(f);
  close(p[1]);
  bg_allow_end();
}
/* popen + fgets + pclose: the child inherits the caller's signal mask, not the
 * worker's (which blocks every asynchronous signal). */
static void c_popen_mask(res_t *r) {
  FILE *f;
  CALL((f = popen("exec grep ^SigBlk /proc/self/status", "r")) != NULL);
  long ok = r->ret;
  if (f && !fgets(r->out, sizeof r->out, f)) r->out[0] = 0;
  if (f) CALL(pclose(f));
  r->ret = r->ret * 10 + ok;
}
static void c_accept_custom(res_t *r) { c_accept(r); }
static void c_fgets_locked(res_t *r) {
  int p[2];
  bg_allow_begin();
  setup_pipe(p, "locked line\n");
  FILE *f = fdopen(p[0], "r");
  bg_allow_end();
  flockfile(f);
  CALL(fgets(r->out, sizeof r->out, f) == r->out);
  funlockfile(f);
  bg_allow_begin();
  fclose(f);
  close(p[1]);
  bg_allow_end();
}

static const case_t cases[] = {
    {"usleep", c_usleep, TIMER},
    {"nanosleep", c_nanosleep, TIMER},
    {"nanosleep EINVAL (exempt)", c_nanosleep_einval, NONE},
    {"clock_nanosleep", c_clock_nanosleep, TIMER},
    {"clock_nanosleep abs", c_clock_nanosleep_abs, TIMER},
    {"clock_nanosleep cpu clock", c_clock_nanosleep_cpu, JOB},
    {"read pipe", c_read_pipe, JOB},
    {"read eof", c_read_eof, JOB},
    {"read EBADF (exempt)", c_read_ebadf, NONE},
    {"write pipe", c_write_pipe, JOB},
    {"write EPIPE", c_write_epipe, JOB},
    {"send", c_send, JOB},
    {"recv", c_recv, JOB},
    {"read file", c_file_read, JOB},
    {"write file", c_file_write, JOB},
    {"connect", c_connect_ok, JOB},
    {"connect ECONNREFUSED", c_connect_refused, JOB},
    {"accept (hand-written)", c_accept_custom, JOB},
    /* Three timed waits in a row from one call site make it the thread's loop wait
     * (exempt, threads=auto detection); under ASan every poll() comes from the same
     * interceptor, so the select case sits between the two poll cases. */
    {"poll ready", c_poll_ready, JOB},
    {"select", c_select, JOB},
    {"poll timeout", c_poll_timeout, JOB},
    {"getaddrinfo", c_getaddrinfo, JOB},
    {"getaddrinfo numeric (exempt)", c_getaddrinfo_fail, NONE},
    {"system", c_system, JOB},
    {"waitpid", c_waitpid, JOB},
    {"waitpid ECHILD", c_waitpid_echild, JOB},
    {"pthread_join", c_pthread_join, JOB},
    {"fsync", c_fsync, JOB},
    {"fsync EBADF (exempt)", c_fsync_ebadf, NONE},
    {"fdatasync", c_fdatasync, JOB},
    {"fgets", c_fgets, JOB},
    {"fread", c_fread, JOB},
    {"fwrite", c_fwrite, JOB},
    {"fgets, stream locked here", c_fgets_locked, NONE},
    {"open (hand-written)", c_open, JOB},
    {"open ENOENT", c_open_enoent, JOB},
    {"fopen", c_fopen, JOB},
    {"fprintf", c_fprintf, JOB},
    {"fscanf", c_fscanf, JOB},
    {"popen+fgets+pclose, mask", c_popen_mask, JOB, 3},
};
#define NCASES (sizeof cases / sizeof cases[0])

static res_t direct[NCASES], offl[NCASES];
static struct bg_offload_stats before[NCASES], after[NCASES];

static void run_case(void *arg) {
  size_t i = (size_t)(intptr_t)arg;
  bg_offload_stats(&before[i]);
  cases[i].fn(&offl[i]);
  bg_offload_stats(&after[i]);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  bg_allow_begin();
  if (!mkdtemp(dir)) return 2;
  snprintf(fpath, sizeof fpath, "%s/data", dir);
  FILE *f = fopen(fpath, "w");
  fputs("regular file contents\n", f);
  fclose(f);
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  listen_addr.sin_family = AF_INET;
  listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof listen_addr;
  if (bind(listen_fd, (struct sockaddr *)&listen_addr, len) < 0 || listen(listen_fd, 16) < 0 ||
      getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len) < 0)
    return 2;
  int tmp = socket(AF_INET, SOCK_STREAM, 0); /* a port nobody listens on */
  closed_addr = listen_addr;
  closed_addr.sin_port = 0;
  bind(tmp, (struct sockaddr *)&closed_addr, sizeof closed_addr);
  len = sizeof closed_addr;
  getsockname(tmp, (struct sockaddr *)&closed_addr, &len);
  close(tmp);
  bg_allow_end();

  bg_sched_t *s = bg_sched_new(0);
  if (!s) {
    perror("bg_sched_new");
    return 2;
  }
  int bad = 0;
  for (size_t i = 0; i < NCASES; i++) {
    struct bg_offload_stats b, a;
    bg_offload_stats(&b);
    cases[i].fn(&direct[i]); /* main thread, no coroutine: runs in place */
    bg_offload_stats(&a);
    if (a.jobs != b.jobs || a.timers != b.timers || a.ring_ops != b.ring_ops) {
      printf("FAIL %-28s offloaded outside a coroutine\n", cases[i].name);
      bad++;
    }
    bg_co_spawn(s, run_case, (void *)(intptr_t)i);
    if (bg_sched_run(s) != 0) return 2;
    uint64_t dj = after[i].jobs + after[i].ring_ops - before[i].jobs - before[i].ring_ops,
             dt = after[i].timers - before[i].timers;
    uint64_t want = cases[i].n ? (uint64_t)cases[i].n : 1;
    int offloaded = cases[i].kind == JOB     ? (dj == want && dt == 0)
                    : cases[i].kind == TIMER ? (dt == 1 && dj == 0)
                                             : (dt == 0 && dj == 0);
    int same = direct[i].ret == offl[i].ret && direct[i].err == offl[i].err &&
               !strcmp(direct[i].out, offl[i].out);
    printf("%s %-28s ret=%ld errno=%d out='%s'", same && offloaded ? "ok  " : "FAIL",
           cases[i].name, direct[i].ret, direct[i].err == SENTINEL ? 0 : direct[i].err,
           direct[i].out);
    if (!same)
      printf(" | offloaded: ret=%ld errno=%d out='%s'", offl[i].ret, offl[i].err, offl[i].out);
    if (!offloaded)
      printf(" | expected %s (jobs and ring calls +%llu, timers +%llu)",
             cases[i].kind == JOB ? "a job" : cases[i].kind == TIMER ? "a timer" : "no offload",
             (unsigned long long)dj, (unsigned long long)dt);
    printf("\n");
    bad += !(same && offloaded);
  }
  bg_sched_free(s);
  char w[300];
  snprintf(w, sizeof w, "%s/w", dir);
  bg_allow_begin();
  if (unlink(fpath) < 0 || unlink(w) < 0 || rmdir(dir) < 0) bad++;
  bg_allow_end();
  struct bg_offload_stats st;
  bg_offload_stats(&st);
  printf("through io_uring: %s\n", st.ring_ops ? "yes" : "no");
  printf("%d of %zu cases differ\n", bad, NCASES);
  return bad ? 1 : 0;
}
