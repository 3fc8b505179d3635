/* curl.h - libcurl, loaded with dlopen the first time a profile is pushed (push=).
 *
 * Like libmicrohttpd (report/mhd.h): a program that does not push never loads libcurl
 * or a TLS library.  libcurl-gnutls is preferred over the OpenSSL build: the dashboard
 * already brings GnuTLS, and the program's own OpenSSL (CPython, nginx) keeps its
 * global state to itself - docs/trust.md tells what libcurl/OpenSSL loaded behind a
 * program's back did to CPython at exit.  The table's types come from the real header
 * via typeof, so a signature mismatch is a compile error.
 */
#ifndef BG_REPORT_CURL_H
#define BG_REPORT_CURL_H
#include <stddef.h>
#include <curl/curl.h>

typedef struct bg_curl {
  __typeof__(curl_global_init) *global_init;
  __typeof__(curl_easy_init) *easy_init;
  __typeof__(curl_easy_setopt) *easy_setopt;
  __typeof__(curl_easy_perform) *easy_perform;
  __typeof__(curl_easy_getinfo) *easy_getinfo;
  __typeof__(curl_easy_cleanup) *easy_cleanup;
  __typeof__(curl_easy_strerror) *easy_strerror;
  __typeof__(curl_easy_escape) *easy_escape;
  __typeof__(curl_free) *free;
  __typeof__(curl_slist_append) *slist_append;
  __typeof__(curl_slist_free_all) *slist_free_all;
  __typeof__(curl_mime_init) *mime_init;
  __typeof__(curl_mime_addpart) *mime_addpart;
  __typeof__(curl_mime_name) *mime_name;
  __typeof__(curl_mime_data) *mime_data;
  __typeof__(curl_mime_filename) *mime_filename;
  __typeof__(curl_mime_type) *mime_type;
  __typeof__(curl_mime_free) *mime_free;
  const char *library; /* the soname that was loaded */
} bg_curl_t;

/* The loaded and globally initialised table, or NULL with a message in err. */
const bg_curl_t *bg_curl(char *err, size_t errlen);
#endif
