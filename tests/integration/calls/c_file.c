/* c_file.c - cases for opening files (category file: never exempt) and for connect and
 * accept.  The open cases check that the variadic mode reaches the kernel: the file is
 * created with O_CREAT and a mode, and its permission bits are part of the output. */
#include <sys/stat.h>

#include "bgt.h"

int __open(const char *, int, ...);
int __open64(const char *, int, ...);
#if !BGT_FORTIFY
int __open_2(const char *, int);
int __openat_2(int, const char *, int);
#endif
int __open64_2(const char *, int);
int __openat64_2(int, const char *, int);
int __connect(int, const struct sockaddr *, socklen_t);

static void created_out(bgt_t *t, int fd, const char *path) {
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0) OUT("mode=%o", (unsigned)(st.st_mode & 07777));
  if (fd >= 0) close(fd);
  if (path) unlink(path);
}

/* open with O_CREAT and a mode: the mode must arrive through the varargs. */
#define OPEN_CREAT(name, expr)                                                          \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    const char *path = bgt_path(#name ".created");                                      \
    unlink(path);                                                                       \
    int fd = CALLFD(expr);                                                              \
    created_out(t, fd, path);                                                           \
  }
OPEN_CREAT(open, open(path, O_CREAT | O_WRONLY | O_EXCL, 0640))
OPEN_CREAT(open64, open64(path, O_CREAT | O_RDWR | O_EXCL, 0604))
OPEN_CREAT(__open, __open(path, O_CREAT | O_WRONLY | O_EXCL, 0620))
OPEN_CREAT(__open64, __open64(path, O_CREAT | O_WRONLY | O_EXCL, 0602))
OPEN_CREAT(openat, openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_EXCL, 0641))
OPEN_CREAT(creat, creat(path, 0751))
OPEN_CREAT(creat64, creat64(path, 0715))

/* O_TMPFILE needs the mode too (where the file system supports it). */
CASE(openat64) {
  NO_NONBLOCK();
  const char *dir = bgt_path("");
  int fd = CALLFD(openat64(AT_FDCWD, dir, O_TMPFILE | O_RDWR, 0611));
  created_out(t, fd, NULL);
}

/* The fortified opens take no mode; a fortified build reaches them from open(). */
#define OPEN_EXISTING(name, expr)                                                       \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    const char *path = bgt_path(#name ".existing");                                     \
    int c = creat(path, 0644);                                                          \
    write(c, "xyz", 3);                                                                 \
    close(c);                                                                           \
    int fd = CALLFD(expr);                                                              \
    char buf[8] = {0};                                                                  \
    if (fd >= 0) read(fd, buf, 3), close(fd);                                           \
    OUT("read='%s'", buf);                                                              \
    unlink(path);                                                                       \
  }
#if BGT_FORTIFY
OPEN_EXISTING(__open_2, open(path, (int)rt(O_RDONLY)))
OPEN_EXISTING(__openat_2, openat(AT_FDCWD, path, (int)rt(O_RDONLY)))
#else
OPEN_EXISTING(__open_2, __open_2(path, O_RDONLY))
OPEN_EXISTING(__openat_2, __openat_2(AT_FDCWD, path, O_RDONLY))
#endif
OPEN_EXISTING(__open64_2, __open64_2(path, O_RDONLY))
OPEN_EXISTING(__openat64_2, __openat64_2(AT_FDCWD, path, O_RDONLY))

#define FOPEN(name, expr)                                                               \
  CASE(name) {                                                                          \
    NO_NONBLOCK();                                                                      \
    const char *path = bgt_path(#name ".txt");                                          \
    int c = creat(path, 0644);                                                          \
    write(c, "line\n", 5);                                                              \
    close(c);                                                                           \
    FILE *old = NULL;                                                                   \
    (void)old;                                                                          \
    if (!strncmp(#name, "freopen", 7)) old = fopen("/dev/null", "r");                   \
    FILE *fp = CALLP(expr);                                                             \
    char buf[16] = {0};                                                                 \
    if (fp) fgets(buf, sizeof buf, fp), fclose(fp);                                     \
    OUT("line='%.4s'", buf);                                                            \
    unlink(path);                                                                       \
  }
FOPEN(fopen, fopen(path, "r"))
FOPEN(fopen64, fopen64(path, "r"))
FOPEN(freopen, freopen(path, "r", old))
FOPEN(freopen64, freopen64(path, "r", old))

/* ---- connect / accept on AF_UNIX stream sockets: a non-blocking connect to a
 * listening socket with room in its backlog completes at once, deterministically. -- */
#define CONNECT(name, fn)                                                               \
  CASE(name) {                                                                          \
    struct sockaddr_un a;                                                               \
    int l = bgt_listener(&a);                                                           \
    int s = socket(AF_UNIX, SOCK_STREAM | (NB ? SOCK_NONBLOCK : 0), 0);                 \
    CALL(fn(s, (struct sockaddr *)&a, sizeof a));                                       \
    close(s);                                                                           \
    close(l);                                                                           \
    unlink(a.sun_path);                                                                 \
  }
CONNECT(connect, connect)
CONNECT(__connect, __connect)

#define ACCEPT(name, expr)                                                              \
  CASE(name) {                                                                          \
    struct sockaddr_un a;                                                               \
    int l = bgt_listener(&a), c = -1;                                                   \
    if (NB)                                                                             \
      bgt_set_nb(l, 1);                                                                 \
    else {                                                                              \
      c = socket(AF_UNIX, SOCK_STREAM, 0);                                              \
      connect(c, (struct sockaddr *)&a, sizeof a);                                      \
    }                                                                                   \
    int fd = CALLFD(expr);                                                              \
    if (fd >= 0) {                                                                      \
      OUT("nonblock=%d", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);                       \
      close(fd);                                                                        \
    }                                                                                   \
    if (c >= 0) close(c);                                                               \
    close(l);                                                                           \
    unlink(a.sun_path);                                                                 \
  }
ACCEPT(accept, accept(l, NULL, NULL))
ACCEPT(accept4, accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK))
