/* http_latency.c - request latency of the live dashboard's /api/report with N sites.
 *
 * Run under the shim with threads=main and http=127.0.0.1:$BENCH_PORT (see
 * http_latency.sh).  The main thread makes 1,000 distinct blocking sites (one
 * nanosleep from each of 1,000 generated functions: distinct return addresses, so
 * distinct stacks), then a client thread - not guarded - sends REQS requests over one
 * keep-alive connection and prints median / p90 / max latency and the body size.
 * What is measured is the whole path a dashboard poll takes: registry snapshot with
 * symbolization, JSON rendering, HTTP.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define F(i)                                                                      \
  __attribute__((noinline)) static void site_##i(void) {                         \
    struct timespec t = {0, 1};                                                   \
    nanosleep(&t, NULL);                                                          \
    __asm__ volatile("" ::: "memory");                                            \
  }
#define R10(p) F(p##0) F(p##1) F(p##2) F(p##3) F(p##4) F(p##5) F(p##6) F(p##7) F(p##8) F(p##9)
#define R100(p) R10(p##0) R10(p##1) R10(p##2) R10(p##3) R10(p##4) R10(p##5) R10(p##6) R10(p##7) R10(p##8) R10(p##9)
R100(0) R100(1) R100(2) R100(3) R100(4) R100(5) R100(6) R100(7) R100(8) R100(9)
#undef F
#define F(i) site_##i,
static void (*const sites[])(void) = {R100(0) R100(1) R100(2) R100(3) R100(4) R100(5) R100(6) R100(7) R100(8) R100(9)};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Reads one response (Content-Length framed); returns the body length or -1. */
static long read_response(int fd, char **buf, size_t *cap) {
  size_t len = 0;
  long body = -1, need = -1;
  for (;;) {
    if (len + 4096 > *cap) *buf = realloc(*buf, *cap = *cap * 2 + 8192);
    ssize_t r = recv(fd, *buf + len, *cap - len - 1, 0);
    if (r <= 0) return -1;
    len += (size_t)r;
    (*buf)[len] = 0;
    if (need < 0) {
      char *e = strstr(*buf, "\r\n\r\n");
      if (!e) continue;
      char *cl = strcasestr(*buf, "\r\nContent-Length:");
      if (!cl || cl > e) return -1;
      body = atol(cl + 17);
      need = (e + 4 - *buf) + body;
    }
    if ((long)len >= need) return body;
  }
}

static int nreq = 200;

static void *client(void *arg) {
  (void)arg;
  const char *p = getenv("BENCH_PORT");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(p ? p : "0"))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("connect");
    exit(1);
  }
  const char *path = getenv("BENCH_PATH") ? getenv("BENCH_PATH") : "/api/report";
  char req[256];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
  size_t cap = 0;
  char *buf = NULL;
  double *lat = calloc((size_t)nreq, sizeof *lat);
  long size = 0;
  for (int i = -5; i < nreq; i++) { /* 5 warm-up requests */
    double t0 = now_ms();
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 || (size = read_response(fd, &buf, &cap)) < 0) {
      fprintf(stderr, "request failed\n");
      exit(1);
    }
    if (i >= 0) lat[i] = now_ms() - t0;
  }
  qsort(lat, (size_t)nreq, sizeof *lat, cmp);
  char *sites = strstr(buf, "\"sites\"");
  int n = 0;
  for (char *q = sites; q && (q = strstr(q, "\"hist_log2_ns\"")); q++) n++;
  printf("%s with %d sites (%.1f KiB): median %.2f ms, p90 %.2f ms, max %.2f ms over %d requests\n",
         path, n, size / 1024.0, lat[nreq / 2], lat[nreq * 9 / 10], lat[nreq - 1], nreq);
  free(lat);
  free(buf);
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) nreq = atoi(argv[1]);
  for (size_t i = 0; i < sizeof sites / sizeof *sites; i++) sites[i]();
  pthread_t t;
  pthread_create(&t, NULL, client, NULL);
  pthread_join(t, NULL);
  return 0;
}
