/* cli_load.c - read many report files (JSON or state files) on every CPU and merge them
 * in order.
 *
 * Reading (jansson) costs ~10x merging, and the files of a process tree are
 * independent, so worker threads read ahead while this thread merges - in file order,
 * so the result is the same as a sequential merge (the earliest-started process's
 * argv, thread lists in file order, the first bad file is the one reported).  At most
 * `window` parsed reports wait to be merged, which bounds memory to a few files beyond
 * the merge itself.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/model.h"
#include "tools/cli.h"

#define BG_LOAD_MAX_THREADS 4

struct slot {
  bg_model_t m;
  int state; /* 0 empty, 1 read, -1 failed */
  char err[1024];
};

struct loader {
  char *const *files;
  int n, next, merged, window, stop;
  struct slot *slots;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static void *reader(void *arg) {
  struct loader *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->stop && l->next < l->n && l->next - l->merged >= l->window)
      pthread_cond_wait(&l->cv, &l->mu);
    if (l->stop || l->next >= l->n) break;
    int i = l->next++;
    struct slot *s = &l->slots[i % l->window];
    pthread_mutex_unlock(&l->mu);
    bg_model_t m;
    char err[1024];
    int rc = bg_cli_read_report(l->files[i], &m, err, sizeof err);
    pthread_mutex_lock(&l->mu);
    if (rc < 0) {
      memcpy(s->err, err, sizeof err);
      s->state = -1;
    } else {
      s->m = m;
      s->state = 1;
    }
    pthread_cond_broadcast(&l->cv);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* What a reader should know about one report: data missing, or a process still running
 * (its state file read while it runs). */
static void note(FILE *out, const char *path, const bg_model_t *m) {
  if (!out) return;
  if (m->incomplete_reason)
    fprintf(out, "blockguard: INCOMPLETE: pid %d (%s): %s\n", m->pid, m->argc ? m->argv[0] : "?",
            m->incomplete_reason);
  else if (m->exit.how && !strcmp(m->exit.how, "running"))
    fprintf(out, "blockguard: note: pid %d (%s) is still running: %s shows it so far\n", m->pid,
            m->argc ? m->argv[0] : "?", path);
}

int bg_cli_read_merge(char *const *files, int n, bg_merge_t *g, FILE *notes, char *err,
                      size_t errlen) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int nthreads = cpus < 1 ? 1 : cpus > BG_LOAD_MAX_THREADS ? BG_LOAD_MAX_THREADS : (int)cpus;
  if (nthreads > n) nthreads = n;
  struct loader l = {.files = files, .n = n, .window = nthreads + 1};
  l.slots = calloc((size_t)l.window, sizeof *l.slots);
  if (!l.slots) return snprintf(err, errlen, "out of memory"), -1;
  pthread_mutex_init(&l.mu, NULL);
  pthread_cond_init(&l.cv, NULL);
  pthread_t th[BG_LOAD_MAX_THREADS];
  int started = 0;
  while (started < nthreads && pthread_create(&th[started], NULL, reader, &l) == 0) started++;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    struct slot *s = &l.slots[i % l.window];
    pthread_mutex_lock(&l.mu);
    while (!s->state && started) pthread_cond_wait(&l.cv, &l.mu);
    pthread_mutex_unlock(&l.mu);
    if (!started) { /* no thread could be created: read here */
      s->state = bg_cli_read_report(files[i], &s->m, s->err, sizeof s->err) < 0 ? -1 : 1;
    }
    size_t fl = strlen(files[i]);
    if (s->state < 0 && fl > 8 && !strcmp(files[i] + fl - 8, ".bgstate") &&
        access(files[i], F_OK) < 0) {
      /* a state file replaced by its report since the directory was listed: that
       * report is in the list, or was written after it (then the next run reads it) */
    } else if (s->state < 0) {
      snprintf(err, errlen, "%s", s->err);
      rc = -1;
    } else if ((note(notes, files[i], &s->m), bg_merge_add_owned(g, &s->m)) < 0) {
      snprintf(err, errlen, "%s: out of memory", files[i]);
      rc = -1;
    }
    if (s->state > 0) bg_model_free(&s->m);
    pthread_mutex_lock(&l.mu);
    s->state = 0;
    l.merged++;
    if (rc) l.stop = 1;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
  }
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  for (int k = 0; k < l.window; k++)
    if (l.slots[k].state > 0) bg_model_free(&l.slots[k].m);
  free(l.slots);
  pthread_mutex_destroy(&l.mu);
  pthread_cond_destroy(&l.cv);
  return rc;
}
