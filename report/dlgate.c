/* dlgate.c - no fork in the middle of loading one of our on-demand libraries.
 *
 * libmicrohttpd, libcurl and libblockguard-pprof are dlopen'ed the first time they are
 * needed, on a sidecar thread, while the program may fork on another.  A child forked
 * while that dlopen (or curl_global_init) was half done inherits a half-loaded library
 * and a once-guard glibc resets: using it crashed the child (found by t_push.sh: a
 * forked child's push thread died in curl_global_init).  So every such load holds this
 * gate, and a fork handler takes it too: fork waits for a load in progress (a few ms,
 * once per process) and a load waits for a fork in progress.
 */
#include <pthread.h>

#include "report/model.h"

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void prepare(void) { pthread_mutex_lock(&gate); }
static void parent(void) { pthread_mutex_unlock(&gate); }
static void child(void) { pthread_mutex_init(&gate, NULL); }

static void install(void) { pthread_atfork(prepare, parent, child); }

void bg_dl_gate_enter(void) {
  pthread_once(&once, install);
  pthread_mutex_lock(&gate);
}

void bg_dl_gate_leave(void) { pthread_mutex_unlock(&gate); }
