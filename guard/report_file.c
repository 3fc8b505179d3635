/* report_file.c - write the report= file at exit (and on demand).
 *
 * The path expands %p to the pid, so each process of a tree (children inherit the
 * option) writes its own file and `blockguard report DIR` merges them.  Written
 * atomically; a failure is reported on stderr and never changes the program's exit.
 * Any format of the table (report/formats.def) can be written; the collect= copy the
 * CLI reads is always JSON.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard.h"
#include "guard/options.h"
#include "guard/snapshot.h"

/* Expands %p (pid) and %% in the report path. */
int bg__report_path(const char *pattern, char *out, size_t n) {
  size_t o = 0;
  for (const char *p = pattern; *p; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      o += (size_t)snprintf(out + o, o < n ? n - o : 0, "%d", (int)getpid());
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

static int initial; /* writing the start-up report: no fsync, it is replaced at exit */

static void write_one(const bg_model_t *m, const char *path, int format) {
  char err[512];
  size_t len = 0;
  char *text = bg_render_n(m, format, NULL, &len);
  int mode = initial ? 0600 | BG_WRITE_NOSYNC : 0600;
  if (!text || bg_write_atomic(path, text, len, mode, err, sizeof err) < 0)
    bg__msg("cannot write report: %s", text ? err : bg_render_error());
  free(text);
}

void bg__report_write(void) {
  if (!bg__opt.report[0] && !bg__opt.collect[0]) return;
  bg__self.depth++;
  char path[4096];
  bg_model_t m;
  bg__snapshot(&m);
  if (bg__opt.report[0]) {
    if (bg__report_path(bg__opt.report, path, sizeof path) < 0)
      bg__msg("report path too long: %s", bg__opt.report);
    else
      write_one(&m, path, bg__opt.format);
  }
  /* blockguard run/check read these to count violations across the process tree. */
  if (bg__opt.collect[0]) {
    if (snprintf(path, sizeof path, "%s/%d.json", bg__opt.collect, (int)getpid()) < (int)sizeof path)
      write_one(&m, path, BG_FMT_json);
  }
  bg_model_free(&m);
  bg__self.depth--;
}

void bg__report_write_initial(void) {
  initial = 1;
  bg__report_write();
  initial = 0;
}
