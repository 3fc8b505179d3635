/* ringprobe.c - exit 0 when this process may set up the io_uring the shim uses
 * (IORING_SETUP_DEFER_TASKRUN: Linux 6.1, not disabled by sysctl or seccomp), else
 * print why and exit 1.  Tests use it to know, independently of the shim, whether the
 * offloaded calls must have gone through the ring. */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  long fd = syscall(__NR_io_uring_setup, 8, &p);
  if (fd < 0) {
    printf("io_uring_setup: %s\n", strerror(errno));
    return 1;
  }
  close((int)fd);
  return 0;
}
