/* atomic.c - write a file so readers see the old content or the new, never a torn one.
 *
 * The temp file lives in the target's directory (rename is atomic only within a file
 * system), is created with O_CREAT|O_EXCL|O_NOFOLLOW under a random name (a symlink
 * planted at a guessable temp path is never followed), gets the requested mode, is
 * fsync'd, then renamed over the target.  On any failure the temp file is removed and
 * the target is untouched.  The content is a buffer, or whatever a callback writes
 * (a renderer streaming a 200 MB merged report never holds it in memory).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report/model.h"

struct buf {
  const char *data;
  size_t len;
};

static int write_buf(FILE *f, void *arg) {
  struct buf *b = arg;
  return fwrite(b->data, 1, b->len, f) == b->len ? 0 : -1;
}

int bg_write_atomic(const char *path, const char *data, size_t len, int mode, char *err,
                    size_t errlen) {
  struct buf b = {data, len};
  return bg_write_atomic_fn(path, mode, write_buf, &b, err, errlen);
}

int bg_write_atomic_fn(const char *path, int mode, int (*fill)(FILE *f, void *arg), void *arg,
                       char *err, size_t errlen) {
  char tmp[4096];
  int nosync = mode & BG_WRITE_NOSYNC;
  mode &= 07777;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long r = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16) ^
                      (unsigned long)attempt * 2654435761u;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%lx", path, r) >= (int)sizeof tmp) {
      snprintf(err, errlen, "%s: path too long", path);
      return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode ? mode : 0600);
    if (fd < 0 && errno != EEXIST) {
      snprintf(err, errlen, "%s: cannot create temp file: %s", tmp, strerror(errno));
      return -1;
    }
  }
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create a unique temp file", path);
    return -1;
  }
  fchmod(fd, (mode_t)(mode ? mode : 0600)); /* exact mode regardless of umask */
  FILE *f = fdopen(fd, "w");
  if (!f) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return -1;
  }
  errno = 0;
  if (fill(f, arg) < 0 || fflush(f) != 0) {
    snprintf(err, errlen, "%s: write failed: %s", tmp, errno ? strerror(errno) : "out of memory");
    fclose(f);
    unlink(tmp);
    return -1;
  }
  if ((!nosync && fsync(fd) < 0) || fclose(f) != 0) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path) < 0) {
    snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}
