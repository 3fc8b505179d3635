/* fixtures.c - pipes, sockets, files, timers and a fake DNS server for the call cases.
 * Fixtures run unguarded (outside CALL) and abort the test on any setup failure, so a
 * broken environment never passes as "same result with and without the shim". */
#include <netinet/in.h>
#include <sys/time.h>

#include "bgt.h"

static void die(const char *what) {
  dprintf(2, "fixture: %s: %s\n", what, strerror(errno));
  abort();
}

size_t rt(size_t n) {
  static volatile size_t v;
  v = n;
  return v;
}

void bgt_set_nb(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0) die("fcntl");
}

static void put(int fd, const char *data) {
  size_t n = data ? strlen(data) : 0;
  if (n && write(fd, data, n) != (ssize_t)n) die("write");
}

void bgt_pipe(int p[2], const char *data) {
  if (pipe(p) < 0) die("pipe");
  put(p[1], data);
}

void bgt_pipe_nb(int p[2], const char *data) {
  bgt_pipe(p, data);
  bgt_set_nb(p[0], 1);
}

void bgt_sockpair(int sv[2], const char *data) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) die("socketpair");
  put(sv[1], data);
}

const char *bgt_path(const char *name) {
  static char buf[8][512];
  static int k;
  const char *dir = getenv("BGT_TMP");
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", dir && *dir ? dir : "/tmp", name);
  return b;
}

int bgt_tmpfd(const char *data) {
  const char *p = bgt_path("tmpfile.XXXXXX");
  char tmpl[512];
  snprintf(tmpl, sizeof tmpl, "%s", p);
  int fd = mkstemp(tmpl);
  if (fd < 0) die("mkstemp");
  unlink(tmpl);
  put(fd, data);
  if (lseek(fd, 0, SEEK_SET) < 0) die("lseek");
  return fd;
}

int bgt_listener(struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  static int k;
  snprintf(addr->sun_path, sizeof addr->sun_path, "%s", bgt_path(""));
  char name[64];
  snprintf(name, sizeof name, "s%d.%d", (int)getpid(), k++);
  snprintf(addr->sun_path, sizeof addr->sun_path, "%s", bgt_path(name));
  unlink(addr->sun_path);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0 || bind(s, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(s, 8) < 0)
    die("listener");
  return s;
}

static void on_alarm(int sig) { (void)sig; }

void bgt_timer_ms(int ms) {
  if (ms <= 0) {
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    return;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm; /* no SA_RESTART: the blocked call returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  /* Repeating, so a call that starts late (a loaded machine) is still interrupted. */
  struct itimerval it = {{ms / 1000, (ms % 1000) * 1000}, {ms / 1000, (ms % 1000) * 1000}};
  if (setitimer(ITIMER_REAL, &it, NULL) < 0) die("setitimer");
}

int bgt_closed_fd(void) {
  int fd = 900;
  while (fcntl(fd, F_GETFD) >= 0) fd++;
  return fd;
}

void bgt_read_all(int fd, bgt_t *t) {
  char buf[256];
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  fcntl(fd, F_SETFL, fl);
  if (n < 0) n = 0;
  buf[n] = 0;
  for (ssize_t i = 0; i < n; i++)
    if (buf[i] == '\n') buf[i] = '|';
  bgt_out(t, "data='%s'", buf);
}

pthread_t bgt_thread(void *(*fn)(void *), void *arg) {
  pthread_t th;
  if (pthread_create(&th, NULL, fn, arg) != 0) die("pthread_create");
  return th;
}

void bgt_abs_in(struct timespec *ts, clockid_t clk, int ms) {
  clock_gettime(clk, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

FILE *bgt_stream(const char *data, const char *mode) {
  int p[2];
  bgt_pipe(p, data);
  if (mode[0] == 'r') {
    close(p[1]);
    FILE *f = fdopen(p[0], mode);
    if (!f) die("fdopen");
    return f;
  }
  close(p[0]);
  FILE *f = fdopen(p[1], mode);
  if (!f) die("fdopen");
  return f;
}

/* ---- a DNS server that answers NXDOMAIN to every query, on 127.0.0.1 ------------- */
static int dns_fd = -1;

static void *dns_loop(void *arg) {
  (void)arg;
  unsigned char buf[512];
  for (;;) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(dns_fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 12) continue;
    buf[2] = (unsigned char)(0x80 | (buf[2] & 0x01)); /* QR, RD copied */
    buf[3] = 0x83;                                    /* RA, RCODE=NXDOMAIN */
    sendto(dns_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
  }
  return NULL;
}

int bgt_dns_port(void) {
  static int port;
  if (port) return port;
  dns_fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (dns_fd < 0 || bind(dns_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      getsockname(dns_fd, (struct sockaddr *)&a, &al) < 0)
    die("dns server");
  port = ntohs(a.sin_port);
  pthread_t th = bgt_thread(dns_loop, NULL);
  pthread_detach(th);
  return port;
}
