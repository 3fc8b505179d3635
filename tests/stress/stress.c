/* stress.c - hammer the shim from many threads at once, with signals, forks and execs.
 *
 * Run under the shim (tests/integration/t_stress.sh) with
 *   BLOCKGUARD_OPTIONS=threads=main,name:g-*:report=DIR/%p.json
 * For STRESS_SECONDS it runs:
 *   - 64 hammer threads making wrapped calls that cannot block (write to /dev/null,
 *     read from /dev/zero, fsync on /dev/null which fails with EINVAL): half guarded
 *     (by name "g-N" set with pthread_setname_np, or by bg_thread_guard(1)), half not;
 *     every call's result and errno are checked against what libc must return;
 *   - a reader thread polling bg_violations() and, with STRESS_HTTP_PORT, scraping the
 *     live dashboard's /metrics (both monotonic, never above the calls made);
 *   - a timer (SIGALRM, ITIMER_REAL, 1 kHz-ish) whose handler calls write() on
 *     whichever thread it lands, guarded or not, inside or outside the shim's core;
 *   - a forker: fork()s children that make calls of their own and exit (reports
 *     written), and fork+exec()s this program in --child mode (the shim is loaded again
 *     from the environment), each bounded by a deadline: a child that does not finish
 *     means a deadlock inherited across fork;
 *   - thread churn: short-lived guarded threads, more than the shim's thread table
 *     holds over the run when STRESS_CHURN is large.
 * At the end it prints the number of calls it made on guarded threads on the main
 * path (MAIN_CALLS), in signal handlers (SIG_CALLS, an upper bound: a handler that
 * interrupts the shim's own core passes through uncounted, by design), and
 * bg_violations().  t_stress.sh checks those against the JSON report: sites whose
 * frames include hammer_call must add up to exactly MAIN_CALLS.
 *
 * Any wrong result, errno, hang or crash exits non-zero with a message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blockguard.h"

#define NTHREADS 64

static int devnull, devzero;
static atomic_int stop;
static atomic_ullong main_calls;   /* wrapped calls made on guarded threads (main path) */
static atomic_ullong all_calls;    /* on every hammer thread */
static atomic_ullong sig_calls;    /* handler writes that landed on a guarded thread */
static atomic_ullong sig_total;
static atomic_ullong forks, execs, churned, scrapes;
static __thread int i_am_guarded;  /* this thread was made guarded (and the shim agreed) */
static const char *self_exe;
static long fork_gap_ns = 20000000; /* STRESS_FORK_GAP_MS */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "stress: FAIL: %s\n", buf);
  _exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One round of wrapped calls with exact expectations.  Never inlined: the report's
 * frames name it, which is how t_stress.sh finds the main-path sites. */
__attribute__((noinline)) void hammer_call(int round) {
  char b = 0x5a;
  errno = 4242; /* successful calls must leave errno alone */
  ssize_t r = write(devnull, &b, 1);
  if (r != 1 || errno != 4242) die("write(/dev/null) = %zd, errno %d", r, errno);
  r = read(devzero, &b, 1);
  if (r != 1 || b != 0 || errno != 4242) die("read(/dev/zero) = %zd byte %d errno %d", r, b, errno);
  int calls = 2;
  if (round % 8 == 0) {
    int f = fsync(devnull); /* /dev/null cannot be synced: EINVAL, unchanged by the shim */
    if (f != -1 || errno != EINVAL) die("fsync(/dev/null) = %d, errno %d (want -1 EINVAL)", f, errno);
    calls++;
  }
  if (round % 64 == 0) {
    struct timespec ts = {0, 1000};
    if (nanosleep(&ts, NULL) != 0 && errno != EINTR) die("nanosleep: errno %d", errno);
    calls++;
  }
  atomic_fetch_add(&all_calls, (unsigned long long)calls);
  if (i_am_guarded) atomic_fetch_add(&main_calls, (unsigned long long)calls);
}

/* Not static: -rdynamic exports it so report frames name it. */
void on_timer(int sig) {
  (void)sig;
  int saved = errno;
  char c = '!';
  if (write(devnull, &c, 1) != 1) die("write in signal handler failed: errno %d", errno);
  atomic_fetch_add(&sig_total, 1);
  if (i_am_guarded) atomic_fetch_add(&sig_calls, 1);
  errno = saved;
}

static void guard_me(int idx) {
  if (idx % 4 == 0) {
    char name[16];
    snprintf(name, sizeof name, "g-%d", idx);
    if (pthread_setname_np(pthread_self(), name)) die("pthread_setname_np");
  } else {
    if (bg_thread_guard(1) < 0) die("bg_thread_guard: blockguard is not loaded");
  }
  i_am_guarded = 1;
}

static void *hammer(void *arg) {
  int idx = (int)(intptr_t)arg;
  if (idx % 2 == 0) guard_me(idx);
  else {
    char name[16];
    snprintf(name, sizeof name, "u-%d", idx); /* does not match name:g-* */
    pthread_setname_np(pthread_self(), name);
  }
  for (int round = 0; !atomic_load_explicit(&stop, memory_order_relaxed); round++) hammer_call(round);
  return NULL;
}

/* Scrapes http://127.0.0.1:PORT/metrics once; returns the sum of
 * blockguard_violations_total, or -1 on any failure (connection, status, format). */
static long long scrape_metrics(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)sizeof req - 1) {
    close(fd);
    return -1;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    ssize_t k = recv(fd, buf + len, cap - len, 0);
    if (k <= 0) break;
    len += (size_t)k;
  }
  close(fd);
  buf[len] = 0;
  long long sum = -1;
  if (!strncmp(buf, "HTTP/1.1 200", 12)) {
    sum = 0;
    for (char *l = strstr(buf, "\r\n\r\n"); l && *l; l = strchr(l, '\n')) {
      while (*l == '\r' || *l == '\n') l++;
      if (!strncmp(l, "blockguard_violations_total{", 28)) {
        char *sp = strchr(l, '}');
        if (sp) sum += atoll(sp + 2);
      }
    }
  }
  free(buf);
  return sum;
}

static void *reader(void *arg) {
  (void)arg;
  uint64_t last = 0;
  long long last_scrape = 0;
  int port = getenv("STRESS_HTTP_PORT") ? atoi(getenv("STRESS_HTTP_PORT")) : 0;
  while (!atomic_load(&stop)) {
    if (port) {
      /* The live dashboard, scraped while 32 threads violate: the total must only
       * grow and never pass what the program has done. */
      long long m = scrape_metrics(port);
      uint64_t cap = atomic_load(&main_calls) + atomic_load(&sig_calls) + NTHREADS * 8 + 64;
      if (m < 0) die("scraping /metrics on port %d failed", port);
      if (m < last_scrape) die("/metrics went backwards: %lld after %lld", m, last_scrape);
      if ((uint64_t)m > cap) die("/metrics says %lld violations, the program made at most %llu", m,
                                 (unsigned long long)cap);
      last_scrape = m;
      atomic_fetch_add(&scrapes, 1);
    }
    uint64_t before_cap = atomic_load(&main_calls) + atomic_load(&sig_calls) + NTHREADS * 8 + 64;
    uint64_t v = bg_violations();
    if (v < last) die("bg_violations() went backwards: %llu after %llu", (unsigned long long)v,
                      (unsigned long long)last);
    /* calls in flight (counted by the shim before the program adds them) are bounded
     * by one round per thread */
    uint64_t cap = atomic_load(&main_calls) + atomic_load(&sig_calls) + NTHREADS * 8 + 64;
    if (v > cap && v > before_cap) die("bg_violations() = %llu exceeds calls made %llu", (unsigned long long)v, (unsigned long long)cap);
    last = v;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* Waits for pid up to deadline_ms; a child stuck past it is a deadlock. */
static void wait_child(pid_t pid, const char *what) {
  uint64_t deadline = now_ns() + 20000000000ull;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s child %d ended badly (status 0x%x)", what, (int)pid, st);
      return;
    }
    if (r < 0 && errno != EINTR) die("waitpid: %s", strerror(errno));
    if (now_ns() > deadline) {
      kill(pid, SIGKILL);
      die("%s child %d still running after 20 s: deadlock after fork?", what, (int)pid);
    }
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

static void *forker(void *arg) {
  (void)arg;
  for (int n = 0; !atomic_load(&stop); n++) {
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      /* The forking thread is the child's only (and main) thread: threads=main guards
       * it.  Its violations start from zero; other threads' state is gone. */
      i_am_guarded = 1;
      atomic_store(&main_calls, 0);
      uint64_t before = bg_violations();
      if (before != 0) die("child inherited %llu violations", (unsigned long long)before);
      for (int i = 0; i < 100; i++) hammer_call(i + 1);
      if (bg_violations() != atomic_load(&main_calls))
        die("forked child: bg_violations() = %llu, calls made %llu",
            (unsigned long long)bg_violations(), (unsigned long long)atomic_load(&main_calls));
      if (n % 2 == 0) {
        char *argv[] = {(char *)self_exe, "--child", NULL};
        execv(self_exe, argv);
        die("execv %s: %s", self_exe, strerror(errno));
      }
      exit(0); /* destructor: summary + report from the child */
    }
    wait_child(pid, n % 2 == 0 ? "exec" : "fork");
    atomic_fetch_add(n % 2 == 0 ? &execs : &forks, 1);
    struct timespec ts = {0, fork_gap_ns};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static void *churn_one(void *arg) {
  (void)arg;
  bg_thread_guard(1);
  i_am_guarded = 1;
  for (int i = 0; i < 10; i++) hammer_call(i + 1);
  return NULL;
}

static void *churner(void *arg) {
  long limit = (long)(intptr_t)arg;
  for (long n = 0; n < limit && !atomic_load(&stop); n++) {
    pthread_t t;
    if (pthread_create(&t, NULL, churn_one, NULL)) die("pthread_create (churn)");
    if (pthread_join(t, NULL)) die("pthread_join (churn)");
    atomic_fetch_add(&churned, 1);
  }
  return NULL;
}

/* --child: exec'd from the stress; the shim is loaded afresh.  The main thread is
 * guarded (threads=main), so each call below is a violation, counted exactly. */
static int child_main(void) {
  i_am_guarded = 1;
  uint64_t before = bg_violations(); /* main()'s two open() calls count too */
  for (int i = 0; i < 50; i++) hammer_call(i + 1);
  uint64_t v = bg_violations() - before;
  if (v != atomic_load(&main_calls))
    die("exec'd child: bg_violations() = %llu, calls made %llu", (unsigned long long)v,
        (unsigned long long)atomic_load(&main_calls));
  return 0;
}

int main(int argc, char **argv) {
  self_exe = argv[0];
  /* The parent's main thread only coordinates: unguard it before its first wrapped
   * call so that nothing but the hammer threads' calls count. */
  int child = argc > 1 && !strcmp(argv[1], "--child");
  if (!child && bg_thread_guard(0) < 0) die("blockguard is not loaded");
  devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  devzero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || devzero < 0) die("open /dev/null or /dev/zero");
  if (child) return child_main();

  double secs = getenv("STRESS_SECONDS") ? atof(getenv("STRESS_SECONDS")) : 5;
  long churn = getenv("STRESS_CHURN") ? atol(getenv("STRESS_CHURN")) : 200;
  if (getenv("STRESS_FORK_GAP_MS")) fork_gap_ns = atol(getenv("STRESS_FORK_GAP_MS")) * 1000000L;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_timer;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);

  pthread_t th[NTHREADS], rd, fk, ch;
  for (int i = 0; i < NTHREADS; i++)
    if (pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i)) die("pthread_create");
  if (pthread_create(&rd, NULL, reader, NULL) || pthread_create(&fk, NULL, forker, NULL) ||
      pthread_create(&ch, NULL, churner, (void *)(intptr_t)churn))
    die("pthread_create");

  struct itimerval it = {{0, 1000}, {0, 1000}}; /* every 1 ms: a signal storm */
  setitimer(ITIMER_REAL, &it, NULL);

  uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
  while (now_ns() < end) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  atomic_store(&stop, 1);
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  pthread_join(rd, NULL);
  pthread_join(fk, NULL);
  pthread_join(ch, NULL);

  uint64_t v = bg_violations();
  uint64_t mc = atomic_load(&main_calls), sc = atomic_load(&sig_calls);
  printf("MAIN_CALLS=%llu\nSIG_CALLS=%llu\nSIG_TOTAL=%llu\nALL_CALLS=%llu\nVIOLATIONS=%llu\n"
         "FORKS=%llu\nEXECS=%llu\nCHURNED=%llu\nSCRAPES=%llu\n",
         (unsigned long long)mc, (unsigned long long)sc, (unsigned long long)atomic_load(&sig_total),
         (unsigned long long)atomic_load(&all_calls), (unsigned long long)v,
         (unsigned long long)atomic_load(&forks), (unsigned long long)atomic_load(&execs),
         (unsigned long long)atomic_load(&churned), (unsigned long long)atomic_load(&scrapes));
  if (v < mc || v > mc + sc) die("bg_violations() = %llu, expected %llu main-path calls + at most %llu in handlers",
                                 (unsigned long long)v, (unsigned long long)mc, (unsigned long long)sc);
  return 0;
}
