/* fuzz_http.c - libFuzzer harness for the dashboard server's request handling
 * (report/http.c over libmicrohttpd), through a real loopback socket.
 *
 * The server started once, with a token, serving a fixed report whose strings are
 * hostile (markup in thread and function names).  Each input is sent as the raw bytes
 * of one connection (then the write side is shut); the response is read to the end.
 * Properties:
 *   - after our FIN the server answers with an HTTP status line (or nothing) and closes
 *     the connection within 5 s - whether the request was complete, half sent, or
 *     keep-alive - never hangs, never crashes (ASan/UBSan watch the server thread);
 *   - report data (a marker in the report) is only ever sent to a request that
 *     presented the token (literally, or %-encoded in the query), and never to one
 *     whose only Host header names another site (DNS rebinding);
 *   - the HTML page never contains report strings (it loads them as JSON);
 *   - every 64 inputs, an ordinary authorised request still gets 200: no input can
 *     wedge the server for the next client.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "report/http.h"
#include "report/model.h"

#define TOKEN "t0k3n"
#define MARKER "M4RK3R"
static const char report_json[] =
    "{\"tool\":\"blockguard\",\"version\":\"0.1.0\",\"pid\":1,\"argv\":[\"prog\"],"
    "\"started_ns\":1,\"ended_ns\":2,\"options\":{\"mode\":\"report\"},"
    "\"threads\":[{\"tid\":1,\"name\":\"<script>" MARKER
    "</script>\",\"guarded\":true,\"why\":\"main\"}],"
    "\"sites\":[{\"id\":\"00000000000000ab\",\"call\":\"read\",\"category\":\"io\",\"count\":3,"
    "\"allowed\":false,\"action\":\"report\",\"total_ns\":30,\"max_ns\":10,\"hist_log2_ns\":[0,3],"
    "\"threads\":[\"<b>" MARKER
    "</b>\"],\"first_ns\":1,\"last_ns\":2,"
    "\"frames\":[{\"pc\":\"0x10\",\"module\":\"/p\",\"offset\":\"0x10\",\"function\":\"f_" MARKER
    "\","
    "\"file\":\"a.c\",\"line\":3}]}],\"dropped_sites\":0,\"unguarded_reason\":null}";

static int snapshot(bg_model_t *m, void *arg, const bg_http_query_t *q, char *err, size_t errlen) {
  (void)arg;
  if (q->pid && q->pid != 1) return BG_HTTP_NO_SUCH_PROCESS;
  return bg_model_read_json(report_json, sizeof report_json - 1, "fixture", m, err, errlen);
}

static bg_http_t *srv;
static struct sockaddr_in addr;
static unsigned long inputs;

static void start(void) {
  bg_http_config_t cfg = {
      .addr = "127.0.0.1:0", .token = TOKEN, .snapshot = snapshot, .mode = "live"};
  char err[256];
  srv = bg_http_start(&cfg, NULL, err, sizeof err);
  if (!srv) {
    fprintf(stderr, "fuzz_http: cannot start the server: %s\n", err);
    abort();
  }
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)bg_http_port(srv));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Sends req, returns the whole response (malloc'd, NUL-terminated) or NULL when the
 * server did not finish within 5 s. */
static char *exchange(const void *req, size_t n, size_t *outlen, int wait_s) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) abort();
  /* libFuzzer's timer signal can interrupt connect(); the connection then completes
   * in the background, so wait for it instead of calling that a failure. */
  int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  if (rc < 0 && errno == EINTR) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    while (poll(&p, 1, 5000) < 0 && errno == EINTR) {
    }
    rc = (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) ? 0 : -1;
    if (rc < 0) errno = soerr;
  }
  if (rc < 0) {
    fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
    abort();
  }
  for (size_t off = 0; off < n;) {
    ssize_t w = send(fd, (const char *)req + off, n - off, MSG_NOSIGNAL);
    if (w <= 0) break; /* the server refused early and closed: fine */
    off += (size_t)w;
  }
  shutdown(fd, SHUT_WR);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap + 1);
  struct timeval start, now;
  gettimeofday(&start, NULL);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, 1000);
    gettimeofday(&now, NULL);
    if (r == 0) {
      if (now.tv_sec - start.tv_sec >= wait_s) {
        free(buf);
        close(fd);
        return NULL;
      }
      continue;
    }
    if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
    ssize_t k = recv(fd, buf + len, cap - len, 0);
    if (k <= 0) break; /* EOF or reset */
    len += (size_t)k;
  }
  close(fd);
  buf[len] = 0;
  *outlen = len;
  return buf;
}

static int status_of(const char *resp) {
  int code = 0;
  if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1) return -1;
  return code;
}

static void check_alive(void) {
  static const char ok[] =
      "GET /api/report HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN
      "\r\nConnection: close\r\n\r\n";
  size_t n;
  char *r = exchange(ok, sizeof ok - 1, &n, 5);
  if (!r || status_of(r) != 200 || !strstr(r, MARKER)) {
    fprintf(stderr, "fuzz_http: the server no longer answers an authorised request: %s\n",
            r ? r : "(timeout)");
    abort();
  }
  free(r);
}

/* Does the request's head (up to the first blank line: what follows is a body or a
 * pipelined request) carry exactly one Host header, "attacker.example" (a rebinding
 * domain), with nothing that could extend or repeat it? */
static int foreign_host_only(const uint8_t *data, size_t size) {
  static const char h[] = "\r\nHost: attacker.example\r\n";
  const char *d = (const char *)data, *end = memmem(d, size, "\r\n\r\n", 4);
  if (end) size = (size_t)(end - d) + 2; /* keep the last header's line break */
  const char *at = memmem(d, size, h, sizeof h - 1);
  if (!at || memchr(d, 0, size)) return 0;
  const char *after = at + sizeof h - 1;
  if (after < d + size && (*after == ' ' || *after == '\t')) return 0; /* folded */
  int hosts = 0;
  for (size_t i = 0; i + 5 < size; i++)
    if (d[i] == '\n' && !strncasecmp(d + i + 1, "host", 4)) hosts++;
  return hosts == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!srv) start();
  size_t n;
  char *resp = exchange(data, size, &n, 5);
  if (!resp) {
    fprintf(stderr, "fuzz_http: the server neither answered nor closed within 5 s of our FIN\n");
    abort();
  }
  if (n) {
    int code = status_of(resp);
    if (code < 100 || code > 599) {
      fprintf(stderr, "fuzz_http: not an HTTP response: %.80s\n", resp);
      abort();
    }
    /* memmem: the request is bytes, not a string */
    int has_token = memmem(data, size, TOKEN, strlen(TOKEN)) || memmem(data, size, "%", 1);
    if (strstr(resp, MARKER) && !has_token) {
      fprintf(stderr, "fuzz_http: report data served without the token\n");
      abort();
    }
    if (strstr(resp, MARKER) && foreign_host_only(data, size)) {
      fprintf(stderr, "fuzz_http: report data served to a foreign Host\n");
      abort();
    }
    /* the first response only: pipelined requests may follow with JSON of their own */
    const char *ct = strcasestr(resp, "\r\ncontent-type: text/html");
    const char *body = strstr(resp, "\r\n\r\n");
    const char *cl = strcasestr(resp, "\r\ncontent-length: ");
    size_t blen = body && cl && cl < body ? strtoul(cl + 18, NULL, 10) : 0;
    if (ct && body && ct < body && blen &&
        memmem(body + 4,
               blen < n - (size_t)(body + 4 - resp) ? blen : n - (size_t)(body + 4 - resp), MARKER,
               strlen(MARKER))) {
      fprintf(stderr, "fuzz_http: report strings inside the HTML page\n");
      abort();
    }
  }
  free(resp);
  if (++inputs % 64 == 0) check_alive();
  return 0;
}
