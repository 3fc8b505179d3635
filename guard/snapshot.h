/* snapshot.h - live registry → report model (guard/ depends on report/, not back). */
#ifndef BG_SNAPSHOT_H
#define BG_SNAPSHOT_H
#include "report/model.h"

void bg__snapshot(bg_model_t *m);       /* live: what was recorded so far */
void bg__snapshot_final(bg_model_t *m); /* at exit: calls still blocked counted in flight */
/* The process facts it records (bg__started_ns, bg__wall_ns) are guard/base.c's
 * (guard/guard.h); the options' text is guard/options.h's (bg__options_value). */
#endif
