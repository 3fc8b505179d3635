/* model.c - freeing and small helpers for the report model (see model.h). */
#include "report/model.h"

#include <stdlib.h>
#include <string.h>

char *bg_model_strdup(const char *s) { return strdup(s ? s : ""); }

void bg_rsite_free(bg_rsite_t *s) {
  free(s->call), free(s->category), free(s->action);
  for (int j = 0; j < s->nthreads; j++) free(s->threads[j]);
  free(s->threads);
  for (int j = 0; j < s->nframes; j++)
    free(s->frames[j].module), free(s->frames[j].function), free(s->frames[j].file);
  free(s->frames);
  free(s->rule);
  memset(s, 0, sizeof *s);
}

void bg_model_free(bg_model_t *m) {
  if (!m) return;
  free(m->tool);
  free(m->version);
  for (int i = 0; i < m->argc; i++) free(m->argv[i]);
  free(m->argv);
  for (int i = 0; i < m->noptions; i++) free(m->options[i].key), free(m->options[i].value);
  free(m->options);
  for (int i = 0; i < m->nthreads; i++) free(m->threads[i].name), free(m->threads[i].why);
  free(m->threads);
  for (int i = 0; i < m->nloops; i++) free(m->loops[i].name), free(m->loops[i].recent);
  free(m->loops);
  for (int i = 0; i < m->nsites; i++) bg_rsite_free(&m->sites[i]);
  for (int i = 0; i < m->nunmatched; i++)
    free(m->unmatched_rules[i].file), free(m->unmatched_rules[i].text);
  free(m->unmatched_rules);
  free(m->sites);
  free(m->unguarded_reason);
  free(m->http_url);
  for (int i = 0; i < m->nmodules; i++) free(m->modules[i].path), free(m->modules[i].build_id);
  free(m->modules);
  for (int i = 0; i < m->nprocesses; i++) free(m->processes[i].cmd), free(m->processes[i].state);
  free(m->processes);
  free(m->incomplete_reason);
  free(m->exit.how);
  free(m->exit.exec);
  memset(m, 0, sizeof *m);
}
