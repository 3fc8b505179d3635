/* http.c - the dashboard server: libmicrohttpd lifecycle, auth, routing (see http.h).
 *
 * Lifecycle.  We create the listening socket ourselves (so a busy port is reported
 * with the real errno, and the bound port is known before the thread starts), then
 * hand it to libmicrohttpd in internal-polling-thread mode: one sidecar thread does
 * everything.  Stopping (the sidecar protocol): quiesce (stop accepting; we close the
 * listening socket at once so the port is free), mark the server stopping (requests
 * still arriving on open connections get 503), then MHD_stop_daemon - which closes
 * every connection, including a client that sent half a request - runs on a helper
 * thread that we wait for with a deadline.  The server thread only ever waits on a
 * snapshot callback, which is short; if it is not, the caller is not held hostage:
 * past the deadline the server is abandoned (its memory leaks rather than being freed
 * under a running thread) and process exit goes on.
 *
 * Requests.  Only GET and HEAD (405 otherwise), no request bodies (413), headers
 * bounded by the connection memory limit (libmicrohttpd answers 431/414), a Host the
 * server answers to (403, below), a token when configured (401, constant-time
 * compare; Bearer header or ?token=).
 *
 * Host.  A loopback dashboard needs no token, so a web page could read it from the
 * developer's browser through DNS rebinding (attacker.example re-resolved to
 * 127.0.0.1: same origin for the browser, our port on loopback).  The browser then
 * sends "Host: attacker.example", so on loopback binds only these Hosts are answered:
 * localhost and *.localhost (they never resolve elsewhere), IP literals (a page that
 * names an IP is not a rebinding: the browser really connects there), and the globs
 * of http_hosts=.  A request without Host (HTTP/1.0 tools; every browser sends one)
 * is answered.  Non-loopback binds rely on their token; http_hosts= restricts them
 * too when given.  Data
 * responses are built from a fresh model each time; nothing the program wrote (thread
 * or function names, argv) reaches HTML unescaped: JSON is produced by jansson and
 * the page inserts it with textContent, under a Content-Security-Policy whose per-
 * response nonce is the only way a script can run.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bg_dashboard.h"
#include "report/format.h"
#include "report/http.h"
#include "report/mhd.h"

static const bg_mhd_t *M; /* set by the first successful bg_http_start */

#define BG_HTTP_MEMORY_LIMIT (16 * 1024) /* per connection: bounds request headers */
#define BG_HTTP_MAX_CONN 64
#define BG_HTTP_IDLE_S 10

struct bg_http {
  struct MHD_Daemon *d;
  int listen_fd; /* ours until quiesced, -1 after */
  int port;
  char url[96];
  char *token;    /* NULL: no token */
  char *hosts;    /* http_hosts globs, lower case, comma separated; NULL: none */
  int check_host; /* loopback bind, or http_hosts given */
  bg_http_snapshot_fn snapshot;
  void *arg;
  const char *mode;
  void (*log)(const char *msg, void *arg);
  int stopping;
  /* stopper handshake */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stopped;
  /* ?seconds=N: suspended requests, resumed by the timer thread (see "Windows") */
  struct pending *pending;
  int npending;
  pthread_t timer;
  int timer_started, timer_quit;
  int wake[2]; /* pipe: wakes the timer thread's poll */
};

static void logf_(bg_http_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(bg_http_t *h, const char *fmt, ...) {
  if (!h->log) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  h->log(buf, h->arg);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
  bg_http_t *h = cls;
  if (!h->log) return;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n && buf[n - 1] == '\n') buf[--n] = 0;
  h->log(buf, h->arg);
}

/* ---- responses -------------------------------------------------------------------- */
static enum MHD_Result send_owned(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  char *body, size_t len, const char *csp, const char *disp) {
  struct MHD_Response *r = M->create_response_from_buffer(
      len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!r) {
    free(body);
    return MHD_NO;
  }
  M->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  M->add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  M->add_response_header(r, "X-Content-Type-Options", "nosniff");
  M->add_response_header(r, "Referrer-Policy", "no-referrer"); /* the URL may hold a token */
  M->add_response_header(r, "X-Frame-Options", "DENY");
  if (csp) M->add_response_header(r, "Content-Security-Policy", csp);
  if (disp) M->add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    M->add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  if (status == MHD_HTTP_UNAUTHORIZED)
    M->add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"blockguard\"");
  enum MHD_Result ret = M->queue_response(c, status, r);
  M->destroy_response(r);
  return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *msg) {
  char *b = strdup(msg);
  return send_owned(c, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0, NULL, NULL);
}

/* ---- auth ------------------------------------------------------------------------- */
static int token_eq(const char *want, const char *got) {
  if (!got) return 0;
  size_t a = strlen(want), b = strlen(got);
  unsigned char diff = (unsigned char)(a != b);
  for (size_t i = 0; i < a; i++) diff |= (unsigned char)(want[i] ^ got[i < b ? i : 0]);
  return diff == 0;
}

static int authorized(bg_http_t *h, struct MHD_Connection *c) {
  if (!h->token) return 1;
  const char *auth = M->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (auth && !strncasecmp(auth, "Bearer ", 7)) {
    auth += 7;
    while (*auth == ' ') auth++;
    if (token_eq(h->token, auth)) return 1;
  }
  return token_eq(h->token, M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token"));
}

/* ---- Host ------------------------------------------------------------------------- */
static int is_ip_literal(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* Does the server answer this Host header value?  (See the top of this file.) */
static int host_allowed(const bg_http_t *h, const char *value) {
  if (!h->check_host || !value) return 1;
  char host[256];
  size_t n = strlen(value);
  if (n == 0 || n >= sizeof host) return 0;
  if (value[0] == '[') { /* [v6]:port */
    const char *close = strchr(value, ']');
    if (!close || (close[1] && close[1] != ':')) return 0;
    n = (size_t)(close - value - 1);
    memcpy(host, value + 1, n);
  } else {
    const char *colon = strrchr(value, ':');
    if (colon && strchr(value, ':') != colon) return 0; /* a bare v6 literal is not a Host */
    n = colon ? (size_t)(colon - value) : n;
    memcpy(host, value, n);
    if (colon && (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))) return 0;
  }
  host[n] = 0;
  for (char *p = host; *p; p++) *p = (char)tolower((unsigned char)*p);
  if (n && host[n - 1] == '.') host[--n] = 0; /* "localhost." is localhost */
  if (!n) return 0;
  if (!strcmp(host, "localhost") || (n > 10 && !strcmp(host + n - 10, ".localhost"))) return 1;
  if (is_ip_literal(host)) return 1;
  for (const char *g = h->hosts; g && *g;) {
    size_t len = strcspn(g, ",");
    char glob[256];
    if (len && len < sizeof glob) {
      memcpy(glob, g, len);
      glob[len] = 0;
      if (!fnmatch(glob, host, 0)) return 1;
    }
    g += len + (g[len] == ',');
  }
  return 0;
}

/* ---- dashboard page --------------------------------------------------------------- */
/* The page is a template: {{NONCE}} and {{MODE}} are replaced per response with
 * values we generate (never anything from the program or the request). */
static char *render_page(bg_http_t *h, const char *nonce, size_t *len) {
  const char *src = bg__dashboard_html;
  size_t n = sizeof bg__dashboard_html - 1, nn = strlen(nonce), nm = strlen(h->mode);
  size_t cap = n + 1;
  for (const char *p = src; (p = strstr(p, "{{")); p += 2) cap += nn > nm ? nn : nm;
  char *out = malloc(cap), *o = out;
  if (!out) return NULL;
  const char *p = src, *q;
  while ((q = strstr(p, "{{"))) {
    memcpy(o, p, (size_t)(q - p));
    o += q - p;
    if (!strncmp(q, "{{NONCE}}", 9)) {
      memcpy(o, nonce, nn), o += nn, p = q + 9;
    } else if (!strncmp(q, "{{MODE}}", 8)) {
      memcpy(o, h->mode, nm), o += nm, p = q + 8;
    } else {
      *o++ = '{', *o++ = '{', p = q + 2;
    }
  }
  size_t rest = strlen(p);
  memcpy(o, p, rest + 1);
  *len = (size_t)(o - out) + rest;
  return out;
}

static enum MHD_Result serve_page(bg_http_t *h, struct MHD_Connection *c) {
  unsigned char raw[16];
  char nonce[40];
  if (getrandom(raw, sizeof raw, GRND_NONBLOCK) != (ssize_t)sizeof raw) {
    struct timespec ts; /* early boot without entropy: still unpredictable enough per page */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    for (size_t i = 0; i < sizeof raw; i++) raw[i] ^= (unsigned char)(ts.tv_nsec >> (i % 8));
  }
  for (size_t i = 0; i < sizeof raw; i++) snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
  char csp[400];
  snprintf(csp, sizeof csp,
           "default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; connect-src 'self'; "
           "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
           nonce, nonce);
  size_t len;
  char *page = render_page(h, nonce, &len);
  if (!page) return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  return send_owned(c, MHD_HTTP_OK, "text/html; charset=utf-8", page, len, csp, NULL);
}

/* ---- data endpoints --------------------------------------------------------------- */
/* Every format of the table is served at /api/report?format=NAME and at its own path
 * (report/formats.def: /api/report is json, /metrics is metrics...); /api/sites/ID is
 * one site as JSON. */
static int valid_id(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n >= sizeof((bg_rsite_t *)0)->id) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
  return 1;
}

/* The request's ?pid=: 0 none, -1 malformed. */
static int query_pid(struct MHD_Connection *c) {
  const char *v = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pid");
  if (!v) return 0;
  char *end;
  long pid = strtol(v, &end, 10);
  return (*v >= '1' && *v <= '9' && !*end && pid > 0 && pid <= 0x3fffffff) ? (int)pid : -1;
}

/* A fresh model from the data source, or an error answer queued (returns -1, *ret set). */
static int snapshot(bg_http_t *h, struct MHD_Connection *c, const bg_http_query_t *q, bg_model_t *m,
                    enum MHD_Result *ret) {
  char err[256] = "";
  memset(m, 0, sizeof *m);
  int rc = h->snapshot(m, h->arg, q, err, sizeof err);
  if (rc == 0) return 0;
  bg_model_free(m);
  if (rc == BG_HTTP_NO_SUCH_PROCESS) {
    *ret = send_text(c, MHD_HTTP_NOT_FOUND, "no such process here\n");
    return -1;
  }
  char msg[300];
  snprintf(msg, sizeof msg, "no report available: %s\n", err);
  *ret = send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
  return -1;
}

/* Renders m (consumed: freed) as format fmt, or only site `id` as JSON, and queues
 * the answer. */
static enum MHD_Result answer(struct MHD_Connection *c, bg_model_t *m, int fmt,
                              const bg_render_opt_t *ro, const char *id) {
  char *body = NULL;
  size_t len = 0;
  const char *ctype = bg_formats[BG_FMT_json].content_type;
  if (id) {
    for (int i = 0; i < m->nsites && !body; i++)
      if (!strcmp(m->sites[i].id, id)) body = bg_render_site_json(&m->sites[i]);
    if (!body) {
      bg_model_free(m);
      return send_text(c, MHD_HTTP_NOT_FOUND, "no such site\n");
    }
    len = strlen(body);
  } else {
    body = bg_render_n(m, fmt, ro, &len);
    ctype = bg_formats[fmt].content_type;
  }
  int pid = m->pid;
  bg_model_free(m);
  if (!body) {
    char msg[1100];
    snprintf(msg, sizeof msg, "%s\n", bg_render_error());
    return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
  }
  char disp[128] = "";
  if (!id && bg_formats[fmt].binary) /* a download, named like a report file */
    snprintf(disp, sizeof disp, "attachment; filename=\"blockguard-%d.%s\"", pid,
             bg_formats[fmt].ext);
  return send_owned(c, MHD_HTTP_OK, ctype, body, len, NULL, disp[0] ? disp : NULL);
}

static enum MHD_Result serve_data(bg_http_t *h, struct MHD_Connection *c, int fmt,
                                  const bg_render_opt_t *ro, const bg_http_query_t *q,
                                  const char *id) {
  bg_model_t m;
  enum MHD_Result ret;
  if (snapshot(h, c, q, &m, &ret) < 0) return ret;
  return answer(c, &m, fmt, ro, id);
}

/* The format a path serves (its row's path, or /api/report?format=NAME), with the
 * render options from the query; -1 not a format path, -2 bad query (msg says why). */
static int route_format(struct MHD_Connection *c, const char *url, bg_render_opt_t *ro, char *msg,
                        size_t n) {
  int fmt = -1;
  for (int f = 0; f < BG_FMT_COUNT && fmt < 0; f++)
    if (bg_formats[f].path[0] && !strcmp(url, bg_formats[f].path)) fmt = f;
  if (fmt < 0) return -1;
  const char *q = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
  if (q && !strcmp(url, "/api/report")) {
    fmt = bg_format_find(q, strlen(q));
    if (fmt < 0) {
      snprintf(msg, n, "unknown format (%s)\n", bg_format_names());
      return -2;
    }
  }
  memset(ro, 0, sizeof *ro);
  const char *v = M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "value");
  if (v && (ro->value = bg_value_find(v, strlen(v))) < 0) {
    snprintf(msg, n, "unknown value (blocked, violations)\n");
    return -2;
  }
  return fmt;
}

/* ---- windows: ?seconds=N ------------------------------------------------------------
 * /debug/pprof/block?seconds=30 (and any format path) answers with what happened in
 * the next 30 s, as Go's endpoint does: a snapshot now, one when the window closes,
 * the difference (bg_model_delta).  The server has one thread and must not sit in
 * those 30 s: the request takes its first snapshot, is suspended
 * (MHD_suspend_connection) and put on a list; a timer thread, started with the first
 * window, resumes it at its deadline, and the server thread - which went on answering
 * everyone else meanwhile - takes the second snapshot and answers.  At most
 * BG_HTTP_MAX_WINDOWS requests wait at a time (suspended connections count against
 * the connection limit; more get 503), at most BG_HTTP_MAX_SECONDS each (400).
 * libmicrohttpd does not watch a suspended connection, so the timer thread polls their
 * sockets: a client that hangs up (or closes its side) ends its window at once and
 * frees its slot, as Go's handler does when the request's context is cancelled.
 * Stopping resumes every waiting request first (libmicrohttpd requires it; they are
 * answered 503), so shutdown is never held up by a window. */
#define BG_HTTP_MAX_WINDOWS 16
#define BG_HTTP_MAX_SECONDS 3600

/* The per-request state of an ordinary request: headers checked, answer on the next
 * call.  A window's is its struct pending. */
static int seen_marker;

struct pending {
  struct MHD_Connection *c;
  int fd;                   /* the client's socket, watched for a hang-up */
  struct timespec deadline; /* CLOCK_MONOTONIC */
  bg_model_t before;
  int fmt, resumed;
  bg_render_opt_t ro;
  bg_http_query_t q;
  struct pending *next;
};

static int before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Takes every pending request whose deadline passed (all of them when quitting) off the
 * list; called with h->mu held.  Returns them as a list. */
static struct pending *take_due(bg_http_t *h, const struct timespec *now, int all) {
  struct pending *due = NULL, **pp = &h->pending;
  while (*pp) {
    struct pending *p = *pp;
    if (all || !before(now, &p->deadline)) {
      *pp = p->next;
      h->npending--;
      p->resumed = 1;
      p->next = due;
      due = p;
    } else {
      pp = &p->next;
    }
  }
  return due;
}

static void wake_timer(bg_http_t *h) {
  char x = 1;
  ssize_t w = write(h->wake[1], &x, 1); /* full pipe: a wake-up is already pending */
  (void)w;
}

static void *timer_main(void *arg) {
  bg_http_t *h = arg;
  struct pollfd fds[BG_HTTP_MAX_WINDOWS + 1];
  pthread_mutex_lock(&h->mu);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int quit = h->timer_quit;
    struct pending *due = take_due(h, &now, quit);
    if (due) {
      /* resumed outside our lock: libmicrohttpd takes its own */
      pthread_mutex_unlock(&h->mu);
      for (struct pending *p = due, *n; p; p = n) n = p->next, M->resume_connection(p->c);
      pthread_mutex_lock(&h->mu);
      continue;
    }
    if (quit) break;
    /* sleep until the next deadline, a new window, or a client hanging up */
    int n = 0, timeout = -1;
    fds[n++] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
    for (struct pending *p = h->pending; p && n <= BG_HTTP_MAX_WINDOWS; p = p->next) {
      long ms = (p->deadline.tv_sec - now.tv_sec) * 1000 +
                (p->deadline.tv_nsec - now.tv_nsec) / 1000000 + 1;
      if (timeout < 0 || ms < timeout) timeout = ms < 0 ? 0 : (int)ms;
      if (p->fd >= 0) fds[n++] = (struct pollfd){.fd = p->fd, .events = POLLRDHUP};
    }
    pthread_mutex_unlock(&h->mu);
    int r = poll(fds, (nfds_t)n, timeout);
    char drain[64];
    if (r > 0 && (fds[0].revents & POLLIN))
      while (read(h->wake[0], drain, sizeof drain) > 0) {
      }
    pthread_mutex_lock(&h->mu);
    for (int i = 1; r > 0 && i < n; i++) {
      if (!(fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) continue;
      for (struct pending *p = h->pending; p; p = p->next)
        if (p->fd == fds[i].fd) p->deadline = now; /* hung up: due now */
    }
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

/* A window request: the first snapshot, then suspend until the deadline. */
static enum MHD_Result start_window(bg_http_t *h, struct MHD_Connection *c, int fmt,
                                    const bg_render_opt_t *ro, const bg_http_query_t *q,
                                    unsigned seconds, void **req) {
  struct pending *p = calloc(1, sizeof *p);
  if (!p) return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  p->q = *q;
  enum MHD_Result ret;
  if (snapshot(h, c, q, &p->before, &ret) < 0) {
    free(p);
    return ret;
  }
  p->c = c;
  const union MHD_ConnectionInfo *ci = M->get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  p->fd = ci ? ci->connect_fd : -1;
  p->fmt = fmt;
  p->ro = *ro;
  clock_gettime(CLOCK_MONOTONIC, &p->deadline);
  p->deadline.tv_sec += seconds;
  const char *busy = NULL;
  pthread_mutex_lock(&h->mu);
  if (h->stopping)
    busy = "shutting down\n";
  else if (h->npending >= BG_HTTP_MAX_WINDOWS)
    busy = "too many ?seconds= requests waiting; try again later\n";
  /* Created on the server thread, a sidecar: under the shim the timer is a sidecar too,
   * never guarded, its poll passing through (docs/design.md "Sidecars"). */
  else if (!h->timer_started && ((h->wake[0] < 0 && pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0) ||
                                 pthread_create(&h->timer, NULL, timer_main, h) != 0))
    busy = "cannot start the window timer\n";
  if (!busy) {
    h->timer_started = 1;
    p->next = h->pending;
    h->pending = p;
    h->npending++;
    *req = p;
    M->suspend_connection(c); /* in the handler, as libmicrohttpd requires */
    wake_timer(h);
  }
  pthread_mutex_unlock(&h->mu);
  if (busy) {
    bg_model_free(&p->before);
    free(p);
    return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, busy);
  }
  return MHD_YES;
}

/* The window closed (or the server is stopping): the difference, or 503. */
static enum MHD_Result finish_window(bg_http_t *h, struct MHD_Connection *c, struct pending *p) {
  if (__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE))
    return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
  bg_model_t after;
  enum MHD_Result ret;
  if (snapshot(h, c, &p->q, &after, &ret) < 0) return ret;
  if (bg_model_delta(&after, &p->before) < 0) {
    bg_model_free(&after);
    return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  }
  return answer(c, &after, p->fmt, &p->ro, NULL);
}

/* libmicrohttpd is done with a request: a window's state goes (never while it waits:
 * a suspended connection completes only after it was resumed). */
static void completed(void *cls, struct MHD_Connection *c, void **req,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  struct pending *p = *req == &seen_marker ? NULL : *req;
  if (p && p->resumed) {
    bg_model_free(&p->before);
    free(p);
  }
  *req = NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req) {
  bg_http_t *h = cls;
  (void)version, (void)upload;
  if (*upload_size) { /* a body arrived after we answered: discard it */
    *upload_size = 0;
    return MHD_YES;
  }
  if (!*req) {
    /* First call, headers only.  Refusals are sent now, before any body is read
     * (libmicrohttpd then closes the connection); good requests are answered on the
     * second call so the connection can be kept alive. */
    *req = &seen_marker;
    if (__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE))
      return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
      return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed (GET, HEAD)\n");
    const char *cl = M->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        M->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if ((cl && strcmp(cl, "0")) || te)
      return send_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "request bodies are not accepted\n");
    if (!host_allowed(h, M->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
      return send_text(c, MHD_HTTP_FORBIDDEN,
                       "Host not allowed: this dashboard answers localhost, IP addresses and the "
                       "names in http_hosts= (DNS rebinding protection)\n");
    if (!authorized(h, c))
      return send_text(c, MHD_HTTP_UNAUTHORIZED,
                       "token required (Authorization: Bearer TOKEN or ?token=TOKEN)\n");
    return MHD_YES;
  }
  if (*req != &seen_marker) return finish_window(h, c, *req); /* resumed */
  if (__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE))
    return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
  if (!strcmp(url, "/")) return serve_page(h, c);
  if (!strcmp(url, "/healthz")) return send_text(c, MHD_HTTP_OK, "ok\n");
  bg_http_query_t q = {query_pid(c)};
  if (q.pid < 0) return send_text(c, MHD_HTTP_BAD_REQUEST, "pid must be a process id\n");
  if (!strncmp(url, "/api/sites/", 11) && valid_id(url + 11))
    return serve_data(h, c, BG_FMT_json, NULL, &q, url + 11);
  bg_render_opt_t ro;
  char msg[200];
  int fmt = route_format(c, url, &ro, msg, sizeof msg);
  if (fmt == -2) return send_text(c, MHD_HTTP_BAD_REQUEST, msg);
  const char *secs =
      fmt >= 0 ? M->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds") : NULL;
  if (secs) {
    char *end;
    unsigned long n = strtoul(secs, &end, 10);
    if (!*secs || *end || n < 1 || n > BG_HTTP_MAX_SECONDS || secs[0] == '-' || secs[0] == '+') {
      snprintf(msg, sizeof msg, "seconds must be a whole number from 1 to %d\n",
               BG_HTTP_MAX_SECONDS);
      return send_text(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    return start_window(h, c, fmt, &ro, &q, (unsigned)n, req);
  }
  if (fmt >= 0) return serve_data(h, c, fmt, &ro, &q, NULL);
  return send_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ---- start / stop ----------------------------------------------------------------- */
static void free_handle(bg_http_t *h) {
  if (h->listen_fd >= 0) close(h->listen_fd);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  if (h->wake[0] >= 0) close(h->wake[0]), close(h->wake[1]);
  free(h->token);
  free(h->hosts);
  free(h);
}

bg_http_t *bg_http_start(const bg_http_config_t *cfg, int *why, char *err, size_t errlen) {
  int dummy;
  if (!why) why = &dummy;
  *why = BG_HTTP_ECONFIG;
  struct sockaddr_storage ss;
  unsigned sslen;
  int loopback;
  if (bg_http_parse_addr(cfg->addr, &ss, &sslen, &loopback, err, errlen) < 0) return NULL;
  int has_token = cfg->token && cfg->token[0];
  if (!loopback && !has_token) {
    snprintf(err, errlen,
             "http: refusing to serve on non-loopback address '%s' without a token "
             "(set http_token=SECRET; every request must then carry it)",
             cfg->addr);
    return NULL;
  }
  *why = BG_HTTP_ESTART;
  const bg_mhd_t *mhd = bg_mhd(err, errlen);
  if (!mhd) return NULL;
  M = mhd;
  bg_http_t *h = calloc(1, sizeof *h);
  if (!h) {
    *why = BG_HTTP_ESTART;
    snprintf(err, errlen, "http: out of memory");
    return NULL;
  }
  h->listen_fd = -1;
  h->snapshot = cfg->snapshot;
  h->arg = cfg->arg;
  h->mode = cfg->mode ? cfg->mode : "live";
  h->log = cfg->log;
  h->token = has_token ? strdup(cfg->token) : NULL;
  if (cfg->hosts && cfg->hosts[0] && (h->hosts = strdup(cfg->hosts)))
    for (char *p = h->hosts; *p; p++) *p = (char)tolower((unsigned char)*p);
  h->check_host = loopback || h->hosts;
  pthread_mutex_init(&h->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&h->cv, &ca);
  h->wake[0] = h->wake[1] = -1;
  pthread_condattr_destroy(&ca);

  *why = BG_HTTP_EBIND;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 64) < 0) {
    snprintf(err, errlen, "http: cannot listen on %s: %s", cfg->addr, strerror(errno));
    if (fd >= 0) close(fd);
    free_handle(h);
    return NULL;
  }
  h->listen_fd = fd;
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&bound;
    inet_ntop(AF_INET6, &b6->sin6_addr, host, sizeof host);
    h->port = ntohs(b6->sin6_port);
    snprintf(h->url, sizeof h->url, "http://[%s]:%d/", host, h->port);
  } else {
    struct sockaddr_in *b4 = (struct sockaddr_in *)&bound;
    inet_ntop(AF_INET, &b4->sin_addr, host, sizeof host);
    h->port = ntohs(b4->sin_port);
    snprintf(h->url, sizeof h->url, "http://%s:%d/", host, h->port);
  }

  *why = BG_HTTP_ESTART;
  /* poll, not epoll: libmicrohttpd 0.9.75's epoll mode does not notice a client that
   * closes its side (FIN) while a request is incomplete or after a keep-alive answer,
   * and holds the connection until the idle timeout - 64 such connections locked the
   * dashboard out for 10 s (found by tests/fuzz/fuzz_http.c).  64 connections at most:
   * poll costs nothing here. */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_POLL |
                   MHD_ALLOW_SUSPEND_RESUME | (h->log ? MHD_USE_ERROR_LOG : 0) |
                   (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  h->d = M->start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
                         h, /* first, or MHD says so */
                         MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)BG_HTTP_MEMORY_LIMIT, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)BG_HTTP_MAX_CONN, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)BG_HTTP_IDLE_S, MHD_OPTION_NOTIFY_COMPLETED, completed, h,
                         MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "http: cannot start the server on %s (libmicrohttpd failed)", cfg->addr);
    free_handle(h);
    return NULL;
  }
  *why = 0;
  return h;
}

const char *bg_http_url(const bg_http_t *h) { return h->url; }
int bg_http_port(const bg_http_t *h) { return h->port; }

static void *stopper(void *arg) {
  bg_http_t *h = arg;
  M->stop_daemon(h->d);
  pthread_mutex_lock(&h->mu);
  h->stopped = 1;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

int bg_http_stop(bg_http_t *h, int timeout_ms) {
  if (!h) return 0;
  pthread_mutex_lock(&h->mu);
  __atomic_store_n(&h->stopping, 1, __ATOMIC_RELEASE);
  /* every waiting ?seconds= request is resumed (answered 503) before the daemon stops */
  h->timer_quit = 1;
  int timer = h->timer_started;
  if (timer) wake_timer(h);
  pthread_mutex_unlock(&h->mu);
  if (timer) pthread_join(h->timer, NULL);
  /* No new connections from here on; the port is released immediately. */
  MHD_socket lfd = M->quiesce_daemon(h->d);
  if (lfd != MHD_INVALID_SOCKET) {
    close(lfd);
    h->listen_fd = -1;
  }
  /* guard/http_live.c calls us with the core depth raised, so under the shim the
   * stopper is a sidecar, never guarded (docs/design.md "Sidecars"). */
  pthread_t t;
  if (pthread_create(&t, NULL, stopper, h) != 0) {
    stopper(h); /* no thread to spare: stop inline (bounded by the handler in flight) */
    free_handle(h);
    return 0;
  }
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&h->mu);
  int rc = 0;
  while (!h->stopped && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&h->cv, &h->mu, &dl);
  int done = h->stopped;
  pthread_mutex_unlock(&h->mu);
  if (!done) {
    /* Keep it reachable: it is still in use, and a leak checker should not flag it. */
    static bg_http_t *abandoned[8];
    for (int i = 0; i < 8; i++)
      if (!abandoned[i]) {
        abandoned[i] = h;
        break;
      }
    pthread_detach(t);
    logf_(h, "http: server thread did not stop within %d ms; abandoning it", timeout_ms);
    return 1;
  }
  pthread_join(t, NULL);
  free_handle(h);
  return 0;
}

void bg_http_forget_in_child(bg_http_t *h) {
  if (h && h->listen_fd >= 0) close(h->listen_fd);
  if (h && h->wake[0] >= 0) close(h->wake[0]), close(h->wake[1]);
}
