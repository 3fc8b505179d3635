/* snapshot.h - live registry → report model (guard/ depends on report/, not back). */
#ifndef BG_SNAPSHOT_H
#define BG_SNAPSHOT_H
#include "report/model.h"

void bg__snapshot(bg_model_t *m);       /* live: what was recorded so far */
void bg__snapshot_final(bg_model_t *m); /* at exit: calls still blocked counted in flight */

/* Process facts the snapshot records (guard/core.c). */
uint64_t bg__started_ns(void); /* wall clock ns at start */
uint64_t bg__wall_ns(void);
/* Text of option `key` as currently set (for reports). */
void bg__options_value(const void *opts, const char *key, char *buf, size_t n);
#endif
