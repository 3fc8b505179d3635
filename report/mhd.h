/* mhd.h - libmicrohttpd, loaded with dlopen the first time a server starts.
 *
 * The shim lives in every process it is preloaded into.  Linking libmicrohttpd would
 * load it - and, as Debian builds it, GnuTLS, p11-kit, nettle, gmp... with their
 * constructors, fork handlers and memory - into every guarded program, dashboard or
 * not.  So the library is opened only when http= asks for a dashboard (and by
 * `blockguard serve`).  The table's types come from the real header via typeof, so a
 * signature mismatch is a compile error.
 */
#ifndef BG_REPORT_MHD_H
#define BG_REPORT_MHD_H
#include <stddef.h>
#include <microhttpd.h>

typedef struct bg_mhd {
  __typeof__(MHD_start_daemon) *start_daemon;
  __typeof__(MHD_stop_daemon) *stop_daemon;
  __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
  __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
  __typeof__(MHD_add_response_header) *add_response_header;
  __typeof__(MHD_queue_response) *queue_response;
  __typeof__(MHD_destroy_response) *destroy_response;
  __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
  __typeof__(MHD_suspend_connection) *suspend_connection;
  __typeof__(MHD_resume_connection) *resume_connection;
  __typeof__(MHD_get_connection_info) *get_connection_info;
} bg_mhd_t;

/* The loaded table, or NULL with a message in err (library missing or too old). */
const bg_mhd_t *bg_mhd(char *err, size_t errlen);
#endif
