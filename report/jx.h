/* jx.h - jansson, loaded with dlopen the first time JSON is written or read.
 *
 * Every guarded process carries the report code, but most never write a report (no
 * report=, no violations, not under the CLI).  Linking jansson mapped and relocated it
 * in all of them at start-up.  Instead, report code includes this header in place of
 * <jansson.h>: it renames each jansson function to a bg_jx_ trampoline (before the
 * real header declares it, so the prototypes, and jansson's own inline functions and
 * macros, are jansson's exactly) and report/jx.c forwards each trampoline to the
 * library, opened on first use.  When the library cannot be loaded the constructors
 * return NULL, the setters fail and bg_jx_error() says why; callers check the
 * result of json_dumps / json_loadb as they already must.  Adding a jansson function:
 * one X(...) line below.
 */
#ifndef BG_REPORT_JX_H
#define BG_REPORT_JX_H

/* One X per jansson function, packed: clang-format would stair-step the list. */
/* clang-format off */
#define BG_JX_FUNCS(X)                                                                  \
  X(json_object) X(json_array) X(json_string) X(json_stringn) X(json_integer)          \
  X(json_true) X(json_false) X(json_null) X(json_object_set_new) X(json_object_get)    \
  X(json_object_size) X(json_object_iter) X(json_object_iter_key)                      \
  X(json_object_iter_value) X(json_object_iter_next) X(json_object_key_to_iter)        \
  X(json_array_append_new) X(json_array_size) X(json_array_get) X(json_string_value)   \
  X(json_integer_value) X(json_dumps) X(json_dump_callback) X(json_loadb) X(json_delete) \
  X(json_real) X(json_number_value)
/* clang-format on */

#define json_object bg_jx_json_object
#define json_array bg_jx_json_array
#define json_string bg_jx_json_string
#define json_stringn bg_jx_json_stringn
#define json_integer bg_jx_json_integer
#define json_true bg_jx_json_true
#define json_false bg_jx_json_false
#define json_null bg_jx_json_null
#define json_object_set_new bg_jx_json_object_set_new
#define json_object_get bg_jx_json_object_get
#define json_object_size bg_jx_json_object_size
#define json_object_iter bg_jx_json_object_iter
#define json_object_iter_key bg_jx_json_object_iter_key
#define json_object_iter_value bg_jx_json_object_iter_value
#define json_object_iter_next bg_jx_json_object_iter_next
#define json_object_key_to_iter bg_jx_json_object_key_to_iter
#define json_array_append_new bg_jx_json_array_append_new
#define json_array_size bg_jx_json_array_size
#define json_array_get bg_jx_json_array_get
#define json_string_value bg_jx_json_string_value
#define json_integer_value bg_jx_json_integer_value
#define json_dumps bg_jx_json_dumps
#define json_dump_callback bg_jx_json_dump_callback
#define json_loadb bg_jx_json_loadb
#define json_delete bg_jx_json_delete
#define json_real bg_jx_json_real
#define json_number_value bg_jx_json_number_value
#include <jansson.h>

/* A program string as a JSON string; invalid UTF-8 becomes U+FFFD per byte, the one
 * policy of report/utf8.h (report/json.c, used by sarif.c). */
json_t *bg__json_str(const char *s);

/* Why jansson could not be loaded ("" when it was, or was not tried yet). */
const char *bg_jx_error(void);
/* Loads libjansson now (a process about to fork children that write reports): 1 loaded. */
int bg_jx_load(void);
#endif
