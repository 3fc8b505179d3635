/* http.h - the embedded dashboard server (libmicrohttpd), live and `blockguard serve`.
 *
 * The server knows nothing of where reports come from: it is given a callback that
 * fills a fresh bg_model_t per request.  Inside a guarded process that is the live
 * registry snapshot (guard/http_live.c passes bg__snapshot); for `blockguard serve` it
 * is the merge of report files read from disk (tools/cmd_serve.c).  That keeps the
 * dependency arrow guard/ -> report/ and lets both modes share every endpoint:
 *
 *   /              dashboard (HTML + inline JS/CSS, no external resources)
 *   /api/report    the report JSON (docs/report-schema.md); ?format=NAME any other format
 *   /api/sites/ID  one site as JSON
 *   /metrics       Prometheus text exposition
 *   /healthz       "ok"
 * and every other path a format names in report/formats.def; data paths take ?pid=N
 * (one process of a tree) and ?seconds=N (a window).
 *
 * libmicrohttpd runs in its internal-thread mode: one sidecar thread that polls,
 * accepts and answers.  The caller decides how that thread is treated (the shim marks
 * threads it creates from inside the core as never guarded).
 */
#ifndef BG_REPORT_HTTP_H
#define BG_REPORT_HTTP_H
#include <stddef.h>

#include "report/model.h"

/* What a request asks of the data: pid > 0 only that process (?pid=N: the process
 * filter of a tree's dashboard, docs/fleet.md), 0 all. */
typedef struct bg_http_query {
  int pid;
} bg_http_query_t;

/* Fills *m with a fresh model (the server frees it with bg_model_free).  Returns 0,
 * BG_HTTP_NO_SUCH_PROCESS (404), or -1 with a message in err (503). */
#define BG_HTTP_NO_SUCH_PROCESS (-2)
typedef int (*bg_http_snapshot_fn)(bg_model_t *m, void *arg, const bg_http_query_t *q, char *err,
                                   size_t errlen);

typedef struct bg_http_config {
  const char *addr;             /* "ADDR:PORT" (IPv4, [IPv6] or localhost); port 0 = any */
  const char *token;            /* NULL/"" = none; required for non-loopback addresses */
  const char *hosts;            /* extra Host names (comma list of globs), see http.c */
  bg_http_snapshot_fn snapshot; /* called on the server thread for each data request */
  void *arg;
  const char *mode; /* "live" or "serve": shown by the dashboard */
  /* Diagnostics from the server (client errors, libmicrohttpd messages); NULL = quiet. */
  void (*log)(const char *msg, void *arg);
} bg_http_config_t;

typedef struct bg_http bg_http_t;

/* Error classes of bg_http_start, so callers can tell a configuration mistake (refuse
 * to run) from an address that is just busy (go on without a dashboard). */
enum { BG_HTTP_ECONFIG = 1, BG_HTTP_EBIND = 2, BG_HTTP_ESTART = 3 };

/* Binds, starts the server thread and returns the handle, or NULL with a message in
 * err and the class in *why (may be NULL). */
bg_http_t *bg_http_start(const bg_http_config_t *cfg, int *why, char *err, size_t errlen);
/* "http://ADDR:PORT/" as bound (the real port when 0 was asked). */
const char *bg_http_url(const bg_http_t *h);
int bg_http_port(const bg_http_t *h);
/* Stops accepting, drops in-flight connections and stops the thread.  Waits at most
 * about timeout_ms; if the server thread is stuck (a snapshot that never returns) it
 * is abandoned rather than delaying the caller: returns 0 when stopped and freed, 1
 * when abandoned (its memory is then deliberately leaked, never freed under it). */
int bg_http_stop(bg_http_t *h, int timeout_ms);
/* After fork in the child: the server thread does not exist there.  Closes the
 * inherited listening socket (so the port is not kept by a child that never serves)
 * and forgets the handle without touching its memory.  Async-signal-safe. */
void bg_http_forget_in_child(bg_http_t *h);

/* Parses "ADDR:PORT" into a socket address; 0 or -1 with a message.  *loopback tells
 * whether the address is 127.0.0.0/8, ::1 or localhost. */
struct sockaddr_storage;
int bg_http_parse_addr(const char *text, struct sockaddr_storage *ss, unsigned *sslen,
                       int *loopback, char *err, size_t errlen);
#endif
