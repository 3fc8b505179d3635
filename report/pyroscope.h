/* pyroscope.h - pushing pprof profiles to a Pyroscope-compatible /ingest (libcurl).
 *
 * POST {base}/ingest?name=APP{labels}&from=S&until=S&format=pprof&spyName=blockguard,
 * multipart/form-data: the gzipped profile as `profile` and a `sample_type_config`
 * naming blockguard's sample types (Pyroscope knows Go's, not ours).  One connection
 * is kept and reused.  Every call is bounded by the caller's timeout; libcurl runs
 * without signals (CURLOPT_NOSIGNAL).  Used by the shim's push thread (guard/push.c).
 */
#ifndef BG_REPORT_PYROSCOPE_H
#define BG_REPORT_PYROSCOPE_H
#include <stddef.h>
#include <stdint.h>

typedef struct bg_pyro bg_pyro_t;

/* Parses push=URL ("?name=APP{k=v}" in it names the application; default_app
 * otherwise) and push_header= ("Name: value|Name: value"), loads libcurl.  NULL with
 * a message when libcurl cannot be loaded or the URL has no host. */
bg_pyro_t *bg_pyro_new(const char *url, const char *default_app, const char *headers, char *err,
                       size_t errlen);
/* Pushes one profile covering [from_s, until_s] (Unix seconds) with extra labels
 * ("pid=123") added to the name's.  Returns the HTTP status (2xx: accepted), or 0 when
 * no answer came (err says why: refused, timed out after timeout_ms...). */
int bg_pyro_push(bg_pyro_t *p, const char *labels, uint64_t from_s, uint64_t until_s,
                 const char *pprof, size_t len, long timeout_ms, char *err, size_t errlen);
/* From another thread: ends a push in progress at once (its socket is shut down, its
 * progress callback says stop) and makes the next ones fail until bg_pyro_allow. */
void bg_pyro_abort(bg_pyro_t *p);
void bg_pyro_allow(bg_pyro_t *p);
/* In a fork child: closes the connection's socket without a word to the server (the
 * parent still uses the connection) and forgets p (its memory is not touched). */
void bg_pyro_forget_in_child(bg_pyro_t *p);
/* The application name pushed ("nginx"), for messages. */
const char *bg_pyro_app(const bg_pyro_t *p);
void bg_pyro_free(bg_pyro_t *p);
#endif
