/* http_live.c - the live dashboard inside a guarded process (option http=ADDR:PORT).
 *
 * Started by the shim right after the core is initialised.  The server (report/http.c)
 * gets bg__snapshot as its data source, so every request sees the registry as it is
 * now.  Its threads are core sidecars: they are created while this thread is inside
 * the core (bg__self.depth > 0), which the shim's pthread_create wrapper turns into
 * "never guarded, every wrapped call passes straight through" for the new thread
 * (bg__thread_start_sidecar) - whatever threads= says, including all and name:GLOB.
 *
 * Outcomes at start-up:
 *   - configuration mistake (not an IP address, non-loopback without http_token):
 *     an error like a bad option; the shim exits 2 unless strict=0;
 *   - the address cannot be bound (a sibling in the process tree already serves on
 *     that port): one message, the process runs on and still writes its report;
 *   - serving: "blockguard: dashboard at URL" on stderr, URL in the report (http_url).
 * At exit the server is stopped with a deadline (bg__at_core_exit), so exit is never
 * held up for more than a second.  A forked child has no server thread: it closes the
 * inherited listening socket and serves nothing (an exec'd child starts its own).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/snapshot.h"
#include "report/http.h"

#define BG_HTTP_STOP_MS 900

static bg_http_t *server;
static char url[128];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

const char *bg__http_live_url(void) { return url[0] ? url : NULL; }

static int snapshot(bg_model_t *m, void *arg, const bg_http_query_t *q, char *err, size_t errlen) {
  (void)arg, (void)err, (void)errlen;
  if (q->pid && q->pid != (int)getpid()) return BG_HTTP_NO_SUCH_PROCESS; /* one process here */
  bg__snapshot(m);
  return 0;
}

static void log_msg(const char *msg, void *arg) {
  (void)arg;
  if (bg__opt.verbosity >= 2) bg__msg("%s", msg);
}

static void stop(void) {
  bg_http_t *h = __atomic_exchange_n(&server, NULL, __ATOMIC_ACQ_REL);
  if (!h) return;
  bg__self.depth++;
  bg_http_stop(h, BG_HTTP_STOP_MS);
  bg__self.depth--;
}

/* pthread_atfork child handler: async-signal-safe work only (close). */
static void in_child(void) {
  bg_http_t *h = server;
  server = NULL;
  url[0] = 0;
  if (h) bg_http_forget_in_child(h);
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, in_child); }

int bg__http_live_start(void) {
  if (!bg__opt.http[0] || !bg__core_ready() || server) return 0;
  bg__self.depth++; /* threads created from here are sidecars; our I/O passes through */
  bg_http_config_t cfg = {
      .addr = bg__opt.http,
      .token = bg__opt.http_token,
      .hosts = bg__opt.http_hosts,
      .snapshot = snapshot,
      .mode = "live",
      .log = log_msg,
  };
  char err[512];
  int why;
  bg_http_t *h = bg_http_start(&cfg, &why, err, sizeof err);
  int rc = 0;
  if (!h) {
    if (why == BG_HTTP_ECONFIG) {
      bg__msg("%s", err);
      rc = -1;
    } else if (bg__opt.verbosity >= 1) {
      bg__msg("%s; pid %d goes on without a dashboard", err, (int)getpid());
    }
  } else {
    strncpy(url, bg_http_url(h), sizeof url - 1);
    if (bg__ledger) bg__ledger_set_str(&bg__ledger->http_url, url); /* for reports */
    __atomic_store_n(&server, h, __ATOMIC_RELEASE);
    pthread_once(&atfork_once, register_atfork);
    bg__at_core_exit(stop);
    if (bg__opt.verbosity >= 1) bg__msg("dashboard at %s", url);
  }
  bg__self.depth--;
  return rc;
}
