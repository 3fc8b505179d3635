/* custom_gen.h - per-row helpers for the hand-written wrappers (preload/custom*.c).
 *
 * For every BG_CUSTOM row of calls.def: bg__cx_<row>(caller, args) evaluates its
 * exempt column, bg__cc_<row>(args) its category, bg__cf_<row>(args) its fail value.
 * BG_RUN (preload/preload.h) uses them, so a hand-written wrapper decides exactly as
 * the table (and so the docs and the tests) say.
 */
#ifndef BG_PRELOAD_CUSTOM_GEN_H
#define BG_PRELOAD_CUSTOM_GEN_H
#include "preload/sysinc.h"

#include "preload/exempt.h"
#include "preload/preload.h"

#define BG_CALL(...)
#define BG_CUSTOM(name, cat, flags, off, ret, fail, n, params, exempt)                   \
  static inline int bg__cx_##name(uintptr_t caller BG_PARAMS_TAIL(n, params)) {          \
    (void)caller;                                                                        \
    return (exempt);                                                                     \
  }                                                                                      \
  static inline int bg__cc_##name(BG_PARAMS(n, params)) { return BG_CATEXPR(cat); }      \
  static inline ret bg__cf_##name(BG_PARAMS(n, params)) { return fail; }
#include "preload/calls.def"
#undef BG_CALL
#undef BG_CUSTOM
#undef BG_TRACK
#undef BG_SYMVER

#include "preload/offload_custom.h"
#endif
