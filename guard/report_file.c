/* report_file.c - the report= file: its state file while the process runs, the final
 * report when it ends.
 *
 * The path expands %p to the pid, so each process of a tree (children inherit the
 * option) writes its own file and `blockguard report DIR` merges them.  Any format of
 * the table (report/formats.def) can be written; the collect= copy the CLI reads is
 * always JSON.
 *
 * Nothing is written at start-up any more: an empty placeholder destroyed the previous
 * run's report at that path the moment the program started, and stayed behind as a
 * valid-looking "0 sites" report whenever the final write did not happen.  Instead the
 * process's ledger is a *state file* next to the report, PATH.PID.N.bgstate (N: the
 * first free number, so an image that exec'd keeps its own), which `blockguard report`
 * reads like a report.  The final report is written atomically at exit and then the
 * state file is removed; when the write fails (a privilege drop forbids the directory,
 * the disk is full, no fd is free) the state file stays and says why.
 *
 * Reports are not fsync'd: they are read by the next step of a build on the same
 * machine, through the page cache; surviving a power cut is not worth a disk flush per
 * process (a tree of 200 processes with report=%p paid ~1 s for it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/ledger.h"
#include "guard/options.h"
#include "guard/snapshot.h"

/* Decimal text of v into out (no snprintf: also used in a fork child). */
static size_t put_uint(char *out, size_t n, unsigned long v) {
  char num[24];
  size_t k = 0, o = 0;
  do num[k++] = (char)('0' + v % 10); while ((v /= 10) && k < sizeof num);
  while (k) {
    if (o < n) out[o] = num[k - 1];
    o++, k--;
  }
  return o;
}

/* Expands %p (pid) and %% in the report path; async-signal-safe. */
static int expand(const char *pattern, pid_t pid, char *out, size_t n) {
  size_t o = 0;
  for (const char *p = pattern; *p; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      o += put_uint(out + (o < n ? o : n), o < n ? n - o : 0, (unsigned long)pid);
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      if (o < n) out[o] = '%';
      o++, p++;
    } else {
      if (o < n) out[o] = *p;
      o++;
    }
  }
  if (o >= n) return -1;
  out[o] = 0;
  return 0;
}

int bg__report_path(const char *pattern, char *out, size_t n) {
  return expand(pattern, getpid(), out, n);
}

/* PATH.PID for the calling process (the ledger appends .N.bgstate); 0 or -1.
 * Async-signal-safe: the fork child's ledger is made with it. */
int bg__report_state_prefix(char *out, size_t n) {
  pid_t pid = getpid();
  if (!bg__opt.report[0] || expand(bg__opt.report, pid, out, n) < 0) return -1;
  size_t l = strlen(out);
  if (l + 1 >= n) return -1;
  out[l++] = '.';
  size_t k = put_uint(out + l, n - l, (unsigned long)pid);
  if (l + k >= n) return -1;
  out[l + k] = 0;
  return 0;
}

/* Writes one file; 0, or -1 with the reason in err. */
static int write_one(const bg_model_t *m, const char *path, int format, char *err, size_t errlen) {
  size_t len = 0;
  char *text = bg_render_n(m, format, NULL, &len);
  int rc = 0;
  if (!text) {
    snprintf(err, errlen, "%.1000s: %s", path, bg_render_error());
    rc = -1;
  } else if (bg_write_atomic(path, text, len, 0600 | BG_WRITE_NOSYNC, err, errlen) < 0) {
    rc = -1;
  }
  free(text);
  return rc;
}

void bg__report_write(void) {
  if (!bg__opt.report[0]) return;
  bg__self.depth++;
  int saved = errno;
  char path[4096], err[1200];
  bg_model_t m;
  bg__snapshot_final(&m);
  bg__ledger_hdr_t *h = bg__ledger;
  {
    int rc = -1;
    if (bg__report_path(bg__opt.report, path, sizeof path) < 0)
      snprintf(err, sizeof err, "report path too long: %s", bg__opt.report);
    else
      rc = write_one(&m, path, bg__opt.format, err, sizeof err);
    const char *state = h && h->backing == BG_LB_FILE ? bg__ledger_str(h->state_path) : "";
    if (rc == 0) {
      if (h) h->final_written = 1;
      if (state[0]) unlink(state); /* the report now holds everything */
    } else if (state[0]) {
      bg__ledger_final_error(err);
      bg__msg("cannot write report: %s; what pid %d recorded is kept in %s (blockguard report "
              "reads it)", err, (int)getpid(), state);
    } else {
      bg__msg("cannot write report: %s; pid %d recorded %d site%s, lost", err, (int)getpid(),
              m.nsites, m.nsites == 1 ? "" : "s");
    }
  }
  bg_model_free(&m);
  errno = saved;
  bg__self.depth--;
}

/* Before execve: an image that recorded nothing leaves no state file behind (the next
 * image of this pid writes the report).  One that recorded something keeps it: its
 * state file is its report (exit.how = "exec"). */
void bg__report_exec(void) {
  bg__ledger_hdr_t *h = bg__ledger;
  if (!h || h->backing != BG_LB_FILE || !bg__ledger_mine()) return;
  if (__atomic_load_n(&h->nsites, __ATOMIC_ACQUIRE) || h->dropped_sites || h->incomplete ||
      h->unguarded)
    return;
  unlink(bg__ledger_str(h->state_path));
}
