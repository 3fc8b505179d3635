/* fds.c - the shim owns no fd in the program's table and never touches the program's.
 * Output is compared with a run without the shim (t_fds.sh).
 *   1. the first fds the program opens get the numbers they get without the shim;
 *   2. a daemon-style program closes every fd above stderr (a raw close_range the shim
 *      cannot see), makes a socketpair - fds 3 and 4 - and sends itself data, then
 *      makes violations from many different stacks (each a fresh stack walk); its
 *      data must arrive intact: nothing read from or written into its sockets. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <blockguard.h>

/* recursion depth gives each violation a different stack */
__attribute__((noinline)) static void blocker(int n) {
  if (n) blocker(n - 1);
  else usleep(1);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
}

int main(void) {
  int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
  printf("first fds %d %d\n", a, b);
  for (int i = 0; i < 20; i++) blocker(i);
  int c = open("/dev/null", O_RDONLY);
  printf("after violations %d\n", c);

  syscall(SYS_close_range, 3, ~0U, 0);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
  printf("socketpair %d %d\n", sv[0], sv[1]);
  send(sv[1], "0123456789", 10, MSG_DONTWAIT);
  for (int i = 0; i < 60; i++) blocker(i);
  char buf[64] = {0};
  ssize_t n = recv(sv[0], buf, sizeof buf - 1, MSG_DONTWAIT);
  printf("received %zd '%s'\n", n, buf);
  n = recv(sv[1], buf, sizeof buf - 1, MSG_DONTWAIT);
  printf("other end %zd\n", n);
  fprintf(stderr, "violations %llu\n", (unsigned long long)bg_violations());
  return 0;
}
