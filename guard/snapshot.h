/* snapshot.h - live registry → report model (guard/ depends on report/, not back). */
#ifndef BG_SNAPSHOT_H
#define BG_SNAPSHOT_H
#include "report/model.h"

void bg__snapshot(bg_model_t *m);

/* Process facts the snapshot records (guard/core.c). */
void bg__process_argv(char ***argv, int *argc);
uint64_t bg__started_ns(void); /* wall clock ns at start */
uint64_t bg__wall_ns(void);
const char *bg__unguarded_reason(void);
/* Text of option `key` as currently set (for reports). */
void bg__options_value(const void *opts, const char *key, char *buf, size_t n);
#endif
