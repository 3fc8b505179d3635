/* cmd_serve.c - `blockguard serve [--http ADDR:PORT] [--http_token T] FILE|DIR...`
 *
 * The live dashboard over saved reports: the same server and page as a guarded
 * process (report/http.c), fed with the merge of the given report files.  A DIR means
 * every *.json file directly in it (a process tree run with report=DIR/r.%p.json), and
 * is re-listed on each request, so serving the directory of a run still in progress
 * shows processes as they finish.  The merged model is cached and rebuilt only when a
 * file appears, disappears or changes (size or mtime), so polling the page costs a
 * few stat calls.  Every input is read once before serving: a missing or corrupt file
 * is an error naming it (exit 2), not an empty dashboard.  Later read errors (a file
 * replaced by garbage) are answered with 503 and the message.
 *
 * Runs until SIGINT or SIGTERM, then stops the server (bounded) and exits 0.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/http.h"
#include "report/model.h"
#include "report/redact.h"
#include "tools/cli.h"

typedef struct serve_src {
  char **args; /* FILE|DIR as given */
  int nargs;
  bg_redact_t redact; /* applied to what is served (a report written with redact=none) */
  pthread_mutex_t mu;
  bg_model_t cache;
  int have_cache;
  char *sig; /* "path size mtime\n"... of the inputs the cache was built from */
} serve_src_t;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expands the arguments to the list of files, in a stable order, and a signature of
 * their sizes and mtimes.  -1 with err when an argument is missing or a DIR holds
 * no report. */
static int list_inputs(serve_src_t *s, char ***files, int *nfiles, char **sig, char *err,
                       size_t errlen) {
  char **v = NULL;
  int n = 0, cap = 0, rc = 0;
  for (int i = 0; i < s->nargs && !rc; i++) {
    struct stat st;
    if (stat(s->args[i], &st) < 0) {
      snprintf(err, errlen, "%s: %s", s->args[i], strerror(errno));
      rc = -1;
      break;
    }
    char **names = NULL;
    int nn = 0;
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(s->args[i]);
      if (!d) {
        snprintf(err, errlen, "%s: %s", s->args[i], strerror(errno));
        rc = -1;
        break;
      }
      struct dirent *de;
      int nc = 0;
      while ((de = readdir(d))) {
        if (!bg_cli_is_report_name(de->d_name)) continue;
        if (nn == nc) {
          nc = nc ? nc * 2 : 16;
          char **t = realloc(names, (size_t)nc * sizeof *t);
          if (!t) break;
          names = t;
        }
        if (asprintf(&names[nn], "%s/%s", s->args[i], de->d_name) >= 0) nn++;
      }
      closedir(d);
      if (nn) qsort(names, (size_t)nn, sizeof *names, cmp_str);
      if (!nn) {
        snprintf(err, errlen, "%s: no report files (*.json, *.bgstate) in this directory",
                 s->args[i]);
        rc = -1;
      }
    } else {
      names = malloc(sizeof *names);
      if (names && (names[0] = strdup(s->args[i]))) nn = 1;
    }
    for (int j = 0; j < nn; j++) {
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        char **t = realloc(v, (size_t)cap * sizeof *t);
        if (!t) {
          free(names[j]);
          continue;
        }
        v = t;
      }
      v[n++] = names[j];
    }
    free(names);
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  for (int i = 0; f && i < n; i++) {
    struct stat st;
    if (stat(v[i], &st) == 0)
      fprintf(f, "%s %lld %lld.%09ld\n", v[i], (long long)st.st_size, (long long)st.st_mtim.tv_sec,
              st.st_mtim.tv_nsec);
    else
      fprintf(f, "%s gone\n", v[i]);
  }
  if (f) fclose(f);
  *files = v;
  *nfiles = n;
  *sig = buf;
  return rc;
}

/* Reads and merges the files (report/merge.c: the same merge as `blockguard report`),
 * each listed as a process (the dashboard's process list). */
static int build(char **files, int n, bg_model_t *out, char *err, size_t errlen) {
  bg_merge_t g;
  bg_merge_init(&g);
  g.track_processes = 1;
  int rc = bg_cli_read_merge(files, n, &g, NULL, err, errlen);
  bg_merge_finish(&g, out);
  if (rc < 0) bg_model_free(out);
  return rc;
}

/* ?pid=N: the files of that process only, read again (the cache is the whole merge). */
static int build_pid(char **files, int n, int pid, bg_model_t *out, char *err, size_t errlen) {
  bg_merge_t g;
  bg_merge_init(&g);
  g.track_processes = 1;
  int rc = 0, found = 0;
  for (int i = 0; i < n && !rc; i++) {
    bg_model_t m;
    if (bg_model_read_file(files[i], &m, err, errlen) < 0) {
      rc = -1;
      break;
    }
    if (m.pid == pid) {
      found = 1;
      if (bg_merge_add_owned(&g, &m) < 0) rc = -1, snprintf(err, errlen, "out of memory");
    }
    bg_model_free(&m);
  }
  bg_merge_finish(&g, out);
  if (rc == 0 && !found) rc = BG_HTTP_NO_SUCH_PROCESS;
  if (rc < 0) bg_model_free(out);
  return rc;
}

/* The server's data source: a deep copy of the (refreshed) cached merge. */
static int serve_snapshot(bg_model_t *out, void *arg, const bg_http_query_t *q, char *err,
                          size_t errlen) {
  serve_src_t *s = arg;
  char **files = NULL, *sig = NULL;
  int n = 0, rc = 0, filtered = 0;
  pthread_mutex_lock(&s->mu);
  if (list_inputs(s, &files, &n, &sig, err, errlen) < 0) {
    rc = -1;
  } else if (q && q->pid) {
    filtered = 1;
    rc = build_pid(files, n, q->pid, out, err, errlen);
    if (rc == 0) bg_model_redact(out, &s->redact);
  } else if (!s->have_cache || !s->sig || !sig || strcmp(s->sig, sig)) {
    bg_model_t fresh;
    if (build(files, n, &fresh, err, errlen) < 0) {
      rc = -1;
    } else {
      if (s->have_cache) bg_model_free(&s->cache);
      s->cache = fresh;
      s->have_cache = 1;
      free(s->sig);
      s->sig = sig;
      sig = NULL;
    }
  }
  if (rc == 0 && !filtered) {
    if (bg_model_copy(out, &s->cache) < 0) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
    } else {
      bg_model_redact(out, &s->redact);
    }
  }
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < n; i++) free(files[i]);
  free(files);
  free(sig);
  return rc;
}

static void serve_free(serve_src_t *s) {
  if (s->have_cache) bg_model_free(&s->cache);
  s->have_cache = 0;
  free(s->sig);
  free(s->args);
  pthread_mutex_destroy(&s->mu);
}

static void serve_log(const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "blockguard serve: %s\n", msg);
}

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: blockguard serve [--http ADDR:PORT] [--http_token TOKEN] [--http_hosts GLOBS]\n"
      "                        [--redact R] FILE|DIR...\n"
      "  Serves the dashboard for saved reports (merged).  DIR: every *.json and *.bgstate in it.\n"
      "  --http ADDR:PORT    where to listen (default 127.0.0.1:0: a free port, printed)\n"
      "  --http_token TOKEN  required for non-loopback addresses; every request must\n"
      "                      carry it (Authorization: Bearer TOKEN or ?token=TOKEN)\n"
      "  --http_hosts GLOBS  more Host names to answer (default: localhost, IP literals)\n"
      "  --redact R          secrets (default), argv, key:GLOB, none (see --help)\n"
      "  Also read: BLOCKGUARD_HTTP_TOKEN.  Stops on SIGINT/SIGTERM.\n");
}

/* --key VALUE or --key=VALUE; returns the value and advances *i, NULL if not key. */
static const char *flag(int argc, char **argv, int *i, const char *key) {
  size_t kl = strlen(key);
  const char *a = argv[*i];
  if (strncmp(a, key, kl)) return NULL;
  if (a[kl] == '=') return a + kl + 1;
  if (a[kl] || *i + 1 >= argc) return NULL;
  return argv[++*i];
}

int bg_cmd_serve(int argc, char **argv) {
  const char *addr = "127.0.0.1:0", *token = getenv("BLOCKGUARD_HTTP_TOKEN"), *hosts = NULL, *v;
  char rerr[200];
  serve_src_t s;
  memset(&s, 0, sizeof s);
  s.args = calloc((size_t)argc + 1, sizeof *s.args);
  if (!s.args) return 2;
  bg_redact_parse(&s.redact, "secrets", 7, rerr, sizeof rerr);
  int i = 1, dash = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!dash && !strcmp(a, "--")) {
      dash = 1;
    } else if (!dash && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
      usage(stdout);
      free(s.args);
      return 0;
    } else if (!dash && (v = flag(argc, argv, &i, "--http_token"))) {
      token = v;
    } else if (!dash && (v = flag(argc, argv, &i, "--http-token"))) {
      token = v;
    } else if (!dash && (v = flag(argc, argv, &i, "--http_hosts"))) {
      hosts = v;
    } else if (!dash && (v = flag(argc, argv, &i, "--redact"))) {
      if (bg_redact_parse(&s.redact, v, strlen(v), rerr, sizeof rerr) < 0) {
        fprintf(stderr, "blockguard serve: --redact: %s\n", rerr);
        free(s.args);
        return 2;
      }
    } else if (!dash && (v = flag(argc, argv, &i, "--http"))) {
      addr = v;
    } else if (!dash && a[0] == '-' && a[1]) {
      fprintf(stderr, "blockguard serve: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      free(s.args);
      return 2;
    } else {
      s.args[s.nargs++] = argv[i];
    }
  }
  if (!s.nargs) {
    fprintf(stderr, "blockguard serve: no report FILE or DIR given\n");
    usage(stderr);
    free(s.args);
    return 2;
  }
  pthread_mutex_init(&s.mu, NULL);
  char err[1024];
  bg_model_t probe;
  if (serve_snapshot(&probe, &s, NULL, err, sizeof err) < 0) {
    fprintf(stderr, "blockguard serve: %s\n", err);
    serve_free(&s);
    return 2;
  }
  int nsites = probe.nsites;
  bg_model_free(&probe);

  /* Signals are taken synchronously by this thread; block them before the server
   * thread exists so it inherits the mask and never runs a handler. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  bg_http_config_t cfg = {.addr = addr,
                          .token = token,
                          .hosts = hosts,
                          .snapshot = serve_snapshot,
                          .arg = &s,
                          .mode = "serve",
                          .log = serve_log};
  int why;
  bg_http_t *h = bg_http_start(&cfg, &why, err, sizeof err);
  if (!h) {
    fprintf(stderr, "blockguard serve: %s\n", err);
    serve_free(&s);
    return 2;
  }
  fprintf(stderr, "blockguard: dashboard at %s (%d site%s from %d input%s; Ctrl-C stops)\n",
          bg_http_url(h), nsites, nsites == 1 ? "" : "s", s.nargs, s.nargs == 1 ? "" : "s");
  fflush(stderr);
  int sig = 0;
  sigwait(&set, &sig);
  if (bg_http_stop(h, 1000) != 0) return 0; /* abandoned: it may still read the cache */
  serve_free(&s);
  return 0;
}
