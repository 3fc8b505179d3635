/* foreign_lib.c - a library whose constructor makes wrapped calls before the shim's
 * constructor has run (linked into the program, it is initialised first): the shim's
 * lazy resolution must serve them.  The results are kept for the program to print. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

char foreign_report[256];

__attribute__((constructor)) static void foreign_init(void) {
  char buf[8] = {0};
  int fd = open("/dev/zero", O_RDONLY);          /* hand-written wrapper (BG_REAL_FN) */
  ssize_t n = read(fd, buf, sizeof buf);         /* generated wrapper */
  close(fd);                                     /* tracking wrapper */
  int u = usleep(1000);
  int p[2];
  pipe(p);
  ssize_t w = write(p[1], "ctor", 4);
  ssize_t r = read(p[0], buf, 4);
  long pid = syscall(SYS_getpid);
  snprintf(foreign_report, sizeof foreign_report,
           "ctor: open=%d read=%zd usleep=%d write=%zd read=%zd buf=%.4s syscall_pid=%d",
           fd >= 0, n, u, w, r, buf, pid == getpid());
  close(p[0]);
  close(p[1]);
}
