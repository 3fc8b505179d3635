/* lost.c - a program that records violations and then ends in a way that used to lose
 * them (issue 10, "Lost reports"): t_lost_reports.sh, t_tree.sh.
 *
 *   lost MODE [ARG]
 *     term      usleep, then wait for SIGTERM in a long sleep (the test kills it)
 *     sleep     usleep, print "ready", then sleep ARG seconds (killed inside it)
 *     exec      usleep, then exec ARG (a program path) with no arguments
 *     quick     usleep, then quick_exit(3)
 *     _exit     usleep, then _exit(4)
 *     nofd      usleep, then use up every fd, then exit(0)
 *     setuid    setuid(65534), then usleep (the reproduction), exit(0)
 *     fill      usleep, fill the file system of ARG (a file path) until ENOSPC, then
 *               100 distinct blocking call sites, exit(0)
 *     daemon    fork; the parent exits 0 at once, the child usleeps, prints "daemon
 *               PID" on fd 3 if open, sleeps ARG ms and exits 0
 *     quiet     (or no MODE) no blocking call at all, exit(0)
 * Every usleep is on the main thread (run it with threads=main).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 100 distinct call sites: one usleep per case label. */
#define S10(n) case n##0: usleep(1); break; case n##1: usleep(1); break; case n##2: usleep(1); break; \
  case n##3: usleep(1); break; case n##4: usleep(1); break; case n##5: usleep(1); break;           \
  case n##6: usleep(1); break; case n##7: usleep(1); break; case n##8: usleep(1); break;           \
  case n##9: usleep(1); break;
static void site(int i) {
  switch (i) { S10(1) S10(2) S10(3) S10(4) S10(5) S10(6) S10(7) S10(8) S10(9) S10(10) }
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const char *arg = argc > 2 ? argv[2] : "";
  if (!mode[0] || !strcmp(mode, "quiet")) return 0;
  if (!strcmp(mode, "setuid")) {
    if (setuid(65534)) return 3;
    usleep(1000);
    return 0;
  }
  if (!strcmp(mode, "daemon")) {
    pid_t p = fork();
    if (p < 0) return 1;
    if (p > 0) return 0; /* the parent exits at once, like a daemon's launcher */
    setsid();
    usleep(1000);
    dprintf(3, "daemon %d\n", (int)getpid());
    close(3);
    usleep((useconds_t)atoi(arg) * 1000);
    return 0;
  }
  usleep(1000);
  if (!strcmp(mode, "term")) {
    puts("ready");
    fflush(stdout);
    for (;;) pause();
  }
  if (!strcmp(mode, "sleep")) {
    puts("ready");
    fflush(stdout);
    sleep((unsigned)atoi(arg));
    return 0;
  }
  if (!strcmp(mode, "exec")) {
    execl(arg, arg, (char *)NULL);
    return 127;
  }
  if (!strcmp(mode, "quick")) quick_exit(3);
  if (!strcmp(mode, "_exit")) _exit(4);
  if (!strcmp(mode, "nofd")) {
    while (open("/dev/null", O_RDONLY) >= 0) {
    }
    return errno == EMFILE ? 0 : 1;
  }
  if (!strcmp(mode, "fill")) {
    int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char buf[65536];
    while (fd >= 0 && write(fd, buf, sizeof buf) > 0) {
    }
    if (fd >= 0) fsync(fd), close(fd);
    for (int i = 10; i < 110; i++) site(i);
    return 0;
  }
  return 2;
}
