/* snapshot.c - the process's own ledger → a report model (report/model.h).
 *
 * Everything the process recorded lives in its ledger (guard/ledger.h); the one reader
 * (guard/ledger_read.c) that turns any ledger into a model serves here too, with
 * `self` set so that frames of objects that cannot be read from disk still get their
 * dynamic symbol from the live process.  It runs at report time (exit, HTTP request),
 * never on the violation path, with bg__self.depth raised so the allocations and I/O
 * it does never count as violations.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/ledger.h"
#include "guard/ledger_read.h"
#include "guard/snapshot.h"

static void snapshot(bg_model_t *m, int final) {
  bg__self.depth++;
  bg__ledger_hdr_t *h = bg__ledger_get();
  char err[256];
  bg__lread_t in = {.base = h, .size = h ? h->size : 0, .self = 1, .running = 1, .inflight = final};
  if (!h || bg__ledger_model(&in, m, err, sizeof err) < 0) {
    /* no ledger (no memory at start-up): an honest empty report */
    memset(m, 0, sizeof *m);
    m->schema = 2;
    m->tool = bg_model_strdup("blockguard");
    m->version = bg_model_strdup(BG_VERSION);
    m->pid = getpid();
    m->started_ns = bg__started_ns();
    m->ended_ns = bg__wall_ns();
    m->incomplete_reason = bg_model_strdup("no ledger: nothing could be recorded");
  }
  bg__self.depth--;
}

void bg__snapshot(bg_model_t *m) { snapshot(m, 0); }
void bg__snapshot_final(bg_model_t *m) { snapshot(m, 1); }
