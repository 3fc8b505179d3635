/* pyroscope.c - the Pyroscope /ingest protocol over libcurl (see pyroscope.h).
 *
 * The sample type config tells Pyroscope what blockguard's sample types are: counts of
 * blocking calls and nanoseconds blocked, summed over time, not sampled (every call is
 * counted) and not cumulative (each push holds one interval).  Pyroscope names the
 * series APP.DISPLAY-NAME, so "nginx.blocking_blocked_ns{pid=1234}".  Units: Pyroscope
 * knows "lock_samples" and "lock_nanoseconds" (what Go's block profile maps to); they
 * display as counts and durations.
 */
#define _GNU_SOURCE
#include "report/pyroscope.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "report/curl.h"

static const char sample_types[] =
    "{\"violations\":{\"units\":\"lock_samples\",\"aggregation\":\"sum\","
    "\"display-name\":\"blocking_violations\",\"sampled\":false,\"cumulative\":false},"
    "\"blocked\":{\"units\":\"lock_nanoseconds\",\"aggregation\":\"sum\","
    "\"display-name\":\"blocking_blocked_ns\",\"sampled\":false,\"cumulative\":false},"
    "\"stalls\":{\"units\":\"lock_samples\",\"aggregation\":\"sum\","
    "\"display-name\":\"loop_stalls\",\"sampled\":false,\"cumulative\":false},"
    "\"stalled\":{\"units\":\"lock_nanoseconds\",\"aggregation\":\"sum\","
    "\"display-name\":\"loop_stalled_ns\",\"sampled\":false,\"cumulative\":false}}";

struct bg_pyro {
  const bg_curl_t *c;
  CURL *easy;
  pthread_mutex_t mu; /* guards socks: closed only under it, so abort never hits a reused fd */
  int socks[4];       /* the connections' sockets, -1 free (libcurl keeps one per host) */
  int aborting;
  struct curl_slist *headers;
  char *ingest; /* scheme://host[:port][/prefix]/ingest */
  char *query;  /* the URL's other query parameters ("" or "a=b&") */
  char *app;    /* application name, labels apart */
  char *labels; /* "k=v,k=v" from the URL's name, "" for none */
};

/* Sockets are made and closed here so another thread can shut the live one down
 * (bg_pyro_abort) and a fork child can close it without libcurl (forget_in_child). */
static curl_socket_t open_sock(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
  bg_pyro_t *p = arg;
  (void)purpose;
  pthread_mutex_lock(&p->mu);
  int slot = -1, fd = -1;
  for (int i = 0; i < 4 && slot < 0; i++)
    if (p->socks[i] < 0) slot = i;
  if (slot >= 0 && !p->aborting) fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd >= 0) p->socks[slot] = fd;
  pthread_mutex_unlock(&p->mu);
  return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static int close_sock(void *arg, curl_socket_t fd) {
  bg_pyro_t *p = arg;
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < 4; i++)
    if (p->socks[i] == fd) p->socks[i] = -1;
  int rc = close(fd);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static int progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  return __atomic_load_n(&((bg_pyro_t *)arg)->aborting, __ATOMIC_ACQUIRE); /* non-zero: stop */
}

void bg_pyro_abort(bg_pyro_t *p) {
  pthread_mutex_lock(&p->mu);
  __atomic_store_n(&p->aborting, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 4; i++) /* a blocked poll/recv returns now */
    if (p->socks[i] >= 0) shutdown(p->socks[i], SHUT_RDWR);
  pthread_mutex_unlock(&p->mu);
}

void bg_pyro_allow(bg_pyro_t *p) { __atomic_store_n(&p->aborting, 0, __ATOMIC_RELEASE); }

void bg_pyro_forget_in_child(bg_pyro_t *p) {
  for (int i = 0; p && i < 4; i++) /* async-signal-safe; the mutex may be held by a dead thread */
    if (p->socks[i] >= 0) close(p->socks[i]);
}

static size_t discard(char *p, size_t size, size_t n, void *arg) {
  (void)p, (void)arg;
  return size * n;
}

/* %XX decoding of s[0..n) into a new string. */
static char *unescape(const char *s, size_t n) {
  char *o = malloc(n + 1), *w = o;
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
        isxdigit((unsigned char)s[i + 2])) {
      char hex[3] = {s[i + 1], s[i + 2], 0};
      *w++ = (char)strtol(hex, NULL, 16);
      i += 2;
    } else {
      *w++ = s[i] == '+' ? ' ' : s[i];
    }
  }
  *w = 0;
  return o;
}

static int parse_url(bg_pyro_t *p, const char *url, const char *default_app) {
  const char *q = strchr(url, '?');
  size_t base = q ? (size_t)(q - url) : strlen(url);
  while (base && url[base - 1] == '/') base--;
  int has_ingest = base >= 7 && !strncmp(url + base - 7, "/ingest", 7);
  if (asprintf(&p->ingest, "%.*s%s", (int)base, url, has_ingest ? "" : "/ingest") < 0) return -1;
  char *name = NULL;
  size_t qlen = 0;
  p->query = calloc(1, q ? strlen(q) + 2 : 1);
  if (!p->query) return -1;
  for (const char *a = q ? q + 1 : NULL; a && *a;) {
    size_t n = strcspn(a, "&");
    if (n > 5 && !strncmp(a, "name=", 5)) {
      free(name);
      name = unescape(a + 5, n - 5);
    } else if (n) {
      memcpy(p->query + qlen, a, n);
      qlen += n;
      p->query[qlen++] = '&';
    }
    a += n + (a[n] == '&');
  }
  const char *nm = name && name[0] ? name : default_app;
  const char *brace = strchr(nm, '{');
  size_t applen = brace ? (size_t)(brace - nm) : strlen(nm);
  p->app = strndup(nm, applen);
  p->labels = strdup("");
  if (brace) {
    const char *end = strrchr(brace, '}');
    free(p->labels);
    p->labels =
        strndup(brace + 1, end && end > brace ? (size_t)(end - brace - 1) : strlen(brace + 1));
  }
  free(name);
  return p->app && p->labels ? 0 : -1;
}

bg_pyro_t *bg_pyro_new(const char *url, const char *default_app, const char *headers, char *err,
                       size_t errlen) {
  const bg_curl_t *c = bg_curl(err, errlen);
  if (!c) return NULL;
  bg_pyro_t *p = calloc(1, sizeof *p);
  if (!p || parse_url(p, url, default_app && default_app[0] ? default_app : "blockguard") < 0 ||
      !(p->easy = c->easy_init())) {
    snprintf(err, errlen, "push: out of memory");
    bg_pyro_free(p);
    return NULL;
  }
  p->c = c;
  for (int i = 0; i < 4; i++) p->socks[i] = -1;
  pthread_mutex_init(&p->mu, NULL);
  /* "Expect:" off: no 100-continue round trip before the body */
  p->headers = c->slist_append(NULL, "Expect:");
  for (const char *h = headers; h && *h;) {
    size_t n = strcspn(h, "|");
    char *one = strndup(h, n);
    struct curl_slist *l = one ? c->slist_append(p->headers, one) : NULL;
    free(one);
    if (l) p->headers = l;
    h += n + (h[n] == '|');
  }
  CURL *e = p->easy;
  c->easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* never a signal in the program */
  c->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  c->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  c->easy_setopt(e, CURLOPT_USERAGENT, "blockguard/" BG_VERSION);
  c->easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
  c->easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  c->easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_sock);
  c->easy_setopt(e, CURLOPT_OPENSOCKETDATA, p);
  c->easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_sock);
  c->easy_setopt(e, CURLOPT_CLOSESOCKETDATA, p);
  c->easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress);
  c->easy_setopt(e, CURLOPT_XFERINFODATA, p);
  c->easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  return p;
}

const char *bg_pyro_app(const bg_pyro_t *p) { return p->app; }

int bg_pyro_push(bg_pyro_t *p, const char *labels, uint64_t from_s, uint64_t until_s,
                 const char *pprof, size_t len, long timeout_ms, char *err, size_t errlen) {
  const bg_curl_t *c = p->c;
  char *name = NULL, *url = NULL, *esc = NULL;
  curl_mime *form = NULL;
  int status = 0;
  if (asprintf(&name, "%s{%s%s%s}", p->app, p->labels, p->labels[0] && labels[0] ? "," : "",
               labels) < 0) {
    snprintf(err, errlen, "out of memory");
    return 0;
  }
  esc = c->easy_escape(p->easy, name, 0);
  if (!esc ||
      asprintf(&url, "%s?%sname=%s&from=%llu&until=%llu&format=pprof&spyName=blockguard", p->ingest,
               p->query, esc, (unsigned long long)from_s, (unsigned long long)until_s) < 0) {
    url = NULL;
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  form = c->mime_init(p->easy);
  curl_mimepart *part = form ? c->mime_addpart(form) : NULL;
  if (part) {
    c->mime_name(part, "profile");
    c->mime_filename(part, "profile.pb.gz");
    c->mime_type(part, "application/octet-stream");
    c->mime_data(part, pprof, len);
    part = c->mime_addpart(form);
  }
  if (part) {
    c->mime_name(part, "sample_type_config");
    c->mime_filename(part, "sample_type_config.json");
    c->mime_type(part, "application/json");
    c->mime_data(part, sample_types, CURL_ZERO_TERMINATED);
  }
  if (!part) {
    snprintf(err, errlen, "out of memory");
  } else {
    CURL *e = p->easy;
    c->easy_setopt(e, CURLOPT_URL, url);
    c->easy_setopt(e, CURLOPT_MIMEPOST, form);
    c->easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    c->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    CURLcode rc = c->easy_perform(e);
    long code = 0;
    if (rc == CURLE_OK && c->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK) {
      status = (int)code;
      if (code < 200 || code > 299) snprintf(err, errlen, "HTTP %ld from %s", code, p->ingest);
    } else {
      snprintf(err, errlen, "%s: %s", p->ingest, c->easy_strerror(rc));
    }
    c->easy_setopt(e, CURLOPT_MIMEPOST, (curl_mime *)NULL);
  }
  if (form) c->mime_free(form);
out:
  if (esc) c->free(esc);
  free(url);
  free(name);
  return status;
}

void bg_pyro_free(bg_pyro_t *p) {
  if (!p) return;
  if (p->c && p->easy) p->c->easy_cleanup(p->easy);
  if (p->c && p->headers) p->c->slist_free_all(p->headers);
  if (p->c) pthread_mutex_destroy(&p->mu);
  free(p->ingest), free(p->query), free(p->app), free(p->labels);
  free(p);
}
