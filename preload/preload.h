/* preload.h - shared by the shim's own files (mechanism only; policy is in guard/). */
#ifndef BG_PRELOAD_H
#define BG_PRELOAD_H
#include "guard/guard.h"

extern const bg__callinfo_t bg__calltable[];
extern const int bg__ncalltable;

void *bg__resolve(const char *name);    /* RTLD_NEXT, dlvsym where the table says */
void bg__resolve_all(void);             /* eager resolution in the constructor */
void bg__custom_resolve_all(void);      /* same for preload/custom*.c */
void bg__die_unresolved(const char *name) __attribute__((noreturn));
void bg__preload_init(void);            /* idempotent; the constructor calls it */
#endif
